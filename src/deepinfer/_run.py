"""Running a card on files: fetch verified artifacts, read inputs, run the pipeline, write outputs + provenance.

This is the one place the front ends (CLI, server, Slicer) call to run a model locally.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from deepinfer._exceptions import InputError, UsageError
from deepinfer.card._model import ClassScoresMember, ContainerRuntime, ModelCard, PointListMember, ScalarMember
from deepinfer.card._params import resolve_parameters
from deepinfer.imaging import SUPPORTED_SUFFIXES, Volume, read_volume, write_volume
from deepinfer.pipeline import Pipeline, ProgressCallback, no_progress
from deepinfer.runners import NetworkCache, card_network_cache
from deepinfer.store import ArtifactStore, sha256_file

if TYPE_CHECKING:
    from deepinfer.container import ContainerOptions

_NON_VOLUME_OUTPUTS = (ClassScoresMember, ScalarMember, PointListMember)


@dataclass
class RunResult:
    card: ModelCard
    outputs: dict[str, Path]
    volumes: dict[str, Volume]
    parameters: dict[str, Any]
    seconds: float
    provenance: dict[str, Any] = field(default_factory=dict)
    inputs: dict[str, Volume] = field(default_factory=dict)
    report: Path | None = None
    timings: dict[str, float] = field(default_factory=dict)
    """Seconds reading the inputs (``read_s``), loading the networks (``load_s``; 0 when the caller keeps them
    warm) and running the pipeline (``pipeline_s``: the model's own compute)."""


def image_suffix(path: Path) -> str:
    """The image suffix of a file name, counting .nii.gz as one suffix ('' if none is supported)."""
    name = path.name.lower()
    return next((s for s in sorted(SUPPORTED_SUFFIXES, key=len, reverse=True) if name.endswith(s)), "")


def _stem(path: Path) -> str:
    suffix = image_suffix(path)
    return path.name[: len(path.name) - len(suffix)] if suffix else path.stem


def volume_outputs(card: ModelCard) -> list[str]:
    """Names of the card's outputs that are written as image files, primary (first labelmap) first."""
    names = [o.name for o in card.outputs if not isinstance(o, _NON_VOLUME_OUTPUTS)]
    labelmaps = [o.name for o in card.outputs if o.type == "labelmap"]
    return labelmaps[:1] + [n for n in names if n not in labelmaps[:1]]


def plan_outputs(card: ModelCard, primary: Path, explicit: Mapping[str, Path] | None = None) -> dict[str, Path]:
    """Output member → file: the primary output at ``primary``, the others beside it as ``STEM.NAME.SUFFIX``."""
    suffix = image_suffix(primary)
    if not suffix:
        raise UsageError(f"{primary}: unsupported output format; use one of {', '.join(SUPPORTED_SUFFIXES)}")
    names = volume_outputs(card)
    explicit = dict(explicit or {})
    unknown = sorted(set(explicit) - set(names))
    if unknown:
        raise UsageError(f"{card.id} has no image output {', '.join(unknown)}; its outputs are {', '.join(names)}")
    plan = {names[0]: primary}
    for name in names[1:]:
        plan[name] = primary.with_name(f"{_stem(primary)}.{name}{suffix}")
    plan.update(explicit)
    return plan


def provenance_path(output: Path) -> Path:
    return output.with_name(f"{_stem(output)}.provenance.json")


def _check_inputs(card: ModelCard, inputs: Mapping[str, Path], outputs: Mapping[str, Path]) -> None:
    names = {m.name for m in card.inputs}
    unknown = sorted(set(inputs) - names)
    if unknown:
        raise UsageError(f"{card.id} has no input {', '.join(unknown)}; its inputs are {', '.join(sorted(names))}")
    missing = [m.name for m in card.inputs if getattr(m, "required", True) and m.name not in inputs]
    if missing:
        raise UsageError(f"{card.id} needs the input(s) {', '.join(missing)}")
    for name, path in inputs.items():
        if not path.exists():
            raise InputError(f"{path}: no such file or folder (input {name})")
    sources = {p.resolve() for p in inputs.values()}
    for path in outputs.values():
        if path.resolve() in sources:
            raise UsageError(f"{path}: an output would overwrite an input")
        if not path.parent.is_dir():
            raise UsageError(f"{path}: the output folder {path.parent} does not exist")


def _input_digest(path: Path) -> str:
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file())
        return "sha256-of-files:" + ",".join(sha256_file(p)[:16] for p in files)
    return sha256_file(path)


def fetch_artifact(
    store: ArtifactStore,
    card: ModelCard,
    name: str,
    card_dir: Path | None,
    progress: ProgressCallback = no_progress,
) -> Path:
    artifact = card.artifact(name)

    def report(done: int, total: int) -> None:
        progress(f"download {artifact.name}", done, total)

    return store.fetch(artifact, base_dir=card_dir, progress=report)


def run_model(
    card: ModelCard,
    inputs: Mapping[str, Path],
    outputs: Mapping[str, Path],
    params: Mapping[str, Any] | None = None,
    *,
    store: ArtifactStore | None = None,
    card_dir: Path | None = None,
    threads: int | None = None,
    progress: ProgressCallback = no_progress,
    report: bool = False,
    clock: Callable[[], float] = time.perf_counter,
    container: ContainerOptions | None = None,
    networks: NetworkCache | None = None,
    runtime: str | None = None,
    precision: str | None = None,
) -> RunResult:
    """Run ``card`` on input files and write every planned output (atomically) with a provenance sidecar.

    ``networks``: loaded networks the caller keeps between runs (the server's workers keep models warm).
    ``runtime`` (``auto``, ``onnxruntime``, ``openvino``, ``torchscript``) and ``precision`` (``exact``,
    ``fast``) choose how the networks run (defaults: ``$DEEPINFER_RUNTIME`` / ``$DEEPINFER_PRECISION``, else
    ``auto`` and ``exact``; see :func:`deepinfer.runners.card_network_cache`).

    A ``runtime: container`` card runs in its container (``container``: engine, timeout, GPU, log; default
    from the environment); every other card runs its pipeline in this process."""
    values = resolve_parameters(card, params)
    _check_inputs(card, inputs, outputs)
    started_at = datetime.now(UTC)
    start = clock()
    volumes_in = {name: read_volume(path) for name, path in inputs.items()}
    timings = {"read_s": clock() - start, "load_s": 0.0}
    if card.runtime.type == "container":
        from deepinfer.container import ContainerOptions, run_container

        options = container or ContainerOptions.from_environment()
        results = run_container(card, volumes_in, values, list(outputs), options, progress)
    else:
        pipeline = Pipeline.from_card(card, values)
        if networks is None:
            artifacts = store or ArtifactStore()
            networks = card_network_cache(
                card,
                lambda name: fetch_artifact(artifacts, card, name, card_dir, progress),
                threads,
                runtime=runtime,
                precision=precision,
                home=artifacts.home,
            )
        loading = clock()
        for artifact in dict.fromkeys(name for step in pipeline.steps for name in step.artifacts()):
            networks(artifact)
        timings["load_s"] = clock() - loading
        # Pipelines take one image today (every card so far has one volume input); the first input is it.
        results = pipeline.run(volumes_in[card.inputs[0].name], networks, progress)
    seconds = clock() - start
    timings["pipeline_s"] = seconds - timings["read_s"] - timings["load_s"]
    record = _provenance(card, values, inputs, started_at, seconds)
    record["timings"] = {name: round(value, 3) for name, value in timings.items()}
    if networks is not None:
        record["runtime"].update(_runtime_record(networks))
    written: list[Path] = []
    try:
        for name, path in outputs.items():
            write_volume(results[name], path)
            written.append(path)
            sidecar = provenance_path(path)
            _write_json_atomic(sidecar, {**record, "output": {"name": name, "file": path.name}})
            written.append(sidecar)
        picture = _write_report(card, volumes_in, results, inputs, outputs) if report else None
    except BaseException:
        for path in written:
            path.unlink(missing_ok=True)
        raise
    return RunResult(card, dict(outputs), results, values, seconds, record, volumes_in, picture, timings)


def labelled_volume_ml(volume: Volume) -> float:
    """Millilitres of the nonzero voxels of a labelmap."""
    import numpy as np

    return float(np.count_nonzero(volume.array)) * volume.geometry.voxel_volume_mm3 / 1000.0


def _write_report(
    card: ModelCard,
    volumes_in: Mapping[str, Volume],
    results: Mapping[str, Volume],
    inputs: Mapping[str, Path],
    outputs: Mapping[str, Path],
) -> Path | None:
    from deepinfer.report import render_result, report_path

    first = card.inputs[0].name
    primary = next(iter(outputs.values()))
    labelmaps = [o.name for o in card.outputs if o.type == "labelmap" and o.name in results]
    title = inputs[first].name
    if labelmaps:
        title += f" — {labelled_volume_ml(results[labelmaps[0]]):.1f} mL labelled"
    return render_result(card, volumes_in[first], results, {}, title, report_path(primary))


def _provenance(
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
        "inputs": {name: {"file": path.name, "sha256": _input_digest(path)} for name, path in inputs.items()},
        "deepinfer_version": __version__,
        "started": started_at.isoformat(timespec="seconds"),
        "seconds": round(seconds, 3),
        "intended_use": card.intended_use,
    }


def _runtime_record(networks: NetworkCache) -> dict[str, Any]:
    """Which runtime and compute precision each network ran on, and the precision mode asked for and used."""
    return {
        "precision": {"requested": networks.requested_precision, "used": networks.precision},
        "networks": networks.describe(),
    }


def _write_json_atomic(path: Path, document: Mapping[str, Any]) -> None:
    temporary = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    temporary.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    os.replace(temporary, path)
