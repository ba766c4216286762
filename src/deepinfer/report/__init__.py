"""PNG reports of a result: label-map overlays on three orthogonal slices, and class-score bar charts."""

from deepinfer.report._overlay import render_overlay
from deepinfer.report._panels import Box, Panel, overlay_panels
from deepinfer.report._result import render_result, report_path
from deepinfer.report._scores import render_scores

__all__ = ["Box", "Panel", "overlay_panels", "render_overlay", "render_result", "render_scores", "report_path"]
