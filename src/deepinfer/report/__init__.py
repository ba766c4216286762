"""PNG reports of a result: label-map overlays on three orthogonal slices, class-score bar charts, and class
score against plane position for classifiers run plane by plane."""

from deepinfer.report._overlay import render_overlay
from deepinfer.report._panels import Box, Panel, overlay_panels
from deepinfer.report._result import render_result, report_path
from deepinfer.report._scores import PlaneScoreChart, render_plane_scores, render_scores

__all__ = [
    "Box",
    "Panel",
    "PlaneScoreChart",
    "overlay_panels",
    "render_overlay",
    "render_plane_scores",
    "render_result",
    "render_scores",
    "report_path",
]
