"""The short class-score summary ``deepinfer run`` prints after a run of a classifier: the volume's top class by
the card's rule and the planes that score it highest (every plane's scores are in the JSON and CSV files)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rich.console import Console
from rich.markup import escape


def _position(point: list[float]) -> str:
    return "(" + ", ".join(f"{v:.1f}" for v in point) + ") mm"


def print_scores(console: Console, card: Any, scores: Mapping[str, Any]) -> None:
    """One line per class-score output with the decision, then its best planes (index, LPS position, score)."""
    if not scores:
        return
    from deepinfer.run import decision_summary

    members = {o.name: o for o in card.outputs if o.type == "class_scores"}
    for name, result in scores.items():
        summary = decision_summary(members[name], result)
        console.print(
            f"{escape(name)}: [bold]{escape(summary['class'])}[/] ({summary['rule']} over {summary['planes']} "
            f"{summary['plane']} planes: {summary['score']:.3f})",
            highlight=False,
            soft_wrap=True,
        )
        for best in summary["best"]:
            console.print(
                f"  plane {best['index']} at {_position(best['position_mm'])} (LPS): "
                f"{escape(summary['class'])} {best['score']:.3f}",
                highlight=False,
                soft_wrap=True,
            )
