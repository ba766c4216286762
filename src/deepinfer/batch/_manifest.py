"""``OUT/manifest.csv``: one row per finished case, rewritten atomically as each case finishes.

Columns: ``case_id``, ``inputs`` (``NAME=PATH`` items joined by ``;``), ``status`` (``succeeded``, ``failed``,
``skipped``), ``seconds`` (the case's wall time in its worker), ``peak_memory_mb`` (the worker's peak resident
memory during the case), ``outputs`` (``NAME=PATH`` relative to OUT, joined by ``;``), ``error`` (why a case
failed; for a case that succeeded on a retry, what happened to the lost attempt), ``attempts`` (how many times
the case was started: more than 1 when a Ray actor or its node was lost during the case and it was retried on
another; empty for a skipped case). A case not finished when the batch stopped has no row; a rerun does it."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from deepinfer._files import write_atomic

MANIFEST_NAME = "manifest.csv"
COLUMNS = ("case_id", "inputs", "status", "seconds", "peak_memory_mb", "outputs", "error", "attempts")
SUCCEEDED, FAILED, SKIPPED = "succeeded", "failed", "skipped"


@dataclass(frozen=True)
class CaseRecord:
    """What became of one case."""

    case_id: str
    inputs: dict[str, Path]
    status: str
    outputs: dict[str, Path] = field(default_factory=dict)
    seconds: float | None = None
    peak_memory_bytes: int | None = None
    error: str = ""
    warnings: tuple[str, ...] = ()
    attempts: int = 1


def _items(paths: Mapping[str, Path], root: Path | None = None) -> str:
    def shown(path: Path) -> str:
        return str(path.relative_to(root)) if root is not None and path.is_relative_to(root) else str(path)

    return ";".join(f"{name}={shown(path)}" for name, path in paths.items())


def manifest_row(record: CaseRecord, root: Path) -> dict[str, str]:
    """The manifest's row of ``record`` (output paths relative to ``root``, the batch's output folder)."""
    return {
        "case_id": record.case_id,
        "inputs": _items(record.inputs),
        "status": record.status,
        "seconds": "" if record.seconds is None else f"{record.seconds:.3f}",
        "peak_memory_mb": "" if record.peak_memory_bytes is None else f"{record.peak_memory_bytes / 2**20:.1f}",
        "outputs": _items(record.outputs, root),
        "error": " ".join(record.error.split()),
        "attempts": "" if record.status == SKIPPED else str(record.attempts),
    }


class Manifest:
    """The rows of the cases finished so far, in the cohort's order, written to ``folder/manifest.csv``."""

    def __init__(self, folder: Path, order: Iterable[str]) -> None:
        self.folder = folder
        self.path = folder / MANIFEST_NAME
        self._order = {case_id: index for index, case_id in enumerate(order)}
        self.records: dict[str, CaseRecord] = {}

    def add(self, record: CaseRecord) -> None:
        """Record a finished case and rewrite the manifest (atomically: readers see the old file or the new)."""
        self.records[record.case_id] = record
        self.write()

    def write(self) -> None:
        text = io.StringIO()
        writer = csv.DictWriter(text, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        for record in sorted(self.records.values(), key=lambda r: self._order.get(r.case_id, len(self._order))):
            writer.writerow(manifest_row(record, self.folder))
        write_atomic(self.path, text.getvalue())

    def count(self, status: str) -> int:
        return sum(record.status == status for record in self.records.values())


def read_manifest(path: Path) -> list[dict[str, str]]:
    """The rows of a manifest file, as dicts keyed by :data:`COLUMNS`."""
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))
