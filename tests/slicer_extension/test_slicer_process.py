"""Background deepinfer processes as the Slicer module runs them: the real CLI, its JSON progress lines, its
error messages and exit codes, and cancel."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from DeepInferLib.cards import installed_refs
from DeepInferLib.logic import Logic
from DeepInferLib.process import CliProcess, Message, Outcome, Progress, Task, parse_line
from slicer_helpers import DEEPINFER, connection

from realparts import require

ENV = connection().environment


def test_parse_line_tells_progress_from_messages() -> None:
    assert parse_line('{"event": "progress", "task": "sliding window", "done": 3, "total": 8}\n') == Progress(
        "sliding window", 3, 8
    )
    assert parse_line("error: x.nii: not an image\n") == Message("error: x.nii: not an image")
    assert parse_line('{"not": "progress"}') == Message('{"not": "progress"}')
    assert parse_line("{broken") == Message("{broken")
    assert parse_line("  \n") is None
    assert Progress("download model", 5_000_000, 10_000_000).text() == "download model: 5.0 / 10.0 MB"
    assert Progress("sliding window", 3, 8).fraction == 3 / 8 and Progress("x", 1, 0).fraction is None


def test_outcome_error_is_the_clis_own_message() -> None:
    outcome = Outcome(3, "", ["error: t2.nii: no such file or folder (input T2)"])
    assert outcome.error == "Bad input: t2.nii: no such file or folder (input T2)"
    click = Outcome(2, "", ["Usage: deepinfer run x [OPTIONS]", "Error: Invalid value for '--threshold': 7"])
    assert click.error == "Usage error: Invalid value for '--threshold': 7"
    assert Outcome(1, "", []).error == "Error: deepinfer ended with exit code 1"
    assert Outcome(-15, "", [], cancelled=True).error == "Cancelled."


@pytest.mark.parametrize(
    ("argv", "code", "text"),
    [
        (["models", "show", "no-such-model", "--json"], 2, "Usage error: no model 'no-such-model'"),
        (
            ["run", "prostate-taps", "-i", "missing.nii.gz", "-o", "out.nii.gz", "--progress", "json"],
            3,
            "Bad input: missing.nii.gz: no such file",
        ),
        (["run", "prostate-taps", "-i", "a.nii", "-o", "b.nii", "--threshold=7"], 2, "Usage error: Invalid value"),
    ],
)
def test_real_cli_failures_reach_the_status_area_as_one_message(
    argv: list[str], code: int, text: str, deepinfer_home: Path
) -> None:
    outcome = CliProcess([*DEEPINFER, *argv], ENV()).start().wait(timeout=120)
    assert outcome.returncode == code
    assert outcome.error.startswith(text), outcome.error


def test_a_failing_import_becomes_the_task_error_and_cleanup_runs(deepinfer_home: Path) -> None:
    cleaned: list[bool] = []

    def finish(outcome: Outcome) -> None:
        raise ValueError("the result file is not a labelmap")

    process = CliProcess([*DEEPINFER, "models", "list", "--json"], ENV()).start()
    task = Task(process, finish, lambda: cleaned.append(True))
    task.wait(timeout=120)
    assert task.done and task.error == "the result file is not a labelmap" and cleaned == [True]


def test_registry_listing_pull_and_installed_state_through_the_logic(deepinfer_home: Path) -> None:
    logic = Logic(connection())
    summaries = logic.start_list_models().wait(timeout=120).result
    assert "prostate-taps" in [row["id"] for row in summaries]
    events: list[Progress] = []
    pull = logic.start_pull("prostate-taps")
    while not pull.done:
        events += [e for e in pull.poll() if isinstance(e, Progress)]
        time.sleep(0.02)
    require(not pull.error, f"the TAPS weights come from PyPI (lavlab-taps==1.1.2): {pull.error}")
    assert events and events[-1].task == "download model" and events[-1].done == events[-1].total == 79721153
    logic.start_list_cache().wait(timeout=120)
    assert "prostate-taps@1.0.0" in installed_refs(logic.cache_rows or [])
    card = logic.start_show("prostate-taps").wait(timeout=120).result
    assert card["id"] == "prostate-taps" and logic.installed("prostate-taps") is True
    assert [row.model_id for row in logic.rows("prostate")] == ["prostate-taps"]


@pytest.mark.slow
def test_cancel_ends_a_real_run_and_writes_nothing(colin27: Path, deepinfer_home: Path, tmp_path: Path) -> None:
    """The whole Colin27 head is 48 TAPS windows (minutes); cancel after the first window has started."""
    pulled = CliProcess([*DEEPINFER, "pull", "prostate-taps", "--progress", "json"], ENV()).start().wait(600)
    require(pulled.ok, f"the TAPS weights come from PyPI: {pulled.error}")
    output = tmp_path / "seg.nrrd"
    process = CliProcess(
        [*DEEPINFER, "run", "prostate-taps", "-i", str(colin27), "-o", str(output), "--progress", "json"], ENV()
    ).start()
    deadline = time.monotonic() + 300
    while not (process.last_progress and process.last_progress.task == "sliding window"):
        process.poll()
        assert process.running and time.monotonic() < deadline, process.outcome
        time.sleep(0.05)
    started = time.monotonic()
    process.cancel(grace=3.0)
    outcome = process.wait(timeout=10)
    assert time.monotonic() - started < 8
    assert outcome.cancelled and not outcome.ok and outcome.error == "Cancelled."
    assert outcome.returncode != 0
    assert list(tmp_path.iterdir()) == []  # no result, no sidecar, no temp file
    if os.name != "nt":  # the whole process group is gone
        with pytest.raises(ProcessLookupError):
            os.killpg(process._process.pid, 0)  # type: ignore[union-attr]
