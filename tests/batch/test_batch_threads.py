"""A batch worker's share of the cores holds for its image filters too, not only for its networks: SimpleITK's
filters (reading, resampling, connected components) default to every core, so two workers on two cores would
each run two-way filters at once."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import SimpleITK as sitk

from deepinfer.batch._worker import CaseRunner, WorkerSetup
from plane_networks import plane_mean_card

ITK_THREADS = "ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS"


def test_a_worker_gives_simpleitk_its_threads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    card = plane_mean_card(tmp_path)
    monkeypatch.setenv(ITK_THREADS, "7")  # put back after the test
    before = sitk.ProcessObject.GetGlobalDefaultNumberOfThreads()
    try:
        CaseRunner(WorkerSetup(card.read_text(encoding="utf-8"), str(tmp_path), {}, threads=1))
        assert sitk.ProcessObject.GetGlobalDefaultNumberOfThreads() == 1  # SimpleITK was imported already
        assert os.environ[ITK_THREADS] == "1"  # read by a fresh worker process when it first imports SimpleITK
    finally:
        sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(before)
