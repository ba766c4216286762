"""A real Ray cluster on this machine for the tests: a head node and worker nodes started with ``ray start``
(each with its own temp folder, usage stats and the dashboard off, no auth token), and stopped by the PIDs of
the processes they started.

``ray start`` daemonizes the node's processes (a process tree cannot be followed), so :meth:`RayCluster.pids`
finds them in ``/proc`` by what only this cluster's processes have: the marker variable this test run sets in
their environment, or an open file (a log) inside the cluster's own temp folder (Ray's agents and workers retitle
themselves, which overwrites the environment that ``/proc`` shows). Never another user's Ray.

:func:`loopback_cluster` starts one for a test session (``tests/conftest.py``: the ``ray_cluster`` fixture that the
batch and server Ray tests share)."""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

MARKER = "DEEPINFER_TEST_RAY_CLUSTER"
RAY = Path(sys.executable).with_name("ray")
# Lost nodes are declared dead in about 3 s instead of the default 30 s or more.
HEALTH_CHECK = {
    "RAY_health_check_initial_delay_ms": "1000",
    "RAY_health_check_period_ms": "1000",
    "RAY_health_check_timeout_ms": "1000",
    "RAY_health_check_failure_threshold": "3",
}
OBJECT_STORE_BYTES = 200 * 2**20


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll ``condition`` until it holds, or fail naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not within {timeout:.0f} s")
        time.sleep(0.1)


def _environ(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return b""


def _open_files(pid: int) -> list[str]:
    try:
        return [os.readlink(fd) for fd in Path(f"/proc/{pid}/fd").iterdir()]
    except OSError:
        return []


def _running(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie left for an init that does not reap has stopped)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text(encoding="ascii").rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in {"Z", "X"}


@dataclass
class RayCluster:
    """A head node on loopback and the worker nodes added to it, all marked with this cluster's token."""

    root: Path
    home: Path
    token: str = field(default_factory=lambda: secrets.token_hex(8))
    port: int = field(default_factory=free_port)
    nodes: list[Path] = field(default_factory=list)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def environment(self) -> dict[str, str]:
        return {
            **os.environ, **HEALTH_CHECK, MARKER: self.token, "RAY_AUTH_MODE": "disabled",
            "DEEPINFER_HOME": str(self.home), "RAY_USAGE_STATS_ENABLED": "0",
        }  # fmt: skip

    def start_node(self, cpus: int = 1) -> Path:
        """Start the head (first call) or a worker node with ``cpus`` CPUs; its temp folder."""
        temp = self.root / f"node{len(self.nodes)}"
        temp.mkdir(parents=True)
        where = ["--head", f"--port={self.port}"] if not self.nodes else [f"--address={self.address}"]
        argv = [
            str(RAY), "start", *where, "--node-ip-address=127.0.0.1", f"--num-cpus={cpus}", "--num-gpus=0",
            f"--temp-dir={temp}", f"--object-store-memory={OBJECT_STORE_BYTES}", "--disable-usage-stats",
            "--include-log-monitor=false",  # it streams workers' logs to drivers, which do not ask for them
        ]  # fmt: skip
        if not self.nodes:
            argv.append("--include-dashboard=false")
        self.nodes.append(temp)
        done = subprocess.run(argv, env=self.environment(), capture_output=True, encoding="utf-8", timeout=120)
        if done.returncode != 0:
            raise RuntimeError(f"ray start failed ({done.returncode}): {done.stderr[-2000:]}")
        return temp

    def pids(self, node: Path | None = None) -> list[int]:
        """The running processes of this cluster (of one node: those naming or holding a file in its temp folder)."""
        found = [int(e.name) for e in Path("/proc").iterdir() if e.name.isdigit() and self._ours(int(e.name))]
        if node is None:
            return found
        inside = f"{node}{os.sep}"
        return [p for p in found if inside.encode() in _cmdline(p) or any(f.startswith(inside) for f in _open_files(p))]

    def _ours(self, pid: int) -> bool:
        if pid == os.getpid() or not _running(pid):
            return False
        if f"{MARKER}={self.token}".encode() in _environ(pid).split(b"\0"):
            return True
        root = f"{self.root}{os.sep}"
        return any(target.startswith(root) for target in _open_files(pid))

    def actor_pids(self, name: str) -> list[int]:
        """The cluster's processes that are an actor of class ``name`` (Ray titles them ``ray::NAME...``)."""
        return [pid for pid in self.pids() if _cmdline(pid).startswith(f"ray::{name}".encode())]

    def raylet_pid(self, node: Path) -> int:
        (pid,) = self._raylets(node)
        return pid

    def _raylets(self, node: Path) -> list[int]:
        return [p for p in self.pids(node) if _cmdline(p).split(b"\0")[0].endswith(b"/raylet")]

    def live_workers(self) -> list[Path]:
        """The nodes other than the head whose raylet runs (a killed node is gone from here)."""
        return [node for node in self.nodes[1:] if self._raylets(node)]

    def stop(self, grace: float = 2.0) -> None:
        """SIGTERM every process of the cluster, SIGKILL what is left after ``grace`` seconds."""
        for pid in self.pids():
            _signal(pid, signal.SIGTERM)
        try:
            wait_for(lambda: not self.pids(), grace, "the Ray cluster to stop")
        except TimeoutError:
            for pid in self.pids():
                _signal(pid, signal.SIGKILL)
            wait_for(lambda: not self.pids(), 10.0, "the Ray cluster's processes to die")


@contextlib.contextmanager
def loopback_cluster(home: Path, cpus: Sequence[int]) -> Iterator[RayCluster]:
    """A cluster of ``len(cpus)`` nodes (the first the head) with ``cpus`` CPUs each, in a short temp folder of its
    own (Ray's socket paths must stay under 108 bytes: not pytest's tmp_path), its nodes' DEEPINFER_HOME ``home``;
    this process gets ``RAY_AUTH_MODE=disabled`` meanwhile (drivers it starts join without writing a token). At the
    end: this process's own Ray connection closed, the cluster stopped by its PIDs, its folder removed."""
    nodes = Path(tempfile.mkdtemp(prefix="dray-"))
    cluster = RayCluster(nodes, home)
    saved = os.environ.get("RAY_AUTH_MODE")
    os.environ["RAY_AUTH_MODE"] = "disabled"
    try:
        for count in cpus:
            cluster.start_node(cpus=count)
        yield cluster
    finally:
        ray = sys.modules.get("ray")
        if ray is not None and ray.is_initialized():
            ray.shutdown()
        cluster.stop()
        if saved is None:
            os.environ.pop("RAY_AUTH_MODE", None)
        else:
            os.environ["RAY_AUTH_MODE"] = saved
        shutil.rmtree(nodes, ignore_errors=True)
    assert cluster.pids() == [], "the Ray cluster's processes outlived its stop"


def node_of(cluster: RayCluster, pid: int) -> Path:
    """The temp folder of the node that runs process ``pid`` (an actor's worker holds files in it)."""
    (node,) = [node for node in cluster.nodes if pid in cluster.pids(node)]
    return node


def kill_node(cluster: RayCluster, node: Path) -> None:
    """Lose ``node`` as a machine is lost: its raylet killed first (by PID), then every other process of it, its
    actors' workers among them (a raylet killed alone leaves its workers finishing the task in hand until Ray's
    health checks declare the node dead)."""
    os.kill(cluster.raylet_pid(node), signal.SIGKILL)
    for pid in cluster.pids(node):
        _signal(pid, signal.SIGKILL)


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def _signal(pid: int, number: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, number)
