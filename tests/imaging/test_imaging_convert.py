"""The public API of deepinfer.imaging, and the Volume ↔ SimpleITK conversions other modules build on."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import SimpleITK as sitk
from imaging_helpers import rotation_direction, with_geometry

from deepinfer.imaging import Volume, volume_from_sitk, volume_to_sitk


def test_importing_deepinfer_does_not_import_simpleitk() -> None:
    code = "import sys, deepinfer, deepinfer.imaging; print('SimpleITK' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, encoding="utf-8", check=True)
    assert result.stdout.strip() == "False"


def test_index_ijk_maps_to_the_same_voxel_and_point(colin27_head: Volume) -> None:
    oblique = with_geometry(
        colin27_head, origin=(5.5, -3.25, 7.0), spacing=(0.7, 0.9, 2.5), direction=rotation_direction(25, -40)
    )
    image = volume_to_sitk(oblique)
    assert image.GetSize() == oblique.geometry.size
    for index in [(0, 0, 0), (47, 0, 0), (3, 55, 19), (20, 30, 10)]:
        assert image.GetPixel(index) == oblique.array[index]
        expected = (oblique.geometry.index_to_physical @ np.array([*index, 1.0]))[:3]
        np.testing.assert_allclose(image.TransformIndexToPhysicalPoint(index), expected, rtol=0, atol=1e-12)


def test_conversion_roundtrip_is_exact(colin27_head: Volume) -> None:
    oblique = with_geometry(colin27_head, direction=rotation_direction(10, 80), spacing=(0.3, 0.3, 1.7))
    back = volume_from_sitk(volume_to_sitk(oblique), {"note": "kept"})
    assert back.geometry == oblique.geometry
    np.testing.assert_array_equal(back.array, oblique.array)
    assert back.metadata == {"note": "kept"}


def test_bool_and_float16_are_widened(colin27_head: Volume) -> None:
    mask = colin27_head.with_array(np.asarray(colin27_head.array) > 60)
    assert volume_to_sitk(mask).GetPixelID() == sitk.sitkUInt8
    half = colin27_head.with_array(colin27_head.array.astype(np.float16))
    assert volume_to_sitk(half).GetPixelID() == sitk.sitkFloat32
    with pytest.raises(ValueError, match="complex128"):
        volume_to_sitk(colin27_head.with_array(colin27_head.array.astype(np.complex128)))


def test_from_sitk_refuses_what_is_not_a_scalar_volume() -> None:
    with pytest.raises(ValueError, match="2D"):
        volume_from_sitk(sitk.Image(4, 5, sitk.sitkInt16))
    with pytest.raises(ValueError, match="3 components"):
        volume_from_sitk(sitk.Image([4, 5, 6], sitk.sitkVectorFloat32, 3))
