"""``deepinfer serve``: the HTTP server with its job queue and web UI."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from deepinfer.cli._runtime_options import PRECISION_HELP, RUNTIME_HELP, PrecisionChoice, RuntimeChoice

TOKEN_HELP = (
    "Access token: every API call must send 'Authorization: Bearer TOKEN'. Required on any address other than "
    "loopback. Prefer the DEEPINFER_TOKEN variable (a command line is visible to other users)."
)


def serve(
    host: Annotated[str, typer.Option(help="Address to listen on (loopback by default).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    token: Annotated[str | None, typer.Option(help=TOKEN_HELP, envvar="DEEPINFER_TOKEN", show_envvar=False)] = None,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes (each keeps its models loaded).")] = 1,
    data_dir: Annotated[
        Path | None, typer.Option(help="Jobs database and job files (default: the deepinfer home's server/).")
    ] = None,
    threads: Annotated[
        int | None, typer.Option(min=1, help="CPU threads per worker (default: the cores divided among workers).")
    ] = None,
    runtime: Annotated[RuntimeChoice | None, typer.Option("--runtime", help=RUNTIME_HELP)] = None,
    precision: Annotated[PrecisionChoice | None, typer.Option("--precision", help=PRECISION_HELP)] = None,
    max_upload_mb: Annotated[int, typer.Option(min=1, help="Largest accepted upload per job, in MiB.")] = 2048,
    max_queue: Annotated[int, typer.Option(min=1, help="Most jobs waiting; more get 503 + Retry-After.")] = 100,
    drain_timeout: Annotated[
        float, typer.Option(min=0, help="At shutdown, seconds to let running jobs finish (others run at restart).")
    ] = 60.0,
    job_timeout: Annotated[
        float, typer.Option(min=0, help="Seconds a job may run before its worker is stopped (0: no limit).")
    ] = 3600.0,
    min_free_mb: Annotated[
        int, typer.Option(min=0, help="Free disk space (MiB) the data folder keeps; jobs past it get 507.")
    ] = 512,
    keep_days: Annotated[float, typer.Option(min=0, help="Days an ended job's data is kept (0: no age limit).")] = 30.0,
    keep_gb: Annotated[
        float, typer.Option(min=0, help="Most GiB of ended jobs' data kept, the oldest removed first (0: no limit).")
    ] = 50.0,
    allowed_host: Annotated[
        list[str] | None,
        typer.Option(help="Another host name the server answers to without a token (repeatable)."),
    ] = None,
    ray: Annotated[
        str | None,
        typer.Option(
            "--ray",
            metavar="ADDRESS",
            help="Run the jobs on the Ray cluster at ADDRESS (host:port, or auto): "
            "one actor per worker; needs deepinfer[ray].",
        ),
    ] = None,
) -> None:
    """Serve models over HTTP: a persistent job queue with warm workers, progress events, and a web UI with a
    3D viewer (open http://HOST:PORT/). API documentation at /docs."""
    from deepinfer.server import ServerSettings, default_data_dir
    from deepinfer.server import serve as run_server

    settings = ServerSettings(
        host=host,
        port=port,
        token=token or None,
        workers=workers,
        threads=threads,
        runtime=None if runtime is None else str(runtime.value),
        precision=None if precision is None else str(precision.value),
        data_dir=data_dir or default_data_dir(),
        max_upload_bytes=max_upload_mb * 1024 * 1024,
        max_queued=max_queue,
        drain_timeout=drain_timeout,
        job_timeout=job_timeout or None,
        min_free_bytes=min_free_mb * 1024 * 1024,
        retention_days=keep_days or None,
        retention_bytes=round(keep_gb * 1024**3) or None,
        allowed_hosts=tuple(allowed_host or ()),
        ray=ray,
    )
    run_server(settings)
