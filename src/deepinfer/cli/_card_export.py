"""``deepinfer card export-onnx CARD``: a TorchScript card's networks as ONNX, in a new card that is checked
against the original on a real image before it is written."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from deepinfer.cli._progress import RichProgress
from deepinfer.cli._run_command import resolve_model
from deepinfer.store import ArtifactStore


def card_export_onnx(
    model: Annotated[str, typer.Argument(help="A TorchScript model: registry id, id@version, or a card file.")],
    output_dir: Annotated[
        Path | None,
        typer.Option("-o", "--output-dir", help="New folder for the card and the ONNX files (default: ID-onnx)."),
    ] = None,
    input_path: Annotated[
        Path | None,
        typer.Option("-i", "--input", help="Image to compare the two cards on (default: the card's first example)."),
    ] = None,
    threads: Annotated[int | None, typer.Option(min=1, help="CPU threads for the networks.")] = None,
) -> None:
    """Convert a TorchScript card's networks to ONNX and write a new card pointing at them (with sha256).

    Both cards run on the same image first; the new card is written only if every label of its masks agrees
    with the TorchScript card's (Dice ≥ 0.999)."""
    from deepinfer import package as export
    from deepinfer.imaging import read_volume

    err = Console(stderr=True)
    card, card_dir = resolve_model(model)
    export.check_exportable(card)
    target = output_dir or Path(f"{card.id}{export.EXPORT_ID_SUFFIX}")
    store = ArtifactStore()
    with RichProgress(err) as progress, tempfile.TemporaryDirectory() as scratch:
        if input_path is None:
            volume = export.example_volume(store, card, card_dir, Path(scratch))
        else:
            volume = read_volume(input_path)
        result = export.convert_card_to_onnx(
            card, volume, target, store=store, card_dir=card_dir, threads=threads, progress=progress
        )
    table = Table(title=f"{result.card.ref} ← {card.ref}", title_justify="left", show_header=False)
    table.add_row("card", str(result.card_path))
    for name, path in result.networks.items():
        table.add_row(name, f"{path}  sha256 {result.card.artifact(name).sha256}")
    for label, score in result.dice.items():
        table.add_row(f"Dice {label}", f"{score:.5f} (≥ {export.EXPORT_MIN_DICE})")
    Console().print(table)
