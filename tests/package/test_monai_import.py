"""``deepinfer card import-monai``: the two real bundle configs of the shared formats folder import, validate and
run; everything the importer cannot map exactly is listed in one refusal with JSON paths into the bundle."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from package_helpers import deepinfer

from deepinfer import CardError, UsageError
from deepinfer.card import load_card
from deepinfer.package import import_monai_bundle
from deepinfer.pipeline import validate_card_document
from deepinfer.store import sha256_file
from monai_bundles import LABELS, REAL_BUNDLES, TINY_UNET, colin27_block, onnx_network, parity_bundle, real_bundle
from realparts import need

SPLEEN_STEPS = [
    ("reorient", {"orientation": "RAS"}),
    ("resample", {"spacing": [1.5, 1.5, 2.0], "interpolation": "linear", "extent": "centers", "outside": "nearest",
                  "fill": 0.0, "inverse": "linear"}),
    ("scale_intensity_range", {"low": -57.0, "high": 164.0, "minimum": 0.0, "maximum": 1.0, "clip": True}),
    ("sliding_window", {"network": "model", "roi": [96, 96, 96], "overlap": 0.5, "blend": "constant",
                        "sigma_scale": 0.125, "batch_size": 4, "pad_value": 0.0}),
    ("activation", {"function": "softmax"}),
    ("restore_geometry", {}),
    ("argmax", {}),
    ("output", {"name": "segmentation", "dtype": "uint8"}),
]  # fmt: skip
PROSTATE_TAIL = [
    ("normalize_minmax", {"minimum": 0.0, "maximum": 1.0}),
    ("normalize_zscore", {"nonzero": False, "ddof": 0}),
    ("sliding_window", {"network": "model", "roi": [96, 96, 96], "overlap": 0.5, "blend": "constant",
                        "sigma_scale": 0.125, "batch_size": 4, "pad_value": 0.0}),
    ("argmax", {}),
    ("largest_component", {"connectivity": 26, "labels": [1, 2], "independent": True}),
    ("restore_geometry", {}),
    ("output", {"name": "segmentation", "dtype": "uint8"}),
]  # fmt: skip


@pytest.fixture(scope="module")
def bundles(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("bundles")
    return {name: real_bundle(name, folder, small=True) for name in REAL_BUNDLES}


def steps_of(card_file: Path) -> list[tuple[str, dict[str, Any]]]:
    return [(s["step"], s["params"]) for s in json.loads(card_file.read_text(encoding="utf-8"))["pipeline"]]


def test_the_spleen_bundle_becomes_a_valid_card(bundles: dict[str, Path], tmp_path: Path) -> None:
    card, card_file = import_monai_bundle(bundles["spleen_ct_segmentation"], tmp_path / "card")
    assert validate_card_document(json.loads(card_file.read_text(encoding="utf-8"))) == []
    assert steps_of(card_file) == SPLEEN_STEPS
    assert (card.id, card.version, card.modality, card.runtime.type) == (
        "spleen-ct-segmentation",
        "0.5.9",
        "CT",
        "torchscript",
    )
    assert [(label.value, label.name) for label in card.outputs[0].labels] == [(1, "spleen")]  # type: ignore[union-attr]
    assert [(m.name, m.value) for m in card.metrics] == [("mean_dice", 0.961)]
    model = card.artifact("model")
    copied = tmp_path / "card" / "model.ts"
    assert model.sha256 == sha256_file(copied) == sha256_file(bundles["spleen_ct_segmentation"] / "models" / "model.ts")
    assert model.size == copied.stat().st_size
    assert card.license.code == "NOASSERTION" and any("LICENSE" in note for note in card.notes)


def test_the_prostate_bundle_keeps_its_order_and_says_what_differs(bundles: dict[str, Path], tmp_path: Path) -> None:
    card, card_file = import_monai_bundle(bundles["prostate_mri_anatomy"], tmp_path / "card")
    assert validate_card_document(json.loads(card_file.read_text(encoding="utf-8"))) == []
    steps = steps_of(card_file)
    assert steps[:2] == [("reorient", {"orientation": "RAS"}), steps[1]] and steps[1][1]["spacing"] == [0.5] * 3
    assert steps[2:] == PROSTATE_TAIL
    assert [label.name for label in card.outputs[0].labels] == ["central gland", "peripheral zone"]  # type: ignore[union-attr]
    assert {m.name for m in card.metrics} == {"mean_dice (central gland)", "mean_dice (peripheral zone)"}
    assert any("interpolates the labels linearly" in note for note in card.notes)


def test_an_imported_real_bundle_runs_from_the_command_line(
    bundles: dict[str, Path], tmp_path: Path, shared_home: Path
) -> None:
    imported = deepinfer("card", "import-monai", str(bundles["spleen_ct_segmentation"]), "-o", str(tmp_path / "card"),
                         home=shared_home)  # fmt: skip
    assert imported.returncode == 0, imported.stderr
    card_file = tmp_path / "card" / "card.json"
    assert deepinfer("card", "validate", str(card_file), home=shared_home).returncode == 0
    image = colin27_block(tmp_path / "t1.nii.gz")
    ran = deepinfer("run", str(card_file), "-i", str(image), "-o", str(tmp_path / "seg.nii.gz"), "--progress", "none",
                    home=shared_home)  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    sitk = need("SimpleITK")
    written, source = sitk.ReadImage(str(tmp_path / "seg.nii.gz")), sitk.ReadImage(str(image))
    assert written.GetSize() == source.GetSize() and written.GetOrigin() == source.GetOrigin()
    assert written.GetSpacing() == source.GetSpacing() and written.GetDirection() == source.GetDirection()


def edited_bundle(source: Path, folder: Path, edit: Callable[[dict[str, Any]], None]) -> Path:
    bundle = folder / "edited"
    shutil.copytree(source, bundle)
    config_file = bundle / "configs" / "inference.json"
    config = json.loads(config_file.read_text(encoding="utf-8"))
    edit(config)
    config_file.write_text(json.dumps(config), encoding="utf-8")
    return bundle


def _many_problems(config: dict[str, Any]) -> None:
    pre = config["preprocessing"]["transforms"]
    pre[3]["pixdim"] = "$[1.5] * 3"
    pre[2]["as_closest_canonical"] = "%configs/other.json::x"
    pre.insert(4, {"_target_": "RandFlipd", "keys": "image", "prob": 0.5})
    config["inferer"]["padding_mode"] = "reflect"
    config["inferer"]["roi_size"] = "@missing_key"
    post = config["postprocessing"]["transforms"]
    post[0]["other"] = "$lambda x: x"
    del post[1]  # Invertd: the prediction would stay on the resampled grid


def test_everything_unsupported_is_listed_in_one_refusal(bundles: dict[str, Path], tmp_path: Path) -> None:
    bundle = edited_bundle(bundles["spleen_ct_segmentation"], tmp_path, _many_problems)
    with pytest.raises(CardError) as refused:
        import_monai_bundle(bundle, tmp_path / "card")
    where = {problem.path.removeprefix("configs/inference.json:") for problem in refused.value.problems}
    assert where >= {
        "$.preprocessing.transforms[3].pixdim",
        "$.preprocessing.transforms[2].as_closest_canonical",
        "$.preprocessing.transforms[4]._target_",
        "$.inferer.padding_mode",
        "$.inferer.roi_size",
        "$.postprocessing.transforms[0].other",
        "$.postprocessing",
    }, refused.value.problems
    text = str(refused.value)
    assert "'RandFlipd' is not supported here" in text and "is a Python expression" in text
    assert "names no item of the config" in text and "add Invertd" in text and "is a macro" in text
    assert not (tmp_path / "card").exists()
    cli = deepinfer("card", "import-monai", str(bundle), "-o", str(tmp_path / "card"), home=tmp_path)
    assert cli.returncode == 3 and "RandFlipd" in cli.stderr


def test_monai_would_run_the_canary_and_the_import_does_not(bundles: dict[str, Path], tmp_path: Path) -> None:
    """The positive control of the hostile corpus's canary: MONAI's own parser evaluates the expression."""
    need("monai.bundle")
    canary = "CANARY"
    evil = f"$__import__('os').system('touch {canary}')"
    bundle = edited_bundle(bundles["spleen_ct_segmentation"], tmp_path, lambda config: config.update(evil=evil))
    with pytest.raises(CardError, match=r"\$\.evil: the expression .* reaches for Python internals"):
        import_monai_bundle(bundle, tmp_path / "card")
    assert not (bundle / canary).exists() and not (Path.cwd() / canary).exists()
    parse = "from monai.bundle import ConfigParser as P; p = P(); p.read_config('configs/inference.json'); p['evil']"
    subprocess.run([sys.executable, "-c", parse], cwd=bundle, capture_output=True, encoding="utf-8", check=True)
    assert not (bundle / canary).exists(), "reading a config item evaluates nothing"
    run = parse.replace("p['evil']", "p.get_parsed_content('evil')")
    subprocess.run([sys.executable, "-c", run], cwd=bundle, capture_output=True, encoding="utf-8", check=True)
    assert (bundle / canary).exists(), "MONAI's parser ran the expression: the canary is live"


def test_an_existing_card_folder_is_kept(bundles: dict[str, Path], tmp_path: Path) -> None:
    (tmp_path / "card").mkdir()
    (tmp_path / "card" / "mine.txt").write_text("keep", encoding="utf-8")
    with pytest.raises(UsageError, match="--force"):
        import_monai_bundle(bundles["spleen_ct_segmentation"], tmp_path / "card")
    assert (tmp_path / "card" / "mine.txt").read_text(encoding="utf-8") == "keep"
    card, card_file = import_monai_bundle(bundles["spleen_ct_segmentation"], tmp_path / "card", force=True)
    assert sorted(p.name for p in (tmp_path / "card").iterdir()) == ["card.json", "model.ts"]
    assert load_card(card_file).ref == card.ref


def _sigmoid_threshold(config: dict[str, Any]) -> None:
    config["network_def"]["out_channels"] = 1
    config["postprocessing"]["transforms"][0] = {"_target_": "Activationsd", "keys": "pred", "sigmoid": True}
    config["postprocessing"]["transforms"][2] = {"_target_": "AsDiscreted", "keys": "pred", "threshold": 0.5}


def test_a_threshold_keeps_monais_greater_or_equal(bundles: dict[str, Path], tmp_path: Path) -> None:
    bundle = edited_bundle(bundles["spleen_ct_segmentation"], tmp_path, _sigmoid_threshold)
    with pytest.raises(CardError, match="threshold on 2 channels"):
        import_monai_bundle(bundle, tmp_path / "card")
    metadata_file = bundle / "configs" / "metadata.json"
    metadata = json.loads(metadata_file.read_text(encoding="utf-8"))
    metadata["network_data_format"]["outputs"]["pred"].update(num_channels=1, channel_def={"0": "spleen"})
    metadata_file.write_text(json.dumps(metadata), encoding="utf-8")
    card, card_file = import_monai_bundle(bundle, tmp_path / "card")
    (value,) = [params["value"] for name, params in steps_of(card_file) if name == "threshold"]
    probabilities = np.array([0.5, np.nextafter(np.float32(0.5), np.float32(0)), 0.75], dtype=np.float32)
    transforms = need("monai.transforms")
    assert ((probabilities > value) == np.asarray(transforms.AsDiscrete(threshold=0.5)(probabilities))).all()
    assert [(label.value, label.name) for label in card.outputs[0].labels] == [(1, "spleen")]  # type: ignore[union-attr]


def test_an_onnx_network_gives_an_onnx_card_with_the_same_labels(tmp_path: Path, shared_home: Path) -> None:
    image = colin27_block(tmp_path / "t1.nii.gz")
    bundle = parity_bundle(tmp_path, image, LABELS)
    scripted = import_monai_bundle(bundle, tmp_path / "ts")[1]
    (bundle / "models" / "model.ts").unlink()
    onnx_network(TINY_UNET, bundle / "models" / "model.onnx", seed=7)
    card, onnx_card = import_monai_bundle(bundle, tmp_path / "onnx")
    assert card.runtime.type == "onnx" and card.artifact("model").source.path == "model.onnx"  # type: ignore[union-attr]
    sitk = need("SimpleITK")
    masks = []
    for card_file in (scripted, onnx_card):
        target = card_file.parent / "seg.nii.gz"
        ran = deepinfer("run", str(card_file), "-i", str(image), "-o", str(target), "--progress", "none",
                        home=shared_home)  # fmt: skip
        assert ran.returncode == 0, ran.stderr
        masks.append(sitk.GetArrayFromImage(sitk.ReadImage(str(target))))
    assert set(np.unique(masks[0])) == {0, 1, 2}
    assert (masks[0] != masks[1]).mean() < 1e-4  # two runtimes, float32 rounding only


def _more_transforms(config: dict[str, Any]) -> None:
    pre = config["preprocessing"]["transforms"]
    pre[4] = {"_target_": "ScaleIntensityRangePercentilesd", "keys": "image", "lower": 0.5, "upper": 99.5,
              "b_min": 0.0, "b_max": 1.0, "clip": True}  # fmt: skip
    pre.insert(5, {"_target_": "SpatialPadd", "keys": "image", "spatial_size": [96, 96, 96]})
    pre.insert(6, {"_target_": "DivisiblePadd", "keys": "image", "k": 16})


def test_percentile_scaling_and_pads_map_onto_steps(bundles: dict[str, Path], tmp_path: Path) -> None:
    bundle = edited_bundle(bundles["spleen_ct_segmentation"], tmp_path, _more_transforms)
    card_file = import_monai_bundle(bundle, tmp_path / "card")[1]
    assert steps_of(card_file)[2:6] == [
        ("percentiles", {"store_as": "percentiles2", "lower": 0.5, "upper": 99.5, "nonzero": False}),
        ("scale_to_range", {"values": "percentiles2", "minimum": 0.0, "maximum": 1.0, "clip": True}),
        ("pad", {"minimum": [96, 96, 96], "multiple": 1, "mode": "constant", "value": 0.0}),
        ("pad", {"minimum": 1, "multiple": [16, 16, 16], "mode": "constant", "value": 0.0}),
    ]
    assert validate_card_document(json.loads(card_file.read_text(encoding="utf-8"))) == []
