"""``deepinfer card import-monai BUNDLE -o CARD_DIR``: a MONAI bundle as a card folder."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console


def card_import_monai(
    bundle: Annotated[Path, typer.Argument(help="A MONAI bundle folder (configs/metadata.json, inference.json).")],
    output: Annotated[Path, typer.Option("-o", "--output", help="The new card folder (card.json and files).")],
    model: Annotated[
        str | None,
        typer.Option(
            "--model", help="The network inside the bundle (default models/model.ts, then models/model.onnx)."
        ),
    ] = None,
    example: Annotated[
        Path | None, typer.Option("--example", help="An input image to record as the card's example.")
    ] = None,
    expected: Annotated[
        Path | None,
        typer.Option("--expected", help="The bundle's own output for --example (MONAI's run): card test compares."),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing card folder.")] = False,
) -> None:
    """Import a MONAI bundle: metadata → identity, labels and stated metrics; inference.json's preprocessing,
    inferer and postprocessing → pipeline steps; the TorchScript or ONNX network copied beside the card, pinned
    by sha256. Nothing in the bundle is evaluated or unpickled: '$' expressions where the card needs a value,
    unsupported transforms or options and pickled checkpoints (models/model.pt) are all listed in one refusal
    (exit 3)."""
    from deepinfer.package import import_monai_bundle

    err = Console(stderr=True)
    card, path = import_monai_bundle(bundle, output, model=model, example=example, expected=expected, force=force)
    err.print(f"[green]✓[/] wrote {path} ({card.ref}, {len(card.pipeline)} steps)", highlight=False, soft_wrap=True)
    for note in card.notes:
        err.print(f"note: {note}", highlight=False, soft_wrap=True, markup=False)
    hint = f"deepinfer card validate {path}" + (f" && deepinfer card test {path}" if card.examples else "")
    err.print(f"next: {hint}", highlight=False, soft_wrap=True, markup=False)
