"""``auto``'s contest under a noisy machine: a warm-up call, rotating timed rounds, the best call of each runtime,
clear losers dropped; a remembered verdict re-checked when its runs turn out much slower. The networks are real
(a tiny ONNX graph on ONNX Runtime and OpenVINO); only the clock is scripted, so that "the machine was busy
during this call" is a fact of the test rather than a hope."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from deepinfer.cli import run_cli
from deepinfer.runners import SelectedNetwork
from deepinfer.runners import _contest as contest
from deepinfer.runners import _spec as spec_module
from deepinfer.runners._spec import NetworkSpec
from deepinfer.store import sha256_file
from tiny_networks import tiny_onnx

BATCH = np.ones((1, 1, 4, 4, 4), np.float32)


class ScriptedClock:
    """A clock that only moves when a network runs, by the seconds the test scripts for that runtime's calls."""

    def __init__(self, costs: dict[str, list[float]]) -> None:
        self.now = 0.0
        self.costs = costs
        self.calls: list[str] = []

    def __call__(self) -> float:
        return self.now

    def run(self, runtime: str) -> None:
        self.calls.append(runtime)
        script = self.costs[runtime]
        self.now += script.pop(0) if len(script) > 1 else script[0]


@pytest.fixture
def scripted(monkeypatch: pytest.MonkeyPatch) -> Callable[[dict[str, list[float]]], ScriptedClock]:
    """Installs a scripted clock: every network opened by a runtime advances it by that runtime's script."""

    def install(costs: dict[str, list[float]]) -> ScriptedClock:
        clock = ScriptedClock(costs)
        real_open = spec_module.open_runtime

        def opened(spec: NetworkSpec, runtime: str, batch: Any, reference: Any = None) -> Any:
            network = real_open(spec, runtime, batch, reference)

            def call(b: Any) -> Any:
                clock.run(runtime)
                return network(b)

            return call

        monkeypatch.setattr(spec_module, "open_runtime", opened)
        return clock

    return install


@pytest.fixture
def model(tmp_path: Path) -> Path:
    return tiny_onnx(tmp_path / "double.onnx")


def selected(model: Path, home: Path, clock: ScriptedClock) -> SelectedNetwork:
    spec = NetworkSpec("onnx", model, sha256_file(model), 1, "exact", 1e-3, home, clock=clock, label="double")
    return SelectedNetwork(spec, "auto")


def verdict(home: Path) -> dict[str, Any]:
    (entry,) = json.loads((home / "runtimes" / "choices.json").read_text())["entries"].values()
    return dict(entry)


def test_a_busy_moment_during_the_first_timing_does_not_pick_the_slower_runtime(
    model: Path, tmp_path: Path, scripted: Callable[[dict[str, list[float]]], ScriptedClock]
) -> None:
    # OpenVINO really takes 1.0 s and ONNX Runtime 2.0 s, but the machine was busy during OpenVINO's warm-up
    # and its first timed call (what a single timing would have seen: 5.0 s against 2.0 s).
    clock = scripted({"onnxruntime": [2.0], "openvino": [4.0, 5.0, 1.0]})
    network = selected(model, tmp_path, clock)
    np.testing.assert_allclose(network(BATCH), 2 * BATCH)
    entry = verdict(tmp_path)
    assert entry["runtime"] == "openvino"
    assert entry["samples"] == {"onnxruntime": [2.0, 2.0], "openvino": [5.0, 1.0]}
    assert entry["seconds"] == {"onnxruntime": 2.0, "openvino": 1.0} and entry["warmup"]["openvino"] == 4.0
    assert network.describe()["chosen"] == "measured"
    # the rounds rotate, so that a burst of load does not always fall on the same runtime's call
    assert clock.calls[2:] == ["onnxruntime", "openvino", "openvino", "onnxruntime"]


def test_close_runtimes_are_timed_more_rounds_clear_losers_are_dropped(
    model: Path, tmp_path: Path, scripted: Callable[[dict[str, list[float]]], ScriptedClock]
) -> None:
    clock = scripted({"onnxruntime": [1.0, 1.0, 1.0, 1.1], "openvino": [1.05]})
    selected(model, tmp_path / "close", clock)(BATCH)
    close = verdict(tmp_path / "close")
    assert close["rounds"] == contest.MAX_ROUNDS and close["runtime"] == "onnxruntime"

    clock = scripted({"onnxruntime": [3.0], "openvino": [1.0]})
    selected(model, tmp_path / "clear", clock)(BATCH)
    clear = verdict(tmp_path / "clear")
    assert clear["rounds"] == contest.MIN_ROUNDS and clear["runtime"] == "openvino"


def test_the_timing_stops_when_its_budget_is_spent(
    model: Path, tmp_path: Path, scripted: Callable[[dict[str, list[float]]], ScriptedClock]
) -> None:
    clock = scripted({"onnxruntime": [contest.BUDGET_S / 3], "openvino": [contest.BUDGET_S / 3 * 1.1]})
    selected(model, tmp_path, clock)(BATCH)
    assert verdict(tmp_path)["rounds"] == 2  # two rounds spent more than the budget


def test_a_remembered_runtime_much_slower_than_its_figure_is_measured_again(
    model: Path, tmp_path: Path, scripted: Callable[[dict[str, list[float]]], ScriptedClock]
) -> None:
    scripted({"onnxruntime": [1.0], "openvino": [2.0]})
    selected(model, tmp_path, scripted({"onnxruntime": [1.0], "openvino": [2.0]}))(BATCH)
    assert verdict(tmp_path)["runtime"] == "onnxruntime"

    as_measured = selected(model, tmp_path, scripted({"onnxruntime": [1.5], "openvino": [2.0]}))
    as_measured(BATCH)  # within RECHECK_FACTOR of its warm-up figure: trusted
    assert as_measured.describe()["chosen"] == "remembered" and "recheck" not in verdict(tmp_path)

    slowed = selected(model, tmp_path, scripted({"onnxruntime": [5.0], "openvino": [2.0]}))
    np.testing.assert_allclose(slowed(BATCH), 2 * BATCH)  # this run still uses it, and flags it
    assert slowed.describe()["chosen"] == "remembered"
    assert verdict(tmp_path)["recheck"]["seconds"] == 5.0

    again = selected(model, tmp_path, scripted({"onnxruntime": [5.0], "openvino": [2.0]}))
    again(BATCH)
    assert again.describe()["chosen"] == "measured"
    entry = verdict(tmp_path)
    assert entry["runtime"] == "openvino" and "recheck" not in entry


def test_runtimes_list_and_forget(
    model: Path,
    tmp_path: Path,
    scripted: Callable[[dict[str, list[float]]], ScriptedClock],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("DEEPINFER_HOME", str(tmp_path))
    assert run_cli(["runtimes", "list"]) == 0
    assert "No runtime choice is remembered yet" in capsys.readouterr().out
    selected(model, tmp_path, scripted({"onnxruntime": [2.0], "openvino": [1.0]}))(BATCH)
    assert run_cli(["runtimes", "list"]) == 0
    shown = capsys.readouterr().out
    assert "input 1×4×4×4, exact → openvino" in shown
    assert "fastest of openvino 1 s, onnxruntime 2 s (best of 2 timed call(s) each, after a warm-up call)" in shown
    assert run_cli(["runtimes", "list", "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert row["runtime"] == "openvino" and row["network"] == "double.onnx" and row["seconds"]["onnxruntime"] == 2.0
    assert run_cli(["runtimes", "forget", "brain-extraction-deepbet"]) == 0  # another model's: this one stays
    assert "forgot 0 remembered" in capsys.readouterr().err
    assert run_cli(["runtimes", "forget"]) == 0
    assert "forgot 1 remembered" in capsys.readouterr().err
    assert not json.loads((tmp_path / "runtimes" / "choices.json").read_text())["entries"]
