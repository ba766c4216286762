"""Running a card on files: fetch verified artifacts, read inputs, run the pipeline (or the card's container),
write the outputs, their provenance and a picture, all or nothing. :func:`run_model` is the one place the front
ends (CLI, server workers, Slicer, batch, card test) call to run a model locally; each of its steps is a small
named function of this package."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from deepinfer._exceptions import InputError, PipelineError, RuntimeUnavailableError, UsageError
from deepinfer.card import ModelCard, VolumeMember, resolve_parameters
from deepinfer.imaging import Volume, read_volume
from deepinfer.pipeline import ClassScores, Pipeline, PipelineResult, ProgressCallback, no_progress
from deepinfer.run._dicom_outputs import check_dicom_outputs, dicom_files, dicom_sr_path, stage_file
from deepinfer.run._memory import check_working_memory
from deepinfer.run._outputs import StagedOutputs, storage_error
from deepinfer.run._plan import check_inputs, provenance_path
from deepinfer.run._provenance import input_warnings, provenance_record, runtime_record
from deepinfer.run._scores import score_members, scores_json_path, stage_scores
from deepinfer.run._statistics import output_statistics, stage_statistics
from deepinfer.runners import NetworkCache, card_network_cache
from deepinfer.store import ArtifactStore

_IMAGE_OUTPUTS = ("volume", "labelmap", "probability_map")

if TYPE_CHECKING:
    from deepinfer.container import ContainerOptions


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
    warnings: list[str] = field(default_factory=list)
    """What the user should know about the run (an input that looks empty); also in the provenance."""
    networks_opened: int = 0
    """How many networks this run had to open (0 when the caller kept them all warm)."""
    statistics: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    """Per-label statistics of each labelmap output (output name → one row per label; see
    :mod:`deepinfer.run._statistics`); also in the provenance and in ``STEM.statistics.json/.csv``."""
    scores: dict[str, ClassScores] = field(default_factory=dict)
    """Class scores per plane of each ``class_scores`` output (written as JSON and CSV; see
    :mod:`deepinfer.run._scores`)."""


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
    self_contained: bool = False,
    series: Mapping[str, str] | None = None,
) -> RunResult:
    """Run ``card`` on input files and write every planned output (atomically) with a provenance sidecar.

    ``networks``: loaded networks the caller keeps between runs (the server's workers keep models warm).
    ``runtime`` (``auto``, ``onnxruntime``, ``openvino``, ``torchscript``) and ``precision`` (``exact``,
    ``fast``) choose how the networks run (defaults: ``$DEEPINFER_RUNTIME`` / ``$DEEPINFER_PRECISION``, else
    ``auto`` and ``exact``; see :func:`deepinfer.runners.card_network_cache`).

    A ``runtime: container`` card runs in its container (``container``: engine, timeout, GPU, log; default
    from the environment); every other card runs its pipeline in this process, after checking that its
    estimated working memory fits (:mod:`deepinfer.run._memory`). ``self_contained``: refuse inputs whose voxels
    lie in detached data files (what the server asks of uploads). ``series``: input name → the
    SeriesInstanceUID to read from a DICOM folder or zip (else the card's series rule chooses, or the only one).

    Each labelmap output gets per-label statistics beside it (``STEM.statistics.json`` and ``.csv``, also in
    the provenance). The outputs, their provenance, statistics and the picture are written all or nothing: a
    failure leaves the files of an earlier run in place and nothing half-written."""
    values = resolve_parameters(card, params)
    check_inputs(card, inputs, outputs)
    check_dicom_outputs(card, inputs, outputs)
    started_at = datetime.now(UTC)
    start = clock()
    volumes_in = read_inputs(card, inputs, self_contained, series or {})
    check_frame_outputs(card, inputs, volumes_in, outputs)
    warnings = input_warnings(volumes_in, inputs)
    read_s = clock() - start
    if card.runtime.type == "container":
        from deepinfer.container import ContainerOptions, run_container

        options = container or ContainerOptions.from_environment()
        ran = run_container(card, volumes_in, values, list(outputs), options, progress)
        computed = _Computed(ran.volumes, ran.scores)
    else:
        if networks is None:
            artifacts = store or ArtifactStore()
            networks = card_network_cache(
                card,
                lambda name: fetch_artifact(artifacts, card, name, card_dir, progress),
                threads if threads is not None else card.resources.threads,
                runtime=runtime,
                precision=precision,
                home=artifacts.home,
            )
        computed = _run_in_process(card, values, inputs, volumes_in, networks, progress, warnings, clock)
    seconds = clock() - start
    timings = {"read_s": read_s, "load_s": computed.load_s, "pipeline_s": seconds - read_s - computed.load_s}
    record = provenance_record(card, values, inputs, started_at, seconds)
    _complete_record(record, timings, warnings, networks, volumes_in)
    statistics = output_statistics(card, computed.volumes, volumes_in, outputs)
    if statistics:
        record["statistics"] = statistics
    dicom, dicom_warnings = dicom_files(
        card, inputs, volumes_in, computed.volumes, outputs, statistics, computed.scores
    )
    if dicom_warnings:
        warnings += dicom_warnings
        record["warnings"] = warnings
    picture = _write_outputs(card, inputs, outputs, volumes_in, computed, record, statistics, dicom, report)
    return RunResult(
        card,
        dict(outputs),
        computed.volumes,
        values,
        seconds,
        record,
        volumes_in,
        picture,
        timings,
        warnings,
        computed.networks_opened,
        statistics,
        computed.scores,
    )


@dataclass
class _Computed:
    """What the model computed: image outputs, class scores, and what opening its networks cost."""

    volumes: dict[str, Volume]
    scores: dict[str, ClassScores]
    load_s: float = 0.0
    networks_opened: int = 0


def _run_in_process(
    card: ModelCard,
    values: Mapping[str, Any],
    inputs: Mapping[str, Path],
    volumes_in: Mapping[str, Volume],
    networks: NetworkCache,
    progress: ProgressCallback,
    warnings: list[str],
    clock: Callable[[], float],
) -> _Computed:
    """Run the card's pipeline here, after checking it may (no GPU needed) and fits in memory; its networks are
    opened first (timed apart from the compute)."""
    check_in_process(card)
    pipeline = Pipeline.from_card(card, values)
    first = card.inputs[0].name
    check_working_memory(first, inputs[first], volumes_in[first], pipeline.steps)
    loading, opened_before = clock(), networks.opened
    for artifact in dict.fromkeys(name for step in pipeline.steps for name in step.artifacts()):
        networks(artifact)
    load_s = clock() - loading
    # The first input is the working image; the others reach the pipeline by name (``stack_inputs``).
    others = {m.name: volumes_in[m.name] for m in card.inputs[1:] if m.name in volumes_in}
    recorded = _run_pipeline(pipeline, inputs[first], volumes_in[first], networks, progress, card.ref, warnings, others)
    return _Computed(recorded.volumes, recorded.scores, load_s, networks.opened - opened_before)


def _complete_record(
    record: dict[str, Any],
    timings: Mapping[str, float],
    warnings: list[str],
    networks: NetworkCache | None,
    volumes_in: Mapping[str, Volume],
) -> None:
    """The provenance's timings, warnings, runtimes and the DICOM series each input was read from."""
    record["timings"] = {name: round(value, 3) for name, value in timings.items()}
    if warnings:
        record["warnings"] = warnings
    if networks is not None:
        record["runtime"].update(runtime_record(networks))
    _record_series(record, volumes_in)


def _write_outputs(
    card: ModelCard,
    inputs: Mapping[str, Path],
    outputs: Mapping[str, Path],
    volumes_in: Mapping[str, Volume],
    computed: _Computed,
    record: dict[str, Any],
    statistics: Mapping[str, list[dict[str, Any]]],
    dicom: Mapping[Path, bytes],
    report: bool,
) -> Path | None:
    """Every output with its provenance sidecar (and statistics, a SEG's SR, the picture), all or nothing; the
    picture's path when one was asked for."""
    members = score_members(card, computed.scores)
    with StagedOutputs() as staged:
        for target, data in dicom.items():
            stage_file(staged, target, data)
        for name, path in outputs.items():
            output = {"name": name, "file": path.name}
            if name in computed.scores:
                stage_scores(staged, members[name], computed.scores[name], path, record)
                if path in dicom:  # the file is the scores' DICOM SR; their JSON and CSV are beside it
                    output["json"] = scores_json_path(path).name
            elif path in dicom:
                output["dicom_sr"] = dicom_sr_path(path).name
            else:
                staged.volume(computed.volumes[name], path)
            staged.json({**record, "output": output}, provenance_path(path))
            if name in statistics:
                stage_statistics(staged, name, path, card.inputs[0].name, statistics[name])
        picture = None
        if report:
            picture = write_report(card, volumes_in, computed.volumes, inputs, outputs, staged, computed.scores)
        staged.commit()
    return picture


def read_inputs(
    card: ModelCard, inputs: Mapping[str, Path], self_contained: bool, series: Mapping[str, str]
) -> dict[str, Volume]:
    """Every input volume; a DICOM input's series is the one ``series`` names, else the card's rule chooses."""
    unknown = sorted(set(series) - set(inputs))
    if unknown:
        raise UsageError(f"--series names {', '.join(unknown)}, which is not an input given ({', '.join(inputs)})")
    for name in series:
        if not (inputs[name].is_dir() or inputs[name].name.lower().endswith(".zip")):
            raise UsageError(f"--series {name}=…: {inputs[name]} is not a DICOM folder or zip (only those hold series)")
    rules = {m.name: m.series for m in card.inputs if isinstance(m, VolumeMember)}
    return {
        name: read_volume(path, self_contained=self_contained, series=rules.get(name), series_uid=series.get(name))
        for name, path in inputs.items()
    }


def check_frame_outputs(
    card: ModelCard, inputs: Mapping[str, Path], volumes: Mapping[str, Volume], outputs: Mapping[str, Path]
) -> None:
    """Refuse image and DICOM outputs of an ultrasound volume of frames: its grid (time along the third axis, no
    patient position) written as an image file would pass for a physical one, and a SEG or SR needs slices to
    reference. Class scores (JSON, CSV) are what such a run gives."""
    frames = [name for name, volume in volumes.items() if volume.metadata.get("third_axis") == "time"]
    kinds = {member.name: member.type for member in card.outputs}
    images = [name for name in outputs if kinds.get(name) in _IMAGE_OUTPUTS]
    if frames and images:
        raise InputError(
            f"{inputs[frames[0]]}: an ultrasound volume of frames (its third axis is time, its grid has no patient "
            f"position) gives no image output; {card.ref}'s {', '.join(images)} would be written on a grid that "
            "is not physical. Run a plane classifier (class scores) on it"
        )
    dicom = [path.name for path in outputs.values() if path.suffix.lower() == ".dcm"]
    if frames and dicom:
        raise InputError(
            f"{inputs[frames[0]]}: an ultrasound volume of frames gets no DICOM output ({', '.join(dicom)}): its "
            "frames are not slices of a patient grid a SEG or SR could reference; write the scores as .json"
        )


def _record_series(record: dict[str, Any], volumes: Mapping[str, Volume]) -> None:
    """Which DICOM series each DICOM input was read from, in the provenance's input records (and, for an
    ultrasound volume of frames, its frame count, frame time and where its spacing came from)."""
    for name, volume in volumes.items():
        if "dicom_series_uid" in volume.metadata and name in record["inputs"]:
            keys = ("dicom_series_uid", "dicom_description", "dicom_modality", "dicom_files")
            record["inputs"][name]["dicom_series"] = {k[6:]: volume.metadata[k] for k in keys if k in volume.metadata}
        if volume.metadata.get("third_axis") == "time" and name in record["inputs"]:
            record["inputs"][name]["frames"] = {
                "count": int(volume.metadata.get("frames", "0")),
                "third_axis": "time",
                "frame_time_ms": float(volume.metadata.get("frame_time_ms", "1")),
                "spacing": volume.metadata.get("spacing_note", ""),
            }


def check_in_process(card: ModelCard) -> None:
    """Refuse a card whose resources say it needs a GPU: the in-process runtimes run on the CPU."""
    if card.resources.gpu == "required":
        raise RuntimeUnavailableError(
            f"{card.ref} requires a GPU (resources.gpu), and deepinfer's in-process runtimes run on the CPU; "
            "package it as a container card to run it on a GPU machine"
        )


def _run_pipeline(
    pipeline: Pipeline,
    path: Path,
    volume: Volume,
    networks: NetworkCache,
    progress: ProgressCallback,
    ref: str,
    warnings: list[str],
    others: Mapping[str, Volume] | None = None,
) -> PipelineResult:
    """The pipeline's outputs; a step that fails on this image is reported as bad input naming its file (and
    the warnings about the input, such as its looking empty)."""
    try:
        return pipeline.run_all(volume, networks, progress, others)
    except PipelineError as error:
        size = "×".join(str(n) for n in volume.geometry.size)
        notes = "".join(f"\n{warning}" for warning in warnings)
        raise InputError(f"{path}: {ref} cannot process this image (size {size}): {error}{notes}") from None


def labelled_volume_ml(volume: Volume) -> float:
    """Millilitres of the nonzero voxels of a labelmap."""
    import numpy as np

    return float(np.count_nonzero(volume.array)) * volume.geometry.voxel_volume_mm3 / 1000.0


def write_report(
    card: ModelCard,
    volumes_in: Mapping[str, Volume],
    results: Mapping[str, Volume],
    inputs: Mapping[str, Path],
    outputs: Mapping[str, Path],
    staged: StagedOutputs,
    scores: Mapping[str, ClassScores] | None = None,
) -> Path | None:
    """The picture, staged beside the outputs; the path it will have once they are committed."""
    from deepinfer.report import render_result, report_path
    from deepinfer.run._scores import score_chart

    first = card.inputs[0].name
    primary = next(iter(outputs.values()))
    labelmaps = [o.name for o in card.outputs if o.type == "labelmap" and o.name in results]
    title = inputs[first].name
    if labelmaps:
        title += f" — {labelled_volume_ml(results[labelmaps[0]]):.1f} mL labelled"
    target = report_path(primary)
    try:
        chart = score_chart(card, scores or {})
        if chart is not None:
            title += f" — {chart.chosen}"
        written = render_result(card, volumes_in[first], results, {}, title, staged.path(target), chart)
    except OSError as error:
        raise storage_error(target, error) from None
    return target if written is not None else None
