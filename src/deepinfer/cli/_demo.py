"""``deepinfer demo``: a real model on a real image from the card's own examples, with a one-screen summary."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from deepinfer._exceptions import FetchError, UsageError
from deepinfer.card import Example, ModelCard
from deepinfer.cli._progress import RichProgress
from deepinfer.cli._render import RESEARCH_ONLY
from deepinfer.registry import default_registry
from deepinfer.store import ArtifactStore

DEMO_MODEL = "brain-extraction-deepbet"


def _example_file(
    store: ArtifactStore, card: ModelCard, name: str, card_dir: Path | None, folder: Path, progress: RichProgress
) -> Path:
    """Fetch an example artifact (verified) and give it a readable file name in ``folder``."""
    from deepinfer.run import fetch_artifact

    artifact = card.artifact(name)
    cached = fetch_artifact(store, card, name, card_dir, progress)
    target = folder / Path(getattr(artifact.source, "path", name)).name
    if not target.exists() or target.stat().st_size != artifact.size:
        shutil.copyfile(cached, target)
    return target


def _first_available(
    store: ArtifactStore, card: ModelCard, card_dir: Path | None, folder: Path, progress: RichProgress
) -> tuple[Example, dict[str, Path], dict[str, Path]]:
    """The first example whose files can be had here (e.g. a Debian package may not be installed)."""
    reasons = []
    for example in card.examples:
        try:
            inputs = {k: _example_file(store, card, v, card_dir, folder, progress) for k, v in example.inputs.items()}
            expected = {
                k: _example_file(store, card, v, card_dir, folder, progress) for k, v in example.expected.items()
            }
        except FetchError as error:
            reasons.append(f"{example.name}: {error}")
            continue
        return example, inputs, expected
    raise UsageError(f"{card.id}: no example could be fetched:\n  " + "\n  ".join(reasons or ["it has none"]))


def demo(
    model: Annotated[str, typer.Option(help="Model id whose example to run.")] = DEMO_MODEL,
    output_dir: Annotated[Path, typer.Option("--output-dir", help="Where to write the results.")] = Path("demo-output"),
    check: Annotated[
        bool,
        typer.Option(
            "--check",
            help="Exit 1 unless an example with a reference output ran and its Dice reached the example's min_dice "
            "(what CI runs on a plain install).",
        ),
    ] = False,
) -> None:
    """Run a real model on a real example image: writes the result, its provenance and a PNG, and summarises."""
    import numpy as np

    from deepinfer._metrics import dice
    from deepinfer.imaging import read_volume
    from deepinfer.run import labelled_volume_ml, plan_outputs, run_model

    err = Console(stderr=True)
    registry = default_registry()
    loaded = registry.find(model)
    card, card_dir = loaded.card, loaded.folder
    output_dir.mkdir(parents=True, exist_ok=True)
    store = ArtifactStore()
    with RichProgress(err) as progress:
        example, inputs, expected = _first_available(store, card, card_dir, output_dir, progress)
        first = next(iter(inputs.values()))
        primary = output_dir / f"{first.name.split('.')[0]}_{card.id}.nii.gz"
        result = run_model(card, inputs, plan_outputs(card, primary), card_dir=card_dir, progress=progress, report=True)
    table = Table(title=f"{card.name} ({card.ref})", title_justify="left", show_header=False)
    table.add_row("example", f"{example.name}: {first.name}")
    table.add_row("time", f"{result.seconds:.1f} s (after download)")
    scores: dict[str, float] = {}
    for name, path in result.outputs.items():
        volume = result.volumes[name]
        if volume.array.dtype.kind in "iub":
            table.add_row(
                name, f"{int(np.count_nonzero(volume.array)):,} voxels, {labelled_volume_ml(volume):.1f} mL → {path}"
            )
            if name in expected:
                scores[name] = dice(volume.array, read_volume(expected[name]).array)
                stated = next((m for m in card.metrics if m.example == example.name), None)
                said = f"; the card states {stated.value:g}" if stated is not None else ""
                table.add_row("Dice vs reference", f"{scores[name]:.4f} ({expected[name].name}{said})")
        else:
            table.add_row(name, str(path))
    if result.report is not None:
        table.add_row("picture", str(result.report))
    Console().print(table)
    err.print(RESEARCH_ONLY, style="yellow")
    if check:
        _check(example, scores, err)


def _check(example: Example, scores: dict[str, float], err: Console) -> None:
    """``--check``: the demo must have measured a Dice, each at least the example's ``min_dice``."""
    if not scores:
        err.print(f"[red]check failed:[/] example {example.name} has no reference output to compare with")
        raise typer.Exit(1)
    low = {name: value for name, value in scores.items() if value < example.min_dice}
    if low:
        shown = ", ".join(f"{name} Dice {value:.4f}" for name, value in low.items())
        err.print(f"[red]check failed:[/] {shown} < {example.min_dice} (example {example.name})")
        raise typer.Exit(1)
    err.print(f"[green]✓[/] check passed: Dice ≥ {example.min_dice} on example {example.name}")
