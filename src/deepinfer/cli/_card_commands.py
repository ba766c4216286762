"""``deepinfer card validate|import-legacy|import-monai|import-nnunet|export-onnx|init|test``: model cards."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from deepinfer._exceptions import UsageError
from deepinfer.card import dump_card, load_legacy, read_card_json
from deepinfer.cli._card_export import card_export_onnx
from deepinfer.cli._card_import import card_import_monai, card_import_nnunet
from deepinfer.cli._package_commands import card_init, card_test
from deepinfer.cli._render import print_json

card_app = typer.Typer(help="Model cards: validate, import 2017 DeepInfer files.", no_args_is_help=True)
card_app.command("export-onnx")(card_export_onnx)
card_app.command("import-monai")(card_import_monai)
card_app.command("import-nnunet")(card_import_nnunet)
card_app.command("init")(card_init)
card_app.command("test")(card_test)
out = Console()
err = Console(stderr=True)

JsonFlag = Annotated[bool, typer.Option("--json", help="Machine-readable JSON output.")]


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
