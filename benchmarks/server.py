"""Warm server request vs cold CLI run vs container-per-request (the 2017 design), same card and volume.

    export DOCKER_HOST=$(scripts/engine)   # as root: a local Docker engine + base image (else no container rows)
    .venv/bin/python benchmarks/server.py [--repeat 5] [--threads 2] [--container-card CARD]

Every request runs prostate-taps on the same real MR volume (a 65×67×72 crop of the T2-like Colin27 probe,
one 128×128×32 window) with the same parameters and threads. For each request:

- total: wall time from the request's start to its output files on disk;
- compute: ``pipeline_s``, the model's own compute (the pipeline with its network loaded), measured by
  ``run_model`` inside the same request and recorded in the provenance (``timings``) or the job's timings;
- overhead = total − compute: process and interpreter start, imports, model load, reading and writing the
  volumes, the upload and download, queueing, and (container) the engine.

Modes, interleaved so machine load affects all alike:

- ``server (API)``: a running ``deepinfer serve`` with one warm worker; the request is an upload, the job's
  server-sent events until it ends, and the download of both outputs, from an already running client;
- ``server (thin CLI)``: ``deepinfer run … --server URL`` in a fresh process (adds the CLI's own start);
- ``cold CLI``: ``deepinfer run …`` in a fresh process;
- ``container per request``: what the 2017 design did per request: copy the input into a shared data folder and
  ``docker run --rm --network none -v DIR:/data IMAGE …`` an image made by ``deepinfer package build``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from _measure import repo_root

sys.path.insert(0, str(repo_root() / "tests"))
sys.path.insert(0, str(repo_root() / "tests" / "server"))
from server_helpers import ServerProcess, write_crops

from deepinfer.client import ServerClient
from realparts import COLIN27


@dataclass
class Row:
    mode: str
    total_s: float
    compute_s: float

    @property
    def overhead_s(self) -> float:
        return self.total_s - self.compute_s


def deepinfer(*argv: str, env: dict[str, str]) -> float:
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "deepinfer", *argv], env=env, capture_output=True, encoding="utf-8")
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"deepinfer {' '.join(argv[:2])} failed ({done.returncode}):\n{done.stderr}")
    return seconds


def timings(sidecar: Path) -> dict[str, float]:
    found: dict[str, float] = json.loads(sidecar.read_text())["timings"]
    return found


class Modes:
    def __init__(self, volume: Path, folder: Path, server: ServerProcess, threads: int, image: str | None) -> None:
        self.volume, self.folder, self.server, self.threads, self.image = volume, folder, server, threads, image
        self.env = {**os.environ, "DEEPINFER_HOME": str(server.home), "DEEPINFER_TOKEN": server.token or ""}
        self.count = 0

    def target(self, mode: str) -> Path:
        self.count += 1
        folder = self.folder / f"{self.count:03d}-{mode}"
        folder.mkdir()
        return folder

    def server_api(self) -> Row:
        out = self.target("api")
        start = time.perf_counter()
        with ServerClient(self.server.url, self.server.token) as client:
            job_id = client.submit("prostate-taps", {"T2": self.volume}, {})
            final = client.follow(job_id, lambda status: None)
            for name in final["outputs"]:
                client.download(job_id, name, out / f"{name}.nii.gz")
        total = time.perf_counter() - start
        assert final["state"] == "succeeded", final
        return Row("server (API)", total, final["timings"]["pipeline_s"])

    def server_cli(self) -> Row:
        return self._cli_run("server (thin CLI)", "thin", "--server", self.server.url)

    def cold_cli(self) -> Row:
        return self._cli_run("cold CLI", "cli", "--threads", str(self.threads))

    def _cli_run(self, label: str, folder: str, *options: str) -> Row:
        """``deepinfer run prostate-taps`` in a fresh process with ``options``; compute from its provenance."""
        out = self.target(folder)
        seg = out / "seg.nii.gz"
        total = deepinfer("run", "prostate-taps", "-i", str(self.volume), "-o", str(seg), *options, "--progress",
                          "none", env=self.env)  # fmt: skip
        return Row(label, total, timings(out / "seg.provenance.json")["pipeline_s"])

    def container(self) -> Row:
        assert self.image is not None
        job = self.target("container")
        start = time.perf_counter()
        (job / "in").mkdir()
        (job / "out").mkdir()
        shutil.copyfile(self.volume, job / "in" / "T2.nii.gz")
        subprocess.run(
            [
                "docker",
                "run",
                "--rm",
                "--network",
                "none",
                "-v",
                f"{job}:/data",
                self.image,
                "run",
                "--progress",
                "none",
                "--input",
                "T2=/data/in/T2.nii.gz",
                "--output",
                "ProstateMask=/data/out/ProstateMask.nii.gz",
                "--output",
                "ProstateProbability=/data/out/ProstateProbability.nii.gz",
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        total = time.perf_counter() - start
        return Row("container per request", total, timings(job / "out" / "ProstateMask.provenance.json")["pipeline_s"])


def container_image(card: Path | None, folder: Path) -> str | None:
    """The image of a packaged prostate-taps card (built now unless given); None without a container engine."""
    if not os.environ.get("DOCKER_HOST") or shutil.which("docker") is None:
        return None
    if card is None:
        card = folder / "prostate-taps.container.json"
        subprocess.run(
            [
                sys.executable,
                "-m",
                "deepinfer",
                "package",
                "build",
                "prostate-taps",
                "--base-image",
                "deepinfer-base:bookworm",
                "-o",
                str(card),
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )
    image: str = json.loads(card.read_text())["runtime"]["image"]
    return image


def report(rows: list[Row], first_request_s: float) -> None:
    modes = list(dict.fromkeys(row.mode for row in rows))
    print("| mode | runs | total s (median) | compute s (median) | overhead s (median) | overhead min–max |")
    print("|---|---:|---:|---:|---:|---:|")
    summary: dict[str, float] = {}
    for mode in modes:
        mine = [row for row in rows if row.mode == mode]
        overheads = [row.overhead_s for row in mine]
        summary[mode] = statistics.median(overheads)
        print(
            f"| {mode} | {len(mine)} | {statistics.median(r.total_s for r in mine):.2f} | "
            f"{statistics.median(r.compute_s for r in mine):.2f} | {summary[mode]:.2f} | "
            f"{min(overheads):.2f}–{max(overheads):.2f} |"
        )
    print(f"\nfirst request after the server started (its worker loads the network): {first_request_s:.2f} s")
    for mode in modes:
        print(f"overhead of {mode}: " + ", ".join(f"{r.overhead_s:.2f}" for r in rows if r.mode == mode))
    if "container per request" in summary:
        ratio = summary["server (API)"] / summary["container per request"]
        print(f"\nwarm server overhead / container-per-request overhead = {ratio:.3f} (goal ≤ 0.2)")
    print(json.dumps({mode: round(value, 3) for mode, value in summary.items()}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--container-card", type=Path, default=None, help="a card made by deepinfer package build")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        volume, _ = write_crops(COLIN27, folder)["A"]
        home = Path(os.environ.get("DEEPINFER_HOME") or folder / "home")
        image = container_image(args.container_card, folder)
        # the later --threads wins over the helper's --threads 1
        server = ServerProcess(folder / "data", home, workers=1, extra=["--threads", str(args.threads)])
        server.start()
        try:
            modes = Modes(volume, folder, server, args.threads, image)
            first_request = modes.server_api().total_s  # the worker loads the network: not a warm request
            runs: list[Callable[[], Row]] = [modes.server_api, modes.server_cli, modes.cold_cli]
            if image is not None:
                modes.container()  # page cache and image layers warm, as for the others
                runs.append(modes.container)
            else:
                print("no container engine (DOCKER_HOST unset or no docker client): container rows not measured")
            rows = [run() for _ in range(args.repeat) for run in runs]
        finally:
            server.stop()
    report(rows, first_request)


if __name__ == "__main__":
    main()
