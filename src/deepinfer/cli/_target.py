"""Where a command runs: this machine, or the deepinfer server named by ``--server`` (before the command, or
after ``run MODEL``). Light on purpose: the top-level command line imports it at start-up.

The token comes from ``--token`` or ``DEEPINFER_TOKEN`` (prefer the variable: a command line is visible to
other users of the machine).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Annotated, Any

import typer

SERVER_VARIABLE = "DEEPINFER_SERVER"
TOKEN_VARIABLE = "DEEPINFER_TOKEN"
SERVER_HELP = f"Run on (and browse the models of) this deepinfer server, e.g. http://gpu-box:8000 ({SERVER_VARIABLE})."
TOKEN_HELP = f"Access token of the server (better: the {TOKEN_VARIABLE} variable)."


@dataclass(frozen=True)
class RemoteTarget:
    url: str
    token: str | None = None

    def client(self) -> Any:
        from deepinfer.client import ServerClient

        return ServerClient(self.url, self.token)


_GLOBAL_TARGET: ContextVar[RemoteTarget | None] = ContextVar("deepinfer_server", default=None)


def main_options(
    server: Annotated[str | None, typer.Option("--server", help=SERVER_HELP, envvar=SERVER_VARIABLE)] = None,
    token: Annotated[str | None, typer.Option("--token", help=TOKEN_HELP, envvar=TOKEN_VARIABLE)] = None,
) -> None:
    """Browse, pull and run medical-imaging models."""
    _GLOBAL_TARGET.set(RemoteTarget(server, token or None) if server else None)


def global_target() -> RemoteTarget | None:
    """The ``--server`` given before the command (``deepinfer --server URL models list``)."""
    return _GLOBAL_TARGET.get()


def run_target(args: Sequence[str]) -> RemoteTarget | None:
    """The server of ``deepinfer run MODEL … --server URL [--token T]`` (options after MODEL win over global ones)."""
    server, token = _option(args, "--server"), _option(args, "--token")
    outer = global_target()
    if server is None:
        return RemoteTarget(outer.url, token or outer.token) if outer else None
    return RemoteTarget(server, token or (outer.token if outer else None) or os.environ.get(TOKEN_VARIABLE))


def _option(args: Sequence[str], flag: str) -> str | None:
    for index, item in enumerate(args):
        if item == flag and index + 1 < len(args):
            return args[index + 1]
        if item.startswith(flag + "="):
            return item.split("=", 1)[1]
    return None
