"""Where a case's files go, and whether a finished case can be skipped on a rerun.

Layout: ``OUT/<case id>/<OUTPUT>.<suffix>`` for the card's main output (its first labelmap, e.g.
``OUT/ch2/BrainMask.nii.gz``; a classifier's first class scores as ``OUT/ch2/<OUTPUT>.json``), the other outputs
beside it as ``<OUTPUT>.<NAME>.<suffix>`` (class scores ``.json``), each with its ``.provenance.json`` sidecar (and
``.report.png`` with ``--report``), exactly as ``deepinfer run -o`` names them.

A case is up to date when every planned output and its provenance exist and the provenance records the same
model id and version, artifact sha256s, parameters and input sha256s that this run would record."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from deepinfer._exceptions import DeepInferError
from deepinfer.batch._cases import Case
from deepinfer.card import ModelCard
from deepinfer.report import report_path
from deepinfer.run import file_outputs, plan_outputs, provenance_path, provenance_record, score_outputs

DEFAULT_SUFFIX = ".nii.gz"
MATCHED_FIELDS = ("model", "artifacts", "parameters", "inputs")
"""The provenance fields a rerun compares (``model`` holds the id, version and name)."""


def case_outputs(card: ModelCard, out_dir: Path, case: Case, suffix: str = DEFAULT_SUFFIX) -> dict[str, Path]:
    """Output member → file for ``case`` (see the module's doc)."""
    primary = file_outputs(card)[0]
    extension = ".json" if primary in score_outputs(card) else suffix
    return plan_outputs(card, out_dir / case.case_id / f"{primary}{extension}")


def up_to_date(
    card: ModelCard, values: Mapping[str, Any], case: Case, outputs: Mapping[str, Path], report: bool = False
) -> bool:
    """Whether ``case``'s outputs exist with a provenance matching this run (and the picture, when asked for)."""
    if report and not report_path(next(iter(outputs.values()))).is_file():
        return False
    expected: dict[str, Any] | None = None
    for path in outputs.values():
        sidecar = provenance_path(path)
        if not (path.is_file() and sidecar.is_file()):
            return False
        try:
            recorded = json.loads(sidecar.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return False
        if expected is None:
            try:
                record = provenance_record(card, values, case.inputs, datetime.now(UTC), 0.0)
            except (OSError, DeepInferError):  # an input gone or unreadable: the run will say what is wrong
                return False
            expected = json.loads(json.dumps({key: record[key] for key in MATCHED_FIELDS}))
        if not isinstance(recorded, dict) or any(recorded.get(key) != expected[key] for key in MATCHED_FIELDS):
            return False
    return True
