"""The ``deepinfer`` command line (Typer + Rich). Exit codes: 0 ok, 1 other, 2 usage, 3 bad input, 4 integrity."""

from __future__ import annotations

import sys
from collections.abc import Sequence

import typer
from rich.console import Console
from rich.markup import escape

from deepinfer._exceptions import CardError, DeepInferError
from deepinfer.cli._app import app
from deepinfer.cli._option_names import option_name


def run_cli(argv: Sequence[str] | None = None) -> int:
    """Run the CLI and return its exit code; errors are one clear message, never a traceback."""
    err = Console(stderr=True)
    try:
        typer.main.get_command(app).main(
            args=list(argv) if argv is not None else None, prog_name="deepinfer", standalone_mode=True
        )
    except SystemExit as done:  # standalone mode always ends here, usage errors included (code 2)
        return done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
    except CardError as error:
        err.print(f"[red]error:[/] {escape(error.source)}: {len(error.problems)} problem(s)", soft_wrap=True)
        for problem in error.problems:
            err.print(f"  {escape(str(problem))}", highlight=False, soft_wrap=True)
        return error.exit_code
    except DeepInferError as error:
        err.print(f"[red]error:[/] {escape(str(error))}", highlight=False, soft_wrap=True)
        return error.exit_code
    except KeyboardInterrupt:
        err.print("interrupted")
        return 130
    return 0


def main() -> None:
    sys.exit(run_cli())


__all__ = ["main", "option_name", "run_cli"]
