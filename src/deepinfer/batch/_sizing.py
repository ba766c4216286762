"""How many workers a batch runs: by default one per core, never more than the memory allows.

A case's peak memory is estimated before anything runs, from the card and the image headers: the larger of the
card's ``resources.memory_gb`` (what its author measured for the model) and the pipeline's working-memory
estimate for the largest image of the cohort (:func:`deepinfer.run.estimate_working_bytes`, the estimate
``deepinfer run`` refuses too-large images with). The workers that fit in the memory available now (Linux
``MemAvailable``) bound ``--workers``; a larger request is reduced, with a message saying why."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from deepinfer.batch._cases import Case
from deepinfer.card import ModelCard

GIB = 2**30


@dataclass(frozen=True)
class WorkerPlan:
    """The number of worker processes, the network threads of each, and why (``note``: a reduction, or "")."""

    workers: int
    threads: int
    case_bytes: int
    available_bytes: int
    note: str = ""


def available_memory() -> int:
    """Bytes of memory available without swapping (``MemAvailable``), else the physical memory."""
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return 8 * GIB


def header_estimate(path: Path, steps: Sequence[Any]) -> int | None:
    """The pipeline's working-memory estimate for the image at ``path``, from its header alone (None: a DICOM
    folder or a file whose header cannot be read; its worker's own check still applies)."""
    import SimpleITK as sitk

    from deepinfer.run import estimate_working_bytes

    if not path.is_file():
        return None
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    try:
        reader.ReadImageInformation()
    except RuntimeError:
        return None
    size = reader.GetSize()
    components = reader.GetNumberOfComponents()
    item = sitk.GetPixelIDValueAsString(reader.GetPixelID())
    voxel_bytes = _BYTES.get(item.replace("vector of ", ""), 4) * components
    voxels = 1
    for n in size:
        voxels *= n
    return estimate_working_bytes(size[:3], reader.GetSpacing()[:3], voxels * voxel_bytes, steps)


_BYTES = {
    "8-bit unsigned integer": 1, "8-bit signed integer": 1, "16-bit unsigned integer": 2, "16-bit signed integer": 2,
    "32-bit unsigned integer": 4, "32-bit signed integer": 4, "64-bit unsigned integer": 8,
    "64-bit signed integer": 8, "32-bit float": 4, "64-bit float": 8,
}  # fmt: skip


def case_memory(card: ModelCard, values: dict[str, Any], cases: Sequence[Case]) -> int:
    """The estimated peak memory of one case of this cohort (see the module's doc)."""
    stated = int(card.resources.memory_gb * GIB)
    if card.runtime.type == "container" or not cases:
        return stated
    from deepinfer.pipeline import Pipeline

    steps = Pipeline.from_card(card, values).steps
    first = card.inputs[0].name
    estimates = [header_estimate(case.inputs[first], steps) for case in cases if first in case.inputs]
    return max([stated, *(e for e in estimates if e is not None)])


def plan_workers(
    requested: int | None,
    cases: int,
    case_bytes: int,
    threads: int | None = None,
    cores: int | None = None,
    available: int | None = None,
) -> WorkerPlan:
    """Workers for ``cases`` cases of ``case_bytes`` each: ``requested`` (None: one per core), no more than
    the cases nor than the memory available holds (at least one); threads: given, else the cores shared out."""
    cores = cores or os.cpu_count() or 1
    available = available_memory() if available is None else available
    fit = max(available // max(case_bytes, 1), 1)
    wanted = requested if requested is not None else cores
    workers = max(min(wanted, fit, max(cases, 1)), 1)
    note = ""
    if wanted > fit and min(wanted, cases) > workers:
        asked = f"--workers {requested}" if requested is not None else f"{wanted} workers (one per core)"
        note = (
            f"{asked} reduced to {workers}: each case may need about {case_bytes / GIB:.1f} GiB of memory "
            f"(the card's resources and the largest image), and {available / GIB:.1f} GiB is available"
        )
    return WorkerPlan(workers, threads or max(cores // workers, 1), case_bytes, available, note)
