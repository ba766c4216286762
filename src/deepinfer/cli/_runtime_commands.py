"""``deepinfer runtimes list | forget``: the runtimes ``--runtime auto`` chose, why, and how to choose again."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.console import Console
from rich.text import Text

from deepinfer._config import deepinfer_home
from deepinfer.cli._cache_commands import _known_artifacts
from deepinfer.cli._render import print_json
from deepinfer.registry import default_registry

runtimes_app = typer.Typer(
    help="The runtimes that --runtime auto measured and remembers: list them, or forget them to measure again.",
    no_args_is_help=True,
)
out = Console()
err = Console(stderr=True)

JsonFlag = Annotated[bool, typer.Option("--json", help="Machine-readable JSON output.")]


def _rows() -> list[dict[str, Any]]:
    from deepinfer.runners import ChoiceCache, describe_verdict

    known = _known_artifacts(default_registry())
    rows = []
    for key, entry in ChoiceCache(deepinfer_home()).entries().items():
        artifact = str(entry.get("artifact", ""))
        rows.append(
            {
                "key": key,
                "network": ", ".join(known.get(artifact, [])) or str(entry.get("file") or artifact[:16]),
                "artifact": artifact,
                "shape": entry.get("shape"),
                "precision": entry.get("precision"),
                "runtime": entry.get("runtime"),
                "measured": entry.get("measured"),
                "why": describe_verdict(entry),
                "recheck": entry.get("recheck"),
                "seconds": entry.get("seconds"),
            }
        )
    return rows


@runtimes_app.command("list")
def runtimes_list(as_json: JsonFlag = False) -> None:
    """Each remembered choice: the network, input shape, precision, the runtime that won and why."""
    rows = _rows()
    if as_json:
        print_json(out, rows)
        return
    if not rows:
        out.print("No runtime choice is remembered yet: the next --runtime auto run measures.")
        return
    for row in rows:
        shape = "×".join(str(n) for n in row["shape"]) if isinstance(row["shape"], list) else "?"
        head = Text(f"{row['network']}", style="bold")
        head.append(f"  input {shape}, {row['precision']} → ", style="")
        head.append(str(row["runtime"]), style="green")
        head.append(f"  (measured {row['measured']})", style="dim")
        out.print(head, soft_wrap=True)
        out.print(Text(f"  {row['why']}"), soft_wrap=True)
        if row["recheck"]:
            recheck = row["recheck"]
            out.print(
                f"  re-check pending: a run took {recheck['seconds']:.3g} s where the contest measured "
                f"{recheck['figure']:.3g} s; the next run measures again",
                style="yellow",
                highlight=False,
                soft_wrap=True,
            )


@runtimes_app.command("forget")
def runtimes_forget(
    model: Annotated[
        str | None, typer.Argument(help="Forget only this model's choices (id or id@version); default: all.")
    ] = None,
) -> None:
    """Forget remembered choices, so that the next --runtime auto run measures the runtimes again."""
    artifacts = None
    if model is not None:
        card = default_registry().get(model)
        artifacts = {artifact.sha256 for artifact in card.artifacts}
    from deepinfer.runners import ChoiceCache

    removed = ChoiceCache(deepinfer_home()).forget(artifacts)
    scope = f" of {model}" if model else ""
    err.print(f"forgot {removed} remembered runtime choice(s){scope}; the next --runtime auto run measures again")
