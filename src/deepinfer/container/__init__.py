"""Containers: run ``runtime: container`` cards under Docker or Podman, and the entrypoint of the images that
``deepinfer package build`` makes (``python3 -m deepinfer.container``).

The engine is one small seam (:class:`ContainerEngine`); :class:`DockerEngine` and :class:`PodmanEngine` drive
the engines' command line clients with argv lists. See :mod:`deepinfer.container._argv` for the two protocols
(``deepinfer`` and the 2017 ``deepinfer-2017``) and :mod:`deepinfer.container._protocol` for the progress lines.
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
from deepinfer.container._protocol import LineSplitter, ProgressLine, clean_line, parse_progress, progress_json
from deepinfer.container._runner import TIMEOUT_VARIABLE, ContainerOptions, run_container

__all__ = [
    "ENGINE_VARIABLE",
    "GPU_VARIABLE",
    "JOB_LABEL",
    "TIMEOUT_VARIABLE",
    "CliEngine",
    "ContainerEngine",
    "ContainerJob",
    "ContainerOptions",
    "DockerEngine",
    "JobFolder",
    "LineSplitter",
    "PodmanEngine",
    "ProgressLine",
    "argv_value",
    "clean_line",
    "command_argv",
    "container_paths",
    "detect_engine",
    "gpu_device",
    "mount_options",
    "nvidia_gpu_count",
    "parse_progress",
    "progress_json",
    "run_container",
]
