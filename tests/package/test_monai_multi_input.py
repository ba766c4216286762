"""Multi-modal MONAI bundles: ``LoadImaged`` of several keys, the same transforms on each, ``ConcatItemsd`` into the
network's input. The import gives one card input per key, stacked as channels in ConcatItemsd's order, and the
card agrees with MONAI's own bundle run on real volumes (Colin27 and a contrast-inverted copy as two channels,
a tiny two-channel UNet). What MONAI would do differently from the card is refused in one report."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from package_helpers import deepinfer

from deepinfer import CardError
from deepinfer.cli import run_cli
from deepinfer.package import import_monai_bundle
from monai_bundles import (
    BOTH,
    colin27_block,
    inverted_contrast,
    monai_output,
    run_monai_bundle,
    two_channel_bundle,
    write_json,
)
from realparts import need

MAX_LABEL_MISMATCHES = 10  # voxels of 252,000: float32 rounding where two classes tie (see test_monai_parity)


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("modalities")
    t1 = colin27_block(folder / "t1.nii.gz")
    return {"t1": t1, "t2": inverted_contrast(t1, folder / "t2.nii.gz")}


def labels(path: Path) -> np.ndarray:
    return np.asarray(need("nibabel").load(str(path)).dataobj)


@pytest.fixture(scope="module")
def bundle(images: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The two-channel bundle, made once (the import never loads its network); each test copies it."""
    return two_channel_bundle(tmp_path_factory.mktemp("two-channel"), images)


def test_a_two_channel_bundle_matches_monais_run(
    bundle: Path, images: dict[str, Path], tmp_path: Path, deepinfer_home: Path
) -> None:
    bundle = Path(shutil.copytree(bundle, tmp_path / "bundle"))
    config = json.loads((bundle / "configs" / "inference.json").read_text(encoding="utf-8"))
    config["output_dir"] = str(tmp_path / "monai")
    write_json(bundle / "configs" / "inference.json", config)
    run_monai_bundle(bundle)
    card_dir = tmp_path / "card"
    assert run_cli(["card", "import-monai", str(bundle), "-o", str(card_dir)]) == 0
    card = json.loads((card_dir / "card.json").read_text(encoding="utf-8"))
    assert [member["name"] for member in card["inputs"]] == ["t2", "t1"]  # ConcatItemsd's order, not LoadImaged's
    assert card["pipeline"][0] == {"step": "stack_inputs", "params": {"inputs": ["t1"]}}
    steps = [step["step"] for step in card["pipeline"][1:5]]
    assert steps == ["normalize_zscore", "reorient", "resample", "normalize_minmax"]
    assert run_cli(["card", "validate", str(card_dir / "card.json")]) == 0
    ours = tmp_path / "seg.nii.gz"
    assert run_cli(["run", str(card_dir / "card.json"), "-i", f"t1={images['t1']}", "-i", f"t2={images['t2']}",
                    "-o", str(ours), "--progress", "none"]) == 0  # fmt: skip
    theirs = monai_output(tmp_path)
    assert labels(ours).shape == theirs.shape
    mismatches = int((labels(ours) != theirs).sum())
    print(f"\nMONAI parity, two channels: {mismatches} of {theirs.size} voxels differ")
    assert mismatches <= MAX_LABEL_MISMATCHES
    assert {int(v) for v in np.unique(theirs)} == {0, 1, 2}, "the network's output is not trivial"
    swapped = tmp_path / "swapped.nii.gz"
    assert run_cli(["run", str(card_dir / "card.json"), "-i", f"t1={images['t2']}", "-i", f"t2={images['t1']}",
                    "-o", str(swapped), "--progress", "none"]) == 0  # fmt: skip
    assert (labels(swapped) != theirs).mean() > 0.01, "the channel order reaches the network"


def test_inputs_on_different_grids_are_refused_by_name(
    bundle: Path, images: dict[str, Path], tmp_path: Path, shared_home: Path
) -> None:
    sitk = need("SimpleITK")
    assert (
        deepinfer("card", "import-monai", str(bundle), "-o", str(tmp_path / "card"), home=shared_home).returncode == 0
    )
    shifted = sitk.ReadImage(str(images["t1"]))
    shifted.SetOrigin([value + 1.0 for value in shifted.GetOrigin()])
    sitk.WriteImage(shifted, str(tmp_path / "shifted.nii.gz"))
    ran = deepinfer("run", str(tmp_path / "card" / "card.json"), "-i", f"t1={tmp_path / 'shifted.nii.gz'}",
                    "-i", f"t2={images['t2']}", "-o", str(tmp_path / "seg.nii.gz"), "--progress", "none",
                    home=shared_home)  # fmt: skip
    assert ran.returncode != 0 and "'t1'" in ran.stderr and "grid" in ran.stderr, ran.stderr
    assert not (tmp_path / "seg.nii.gz").exists()


def _edit(change: Callable[[list[dict[str, Any]], dict[str, Any]], None]) -> Callable[[Path], None]:
    def edit(bundle: Path) -> None:
        config = json.loads((bundle / "configs" / "inference.json").read_text(encoding="utf-8"))
        change(config["preprocessing"]["transforms"], config)
        write_json(bundle / "configs" / "inference.json", config)

    return edit


def _no_concat(pre: list[dict[str, Any]], config: dict[str, Any]) -> None:
    del pre[5]


def _concat_one(pre: list[dict[str, Any]], config: dict[str, Any]) -> None:
    pre[5]["keys"] = ["t2"]


def _crop_apart(pre: list[dict[str, Any]], config: dict[str, Any]) -> None:
    pre.insert(4, {"_target_": "CropForegroundd", "keys": BOTH, "source_key": "t1"})


def _invert_stacked(pre: list[dict[str, Any]], config: dict[str, Any]) -> None:
    config["postprocessing"]["transforms"][1]["orig_keys"] = "image"


def _invert_apart_after_crop(pre: list[dict[str, Any]], config: dict[str, Any]) -> None:
    pre.insert(6, {"_target_": "CropForegroundd", "keys": "image", "source_key": "image"})


def _pooled_zscore(pre: list[dict[str, Any]], config: dict[str, Any]) -> None:
    pre.insert(6, {"_target_": "NormalizeIntensityd", "keys": "image"})


def _one_key_only(pre: list[dict[str, Any]], config: dict[str, Any]) -> None:
    pre[3]["keys"] = "t1"


def _one_channel_metadata(bundle: Path) -> None:
    metadata = json.loads((bundle / "configs" / "metadata.json").read_text(encoding="utf-8"))
    metadata["network_data_format"]["inputs"]["image"]["num_channels"] = 1
    write_json(bundle / "configs" / "metadata.json", metadata)


REFUSALS = [
    (_edit(_no_concat), r"transforms: LoadImaged loads several keys \(t1, t2\) but no ConcatItemsd"),
    (_edit(_concat_one), r"transforms\[5\]\.keys: ConcatItemsd: must stack every key LoadImaged loads"),
    (_edit(_crop_apart), r"transforms\[4\]\.source_key: CropForegroundd: before ConcatItemsd"),
    (_edit(_invert_stacked), r"orig_keys: Invertd: MONAI's inverse of 'image' undoes only the transforms after"),
    (_edit(_invert_apart_after_crop), r"orig_keys: Invertd: MONAI's inverse of 't1' undoes only that key's"),
    (_edit(_pooled_zscore), r"transforms\[6\]\.channel_wise: NormalizeIntensityd: on the stacked channels"),
    (_edit(_one_key_only), r"transforms\[3\]\.keys: Orientationd: before ConcatItemsd a transform must work on every"),
    (_one_channel_metadata, r"inputs\.image\.num_channels: 1 channels, but LoadImaged loads 2 key\(s\)"),
]


REFUSAL_IDS = ["no-concat", "concat-one", "crop-apart", "invert-stacked", "invert-apart", "pooled-zscore", "one-key",
               "metadata-channels"]  # fmt: skip


@pytest.mark.parametrize(("edit", "message"), REFUSALS, ids=REFUSAL_IDS)
def test_what_monai_would_do_otherwise_is_refused(
    bundle: Path, tmp_path: Path, edit: Callable[[Path], None], message: str
) -> None:
    bundle = Path(shutil.copytree(bundle, tmp_path / "bundle"))
    edit(bundle)
    with pytest.raises(CardError, match=message):
        import_monai_bundle(bundle, tmp_path / "card")
    assert not (tmp_path / "card").exists()
