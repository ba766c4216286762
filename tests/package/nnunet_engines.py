"""An imported nnU-Net card's pipeline run with nnU-Net's own torch networks instead of its ONNX files, and
the two engines compared on the same real windows: what separates the pipeline's parity with nnUNetPredictor
from the engine's.

nnU-Net accumulates its window logits in float16, so float32 differences between engines (ONNX Runtime and
torch each differ from a float64 evaluation by about 2e-5 on these networks) move some float16 roundings by one
step. With nnU-Net's torch networks the card's pipeline computes nnU-Net's own numbers: its float16 logits equal
nnU-Net's bit for bit and the probabilities differ by float32 rounding of the softmax alone (measured 1.2e-7).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from deepinfer.card import ModelCard
from deepinfer.imaging import read_volume
from deepinfer.pipeline import Network, Pipeline
from deepinfer.runners import OnnxNetwork

THREADS = 2  # the torch threads nnU-Net's predictor ran with (nnunet_training.py, nnunet_variants.py)


@contextmanager
def torch_threads(count: int) -> Iterator[None]:
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def torch_networks(results: Path, folds: str) -> dict[str, Network]:
    """Each fold's network as nnU-Net runs it (torch, float32), in the card's (N, C, I, J, K) layout, by the
    card's artifact name ``fold_N``."""
    import torch

    from deepinfer.package._nnunet_import import read_folder
    from deepinfer.package._nnunet_network import build_network

    found = read_folder(results, "3d_fullres", folds)
    # as nnU-Net calls it: a contiguous tensor in nnU-Net's axis order (torch's convolutions may take another
    # path, and round otherwise, for a permuted view)
    forward = [0, 1, *(4 - t for t in found.plan.transpose)]
    backward = [forward.index(axis) for axis in range(5)]
    networks: dict[str, Network] = {}
    for fold, checkpoint in found.checkpoints.items():
        module = build_network(found.plan, checkpoint["network_weights"], fold, [])

        def run(batch: np.ndarray, module: Any = module) -> np.ndarray:
            with torch.inference_mode():
                logits = module(torch.from_numpy(np.ascontiguousarray(batch.transpose(forward)))).numpy()
            result: np.ndarray = np.ascontiguousarray(logits.transpose(backward))
            return result

        networks[f"fold_{fold}"] = run
    return networks


def run_pipeline(
    card: ModelCard, images: list[Path], networks: dict[str, Network], params: dict[str, Any], accumulate: str = ""
) -> dict[str, np.ndarray]:
    """The card's pipeline on ``images`` (one per input) with ``networks``; outputs in SimpleITK's (z, y, x).
    ``accumulate="float32"``: the sliding window sums in float32 instead of nnU-Net's float16."""
    if accumulate:
        document = card.model_dump(mode="json", exclude_none=True)
        for step in document["pipeline"]:
            if step["step"] == "sliding_window_nnunet":
                step["params"]["accumulate"] = accumulate
        card = ModelCard.model_validate(document)
    volumes = [read_volume(image) for image in images]
    others = {member.name: volume for member, volume in zip(card.inputs[1:], volumes[1:], strict=True)}

    def provider(artifact: str) -> Network:
        return networks[artifact]

    with torch_threads(THREADS):
        result = Pipeline.from_card(card, params).run_all(volumes[0], provider, inputs=others)
    return {name: np.asarray(volume.array).transpose(2, 1, 0) for name, volume in result.volumes.items()}


def onnx_networks(
    card_dir: Path, names: list[str], threads: int | None = None, providers: str = "auto"
) -> dict[str, Network]:
    """The card's own ONNX files, by artifact name, run by ONNX Runtime; by default as ``deepinfer run
    --runtime onnxruntime`` runs a card that sets no thread count (ONNX Runtime's own count, its providers chosen
    as deepinfer chooses them)."""
    return {name: OnnxNetwork(card_dir / f"{name}.onnx", threads=threads, providers=providers) for name in names}


def network_difference(card_dir: Path, networks: dict[str, Network], windows: list[np.ndarray]) -> float:
    """The largest |Δ| between ONNX Runtime (the card's files) and torch on the same windows."""
    largest = 0.0
    onnx = onnx_networks(card_dir, list(networks), THREADS, "CPUExecutionProvider")
    with torch_threads(THREADS):
        for name, network in networks.items():
            for window in windows:
                largest = max(largest, float(np.abs(onnx[name](window) - network(window)).max()))
    return largest


def recording(network: Network, windows: list[np.ndarray], most: int = 4) -> Network:
    """``network``, keeping the first ``most`` windows it is given (real preprocessed patches)."""

    def run(batch: np.ndarray) -> np.ndarray:
        if len(windows) < most:
            windows.append(batch.copy())
        return network(batch)

    return run
