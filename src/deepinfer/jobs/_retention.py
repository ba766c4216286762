"""Retention of ended jobs' data: jobs that succeeded, failed or were cancelled are removed (row, inputs and
outputs) once they are older than a maximum age, and the oldest go first while their files together take more
than a maximum size. Queued and running jobs are never touched, and do not count toward the size."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from deepinfer.jobs._db import JobStore
from deepinfer.jobs._layout import JobFolders

log = logging.getLogger("deepinfer.jobs")

DAY_S = 24 * 3600.0


@dataclass(frozen=True)
class RetentionPolicy:
    max_age_s: float | None = 30 * DAY_S
    """Ended jobs older than this (by their end time) are removed; None: no age limit."""
    max_bytes: int | None = 50 * 1024**3
    """Ended jobs' files together stay under this, the oldest removed first; None: no size limit."""
    interval_s: float = 600.0
    """How often the job manager applies the policy (and once at start)."""


def folder_bytes(folder: Path) -> int:
    """Bytes of the regular files below ``folder`` (links are not followed)."""
    total = 0
    for directory, _, files in os.walk(folder):
        for name in files:
            try:
                stat = os.lstat(os.path.join(directory, name))
            except OSError:
                continue
            total += stat.st_size
    return total


def expired(ended: list[tuple[str, float]], sizes: dict[str, int], policy: RetentionPolicy, now: float) -> list[str]:
    """The ids to remove: ``ended`` is (id, end time), oldest first; ``sizes`` their bytes."""
    doomed: list[str] = []
    kept: list[str] = []
    for job_id, finished in ended:
        if policy.max_age_s is not None and now - finished > policy.max_age_s:
            doomed.append(job_id)
        else:
            kept.append(job_id)
    if policy.max_bytes is not None:
        total = sum(sizes.get(job_id, 0) for job_id in kept)
        for job_id in kept:
            if total <= policy.max_bytes:
                break
            doomed.append(job_id)
            total -= sizes.get(job_id, 0)
    return doomed


def remove_job(store: JobStore, folders: JobFolders, job_id: str) -> bool:
    """Remove an ended job: its row first (so the API never shows a job without files), then its folder."""
    state = store.delete(job_id)
    if state is None or not state.terminal:
        return False
    folders.remove(job_id)
    return True


def apply_retention(store: JobStore, folders: JobFolders, policy: RetentionPolicy, now: float) -> list[str]:
    """Remove what ``policy`` says has expired; returns the removed job ids."""
    if policy.max_age_s is None and policy.max_bytes is None:
        return []
    ended = store.ended()
    sizes = {job_id: folder_bytes(folders.job_dir(job_id)) for job_id, _ in ended} if policy.max_bytes else {}
    removed = [job_id for job_id in expired(ended, sizes, policy, now) if remove_job(store, folders, job_id)]
    if removed:
        log.info("retention: removed %d ended job(s) and their files", len(removed))
    return removed
