"""Run one workload in a fresh Python process and measure its wall time and peak RSS (via wait4)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from statistics import median
from typing import Any


@dataclass
class Measurement:
    label: str
    wall_s: float  # whole process: interpreter start, imports, model load, compute, write
    inner_s: float  # what the workload itself timed (see each benchmark)
    peak_rss_mb: float
    cpu_s: float = 0.0  # user + system CPU time of the child (less sensitive than wall time to a busy machine)
    details: dict[str, Any] = field(default_factory=dict)  # the child's other JSON keys (e.g. a time breakdown)


def measure(label: str, code: str, env: dict[str, str] | None = None) -> Measurement:
    """Run ``code`` with ``python -c`` in a child; the child prints one JSON line ``{"inner_s": ...}`` last
    (any other keys of that line are kept in ``details``)."""
    start = time.perf_counter()
    child = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, env={**os.environ, **(env or {})}, encoding="utf-8"
    )
    assert child.stdout is not None
    output = child.stdout.read()
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - start
    if child.returncode != 0:
        raise SystemExit(f"{label} failed with exit code {child.returncode}")
    report = json.loads(output.strip().splitlines()[-1])
    inner = report.pop("inner_s")
    cpu = usage.ru_utime + usage.ru_stime
    return Measurement(label, wall, float(inner), usage.ru_maxrss / 1024, cpu, report)


def compile_bytecode() -> None:
    """Byte-compile deepinfer's modules, as ``pip install`` does for an installed package (and had done for the
    reference pipelines' packages), so no run compiles sources at start-up, even where the environment sets
    PYTHONDONTWRITEBYTECODE."""
    import compileall

    import deepinfer

    compileall.compile_dir(str(Path(deepinfer.__file__).parent), quiet=1)


def table(rows: list[Measurement], reference: str) -> str:
    ref = next(r for r in rows if r.label == reference)
    lines = [
        "| run | wall s | inner s | CPU s | peak RSS MB | speed-up vs reference (wall) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        lines.append(
            f"| {row.label} | {row.wall_s:.1f} | {row.inner_s:.1f} | {row.cpu_s:.1f} | {row.peak_rss_mb:.0f} | "
            f"{ref.wall_s / row.wall_s:.2f}× |"
        )
    return "\n".join(lines)


def median_table(rows: list[Measurement], reference: str) -> str:
    """Per run label: the medians over the repeats, and the reference's median wall time over this one's."""
    labels = list(dict.fromkeys(row.label for row in rows))
    medians = {
        label: [median(getattr(r, key) for r in rows if r.label == label) for key in ("wall_s", "cpu_s", "peak_rss_mb")]
        for label in labels
    }
    lines = [
        "| run (median of the repeats) | wall s | CPU s | peak RSS MB | speed-up vs reference (wall) |",
        "|---|---:|---:|---:|---:|",
    ]
    for label, (wall, cpu, rss) in medians.items():
        lines.append(f"| {label} | {wall:.1f} | {cpu:.1f} | {rss:.0f} | {medians[reference][0] / wall:.2f}× |")
    return "\n".join(lines)


def deepbet_weights() -> dict[str, str]:
    """The verified cache files of the deepbet card's two networks, ``bbox`` and ``model`` (fetched if needed):
    what deepbet's own code is given in the comparisons."""
    from deepinfer.registry import default_registry
    from deepinfer.store import ArtifactStore

    card = default_registry().get("brain-extraction-deepbet")
    store = ArtifactStore()
    return {name: str(store.fetch(card.artifact(name))) for name in ("bbox", "model")}


def repo_root() -> Path:
    return Path(__file__).resolve().parents[1]


def mask_dice(a: Path, b: Path) -> float | None:
    """Dice of the nonzero voxels of two mask files (None when the second is missing)."""
    import SimpleITK as sitk

    from deepinfer._metrics import dice

    if not b.is_file():
        return None
    return dice(sitk.GetArrayFromImage(sitk.ReadImage(str(a))), sitk.GetArrayFromImage(sitk.ReadImage(str(b))))
