"""Run a TorchScript network in process (optional: needs torch).

Security: ``torch.jit.load`` executes the archive's code, so this runner only ever loads a file the caller has
verified: the artifact store checked its sha256 against the registry card before handing out the path.
TorchScript is accepted only from sha256-pinned registry artifacts; user-supplied model files go through ONNX
or a container instead (see DESIGN.md, "No code from data").
"""

from __future__ import annotations

from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import numpy.typing as npt

from deepinfer._exceptions import PipelineError, RuntimeUnavailableError

FloatArray = npt.NDArray[np.float32]

INSTALL_HINT = (
    'install it with: pip install "deepinfer[torch]" '
    "(for a CPU-only build: pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu)"
)


def import_torch(purpose: str) -> ModuleType:
    """``torch``, or a :class:`RuntimeUnavailableError` saying how to install it."""
    try:
        import torch
    except ImportError as error:
        message = f"{purpose} needs PyTorch, which is not installed; {INSTALL_HINT}"
        raise RuntimeUnavailableError(message) from error
    return torch


def load_module(torch: ModuleType, path: Path) -> Any:
    """The TorchScript module at ``path`` on the CPU, in eval mode.

    ``path`` must be a file whose sha256 the artifact store verified against its registry card.
    """
    try:
        module = torch.jit.load(str(path), map_location="cpu")
    except (RuntimeError, ValueError) as error:
        raise PipelineError(f"{path.name}: torch cannot load the TorchScript archive: {error}") from None
    module.eval()
    return module


class TorchScriptNetwork:
    """A TorchScript module on the CPU: ``(N, C, X, Y, Z)`` float32 in, the first output as float32 out.

    ``threads`` calls ``torch.set_num_threads``, which is process-wide in torch.
    """

    def __init__(self, path: Path, threads: int | None = None) -> None:
        self.path = Path(path)
        self._torch = import_torch(f"the TorchScript network {self.path.name}")
        if threads is not None:
            self._torch.set_num_threads(threads)
        # The caller (the artifact store) verified this file's sha256 against its registry card.
        self._module = load_module(self._torch, self.path)

    def __call__(self, batch: FloatArray) -> FloatArray:
        tensor = self._torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32))
        with self._torch.inference_mode():
            output = self._module(tensor)
        if isinstance(output, tuple | list):
            output = output[0]
        return np.asarray(output.detach().cpu().numpy(), dtype=np.float32)

    def __repr__(self) -> str:
        return f"TorchScriptNetwork({self.path.name!r})"
