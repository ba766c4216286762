"""Train a tiny real nnU-Net v2 model on Colin27 brain masks, then predict with nnU-Net's own predictor.

Run as a script (nnU-Net reads its folders from the environment at import time and its predictor uses
multiprocessing): ``python nnunet_training.py train WORK FOLDS [FEATURE_DIVISOR]`` and
``python nnunet_training.py predict WORK RESULTS IMAGE FOLDS:MIRROR:OUT.npz...``. Training goes through nnU-Net's
Python API (fingerprint, plans, preprocessing, a trainer subclass with a few iterations), so the results folder
has nnU-Net's real plans.json, dataset.json and checkpoint format; the model is poor but its output is not trivial.
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
DATASET_ID = 501
DATASET = f"Dataset{DATASET_ID:03d}_Brain"
SPACING = 4.0
CPU = "cpu"


def coarse(
    image: sitk.Image,
    shift_mm: tuple[float, float, float] = (0.0, 0.0, 0.0),
    spacing: tuple[float, float, float] = (SPACING, SPACING, SPACING),
) -> sitk.Image:
    """``image`` on a coarse grid (linear), moved by ``shift_mm`` so variants differ in content."""
    size = [round(n * s / t) for n, s, t in zip(image.GetSize(), image.GetSpacing(), spacing, strict=True)]
    transform = sitk.TranslationTransform(3, shift_mm)
    return sitk.Resample(image, size, transform, sitk.sitkLinear, image.GetOrigin(), spacing, image.GetDirection(), 0.0)


def cases() -> list[tuple[sitk.Image, sitk.Image]]:
    t1 = sitk.Cast(sitk.ReadImage(str(COLIN / "ch2.nii.gz")), sitk.sitkFloat32)
    brain = sitk.Cast(sitk.ReadImage(str(COLIN / "ch2bet.nii.gz")), sitk.sitkFloat32)
    found = []
    for shift in ((0.0, 0.0, 0.0), (6.0, -4.0, 3.0), (-5.0, 7.0, -6.0)):
        image, mask = coarse(t1, shift), coarse(brain, shift)
        label = sitk.Cast(mask > 0, sitk.sitkUInt8)
        found.append((image, label))
    return [*found, (sitk.Flip(found[0][0], [True, False, False]), sitk.Flip(found[0][1], [True, False, False]))]


def held_out() -> sitk.Image:
    t1 = sitk.Cast(sitk.ReadImage(str(COLIN / "ch2.nii.gz")), sitk.sitkFloat32)
    # another grid than the training data's, so that resampling to the plans' spacing and back is exercised
    flipped: sitk.Image = sitk.Flip(coarse(t1, (-3.0, -6.0, 4.0), (3.5, 4.5, 5.0)), [False, True, False])
    return flipped


def write_raw(raw: Path) -> None:
    folder = raw / DATASET
    (folder / "imagesTr").mkdir(parents=True, exist_ok=True)
    (folder / "labelsTr").mkdir(parents=True, exist_ok=True)
    all_cases = cases()
    for index, (image, label) in enumerate(all_cases):
        sitk.WriteImage(image, str(folder / "imagesTr" / f"brain_{index:03d}_0000.nii.gz"))
        sitk.WriteImage(label, str(folder / "labelsTr" / f"brain_{index:03d}.nii.gz"))
    dataset = {
        "channel_names": {"0": "T1"},
        "labels": {"background": 0, "brain": 1},
        "numTraining": len(all_cases),
        "file_ending": ".nii.gz",
        "name": "Brain",
    }
    (folder / "dataset.json").write_text(json.dumps(dataset), encoding="utf-8")


def train(work: Path, folds: list[int], divisor: int = 1) -> None:
    import torch
    from nnunetv2.experiment_planning.plan_and_preprocess_api import (
        extract_fingerprints,
        plan_experiments,
        preprocess,
    )
    from nnunetv2.training.nnUNetTrainer.nnUNetTrainer import nnUNetTrainer

    class TinyTrainer(nnUNetTrainer):  # type: ignore[misc]  # nnunetv2 has no type hints
        def __init__(
            self,
            plans: dict[str, Any],
            configuration: str,
            fold: int,
            dataset_json: dict[str, Any],
            device: torch.device = torch.device(CPU),  # noqa: B008  (nnU-Net's own signature)
        ) -> None:
            super().__init__(plans, configuration, fold, dataset_json, device)
            self.num_iterations_per_epoch = 4
            self.num_val_iterations_per_epoch = 1
            self.num_epochs = 1

    write_raw(work / "raw")
    extract_fingerprints([DATASET_ID], num_processes=1, check_dataset_integrity=False, show_progress_bar=False)
    plan_experiments([DATASET_ID])
    preprocess([DATASET_ID], configurations=("3d_fullres",), num_processes=(1,), show_progress_bar=False)
    preprocessed = work / "preprocessed" / DATASET
    # two folds of the four cases (nnU-Net's default split needs five): its trainer reads this file
    names = [f"brain_{index:03d}" for index in range(4)]
    splits = [{"train": names[2:], "val": names[:2]}, {"train": names[:2], "val": names[2:]}]
    (preprocessed / "splits_final.json").write_text(json.dumps(splits), encoding="utf-8")
    plans = json.loads((preprocessed / "nnUNetPlans.json").read_text(encoding="utf-8"))
    # ``divisor`` > 1: nnU-Net's planned network with its features per stage divided (the same stages, kernels,
    # strides and patch), so that a training step and a window's inference cost a fraction of the planned network's
    architecture = plans["configurations"]["3d_fullres"]["architecture"]["arch_kwargs"]
    architecture["features_per_stage"] = [n // divisor for n in architecture["features_per_stage"]]
    dataset_json = json.loads((preprocessed / "dataset.json").read_text(encoding="utf-8"))
    torch.manual_seed(0)
    for fold in folds:
        plans["continue_training"] = False
        trainer = TinyTrainer(dict(plans), "3d_fullres", fold, dataset_json, torch.device("cpu"))
        trainer.run_training()
        # the predictor finds trainers by name inside nnunetv2: name the base class (same network, same inference)
        final = Path(trainer.output_folder) / "checkpoint_final.pth"
        checkpoint = torch.load(final, map_location="cpu", weights_only=False)
        checkpoint["trainer_name"] = "nnUNetTrainer"
        torch.save(checkpoint, final)
    sitk.WriteImage(held_out(), str(work / "held_out.nii.gz"))


def write_held_out(work: Path) -> None:
    sitk.WriteImage(held_out(), str(work / "held_out.nii.gz"))


def predict(results: Path, image_file: Path, runs: list[str]) -> None:
    """nnU-Net's predictor on ``image_file``, once per run ``FOLDS:MIRROR:OUT.npz`` (e.g. ``0,1:1:both.npz``)."""
    import torch
    from nnunetv2.imageio.simpleitk_reader_writer import SimpleITKIO
    from nnunetv2.inference.predict_from_raw_data import nnUNetPredictor

    torch.set_num_threads(2)
    image, properties = SimpleITKIO().read_images([str(image_file)])
    for run in runs:
        folds, mirror, out = run.split(":", 2)
        predictor = nnUNetPredictor(
            tile_step_size=0.5,
            use_gaussian=True,
            use_mirroring=mirror == "1",
            device=torch.device(CPU),
            allow_tqdm=False,
        )
        predictor.initialize_from_trained_model_folder(str(results), use_folds=tuple(int(f) for f in folds.split(",")))
        segmentation, probabilities = predictor.predict_single_npy_array(image, dict(properties), None, None, True)
        np.savez(out, segmentation=segmentation, probabilities=probabilities)


def main(argv: list[str]) -> None:
    work = Path(argv[1])
    for name in ("raw", "preprocessed", "results"):
        os.environ[f"nnUNet_{name}"] = str(work / name)
    if argv[0] == "train":
        train(work, [int(f) for f in argv[2].split(",")], int(argv[3]) if len(argv) > 3 else 1)
    else:
        predict(Path(argv[2]), Path(argv[3]), argv[4:])


if __name__ == "__main__":
    main(sys.argv[1:])
