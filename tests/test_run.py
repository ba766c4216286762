"""Running a real model end to end through the CLI: outputs, geometry, provenance, bad input, integrity."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import SimpleITK as sitk

DEEPINFER = [sys.executable, "-m", "deepinfer"]


def deepinfer(*argv: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DEEPINFER_HOME": str(home)}
    return subprocess.run(
        [*DEEPINFER, *argv, "--progress", "none"] if argv[0] == "run" else [*DEEPINFER, *argv],
        capture_output=True,
        encoding="utf-8",
        env=env,
        check=False,
        timeout=600,
    )


def geometry(path: Path) -> tuple[object, ...]:
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    reader.ReadImageInformation()
    return reader.GetSize(), reader.GetOrigin(), reader.GetSpacing(), reader.GetDirection()


@pytest.fixture(scope="module")
def small_mr(colin27: Path, tmp_path_factory: pytest.TempPathFactory) -> sitk.Image:
    """A real MR box of 80×80×64 mm: one TAPS window after resampling, so each run takes seconds."""
    image = sitk.ReadImage(str(colin27))
    box: sitk.Image = image[50:130, 70:150, 60:124]
    return box


@pytest.mark.parametrize("suffix", [".nii.gz", ".nii", ".nrrd", ".mha"])
def test_output_geometry_equals_input_geometry_for_every_format(
    suffix: str, small_mr: sitk.Image, tmp_path: Path, shared_home: Path
) -> None:
    source = tmp_path / f"t2{suffix}"
    sitk.WriteImage(small_mr, str(source))
    target = tmp_path / f"seg{suffix}"
    result = deepinfer("run", "prostate-taps", "-i", str(source), "-o", str(target), home=shared_home)
    assert result.returncode == 0, result.stderr
    probability = tmp_path / f"seg.ProstateProbability{suffix}"
    for output in (target, probability):
        assert geometry(output) == geometry(source)
    mask = sitk.GetArrayFromImage(sitk.ReadImage(str(target)))
    assert mask.dtype == np.uint8 and set(np.unique(mask)) <= {0, 1}
    prob = sitk.GetArrayFromImage(sitk.ReadImage(str(probability)))
    assert prob.dtype == np.float32 and prob.min() >= 0.0 and prob.max() <= 1.0
    assert np.array_equal(mask > 0, _largest(prob > 0.55)) or not mask.any()


def _largest(mask: np.ndarray) -> np.ndarray:
    from scipy import ndimage

    labels, count = ndimage.label(mask, structure=np.ones((3, 3, 3)))
    if count <= 1:
        return mask
    sizes = np.bincount(labels.ravel())[1:]
    largest: np.ndarray = labels == (np.argmax(sizes) + 1)
    return largest


def test_threshold_option_and_provenance_sidecar(small_mr: sitk.Image, tmp_path: Path, shared_home: Path) -> None:
    source = tmp_path / "t2.nii.gz"
    sitk.WriteImage(small_mr, str(source))
    low = deepinfer(
        "run",
        "prostate-taps",
        "-i",
        str(source),
        "-o",
        str(tmp_path / "low.nii.gz"),
        "--threshold",
        "0.3",
        home=shared_home,
    )
    high = deepinfer(
        "run",
        "prostate-taps",
        "-i",
        str(source),
        "-o",
        str(tmp_path / "high.nii.gz"),
        "--threshold",
        "0.9",
        home=shared_home,
    )
    assert low.returncode == 0 and high.returncode == 0, low.stderr + high.stderr
    record = json.loads((tmp_path / "low.provenance.json").read_text())
    assert record["model"] == {
        "id": "prostate-taps",
        "version": record["model"]["version"],
        "name": record["model"]["name"],
    }
    assert record["parameters"]["threshold"] == 0.3
    assert record["artifacts"]["model"] == "1e39be9d19f6f71810cb0931a7fe895441cfd318d6002730c918ee99b9d79b91"
    import hashlib

    assert record["inputs"]["T2"]["sha256"] == hashlib.sha256(source.read_bytes()).hexdigest()
    assert record["output"] == {"name": "ProstateMask", "file": "low.nii.gz"}
    assert {"deepinfer_version", "started", "seconds"} <= set(record)
    prob_low = sitk.GetArrayFromImage(sitk.ReadImage(str(tmp_path / "low.ProstateProbability.nii.gz")))
    prob_high = sitk.GetArrayFromImage(sitk.ReadImage(str(tmp_path / "high.ProstateProbability.nii.gz")))
    assert np.array_equal(prob_low, prob_high)  # the threshold changes only the mask
    count_low = int(sitk.GetArrayFromImage(sitk.ReadImage(str(tmp_path / "low.nii.gz"))).sum())
    count_high = int(sitk.GetArrayFromImage(sitk.ReadImage(str(tmp_path / "high.nii.gz"))).sum())
    assert count_low >= count_high


def _four_d(path: Path, image: sitk.Image) -> None:
    sitk.WriteImage(sitk.JoinSeries([image, image]), str(path))


def _nan(path: Path, image: sitk.Image) -> None:
    array = sitk.GetArrayFromImage(image).astype(np.float32)
    array[10, 10, 10] = np.nan
    out = sitk.GetImageFromArray(array)
    out.CopyInformation(image)
    sitk.WriteImage(out, str(path))


def _truncated(path: Path, image: sitk.Image) -> None:
    whole = path.with_name("whole.nii.gz")
    sitk.WriteImage(image, str(whole))
    data = whole.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    whole.unlink()


def _text(path: Path, image: sitk.Image) -> None:
    path.write_bytes(gzip.compress(b"this is not an image\n"))


@pytest.mark.parametrize(
    ("name", "make", "reason"),
    [
        ("missing.nii.gz", None, "no such file"),
        ("notes.nii.gz", _text, ""),
        ("four_d.nii.gz", _four_d, "4D"),
        ("truncated.nii.gz", _truncated, ""),
        ("nan.nii.gz", _nan, "NaN"),
    ],
)
def test_bad_input_exits_3_naming_the_file_and_writes_nothing(
    name: str, make: object, reason: str, small_mr: sitk.Image, tmp_path: Path, shared_home: Path
) -> None:
    source = tmp_path / "in" / name
    source.parent.mkdir()
    if callable(make):
        make(source, small_mr)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    result = deepinfer("run", "prostate-taps", "-i", str(source), "-o", str(out_dir / "seg.nii.gz"), home=shared_home)
    assert result.returncode == 3, result.stderr
    assert name in result.stderr
    assert reason.lower() in result.stderr.lower()
    assert "Traceback" not in result.stderr
    assert list(out_dir.iterdir()) == []


def test_wrong_sha256_never_runs_and_caches_nothing(small_mr: sitk.Image, tmp_path: Path) -> None:
    from deepinfer.registry import default_registry

    card = default_registry().get("prostate-taps").model_dump(mode="json", exclude_none=True)
    card["artifacts"][0]["sha256"] = "0" * 64
    card_path = tmp_path / "tampered.json"
    card_path.write_text(json.dumps(card))
    source = tmp_path / "t2.nii.gz"
    sitk.WriteImage(small_mr, str(source))
    home = tmp_path / "home"
    result = deepinfer("run", str(card_path), "-i", str(source), "-o", str(tmp_path / "seg.nii.gz"), home=home)
    assert result.returncode == 4, result.stderr
    assert "1e39be9d19f6f71810cb0931a7fe895441cfd318d6002730c918ee99b9d79b91" in result.stderr
    assert "0" * 64 in result.stderr
    assert not (tmp_path / "seg.nii.gz").exists()
    cache = home / "artifacts" / "sha256"
    cached = [p.name for p in cache.iterdir()] if cache.exists() else []
    assert cached == []  # neither the artifact nor a partial download is left


def test_a_card_that_requires_a_gpu_is_refused_in_process_and_threads_come_from_the_card(
    small_mr: sitk.Image, tmp_path: Path, shared_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from deepinfer.card import ModelCard, parse_card
    from deepinfer.registry import default_registry
    from deepinfer.run import run_model

    document = default_registry().get("prostate-taps").model_dump(mode="json", exclude_none=True)
    source = tmp_path / "t2.nii.gz"
    sitk.WriteImage(small_mr, str(source))
    gpu_only = json.loads(json.dumps(document))
    gpu_only["resources"] = {"gpu": "required"}
    card_path = tmp_path / "gpu.json"
    card_path.write_text(json.dumps(gpu_only))
    result = deepinfer("run", str(card_path), "-i", str(source), "-o", str(tmp_path / "seg.nii.gz"), home=shared_home)
    assert result.returncode == 1 and "requires a GPU (resources.gpu)" in result.stderr, result.stderr
    assert not (tmp_path / "seg.nii.gz").exists()

    import deepinfer.run._run as run_module

    seen: list[int | None] = []
    from deepinfer.runners import card_network_cache as real_cache

    def recording(card: ModelCard, locate: Callable[[str], Path], threads: int | None = None, **options: Any) -> Any:
        seen.append(threads)
        return real_cache(card, locate, threads, **options)

    monkeypatch.setattr(run_module, "card_network_cache", recording)
    monkeypatch.setenv("DEEPINFER_HOME", str(shared_home))
    two_threads = parse_card({**document, "resources": {"threads": 2}})
    run_model(two_threads, {"T2": source}, {"ProstateMask": tmp_path / "mask.nii.gz"})
    run_model(two_threads, {"T2": source}, {"ProstateMask": tmp_path / "mask1.nii.gz"}, threads=1)
    assert seen == [2, 1]  # the card's threads unless the caller sets them
