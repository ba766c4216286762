"""Hostile corpus, part 5: nnU-Net v2 results folders. nnU-Net itself unpickles every checkpoint in full
(``torch.load(weights_only=False)``) and imports any dotted class name its plans give; ``deepinfer card
import-nnunet`` must do neither. Each folder below is refused (exit 3, or 2 for a bad ``--folds``) naming the file
and the JSON path, nothing is written, and the canary a pickle would create never appears."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hostile_cases_bundles import CANARY, RunsCode
from hostile_helpers import Attack, Hostile, hostile, outside

from deepinfer import CardError, UsageError
from deepinfer.package import import_nnunet_results


def plans() -> dict[str, Any]:
    architecture = {
        "network_class_name": "dynamic_network_architectures.architectures.unet.PlainConvUNet",
        "arch_kwargs": {
            "n_stages": 2,
            "features_per_stage": [4, 8],
            "conv_op": "torch.nn.modules.conv.Conv3d",
            "kernel_sizes": [[3, 3, 3], [3, 3, 3]],
            "strides": [[1, 1, 1], [2, 2, 2]],
            "n_conv_per_stage": [1, 1],
            "n_conv_per_stage_decoder": [1],
            "conv_bias": True,
            "norm_op": "torch.nn.modules.instancenorm.InstanceNorm3d",
            "norm_op_kwargs": {"eps": 1e-05, "affine": True},
            "dropout_op": None,
            "dropout_op_kwargs": None,
            "nonlin": "torch.nn.LeakyReLU",
            "nonlin_kwargs": {"inplace": True},
        },
    }
    resampling = {"is_seg": False, "order": 3, "order_z": 0, "force_separate_z": None}
    configuration = {
        "patch_size": [16, 16, 16],
        "spacing": [4.0, 4.0, 4.0],
        "normalization_schemes": ["ZScoreNormalization"],
        "use_mask_for_norm": [False],
        "resampling_fn_data": "resample_data_or_seg_to_shape",
        "resampling_fn_data_kwargs": resampling,
        "resampling_fn_probabilities": "resample_data_or_seg_to_shape",
        "resampling_fn_probabilities_kwargs": {**resampling, "order": 1},
        "architecture": architecture,
    }
    return {
        "dataset_name": "Dataset999_Hostile",
        "transpose_forward": [0, 1, 2],
        "configurations": {"3d_fullres": configuration},
        "foreground_intensity_properties_per_channel": {},
    }


def dataset() -> dict[str, Any]:
    return {"channel_names": {"0": "T1"}, "labels": {"background": 0, "brain": 1}, "file_ending": ".nii.gz"}


def checkpoint(extra: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"network_weights": {}, "trainer_name": "nnUNetTrainer", "inference_allowed_mirroring_axes": (0, 1, 2),
            **(extra or {})}  # fmt: skip


def write_results(
    root: Path,
    change_plans: Callable[[dict[str, Any]], None] = lambda p: None,
    change_dataset: Callable[[dict[str, Any]], None] = lambda d: None,
    saved: Any = None,
) -> Path:
    import torch

    results = root / "results"
    (results / "fold_0").mkdir(parents=True)
    document, labels = plans(), dataset()
    change_plans(document)
    change_dataset(labels)
    (results / "plans.json").write_text(json.dumps(document), encoding="utf-8")
    (results / "dataset.json").write_text(json.dumps(labels), encoding="utf-8")
    torch.save(checkpoint() if saved is None else saved, results / "fold_0" / "checkpoint_final.pth")
    return results


def refused(build: Callable[[Path], Path], folds: str = "0") -> Attack:
    def attack(root: Path) -> object:
        results = build(root)
        try:
            return import_nnunet_results(results, root / "card", folds=folds)
        finally:
            assert not (root / "card").exists(), "nothing is written for a refused results folder"
            for folder in (root, results, Path.cwd()):
                assert not (folder / CANARY).exists(), "a pickle in the checkpoint ran"

    return attack


def _configuration(key: str, value: Any) -> Callable[[Path], Path]:
    return lambda root: write_results(root, lambda p: p["configurations"]["3d_fullres"].__setitem__(key, value))


def _architecture(key: str, value: Any) -> Callable[[Path], Path]:
    def change(document: dict[str, Any]) -> None:
        architecture = document["configurations"]["3d_fullres"]["architecture"]
        if key == "network_class_name":
            architecture[key] = value
        else:
            architecture["arch_kwargs"][key] = value

    return lambda root: write_results(root, change)


def _regions(root: Path) -> Path:
    """Region-based labels without ``regions_class_order``: nnU-Net could not paint them either."""
    return write_results(root, change_dataset=lambda d: d["labels"].__setitem__("brain", [1, 2]))


def _regions_order(order: Any) -> Callable[[Path], Path]:
    def change(document: dict[str, Any]) -> None:
        document["labels"]["brain"] = [1, 2]
        document["regions_class_order"] = order

    return lambda root: write_results(root, change_dataset=change)


def _postprocessing(document: Any, where: str = "postprocessing.json") -> Callable[[Path], Path]:
    def build(root: Path) -> Path:
        results = write_results(root)
        (results / where).parent.mkdir(parents=True, exist_ok=True)
        (results / where).write_text(json.dumps(document), encoding="utf-8")
        return results

    return build


def _postprocessing_link(root: Path) -> Path:
    results = write_results(root)
    (results / "postprocessing.json").symlink_to(outside(root) / "victim.json")
    return results


def _resampling(change: dict[str, Any]) -> Callable[[Path], Path]:
    def edit(document: dict[str, Any]) -> None:
        document["configurations"]["3d_fullres"]["resampling_fn_data_kwargs"].update(change)

    return lambda root: write_results(root, edit)


def _pp(function: Any, kwargs: Any) -> dict[str, Any]:
    return {"postprocessing_fns": [function], "postprocessing_kwargs": [kwargs]}


def _checkpoint_link(root: Path) -> Path:
    results = write_results(root)
    (results / "fold_0" / "checkpoint_final.pth").unlink()
    (results / "fold_0" / "checkpoint_final.pth").symlink_to(outside(root) / "victim.bin")
    return results


NNUNET_CASES: list[Hostile] = [
    hostile("nnunet-pickle-canary", refused(lambda r: write_results(r, saved=checkpoint({"x": RunsCode()}))),
            CardError, r"fold_0/checkpoint_final\.pth: not a plain weights checkpoint"),
    hostile("nnunet-pickle-is-the-checkpoint", refused(lambda r: write_results(r, saved=RunsCode())), CardError,
            "not a plain weights checkpoint"),
    hostile("nnunet-patch-zero", refused(_configuration("patch_size", [0, 16, 16])), CardError,
            r"plans\.json:\$\.configurations\.3d_fullres\.patch_size: must be 3 whole numbers in 1\.\.1024"),
    hostile("nnunet-patch-huge", refused(_configuration("patch_size", [10**6] * 3)), CardError,
            r"patch_size: must be 3 whole numbers in 1\.\.1024"),
    hostile("nnunet-spacing-zero", refused(_configuration("spacing", [0, 4, 4])), CardError,
            r"spacing: must be 3 numbers above 0"),
    hostile("nnunet-class-path", refused(_architecture("network_class_name", "../../outside/evil.Net")), CardError,
            r"network_class_name: '\.\./\.\./outside/evil\.Net' is not supported"),
    hostile("nnunet-layer-import", refused(_architecture("conv_op", "os.system")), CardError,
            r"arch_kwargs\.conv_op: 'os\.system' is not supported"),
    hostile("nnunet-normalization-path", refused(_configuration("normalization_schemes", ["../evil.Norm"])),
            CardError, r"normalization_schemes\[0\]: '\.\./evil\.Norm' is not supported"),
    hostile("nnunet-cascade", refused(_configuration("previous_stage", "3d_lowres")), CardError,
            "cascades need the previous stage's output"),
    hostile("nnunet-regions-without-order", refused(_regions), CardError, r"regions_class_order: must list"),
    hostile("nnunet-regions-order-count", refused(_regions_order([1, 2, 3])), CardError,
            r"regions_class_order: has 3 values for 1 regions"),
    hostile("nnunet-regions-order-path", refused(_regions_order(["../evil"])), CardError,
            r"regions_class_order: must list"),
    hostile("nnunet-separate-z-string", refused(_resampling({"force_separate_z": "os.system"})), CardError,
            r"force_separate_z: must be null, true or false"),
    hostile("nnunet-order-z-huge", refused(_resampling({"order_z": 10**9})), CardError, r"order_z: must be a spline"),
    hostile("nnunet-resampling-extra-option", refused(_resampling({"callback": "os.system"})), CardError,
            r"unknown resampling options \['callback'\]"),
    hostile("nnunet-anisotropy-threshold-absurd", refused(_resampling({"separate_z_anisotropy_threshold": 1e300})),
            CardError, r"separate_z_anisotropy_threshold: must be a number 1\.\.1000"),
    hostile("nnunet-postprocessing-function", refused(_postprocessing(_pp("os.system", {"labels_or_regions": 1}))),
            CardError, r"postprocessing\.json:\$\.postprocessing_fns\[0\]: 'os\.system' is not supported"),
    hostile("nnunet-postprocessing-kwargs", refused(_postprocessing(_pp(
        "remove_all_but_largest_component_from_segmentation", {"labels_or_regions": 1, "path": "/etc/passwd"}))),
        CardError, r"postprocessing_kwargs\[0\]: only labels_or_regions"),
    hostile("nnunet-postprocessing-labels-path", refused(_postprocessing(_pp(
        "remove_all_but_largest_component_from_segmentation", {"labels_or_regions": "../x"}))),
        CardError, r"labels_or_regions: must be labels"),
    hostile("nnunet-postprocessing-unknown-label", refused(_postprocessing(_pp(
        "remove_all_but_largest_component_from_segmentation", {"labels_or_regions": [7]}))),
        CardError, r"labels \[7\] are not the model's"),
    hostile("nnunet-postprocessing-crossval", refused(_postprocessing(_pp("eval", {}),
            "crossval_results_folds_0/postprocessing.json")), CardError,
            r"crossval_results_folds_0/postprocessing\.json:\$\.postprocessing_fns\[0\]"),
    hostile("nnunet-postprocessing-symlink", refused(_postprocessing_link), CardError, "symlink"),
    hostile("nnunet-custom-trainer", refused(lambda r: write_results(r, saved=checkpoint({"trainer_name": "Evil"}))),
            CardError, "may override nnU-Net's inference"),
    hostile("nnunet-folds-dotdot", refused(write_results, folds="../../outside"), UsageError, "--folds"),
    hostile("nnunet-checkpoint-symlink", refused(_checkpoint_link), CardError, "symlinks are refused"),
]  # fmt: skip
