"""Helpers of the container tests: a fake engine for the unit tests, the real Docker engine and the images the
end-to-end tests build on it (each built once per test run).

Import the fixtures into a test module (``from container_helpers import real_engine``); the builds are
memoised here, so two modules share one image.
"""

from __future__ import annotations

import functools
import itertools
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from deepinfer.card import ModelCard, parse_card
from deepinfer.container import ContainerEngine, ContainerJob, DockerEngine
from deepinfer.imaging import Geometry, Volume, read_volume, write_volume
from realparts import require

BASE_IMAGE = "deepinfer-base:bookworm"
ENGINE_SOCKET = Path("/run/deepinfer-engine.sock")
LOCAL_ID = "sha256:" + "ab" * 32
LEGACY_MODEL = Path(__file__).resolve().parent / "container" / "legacy_model.py"

Behaviour = Callable[[ContainerJob, dict[str, Path]], tuple[list[str], int | None]]


def mounts_of(job: ContainerJob) -> dict[str, Path]:
    """``--mount`` options of a job → {target in the container: source on the host}."""
    found: dict[str, Path] = {}
    for flag, value in itertools.pairwise(job.options):
        if flag == "--mount":
            parts = dict(part.partition("=")[::2] for part in value.split(","))
            found[parts["target"]] = Path(parts["source"])
    return found


def threshold_outputs(job: ContainerJob, mounts: dict[str, Path]) -> tuple[list[str], int | None]:
    """What a well-behaved container does: reads /data/in/T2.nrrd, writes Mask and Prob to /data/out."""
    volume = read_volume(mounts["/data/in"] / "T2.nrrd")
    values = np.asarray(volume.array, dtype=np.float32)
    write_volume(volume.with_array((values > values.mean()).astype(np.uint8)), mounts["/data/out"] / "Mask.nrrd")
    write_volume(volume.with_array(values / max(float(values.max()), 1.0)), mounts["/data/out"] / "Prob.nrrd")
    progress = '{"event": "progress", "task": "inside", "done": 1, "total": 2}'
    return ["starting", progress, "\x1b[31mred\x1b[0m done"], 0


@dataclass
class FakeEngine(ContainerEngine):
    """A container engine that records each job and plays ``behaviour`` instead of starting a container."""

    behaviour: Behaviour = threshold_outputs
    images: set[str] = field(default_factory=lambda: {LOCAL_ID})
    jobs: list[ContainerJob] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    existing: dict[str, dict[str, str]] = field(default_factory=dict)  # containers already there: name → labels
    name: str = "fake"

    def check(self) -> None:
        return None

    def run(self, job: ContainerJob, on_line: Callable[[str], None]) -> int | None:
        self.jobs.append(job)
        lines, code = self.behaviour(job, mounts_of(job))
        for line in lines:
            on_line(line)
        return code

    def image_id(self, image: str) -> str | None:
        return image if image in self.images else None

    def remove(self, name: str) -> None:
        self.removed.append(name)
        self.existing.pop(name, None)

    def containers(self, label: str = "") -> list[str]:
        return list(self.labelled(label))

    def labelled(self, label: str = "") -> dict[str, dict[str, str]]:
        return {name: labels for name, labels in self.existing.items() if label in labels}

    def build(self, context: Path, tag: str | None, labels: Any) -> str:
        raise AssertionError("not used")

    def gpu_options(self, device: str) -> list[str]:
        return DockerEngine().gpu_options(device)

    def user_options(self, uid: int, gid: int) -> list[str]:
        return DockerEngine().user_options(uid, gid)


def container_card(**runtime: Any) -> ModelCard:
    """A small container card: input T2, outputs Mask (labelmap) and Prob, parameters of every kind."""
    document = {
        "id": "fake-model",
        "name": "Fake model",
        "version": "1.0.0",
        "task": "segmentation",
        "modality": "MR",
        "anatomy": "brain",
        "license": {"code": "MIT", "weights": "MIT"},
        "inputs": [{"type": "volume", "name": "T2"}],
        "outputs": [
            {"type": "labelmap", "name": "Mask", "labels": [{"value": 1, "name": "x", "color": "#ff0000"}]},
            {"type": "probability_map", "name": "Prob"},
        ],
        "parameters": [
            {"type": "float", "name": "threshold", "default": 0.5, "minimum": 0, "maximum": 1},
            {"type": "string", "name": "note", "default": "plain"},
            {"type": "bool", "name": "verbose", "default": False},
            {"type": "enum", "name": "mode", "choices": ["fast", "slow"]},
        ],
        "runtime": {
            "type": "container",
            "image": LOCAL_ID,
            "args": [
                "run",
                "--input",
                "T2={inputs.T2}",
                "--output",
                "Mask={outputs.Mask}",
                "--output",
                "Prob={outputs.Prob}",
                "--threshold={params.threshold}",
                "{params.note}",
                "--verbose={params.verbose}",
                "--mode",
                "{params.mode}",
            ],
            **runtime,
        },
        "resources": {"memory_gb": 2.5},
    }
    return parse_card(document)


def small_volume(path: Path) -> Path:
    """A small oblique, anisotropic volume (real-world geometry, synthetic voxels), written to ``path``."""
    angle = 0.3
    direction = (np.cos(angle), -np.sin(angle), 0.0, np.sin(angle), np.cos(angle), 0.0, 0.0, 0.0, 1.0)
    geometry = Geometry((10.5, -20.25, 3.0), (0.8, 0.9, 2.5), tuple(float(v) for v in direction), (9, 8, 7))
    values = np.arange(9 * 8 * 7, dtype=np.int16).reshape(9, 8, 7)
    write_volume(Volume(values, geometry), path)
    return path


# ------------------------------------------------------------------------------------------- the real engine


@pytest.fixture(scope="session")
def real_engine() -> DockerEngine:
    """The Docker engine scripts/engine starts (DOCKER_HOST), with the base image it builds."""
    require(shutil.which("docker") is not None, "the container tests need the docker CLI (scripts/engine)")
    if "DOCKER_HOST" not in os.environ and ENGINE_SOCKET.is_socket():
        os.environ["DOCKER_HOST"] = f"unix://{ENGINE_SOCKET}"  # the engine scripts/engine starts
    engine = DockerEngine()
    try:
        engine.check()
    except Exception as error:  # any failure means: no engine here
        require(False, f"no reachable Docker engine ({error}); as root run: export DOCKER_HOST=$(scripts/engine)")
    require(engine.image_id(BASE_IMAGE) is not None, f"the base image {BASE_IMAGE} is missing (scripts/engine)")
    return engine


@functools.cache
def _legacy_image(engine: DockerEngine) -> str:
    with tempfile.TemporaryDirectory() as work:
        context = Path(work)
        shutil.copy(LEGACY_MODEL, context / "legacy_model.py")
        (context / "Dockerfile").write_text(
            f"FROM {BASE_IMAGE}\nCOPY legacy_model.py /app/legacy_model.py\n"
            'ENTRYPOINT ["python3", "/app/legacy_model.py"]\n',
            encoding="utf-8",
        )
        return engine.build(context, None, {"org.deepinfer.test": "legacy"})


@pytest.fixture(scope="session")
def legacy_image(real_engine: DockerEngine) -> str:
    """A 2017-style model image (see legacy_model.py), pinned by its local id."""
    return _legacy_image(real_engine)


@pytest.fixture
def no_container_left(real_engine: DockerEngine) -> Iterator[None]:
    """After the test, no container that deepinfer started is left (running or stopped)."""
    yield
    assert real_engine.containers() == []
