"""Server settings and the bind rule: loopback by default; any other address only with a token."""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass, field
from pathlib import Path

from deepinfer._config import deepinfer_home
from deepinfer._exceptions import UsageError
from deepinfer.runners._cache import PRECISION_VARIABLE, RUNTIME_VARIABLE
from deepinfer.runners._runtimes import check_choice

TOKEN_VARIABLE = "DEEPINFER_TOKEN"
MiB = 1024 * 1024


def default_data_dir() -> Path:
    return deepinfer_home() / "server"


@dataclass(frozen=True)
class ServerSettings:
    host: str = "127.0.0.1"
    port: int = 8000
    token: str | None = field(default=None, repr=False)
    workers: int = 1
    threads: int | None = None
    """CPU threads per worker (None: the cores divided among the workers)."""
    runtime: str | None = None
    """The workers' runtime: auto or a runtime name (None: ``$DEEPINFER_RUNTIME``, else ``auto``)."""
    precision: str | None = None
    """``exact`` or ``fast`` (None: ``$DEEPINFER_PRECISION``, else ``exact``)."""
    data_dir: Path = field(default_factory=default_data_dir)
    max_upload_bytes: int = 2048 * MiB
    max_queued: int = 100
    drain_timeout: float = 60.0
    max_attempts: int = 2

    @property
    def worker_threads(self) -> int:
        return self.threads or max(1, (os.cpu_count() or 1) // self.workers)


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_settings(settings: ServerSettings) -> None:
    """Refuse a bind address other than loopback without a token, and impossible limits."""
    if not is_loopback(settings.host) and not settings.token:
        raise UsageError(
            f"refusing to listen on {settings.host} without a token: anyone who can reach it could run jobs. "
            f"Give --token (or set {TOKEN_VARIABLE}), or keep the default --host 127.0.0.1"
        )
    if settings.workers < 1 or settings.max_queued < 1 or settings.max_upload_bytes < 1:
        raise UsageError("--workers, --max-queue and --max-upload-mb must be at least 1")
    if not 0 < settings.port < 65536:
        raise UsageError(f"--port {settings.port}: not a TCP port")
    # before any worker starts: the options, else the variables the workers would read
    runtime = settings.runtime or os.environ.get(RUNTIME_VARIABLE) or None
    check_choice(None, runtime, settings.precision or os.environ.get(PRECISION_VARIABLE) or None)
