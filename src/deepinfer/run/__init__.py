"""Run one card on input files: the hub of deepinfer, called by every front end (CLI, server workers, Slicer,
batch, ``card test``, the container entrypoint).

:func:`run_model` resolves the card's parameters, checks the inputs and output paths (:func:`check_inputs`),
reads the inputs, estimates the working memory (:func:`check_working_memory`), runs the pipeline on the chosen
runtime (or the card's container), and writes every output with its provenance sidecar
(:func:`provenance_record`), per-label statistics of labelmaps (:func:`label_statistics`) and a picture through
:class:`StagedOutputs`: all or nothing. A labelmap output named ``.dcm`` is written as a DICOM SEG of the source
series with a DICOM SR of its volumes beside it (:func:`dicom_sr_path`); a class-scores output named ``.dcm`` is a
DICOM SR of the scores, with their JSON and CSV beside it (:func:`scores_json_path`).
:func:`plan_outputs` says where a card's outputs go for a primary output path.
"""

from deepinfer.run._dicom_outputs import dicom_sr_path, is_dicom_output, store_dicom_outputs
from deepinfer.run._memory import check_working_memory, estimate_working_bytes
from deepinfer.run._outputs import StagedOutputs, storage_error
from deepinfer.run._plan import (
    check_input_names,
    check_inputs,
    file_outputs,
    output_stem,
    plan_outputs,
    provenance_path,
    score_outputs,
    volume_outputs,
)
from deepinfer.run._provenance import input_warnings, provenance_record, runtime_record
from deepinfer.run._run import RunResult, fetch_artifact, labelled_volume_ml, run_model, write_report
from deepinfer.run._scores import decision_summary, scores_csv_path, scores_document, scores_json_path
from deepinfer.run._statistics import label_statistics, stage_statistics, statistics_paths

__all__ = [
    "RunResult",
    "StagedOutputs",
    "check_input_names",
    "check_inputs",
    "check_working_memory",
    "decision_summary",
    "dicom_sr_path",
    "estimate_working_bytes",
    "fetch_artifact",
    "file_outputs",
    "input_warnings",
    "is_dicom_output",
    "label_statistics",
    "labelled_volume_ml",
    "output_stem",
    "plan_outputs",
    "provenance_path",
    "provenance_record",
    "run_model",
    "runtime_record",
    "score_outputs",
    "scores_csv_path",
    "scores_document",
    "scores_json_path",
    "stage_statistics",
    "statistics_paths",
    "storage_error",
    "store_dicom_outputs",
    "volume_outputs",
    "write_report",
]
