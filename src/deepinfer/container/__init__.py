"""Containers: run ``runtime: container`` cards under Docker or Podman, and the entrypoint of the images that
``deepinfer package build`` makes (``python3 -m deepinfer.container``).

The engine is one small seam (:class:`ContainerEngine`); :class:`DockerEngine` and :class:`PodmanEngine` drive
the engines' command line clients with argv lists. See :mod:`deepinfer.container._argv` for the two protocols
(``deepinfer`` and the 2017 ``deepinfer-2017``), :mod:`deepinfer.container._protocol` for the progress lines and
:mod:`deepinfer.container._scores` for the class scores a container writes.

A run stops and removes its container and work folder on SIGTERM or SIGHUP (:mod:`deepinfer.container._signals`);
what a SIGKILL leaves behind is found by the owner its labels and folder record and removed by the next run or
``deepinfer cache prune`` (:mod:`deepinfer.container._orphans`).
"""

from deepinfer.container._argv import JobFolder, argv_value, command_argv, container_paths, mount_options
from deepinfer.container._engine import (
    ENGINE_VARIABLE,
    JOB_LABEL,
    CliEngine,
    ContainerEngine,
    ContainerJob,
    DockerEngine,
    PodmanEngine,
    detect_engine,
)
from deepinfer.container._gpu import GPU_VARIABLE, gpu_device, nvidia_gpu_count
from deepinfer.container._orphans import Leftover, Owner, prune_orphans, work_roots
from deepinfer.container._protocol import LineSplitter, ProgressLine, clean_line, parse_progress, progress_json
from deepinfer.container._runner import TIMEOUT_VARIABLE, ContainerOptions, ContainerResult, run_container
from deepinfer.container._scores import MAX_SCORES_BYTES, plane_axis, read_container_scores
from deepinfer.container._signals import SignalExit, exit_on_signals

__all__ = [
    "ENGINE_VARIABLE",
    "GPU_VARIABLE",
    "JOB_LABEL",
    "MAX_SCORES_BYTES",
    "TIMEOUT_VARIABLE",
    "CliEngine",
    "ContainerEngine",
    "ContainerJob",
    "ContainerOptions",
    "ContainerResult",
    "DockerEngine",
    "JobFolder",
    "Leftover",
    "LineSplitter",
    "Owner",
    "PodmanEngine",
    "ProgressLine",
    "SignalExit",
    "argv_value",
    "clean_line",
    "command_argv",
    "container_paths",
    "detect_engine",
    "exit_on_signals",
    "gpu_device",
    "mount_options",
    "nvidia_gpu_count",
    "parse_progress",
    "plane_axis",
    "progress_json",
    "prune_orphans",
    "read_container_scores",
    "run_container",
    "work_roots",
]
