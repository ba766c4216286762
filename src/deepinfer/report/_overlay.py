"""A PNG overlay of a label map on its image: three orthogonal slices through the label map's centroid."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from deepinfer.imaging import Volume
from deepinfer.report._canvas import FOREGROUND, font_size, new_figure, save_png
from deepinfer.report._panels import EDGE_LETTERS, Layout, Panel, overlay_panels

LabelStyle = tuple[int, str, str]  # (value, name, "#rrggbb")
WINDOW_PERCENTILES = (1.0, 99.0)
_LINE_WIDTH_PT = 1.2
_MAX_WINDOW_SAMPLES = 2_000_000


def grey_window(image: Volume) -> tuple[float, float]:
    """The 1st and 99th percentiles of the image (on a regular subsample of large volumes)."""
    values = np.asarray(image.array).reshape(-1)
    step = max(1, values.size // _MAX_WINDOW_SAMPLES)
    low, high = (float(v) for v in np.percentile(values[::step], WINDOW_PERCENTILES))
    return (low, high) if high > low else (low, low + 1.0)


def _draw_outline(axes: Any, labels: np.ndarray[Any, Any], value: int, color: str, width: float) -> None:
    """One label's boundary: the 0.5 iso-line of its binary mask (on voxel edges, closed at the border)."""
    inside = np.pad(labels == value, 1).astype(np.float32)
    if not inside.any():
        return
    rows, cols = inside.shape
    axes.contour(
        np.arange(cols) - 0.5,
        np.arange(rows) - 0.5,
        inside,
        levels=[0.5],
        colors=[color],
        linewidths=width,
        antialiased=True,
    )


def _draw_letters(axes: Any, panel: Panel, size: float) -> None:
    left, right, top, bottom = EDGE_LETTERS[panel.name]
    style = {"color": "#d0d0d0", "fontsize": size, "transform": axes.transAxes}
    axes.text(0.01, 0.5, left, ha="left", va="center", **style)
    axes.text(0.99, 0.5, right, ha="right", va="center", **style)
    axes.text(0.5, 0.99, top, ha="center", va="top", **style)
    axes.text(0.5, 0.01, bottom, ha="center", va="bottom", **style)
    axes.text(0.01, 0.99, panel.name, ha="left", va="top", **style)


def _draw_panel(
    figure: Any,
    panel: Panel,
    window: tuple[float, float],
    labels: Sequence[LabelStyle],
    size_px: tuple[int, int],
) -> None:
    axes = figure.add_axes(panel.box.figure_rect(size_px))
    rows, cols = panel.image.shape
    axes.imshow(
        panel.image,
        cmap="gray",
        vmin=window[0],
        vmax=window[1],
        extent=(0, cols, rows, 0),
        aspect="auto",
        interpolation="bilinear",
    )
    width = _LINE_WIDTH_PT * size_px[1] / 560
    for value, _, color in labels:
        # contour coordinates are voxel centres: column c spans [c, c + 1] in the extent above.
        _draw_outline(axes, panel.mask, value, color, width)
    axes.set_xlim(0, cols)
    axes.set_ylim(rows, 0)
    axes.set_axis_off()
    _draw_letters(axes, panel, font_size(size_px, 9))


def _draw_legend(figure: Any, labels: Sequence[LabelStyle], layout: Layout) -> None:
    from matplotlib.patches import Patch

    if not labels:
        return
    handles = [Patch(facecolor=color, edgecolor=color, label=name) for _, name, color in labels]
    figure.legend(
        handles=handles,
        loc="lower left",
        bbox_to_anchor=(layout.gap_px / layout.size_px[0], 0.0),
        ncols=min(len(handles), 6),
        frameon=False,
        labelcolor=FOREGROUND,
        fontsize=font_size(layout.size_px, 10),
        borderaxespad=0.3,
    )


def render_overlay(
    image: Volume,
    mask: Volume,
    labels: list[LabelStyle],
    title: str,
    corner: str,
    path: Path,
    size_px: tuple[int, int] = (1500, 560),
) -> Path:
    """Write a PNG of the image (grey, 1–99 percentile window) with each label's outline in its colour.

    Three panels (axial, coronal, sagittal; radiological convention, physical aspect ratio) cut through the
    centroid of the mask's nonzero voxels (the image centre when it has none); a legend names the labels,
    ``title`` goes on top and ``corner`` (model id and version) in the bottom-right corner. The PNG is exactly
    ``size_px`` (width, height) pixels and is written atomically. Returns ``path``.
    """
    panels = overlay_panels(image, mask, size_px)
    layout = Layout.for_size(size_px)
    window = grey_window(image)
    figure = new_figure(size_px)
    for panel in panels:
        _draw_panel(figure, panel, window, labels, size_px)
    figure.text(
        0.5,
        1 - 0.15 * layout.title_px / size_px[1],
        title,
        ha="center",
        va="top",
        color=FOREGROUND,
        fontsize=font_size(size_px, 14),
    )
    figure.text(
        1 - layout.gap_px / size_px[0],
        0.01,
        corner,
        ha="right",
        va="bottom",
        color="#bbbbbb",
        fontsize=font_size(size_px, 9),
    )
    _draw_legend(figure, labels, layout)
    return save_png(figure, path)
