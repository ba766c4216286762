"""How cards look on a terminal (Rich) and as JSON."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

if TYPE_CHECKING:
    from deepinfer.card import CardSummary, ModelCard

RESEARCH_ONLY = "For research use only. Not for clinical diagnosis."


def human_size(size: int) -> str:
    value = float(size)
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} GB"


def models_table(cards: Sequence[CardSummary], title: str = "Models") -> Table:
    table = Table(title=title, title_justify="left")
    for column in ("id", "name", "version", "task", "modality", "license", "size"):
        table.add_column(column, justify="right" if column == "size" else "left", no_wrap=column == "id")
    for card in cards:
        licence = (
            card.license_code
            if card.license_code == card.license_weights
            else (f"{card.license_code} / weights {card.license_weights}")
        )
        size = human_size(card.size) if card.artifacts else "-"
        table.add_row(card.id, card.name, card.version, card.task, card.modality, licence, size)
    return table


def print_json(console: Console, document: Any) -> None:
    console.print_json(json.dumps(document))


def _members_table(card: ModelCard) -> Table:
    table = Table(title="Inputs, outputs and parameters", title_justify="left", expand=False)
    for column in ("", "name", "type", "default / range / choices", "description"):
        table.add_column(column)
    for member in card.inputs:
        table.add_row("input", member.name, member.type, "", member.description)
    for output in card.outputs:
        detail = ""
        if output.type == "labelmap":
            detail = ", ".join(f"{label.value}={label.name}" for label in output.labels)
        table.add_row("output", output.name, output.type, detail, output.description)
    for parameter in card.parameters:
        table.add_row("parameter", parameter.name, parameter.type, _parameter_detail(parameter), parameter.description)
    return table


def _parameter_detail(parameter: Any) -> str:
    parts = [f"default {parameter.default}"] if getattr(parameter, "default", None) is not None else []
    if getattr(parameter, "choices", None):
        parts.append("choices " + "|".join(parameter.choices))
    low, high = getattr(parameter, "minimum", None), getattr(parameter, "maximum", None)
    if low is not None or high is not None:
        parts.append(f"range [{'' if low is None else low}, {'' if high is None else high}]")
    return "; ".join(parts)


def card_panel(card: ModelCard) -> Group:
    """The full human view of ``models show``."""
    head = Text()
    head.append(f"{card.name}  ", style="bold")
    head.append(f"{card.id}@{card.version}\n", style="cyan")
    head.append(f"{card.task} · {card.modality} · {card.anatomy} · runtime {card.runtime.type}\n")
    head.append(f"License: code {card.license.code}, weights {card.license.weights}\n")
    if card.artifacts:
        head.append(f"Download size: {human_size(card.total_artifact_size())}\n")
    head.append(f"\n{card.description}\n" if card.description else "")
    if card.citation:
        head.append(f"\nCitation: {card.citation.text}\n", style="italic")
    head.append(f"\nIntended use: {card.intended_use}\n", style="yellow")
    head.append(RESEARCH_ONLY, style="bold yellow")
    parts: list[Any] = [Panel(head, title=card.id, title_align="left")]
    if card.metrics:
        metrics = Table(title="Reported accuracy", title_justify="left")
        for column in ("metric", "value", "dataset", "n", "compared with", "measured with"):
            metrics.add_column(column)
        for metric in card.metrics:
            row = (metric.dataset, str(metric.n or ""), metric.reference, metric.measured_with)
            metrics.add_row(metric.name, f"{metric.value:g}", *(text or "" for text in row))
        parts.append(metrics)
    parts.append(_members_table(card))
    if card.notes:
        parts.append(Text("Notes:\n" + "\n".join(f"  • {note}" for note in card.notes)))
    return Group(*parts)
