"""Commands imported when they are called: ``deepinfer models list`` should not pay for importing ``run``,
``serve``, ``batch`` and the machinery behind them (typer builds every click command it knows when it starts).

A :class:`LazyGroup` knows each top-level command by name and by where it lives (module and attribute: a
``typer.Typer`` group or a command function). ``deepinfer --help`` imports them all, to list their help.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import typer
from typer.core import TyperGroup


@dataclass(frozen=True)
class LazyCommand:
    module: str
    attribute: str
    context_settings: Mapping[str, Any] = field(default_factory=dict)
    """For a command function: the click context settings it is registered with."""


class LazyGroup(TyperGroup):
    """A click group whose subclasses list their commands in ``lazy``; each is built on first use."""

    lazy: ClassVar[Mapping[str, LazyCommand]] = {}

    def list_commands(self, ctx: Any) -> list[str]:
        return [*super().list_commands(ctx), *(name for name in self.lazy if name not in self.commands)]

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        known = super().get_command(ctx, cmd_name)
        entry = self.lazy.get(cmd_name)
        if known is not None or entry is None:
            return known
        command = _as_command(cmd_name, entry)
        command.name = cmd_name
        self.commands[cmd_name] = command
        return command


def _as_command(name: str, entry: LazyCommand) -> Any:
    """The click command of ``entry``: a Typer app stays a group even with one command (``package build``)."""
    target = getattr(importlib.import_module(entry.module), entry.attribute)
    if isinstance(target, typer.Typer):
        return typer.main.get_group(target)
    single = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
    single.command(name, context_settings=dict(entry.context_settings))(target)
    return typer.main.get_command(single)
