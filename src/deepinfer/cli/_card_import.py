"""``deepinfer card import-monai BUNDLE -o CARD_DIR`` and ``deepinfer card import-nnunet RESULTS -o CARD_DIR``:
a MONAI bundle or an nnU-Net v2 results folder as a card folder."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console


def card_import_monai(
    bundle: Annotated[Path, typer.Argument(help="A MONAI bundle folder (configs/ in JSON or YAML, models/).")],
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
    """Import a MONAI bundle: metadata → identity, labels and stated metrics; the inference config's
    preprocessing, inferer and postprocessing → pipeline steps (several LoadImaged keys stacked by ConcatItemsd →
    several inputs); the TorchScript or ONNX network copied beside the card, pinned by sha256. Configs may be JSON
    or YAML (safe loader only). Nothing in the bundle is evaluated or unpickled: '$' expressions where the card
    needs a value, unsupported transforms or options, YAML tags or anchors and pickled checkpoints
    (models/model.pt) are all listed in one refusal (exit 3)."""
    from deepinfer.package import import_monai_bundle

    err = Console(stderr=True)
    card, path = import_monai_bundle(bundle, output, model=model, example=example, expected=expected, force=force)
    err.print(f"[green]✓[/] wrote {path} ({card.ref}, {len(card.pipeline)} steps)", highlight=False, soft_wrap=True)
    for note in card.notes:
        err.print(f"note: {note}", highlight=False, soft_wrap=True, markup=False)
    hint = f"deepinfer card validate {path}" + (f" && deepinfer card test {path}" if card.examples else "")
    err.print(f"next: {hint}", highlight=False, soft_wrap=True, markup=False)


def card_import_nnunet(
    results: Annotated[
        Path,
        typer.Argument(help="An nnU-Net v2 results folder (dataset.json, plans.json, fold_N/checkpoint_final.pth)."),
    ],
    output: Annotated[Path, typer.Option("-o", "--output", help="The new card folder (card.json and networks).")],
    configuration: Annotated[
        str, typer.Option("--configuration", help="The plans' configuration the folder was trained with.")
    ] = "3d_fullres",
    folds: Annotated[str, typer.Option("--folds", help="Folds to ensemble: 0,1,... or all.")] = "0",
    example: Annotated[
        list[Path] | None,
        typer.Option(
            "--example",
            help="An input image to record as the card's example, once per input channel in channel_names' order; "
            "the card's outputs for it become the expected ones that deepinfer card test checks.",
        ),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing card folder.")] = False,
) -> None:
    """Import an nnU-Net v2 model: plans.json and dataset.json → nnU-Net's own inference as pipeline steps (one
    card input per channel, crop to nonzero, normalization, resampling with separate z for anisotropic grids,
    Gaussian sliding window, mirroring, fold average, softmax and argmax or sigmoid and regions, and the
    largest-component postprocessing of postprocessing.json); each fold's weights (loaded as plain data, never
    unpickled as code) → one ONNX network, checked against torch. Cascades, 2D plans, custom trainers, other
    normalizations and other postprocessing are listed in one refusal (exit 3). Needs nnU-Net's network classes
    (pip install dynamic-network-architectures)."""
    from deepinfer.package import import_nnunet_results

    err = Console(stderr=True)
    card, path = import_nnunet_results(
        results, output, configuration=configuration, folds=folds, examples=example or None, force=force
    )
    err.print(f"[green]✓[/] wrote {path} ({card.ref}, {len(card.pipeline)} steps)", highlight=False, soft_wrap=True)
    for note in card.notes:
        err.print(f"note: {note}", highlight=False, soft_wrap=True, markup=False)
    hint = f"deepinfer card validate {path}" + (f" && deepinfer card test {path}" if card.examples else "")
    err.print(f"next: {hint}", highlight=False, soft_wrap=True, markup=False)
