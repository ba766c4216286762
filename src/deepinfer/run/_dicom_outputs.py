"""DICOM outputs of a run: a labelmap output whose file name ends in ``.dcm`` is written as a DICOM SEG, and a DICOM
SR (TID 1500 measurement report with each segment's volume in mL) goes beside it as ``STEM.sr.dcm``. A
``class_scores`` output named ``.dcm`` is written as a DICOM SR of the class scores (the decision, each class's
volume-level score and best plane; see :mod:`deepinfer.imaging._dicom_scores_sr`), with its JSON and CSV beside it
(``STEM.json``, ``STEM.csv``).

A SEG and an SR belong to the source DICOM series the result was computed on, so they need a DICOM input: the
card's first input must be a DICOM folder or zip. That, and highdicom being installed (``deepinfer[dicom]``), are
checked before any input is read (:func:`check_dicom_outputs`). Only labelmap and class-scores outputs can be DICOM;
when the main output is a ``.dcm`` file, the card's other image outputs are planned beside it as NIfTI
(``STEM.NAME.nii.gz``, see :func:`deepinfer.run.plan_outputs`). The objects are built in memory, then staged with
the run's other files: all or nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from deepinfer import __version__
from deepinfer._exceptions import InputError, UsageError
from deepinfer.card import ClassScoresMember, LabelmapMember, ModelCard
from deepinfer.dicomweb import DicomWebLocation, store_files
from deepinfer.imaging import (
    BestPlane,
    ClassScoresSummary,
    DicomAlgorithm,
    DicomSource,
    Volume,
    class_scores_report,
    dicom_bytes,
    measurement_report,
    read_dicom_source,
    require_highdicom,
    segment_labels,
    segmentation,
)
from deepinfer.pipeline import ClassScores
from deepinfer.run._outputs import StagedOutputs, storage_error, write_bytes
from deepinfer.run._plan import DICOM_SUFFIX, output_stem


def is_dicom_output(path: Path) -> bool:
    return path.name.lower().endswith(DICOM_SUFFIX)


def dicom_sr_path(output: Path) -> Path:
    """Where the SR of the SEG ``output`` goes: ``STEM.sr.dcm`` beside it."""
    return output.with_name(f"{output_stem(output)}.sr{DICOM_SUFFIX}")


def _is_dicom_input(path: Path) -> bool:
    return path.is_dir() or path.name.lower().endswith(".zip")


def check_dicom_outputs(card: ModelCard, inputs: Mapping[str, Path], outputs: Mapping[str, Path]) -> None:
    """Refuse ``.dcm`` outputs that cannot be written: not a labelmap or class scores, no DICOM input, or no
    highdicom."""
    wanted = {name: path for name, path in outputs.items() if is_dicom_output(path)}
    if not wanted:
        return
    labelmaps = {m.name for m in card.outputs if isinstance(m, LabelmapMember)}
    scores = {m.name for m in card.outputs if isinstance(m, ClassScoresMember)}
    for name, path in wanted.items():
        if name not in labelmaps | scores:
            raise UsageError(
                f"{path}: only a labelmap output (a SEG) or class scores (an SR) can be written as DICOM; {name} is "
                "neither: give it a .nii.gz, .nrrd or .mha name"
            )
    first = card.inputs[0].name
    source = inputs.get(first)
    if source is None or not _is_dicom_input(source):
        given = f"{source} is not a DICOM folder or zip" if source is not None else f"no input {first} is given"
        name, path = next(iter(wanted.items()))
        kind, other = ("SR of class scores", ".json") if name in scores else ("SEG output", ".nii.gz, .nrrd or .mha")
        raise UsageError(
            f"{path}: a DICOM {kind} needs the source DICOM images, and {given}. "
            f"Give the DICOM series (a folder or .zip) as {first}, or write the result as {other}"
        )
    require_highdicom()


def dicom_files(
    card: ModelCard,
    inputs: Mapping[str, Path],
    volumes_in: Mapping[str, Volume],
    results: Mapping[str, Volume],
    outputs: Mapping[str, Path],
    statistics: Mapping[str, Sequence[Mapping[str, Any]]],
    scores: Mapping[str, ClassScores],
) -> tuple[dict[Path, bytes], list[str]]:
    """The SEG and SR files of every ``.dcm`` output (target → bytes), and what the user should know."""
    wanted = {name: path for name, path in outputs.items() if is_dicom_output(path)}
    if not wanted:
        return {}, []
    first = card.inputs[0].name
    source = read_dicom_source(inputs[first], volumes_in[first].metadata["dicom_series_uid"])
    algorithm = DicomAlgorithm(card.id, card.name, card.version)
    software = f"deepinfer {__version__}"
    members = {m.name: m for m in card.outputs if isinstance(m, LabelmapMember)}
    classifiers = {m.name: m for m in card.outputs if isinstance(m, ClassScoresMember)}
    files: dict[Path, bytes] = {}
    warnings: list[str] = []
    for name, path in wanted.items():
        if name not in members:  # class scores (a container card records none: it writes no SR)
            if name in scores:
                files[path] = _scores_sr(classifiers[name], scores[name], source, algorithm, software)
            continue
        try:
            segments, notes = segment_labels(results[name], members[name].labels)
        except InputError as error:
            raise InputError(f"{path}: {error}") from None
        seg = segmentation(results[name], source, segments, algorithm, software)
        volumes = {row["value"]: float(row["volume_ml"]) for row in statistics[name]}
        by_number = {number: volumes.get(label.value, 0.0) for number, label in enumerate(segments, start=1)}
        report = measurement_report(seg, source, by_number, algorithm, software)
        files[path] = dicom_bytes(seg)
        files[dicom_sr_path(path)] = dicom_bytes(report)
        warnings += [note for note in notes if note not in warnings]
    return files, warnings


def _scores_sr(
    member: ClassScoresMember, scores: ClassScores, source: DicomSource, algorithm: DicomAlgorithm, software: str
) -> bytes:
    """The DICOM SR of one class-scores output: its decision, volume-level scores and best planes."""
    best = tuple(
        BestPlane(
            scores.axis,
            int(scores.planes[row]),
            (float(scores.positions[row][0]), float(scores.positions[row][1]), float(scores.positions[row][2])),
            float(scores.values[row, k]),
        )
        for k, row in enumerate(scores.best)
    )
    summary = ClassScoresSummary(
        tuple(member.classes),
        scores.rule,
        scores.activation,
        tuple(float(v) for v in scores.volume),
        int(scores.decision),
        best,
    )
    return dicom_bytes(class_scores_report(summary, source, algorithm, software))


def stage_file(staged: StagedOutputs, target: Path, data: bytes) -> None:
    """Stage ``data`` to be renamed to ``target`` with the run's other files."""
    try:
        write_bytes(staged.path(target), data)
    except OSError as error:
        raise storage_error(target, error) from None


def store_dicom_outputs(location: DicomWebLocation, client: Any, outputs: Mapping[str, Path]) -> list[Path]:
    """Store every DICOM output of a finished run (each SEG, and its SR) into its own study on the PACS at
    ``location`` (STOW-RS through ``client``); the files stored. A ``location`` that names a study must name the
    SEG's."""
    import pydicom

    stored: list[Path] = []
    for path in (p for p in outputs.values() if is_dicom_output(p)):
        files = [p for p in (path, dicom_sr_path(path)) if p.is_file()]
        study = str(pydicom.dcmread(path, stop_before_pixels=True).StudyInstanceUID)
        if location.study is not None and location.study != study:
            raise UsageError(f"the PACS URL names study {location.study}, but {path.name} belongs to study {study}")
        store_files(location, files, client, study)
        stored += files
    return stored
