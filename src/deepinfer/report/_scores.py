"""PNG charts of a classifier's class scores: a bar chart of one score vector, and class score against plane
position for a 2D classifier run plane by plane."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from deepinfer.report._canvas import BACKGROUND, FOREGROUND, font_size, new_figure, save_png

_BAR = "#4c9be8"
_BEST = "#f5a623"


def render_scores(
    scores: dict[str, float], title: str, corner: str, path: Path, size_px: tuple[int, int] = (900, 500)
) -> Path:
    """Write a horizontal bar chart (one bar per class, in the given order, the best one highlighted).

    The PNG is exactly ``size_px`` (width, height) pixels and is written atomically. Returns ``path``.
    """
    if not scores:
        raise ValueError("render_scores needs at least one class score")
    names = list(scores)
    values = [float(scores[name]) for name in names]
    best = max(range(len(values)), key=values.__getitem__)
    figure = new_figure(size_px)
    axes = figure.add_axes((0.25, 0.12, 0.68, 0.76), facecolor=BACKGROUND)
    positions = list(range(len(names)))
    colors = [_BEST if index == best else _BAR for index in positions]
    axes.barh(positions, values, color=colors)
    axes.set_yticks(positions, labels=names)
    axes.invert_yaxis()  # first class on top
    low, high = min(0.0, *values), max(1.0, *values)
    axes.set_xlim(low, high + 0.12 * (high - low))
    small = font_size(size_px, 9)
    for position, value in zip(positions, values, strict=True):
        axes.text(value, position, f" {value:.3f}", va="center", ha="left", color=FOREGROUND, fontsize=small)
    axes.tick_params(colors=FOREGROUND, labelsize=font_size(size_px, 10))
    for spine in axes.spines.values():
        spine.set_color("#888888")
    figure.text(0.5, 0.97, title, ha="center", va="top", color=FOREGROUND, fontsize=font_size(size_px, 14))
    figure.text(0.99, 0.01, corner, ha="right", va="bottom", color="#bbbbbb", fontsize=small)
    return save_png(figure, path)


@dataclass(frozen=True)
class PlaneScoreChart:
    """Class scores against plane position: ``positions`` (one per plane, along ``axis_label``), a score
    curve per class, the ``marked`` plane (an index into ``positions``: the best plane of the chosen class)
    and the ``decision`` in words."""

    positions: Sequence[float]
    axis_label: str
    curves: Mapping[str, Sequence[float]]
    chosen: str
    marked: int
    decision: str


_CURVE_COLORS = ("#4c9be8", "#f5a623", "#7ed321", "#d0021b", "#bd10e0", "#50e3c2", "#f8e71c", "#9b9b9b")


def render_plane_scores(
    chart: PlaneScoreChart, title: str, corner: str, path: Path, size_px: tuple[int, int] = (1200, 560)
) -> Path:
    """Write a line plot of each class's score against plane position, the chosen class's best plane marked
    by a vertical line. The PNG is exactly ``size_px`` pixels and is written atomically. Returns ``path``."""
    if not chart.positions or not chart.curves:
        raise ValueError("render_plane_scores needs at least one plane and one class")
    figure = new_figure(size_px)
    axes = figure.add_axes((0.07, 0.13, 0.74, 0.74), facecolor=BACKGROUND)
    small, normal = font_size(size_px, 9), font_size(size_px, 10)
    order = sorted(range(len(chart.positions)), key=lambda n: chart.positions[n])
    xs = [chart.positions[n] for n in order]
    for number, (name, values) in enumerate(chart.curves.items()):
        width = 2.2 if name == chart.chosen else 1.2
        color = _CURVE_COLORS[number % len(_CURVE_COLORS)]
        axes.plot(xs, [values[n] for n in order], color=color, linewidth=width, label=name)
    best = chart.positions[chart.marked]
    axes.axvline(best, color=FOREGROUND, linestyle="--", linewidth=1.0)
    axes.text(best, 1.02, f" best {chart.chosen} plane: {best:.1f}", color=FOREGROUND, fontsize=small, va="bottom")
    axes.set_ylim(-0.02, 1.08)
    axes.set_xlabel(chart.axis_label, color=FOREGROUND, fontsize=normal)
    axes.set_ylabel("class score", color=FOREGROUND, fontsize=normal)
    axes.tick_params(colors=FOREGROUND, labelsize=small)
    for spine in axes.spines.values():
        spine.set_color("#888888")
    axes.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False, labelcolor=FOREGROUND, fontsize=normal)
    figure.text(0.5, 0.97, title, ha="center", va="top", color=FOREGROUND, fontsize=font_size(size_px, 14))
    figure.text(0.82, 0.2, chart.decision, ha="left", va="bottom", color=FOREGROUND, fontsize=small, wrap=True)
    figure.text(0.99, 0.01, corner, ha="right", va="bottom", color="#bbbbbb", fontsize=small)
    return save_png(figure, path)
