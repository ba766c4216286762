"""Intensity steps against the libraries they stand in for (MONAI, numpy, scipy)."""

from __future__ import annotations

import numpy as np
import pytest
from pipeline_helpers import run_steps_on
from scipy import ndimage

from deepinfer.imaging import Volume
from realparts import need


@pytest.fixture
def with_background(small_mr: Volume) -> Volume:
    """Real MR with an exactly-zero background (voxels below 60 set to 0)."""
    array = small_mr.array.astype(np.float32)
    return small_mr.with_array(np.where(array < 60, 0.0, array).astype(np.float32))


def test_zscore_over_nonzero_voxels_matches_monai(with_background: Volume) -> None:
    torch = need("torch")
    from monai.transforms import NormalizeIntensity

    image = run_steps_on(with_background, [("normalize_zscore", {"nonzero": True})]).image
    tensor = torch.as_tensor(with_background.array[None])
    normalized = NormalizeIntensity(nonzero=True, channel_wise=True)(tensor)
    assert isinstance(normalized, torch.Tensor)
    expected = normalized.numpy()
    np.testing.assert_allclose(image.data, expected, rtol=0, atol=2e-5)
    assert (image.data[0][with_background.array == 0] == 0).all()


def test_zscore_over_all_voxels_with_scale_and_shift(small_mr: Volume) -> None:
    image = run_steps_on(small_mr, [("normalize_zscore", {"scale": 0.226, "shift": 0.449})]).image
    assert image.data.dtype == np.float32
    assert float(image.data.mean()) == pytest.approx(0.449, abs=1e-5)
    assert float(image.data.std()) == pytest.approx(0.226, abs=1e-5)


def test_clip_percentiles(with_background: Volume) -> None:
    image = run_steps_on(with_background, [("clip_percentiles", {"lower": 5, "upper": 95, "nonzero": True})]).image
    values = with_background.array[with_background.array != 0]
    low, high = np.percentile(values, [5, 95])
    assert image.data.min() == pytest.approx(low) and image.data.max() == pytest.approx(high)


def test_minmax_rescales_to_the_range(small_mr: Volume) -> None:
    image = run_steps_on(small_mr, [("normalize_minmax", {"minimum": -1.0, "maximum": 2.0})]).image
    assert image.data.min() == pytest.approx(-1.0) and image.data.max() == pytest.approx(2.0)


def test_gaussian_smooth_equals_scipy_on_spatial_axes(small_mr: Volume) -> None:
    logits = (small_mr.array.astype(np.float32) - 100) / 30
    image = run_steps_on(small_mr.with_array(logits), [("gaussian_smooth", {"sigma": 2.5, "mode": "nearest"})]).image
    # TAPS blurs a (1, 1, X, Y, Z) array with sigma (0, 0, s, s, s)
    expected = ndimage.gaussian_filter(logits[None, None], sigma=(0, 0, 2.5, 2.5, 2.5), mode="nearest")[0]
    np.testing.assert_array_equal(image.data, expected)


def test_gaussian_smooth_in_millimetres(odd_grid: Volume) -> None:
    image = run_steps_on(odd_grid, [("gaussian_smooth", {"sigma": 1.4, "units": "mm"})]).image
    sigma = [1.4 / s for s in odd_grid.geometry.spacing]
    np.testing.assert_allclose(image.data[0], ndimage.gaussian_filter(odd_grid.array, sigma, mode="nearest"), atol=1e-5)
