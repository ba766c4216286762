"""The steps a MONAI bundle import maps onto, against MONAI's own transforms on the same arrays:
``scale_intensity_range`` (``ScaleIntensityRange``) and ``largest_component`` with ``labels`` / ``independent``
(``KeepLargestConnectedComponent``)."""

from __future__ import annotations

import numpy as np
import pytest
from pipeline_helpers import no_networks

from deepinfer import CardError
from deepinfer.imaging import Geometry, Volume
from deepinfer.pipeline import PipelineState, PipelineStep, Tensor, build_steps
from realparts import need

GRID = Geometry((0.0, 0.0, 0.0), (1.0, 1.0, 1.0), (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0), (12, 12, 12))


def apply(name: str, data: np.ndarray, **params: object) -> np.ndarray:
    volume = Volume(np.zeros(GRID.size, np.float32), GRID)
    state = PipelineState(Tensor(data.astype(np.float32), GRID), volume, {}, no_networks)
    PipelineStep.lookup(name)(**params).apply(state)
    return state.image.data


@pytest.mark.parametrize("clip", [True, False])
def test_scale_intensity_range_equals_monai(clip: bool) -> None:
    transforms = need("monai.transforms", "MONAI is the reference for the bundle importer's steps")
    values = np.random.default_rng(3).normal(50, 120, size=(1, *GRID.size)).astype(np.float32)
    ours = apply("scale_intensity_range", values, low=-57, high=164, minimum=0.0, maximum=1.0, clip=clip)
    theirs = transforms.ScaleIntensityRange(a_min=-57, a_max=164, b_min=0.0, b_max=1.0, clip=clip)(values)
    np.testing.assert_allclose(ours, np.asarray(theirs), atol=1e-6)


def test_scale_intensity_range_refuses_an_empty_range() -> None:
    with pytest.raises(CardError, match="'high' must be greater than low"):
        build_steps([("scale_intensity_range", {"low": 5, "high": 5})], {})


def labelled_blobs() -> np.ndarray:
    """Labels 1 and 2, each in a big and a small piece; a piece of 2 touches the big piece of 1."""
    labels = np.zeros(GRID.size, np.float32)
    labels[1:5, 1:5, 1:5] = 1
    labels[9:11, 9:11, 9:11] = 1
    labels[5:8, 1:4, 1:4] = 2  # touches the big piece of label 1
    labels[1:2, 9:10, 1:2] = 2
    labels[8:9, 1:2, 9:11] = 3  # not an applied label: always kept
    labels[1:2, 1:2, 10:11] = 3
    return labels[None]


@pytest.mark.parametrize("independent", [True, False])
@pytest.mark.parametrize("connectivity", [(1, 6), (3, 26)])
def test_largest_component_per_label_equals_monai(independent: bool, connectivity: tuple[int, int]) -> None:
    transforms = need("monai.transforms", "MONAI is the reference for the bundle importer's steps")
    need("skimage", "MONAI's KeepLargestConnectedComponent labels with scikit-image")
    labels = labelled_blobs()
    hops, neighbours = connectivity
    ours = apply("largest_component", labels, labels=[1, 2], independent=independent, connectivity=neighbours)
    reference = transforms.KeepLargestConnectedComponent(
        applied_labels=[1, 2], independent=independent, connectivity=hops
    )
    np.testing.assert_array_equal(ours, np.asarray(reference(labels)))


def test_largest_component_without_labels_keeps_its_meaning() -> None:
    labels = labelled_blobs()
    together = apply("largest_component", labels)
    assert set(np.unique(together)) == {0, 1, 2}  # the touching pieces of 1 and 2 form the largest component
    each = apply("largest_component", labels, independent=True)
    assert (each == 3).sum() == 2 and (each == 1).sum() == 64  # every label keeps its own largest piece


def run_specs(data: np.ndarray, specs: list[tuple[str, dict[str, object]]], grid: Geometry = GRID) -> np.ndarray:
    volume = Volume(np.zeros(grid.size, np.float32), grid)
    state = PipelineState(Tensor(data.astype(np.float32), grid), volume, {}, no_networks)
    for step in build_steps(specs, {}):
        step.apply(state)
    return state.image.data


@pytest.mark.parametrize("clip", [True, False])
def test_percentiles_then_scale_to_range_equal_monais_range_percentiles(clip: bool) -> None:
    transforms = need("monai.transforms", "MONAI is the reference for the bundle importer's steps")
    values = np.random.default_rng(5).gamma(2.0, 50.0, size=(1, *GRID.size)).astype(np.float32)
    ours = run_specs(
        values,
        [
            ("percentiles", {"store_as": "p", "lower": 1.0, "upper": 99.0}),
            ("scale_to_range", {"values": "p", "minimum": -1.0, "maximum": 1.0, "clip": clip}),
        ],
    )
    reference = transforms.ScaleIntensityRangePercentiles(lower=1, upper=99, b_min=-1.0, b_max=1.0, clip=clip)
    np.testing.assert_allclose(ours, np.asarray(reference(values)), atol=2e-6)


@pytest.mark.parametrize(
    ("step", "monai"), [({"minimum": [15, 12, 17]}, "spatial"), ({"multiple": [8, 5, 16]}, "divisible")]
)
def test_pad_equals_monais_symmetric_pads(step: dict[str, object], monai: str) -> None:
    transforms = need("monai.transforms", "MONAI is the reference for the bundle importer's steps")
    values = np.random.default_rng(9).normal(size=(1, *GRID.size)).astype(np.float32)
    ours = run_specs(values, [("pad", {**step, "mode": "constant", "value": 0.0})])
    if monai == "spatial":
        reference = transforms.SpatialPad(spatial_size=step["minimum"])
    else:
        reference = transforms.DivisiblePad(k=step["multiple"])
    np.testing.assert_array_equal(ours, np.asarray(reference(values)))
