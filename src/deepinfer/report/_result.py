"""The picture of a run's result: which renderer fits which output, with names and colours from the card."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from deepinfer.card import LabelmapMember, ModelCard
from deepinfer.imaging import Volume
from deepinfer.report._overlay import render_overlay
from deepinfer.report._scores import PlaneScoreChart, render_plane_scores, render_scores


def report_path(output: Path) -> Path:
    """``seg.nii.gz`` → ``seg.report.png``."""
    name = output.name
    stem = name[: -len(".nii.gz")] if name.lower().endswith(".nii.gz") else output.stem
    return output.with_name(f"{stem}.report.png")


def render_result(
    card: ModelCard,
    image: Volume,
    outputs: Mapping[str, Volume],
    scores: Mapping[str, float],
    title: str,
    path: Path,
    planes: PlaneScoreChart | None = None,
) -> Path | None:
    """Overlay of the card's first labelmap output on the input, or class scores against plane position
    (``planes``), or a bar chart of class scores.

    Returns the PNG's path, or None when the card has no output that can be pictured."""
    corner = f"{card.id} {card.version}"
    labelmap = next((o for o in card.outputs if isinstance(o, LabelmapMember) and o.name in outputs), None)
    if labelmap is not None:
        labels = [(label.value, label.name, label.color) for label in labelmap.labels]
        return render_overlay(image, outputs[labelmap.name], labels, title, corner, path)
    if planes is not None:
        return render_plane_scores(planes, title, corner, path)
    if scores:
        return render_scores(dict(scores), title, corner, path)
    return None
