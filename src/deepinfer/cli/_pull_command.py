"""``deepinfer pull``: fetch a model's artifacts into the local cache, verified."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from deepinfer.card import ModelCard
from deepinfer.cli._progress import JsonProgress, ProgressMode, RichProgress
from deepinfer.cli._render import human_size
from deepinfer.registry import default_registry
from deepinfer.store import ArtifactStore

err = Console(stderr=True)


def pull(
    model: Annotated[str, typer.Argument(help="Model id or id@version.")],
    examples: Annotated[bool, typer.Option("--examples", help="Also fetch the card's example data.")] = False,
    progress: Annotated[ProgressMode, typer.Option(help="Progress display.")] = ProgressMode.rich,
) -> None:
    """Fetch a model's artifacts into the local cache and verify their sha256."""
    registry = default_registry()
    loaded = registry.find(model)
    card = loaded.card
    store = ArtifactStore()
    wanted = _pull_list(card, examples)
    reporter = JsonProgress() if progress is ProgressMode.json else RichProgress(err)
    with reporter:
        for name in wanted:
            artifact = card.artifact(name)

            def report(done: int, total: int, label: str = name) -> None:
                if progress is not ProgressMode.none:
                    reporter(f"download {label}", done, total)

            store.fetch(artifact, base_dir=loaded.folder, progress=report)
    total = sum(card.artifact(name).size for name in wanted)
    err.print(f"[green]✓[/] {card.ref}: {len(wanted)} artifact(s), {human_size(total)}, sha256 verified")


def _pull_list(card: ModelCard, examples: bool) -> list[str]:
    example_names = {n for e in card.examples for n in [*e.inputs.values(), *e.expected.values()]}
    return [a.name for a in card.artifacts if examples or a.name not in example_names]
