"""Jobs: a persistent queue (SQLite in the server's data folder) in front of warm worker processes.

A job is a model run on uploaded files: queued → running → succeeded | failed | cancelled. Workers keep each
card's loaded networks between jobs; progress flows from the workers to the job row (and from there to the
server's event streams); cancelling terminates the worker that runs the job. After a crash or SIGKILL the next
start finds every job: queued ones run, interrupted ones run again (or fail once they used their attempts).
With ``ManagerSettings.ray`` each worker runs its jobs on a Ray actor; a job whose actor is lost runs again on a
new one, as a batch case does (``Job.retries``, ``Job.lost`` record it).
"""

from deepinfer.jobs._db import JobStore
from deepinfer.jobs._layout import INPUT_SUFFIXES, UPLOAD_SUFFIXES, JobFolders, display_name, scrub_paths, upload_suffix
from deepinfer.jobs._manager import CardLookup, JobManager, ManagerSettings
from deepinfer.jobs._records import JOB_ID, InputFile, Job, JobState
from deepinfer.jobs._retention import RetentionPolicy

__all__ = [
    "INPUT_SUFFIXES",
    "JOB_ID",
    "UPLOAD_SUFFIXES",
    "CardLookup",
    "InputFile",
    "Job",
    "JobFolders",
    "JobManager",
    "JobState",
    "JobStore",
    "ManagerSettings",
    "RetentionPolicy",
    "display_name",
    "scrub_paths",
    "upload_suffix",
]
