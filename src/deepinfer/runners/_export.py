"""Convert a card's TorchScript networks to ONNX, so they run without torch (ONNX Runtime, OpenVINO, ...).

The export uses torch's TorchScript-based exporter (``dynamo=False``) with a dynamic batch axis. Whether the
converted network agrees with the original is checked by the caller on real inputs (:func:`compare_networks`);
the ``deepinfer card export-onnx`` command also compares the final masks.
"""

from __future__ import annotations

import os
import secrets
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from deepinfer.card import ModelCard
from deepinfer.pipeline import FloatArray, Network
from deepinfer.runners._torchscript import import_torch, load_module
from deepinfer.store import sha256_file

DEFAULT_OPSET = 17
INPUT_NAME = "input"
OUTPUT_NAME = "output"

ExportedFile = tuple[Path, str, int]  # (path, sha256, size in bytes)


def _dummy_batch(torch: Any, example_shape: tuple[int, ...]) -> Any:
    if len(example_shape) < 2 or any(n <= 0 for n in example_shape):
        raise ValueError(f"example_shape must be (N, C, ...) with positive sizes, got {example_shape}")
    generator = torch.Generator().manual_seed(0)
    return torch.randn(example_shape, generator=generator, dtype=torch.float32)


def export_torchscript_to_onnx(
    src: Path, dst: Path, example_shape: tuple[int, ...], opset: int = DEFAULT_OPSET, *, dynamic_spatial: bool = False
) -> None:
    """Write ``src`` (a verified TorchScript archive) as an ONNX model at ``dst`` (atomically).

    ``example_shape`` is one valid input shape ``(N, C, X, Y, Z)``; the batch axis is exported as dynamic, and
    with ``dynamic_spatial`` the spatial axes too (OpenVINO then compiles each shape it meets statically).
    """
    torch = import_torch("exporting a TorchScript network to ONNX")
    dst = Path(dst)
    # Only artifacts whose sha256 the store verified against a registry card are ever loaded here.
    module = load_module(torch, Path(src))
    example = _dummy_batch(torch, example_shape)
    temporary = dst.with_name(f".{dst.name}.{secrets.token_hex(8)}.partial")
    try:
        with torch.inference_mode(), warnings.catch_warnings():
            # The exporter's notes on ScriptModule inputs and instance norm (always input statistics) are noise.
            warnings.filterwarnings("ignore", category=UserWarning, module=r"torch\.onnx")
            torch.onnx.export(
                module,
                (example,),
                str(temporary),
                dynamo=False,
                opset_version=opset,
                input_names=[INPUT_NAME],
                output_names=[OUTPUT_NAME],
                dynamic_axes=_dynamic_axes(len(example_shape), dynamic_spatial),
            )
        os.replace(temporary, dst)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def _dynamic_axes(rank: int, spatial: bool) -> dict[str, dict[int, str]]:
    axes = {0: "batch", **({axis: f"d{axis}" for axis in range(2, rank)} if spatial else {})}
    return {INPUT_NAME: axes, OUTPUT_NAME: dict(axes)}


def compare_networks(a: Network, b: Network, batch: FloatArray) -> float:
    """The largest absolute difference between the two networks' outputs on ``batch``."""
    first, second = a(batch), b(batch)
    if first.shape != second.shape:
        raise ValueError(f"the networks' outputs differ in shape: {first.shape} vs {second.shape}")
    difference = np.abs(first.astype(np.float64) - second.astype(np.float64))
    return float(difference.max()) if difference.size else 0.0


def export_card_networks(
    card: ModelCard, artifact_paths: Mapping[str, Path], out_dir: Path, shapes: Mapping[str, tuple[int, ...]]
) -> dict[str, ExportedFile]:
    """Export each TorchScript artifact named in ``shapes`` to ``out_dir/NAME.onnx``.

    ``artifact_paths`` maps artifact names to their verified files (from the artifact store); ``shapes`` maps
    the network artifacts to one example input shape each. Returns name → (ONNX file, sha256, size).
    """
    if card.runtime.type != "torchscript":
        raise ValueError(f"card {card.id} runs on {card.runtime.type!r}; only torchscript cards are exported")
    known = {artifact.name for artifact in card.artifacts}
    missing = [name for name in shapes if name not in known or name not in artifact_paths]
    if missing:
        raise ValueError(f"card {card.id}: no verified file for artifact(s) {', '.join(sorted(missing))}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    exported: dict[str, ExportedFile] = {}
    for name, shape in shapes.items():
        target = out_dir / f"{name}.onnx"
        export_torchscript_to_onnx(artifact_paths[name], target, tuple(shape))
        exported[name] = (target, sha256_file(target), target.stat().st_size)
    return exported
