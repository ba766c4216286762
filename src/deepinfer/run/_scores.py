"""Class-score outputs as files: ``scores.json`` (the decision, the best planes per class and every plane's
scores with its index and physical position) and ``scores.csv`` beside it (one row per plane). An output named
``scores.dcm`` is a DICOM SR of the scores (:mod:`deepinfer.run._dicom_outputs`) with the same JSON and CSV beside it.

Positions are the LPS coordinates (mm) of each plane's centre; ``index`` is the plane's index along the input's
own storage axis ``input_axis`` (0: i, 1: j, 2: k), the slice number a viewer of the input shows.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from deepinfer._exceptions import PipelineError
from deepinfer.card import ClassScoresMember, ModelCard
from deepinfer.pipeline import ClassScores
from deepinfer.run._outputs import StagedOutputs

if TYPE_CHECKING:
    from deepinfer.report import PlaneScoreChart

_DIGITS = 6


def scores_csv_path(output: Path) -> Path:
    """``scores.json`` (or ``scores.dcm``) → ``scores.csv``."""
    return output.with_suffix(".csv")


def scores_json_path(output: Path) -> Path:
    """Where the JSON of a class-scores output goes: the output itself, or ``STEM.json`` beside a ``.dcm`` one (the
    DICOM SR of the scores)."""
    return output if output.suffix.lower() == ".json" else output.with_suffix(".json")


def _position(point: Any) -> list[float]:
    return [round(float(v), 3) for v in point]


def _entry(member: ClassScoresMember, scores: ClassScores, row: int) -> dict[str, Any]:
    values = scores.values[row]
    return {
        "index": scores.planes[row],
        "position_mm": _position(scores.positions[row]),
        "scores": {name: round(float(v), _DIGITS) for name, v in zip(member.classes, values, strict=True)},
    }


def scores_document(member: ClassScoresMember, scores: ClassScores) -> dict[str, Any]:
    """The JSON document of one ``class_scores`` output."""
    classes = member.classes
    best = {
        name: {**_entry(member, scores, row), "score": round(float(scores.values[row, k]), _DIGITS)}
        for k, (name, row) in enumerate(zip(classes, scores.best, strict=True))
    }
    for entry in best.values():
        del entry["scores"]
    return {
        "output": member.name,
        "classes": list(classes),
        "plane": scores.plane,
        "input_axis": scores.axis,
        "coordinates": "LPS, mm (plane centres)",
        "activation": scores.activation,
        "decision": {
            "rule": scores.rule,
            "class": classes[scores.decision],
            "scores": {name: round(float(v), _DIGITS) for name, v in zip(classes, scores.volume, strict=True)},
        },
        "best_planes": best,
        "planes": [_entry(member, scores, row) for row in range(len(scores.planes))],
    }


def scores_csv(member: ClassScoresMember, scores: ClassScores) -> str:
    """One row per plane: index, position (x, y, z in LPS mm), then one column per class."""
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(["index", "x_mm", "y_mm", "z_mm", *member.classes])
    for row in range(len(scores.planes)):
        values = [f"{float(v):.{_DIGITS}f}" for v in scores.values[row]]
        writer.writerow([scores.planes[row], *_position(scores.positions[row]), *values])
    return text.getvalue()


def score_members(card: ModelCard, scores: Mapping[str, ClassScores]) -> dict[str, ClassScoresMember]:
    """The card member of each recorded class-score output, after checking the class counts agree."""
    members = {o.name: o for o in card.outputs if isinstance(o, ClassScoresMember)}
    for name, result in scores.items():
        if name not in members:
            raise PipelineError(f"{card.ref}: the pipeline recorded class scores {name!r}, not a class_scores output")
        if result.values.shape[1] != len(members[name].classes):
            raise PipelineError(
                f"{card.ref}: the network gave {result.values.shape[1]} scores per plane; output {name!r} names "
                f"{len(members[name].classes)} classes"
            )
    return {name: members[name] for name in scores}


def stage_scores(
    staged: StagedOutputs, member: ClassScoresMember, scores: ClassScores, path: Path, record: Mapping[str, Any]
) -> None:
    """Stage the JSON at ``path`` (``STEM.json`` beside a ``.dcm`` path), the CSV beside it and nothing else (the
    caller stages the provenance and a DICOM SR)."""
    staged.json({**scores_document(member, scores), "model": record["model"]}, scores_json_path(path))
    staged.text(scores_csv(member, scores), scores_csv_path(path))


def decision_summary(member: ClassScoresMember, scores: ClassScores, count: int = 3) -> dict[str, Any]:
    """The decision and, for the chosen class, its ``count`` best planes (for the CLI and other front ends)."""
    chosen = scores.decision
    rows = scores.top_entries(chosen, count)
    return {
        "class": member.classes[chosen],
        "score": float(scores.volume[chosen]),
        "rule": scores.rule,
        "plane": scores.plane,
        "planes": len(scores.planes),
        "best": [
            {
                "index": scores.planes[r],
                "position_mm": _position(scores.positions[r]),
                "score": float(scores.values[r, chosen]),
            }
            for r in rows
        ],
    }


_WORLD_AXES = (
    "x (mm, LPS: toward the patient's left)",
    "y (mm, LPS: toward posterior)",
    "z (mm, LPS: toward superior)",
)


def score_chart(card: ModelCard, scores: Mapping[str, ClassScores]) -> PlaneScoreChart | None:
    """The report's chart of the card's first class-score output: each class's score against the planes'
    position along the world axis closest to their normal (the frame index for ``frames``)."""
    from deepinfer.report import PlaneScoreChart

    members = score_members(card, scores)
    if not members:
        return None
    name, member = next(iter(members.items()))
    result = scores[name]
    if result.plane == "frames" or len(result.planes) < 2:
        positions, label = [float(i) for i in result.planes], f"{result.plane} index"
    else:
        normal = result.positions[-1] - result.positions[0]
        world = int(np.argmax(np.abs(normal)))
        positions, label = [float(p[world]) for p in result.positions], f"{result.plane} plane: {_WORLD_AXES[world]}"
    chosen = member.classes[result.decision]
    curves = {c: [float(v) for v in result.values[:, k]] for k, c in enumerate(member.classes)}
    decision = (
        f"{chosen}\n({result.rule} over {len(result.planes)} planes: {float(result.volume[result.decision]):.2f})"
    )
    return PlaneScoreChart(positions, label, curves, chosen, result.best[result.decision], decision)
