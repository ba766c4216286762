"""The one seam to a container engine: a small protocol, and its implementation on the docker / podman CLI.

Every call is an argv list (never a shell). The engine is chosen by ``DEEPINFER_CONTAINER_ENGINE``
(``docker`` or ``podman``) or found on ``PATH`` (docker first). Unit tests pass a fake engine instead.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Protocol

from deepinfer._exceptions import ContainerError, RuntimeUnavailableError, UsageError

ENGINE_VARIABLE = "DEEPINFER_CONTAINER_ENGINE"
PODMAN_OPTIONS_VARIABLE = "DEEPINFER_PODMAN_OPTIONS"  # global podman options, split on whitespace
JOB_LABEL = "org.deepinfer.job"
MAX_LINE = 8192
_CLI_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class ContainerJob:
    """One ``run``: ``options`` go between ``run`` and the image, ``command`` after the image (user values only
    ever there, one argv item each)."""

    name: str
    image: str
    options: tuple[str, ...]
    command: tuple[str, ...]
    timeout_s: float


class ContainerEngine(Protocol):
    """What deepinfer needs from Docker or Podman."""

    name: str

    def check(self) -> None:
        """Raise :class:`RuntimeUnavailableError` when the engine cannot be reached."""

    def run(self, job: ContainerJob, on_line: Callable[[str], None]) -> int | None:
        """Run the job, calling ``on_line`` for each line it prints; its exit code, or None when it ran past its
        timeout (it is then killed and removed)."""

    def image_id(self, image: str) -> str | None:
        """The local id (``sha256:…``) of an image, or None when it is not present."""

    def remove(self, name: str) -> None:
        """Kill and remove a container by name (no error when it is already gone)."""

    def containers(self, label: str = JOB_LABEL) -> list[str]:
        """Names of the containers (running or not) that carry ``label``."""

    def labelled(self, label: str = JOB_LABEL) -> dict[str, dict[str, str]]:
        """The containers (running or not) that carry ``label``: name → all their labels."""

    def build(self, context: Path, tag: str | None, labels: Mapping[str, str]) -> str:
        """Build ``context/Dockerfile``; the new image's id (``sha256:…``)."""

    def gpu_options(self, device: str) -> list[str]:
        """Run options giving the container ``device`` (``all`` or an index)."""

    def user_options(self, uid: int, gid: int) -> list[str]:
        """Run options making the container's processes (and the files they write) belong to uid:gid."""


class CliEngine:
    """An engine driven through its command line client (``docker`` or ``podman``)."""

    name = "docker"

    def __init__(self, program: str | None = None, global_options: Sequence[str] = ()) -> None:
        self.program = program or self.name
        self.global_options = tuple(global_options)

    def command(self, *args: str) -> list[str]:
        return [self.program, *self.global_options, *args]

    def _call(self, *args: str, timeout: float = _CLI_TIMEOUT_S, env: Mapping[str, str] | None = None) -> str:
        try:
            done = subprocess.run(
                self.command(*args),
                capture_output=True,
                encoding="utf-8",
                errors="replace",
                timeout=timeout,
                check=False,
                env={**os.environ, **(env or {})},
            )
        except FileNotFoundError:
            raise RuntimeUnavailableError(f"{self.program}: not found; install {self.name}") from None
        except subprocess.TimeoutExpired:
            raise ContainerError(f"{self.name} {args[0]} did not answer within {timeout:.0f} s") from None
        if done.returncode != 0:
            raise ContainerError(f"{self.name} {args[0]} failed: {_tail(done.stderr or done.stdout)}")
        return done.stdout.strip()

    def check(self) -> None:
        try:
            self._call("version", "--format", "{{.Server.Version}}", timeout=30)
        except ContainerError as error:
            raise RuntimeUnavailableError(
                f"the {self.name} engine is not reachable ({error}); start it, or point DOCKER_HOST at it"
            ) from None

    def run(self, job: ContainerJob, on_line: Callable[[str], None]) -> int | None:
        argv = self.command("run", "--name", job.name, *job.options, job.image, *job.command)
        process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        assert process.stdout is not None
        lines: queue.Queue[bytes | None] = queue.Queue()
        reader = threading.Thread(target=_read_lines, args=(process.stdout, lines), daemon=True)
        reader.start()
        try:
            if _pump(lines, on_line, time.monotonic() + job.timeout_s):
                return process.wait()
            self._stop(job.name, process)
            return None
        except BaseException:  # interrupted (Ctrl-C) or a failing callback: leave no container behind
            self._stop(job.name, process)
            raise
        finally:
            reader.join(timeout=10)
            process.stdout.close()

    def _stop(self, name: str, client: subprocess.Popen[bytes]) -> None:
        """Stop the client first (so it starts nothing more), then kill and remove the container."""
        client.kill()
        _wait(client, 30)
        self.remove(name)

    def image_id(self, image: str) -> str | None:
        try:
            found = self._call("image", "inspect", "--format", "{{.Id}}", image, timeout=30)
        except ContainerError:
            return None
        return found if found.startswith("sha256:") else f"sha256:{found}"

    def remove(self, name: str) -> None:
        for _ in range(50):
            subprocess.run(self.command("rm", "--force", name), capture_output=True, timeout=60, check=False)
            if not self._names(f"name=^{name}$"):
                return
            time.sleep(0.2)
        raise ContainerError(f"{self.name} could not remove the container {name}")

    def containers(self, label: str = JOB_LABEL) -> list[str]:
        return self._names(f"label={label}")

    def labelled(self, label: str = JOB_LABEL) -> dict[str, dict[str, str]]:
        names = self.containers(label)
        try:
            return self._labels(names)
        except ContainerError:  # one was removed between the listing and the look: look one at a time
            found: dict[str, dict[str, str]] = {}
            for name in names:
                with contextlib.suppress(ContainerError):
                    found.update(self._labels([name]))
            return found

    def _labels(self, names: Sequence[str]) -> dict[str, dict[str, str]]:
        if not names:
            return {}
        text = self._call("container", "inspect", "--format", "{{json .Config.Labels}}", *names, timeout=30)
        found: dict[str, dict[str, str]] = {}
        for name, line in zip(names, text.splitlines(), strict=False):
            try:
                labels = json.loads(line) or {}
            except ValueError:
                continue
            if isinstance(labels, dict):
                found[name] = {str(key): str(value) for key, value in labels.items()}
        return found

    def _names(self, selector: str) -> list[str]:
        found = self._call("ps", "--all", "--filter", selector, "--format", "{{.Names}}", timeout=30)
        return [name for name in found.splitlines() if name]

    def build(self, context: Path, tag: str | None, labels: Mapping[str, str]) -> str:
        args = ["build", "--quiet", "--file", str(context / "Dockerfile")]
        args += [item for key, value in labels.items() for item in ("--label", f"{key}={value}")]
        args += ["--tag", tag] if tag else []
        output = self._call(*args, str(context), timeout=3600, env={"DOCKER_BUILDKIT": "0"})
        image = output.splitlines()[-1].strip() if output else ""
        return image if image.startswith("sha256:") else f"sha256:{image}"

    def gpu_options(self, device: str) -> list[str]:
        return ["--gpus", "all" if device == "all" else f"device={device}"]

    def user_options(self, uid: int, gid: int) -> list[str]:
        return ["--user", f"{uid}:{gid}"]


class DockerEngine(CliEngine):
    name = "docker"


class PodmanEngine(CliEngine):
    """Podman: GPUs through CDI; rootless runs keep the caller's uid inside (``--userns keep-id``).

    On hosts whose cgroups crun cannot use, give global options, e.g. ``("--runtime", "runc",
    "--cgroup-manager", "cgroupfs")``; :func:`detect_engine` reads them from ``DEEPINFER_PODMAN_OPTIONS``."""

    name = "podman"

    def gpu_options(self, device: str) -> list[str]:
        return ["--device", f"nvidia.com/gpu={device}"]

    def user_options(self, uid: int, gid: int) -> list[str]:
        keep_id = ["--userns", "keep-id"] if os.geteuid() != 0 else []
        limits = ["--ulimit", "nofile=4096:4096", "--ulimit", "nproc=4096:4096"]
        return [*keep_id, *limits, "--user", f"{uid}:{gid}"]


ENGINES: Mapping[str, type[CliEngine]] = {"docker": DockerEngine, "podman": PodmanEngine}


def detect_engine(preferred: str | None = None) -> CliEngine:
    """The engine named by ``preferred`` or ``DEEPINFER_CONTAINER_ENGINE``, else the first CLI found on PATH."""
    name = preferred or os.environ.get(ENGINE_VARIABLE) or None
    if name is not None:
        if name not in ENGINES:
            raise UsageError(f"unknown container engine {name!r}; use one of {', '.join(ENGINES)}")
        return _engine(name)
    for candidate in ENGINES:
        if shutil.which(candidate):
            return _engine(candidate)
    raise RuntimeUnavailableError(
        f"no container engine found: install Docker or Podman (or set {ENGINE_VARIABLE} to docker or podman)"
    )


def _engine(name: str) -> CliEngine:
    if name == "podman":
        return PodmanEngine(global_options=os.environ.get(PODMAN_OPTIONS_VARIABLE, "").split())
    return ENGINES[name]()


def _read_lines(stream: IO[bytes], lines: queue.Queue[bytes | None]) -> None:
    try:
        while line := stream.readline(MAX_LINE):
            lines.put(line)
    except (OSError, ValueError):
        pass
    finally:
        lines.put(None)


def _pump(lines: queue.Queue[bytes | None], on_line: Callable[[str], None], deadline: float) -> bool:
    """Hand each line to ``on_line`` until the stream ends (True) or the deadline passes (False)."""
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        try:
            line = lines.get(timeout=min(remaining, 1.0))
        except queue.Empty:
            continue
        if line is None:
            return True
        on_line(line.decode("utf-8", errors="replace").rstrip("\r\n"))


def _wait(process: subprocess.Popen[bytes], seconds: float) -> bool:
    try:
        process.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        return False
    return True


def _tail(text: str, lines: int = 5) -> str:
    return " | ".join(text.strip().splitlines()[-lines:]) or "no message"
