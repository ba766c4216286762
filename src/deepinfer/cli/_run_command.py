"""``deepinfer run MODEL ...``: a click command built from the model's card.

The card's typed parameters become options (types, choices, ranges, defaults and help come from the card),
so ``deepinfer run prostate-taps --help`` shows that model's own options.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click
from rich.console import Console

from deepinfer._exceptions import UsageError
from deepinfer.card._model import (
    BoolParameter,
    EnumParameter,
    FloatParameter,
    IntParameter,
    ModelCard,
)
from deepinfer.card._validate import load_card
from deepinfer.cli._progress import JsonProgress, RichProgress
from deepinfer.cli._render import RESEARCH_ONLY
from deepinfer.registry import default_registry

COMMON = {"input", "output", "threads", "progress", "help"}


def option_name(parameter: str) -> str:
    """``OutputSmoothing`` → ``output-smoothing``; a name that clashes with a common option gets ``param-``."""
    kebab = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "-", parameter).replace("_", "-").lower()
    return f"param-{kebab}" if kebab in COMMON else kebab


def _parameter_option(parameter: Any) -> click.Option:
    flag = option_name(parameter.name)
    help_text = parameter.description or parameter.title or parameter.name
    if isinstance(parameter, BoolParameter):
        return click.Option([f"--{flag}/--no-{flag}", parameter.name], default=parameter.default,
                            show_default=True, help=help_text)
    kind: click.ParamType
    if isinstance(parameter, EnumParameter):
        kind = click.Choice(parameter.choices)
    elif isinstance(parameter, IntParameter):
        kind = click.IntRange(_int_or_none(parameter.minimum), _int_or_none(parameter.maximum))
    elif isinstance(parameter, FloatParameter):
        kind = click.FloatRange(parameter.minimum, parameter.maximum)
    else:
        kind = click.STRING
    default = parameter.default if parameter.default is not None else None
    return click.Option([f"--{flag}", parameter.name], type=kind, default=default, show_default=True,
                        help=help_text)


def _int_or_none(value: float | None) -> int | None:
    return None if value is None else int(value)


def _pairs(card: ModelCard, values: Sequence[str], names: list[str], what: str) -> dict[str, Path]:
    """``PATH`` (the first member) or ``NAME=PATH`` items → {member: path}."""
    result: dict[str, Path] = {}
    for item in values:
        name, sep, path = item.partition("=")
        if sep and name in names:
            result[name] = Path(path)
        elif len(names) >= 1 and names[0] not in result:
            result[names[0]] = Path(item)
        else:
            raise UsageError(f"{card.id}: give {what}s as NAME=PATH; its {what}s are {', '.join(names)}")
    return result


def model_command(card: ModelCard, card_dir: Path | None) -> click.Command:
    """The click command that runs one card."""
    input_names = [m.name for m in card.inputs]
    params: list[click.Parameter] = [
        click.Option(["-i", "--input", "inputs"], multiple=True, required=True, metavar="[NAME=]PATH",
                     help=f"Input image file or DICOM folder ({', '.join(input_names)})."),
        click.Option(["-o", "--output", "outputs"], multiple=True, required=True, metavar="[NAME=]PATH",
                     help="Output file (.nii.gz, .nii, .nrrd, .mha); other outputs are written beside it."),
        click.Option(["--threads"], type=click.IntRange(1, None), default=None,
                     help="CPU threads for the network (default: all cores)."),
        click.Option(["--progress"], type=click.Choice(["rich", "json", "none"]), default="rich",
                     show_default=True, help="Progress display (json: one JSON line per update on stderr)."),
        *(_parameter_option(p) for p in card.parameters),
    ]

    def callback(inputs: tuple[str, ...], outputs: tuple[str, ...], threads: int | None, progress: str,
                 **values: Any) -> None:
        _run(card, card_dir, inputs, outputs, threads, progress, values)

    description = (card.description or card.name).strip()
    return click.Command(
        name=card.id,
        params=params,
        callback=callback,
        help=f"{card.name} ({card.ref}). {description}\n\n{RESEARCH_ONLY}",
        context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110},
    )


def _run(card: ModelCard, card_dir: Path | None, inputs: Sequence[str], outputs: Sequence[str],
         threads: int | None, progress: str, values: dict[str, Any]) -> None:
    from deepinfer._run import plan_outputs, run_model, volume_outputs

    err = Console(stderr=True)
    input_paths = _pairs(card, inputs, [m.name for m in card.inputs], "input")
    output_names = volume_outputs(card)
    explicit = _pairs(card, outputs, output_names, "output")
    primary = explicit.pop(output_names[0], None)
    if primary is None:
        raise UsageError(f"{card.id}: give the main output ({output_names[0]}) with -o PATH")
    plan = plan_outputs(card, primary, explicit)
    reporter = JsonProgress() if progress == "json" else RichProgress(err)
    with reporter:
        callback = reporter if progress != "none" else _silent
        result = run_model(card, input_paths, plan, values, card_dir=card_dir, threads=threads,
                           progress=callback)
    for name, path in result.outputs.items():
        err.print(f"[green]✓[/] {name} → {path}", highlight=False)
    err.print(f"{card.ref} finished in {result.seconds:.1f} s. {RESEARCH_ONLY}", style="dim")


def _silent(task: str, done: int, total: int) -> None:
    return None


def resolve_model(reference: str) -> tuple[ModelCard, Path | None]:
    """A registry id (``id`` or ``id@version``) or the path of a card file."""
    path = Path(reference)
    if reference.endswith(".json") and path.is_file():
        return load_card(path), path.resolve().parent
    registry = default_registry()
    card = registry.get(reference)
    return card, registry.card_dir(card)


class RunCommand(click.Command):
    """``deepinfer run MODEL [OPTIONS]``: dispatches to the command generated from MODEL's card."""

    def __init__(self) -> None:
        super().__init__(
            name="run",
            params=[click.Argument(["model"], required=False),
                    click.Argument(["args"], nargs=-1, type=click.UNPROCESSED)],
            callback=self._dispatch,
            help="Run a model on an image: deepinfer run MODEL -i INPUT -o OUTPUT [model options]. "
                 "MODEL is a registry id (id@version) or a card file. "
                 "`deepinfer run MODEL --help` shows the model's own options.",
            context_settings={"ignore_unknown_options": True, "allow_extra_args": True,
                              "help_option_names": []},
        )

    def _dispatch(self, model: str | None, args: tuple[str, ...]) -> None:
        context = click.get_current_context()
        if model is None or model in {"-h", "--help"}:
            click.echo(self.get_help(context))
            return
        card, card_dir = resolve_model(model)
        command = model_command(card, card_dir)
        command.main(args=list(args), prog_name=f"{context.command_path} {model}", standalone_mode=False)
