"""Runtime choice: explicit runtimes, ``auto`` measured once and remembered (JSON), the exact-mode accuracy gate,
precision fall-back for cards without fast-mode bounds, and the env defaults. Real ONNX graphs, real runtimes."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from card_documents import minimal_card
from deepinfer._exceptions import RuntimeUnavailableError, UsageError
from deepinfer.card import parse_card
from deepinfer.runners import NetworkCache, OnnxNetwork, OpenVinoNetwork, SelectedNetwork, card_network_cache
from deepinfer.runners import _choice as choice
from deepinfer.runners import _contest as contest
from deepinfer.runners import _spec as spec_module
from deepinfer.runners._runtimes import can_run, candidates, check_choice, host_fingerprint, needs_conversion
from deepinfer.store import sha256_file
from tiny_networks import tiny_onnx

BATCH = np.arange(2 * 4 * 4 * 4, dtype=np.float32).reshape(2, 1, 4, 4, 4) / np.float32(10)


@pytest.fixture
def model(tmp_path: Path) -> Path:
    return tiny_onnx(tmp_path / "double.onnx")


def cache(model: Path, home: Path, runtime: str, **options: Any) -> NetworkCache:
    return NetworkCache("onnx", {"model": model}.__getitem__, 1, runtime=runtime, home=home, **options)


def choices(home: Path) -> dict[str, Any]:
    entries: dict[str, Any] = json.loads((home / "runtimes" / "choices.json").read_text())["entries"]
    return entries


def test_which_runtime_reads_which_card() -> None:
    assert can_run("onnx", "openvino") and can_run("onnx", "onnxruntime") and not can_run("onnx", "torchscript")
    assert can_run("torchscript", "openvino") and needs_conversion("torchscript", "openvino")
    assert not needs_conversion("onnx", "openvino") and not needs_conversion("torchscript", "torchscript")
    assert candidates("onnx")[0] == "onnxruntime"  # the card's own runtime first: the reference
    with pytest.raises(UsageError, match="cannot run a onnx card"):
        check_choice("onnx", "torchscript", "exact")
    with pytest.raises(UsageError, match="unknown runtime"):
        check_choice("onnx", "tensorrt", "exact")
    with pytest.raises(UsageError, match="unknown precision"):
        check_choice("onnx", "auto", "half")
    assert len(host_fingerprint()) == 16


def test_an_explicit_runtime_loads_at_once(model: Path, tmp_path: Path) -> None:
    networks = cache(model, tmp_path, "openvino")
    assert isinstance(networks("model"), OpenVinoNetwork)
    assert networks.describe() == {"model": {"runtime": "openvino", "precision": "f32", "chosen": "requested"}}
    native = NetworkCache("onnx", {"model": model}.__getitem__)
    assert isinstance(native("model"), OnnxNetwork)
    assert native.describe()["model"]["chosen"] == "card"


def test_auto_measures_once_then_remembers(model: Path, tmp_path: Path) -> None:
    first = cache(model, tmp_path, "auto")
    network = first("model")
    assert isinstance(network, SelectedNetwork)
    np.testing.assert_allclose(network(BATCH), 2 * BATCH)
    np.testing.assert_allclose(network(BATCH), 2 * BATCH)  # later calls go to the chosen runtime
    (entry,) = choices(tmp_path).values()
    assert entry["runtime"] in candidates("onnx") and set(entry["seconds"]) == set(candidates("onnx"))
    assert entry["artifact"] == sha256_file(model) and entry["shape"] == [1, 4, 4, 4]
    assert first.describe()["model"] == {"runtime": entry["runtime"], "precision": "f32", "chosen": "measured"}

    second = cache(model, tmp_path, "auto")
    np.testing.assert_allclose(second("model")(BATCH), 2 * BATCH)
    assert second.describe()["model"]["chosen"] == "remembered"
    assert len(choices(tmp_path)) == 1


def test_a_remembered_runtime_and_shape_are_prepared_in_the_background(model: Path, tmp_path: Path) -> None:
    fresh = cache(model, tmp_path, "auto")("model")
    assert isinstance(fresh, SelectedNetwork)
    assert fresh.prepare() is False  # nothing remembered yet: nothing to do
    cache(model, tmp_path, "auto")("model")(BATCH)
    path = tmp_path / "runtimes" / "choices.json"
    document = json.loads(path.read_text())
    (entry,) = document["entries"].values()
    entry["runtime"] = "openvino"  # the runtime that compiles ahead for a shape
    path.write_text(json.dumps(document))

    selected = cache(model, tmp_path, "auto")("model")  # opening the network starts the preparation
    assert isinstance(selected, SelectedNetwork) and selected.early is not None
    prepared = selected.early.result(timeout=60)
    assert prepared is not None and prepared[0] == "openvino"
    network = prepared[1]
    assert isinstance(network, OpenVinoNetwork) and ((1, 4, 4, 4), False) in network._compiled  # before any call
    np.testing.assert_allclose(selected(BATCH[:1]), 2 * BATCH[:1])
    assert selected.chosen is not None and selected.chosen.network is network  # the prepared one runs
    assert selected.describe() == {"runtime": "openvino", "precision": "f32", "chosen": "remembered"}


def test_runtimes_are_measured_only_after_the_preparations_end(
    model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache(model, tmp_path, "auto")("model")(BATCH)  # remembered for shape (1, 4, 4, 4)
    events: list[str] = []
    real_prepare, real_measure = choice.prepare, contest.measure

    def slow_prepare(*args: Any) -> Any:
        time.sleep(0.5)
        prepared = real_prepare(*args)
        events.append("prepared")
        return prepared

    def recorded_measure(*args: Any) -> Any:
        events.append("measuring")
        return real_measure(*args)

    monkeypatch.setattr(choice, "prepare", slow_prepare)
    monkeypatch.setattr(contest, "measure", recorded_measure)
    other = cache(model, tmp_path, "auto")("model")  # prepares the remembered shape, is called with another
    assert isinstance(other, SelectedNetwork)
    small = np.ones((1, 1, 3, 3, 3), np.float32)
    np.testing.assert_allclose(other(small), 2 * small)
    assert other.describe()["chosen"] == "measured"
    assert events == ["prepared", "measuring"]  # no runtime was timed while a compile was running


def test_a_failed_preparation_leaves_the_work_to_the_first_call(model: Path, tmp_path: Path) -> None:
    spec = spec_module.NetworkSpec("onnx", tmp_path / "gone.onnx", "0" * 64, 1, "exact", 1e-3, tmp_path)
    assert choice.prepare(spec, "openvino", (1, 4, 4, 4)) is None
    torchscript = spec_module.NetworkSpec("torchscript", model, "1" * 64, 1, "exact", 1e-3, tmp_path)
    assert choice.prepare(torchscript, "openvino", (1, 4, 4, 4)) is None  # no verified conversion: none made


def test_a_damaged_or_foreign_verdict_is_measured_again(model: Path, tmp_path: Path) -> None:
    cache(model, tmp_path, "auto")("model")(BATCH)
    path = tmp_path / "runtimes" / "choices.json"
    document = json.loads(path.read_text())
    for entry in document["entries"].values():
        entry["runtime"] = "../../bin/sh"  # not a runtime: ignored
    path.write_text(json.dumps(document))
    networks = cache(model, tmp_path, "auto")
    networks("model")(BATCH)
    assert networks.describe()["model"]["chosen"] == "measured"
    path.write_text("{not json")
    networks = cache(model, tmp_path, "auto")
    networks("model")(BATCH)
    assert networks.describe()["model"]["chosen"] == "measured"


def test_exact_mode_rejects_a_runtime_beyond_the_tolerance(
    model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_open = spec_module.open_runtime

    def skewed(spec: Any, runtime: str, batch: Any, reference: Any = None) -> Any:
        network = real_open(spec, runtime, batch, reference)
        return (lambda b: network(b) + 0.5) if runtime == "openvino" else network

    monkeypatch.setattr(spec_module, "open_runtime", skewed)
    networks = cache(model, tmp_path, "auto", tolerance=0.1)
    np.testing.assert_allclose(networks("model")(BATCH), 2 * BATCH)
    (entry,) = choices(tmp_path).values()
    assert entry["runtime"] == "onnxruntime"
    assert "openvino" in entry["rejected"] and entry["max_abs_diff"]["openvino"] == pytest.approx(0.5)

    fast = cache(model, tmp_path / "fast", "auto", precision="fast", tolerance=0.1)
    fast("model")(BATCH)  # fast mode is bounded end to end (card test), not per network
    assert not next(iter(choices(tmp_path / "fast").values()))["rejected"]


def test_no_runtime_that_works_is_an_error(model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeUnavailableError("not today")

    monkeypatch.setattr(spec_module, "open_runtime", broken)
    with pytest.raises(RuntimeUnavailableError, match=r"no runtime could run model: onnxruntime: not today"):
        cache(model, tmp_path, "auto")("model")(BATCH)


def card_document(fast: dict[str, Any] | None) -> dict[str, Any]:
    return minimal_card(
        inputs=[{"type": "volume", "name": "T1"}],
        outputs=[{"type": "probability_map", "name": "P"}],
        artifacts=[{"name": "net", "sha256": "0" * 64, "size": 1, "source": {"kind": "file", "path": "n.onnx"}}],
        pipeline=[{"step": "infer", "params": {"network": "net"}}, {"step": "output", "params": {"name": "P"}}],
        precision={"exact_max_abs_diff": 0.02, **({"fast": fast} if fast is not None else {})},
    )


def test_a_card_without_fast_bounds_runs_exact(model: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DEEPINFER_RUNTIME", raising=False)
    monkeypatch.delenv("DEEPINFER_PRECISION", raising=False)
    plain = parse_card(card_document(None))
    networks = card_network_cache(plain, lambda name: model, precision="fast")
    assert (networks.precision, networks.requested_precision, networks.runtime) == ("exact", "fast", "auto")
    assert networks.tolerance == 0.02 and networks.digests == {"net": "0" * 64}
    declared = parse_card(card_document({"min_dice": 0.98}))
    assert card_network_cache(declared, lambda name: model, precision="fast").precision == "fast"
    assert declared.precision.fast is not None and declared.precision.fast.max_abs_diff is None


def test_environment_defaults(model: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEEPINFER_RUNTIME", "openvino")
    monkeypatch.setenv("DEEPINFER_PRECISION", "fast")
    networks = card_network_cache(parse_card(card_document({})), lambda name: model)
    assert (networks.runtime, networks.precision) == ("openvino", "fast")
    assert card_network_cache(parse_card(card_document({})), lambda name: model, runtime="onnxruntime").runtime == (
        "onnxruntime"
    )


def test_the_fast_check_needs_declared_bounds_and_examples() -> None:
    from deepinfer.package import check_fast_mode

    with pytest.raises(UsageError, match="declares no fast-mode accuracy"):
        check_fast_mode(parse_card(card_document(None)), None)
    with pytest.raises(UsageError, match="no examples"):
        check_fast_mode(parse_card(card_document({})), None)


def test_fast_and_exact_outputs_are_compared_with_the_cards_bounds() -> None:
    from deepinfer.imaging import Geometry, Volume
    from deepinfer.package import compare_modes

    grid = Geometry((0.0, 0.0, 0.0), (1.0, 1.0, 1.0), (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0), (4, 4, 4))
    exact = Volume(np.zeros((4, 4, 4), np.float32), grid)
    fast = Volume(np.full((4, 4, 4), 0.05, np.float32), grid)
    assert compare_modes(parse_card(card_document({})), "e", "P", exact, fast) is None  # no bound declared
    check = compare_modes(parse_card(card_document({"max_abs_diff": 0.04})), "e", "P", exact, fast)
    assert check is not None and not check.passed and check.value == pytest.approx(0.05)
