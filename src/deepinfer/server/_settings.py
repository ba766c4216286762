"""Server settings and the bind rule: loopback by default; any other address only with a token."""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass, field
from pathlib import Path

from deepinfer._config import deepinfer_home
from deepinfer._exceptions import UsageError
from deepinfer.runners import PRECISION_VARIABLE, RUNTIME_VARIABLE, check_choice

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
    job_timeout: float | None = 3600.0
    """Wall-clock seconds a job may run before its worker is stopped and the job fails (None: no limit)."""
    min_free_bytes: int = 512 * MiB
    """A job is accepted only while the data folder keeps this much free space after its upload (else 507)."""
    retention_days: float | None = 30.0
    """Ended jobs' data (inputs, outputs, record) is removed this many days after they ended (None: kept)."""
    retention_bytes: int | None = 50 * 1024 * MiB
    """Ended jobs' data is kept under this total, the oldest removed first (None: no size limit)."""
    allowed_hosts: tuple[str, ...] = ()
    """Host names besides the bound address and loopback a server without a token answers to."""
    header_timeout: float = 10.0
    """Seconds a connection may take to send a request's headers (slow clients are disconnected)."""
    body_timeout: float = 60.0
    """Seconds an upload may pause between two pieces of its body (408 after that)."""
    keep_alive: float = 5.0
    max_connections: int = 200
    """Open connections and requests at once; more are answered 503 at once."""
    ray: str | None = None
    """A Ray cluster's address (or ``auto``): the jobs run on actors there, one per worker."""

    @property
    def worker_threads(self) -> int:
        """CPU threads per worker (on Ray: per actor, which asks the cluster for as many CPUs; default 1)."""
        if self.ray is not None:
            return self.threads or 1
        return self.threads or max(1, (os.cpu_count() or 1) // self.workers)

    @property
    def worker_runtime(self) -> str | None:
        """The runtime asked for; on Ray settled here (an actor's node has an environment of its own)."""
        return (self.runtime or os.environ.get(RUNTIME_VARIABLE) or "auto") if self.ray else self.runtime

    @property
    def worker_precision(self) -> str | None:
        return (self.precision or os.environ.get(PRECISION_VARIABLE) or "exact") if self.ray else self.precision


def bind_address(host: str) -> str:
    """The address to bind: an IPv6 literal loses its URL brackets (``[::1]`` → ``::1``)."""
    stripped = host.strip()
    return stripped[1:-1] if stripped.startswith("[") and stripped.endswith("]") else stripped


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
    if settings.job_timeout is not None and settings.job_timeout <= 0:
        raise UsageError("--job-timeout must be more than 0 seconds (0 on the command line: no limit)")
    if not 0 < settings.port < 65536:
        raise UsageError(f"--port {settings.port}: not a TCP port")
    # before any worker starts: the options, else the variables the workers would read
    runtime = settings.runtime or os.environ.get(RUNTIME_VARIABLE) or None
    check_choice(None, runtime, settings.precision or os.environ.get(PRECISION_VARIABLE) or None)
    if settings.ray is not None:
        from deepinfer.batch import import_ray

        import_ray()  # a clear error now, not workers failing to start
