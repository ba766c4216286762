"""The deepinfer server as a real subprocess on 127.0.0.1, and the real inputs its tests send.

Import as ``from server_helpers import ...`` (a unique module name; no conftest in test folders)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import SimpleITK as sitk

from realparts import write_t2_like

TOKEN = "test-token-7f3c"
TERMINAL = {"succeeded", "failed", "cancelled"}
CROPS = {  # regions of the T2-like Colin27 probe (x, y, z index ranges) and the threshold each job uses
    "A": ((36, 101), (2, 69), (2, 74), 0.01),
    "B": ((40, 105), (6, 73), (0, 72), 0.005),
}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class ServerProcess:
    """``deepinfer serve`` in its own session; stopped by its pid only."""

    def __init__(
        self, data_dir: Path, home: Path, *, token: str | None = TOKEN, workers: int = 1, extra: Sequence[str] = ()
    ) -> None:
        self.data_dir, self.home, self.token = data_dir, home, token
        self.workers, self.extra = workers, list(extra)
        self.port = free_port()
        self.log = data_dir.parent / f"server-{data_dir.name}-{self.port}.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 120.0) -> ServerProcess:
        argv = [
            sys.executable,
            "-m",
            "deepinfer",
            "serve",
            "--port",
            str(self.port),
            "--data-dir",
            str(self.data_dir),
            "--workers",
            str(self.workers),
            "--threads",
            "1",
            *self.extra,
        ]
        env = {**os.environ, "DEEPINFER_HOME": str(self.home)}
        env.pop("DEEPINFER_TOKEN", None)
        if self.token:
            env["DEEPINFER_TOKEN"] = self.token
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self.wait_ready(timeout)
        return self

    def client(self, token: str | None = None, timeout: float = 60.0) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token or self.token}"} if (token or self.token) else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=timeout)

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        with self.client(timeout=5.0) as http:
            while time.monotonic() < deadline:
                assert self.process is not None
                if self.process.poll() is not None:
                    raise AssertionError(f"the server exited ({self.process.returncode}):\n{self.log_tail()}")
                try:
                    if http.get("/v2/health/ready").status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                time.sleep(0.2)
        raise AssertionError(f"the server was not ready within {timeout} s:\n{self.log_tail()}")

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:]) if self.log.exists() else ""

    def worker_pids(self) -> list[int]:
        """The server's worker processes (spawned children; not multiprocessing's resource tracker), from /proc."""
        assert self.process is not None
        pids: list[int] = []
        for children in Path(f"/proc/{self.process.pid}/task").glob("*/children"):
            for pid in children.read_text().split():
                try:
                    command = Path(f"/proc/{pid}/cmdline").read_bytes()
                except OSError:
                    continue
                if b"spawn_main" in command:
                    pids.append(int(pid))
        return pids

    def signal(self, number: int, timeout: float = 90.0) -> int:
        """Send ``number`` to the server and wait for it to exit; returns its exit code."""
        assert self.process is not None
        if self.process.poll() is None:
            os.kill(self.process.pid, number)
        return self.process.wait(timeout)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            try:
                self.signal(signal.SIGTERM, timeout=90)
            except subprocess.TimeoutExpired:
                self.signal(signal.SIGKILL, timeout=30)


def submit(
    http: httpx.Client,
    volume: Path,
    parameters: Mapping[str, Any] | None = None,
    model: str = "prostate-taps",
    field: str = "T2",
    **fields: str,
) -> httpx.Response:
    data = {"model": model, "parameters": json.dumps(dict(parameters or {})), **fields}
    with volume.open("rb") as handle:
        return http.post("/api/jobs", data=data, files={field: (volume.name, handle, "application/octet-stream")})


def wait_for(http: httpx.Client, job_id: str, states: set[str] | None = None, timeout: float = 180.0) -> dict[str, Any]:
    """Poll the job until its state is one of ``states`` (default: any terminal state)."""
    wanted = states or TERMINAL
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status: dict[str, Any] = http.get(f"/api/jobs/{job_id}").json()
        if status["state"] in wanted:
            return status
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} did not reach {sorted(wanted)} within {timeout} s: {status}")


def write_crops(colin27: Path, folder: Path) -> dict[str, tuple[Path, float]]:
    """Two real MR crops the TAPS network responds to (one 128×128×32 window each, about 3 s per run)."""
    probe = sitk.ReadImage(str(write_t2_like(colin27, folder / "t2_like.nii.gz")))
    crops = {}
    for name, ((x0, x1), (y0, y1), (z0, z1), threshold) in CROPS.items():
        path = folder / f"t2_crop_{name}.nii.gz"
        sitk.WriteImage(probe[x0:x1, y0:y1, z0:z1], str(path))
        crops[name] = (path, threshold)
    return crops


def local_run(
    volume: Path, threshold: float, folder: Path, home: Path, runtime: str | None = None, precision: str | None = None
) -> dict[str, np.ndarray]:
    """The same job run here with ``run_model`` (one thread, like the server's workers; ``runtime`` and
    ``precision`` as the server was started with): the reference."""
    from deepinfer.registry import default_registry
    from deepinfer.run import plan_outputs, run_model
    from deepinfer.store import ArtifactStore

    registry = default_registry()
    loaded = registry.find("prostate-taps")
    card = loaded.card
    plan = plan_outputs(card, folder / f"reference-{volume.name}")
    run_model(
        card,
        {"T2": volume},
        plan,
        {"threshold": threshold},
        store=ArtifactStore(home),
        card_dir=loaded.folder,
        threads=1,
        runtime=runtime,
        precision=precision,
    )
    return {name: sitk.GetArrayFromImage(sitk.ReadImage(str(path))) for name, path in plan.items()}


def read_array(data: bytes, folder: Path, name: str) -> np.ndarray:
    path = folder / name
    path.write_bytes(data)
    return sitk.GetArrayFromImage(sitk.ReadImage(str(path)))
