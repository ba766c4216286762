"""The short per-label statistics table ``deepinfer run`` prints after a run (the full rows are in the
``STEM.statistics.json/.csv`` files beside each labelmap)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table


def _number(value: float | None, digits: int) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def statistics_table(name: str, rows: Sequence[Mapping[str, Any]]) -> Table:
    """One labelmap output's labels: value, name, voxels, mL, mean ± SD of the input inside, border."""
    table = Table(title=f"{escape(name)}: per-label statistics", title_justify="left", box=None, pad_edge=False)
    for column, justify in (("label", "right"), ("name", "left"), ("voxels", "right"), ("mL", "right"),
                            ("mean", "right"), ("SD", "right"), ("border", "left")):  # fmt: skip
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for row in rows:
        table.add_row(
            str(row["value"]),
            escape(str(row["name"])),
            f"{row['voxels']:,}",
            _number(row["volume_ml"], 2),
            _number(row["mean"], 1),
            _number(row["sd"], 1),
            "touches" if row["touches_border"] else "",
        )
    return table


def print_statistics(console: Console, statistics: Mapping[str, Sequence[Mapping[str, Any]]]) -> None:
    for name, rows in statistics.items():
        console.print(statistics_table(name, rows))
