"""Commands for model authors: ``card init``, ``card test`` and ``package build``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from deepinfer._exceptions import UsageError
from deepinfer.card import dump_card
from deepinfer.cli._progress import JsonProgress, ProgressMode, RichProgress
from deepinfer.cli._runtime_options import EXACT, PrecisionChoice

package_app = typer.Typer(help="Package a model card as a container image.", no_args_is_help=True)
out = Console()
err = Console(stderr=True)

CardArgument = Annotated[str, typer.Argument(help="A card file (.json) or a registry id / id@version.")]


def _say(line: str) -> None:
    err.print(line, style="dim", markup=False, highlight=False, soft_wrap=True)


def card_init(
    model: Annotated[Path, typer.Argument(help="The trained network as an ONNX file.")],
    output: Annotated[Path | None, typer.Option("-o", "--output", help="Write the card here (else print it).")] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing card file.")] = False,
    task: Annotated[
        str,
        typer.Option(
            "--task",
            help="segmentation (a 3D network, sliding window) or classification (a 2D classifier run on every plane).",
        ),
    ] = "segmentation",
    plane: Annotated[
        str, typer.Option("--plane", help="classification: axial, coronal, sagittal or frames (default plane).")
    ] = "axial",
    classes: Annotated[
        str | None,
        typer.Option(
            "--classes", help="classification: the class names in the network's output order, comma-separated."
        ),
    ] = None,
    template: Annotated[
        str | None,
        typer.Option("--template", help="classification: start from a card template (spine-planes)."),
    ] = None,
) -> None:
    """Draft a card from an ONNX file: inputs/outputs from its graph, sha256 and size filled in, a runnable
    pipeline to adjust. Put the card in the model's folder (file sources stay inside the card's folder).
    With --task classification (or --template) the network is a 2D classifier run plane by plane."""
    target = output or model.with_name("card.json")
    if output is not None and output.exists() and not force:
        raise UsageError(f"{output} exists; use --force to overwrite it")
    if task not in ("segmentation", "classification"):
        raise UsageError(f"--task {task!r}: choose segmentation or classification")
    if task == "classification" or template is not None:
        from deepinfer.package import draft_classifier_card

        names = [name.strip() for name in classes.split(",")] if classes is not None else None
        card = draft_classifier_card(model, target, plane=plane, classes=names, template=template)
    else:
        if classes is not None or plane != "axial":
            raise UsageError("--classes and --plane draft classification cards; add --task classification")
        from deepinfer.package import draft_card

        card = draft_card(model, target)
    text = dump_card(card)
    if output is None:
        out.print(text, end="", markup=False, highlight=False, soft_wrap=True)
        return
    output.write_text(text, encoding="utf-8")
    todo = (
        "replace the TODOs, check classes and preprocessing"
        if card.task == "classification"
        else ("edit modality, anatomy, license, labels, pipeline")
    )
    err.print(f"[green]✓[/] wrote {output}: {todo}; add examples", highlight=False)


def card_test(
    card: CardArgument,
    progress: Annotated[ProgressMode, typer.Option(help="Progress display.")] = ProgressMode.none,
    precision: Annotated[
        PrecisionChoice,
        typer.Option(
            "--precision",
            help="exact: the expected outputs only; fast: also run every example in fast and exact mode and check "
            "the card's precision.fast bounds (Dice, largest difference) between them.",
        ),
    ] = EXACT,
) -> None:
    """Run every example of a card and compare with its expected outputs (Dice for labelmaps, largest absolute
    difference for other volumes, tolerances from the card); with --precision fast also fast mode against exact
    mode. Exit 1 when any check fails."""
    from deepinfer.cli._run_command import resolve_model
    from deepinfer.container import ContainerOptions
    from deepinfer.package import check_examples
    from deepinfer.pipeline import no_progress

    model, card_dir = resolve_model(card)
    reporter = JsonProgress() if progress is ProgressMode.json else RichProgress(err)
    with reporter:
        callback = no_progress if progress is ProgressMode.none else reporter
        log = None if progress is ProgressMode.none else reporter.log
        checks = check_examples(model, card_dir, progress=callback, container=ContainerOptions.from_environment(log))
        if precision.value == "fast":
            from deepinfer.package import check_fast_mode

            checks += check_fast_mode(model, card_dir, progress=callback)
    table = Table(title=f"{model.ref}: examples")
    for column in ("example", "output", "metric", "value", "limit", "result"):
        table.add_column(column)
    for check in checks:
        value = "—" if check.value is None else f"{check.value:.6g}"
        verdict = "[green]pass[/]" if check.passed else f"[red]FAIL[/] {check.message}"
        table.add_row(check.example, check.output, check.metric, value, f"{check.limit:g}", verdict)
    out.print(table)
    failed = [check for check in checks if not check.passed]
    if failed:
        out.print(f"{len(failed)} of {len(checks)} check(s) failed")
        raise typer.Exit(1)
    out.print(f"[green]✓[/] {len(checks)} check(s) passed")


@package_app.command("build")
def package_build(
    card: CardArgument,
    base_image: Annotated[str, typer.Option("--base-image", help="Local image with python3 to build on.")],
    tag: Annotated[str | None, typer.Option("--tag", help="Also tag the image, e.g. me/model:1.0.0.")] = None,
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="Where to write the new card (default ./ID.container.json).")
    ] = None,
    version: Annotated[
        str | None, typer.Option("--version", help="Version of the new card (default: VERSION+image.ID).")
    ] = None,
    runtime: Annotated[
        str, typer.Option("--runtime", help="Network runtime inside the image: onnxruntime or openvino.")
    ] = "onnxruntime",
) -> None:
    """Build a container image holding deepinfer, the card's verified artifacts and an entrypoint that speaks
    our protocol and the 2017 DeepInfer one; write a new card version whose runtime is the image, pinned by id."""
    from deepinfer.cli._run_command import resolve_model
    from deepinfer.package import build_image

    model, card_dir = resolve_model(card)
    target = output or Path(f"{model.id}.container.json")
    result = build_image(model, card_dir, base_image, target, tag=tag, version=version, runtime=runtime, log=_say)
    out.print(result.image, markup=False, highlight=False)
    err.print(f"[green]✓[/] image {result.image}" + (f" ({result.tag})" if result.tag else ""), highlight=False)
    err.print(f"[green]✓[/] wrote {result.card_path} ({result.card.ref})", highlight=False, soft_wrap=True)
