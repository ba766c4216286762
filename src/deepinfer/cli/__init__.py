"""The ``deepinfer`` command line (Typer + Rich). Exit codes: 0 ok, 1 other, 2 usage, 3 bad input, 4 integrity."""

from __future__ import annotations

import sys
from collections.abc import Sequence

import click
import typer
from rich.console import Console
from rich.markup import escape

from deepinfer._exceptions import CardError, DeepInferError
from deepinfer.cli._app import app
from deepinfer.cli._run_command import RunCommand


def build_cli() -> click.Group:
    group = typer.main.get_command(app)
    assert isinstance(group, click.Group)
    group.add_command(RunCommand(), "run")
    return group


def run_cli(argv: Sequence[str] | None = None) -> int:
    """Run the CLI and return its exit code; errors are one clear message, never a traceback."""
    err = Console(stderr=True)
    try:
        result = build_cli().main(args=list(argv) if argv is not None else None, prog_name="deepinfer",
                                  standalone_mode=False)
    except click.exceptions.Exit as done:
        return done.exit_code
    except click.ClickException as error:
        error.show()
        return error.exit_code
    except click.exceptions.Abort:
        err.print("aborted")
        return 1
    except CardError as error:
        err.print(f"[red]error:[/] {escape(error.source)}: {len(error.problems)} problem(s)")
        for problem in error.problems:
            err.print(f"  {escape(str(problem))}", highlight=False)
        return error.exit_code
    except DeepInferError as error:
        err.print(f"[red]error:[/] {escape(str(error))}", highlight=False)
        return error.exit_code
    except KeyboardInterrupt:
        err.print("interrupted")
        return 130
    return result if isinstance(result, int) else 0


def main() -> None:
    sys.exit(run_cli())


__all__ = ["build_cli", "main", "run_cli"]
