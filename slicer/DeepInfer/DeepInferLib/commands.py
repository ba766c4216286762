"""The deepinfer command lines the extension runs (argv lists only; never a shell).

Pure Python: no Qt, no MRML. Every call goes through the deepinfer CLI in a separate process, locally or as a
thin client of a deepinfer server (``--server URL``; the token travels in the environment, never on argv).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .cards import ModelForm, ParameterSpec

TOKEN_VARIABLE = "DEEPINFER_TOKEN"
# Rich wraps stderr at 80 columns when it is not a terminal; a wide console keeps one message on one line.
_QUIET_ENV = {"COLUMNS": "400", "NO_COLOR": "1", "PYTHONUNBUFFERED": "1", "PYTHONIOENCODING": "utf-8"}


class CommandError(Exception):
    """The command cannot be built (no deepinfer found, a value out of range, an input missing)."""


@dataclass(frozen=True)
class Connection:
    """How to reach deepinfer: the argv prefix of the CLI, its environment, and an optional server.

    ``env`` None means this process's environment. In Slicer, an external executable (another Python) gets
    Slicer's *startup* environment, so Slicer's own PYTHONPATH/PYTHONHOME do not leak into it.
    """

    program: tuple[str, ...]
    env: Mapping[str, str] | None = None
    server_url: str | None = None
    token: str | None = field(default=None, repr=False)

    @property
    def mode(self) -> str:
        return "server" if self.server_url else "local"

    def argv(self, *arguments: str) -> list[str]:
        prefix = [*self.program]
        if self.server_url:
            prefix += ["--server", self.server_url]
        return [*prefix, *arguments]

    def environment(self) -> dict[str, str]:
        env = dict(os.environ if self.env is None else self.env)
        env.update(_QUIET_ENV)
        if self.token:
            env[TOKEN_VARIABLE] = self.token
        return env


def find_program(configured: str | None = None, python: str | None = None) -> tuple[tuple[str, ...], bool]:
    """The deepinfer CLI as (argv prefix, external?): a configured executable, else ``PYTHON -m deepinfer`` when
    deepinfer is importable here (``python`` is Slicer's PythonSlicer, which sets up Slicer's environment
    itself), else ``deepinfer`` on PATH. External programs run in another Python and get a clean environment."""
    if configured:
        path = Path(configured).expanduser()
        if not path.is_file():
            raise CommandError(f"{configured}: no deepinfer executable there")
        return (str(path),), True
    if importlib.util.find_spec("deepinfer") is not None:
        return (python or sys.executable, "-m", "deepinfer"), False
    found = shutil.which("deepinfer")
    if found:
        return (found,), True
    raise CommandError(
        "deepinfer was not found: install it into Slicer's Python, or set the path of a deepinfer executable"
    )


def make_connection(
    executable: str | None = None,
    server_url: str | None = None,
    token: str | None = None,
    python: str | None = None,
    startup_env: Mapping[str, str] | None = None,
) -> Connection:
    """A :class:`Connection` from the module's settings. ``startup_env`` is the environment Slicer started
    with (``slicer.util.startupEnvironment()``), given to an external deepinfer so Slicer's Python paths do not
    leak into another Python."""
    program, external = find_program(executable, python)
    url = (server_url or "").strip() or None
    if url is not None and not url.startswith(("http://", "https://")):
        raise CommandError(f"{url}: the server URL must start with http:// or https://")
    return Connection(program, startup_env if external else None, url, token or None)


# --------------------------------------------------------------------------------------------- commands


def list_models(connection: Connection) -> list[str]:
    return connection.argv("models", "list", "--json")


def show_model(connection: Connection, model: str) -> list[str]:
    return connection.argv("models", "show", model, "--json")


def list_cache(connection: Connection) -> list[str]:
    return connection.argv("cache", "ls", "--json")


def pull_model(connection: Connection, model: str) -> list[str]:
    return connection.argv("pull", model, "--progress", "json")


def format_value(spec: ParameterSpec, value: Any) -> str:
    """A widget value as the text of one CLI option value, checked against the card's type and range."""
    if spec.widget == "combo":
        if value not in spec.choices:
            raise CommandError(f"{spec.label}: {value!r} is not one of {', '.join(spec.choices)}")
        return str(value)
    if spec.widget in {"int", "float"}:
        number = int(value) if spec.widget == "int" else float(value)
        if (spec.minimum is not None and number < spec.minimum) or (spec.maximum is not None and number > spec.maximum):
            raise CommandError(f"{spec.label}: {number} is outside [{spec.minimum}, {spec.maximum}]")
        return repr(number)
    return str(value)


def parameter_arguments(form: ModelForm, values: Mapping[str, Any]) -> list[str]:
    """Card parameters → ``--flag=VALUE`` items (one argv item each, so a value can never become an option)."""
    unknown = sorted(set(values) - {p.name for p in form.parameters})
    if unknown:
        raise CommandError(f"{form.model_id} has no parameter {', '.join(unknown)}")
    arguments = []
    for spec in form.parameters:
        value = values.get(spec.name, spec.default)
        if spec.widget == "check":
            arguments.append(f"--{spec.option}" if value else f"--no-{spec.option}")
        elif spec.widget == "text" and value in (None, ""):
            continue
        else:
            arguments.append(f"--{spec.option}={format_value(spec, value)}")
    return arguments


def run_model(
    connection: Connection,
    form: ModelForm,
    inputs: Mapping[str, Path],
    outputs: Mapping[str, Path],
    values: Mapping[str, Any],
    threads: int | None = None,
) -> list[str]:
    """``deepinfer run ID@VERSION -i NAME=PATH ... -o NAME=PATH ... [--PARAM=VALUE ...] --progress json``.

    Every output file is named explicitly, so nothing has to be guessed when the results are imported."""
    missing = [spec.label for spec in form.inputs if spec.required and spec.name not in inputs]
    if missing:
        raise CommandError(f"select the input(s): {', '.join(missing)}")
    if not form.runnable:
        raise CommandError("; ".join(form.problems))
    argv = connection.argv("run", form.ref)
    for name, path in inputs.items():
        argv += ["-i", f"{name}={path}"]
    for name, path in outputs.items():
        argv += ["-o", f"{name}={path}"]
    if threads:
        argv.append(f"--threads={int(threads)}")
    return [*argv, *parameter_arguments(form, values), "--progress", "json"]


def output_files(form: ModelForm, folder: Path, suffix: str = ".nrrd") -> dict[str, Path]:
    """The file each output of ``form`` is written to inside ``folder`` (the run's own temp folder): images
    with ``suffix``, class scores as JSON (deepinfer writes a CSV beside it)."""
    from .cards import FILE_OUTPUT_TYPES, SCORE_OUTPUT_TYPES

    files = {}
    for spec in form.outputs:
        if spec.member_type in FILE_OUTPUT_TYPES:
            files[spec.name] = folder / f"{spec.name}{suffix}"
        elif spec.member_type in SCORE_OUTPUT_TYPES:
            files[spec.name] = folder / f"{spec.name}.json"
    return files


def exit_meaning(code: int) -> str:
    """The deepinfer exit code contract: 0 ok, 2 usage, 3 bad input, 4 integrity, anything else an error."""
    return {
        0: "finished",
        2: "usage error",
        3: "bad input",
        4: "integrity failure (an artifact's sha256 differs from its card; it was not run)",
    }.get(code, "error")


def quoted(argv: Sequence[str]) -> str:
    """A command line for the log (the token is never in argv)."""
    import shlex

    return " ".join(shlex.quote(a) for a in argv)
