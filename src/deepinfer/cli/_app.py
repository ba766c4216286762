"""The ``deepinfer`` command group: global options, and where each command lives (imported when called)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

import typer

from deepinfer.cli._lazy import LazyCommand, LazyGroup
from deepinfer.cli._render import RESEARCH_ONLY
from deepinfer.cli._target import main_options

_PASS_THROUGH = {"allow_extra_args": True, "ignore_unknown_options": True, "help_option_names": []}
"""``run`` and ``batch`` hand their options to a command built from the model's card."""


class DeepInferCommands(LazyGroup):
    lazy: ClassVar[Mapping[str, LazyCommand]] = {
        "models": LazyCommand("deepinfer.cli._models_commands", "models_app"),
        "pull": LazyCommand("deepinfer.cli._pull_command", "pull"),
        "run": LazyCommand("deepinfer.cli._run_command", "run", _PASS_THROUGH),
        "batch": LazyCommand("deepinfer.cli._batch_command", "batch", _PASS_THROUGH),
        "demo": LazyCommand("deepinfer.cli._demo", "demo"),
        "serve": LazyCommand("deepinfer.cli._serve_command", "serve"),
        "card": LazyCommand("deepinfer.cli._card_commands", "card_app"),
        "registry": LazyCommand("deepinfer.cli._registry_commands", "registry_app"),
        "cache": LazyCommand("deepinfer.cli._cache_commands", "cache_app"),
        "runtimes": LazyCommand("deepinfer.cli._runtime_commands", "runtimes_app"),
        "package": LazyCommand("deepinfer.cli._package_commands", "package_app"),
    }


app = typer.Typer(
    name="deepinfer",
    cls=DeepInferCommands,
    help="Browse, pull and run medical-imaging models. " + RESEARCH_ONLY,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.callback()(main_options)
