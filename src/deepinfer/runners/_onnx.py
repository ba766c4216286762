"""ONNX models in-process with ONNX Runtime (imported on first use, so ``import deepinfer`` stays fast)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from deepinfer._exceptions import PipelineError, RuntimeUnavailableError
from deepinfer.runners._external import check_external_data

FloatArray = npt.NDArray[np.float32]
GPU_PROVIDER = "CUDAExecutionProvider"
CPU_PROVIDER = "CPUExecutionProvider"


def onnxruntime() -> Any:
    try:
        import onnxruntime
    except ImportError:
        raise RuntimeUnavailableError(
            "the onnx runtime needs the package onnxruntime (pip install onnxruntime)"
        ) from None
    return onnxruntime


def choose_providers(requested: str | Sequence[str], available: Sequence[str]) -> list[str]:
    """``"auto"``: CUDA first when this onnxruntime build offers it, then CPU; or the given list, checked."""
    if requested == "auto":
        return [GPU_PROVIDER, CPU_PROVIDER] if GPU_PROVIDER in available else [CPU_PROVIDER]
    chosen = [requested] if isinstance(requested, str) else list(requested)
    missing = [name for name in chosen if name not in available]
    if missing or not chosen:
        raise RuntimeUnavailableError(
            f"execution provider(s) {missing or chosen} not available; this onnxruntime offers {list(available)}"
        )
    return chosen


class OnnxNetwork:
    """An ONNX model as a :class:`~deepinfer.pipeline.Network`: a float32 batch in, the first output out.

    ``threads`` sets ONNX Runtime's intra-op thread count (its default: one per core).
    """

    def __init__(self, path: Path, threads: int | None = None, providers: str | Sequence[str] = "auto") -> None:
        ort = onnxruntime()
        check_external_data(path)
        options = ort.SessionOptions()
        options.log_severity_level = 3
        if threads is not None:
            options.intra_op_num_threads = threads
        chosen = choose_providers(providers, ort.get_available_providers())
        try:
            self.session = ort.InferenceSession(str(path), sess_options=options, providers=chosen)
        except Exception as error:  # onnxruntime raises its own, unexported exception types
            raise PipelineError(f"{path.name}: onnxruntime cannot load the model: {error}") from None
        self.input_name: str = self.session.get_inputs()[0].name
        self.path = path

    @property
    def providers(self) -> list[str]:
        return list(self.session.get_providers())

    def __call__(self, batch: FloatArray) -> FloatArray:
        feed = {self.input_name: np.ascontiguousarray(batch, dtype=np.float32)}
        result = self.session.run(None, feed)[0]
        return np.asarray(result, dtype=np.float32)
