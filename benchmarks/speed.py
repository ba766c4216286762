"""deepinfer (exact and fast precision, runtime auto) against TAPS' own pipeline and deepbet's own CLI on Colin27,
plus the start-up time of ``deepinfer models list``; every comparison in one run, each run in a fresh process.

    .venv/bin/python benchmarks/speed.py [--repeat 3] [--taps-repeat 3] [--skip-taps] [--write]

- TAPS: the whole Colin27 (``ch2.nii.gz``, 181×217×181, 1 mm) with its contrast inverted (T2-like, as the parity
  probe; TAPS finds nothing in a T1 and refuses to write a blank mask), 48 windows of 128×128×32.
- deepbet: Colin27 with skull as it is.

deepinfer writes the card's main output (the mask) and its provenance, as the references write their mask (the
TAPS card's probability map is not written: 0.6 s of gzip that TAPS' own pipeline does not do). Before the timed
runs, one untimed deepinfer run per mode fills the artifact cache, converts deepbet's
TorchScript nets to ONNX once and lets ``auto`` measure its runtimes once (all kept in DEEPINFER_HOME, as for
any user after the first run). Rows: min and median wall time (the whole process: interpreter, imports, model
load, compute, writing), the median peak RSS, the achieved GFLOP/s (the networks' convolution operations over
the median wall time), the Dice of the mask against the reference pipeline's, and the runtime ``auto`` chose.
``--write`` puts the tables into benchmarks/RESULTS.md (between the ``speed`` markers).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from statistics import median

from _flops import conv_flops
from _measure import Measurement, compile_bytecode, deepbet_weights, mask_dice, measure, repo_root
from deepbet import DEEPBET
from taps import TAPS

sys.path.insert(0, str(repo_root() / "tests"))
from realparts import COLIN27

TAPS_CARD, DEEPBET_CARD = "prostate-taps", "brain-extraction-deepbet"
BEGIN, END = "<!-- speed:begin -->", "<!-- speed:end -->"

DEEPINFER = """
import json, time
start = time.perf_counter()
from pathlib import Path
from deepinfer.run import plan_outputs, run_model
from deepinfer.registry import default_registry
calls = {{}}
def progress(task, done, total):
    if task == "sliding window":
        calls["sliding window"] = total
registry = default_registry()
card = registry.get({card!r})
card_dir = registry.find({card!r}).folder
mask = next(iter(plan_outputs(card, Path({target!r}))))  # the main output only: the references write their mask
plan = {{mask: Path({target!r})}}
result = run_model(card, {{{input!r}: Path({source!r})}}, plan, card_dir=card_dir,
                   precision={precision!r}, progress=progress)
print(json.dumps({{"inner_s": time.perf_counter() - start, "calls": calls,
                  "networks": result.provenance["runtime"].get("networks", {{}})}}))
"""

STARTUP = """
import subprocess, sys, time
start = time.perf_counter()
subprocess.run([sys.executable, "-m", "deepinfer", "models", "list"], check=True, stdout=subprocess.DEVNULL)
print('{"inner_s": %f}' % (time.perf_counter() - start))
"""


@dataclass
class Row:
    label: str
    runs: list[Measurement]
    gflop: float  # convolution operations of one run, in 10⁹
    dice: float | None = None

    @property
    def walls(self) -> list[float]:
        return [run.wall_s for run in self.runs]

    def runtime(self) -> str:
        networks = self.runs[-1].details.get("networks", {})
        return ", ".join(f"{n}: {v.get('runtime')} {v.get('precision')}" for n, v in networks.items()) or "—"


def write_t2_like_colin27(path: Path) -> Path:
    """All of Colin27 with its intensities inverted (255 − v where v > 0, background 1), on its own grid."""
    import numpy as np
    import SimpleITK as sitk

    image = sitk.ReadImage(str(COLIN27))
    array = sitk.GetArrayFromImage(image)
    inverted = sitk.GetImageFromArray(np.where(array > 0, 255 - array, 1).astype(np.uint8))
    inverted.CopyInformation(image)
    sitk.WriteImage(inverted, str(path))
    return path


def deepinfer_code(card: str, member: str, source: Path, target: Path, precision: str) -> str:
    return DEEPINFER.format(card=card, input=member, source=str(source), target=str(target), precision=precision)


def taps_rows(folder: Path, repeat: int) -> list[Row]:
    source = write_t2_like_colin27(folder / "colin27_t2like.nii.gz")
    modes = {mode: folder / f"taps_{mode}.nii.gz" for mode in ("exact", "fast")}
    for mode, target in modes.items():  # warm-up: cache, auto's one-off measurement
        measure("warm-up", deepinfer_code(TAPS_CARD, "T2", source, target, mode))
    runs: dict[str, list[Measurement]] = {"reference": [], "exact": [], "fast": []}
    reference = folder / "taps_reference.nii.gz"
    for _ in range(repeat):
        runs["reference"].append(measure("TAPS", TAPS.format(source=str(source), target=str(reference))))
        for mode, target in modes.items():
            runs[mode].append(measure(mode, deepinfer_code(TAPS_CARD, "T2", source, target, mode)))
    windows = int(runs["exact"][-1].details["calls"].get("sliding window", 0))
    per_window = conv_flops(taps_model(), (1, 1, 128, 128, 32)) / 1e9
    gflop = windows * per_window
    rows = [Row("TAPS 1.1.2 own pipeline (reference)", runs["reference"], gflop, 1.0)]
    for mode, target in modes.items():
        rows.append(Row(f"deepinfer --precision {mode}", runs[mode], gflop, mask_dice(reference, target)))
    return rows


def taps_model() -> Path:
    from deepinfer.registry import default_registry
    from deepinfer.store import ArtifactStore

    return ArtifactStore().fetch(default_registry().get(TAPS_CARD).artifact("model"))


def deepbet_rows(folder: Path, repeat: int) -> list[Row]:
    weights = deepbet_weights()
    modes = {mode: folder / f"deepbet_{mode}.nii.gz" for mode in ("exact", "fast")}
    for mode, target in modes.items():
        measure("warm-up", deepinfer_code(DEEPBET_CARD, "T1", COLIN27, target, mode))
    runs: dict[str, list[Measurement]] = {"reference": [], "exact": [], "fast": []}
    reference = folder / "deepbet_reference.nii.gz"
    for _ in range(repeat):
        code = DEEPBET.format(source=str(COLIN27), target=str(reference), **weights)
        runs["reference"].append(measure("deepbet", code))
        for mode, target in modes.items():
            runs[mode].append(measure(mode, deepinfer_code(DEEPBET_CARD, "T1", COLIN27, target, mode)))
    gflop = deepbet_gflop(weights)
    rows = [Row("deepbet 1.0.2 own pipeline (reference)", runs["reference"], gflop, 1.0)]
    for mode, target in modes.items():
        rows.append(Row(f"deepinfer --precision {mode}", runs[mode], gflop, mask_dice(reference, target)))
    return rows


def deepbet_gflop(weights: dict[str, str]) -> float:
    """The two nets' operations, counted on the ONNX copies deepinfer converted (same graphs)."""
    from deepinfer._config import deepinfer_home
    from deepinfer.runners._derived import Derived, derived_folder
    from deepinfer.store import sha256_file

    total = 0.0
    for name, size in (("bbox", 128), ("model", 256)):
        onnx = Derived(derived_folder(deepinfer_home()), sha256_file(Path(weights[name]))).verified()
        total += conv_flops(onnx, (1, 1, size, size, size)) / 1e9 if onnx else float("nan")
    return total


def table(rows: list[Row]) -> str:
    """One line per row. Speed-up: the reference's median wall over this row's, its min over this row's, and the
    median of the per-repeat ratios (each repeat runs the reference and every row back to back, so a slow spell
    of the shared machine hits a pair alike)."""
    reference = rows[0]
    lines = [
        "| run | wall s min / median (each run) | peak RSS MB | GFLOP/s | Dice vs reference "
        "| speed-up: medians, mins, paired | runtime |",
        "|---|---|---:|---:|---:|---:|---|",
    ]
    for row in rows:
        wall_min, wall_median = min(row.walls), median(row.walls)
        each = ", ".join(f"{wall:.1f}" for wall in row.walls)
        rss = median(run.peak_rss_mb for run in row.runs)
        paired = median(r / w for r, w in zip(reference.walls, row.walls, strict=True))
        ratios = [median(reference.walls) / wall_median, min(reference.walls) / wall_min, paired]
        speedup = ", ".join(f"{ratio:.2f}×" for ratio in ratios)
        dice = "—" if row.dice is None else f"{row.dice:.5f}"
        runtime = row.runtime() if row is not reference else "its own"
        walls = f"{wall_min:.2f} / {wall_median:.2f} ({each})"
        cells = [row.label, walls, f"{rss:.0f}", f"{row.gflop / wall_median:.0f}", dice, speedup, runtime]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def startup_table(repeat: int) -> str:
    runs = [measure("models list", STARTUP) for _ in range(max(repeat, 5))]
    inner = [run.inner_s for run in runs]
    return f"`deepinfer models list`, {len(runs)} runs: wall min {min(inner):.2f} s, median {median(inner):.2f} s"


def write_results(text: str) -> None:
    path = repo_root() / "benchmarks" / "RESULTS.md"
    current = path.read_text(encoding="utf-8")
    block = f"{BEGIN}\n{text}\n{END}"
    if BEGIN in current and END in current:
        current = current[: current.index(BEGIN)] + block + current[current.index(END) + len(END) :]
    else:
        current = current.rstrip("\n") + "\n\n" + block + "\n"
    path.write_text(current, encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3, help="runs per row for deepbet and the start-up")
    parser.add_argument("--taps-repeat", type=int, default=3, help="runs per row for TAPS (~3 min per reference run)")
    parser.add_argument("--skip-taps", action="store_true")
    parser.add_argument("--write", action="store_true", help="write the tables into benchmarks/RESULTS.md")
    args = parser.parse_args()
    compile_bytecode()
    load = os.getloadavg()
    sections = [f"Load average before the runs: {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f} (1 / 5 / 15 min)."]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        rows = deepbet_rows(folder, args.repeat)
        sections.append(f"### deepbet on Colin27 ({args.repeat} runs per row)\n\n{table(rows)}")
        if not args.skip_taps:
            rows = taps_rows(folder, args.taps_repeat)
            sections.append(f"### TAPS on T2-like Colin27 ({args.taps_repeat} run(s) per row)\n\n{table(rows)}")
    sections.append(startup_table(args.repeat))
    load = os.getloadavg()
    sections.append(f"Load average after the runs: {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f}.")
    text = "\n\n".join(sections)
    print(text)
    print(json.dumps({"written": bool(args.write)}))
    if args.write:
        write_results(text)


if __name__ == "__main__":
    main()
