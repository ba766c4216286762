"""Helpers for the pipeline tests (a unique module name, unlike conftest)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from deepinfer.imaging import Geometry, Volume
from deepinfer.pipeline import Network, NetworkProvider, PipelineState, ProgressCallback, Tensor, build_steps


def no_networks(artifact: str) -> Network:
    raise AssertionError(f"no network expected, asked for {artifact!r}")


def run_steps_on(
    volume: Volume,
    steps: Sequence[tuple[str, dict[str, Any]]],
    networks: NetworkProvider = no_networks,
    progress: ProgressCallback | None = None,
) -> PipelineState:
    """Apply steps (without requiring an output step) and return the final state."""
    state = PipelineState(Tensor.from_volume(volume), volume, {}, networks)
    if progress is not None:
        state.progress = progress
    for step in build_steps(list(steps), {}):
        step.apply(state)
    return state


def physical_to_index(geometry: Geometry, points: np.ndarray) -> np.ndarray:
    homogeneous = np.vstack([points.T, np.ones((1, len(points)))])
    return np.linalg.solve(geometry.index_to_physical, homogeneous)[:3].T
