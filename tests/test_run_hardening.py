"""Hardening of the run path: working-memory cap, all-or-nothing outputs, full disk, conflicting -o, thin and
empty inputs, provenance of detached voxel data (real cards, real images, the real CLI)."""

from __future__ import annotations

import errno
import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from deepinfer import DeepInferError
from deepinfer.imaging import Geometry, Volume
from deepinfer.run._memory import largest_grid, working_bytes
from test_run import deepinfer


def _write(array: np.ndarray, path: Path, spacing: tuple[float, float, float] = (1.0, 1.0, 1.0)) -> Path:
    image = sitk.GetImageFromArray(array)
    image.SetSpacing(spacing)
    sitk.WriteImage(image, str(path))
    return path


@pytest.fixture(scope="module")
def small_mr_file(colin27: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("mr") / "t2.nii.gz"
    sitk.WriteImage(sitk.ReadImage(str(colin27))[50:130, 70:150, 60:124], str(path))
    return path


def test_a_small_file_that_needs_too_much_memory_is_refused_before_the_model_runs(
    tmp_path: Path, shared_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = _write(np.zeros((256, 256, 256), np.uint8), tmp_path / "big.nii.gz")  # 16 MiB declared, ~70 KB file
    monkeypatch.setenv("DEEPINFER_MAX_WORKING_BYTES", str(256 * 2**20))
    result = deepinfer("run", "brain-extraction-deepbet", "-i", str(source), "-o", str(tmp_path / "m.nii.gz"),
                       home=shared_home)  # fmt: skip
    assert result.returncode == 3, result.stderr
    assert "big.nii.gz" in result.stderr and "DEEPINFER_MAX_WORKING_BYTES" in result.stderr
    assert "0.5 GiB" in result.stderr  # 16 MiB + 8 float32 copies of 256³
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.nii.gz"]


def test_the_estimate_follows_the_cards_resampling() -> None:
    from deepinfer.pipeline import Pipeline
    from deepinfer.registry import default_registry

    card = default_registry().get("prostate-taps")
    steps = Pipeline.from_card(card, {}).steps
    axes = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)
    fine = Volume(np.zeros((100, 100, 10), np.uint8), Geometry((0, 0, 0), (0.4, 0.4, 1.5), axes, (100, 100, 10)))
    # the card resamples to 0.8×0.8×3 mm: an eighth of the voxels; the input grid stays the largest
    assert largest_grid(fine, steps) == 100 * 100 * 10
    coarse = Volume(fine.array, Geometry((0, 0, 0), (1.6, 1.6, 6.0), axes, (100, 100, 10)))
    assert largest_grid(coarse, steps) == 8 * 100 * 100 * 10
    assert working_bytes(coarse, steps) == 100 * 100 * 10 + 8 * 4 * 8 * 100 * 100 * 10


def test_an_output_given_twice_is_refused(small_mr_file: Path, tmp_path: Path, shared_home: Path) -> None:
    result = deepinfer("run", "brain-extraction-deepbet", "-i", str(small_mr_file), "-o", str(tmp_path / "a.nii.gz"),
                       "-o", f"BrainMask={tmp_path / 'b.nii.gz'}", home=shared_home)  # fmt: skip
    assert result.returncode == 2 and "BrainMask is given twice" in result.stderr, result.stderr
    assert list(tmp_path.iterdir()) == []


def test_a_single_slice_the_model_cannot_process_names_the_file(tmp_path: Path, shared_home: Path) -> None:
    rng = np.random.default_rng(0)
    source = _write(rng.integers(0, 200, (1, 100, 80)).astype(np.uint8), tmp_path / "thin.nii.gz")
    result = deepinfer("run", "brain-extraction-deepbet", "-i", str(source), "-o", str(tmp_path / "m.nii.gz"),
                       home=shared_home)  # fmt: skip
    assert result.returncode == 3, result.stderr
    assert "thin.nii.gz" in result.stderr and "80×100×1" in result.stderr and "Traceback" not in result.stderr


def test_a_constant_input_is_reported_as_looking_empty(tmp_path: Path, shared_home: Path) -> None:
    source = _write(np.full((64, 80, 80), 7, np.uint8), tmp_path / "flat.nii.gz", (1.0, 1.0, 1.0))
    target = tmp_path / "m.nii.gz"
    result = deepinfer("run", "prostate-taps", "-i", str(source), "-o", str(target), home=shared_home)
    assert "looks empty" in result.stderr and "flat.nii.gz" in result.stderr, result.stderr
    if result.returncode == 0:
        record = json.loads((tmp_path / "m.provenance.json").read_text())
        assert any("looks empty" in warning for warning in record["warnings"])


def test_provenance_hashes_the_detached_voxel_data(small_mr_file: Path, tmp_path: Path, shared_home: Path) -> None:
    source = tmp_path / "t2.mhd"
    sitk.WriteImage(sitk.ReadImage(str(small_mr_file)), str(source))
    data = next(p for p in tmp_path.iterdir() if p != source)
    result = deepinfer("run", "prostate-taps", "-i", str(source), "-o", str(tmp_path / "m.nii.gz"), home=shared_home)
    assert result.returncode == 0, result.stderr
    record = json.loads((tmp_path / "m.provenance.json").read_text())["inputs"]["T2"]
    assert record["sha256"] == hashlib.sha256(source.read_bytes()).hexdigest()
    assert record["data_files"] == [{"file": data.name, "sha256": hashlib.sha256(data.read_bytes()).hexdigest()}]


def test_a_failed_rerun_keeps_the_earlier_outputs_and_leaves_nothing(
    small_mr_file: Path, tmp_path: Path, shared_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import deepinfer.run._outputs
    from deepinfer.registry import default_registry
    from deepinfer.run import plan_outputs, run_model

    monkeypatch.setenv("DEEPINFER_HOME", str(shared_home))
    card = default_registry().get("prostate-taps")
    plan = plan_outputs(card, tmp_path / "seg.nii.gz")
    run_model(card, {"T2": small_mr_file}, plan, report=True)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    assert "seg.report.png" in before and "seg.provenance.json" in before

    def full_disk(path: Path, data: bytes) -> None:
        path.write_bytes(data[: len(data) // 2])
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(deepinfer.run._outputs, "write_bytes", full_disk)
    with pytest.raises(DeepInferError, match=r"seg\.provenance\.json: cannot write the file: no space left"):
        run_model(card, {"T2": small_mr_file}, plan, {"threshold": 0.9}, report=True)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before
