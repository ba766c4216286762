"""Rebuild an nnU-Net v2 network from its plans, load a fold's weights, export it to ONNX and check it.

The network class and its layer classes come from allowlists (``_nnunet_plans``); the plans' dotted names are
never imported. ``dynamic_network_architectures`` (installed with nnunetv2) is imported only here, when an
import runs. The exported network takes deepinfer's (N, C, I, J, K) layout: a wrapper permutes the axes into
the order nnU-Net trained on (SimpleITK's z, y, x after ``transpose_forward``) and back.
"""

from __future__ import annotations

import os
import secrets
import warnings
from pathlib import Path
from typing import Any, Final

import numpy as np

from deepinfer._exceptions import Problem, UsageError
from deepinfer.package._nnunet_plans import NnunetPlan

OPSET: Final = 17
LAYER_CLASSES: Final = {
    "Conv3d": ("torch.nn", "Conv3d"),
    "InstanceNorm3d": ("torch.nn", "InstanceNorm3d"),
    "BatchNorm3d": ("torch.nn", "BatchNorm3d"),
    "Dropout3d": ("torch.nn", "Dropout3d"),
    "LeakyReLU": ("torch.nn", "LeakyReLU"),
    "ReLU": ("torch.nn", "ReLU"),
}


def network_class(name: str) -> Any:
    """The allowlisted ``dynamic_network_architectures`` class, or a usage error that says how to install it."""
    try:
        from dynamic_network_architectures.architectures import unet
    except ImportError:
        from deepinfer.package._nnunet_import import INSTALL_HINT

        raise UsageError(INSTALL_HINT) from None
    return getattr(unet, name)


def build_network(plan: NnunetPlan, weights: dict[str, Any], where: str, problems: list[Problem]) -> Any:
    """The network of ``plan`` with ``weights`` loaded (eval mode, no deep supervision), or None."""
    import torch

    kwargs = dict(plan.network_kwargs)
    for key in ("conv_op", "norm_op", "dropout_op", "nonlin"):
        if kwargs.get(key) is not None:
            kwargs[key] = getattr(torch.nn, str(kwargs[key]).rsplit(".", 1)[-1])
    try:
        network = network_class(plan.network_class)(
            input_channels=len(plan.channels), num_classes=plan.heads, deep_supervision=False, **kwargs
        )
    except (TypeError, ValueError, AssertionError, RuntimeError) as error:
        problems.append(Problem("plans.json architecture", f"the network cannot be built: {str(error)[:200]}"))
        return None
    if not all(isinstance(v, torch.Tensor) for v in weights.values()):
        problems.append(Problem(where, "network_weights holds values that are not tensors"))
        return None
    try:
        network.load_state_dict(weights, strict=True)
    except RuntimeError as error:
        problems.append(Problem(where, f"the weights do not fit the plans' network: {str(error)[:300]}"))
        return None
    return network.eval()


def axis_wrapper(network: Any, transpose: list[int]) -> Any:
    """A module taking (N, C, I, J, K) that runs ``network`` on nnU-Net's axis order and returns (N, C, I, J, K)."""
    import torch

    # nnU-Net's axis a is deepinfer's axis 2 - transpose[a]
    forward = [0, 1, *(2 + (2 - t) for t in transpose)]
    backward = [forward.index(axis) for axis in range(5)]

    class InDeepinferOrder(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.network = network

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            result: torch.Tensor = self.network(x.permute(*forward)).permute(*backward)
            return result

    return InDeepinferOrder().eval()


def export_onnx(module: Any, shape: tuple[int, ...], target: Path) -> float:
    """Export ``module`` for inputs of ``shape`` (batch axis dynamic) to ``target`` (atomically); returns the
    largest |Δ| between ONNX Runtime and torch on a test input."""
    import onnxruntime
    import torch

    generator = torch.Generator().manual_seed(0)
    example = torch.randn(shape, generator=generator, dtype=torch.float32)
    temporary = target.with_name(f".{target.name}.{secrets.token_hex(8)}.partial")
    try:
        with torch.inference_mode(), warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=UserWarning)
            warnings.filterwarnings("ignore", category=DeprecationWarning)
            torch.onnx.export(
                module,
                (example,),
                str(temporary),
                dynamo=False,
                opset_version=OPSET,
                input_names=["input"],
                output_names=["output"],
                dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}},
            )
            expected = module(example).numpy()
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 2
    session = onnxruntime.InferenceSession(str(target), options, providers=["CPUExecutionProvider"])
    got = session.run(None, {"input": example.numpy()})[0]
    return float(np.abs(np.asarray(got, dtype=np.float64) - expected).max())
