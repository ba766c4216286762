"""Shared parts of the batch tests: a cohort of real volumes and broken files, a small real TorchScript card
with a parameter, and reading a batch's manifest."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import numpy as np
import SimpleITK as sitk

from deepinfer.batch import read_manifest
from tiny_networks import darker_voxels_card

REORIENTED_CODE = "LAS"
REORIENTED_SPACING = 1.5  # mm


def reoriented(image: Any) -> Any:
    """``image`` flipped to LAS and resampled to 1.5 mm over the same field of view (centred)."""
    flipped = sitk.DICOMOrient(image, REORIENTED_CODE)
    old_size = np.asarray(flipped.GetSize())
    size = np.round(old_size * np.asarray(flipped.GetSpacing()) / REORIENTED_SPACING).astype(int)
    centre = np.asarray(flipped.TransformContinuousIndexToPhysicalPoint(((old_size - 1) / 2).tolist()))
    direction = np.asarray(flipped.GetDirection()).reshape(3, 3)
    origin = centre - direction @ (REORIENTED_SPACING * (size - 1) / 2)
    return sitk.Resample(
        flipped, size.tolist(), sitk.Transform(), sitk.sitkLinear, origin.tolist(), [REORIENTED_SPACING] * 3,
        flipped.GetDirection(), 0.0, flipped.GetPixelID(),
    )  # fmt: skip


def write_broken_files(folder: Path, colin27: Path) -> dict[str, str]:
    """A truncated NIfTI, a text file under an image name and a 4D image; case id → a word its error names."""
    data = colin27.read_bytes()
    (folder / "truncated.nii.gz").write_bytes(data[: len(data) // 3])
    (folder / "not_an_image.nii.gz").write_text("this is a note, not an image\n", encoding="utf-8")
    four_d = sitk.GetImageFromArray(np.ones((3, 12, 12, 12), dtype=np.float32), isVector=False)
    sitk.WriteImage(four_d, str(folder / "four_d.nii.gz"))
    return {"truncated": "truncated.nii.gz", "not_an_image": "not_an_image.nii.gz", "four_d": "four_d.nii.gz"}


def manifest_rows(out: Path) -> dict[str, dict[str, str]]:
    """The manifest's rows by case id (the file must parse as CSV with the documented header)."""
    return {row["case_id"]: row for row in read_manifest(out / "manifest.csv")}


def tiny_card(folder: Path) -> Path:
    """The tiny TorchScript card of :func:`tiny_networks.darker_voxels_card` (it is the batch machinery under
    test, not the network)."""
    card: Path = darker_voxels_card(folder)
    return card


def gzip_text(path: Path, text: str) -> None:
    path.write_bytes(gzip.compress(text.encode()))
