"""nnU-Net v2 results folders for the import's variants (two input channels, an anisotropic grid, region-based
labels with nnU-Net's postprocessing JSON), each with a real checkpoint from nnU-Net's own trainer, and
``nnUNetPredictor``'s output for a real held-out image: no training (seconds, not minutes).

``python nnunet_variants.py WORK``: for each variant V, ``WORK/V/results`` (dataset.json, plans.json,
fold_0/checkpoint_final.pth written by ``nnUNetTrainer.save_checkpoint`` after ``initialize()``: nnU-Net's
weight initialisation, with the output layers scaled ×20 so that the probabilities are decisive rather than all
near 0.5), ``WORK/V/image_N.nii.gz`` (one per channel: Colin27 T1 and its brain mask times the T1, on a coarse
grid) and ``WORK/V/theirs.npz`` (nnU-Net's segmentation, after its postprocessing when the variant has one, and
probabilities; TTA off). Run as a script: nnU-Net reads its folders from the environment at import time.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np
import SimpleITK as sitk

COLIN = Path("/usr/share/mricron/templates")
RESAMPLING = {"is_seg": False, "order": 3, "order_z": 0, "force_separate_z": None}
LARGEST = "remove_all_but_largest_component_from_segmentation"
VARIANTS: dict[str, dict[str, Any]] = {
    # nnU-Net's axis order is SimpleITK's (z, y, x)
    "channels": {"channels": ["T1", "brain T1"], "spacing": [4.0, 4.0, 4.0], "patch": [24, 24, 24],
                 "image_spacing": (3.5, 4.5, 5.0)},
    "anisotropic": {"channels": ["T1"], "spacing": [8.0, 2.5, 2.5], "patch": [8, 32, 32],
                    "image_spacing": (3.0, 3.0, 7.0), "strides": [1, 2, 2]},
    "regions": {"channels": ["T1"], "spacing": [4.0, 4.0, 4.0], "patch": [24, 24, 24],
                "image_spacing": (3.5, 4.5, 5.0),
                "labels": {"background": 0, "head": [1, 2], "brain": [2]}, "regions_class_order": [1, 2],
                "postprocessing": [{"labels_or_regions": [1, 2]}, {"labels_or_regions": [2]}]},
}  # fmt: skip


def statistics(image: sitk.Image) -> dict[str, float]:
    """Foreground intensity statistics of one channel, as nnU-Net's fingerprint records them."""
    values = sitk.GetArrayFromImage(image)
    values = values[values > 0]
    return {"mean": float(values.mean()), "std": float(values.std()), "median": float(np.median(values)),
            "min": float(values.min()), "max": float(values.max()),
            "percentile_00_5": float(np.percentile(values, 0.5)),
            "percentile_99_5": float(np.percentile(values, 99.5))}  # fmt: skip


def plans(variant: dict[str, Any], channels: list[sitk.Image]) -> dict[str, Any]:
    strides = variant.get("strides", [2, 2, 2])
    architecture = {
        "network_class_name": "dynamic_network_architectures.architectures.unet.PlainConvUNet",
        "arch_kwargs": {
            "n_stages": 3,
            "features_per_stage": [4, 8, 16],
            "conv_op": "torch.nn.modules.conv.Conv3d",
            "kernel_sizes": [[3, 3, 3]] * 3,
            "strides": [[1, 1, 1], strides, strides],
            "n_conv_per_stage": [1, 1, 1],
            "n_conv_per_stage_decoder": [1, 1],
            "conv_bias": True,
            "norm_op": "torch.nn.modules.instancenorm.InstanceNorm3d",
            "norm_op_kwargs": {"eps": 1e-05, "affine": True},
            "dropout_op": None,
            "dropout_op_kwargs": None,
            "nonlin": "torch.nn.LeakyReLU",
            "nonlin_kwargs": {"inplace": True},
        },
        "_kw_requires_import": ["conv_op", "norm_op", "dropout_op", "nonlin"],
    }
    # the second channel (when there is one) is normalized as CT: clipped to its percentiles, the dataset's z-score
    schemes = ["ZScoreNormalization", "CTNormalization"][: len(channels)]
    configuration = {
        "data_identifier": "nnUNetPlans_3d_fullres",
        "preprocessor_name": "DefaultPreprocessor",
        "batch_size": 2,
        "patch_size": variant["patch"],
        "median_image_size_in_voxels": [40, 50, 40],
        "spacing": variant["spacing"],
        "normalization_schemes": schemes,
        "use_mask_for_norm": [False] * len(channels),
        "resampling_fn_data": "resample_data_or_seg_to_shape",
        "resampling_fn_seg": "resample_data_or_seg_to_shape",
        "resampling_fn_data_kwargs": RESAMPLING,
        "resampling_fn_seg_kwargs": {**RESAMPLING, "is_seg": True, "order": 1},
        "resampling_fn_probabilities": "resample_data_or_seg_to_shape",
        "resampling_fn_probabilities_kwargs": {**RESAMPLING, "order": 1},
        "architecture": architecture,
        "batch_dice": False,
    }
    return {
        "dataset_name": "Dataset502_Variants",
        "plans_name": "nnUNetPlans",
        "original_median_spacing_after_transp": variant["spacing"],
        "original_median_shape_after_transp": [40, 50, 40],
        "image_reader_writer": "SimpleITKIO",
        "transpose_forward": [0, 1, 2],
        "transpose_backward": [0, 1, 2],
        "configurations": {"3d_fullres": configuration},
        "experiment_planner_used": "ExperimentPlanner",
        "label_manager": "LabelManager",
        "foreground_intensity_properties_per_channel": {str(i): statistics(c) for i, c in enumerate(channels)},
    }


def images(spacing: tuple[float, float, float]) -> list[sitk.Image]:
    """Colin27's T1 and its skull-stripped T1 on a coarse grid (linear), moved off the template's grid."""
    found = []
    for name in ("ch2.nii.gz", "ch2bet.nii.gz"):
        image = sitk.Cast(sitk.ReadImage(str(COLIN / name)), sitk.sitkFloat32)
        size = [round(n * s / t) for n, s, t in zip(image.GetSize(), image.GetSpacing(), spacing, strict=True)]
        shift = sitk.TranslationTransform(3, (-3.0, -6.0, 4.0))
        found.append(sitk.Resample(image, size, shift, sitk.sitkLinear, image.GetOrigin(), spacing,
                                   image.GetDirection(), 0.0))  # fmt: skip
    return found


def make_variant(folder: Path, variant: dict[str, Any], preprocessed_root: Path) -> None:
    import torch
    from nnunetv2.training.nnUNetTrainer.nnUNetTrainer import nnUNetTrainer

    results = folder / "results"
    (results / "fold_0").mkdir(parents=True)
    labels = variant.get("labels", {"background": 0, "brain": 1})
    dataset = {"channel_names": {str(i): n for i, n in enumerate(variant["channels"])}, "labels": labels,
               "numTraining": 4, "file_ending": ".nii.gz"}  # fmt: skip
    if "regions_class_order" in variant:
        dataset["regions_class_order"] = variant["regions_class_order"]
    channels = images(variant["image_spacing"])[: len(variant["channels"])]
    document = plans(variant, channels)
    (results / "plans.json").write_text(json.dumps(document), encoding="utf-8")
    (results / "dataset.json").write_text(json.dumps(dataset), encoding="utf-8")
    if "postprocessing" in variant:
        functions = [LARGEST] * len(variant["postprocessing"])
        pp = {"postprocessing_fns": functions, "postprocessing_kwargs": variant["postprocessing"]}
        (results / "postprocessing.json").write_text(json.dumps(pp), encoding="utf-8")
    # initialize() only asks the preprocessed folder which file format the training data has
    preprocessed = preprocessed_root / document["dataset_name"] / "nnUNetPlans_3d_fullres"
    preprocessed.mkdir(parents=True, exist_ok=True)
    (preprocessed / "no_case.npz").touch()
    torch.manual_seed(0)
    trainer = nnUNetTrainer({**document, "continue_training": False}, "3d_fullres", 0, dataset, torch.device("cpu"))
    trainer.initialize()
    with torch.no_grad():
        for layer in trainer.network.decoder.seg_layers:
            layer.weight *= 5
    trainer.save_checkpoint(str(results / "fold_0" / "checkpoint_final.pth"))
    files = []
    for index, image in enumerate(channels):
        files.append(str(folder / f"image_{index}.nii.gz"))
        sitk.WriteImage(image, files[-1])
    predict(results, files, variant, folder / "theirs.npz")


def predict(results: Path, files: list[str], variant: dict[str, Any], out: Path) -> None:
    import torch
    from nnunetv2.imageio.simpleitk_reader_writer import SimpleITKIO
    from nnunetv2.inference.predict_from_raw_data import nnUNetPredictor
    from nnunetv2.postprocessing.remove_connected_components import remove_all_but_largest_component_from_segmentation

    torch.set_num_threads(2)
    image, properties = SimpleITKIO().read_images(files)
    predictor = nnUNetPredictor(use_mirroring=False, device=torch.device("cpu"), allow_tqdm=False)
    predictor.initialize_from_trained_model_folder(str(results), use_folds=(0,))
    segmentation, probabilities = predictor.predict_single_npy_array(image, dict(properties), None, None, True)
    for kwargs in variant.get("postprocessing", []):
        groups = kwargs["labels_or_regions"]
        segmentation = remove_all_but_largest_component_from_segmentation(segmentation, groups)
    np.savez(out, segmentation=segmentation, probabilities=probabilities)


def main(work: Path) -> None:
    for name in ("raw", "preprocessed", "results"):
        os.environ[f"nnUNet_{name}"] = str(work / f"nnunet_{name}")
    for name, variant in VARIANTS.items():
        make_variant(work / name, variant, work / "nnunet_preprocessed")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
