"""Jobs as the API shows them, and jobs built from an upload (the card says what is valid)."""

from __future__ import annotations

import json
import time
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from deepinfer._config import deepinfer_home
from deepinfer._exceptions import UsageError
from deepinfer.card import LabelmapMember, ModelCard, card_summary, resolve_parameters
from deepinfer.dicomweb import allowed_pacs, check_uid, parse_location
from deepinfer.jobs import UPLOAD_SUFFIXES, InputFile, Job, JobFolders, JobState
from deepinfer.run import check_input_names, provenance_path, score_outputs, volume_outputs
from deepinfer.server._errors import ApiError
from deepinfer.server._uploads import Upload

FILE_INPUT_TYPES = {"volume", "labelmap"}
KNOWN_FIELDS = {"model", "parameters", "output_format", "series", "store"}
SCORES_SUFFIX = ".json"
"""Class-score outputs are JSON documents (a CSV beside each): the job view carries them as ``scores``."""
DICOM_OUTPUT = ".dcm"
"""The output format that writes each labelmap as a DICOM SEG (deepinfer.run does, for a ``.dcm`` name)."""


def model_summary(card: ModelCard) -> dict[str, Any]:
    """A row of the model list: the CLI's summary plus reported metrics."""
    return {
        **card_summary(card),
        "ref": card.ref,
        "description": card.description,
        "metrics": [metric.model_dump(mode="json", exclude_none=True) for metric in card.metrics],
    }


def job_view(job: Job, folders: JobFolders | None = None) -> dict[str, Any]:
    """The public record of a job (``folders`` given: with the provenance and per-label statistics of a finished
    run)."""
    view: dict[str, Any] = {
        "id": job.id,
        "model": job.model,
        "state": job.state.value,
        "progress": round(job.progress, 4),
        "message": job.message,
        "task": {"name": job.task, "done": job.done, "total": job.total} if job.task else None,
        "parameters": job.parameters,
        "inputs": {name: {"filename": item.filename, "bytes": item.bytes} for name, item in job.inputs.items()},
        "output_format": job.output_format,
        "outputs": {},
        "error": {"kind": job.error_kind, "message": job.error} if job.error else None,
        "created": _iso(job.created),
        "started": _iso(job.started),
        "finished": _iso(job.finished),
        "attempts": job.attempts + job.retries,
        "lost": job.lost,
        "timings": job.timings,
    }
    if job.state is JobState.succeeded:
        view["outputs"] = {name: f"/api/jobs/{job.id}/outputs/{name}" for name in job.outputs}
        if folders is not None:
            view["provenance"] = _provenance(job, folders)
            # per-label statistics of each labelmap output (output name → rows), as the run wrote them
            view["statistics"] = (view["provenance"] or {}).get("statistics", {})
            view["files"] = {name: f"/api/jobs/{job.id}/files/{name}" for name in folders.output_files(job.id)}
            view["scores"] = _scores(job, folders)
    return view


def _scores(job: Job, folders: JobFolders) -> dict[str, Any]:
    """Each class-score output's document (decision, best planes, every plane's scores and position)."""
    documents: dict[str, Any] = {}
    for name, file in job.outputs.items():
        if file.endswith(SCORES_SUFFIX):
            try:
                documents[name] = json.loads(folders.output_path(job, name).read_text("utf-8"))
            except (OSError, KeyError, ValueError):
                continue
    return documents


def _iso(stamp: float | None) -> str | None:
    return datetime.fromtimestamp(stamp, UTC).isoformat(timespec="milliseconds") if stamp else None


def _provenance(job: Job, folders: JobFolders) -> dict[str, Any] | None:
    """The run's provenance record (as in the sidecar of every output, less the ``output`` entry)."""
    for name in job.outputs:
        try:
            record: dict[str, Any] = json.loads(provenance_path(folders.output_path(job, name)).read_text("utf-8"))
        except (OSError, KeyError, ValueError):
            continue
        record.pop("output", None)
        return record
    return None


def build_job(job_id: str, card: ModelCard, upload: Upload) -> Job:
    """A queued job from an upload, checked against ``card``: file fields are its image inputs, ``parameters``
    (JSON) its parameters, ``output_format`` one of the single-file formats."""
    unknown = sorted(set(upload.fields) - KNOWN_FIELDS)
    if unknown:
        known = ", ".join(sorted(KNOWN_FIELDS))
        raise ApiError(422, f"unknown form field(s) {', '.join(unknown)}; the fields are {known} and the inputs")
    output_format = upload.fields.get("output_format", ".nii.gz")
    if output_format not in (*UPLOAD_SUFFIXES, DICOM_OUTPUT):
        raise ApiError(422, f"output_format must be one of {', '.join((*UPLOAD_SUFFIXES, DICOM_OUTPUT))}")
    try:
        values = resolve_parameters(card, _parameters(upload.fields.get("parameters", "")))
    except UsageError as error:
        raise ApiError(422, str(error)) from None
    inputs = _with_series(card, _inputs(card, upload), upload.fields.get("series", ""))
    outputs = _output_files(card, output_format)
    store = _store(upload.fields.get("store", "").strip(), output_format)
    # (a plain dict: the job record is copied and stored as JSON, and the worker checks the values again)
    return Job(job_id, card.ref, dict(values), inputs, outputs, output_format, created=time.time(), store=store)


def _store(url: str, output_format: str) -> str | None:
    """The ``store`` field: a DICOMweb URL of a PACS in the operator's pacs.json, for a DICOM result."""
    if not url:
        return None
    if output_format != DICOM_OUTPUT:
        raise ApiError(422, "store sends DICOM results to a PACS: ask for output_format .dcm")
    allowed_pacs(parse_location(url), deepinfer_home())  # (a UsageError: 422)
    return url


def _output_files(card: ModelCard, output_format: str) -> dict[str, str]:
    """Output member → file name; with ``.dcm`` each labelmap is a DICOM SEG (its SR beside it as NAME.sr.dcm)
    and the other image outputs NIfTI (the run checks that the input is DICOM)."""
    labelmaps = {m.name for m in card.outputs if isinstance(m, LabelmapMember)}
    if output_format == DICOM_OUTPUT and not labelmaps & set(volume_outputs(card)):
        raise ApiError(422, f"output_format .dcm writes labelmaps as DICOM SEG, and {card.id} has no labelmap output")
    images = {
        name: name + (output_format if output_format != DICOM_OUTPUT or name in labelmaps else ".nii.gz")
        for name in volume_outputs(card)
    }
    return images | {name: f"{name}{SCORES_SUFFIX}" for name in score_outputs(card)}


def _inputs(card: ModelCard, upload: Upload) -> dict[str, InputFile]:
    try:
        check_input_names(card, upload.files)  # the same check as a local run's
    except UsageError as error:
        raise ApiError(422, f"{error} (a file field each)") from None
    not_files = sorted(m.name for m in card.inputs if m.name in upload.files and m.type not in FILE_INPUT_TYPES)
    if not_files:
        raise ApiError(422, f"{card.id}: the input(s) {', '.join(not_files)} are not images and cannot be uploaded")
    empty = [name for name, item in upload.files.items() if item.bytes == 0]
    if empty:
        raise ApiError(422, f"the input file(s) {', '.join(empty)} are empty")
    return {name: InputFile(item.file, item.filename, item.bytes) for name, item in upload.files.items()}


def _with_series(card: ModelCard, inputs: dict[str, InputFile], text: str) -> dict[str, InputFile]:
    """The ``series`` field: a SeriesInstanceUID (for the first input) or a JSON object {input: UID}, for an
    input that holds several DICOM series (a zip)."""
    if not text.strip():
        return inputs
    first = card.inputs[0].name
    try:
        chosen = json.loads(text) if text.lstrip().startswith("{") else {first: text.strip()}
    except json.JSONDecodeError as error:
        raise ApiError(422, f"series: not a UID nor a JSON object ({error.msg})") from None
    if not isinstance(chosen, dict) or not all(isinstance(v, str) for v in chosen.values()):
        raise ApiError(422, "series: a SeriesInstanceUID, or a JSON object {input name: SeriesInstanceUID}")
    for name, uid in chosen.items():
        if name not in inputs:
            raise ApiError(422, f"series: {name!r} is not an input of this job ({', '.join(inputs)})")
        check_uid(uid, "SeriesInstanceUID", "series")
        inputs[name] = replace(inputs[name], series=uid)
    return inputs


MAX_PARAMETER_DEPTH = 4
"""Nesting allowed in ``parameters`` (card parameters are scalars; deeper JSON is refused before parsing)."""


def _parameters(text: str) -> dict[str, Any]:
    if not text.strip():
        return {}
    if _nesting(text) > MAX_PARAMETER_DEPTH:
        raise ApiError(422, f"parameters nest deeper than {MAX_PARAMETER_DEPTH} levels; give a flat JSON object")
    try:
        given = json.loads(text)
    except (ValueError, RecursionError):
        raise ApiError(422, 'parameters must be a JSON object, e.g. {"threshold": 0.5}') from None
    if not isinstance(given, dict):
        raise ApiError(422, 'parameters must be a JSON object, e.g. {"threshold": 0.5}')
    return given


def _nesting(text: str) -> int:
    """The deepest bracket nesting of a JSON text (brackets inside strings do not count), without recursion."""
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest
