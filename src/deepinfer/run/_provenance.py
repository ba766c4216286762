"""The provenance record written beside every output: model, artifacts, parameters, the inputs' sha256 (and
their detached data files'), versions, times, the runtime each network ran on, and warnings."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from deepinfer.card import ContainerRuntime, ModelCard
from deepinfer.imaging import Volume, image_files
from deepinfer.runners import NetworkCache
from deepinfer.store import sha256_file


def _input_record(path: Path) -> dict[str, Any]:
    """The input's file name and sha256; a header with detached voxel data also lists each data file's sha256,
    a DICOM folder gives one digest over its files."""
    if path.is_dir():
        files = image_files(path)
        return {"file": path.name, "sha256": "sha256-of-files:" + ",".join(sha256_file(p)[:16] for p in files)}
    header, *detached = image_files(path)
    record: dict[str, Any] = {"file": path.name, "sha256": sha256_file(header)}
    if detached:
        record["data_files"] = [{"file": p.name, "sha256": sha256_file(p)} for p in detached]
    return record


def input_warnings(volumes: Mapping[str, Volume], inputs: Mapping[str, Path]) -> list[str]:
    """A warning for each input whose voxels all hold one value (all zero, say): it looks empty. Warnings name an
    input by its file name, as the record's ``inputs`` do: they go into the provenance, which a server serves."""
    warnings = []
    for name, volume in volumes.items():
        array = volume.array
        if array.size and array.min() == array.max():
            value = array.flat[0].item()
            warnings.append(
                f"{inputs[name].name}: the input looks empty (every voxel of input {name} is {value}); "
                "the result is unlikely to mean anything"
            )
        warnings += frame_warnings(volume, name, inputs[name])
    return warnings


def frame_warnings(volume: Volume, name: str, path: Path) -> list[str]:
    """For an ultrasound volume of frames: its spacing note when the spacing is a guess, and that its third
    axis is time (plane positions along it are frame times, not millimetres)."""
    if volume.metadata.get("third_axis") != "time":
        return []
    notes = [volume.metadata["warning"]] if "warning" in volume.metadata else []
    frames, milliseconds = volume.metadata.get("frames", "?"), volume.metadata.get("frame_time_ms", "?")
    notes.append(
        f"{path.name}: input {name} is ultrasound, {frames} frame(s): its third axis is time ({milliseconds} ms a "
        "frame), not space, and its grid has no patient position; plane positions along it are times in ms"
    )
    return notes


def provenance_record(
    card: ModelCard,
    values: Mapping[str, Any],
    inputs: Mapping[str, Path],
    started_at: datetime,
    seconds: float,
) -> dict[str, Any]:
    from deepinfer import __version__

    runtime = {"image": card.runtime.image} if isinstance(card.runtime, ContainerRuntime) else {}
    return {
        "model": {"id": card.id, "version": card.version, "name": card.name},
        "runtime": {"type": card.runtime.type, **runtime},
        "artifacts": {a.name: a.sha256 for a in card.artifacts},
        "parameters": dict(values),
        "inputs": {name: _input_record(path) for name, path in inputs.items()},
        "deepinfer_version": __version__,
        "started": started_at.isoformat(timespec="seconds"),
        "seconds": round(seconds, 3),
        "intended_use": card.intended_use,
    }


def runtime_record(networks: NetworkCache) -> dict[str, Any]:
    """Which runtime and compute precision each network ran on, and the precision mode asked for and used."""
    return {
        "precision": {"requested": networks.requested_precision, "used": networks.precision},
        "networks": networks.describe(),
    }
