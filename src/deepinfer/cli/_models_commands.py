"""``deepinfer models list|search|show`` (this machine's registries, or the server's with ``--server``) and
``deepinfer pull``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from deepinfer.cli._progress import JsonProgress, ProgressMode, RichProgress
from deepinfer.cli._render import RESEARCH_ONLY, card_panel, human_size, models_table, print_json
from deepinfer.cli._target import global_target
from deepinfer.registry import Registry, default_registry

if TYPE_CHECKING:
    from deepinfer.card import ModelCard

models_app = typer.Typer(help="Browse the model registry.", no_args_is_help=True)
out = Console()
err = Console(stderr=True)

JsonFlag = Annotated[bool, typer.Option("--json", help="Machine-readable JSON output.")]


def cli_registry() -> Registry:
    """The registry the ``models`` commands browse: the server's when ``--server`` was given."""
    target = global_target()
    if target is None:
        return default_registry()
    from deepinfer.client import ServerRegistry

    return ServerRegistry(target.client())


@models_app.command("list")
def models_list(as_json: JsonFlag = False) -> None:
    """List every model: id, name, version, task, modality, license and download size."""
    cards = cli_registry().summaries()
    if as_json:
        print_json(out, [card.to_json() for card in cards])
    else:
        out.print(models_table(cards))
        out.print(RESEARCH_ONLY, style="yellow")


@models_app.command("search")
def models_search(
    query: Annotated[str, typer.Argument(help="Words to match in id, name, anatomy, modality, task or tags.")],
    as_json: JsonFlag = False,
) -> None:
    """Find models by id, name, anatomy, modality, task or tag."""
    cards = cli_registry().summaries(query)
    if as_json:
        print_json(out, [card.to_json() for card in cards])
    elif cards:
        out.print(models_table(cards, title=f"Models matching {query!r}"))
    else:
        out.print(f"No model matches {query!r}.")


@models_app.command("show")
def models_show(
    model: Annotated[str, typer.Argument(help="Model id or id@version.")], as_json: JsonFlag = False
) -> None:
    """Show a model's full card: description, metrics, license, inputs, outputs and parameters."""
    card = cli_registry().get(model)
    if as_json:
        print_json(out, card.model_dump(mode="json", exclude_none=True))
    else:
        out.print(card_panel(card))


def pull(
    model: Annotated[str, typer.Argument(help="Model id or id@version.")],
    examples: Annotated[bool, typer.Option("--examples", help="Also fetch the card's example data.")] = False,
    progress: Annotated[ProgressMode, typer.Option(help="Progress display.")] = ProgressMode.rich,
) -> None:
    """Fetch a model's artifacts into the local cache and verify their sha256."""
    from deepinfer.store import ArtifactStore

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
