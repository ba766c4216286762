"""Thin-client mode: ``deepinfer [--server URL] run MODEL -i … -o … [--server URL] [--token T]`` runs the model on
a deepinfer server with the same outputs (files, provenance sidecars, report) and the same progress display as
a local run (``deepinfer --server URL models list|search|show`` browses the server's models: ``_models_commands``).
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from deepinfer._exceptions import UsageError
from deepinfer.card import ModelCard
from deepinfer.cli._target import SERVER_HELP, SERVER_VARIABLE, TOKEN_HELP, TOKEN_VARIABLE, RemoteTarget

if TYPE_CHECKING:
    from deepinfer.pipeline import ProgressCallback
    from deepinfer.run import StagedOutputs


def remote_parameters(remote: RemoteTarget | None) -> list[inspect.Parameter]:
    """The ``--server`` and ``--token`` options of a generated ``run`` command."""
    keyword = inspect.Parameter.KEYWORD_ONLY
    server = Annotated[str | None, typer.Option("--server", help=SERVER_HELP, envvar=SERVER_VARIABLE)]
    token = Annotated[str | None, typer.Option("--token", help=TOKEN_HELP, envvar=TOKEN_VARIABLE)]
    return [
        inspect.Parameter("server", keyword, default=remote.url if remote else None, annotation=server),
        inspect.Parameter("token", keyword, default=None, annotation=token),
    ]


def chosen_target(options: Mapping[str, Any], remote: RemoteTarget | None) -> RemoteTarget | None:
    """The server a ``run`` goes to (None: run here)."""
    server = options.get("server")
    if not server:
        return None
    return RemoteTarget(server, options.get("token") or (remote.token if remote else None))


def remote_card(target: RemoteTarget, reference: str) -> ModelCard:
    with target.client() as client:
        card: ModelCard = client.card(reference)
    return card


def run_remote(
    target: RemoteTarget,
    card: ModelCard,
    inputs: Mapping[str, Path],
    outputs: Mapping[str, Path],
    values: Mapping[str, Any],
    progress: ProgressCallback,
    report: bool = False,
) -> Any:
    """Run ``card`` on the server: upload, follow the job's progress, download every output (all or nothing)
    with its provenance sidecar. Returns a :class:`deepinfer.run.RunResult`. Ctrl-C cancels the job."""
    from deepinfer.card import resolve_parameters
    from deepinfer.client import job_error, job_warnings
    from deepinfer.imaging import image_suffix
    from deepinfer.jobs import UPLOAD_SUFFIXES
    from deepinfer.run import RunResult, StagedOutputs, check_inputs, is_dicom_output

    parameters = resolve_parameters(card, values)
    check_inputs(card, inputs, outputs)
    dicom = [path for path in outputs.values() if is_dicom_output(path)]
    if dicom:
        raise UsageError(
            f"{dicom[0]}: a DICOM output (SEG, or SR of class scores) is written by a local run (it needs the source "
            "DICOM series, which a server does not take); run without --server, or write .nii.gz (.json for scores)"
        )
    for name, path in inputs.items():
        if path.is_dir() or image_suffix(path) not in UPLOAD_SUFFIXES:
            raise UsageError(f"{path}: a server takes {', '.join(UPLOAD_SUFFIXES)} files (input {name})")
    primary_suffix = image_suffix(next(iter(outputs.values())))
    output_format = primary_suffix if primary_suffix in UPLOAD_SUFFIXES else ".nii.gz"
    start = time.perf_counter()
    with target.client() as client:
        job_id = client.submit(card.ref, inputs, parameters, output_format, progress)
        try:
            final = client.follow(job_id, _feeder(progress))
        except KeyboardInterrupt:
            client.cancel(job_id)
            raise
        if final["state"] != "succeeded":
            raise job_error(final)
        with StagedOutputs() as staged:
            written = _download_all(client, job_id, final, inputs, outputs, output_format, progress, staged)
            picture = _report(card, inputs, outputs, staged) if report else None
            staged.commit()
    record = {**(final.get("provenance") or {}), "server": {"url": target.url, "job": job_id}}
    seconds = time.perf_counter() - start
    result = RunResult(
        card, dict(written), {}, dict(parameters), seconds, record, {}, picture, final["timings"], job_warnings(final)
    )
    result.statistics = dict(final.get("statistics") or {})
    return result


def _feeder(progress: ProgressCallback) -> Callable[[dict[str, Any]], None]:
    """Job status events → the local progress display (the worker's own tasks: download, sliding window…)."""

    def feed(status: dict[str, Any]) -> None:
        task = status.get("task")
        if task:
            progress(task["name"], int(task["done"]), int(task["total"]))

    return feed


def _download_all(
    client: Any,
    job_id: str,
    final: dict[str, Any],
    inputs: Mapping[str, Path],
    outputs: Mapping[str, Path],
    output_format: str,
    progress: ProgressCallback,
    staged: StagedOutputs,
) -> dict[str, Path]:
    """Every output and its provenance sidecar, staged (the caller commits them all at once)."""
    from deepinfer.imaging import image_suffix, read_volume
    from deepinfer.run import provenance_path, stage_statistics

    statistics = final.get("statistics") or {}
    for name, path in outputs.items():
        if image_suffix(path) == output_format:
            client.download(
                job_id, name, staged.path(path), lambda done, total, n=name: progress(f"download {n}", done, total)
            )
        else:  # a format the server does not write (.nhdr, .mhd): convert, the geometry is kept exactly
            temporary = staged.path(path.with_name(f".{path.name}.server{output_format}"))
            client.download(job_id, name, temporary)
            try:
                staged.volume(read_volume(temporary), path)
            finally:
                temporary.unlink(missing_ok=True)
        staged.json(_local_provenance(final, job_id, client.url, name, path, inputs), provenance_path(path))
        if name in statistics:  # as a local run writes them, from the server's rows
            stage_statistics(staged, name, path, next(iter(inputs)), statistics[name])
    return dict(outputs)


def _local_provenance(
    final: dict[str, Any], job_id: str, url: str, name: str, path: Path, inputs: Mapping[str, Path]
) -> dict[str, Any]:
    """The server's provenance record, naming the local files (the input digests are the server's)."""
    record = dict(final.get("provenance") or {})
    served = record.get("inputs") or {}
    record["inputs"] = {member: {**served.get(member, {}), "file": source.name} for member, source in inputs.items()}
    record["output"] = {"name": name, "file": path.name}
    record["server"] = {"url": url, "job": job_id}
    return record


def _report(
    card: ModelCard, inputs: Mapping[str, Path], outputs: Mapping[str, Path], staged: StagedOutputs
) -> Path | None:
    from deepinfer.imaging import read_volume
    from deepinfer.run import write_report

    volumes_in = {name: read_volume(path) for name, path in inputs.items()}
    results = {name: read_volume(staged.path(path)) for name, path in outputs.items()}
    return write_report(card, volumes_in, results, inputs, outputs, staged)
