"""``deepinfer models list|search|show``: this machine's registries, or the server's with ``--server``."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from deepinfer.cli._render import RESEARCH_ONLY, card_panel, models_table, print_json
from deepinfer.cli._target import global_target
from deepinfer.registry import Registry, default_registry

models_app = typer.Typer(help="Browse the model registry.", no_args_is_help=True)
out = Console()

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
