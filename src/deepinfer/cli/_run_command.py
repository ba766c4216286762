"""``deepinfer run MODEL ...``: a click command built from the model's card.

The card's typed parameters become options (types, choices, ranges, defaults and help come from the card),
so ``deepinfer run prostate-taps --help`` shows that model's own options.
"""

from __future__ import annotations

import contextlib
import enum
import inspect
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from deepinfer._exceptions import UsageError
from deepinfer.card import (
    BoolParameter,
    EnumParameter,
    FloatParameter,
    IntParameter,
    ModelCard,
    load_card,
)
from deepinfer.cli._dicomweb import check_store, local_inputs, store_option, store_outputs
from deepinfer.cli._option_names import option_name
from deepinfer.cli._progress import JsonProgress, ProgressMode, RichProgress
from deepinfer.cli._remote import chosen_target, remote_card, remote_parameters, run_remote
from deepinfer.cli._render import RESEARCH_ONLY
from deepinfer.cli._runtime_options import chosen, runtime_parameters
from deepinfer.cli._scores_summary import print_scores
from deepinfer.cli._statistics_table import print_statistics
from deepinfer.cli._target import RemoteTarget, run_target
from deepinfer.registry import default_registry

_KW = inspect.Parameter.KEYWORD_ONLY


def _parameter_signature(parameter: Any) -> inspect.Parameter:
    """One card parameter → a keyword parameter whose annotation is a Typer option (type, range, choices, help)."""
    flag = option_name(parameter.name)
    help_text = parameter.description.strip() or parameter.title or parameter.name
    kind: Any
    option: Any
    default = parameter.default
    if isinstance(parameter, BoolParameter):
        kind, option = bool, typer.Option(f"--{flag}/--no-{flag}", help=help_text)
    elif isinstance(parameter, EnumParameter):
        choices = enum.Enum(f"{parameter.name}Choice", {c: c for c in parameter.choices})  # type: ignore[misc]
        kind, default = choices, choices(default if default is not None else parameter.choices[0])
        option = typer.Option(f"--{flag}", help=help_text)
    elif isinstance(parameter, IntParameter | FloatParameter):
        kind = int if isinstance(parameter, IntParameter) else float
        option = typer.Option(f"--{flag}", help=help_text, min=parameter.minimum, max=parameter.maximum)
    else:
        kind, option = str, typer.Option(f"--{flag}", help=help_text)
    annotation = Annotated[kind if default is not None else kind | None, option]  # type: ignore[valid-type]
    return inspect.Parameter(parameter.name, _KW, default=default, annotation=annotation)


def _pairs(card: ModelCard, values: Sequence[str], names: list[str], what: str) -> dict[str, Path]:
    """``PATH`` (the first member) or ``NAME=PATH`` items → {member: path}."""
    return {name: Path(text) for name, text in _named(card, values, names, what).items()}


def _named(card: ModelCard, values: Sequence[str], names: list[str], what: str) -> dict[str, str]:
    """``TEXT`` (the first member) or ``NAME=TEXT`` items → {member: text} (a path, or a DICOMweb URL)."""
    result: dict[str, str] = {}
    for item in values:
        name, sep, path = item.partition("=")
        if not (sep and name in names):
            name, path = names[0], item
        if name in result:
            raise UsageError(
                f"{card.id}: the {what} {name} is given twice ({result[name]} and {path}); give each {what} once "
                f"(as PATH for the first, {names[0]}, or as NAME=PATH; its {what}s are {', '.join(names)})"
            )
        result[name] = path
    return result


def _series_choice(card: ModelCard, values: Sequence[str]) -> dict[str, str]:
    """``UID`` (the first input) or ``NAME=UID`` items of ``--series`` → {input: SeriesInstanceUID}."""
    names = [m.name for m in card.inputs]
    chosen: dict[str, str] = {}
    for item in values:
        name, sep, uid = item.rpartition("=")
        name = name if sep else names[0]
        if name not in names or name in chosen:
            raise UsageError(
                f"{card.id}: --series {item}: give one series per input, as UID (for {names[0]}) or NAME=UID; "
                f"its inputs are {', '.join(names)}"
            )
        chosen[name] = uid
    return chosen


OUTPUT_HELP = (
    "Output file (.nii.gz, .nii, .nrrd, .mha; .json for class scores; .dcm: a DICOM SEG and SR of a DICOM input's "
    "labelmap, or a DICOM SR of its class scores); others go beside it."
)


def _option(name: str, annotation: Any, default: Any = inspect.Parameter.empty) -> inspect.Parameter:
    return inspect.Parameter(name, _KW, default=default, annotation=annotation)


def _common_parameters(card: ModelCard, remote: RemoteTarget | None) -> list[inspect.Parameter]:
    """The options every generated ``run`` command has: inputs, outputs, series, threads, picture, progress,
    runtime and precision, the server, and ``--store``."""
    inputs = ", ".join(m.name for m in card.inputs)
    input_help = f"Input image file, DICOM folder or zip, or dicomweb:// URL ({inputs})."
    named = "[NAME=]PATH"
    series_help = "The DICOM series (SeriesInstanceUID) to read from a DICOM folder or zip that holds several."
    progress_help = "Progress display: rich, json (one JSON line per update on stderr) or none."
    report_help = "Also write STEM.report.png: the result outlined on the input."
    return [
        _option("inputs", Annotated[list[str], typer.Option("-i", "--input", metavar=named, help=input_help)]),
        _option("outputs", Annotated[list[str], typer.Option("-o", "--output", metavar=named, help=OUTPUT_HELP)]),
        _option("series", Annotated[list[str], typer.Option("--series", metavar="[NAME=]UID", help=series_help)], []),
        _option("threads", Annotated[int | None, typer.Option(min=1, help="CPU threads (default: all cores).")], None),
        _option("report", Annotated[bool, typer.Option("--report/--no-report", help=report_help)], False),
        _option("progress", Annotated[ProgressMode, typer.Option(help=progress_help)], ProgressMode.rich),
        *runtime_parameters(),
        *remote_parameters(remote),
        store_option(),
    ]


def model_app(card: ModelCard, card_dir: Path | None, remote: RemoteTarget | None = None) -> typer.Typer:
    """A one-command Typer app whose options are the card's inputs, outputs and typed parameters
    (``remote``: the server given before the command, the default of ``--server``)."""
    names = [p.name for p in card.parameters]

    def command(**values: Any) -> None:
        chosen = {n: v.value if isinstance(v, enum.Enum) else v for n, v in values.items() if n in names}
        _run(card, card_dir, values, chosen, remote)

    command.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [*_common_parameters(card, remote), *(_parameter_signature(p) for p in card.parameters)]
    )
    description = (card.description or card.name).strip()
    app = typer.Typer(add_completion=False, pretty_exceptions_enable=False, rich_markup_mode=None)
    app.command(
        name=card.id,
        help=f"{card.name} ({card.ref}). {description}\n\n{RESEARCH_ONLY}",
        context_settings={"help_option_names": ["-h", "--help"]},
    )(command)
    return app


def _run(
    card: ModelCard,
    card_dir: Path | None,
    options: dict[str, Any],
    values: dict[str, Any],
    remote: RemoteTarget | None = None,
) -> None:
    from deepinfer.pipeline import no_progress
    from deepinfer.run import dicom_sr_path, file_outputs, is_dicom_output, plan_outputs, run_model, scores_json_path

    err = Console(stderr=True)
    input_texts = _named(card, options["inputs"], [m.name for m in card.inputs], "input")
    output_names = file_outputs(card)
    explicit = _pairs(card, options["outputs"], output_names, "output")
    primary = explicit.pop(output_names[0], None)
    if primary is None:
        raise UsageError(f"{card.id}: give the main output ({output_names[0]}) with -o PATH")
    plan = plan_outputs(card, primary, explicit)
    series = _series_choice(card, options["series"])
    check_store(options["store"], plan)
    progress: ProgressMode = options["progress"]
    reporter = JsonProgress() if progress is ProgressMode.json else RichProgress(err)
    with reporter, contextlib.ExitStack() as stack:
        callback = no_progress if progress is ProgressMode.none else reporter
        input_paths = stack.enter_context(local_inputs(input_texts, callback))
        target = chosen_target(options, remote)
        if target is not None and series:
            raise UsageError("--series works on a local run; give the server an input that holds one series")
        if target is not None:
            result = run_remote(target, card, input_paths, plan, values, callback, options["report"])
        else:
            result = run_model(
                card,
                input_paths,
                plan,
                values,
                card_dir=card_dir,
                threads=options["threads"],
                progress=callback,
                report=options["report"],
                container=_container_options(card, progress, reporter.log),
                runtime=chosen(options, "runtime"),
                precision=chosen(options, "precision"),
                series=series,
            )
    for warning in getattr(result, "warnings", []):
        err.print(f"[yellow]warning:[/] {escape(warning)}", highlight=False, soft_wrap=True)
    for name, path in result.outputs.items():
        err.print(f"[green]✓[/] {name} → {path}", highlight=False, soft_wrap=True)
        if is_dicom_output(path) and name in getattr(result, "scores", {}):
            err.print(f"[green]✓[/] {name} JSON, CSV → {scores_json_path(path)}", highlight=False, soft_wrap=True)
        elif is_dicom_output(path):
            err.print(f"[green]✓[/] {name} volumes (DICOM SR) → {dicom_sr_path(path)}", highlight=False, soft_wrap=True)
    print_statistics(err, getattr(result, "statistics", {}))
    if options["store"]:
        stored = store_outputs(options["store"], result.outputs)
        err.print(f"[green]✓[/] stored {', '.join(p.name for p in stored)} → {options['store']}", highlight=False)
    print_scores(err, card, getattr(result, "scores", {}))
    if result.report is not None:
        err.print(f"[green]✓[/] picture → {result.report}", highlight=False, soft_wrap=True)
    err.print(f"{card.ref} finished in {result.seconds:.1f} s. {RESEARCH_ONLY}", style="dim")


def _container_options(card: ModelCard, progress: ProgressMode, log: Callable[[str], None]) -> Any:
    """How a container card runs (engine, GPU, timeout from the environment); its log goes with the progress."""
    if card.runtime.type != "container":
        return None
    from deepinfer.container import ContainerOptions

    return ContainerOptions.from_environment(log=None if progress is ProgressMode.none else log)


def resolve_model(reference: str) -> tuple[ModelCard, Path | None]:
    """A registry id (``id`` or ``id@version``) or the path of a card file."""
    path = Path(reference)
    if reference.endswith(".json") and path.is_file():
        return load_card(path), path.resolve().parent
    registry = default_registry()
    loaded = registry.find(reference)
    return loaded.card, loaded.folder


def dispatch_run(model: str | None, args: Sequence[str], prog_name: str, usage: Callable[[], str]) -> None:
    """``deepinfer run MODEL [OPTIONS]``: hands the options to the command generated from MODEL's card."""
    if model is None or model in {"-h", "--help"}:
        typer.echo(usage())
        return
    remote = run_target(args)
    card, card_dir = (remote_card(remote, model), None) if remote else resolve_model(model)
    command = typer.main.get_command(model_app(card, card_dir, remote))
    command.main(args=list(args), prog_name=f"{prog_name} {model}", standalone_mode=True)


def run(
    ctx: typer.Context,
    model: Annotated[str | None, typer.Argument(help="Model id, id@version, or a card file.")] = None,
) -> None:
    """Run a model on an image: deepinfer run MODEL -i INPUT -o OUTPUT, plus the model's own options
    (`deepinfer run MODEL --help` lists them). MODEL is a registry id, id@version, or a card file."""
    dispatch_run(model, ctx.args, ctx.command_path, ctx.get_help)
