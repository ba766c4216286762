"""Cohorts on one machine: ``deepinfer batch`` runs a card on every case of a folder, glob or CSV, with long-lived
worker processes that keep the networks loaded, a manifest rewritten atomically as cases finish, and reruns
that skip the cases already done with the same model, parameters and inputs.

:func:`find_cases` reads the cohort (case ids from file names), :func:`case_memory` and :func:`plan_workers`
bound the workers by memory, :func:`run_batch` runs it and writes ``OUT/manifest.csv`` (:class:`Manifest`). With
``BatchOptions.ray`` the same batch runs on a Ray cluster's actors (:func:`ray_plan` sizes it; Ray is the optional
extra ``deepinfer[ray]``, imported only then). A case whose Ray actor is lost runs again, at most :data:`RAY_RETRIES`
more times (:func:`actor_lost`, :class:`LostAttempts`; the server's jobs on Ray retry the same way)."""

from deepinfer.batch._batch import BatchOptions, BatchResult, pending_cases, run_batch
from deepinfer.batch._cases import CASE_ID_COLUMN, Case, Cohort, case_id, find_cases
from deepinfer.batch._layout import DEFAULT_SUFFIX, case_outputs, up_to_date
from deepinfer.batch._manifest import (
    COLUMNS,
    FAILED,
    MANIFEST_NAME,
    SKIPPED,
    SUCCEEDED,
    CaseRecord,
    Manifest,
    read_manifest,
)
from deepinfer.batch._ray import (
    RAY_INSTALL,
    RAY_RETRIES,
    LostAttempts,
    actor_lost,
    connect_ray,
    import_ray,
    ray_connection,
    ray_plan,
)
from deepinfer.batch._sizing import GIB, WorkerPlan, available_memory, case_memory, plan_workers

__all__ = [
    "CASE_ID_COLUMN",
    "COLUMNS",
    "DEFAULT_SUFFIX",
    "FAILED",
    "GIB",
    "MANIFEST_NAME",
    "RAY_INSTALL",
    "RAY_RETRIES",
    "SKIPPED",
    "SUCCEEDED",
    "BatchOptions",
    "BatchResult",
    "Case",
    "CaseRecord",
    "Cohort",
    "LostAttempts",
    "Manifest",
    "WorkerPlan",
    "actor_lost",
    "available_memory",
    "case_id",
    "case_memory",
    "case_outputs",
    "connect_ray",
    "find_cases",
    "import_ray",
    "pending_cases",
    "plan_workers",
    "ray_connection",
    "ray_plan",
    "read_manifest",
    "run_batch",
    "up_to_date",
]
