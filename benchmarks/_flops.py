"""Floating-point operations of one network call, counted from its graph (convolutions only: they are all but
a fraction of a percent of the work of these 3D segmentation networks).

A convolution costs ``2 · C_out · C_in/groups · prod(kernel)`` operations per output voxel (a multiply and an
add); a transposed convolution the same per *input* voxel. OpenVINO reads the ONNX file and, with the input
fixed to the shape the network is called with, gives every tensor a static shape (ONNX's own shape inference
stops at the runtime ``Shape → Reshape`` of instance normalisation).
"""

from __future__ import annotations

import math
from pathlib import Path

CONVOLUTIONS = {"Convolution": "output", "GroupConvolution": "output", "ConvolutionBackpropData": "input"}


def conv_flops(model_path: Path, input_shape: tuple[int, ...]) -> float:
    """Operations of one call of the ONNX model at ``model_path`` on an input of ``input_shape``."""
    import openvino

    model = openvino.Core().read_model(str(model_path))
    model.reshape({0: list(input_shape)})
    total = 0.0
    for op in model.get_ordered_ops():
        where = CONVOLUTIONS.get(op.get_type_name())
        if where is None:
            continue
        # (C_out, C_in, k...), (groups, C_out/g, C_in/g, k...) or, transposed, (C_in, C_out, k...): the product
        # is the multiply-adds per output voxel (per input voxel for a transposed convolution)
        per_voxel = 2.0 * math.prod(list(op.input(1).get_shape()))
        shape = op.input(0).get_shape() if where == "input" else op.output(0).get_shape()
        total += per_voxel * math.prod(list(shape)[2:])
    return total
