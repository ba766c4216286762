"""The static commands: models list/search/show, pull, card validate/import-legacy."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from deepinfer._exceptions import UsageError
from deepinfer.card import ModelCard, card_summary, dump_card, load_legacy, read_card_json
from deepinfer.cli._batch_command import BATCH_CONTEXT, batch
from deepinfer.cli._cache_commands import cache_app
from deepinfer.cli._card_export import card_export_onnx
from deepinfer.cli._demo import demo
from deepinfer.cli._package_commands import card_init, card_test, package_app
from deepinfer.cli._progress import JsonProgress, ProgressMode, RichProgress
from deepinfer.cli._registry_commands import registry_app
from deepinfer.cli._remote import cli_registry, main_options
from deepinfer.cli._render import (
    RESEARCH_ONLY,
    card_panel,
    human_size,
    models_table,
    print_json,
)
from deepinfer.cli._run_command import dispatch_run
from deepinfer.cli._runtime_commands import runtimes_app
from deepinfer.cli._serve_command import serve
from deepinfer.registry import default_registry
from deepinfer.store import ArtifactStore

app = typer.Typer(
    name="deepinfer",
    help="Browse, pull and run medical-imaging models. " + RESEARCH_ONLY,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
models_app = typer.Typer(help="Browse the model registry.", no_args_is_help=True)
card_app = typer.Typer(help="Model cards: validate, import 2017 DeepInfer files.", no_args_is_help=True)
app.add_typer(models_app, name="models")
app.add_typer(card_app, name="card")
app.add_typer(registry_app, name="registry")
app.add_typer(cache_app, name="cache")
app.add_typer(runtimes_app, name="runtimes")
app.command("demo")(demo)
app.command("serve")(serve)
app.command("batch", context_settings=BATCH_CONTEXT)(batch)
app.callback()(main_options)
card_app.command("export-onnx")(card_export_onnx)
card_app.command("init")(card_init)
card_app.command("test")(card_test)
app.add_typer(package_app, name="package")

out = Console()
err = Console(stderr=True)

JsonFlag = Annotated[bool, typer.Option("--json", help="Machine-readable JSON output.")]


@models_app.command("list")
def models_list(as_json: JsonFlag = False) -> None:
    """List every model: id, name, version, task, modality, license and download size."""
    cards = cli_registry().list()
    if as_json:
        print_json(out, [card_summary(card) for card in cards])
    else:
        out.print(models_table(cards))
        out.print(RESEARCH_ONLY, style="yellow")


@models_app.command("search")
def models_search(
    query: Annotated[str, typer.Argument(help="Words to match in id, name, anatomy, modality, task or tags.")],
    as_json: JsonFlag = False,
) -> None:
    """Find models by id, name, anatomy, modality, task or tag."""
    cards = cli_registry().search(query)
    if as_json:
        print_json(out, [card_summary(card) for card in cards])
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


@app.command("pull")
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


@card_app.command("validate")
def card_validate(
    path: Annotated[Path, typer.Argument(help="A v2 model card (JSON).")], as_json: JsonFlag = False
) -> None:
    """Check the whole card: schema, step names and parameters, artifact and parameter references.

    Lists every problem with its JSON path in one report (exit 1 if any).
    """
    from deepinfer.pipeline import validate_card_document  # the steps (and numpy) only for this command

    problems = validate_card_document(read_card_json(path))
    if as_json:
        print_json(out, [{"path": p.path, "message": p.message} for p in problems])
    elif problems:
        for problem in problems:
            out.print(f"[red]✗[/] {problem.path}: {problem.message}", highlight=False, soft_wrap=True)
        out.print(f"{path}: {len(problems)} problem(s)")
    else:
        out.print(f"[green]✓[/] {path}: valid model card")
    if problems:
        raise typer.Exit(1)


@card_app.command("import-legacy")
def card_import_legacy(
    path: Annotated[Path, typer.Argument(help="A 2017 DeepInfer registry JSON file.")],
    output: Annotated[Path | None, typer.Option("-o", "--output", help="Write the v2 card here.")] = None,
) -> None:
    """Convert a 2017 DeepInfer registry JSON into a v2 model card (printed, or written with -o)."""
    card, notes = load_legacy(path)
    text = dump_card(card)
    if output is None:
        out.print(text, end="", markup=False, highlight=False, soft_wrap=True)
    else:
        if output.exists() and output.is_dir():
            raise UsageError(f"{output} is a folder; give a file name")
        output.write_text(text, encoding="utf-8")
        err.print(f"[green]✓[/] wrote {output}")
    for note in notes:
        err.print(f"note: {note}", highlight=False, soft_wrap=True)


@app.command(
    "run",
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True, "help_option_names": []},
)
def run(
    ctx: typer.Context,
    model: Annotated[str | None, typer.Argument(help="Model id, id@version, or a card file.")] = None,
) -> None:
    """Run a model on an image: deepinfer run MODEL -i INPUT -o OUTPUT, plus the model's own options
    (`deepinfer run MODEL --help` lists them). MODEL is a registry id, id@version, or a card file."""
    dispatch_run(model, ctx.args, ctx.command_path, ctx.get_help)
