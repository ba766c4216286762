"""ONNX models in-process with OpenVINO (imported on first use, so ``import deepinfer`` stays fast).

OpenVINO reads ONNX files directly. Each input shape gets its own compiled model with static dimensions (static
shapes let the CPU plugin pick faster kernels than a dynamic graph: 2.4 s instead of 3.8 s for one TAPS window
here). Two compiled variants exist per shape, made on first use:

- *latency*: one inference stream using every thread, for a single item (``infer``, a first window);
- *throughput*: several streams (OpenVINO's ``THROUGHPUT`` hint decides how many), each running one item of a
  batch at the same time; :attr:`OpenVinoNetwork.preferred_batch` tells a sliding window how many to send.

Precision: ``exact`` compiles with ``INFERENCE_PRECISION_HINT=f32`` (OpenVINO's CPU default is bf16 on CPUs
with AMX, so it is always set explicitly); ``fast`` uses the reduced precision the device computes natively
(bf16 with AVX512-BF16 or AMX, else f16 where offered, else f32).
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from deepinfer._exceptions import PipelineError, RuntimeUnavailableError
from deepinfer.runners._external import check_external_data

FloatArray = npt.NDArray[np.float32]
DEVICE = "CPU"
PRECISIONS = ("exact", "fast")
Shape = tuple[int, ...]


CONVERTER_MODULE = "openvino.tools.ovc"
_IMPORTING = threading.Lock()


def openvino() -> Any:
    """The ``openvino`` package, imported without its model converter.

    ``import openvino`` also imports ``openvino.tools.ovc`` (its converter from other frameworks, which deepinfer
    does not use), and that module's import starts OpenVINO's usage telemetry: unless the user has declined it
    before, it writes a client id under ``~/intel`` and sends an "import" event to Google Analytics from a
    background thread. A tool that runs on clinical research machines must not do that behind its user's back,
    so the converter is held out while the package loads (the package skips it when it cannot be imported) and
    released afterwards for anyone who imports it explicitly. A lock keeps a second thread (a network being
    prepared in the background) from seeing the package half-imported or the converter held out."""
    with _IMPORTING:
        held_out = "openvino" not in sys.modules and CONVERTER_MODULE not in sys.modules
        if held_out:
            sys.modules[CONVERTER_MODULE] = None  # type: ignore[assignment]  # import system: "not importable"
        try:
            import openvino
        except ImportError:
            message = "the openvino runtime needs the package openvino (pip install openvino)"
            raise RuntimeUnavailableError(message) from None
        finally:
            if held_out and sys.modules.get(CONVERTER_MODULE, 0) is None:
                del sys.modules[CONVERTER_MODULE]
        return openvino


def reduced_precision(capabilities: Sequence[str]) -> str:
    """The compute precision of ``fast`` mode for a device with these OpenVINO optimisation capabilities."""
    if "BF16" in capabilities:
        return "bf16"
    if "FP16" in capabilities:
        return "f16"
    return "f32"


def device_capabilities(device: str = DEVICE) -> list[str]:
    """OpenVINO's ``OPTIMIZATION_CAPABILITIES`` of ``device`` (e.g. ``['BF16', 'FP32', 'INT8', ...]``)."""
    return [str(c) for c in openvino().Core().get_property(device, "OPTIMIZATION_CAPABILITIES")]


class _Compiled:
    """One compiled model for one static input shape, with its infer request(s)."""

    def __init__(self, compiled: Any, throughput: bool) -> None:
        self.compiled = compiled
        self.jobs = int(compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS")) if throughput else 1
        self.request = compiled.create_infer_request()
        self.queue: Any = openvino().AsyncInferQueue(compiled, self.jobs) if throughput else None

    def one(self, item: FloatArray) -> FloatArray:
        outputs = self.request.infer({0: item}, share_inputs=True, share_outputs=True)
        # The array lives in the request's output tensor (kept alive by it): hand it out and give the next call a
        # new request (cheap: the compiled model owns the working memory) instead of copying a large output.
        self.request = self.compiled.create_infer_request()
        return np.asarray(outputs[0], dtype=np.float32)

    def many(self, batch: FloatArray) -> FloatArray:
        results: list[FloatArray | None] = [None] * len(batch)

        def done(request: Any, index: int) -> None:
            results[index] = np.array(request.get_output_tensor(0).data, dtype=np.float32)

        self.queue.set_callback(done)
        for index in range(len(batch)):
            self.queue.start_async({0: batch[index : index + 1]}, userdata=index, share_inputs=True)
        self.queue.wait_all()
        return np.concatenate([r for r in results if r is not None])


class OpenVinoNetwork:
    """An ONNX model as a :class:`~deepinfer.pipeline.Network` run by OpenVINO on the CPU.

    ``threads`` bounds OpenVINO's CPU threads (default: every core); ``precision`` is ``exact`` (fp32) or
    ``fast`` (see the module notes). Only verified artifacts (or ONNX files converted from them) are given here.
    """

    runtime = "openvino"

    def __init__(self, path: Path, threads: int | None = None, precision: str = "exact") -> None:
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
        ov = openvino()
        self.path = Path(path)
        check_external_data(self.path)
        self._core = ov.Core()
        try:
            self._model = self._core.read_model(str(self.path))
        except RuntimeError as error:
            raise PipelineError(f"{self.path.name}: OpenVINO cannot read the model: {_first_line(error)}") from None
        capabilities = [str(c) for c in self._core.get_property(DEVICE, "OPTIMIZATION_CAPABILITIES")]
        self.precision = "f32" if precision == "exact" else reduced_precision(capabilities)
        self.threads = threads or os.cpu_count() or 1
        self._compiled: dict[tuple[Shape, bool], _Compiled] = {}
        self._last_shape: Shape | None = None

    def _compile(self, shape: Shape, throughput: bool) -> _Compiled:
        key = (shape, throughput)
        if key not in self._compiled:
            model = self._model.clone()
            config: dict[str, Any] = {
                "INFERENCE_PRECISION_HINT": self.precision,
                "INFERENCE_NUM_THREADS": self.threads,
                "PERFORMANCE_HINT": "THROUGHPUT" if throughput else "LATENCY",
            }
            try:
                model.reshape({0: [1, *shape]})
                compiled = self._core.compile_model(model, DEVICE, config)
            except RuntimeError as error:
                message = f"{self.path.name}: OpenVINO cannot compile the model for input {[1, *shape]}"
                raise PipelineError(f"{message}: {_first_line(error)}") from None
            self._compiled[key] = _Compiled(compiled, throughput)
        return self._compiled[key]

    def prepare(self, shape: Shape) -> None:
        """Compile now for single items of ``shape`` (channels and spatial sizes), so the first call does not."""
        self._compile(tuple(int(n) for n in shape), False)

    @property
    def preferred_batch(self) -> int:
        """How many items a call runs at once (one per stream) for the last input shape seen; 1 before any."""
        if self._last_shape is None or self.threads < 2:
            return 1
        return self._compile(self._last_shape, True).jobs

    def __call__(self, batch: FloatArray) -> FloatArray:
        batch = np.ascontiguousarray(batch, dtype=np.float32)
        shape: Shape = tuple(int(n) for n in batch.shape[1:])
        self._last_shape = shape
        try:
            if len(batch) == 1:
                return self._compile(shape, False).one(batch)
            return self._compile(shape, True).many(batch)
        except RuntimeError as error:
            raise PipelineError(f"{self.path.name}: OpenVINO inference failed: {_first_line(error)}") from None

    def __repr__(self) -> str:
        return f"OpenVinoNetwork({self.path.name!r}, precision={self.precision!r})"


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else error.__class__.__name__
