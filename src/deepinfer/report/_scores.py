"""A PNG bar chart of a classifier's class scores."""

from __future__ import annotations

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
