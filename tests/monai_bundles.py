"""Builders of MONAI bundle folders for the importer's tests: the two real bundle configs of the shared formats
folder (spleen CT, prostate MRI anatomy) with a real MONAI network of the architecture they name, a small
bundle made with MONAI's own tooling that ``monai.bundle run`` runs for the parity tests, and that bundle's
imported card published in a directory registry (for the front ends' tests: batch, server, Slicer)."""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np

from realparts import need, require

FORMATS = Path(__file__).resolve().parents[1].parent / "shared" / "formats"
REAL_BUNDLES = ("spleen_ct_segmentation", "prostate_mri_anatomy")


def write_json(path: Path, document: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2), encoding="utf-8")
    return path


def script_network(definition: dict[str, Any], path: Path, seed: int = 0) -> Path:
    """The MONAI network a ``network_def`` names (plain values only), in eval mode, as a TorchScript file."""
    torch = need("torch")
    nets = need("monai.networks.nets", "MONAI builds the bundles' networks")
    options = {key: value for key, value in definition.items() if not key.startswith("_")}
    torch.manual_seed(seed)
    network = getattr(nets, definition["_target_"])(**options).eval()
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.jit.script(network).save(str(path))
    return path


def real_bundle(name: str, folder: Path, small: bool = False) -> Path:
    """A bundle folder with the real configs of ``name`` and a TorchScript network of its architecture.

    ``small``: the same architecture with fewer channels per level (the import does not run it)."""
    require(FORMATS.is_dir(), f"the shared formats folder ({FORMATS}) holds the real bundle configs")
    bundle = folder / name
    for part in ("metadata", "inference"):
        target = bundle / "configs" / f"{part}.json"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(FORMATS / f"{name}__{part}.json", target)
    definition = json.loads((bundle / "configs" / "inference.json").read_text(encoding="utf-8"))["network_def"]
    if small:
        definition = {**definition, "channels": [4 * (i + 1) for i in range(len(definition["channels"]))]}
    script_network(definition, bundle / "models" / "model.ts")
    return bundle


def colin27_block(path: Path, brain_only: bool = False) -> Path:
    """A real T1 volume kept small: Colin27 (1 mm) cropped around the brain and taken every second voxel
    (``brain_only``: the same block of its skull-stripped version, ch2bet)."""
    sitk = need("SimpleITK")
    from realparts import COLIN27, COLIN27_BRAIN

    source = COLIN27_BRAIN if brain_only else COLIN27
    require(source.is_file(), f"Debian's mricron-data ({source})")
    image = sitk.ReadImage(str(source))[30:150:2, 40:180:2, 30:150:2]
    sitk.WriteImage(sitk.Cast(image, sitk.sitkFloat32), str(path))
    return path


TINY_UNET: dict[str, Any] = {
    "_target_": "UNet",
    "spatial_dims": 3,
    "in_channels": 1,
    "out_channels": 3,
    "channels": [4, 8, 16],
    "strides": [2, 2],
    "num_res_units": 1,
    "norm": "batch",
}


def parity_inference(image: Path, output_dir: Path, postprocessing: list[dict[str, Any]]) -> dict[str, Any]:
    """An inference.json shaped as the model zoo's, on one image, with the transforms the importer maps."""
    preprocessing = [
        {"_target_": "LoadImaged", "keys": "image"},
        {"_target_": "EnsureChannelFirstd", "keys": "image"},
        {"_target_": "Orientationd", "keys": "image", "axcodes": "RAS"},
        {"_target_": "Spacingd", "keys": "image", "pixdim": [3.0, 2.5, 3.0], "mode": "bilinear"},
        {"_target_": "ScaleIntensityRanged", "keys": "image", "a_min": 10, "a_max": 120, "b_min": 0, "b_max": 1,
         "clip": True},
        {"_target_": "CropForegroundd", "keys": "image", "source_key": "image", "margin": 2},
        {"_target_": "NormalizeIntensityd", "keys": "image", "nonzero": True},
        {"_target_": "EnsureTyped", "keys": "image"},
    ]  # fmt: skip
    save = {"_target_": "SaveImaged", "keys": "pred", "output_dir": "@output_dir", "output_postfix": "seg",
            "separate_folder": False, "print_log": False}  # fmt: skip
    return {
        "imports": ["$import torch"],
        "bundle_root": ".",
        "output_dir": str(output_dir),
        "device": "$torch.device('cpu')",
        "network_def": TINY_UNET,
        "network": "$@network_def.to(@device)",
        "preprocessing": {"_target_": "Compose", "transforms": preprocessing},
        "dataset": {"_target_": "Dataset", "data": [{"image": str(image)}], "transform": "@preprocessing"},
        "dataloader": {"_target_": "DataLoader", "dataset": "@dataset", "batch_size": 1, "num_workers": 0},
        "inferer": {
            "_target_": "SlidingWindowInferer",
            "roi_size": [32, 32, 32],
            "sw_batch_size": 2,
            "overlap": 0.5,
            "mode": "gaussian",
        },
        "postprocessing": {"_target_": "Compose", "transforms": [*postprocessing, save]},
        "evaluator": {
            "_target_": "SupervisedEvaluator",
            "device": "@device",
            "val_data_loader": "@dataloader",
            "network": "@network",
            "inferer": "@inferer",
            "postprocessing": "@postprocessing",
        },
        "checkpointloader": {
            "_target_": "CheckpointLoader",
            "load_path": "$@bundle_root + '/models/model.pt'",
            "load_dict": {"model": "@network"},
        },
        "initialize": ["$@checkpointloader(@evaluator)"],
        "run": ["$@evaluator.run()"],
    }


LABELS: list[dict[str, Any]] = [
    {"_target_": "Activationsd", "keys": "pred", "softmax": True},
    {"_target_": "Invertd", "keys": "pred", "transform": "@preprocessing", "orig_keys": "image",
     "nearest_interp": False, "to_tensor": True},
    {"_target_": "AsDiscreted", "keys": "pred", "argmax": True},
    {"_target_": "KeepLargestConnectedComponentd", "keys": "pred", "applied_labels": [1, 2]},
]  # fmt: skip
PROBABILITIES: list[dict[str, Any]] = [
    {"_target_": "Activationsd", "keys": "pred", "softmax": True},
    {"_target_": "Invertd", "keys": "pred", "transform": "@preprocessing", "orig_keys": "image",
     "nearest_interp": False},
]  # fmt: skip
METADATA: dict[str, Any] = {
    "version": "0.1.0",
    "monai_version": "1.4.0",
    "name": "Tiny brain parts",
    "task": "a test bundle",
    "description": "A tiny untrained UNet (parity, not accuracy)",
    "authors": "deepinfer tests",
    "license": "MIT",
    "eval_metrics": {"mean_dice": 0.5},
    "network_data_format": {
        "inputs": {"image": {"type": "image", "format": "magnitude", "modality": "MR", "num_channels": 1}},
        "outputs": {
            "pred": {
                "type": "image",
                "format": "segmentation",
                "num_channels": 3,
                "channel_def": {"0": "background", "1": "part one", "2": "part two"},
            }
        },
    },
}


def parity_bundle(folder: Path, image: Path, postprocessing: list[dict[str, Any]]) -> Path:
    """A bundle written as MONAI's tooling expects: the UNet's state dict (``models/model.pt``, for MONAI's own
    run) and the same network scripted (``models/model.ts``, what deepinfer imports)."""
    torch = need("torch")
    bundle = folder / "bundle"
    write_json(bundle / "configs" / "metadata.json", METADATA)
    write_json(bundle / "configs" / "inference.json", parity_inference(image, folder / "monai", postprocessing))
    script_network(TINY_UNET, bundle / "models" / "model.ts", seed=7)
    network = torch.jit.load(str(bundle / "models" / "model.ts"))
    torch.save({k: v for k, v in network.state_dict().items()}, bundle / "models" / "model.pt")
    return bundle


RUN_BUNDLE = (
    "from monai.bundle import run; run(config_file='configs/inference.json', meta_file='configs/metadata.json')"
)


def run_monai_bundle(bundle: Path) -> None:
    """MONAI's own run of the bundle (``python -m monai.bundle run`` without the optional ``fire`` CLI)."""
    for module in ("torch", "monai.bundle", "ignite", "skimage", "nibabel"):
        need(module, f"MONAI's bundle run needs {module}")
    done = subprocess.run([sys.executable, "-c", RUN_BUNDLE], cwd=bundle, capture_output=True, encoding="utf-8")
    assert done.returncode == 0, done.stderr[-3000:]


def monai_output(folder: Path) -> np.ndarray:
    """The single file MONAI's SaveImaged wrote (channel last for several channels), as written."""
    nibabel = need("nibabel")
    (written,) = sorted((folder / "monai").glob("*.nii.gz"))
    return np.asarray(nibabel.load(str(written)).dataobj)


def onnx_network(definition: dict[str, Any], path: Path, seed: int) -> Path:
    """The same network as :func:`script_network` with ``seed``, exported to ONNX by torch (a fixed 32³ window)."""
    torch = need("torch")
    nets = need("monai.networks.nets", "MONAI builds the bundles' networks")
    need("onnx", "torch's ONNX exporter")
    options = {key: value for key, value in definition.items() if not key.startswith("_")}
    torch.manual_seed(seed)
    network = getattr(nets, definition["_target_"])(**options).eval()
    example = torch.zeros((1, definition["in_channels"], 32, 32, 32))
    torch.onnx.export(network, (example,), str(path), input_names=["image"], output_names=["pred"], dynamo=False,
                      dynamic_axes={"image": {0: "batch"}, "pred": {0: "batch"}})  # fmt: skip
    return path


TWO_CHANNEL_UNET: dict[str, Any] = {**TINY_UNET, "in_channels": 2}
BOTH = ["t1", "t2"]


def two_channel_inference(images: dict[str, Path], output_dir: Path) -> dict[str, Any]:
    """A multi-modal bundle's inference.json: LoadImaged of two keys, the same transforms on both (z-scored over
    the head, reoriented, resampled), ConcatItemsd in the order t2, t1 (not the loading order), min-max per
    channel, the tiny UNet. The z-score comes before the resampling: after it, which voxels are nonzero depends
    on the last bits of the interpolation (torch's or ITK's), and a voxel of 1e-13 joins the mask as -7.6."""
    config = parity_inference(images["t1"], output_dir, copy.deepcopy(LABELS))  # edited below: LABELS stays
    config["network_def"] = TWO_CHANNEL_UNET
    config["preprocessing"]["transforms"] = [
        {"_target_": "LoadImaged", "keys": BOTH},
        {"_target_": "EnsureChannelFirstd", "keys": BOTH},
        {"_target_": "NormalizeIntensityd", "keys": BOTH, "nonzero": True},
        {"_target_": "Orientationd", "keys": BOTH, "axcodes": "RAS"},
        {"_target_": "Spacingd", "keys": BOTH, "pixdim": [3.0, 2.5, 3.0], "mode": "bilinear"},
        {"_target_": "ConcatItemsd", "keys": ["t2", "t1"], "name": "image"},
        {"_target_": "ScaleIntensityd", "keys": "image", "channel_wise": True},
        {"_target_": "EnsureTyped", "keys": "image"},
    ]
    config["postprocessing"]["transforms"][1]["orig_keys"] = "t1"  # Invertd: t1's transforms, all before the concat
    config["dataset"]["data"] = [{key: str(path) for key, path in images.items()}]
    return config


def two_channel_bundle(folder: Path, images: dict[str, Path]) -> Path:
    """The multi-modal bundle as MONAI's tooling expects it (state dict for MONAI's run, TorchScript for ours)."""
    torch = need("torch")
    bundle = folder / "bundle"
    metadata = json.loads(json.dumps(METADATA))
    metadata["network_data_format"]["inputs"]["image"]["num_channels"] = 2
    write_json(bundle / "configs" / "metadata.json", metadata)
    write_json(bundle / "configs" / "inference.json", two_channel_inference(images, folder / "monai"))
    script_network(TWO_CHANNEL_UNET, bundle / "models" / "model.ts", seed=4)  # three labels, each in bulk
    network = torch.jit.load(str(bundle / "models" / "model.ts"))
    torch.save({k: v for k, v in network.state_dict().items()}, bundle / "models" / "model.pt")
    return bundle


def inverted_contrast(source: Path, path: Path) -> Path:
    """A second "modality" on the same grid: the real T1 with its contrast inverted inside the head (a smooth,
    nonlinear remapping, so that the two channels differ everywhere the head is)."""
    sitk = need("SimpleITK")
    image = sitk.ReadImage(str(source), sitk.sitkFloat32)
    values = sitk.GetArrayFromImage(image)
    remapped = np.where(values > 0, np.sqrt(values.max() - values + 1.0), 0.0).astype(np.float32)
    copy = sitk.GetImageFromArray(remapped)
    copy.CopyInformation(image)
    sitk.WriteImage(copy, str(path))
    return path


IMPORTED_ID = "tiny-brain-parts"  # the id the import gives the parity bundle (from its metadata name)


def published_monai_registry(work: Path, image: Path) -> Path:
    """The parity bundle (labels) imported with ``card import-monai`` and published with ``registry build``: a
    directory registry (``index.json`` + the card folder) under ``work / "cards"``, ready for ``registry add``."""
    from deepinfer.cli import run_cli

    bundle = parity_bundle(work, image, LABELS)
    cards = work / "cards"
    assert run_cli(["card", "import-monai", str(bundle), "-o", str(cards / "tiny")]) == 0
    assert run_cli(["registry", "build", str(cards)]) == 0
    assert IMPORTED_ID in (cards / "index.json").read_text(encoding="utf-8")
    return cards


def monai_registry_home(work: Path, image: Path) -> Path:
    """``work / "home"``: a deepinfer home whose configured registry ``local`` (added with ``registry add``) is
    :func:`published_monai_registry`'s."""
    import pytest

    from deepinfer.cli import run_cli

    cards = published_monai_registry(work, image)
    home = work / "home"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DEEPINFER_HOME", str(home))
        assert run_cli(["registry", "add", "local", str(cards)]) == 0
    return home
