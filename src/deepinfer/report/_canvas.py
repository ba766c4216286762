"""A matplotlib figure of an exact pixel size, saved atomically as PNG.

matplotlib is imported lazily and only through ``Figure`` + ``FigureCanvasAgg``: no pyplot, no global state.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

DPI = 100
BACKGROUND = "black"
FOREGROUND = "white"
# Font sizes are given for a 560-pixel-high figure and scaled with the height.
_REFERENCE_HEIGHT = 560


def new_figure(size_px: tuple[int, int]) -> Any:
    """A figure that renders to exactly ``size_px`` (width, height) pixels."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    width, height = size_px
    if width <= 0 or height <= 0:
        raise ValueError(f"a figure needs a positive size, got {width}×{height}")
    figure = Figure(figsize=(width / DPI, height / DPI), dpi=DPI, facecolor=BACKGROUND)
    FigureCanvasAgg(figure)
    return figure


def font_size(size_px: tuple[int, int], points: float) -> float:
    """``points`` at the reference height, scaled to this figure (never below 5 pt)."""
    return max(5.0, points * size_px[1] / _REFERENCE_HEIGHT)


def save_png(figure: Any, path: Path) -> Path:
    """Write the figure to ``path`` through a temporary file in the same folder, then rename it into place."""
    path = Path(path)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(8)}.partial")
    try:
        with temporary.open("xb") as stream:
            figure.savefig(stream, format="png", dpi=DPI, facecolor=figure.get_facecolor())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return path
