"""A TorchScript card → an ONNX card, checked on a real image before anything is written.

:func:`convert_card_to_onnx` runs the TorchScript card on one volume while recording the batch shape each
network is called with, exports those networks to ONNX (``deepinfer.runners._export``), runs the converted
card on the same volume and compares every labelmap output label by label (Dice). Only when each reaches
:data:`MIN_DICE` are the ONNX files and the new card, whose network artifacts are file sources next to it
with their sha256 and size, moved into the output folder; otherwise nothing is written.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from deepinfer._exceptions import FetchError, PipelineError, UsageError
from deepinfer._metrics import dice
from deepinfer.card import ModelCard, dump_card, parse_card
from deepinfer.imaging import Volume, image_suffix, read_volume
from deepinfer.pipeline import FloatArray, Network, NetworkProvider, Pipeline, ProgressCallback, no_progress
from deepinfer.run import fetch_artifact
from deepinfer.runners import ExportedFile, NetworkCache, export_card_networks
from deepinfer.store import ArtifactStore

MIN_DICE = 0.999  # every label of every labelmap output, converted card vs TorchScript card
ID_SUFFIX = "-onnx"


@dataclass(frozen=True)
class Conversion:
    """What :func:`convert_card_to_onnx` wrote: the new card, its file and networks, the Dice per label."""

    card: ModelCard
    card_path: Path
    networks: dict[str, Path]
    dice: dict[str, float]


@dataclass
class RecordingNetworks:
    """A :class:`NetworkProvider` that remembers the batch shape each network is first called with."""

    inner: NetworkProvider
    shapes: dict[str, tuple[int, ...]] = field(default_factory=dict)

    def __call__(self, artifact: str) -> Network:
        network = self.inner(artifact)

        def call(batch: FloatArray) -> FloatArray:
            self.shapes.setdefault(artifact, tuple(int(n) for n in batch.shape))
            return network(batch)

        return call


def labelmap_dice(card: ModelCard, reference: Mapping[str, Volume], other: Mapping[str, Volume]) -> dict[str, float]:
    """``OUTPUT:label`` → Dice of that label's voxels, for every labelmap output of ``card``."""
    scores: dict[str, float] = {}
    for output in card.outputs:
        if output.type != "labelmap":
            continue
        first, second = reference[output.name].array, other[output.name].array
        for label in output.labels:
            scores[f"{output.name}:{label.name}"] = dice(first == label.value, second == label.value)
    return scores


def onnx_card(card: ModelCard, exported: Mapping[str, ExportedFile], note: str) -> ModelCard:
    """``card`` with runtime onnx, its exported networks as file sources (same folder), and a new id."""
    document: dict[str, Any] = card.model_dump(mode="json", exclude_none=True)
    for artifact in document["artifacts"]:
        if artifact["name"] in exported:
            path, sha256, size = exported[artifact["name"]]
            artifact.update(sha256=sha256, size=size, source={"kind": "file", "path": path.name})
    document.update(
        id=card.id[: 64 - len(ID_SUFFIX)] + ID_SUFFIX,
        name=f"{card.name} (ONNX)",
        runtime={"type": "onnx"},
        tags=[*card.tags, "ONNX"],
        notes=[*card.notes, note],
    )
    return parse_card(document, f"{card.ref} converted to ONNX")


def example_volume(store: ArtifactStore, card: ModelCard, card_dir: Path | None, scratch: Path) -> Volume:
    """The first input of the card's first example whose file can be fetched here."""
    reasons = []
    for example in card.examples:
        name = example.inputs.get(card.inputs[0].name)
        if name is None:
            continue
        try:
            cached = fetch_artifact(store, card, name, card_dir)
        except FetchError as error:
            reasons.append(f"{example.name}: {error}")
            continue
        source_name = Path(getattr(card.artifact(name).source, "path", name)).name
        copy = scratch / f"example{image_suffix(Path(source_name)) or '.nii.gz'}"
        shutil.copyfile(cached, copy)
        return read_volume(copy)
    raise UsageError(f"{card.id}: no example input could be fetched; give an image with --input ({reasons})")


def check_exportable(card: ModelCard) -> None:
    """A :class:`UsageError` unless ``card`` runs TorchScript and has a labelmap to check the conversion on."""
    if card.runtime.type != "torchscript":
        raise UsageError(f"{card.ref} runs on {card.runtime.type!r}; only torchscript cards can be exported to ONNX")
    if not any(output.type == "labelmap" for output in card.outputs):
        raise UsageError(f"{card.ref} has no labelmap output to check a conversion on; it is not exported")


def _check_target(out_dir: Path) -> None:
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
        raise UsageError(f"{out_dir}: the output folder must not exist yet (or be empty)")
    if not out_dir.parent.is_dir():
        raise UsageError(f"{out_dir}: the folder {out_dir.parent} does not exist")


def convert_card_to_onnx(
    card: ModelCard,
    volume: Volume,
    out_dir: Path,
    *,
    store: ArtifactStore,
    card_dir: Path | None = None,
    threads: int | None = None,
    min_dice: float | None = None,
    progress: ProgressCallback = no_progress,
) -> Conversion:
    """Convert ``card``'s TorchScript networks to ONNX and write ``out_dir/<new id>.json`` beside them.

    Raises :class:`PipelineError` (nothing written) when a label's Dice between the two cards' outputs on
    ``volume`` is below ``min_dice`` (default :data:`MIN_DICE`).
    """
    check_exportable(card)
    out_dir = Path(out_dir)
    _check_target(out_dir)
    wanted = MIN_DICE if min_dice is None else min_dice

    def locate(name: str) -> Path:
        return fetch_artifact(store, card, name, card_dir, progress)

    recorder = RecordingNetworks(NetworkCache("torchscript", locate, threads))
    reference = Pipeline.from_card(card).run(volume, recorder, progress)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        progress("export to ONNX", 0, 1)
        exported = export_card_networks(card, {n: locate(n) for n in recorder.shapes}, staging, recorder.shapes)
        progress("export to ONNX", 1, 1)
        draft = onnx_card(card, exported, "")
        onnx_networks = NetworkCache("onnx", lambda n: exported[n][0], threads)
        converted = Pipeline.from_card(draft).run(volume, onnx_networks, progress)
        scores = labelmap_dice(card, reference, converted)
        low = {label: score for label, score in scores.items() if score < wanted}
        if low:
            listed = ", ".join(f"{label} {score:.5f}" for label, score in low.items())
            raise PipelineError(f"{card.ref}: the ONNX networks disagree with TorchScript (Dice {listed} < {wanted})")
        new_card = onnx_card(card, exported, _note(card, scores))
        card_path = staging / f"{new_card.id}.json"
        card_path.write_text(dump_card(new_card), encoding="utf-8")
        staging.chmod(0o755)  # mkdtemp made it private
        os.replace(staging, out_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    networks = {name: out_dir / path.name for name, (path, _, _) in exported.items()}
    return Conversion(new_card, out_dir / card_path.name, networks, scores)


def _note(card: ModelCard, scores: Mapping[str, float]) -> str:
    listed = ", ".join(f"{label} {score:.5f}" for label, score in scores.items())
    return (
        f"Converted from {card.ref} (TorchScript) by `deepinfer card export-onnx`; on the check image the masks "
        f"agree with the TorchScript card's: Dice {listed}."
    )
