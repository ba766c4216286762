"""Where the overlay's three slices come from and where they land in the PNG.

The volume is first viewed in LPS index order (array axes pointing to patient Left, Posterior, Superior,
chosen from the geometry's direction cosines; oblique volumes snap to the nearest axes, as DICOMOrient does).
Each slice is then laid out in the radiological display convention:

- axial: anterior up, patient's right on the viewer's left;
- coronal: superior up, patient's right on the viewer's left;
- sagittal: superior up, anterior on the viewer's left.

Every panel gets an integer pixel box whose aspect ratio is the slice's physical aspect ratio (anisotropic
spacing is respected), so a voxel ``(row, col)`` of a panel maps to known PNG pixels.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import permutations

import numpy as np
import numpy.typing as npt

from deepinfer.imaging import Geometry, Volume

FloatArray = npt.NDArray[np.float32]
IntArray = npt.NDArray[np.int64]
AnyArray = npt.NDArray[np.generic]

PANEL_NAMES = ("axial", "coronal", "sagittal")
# Letters at the (left, right, top, bottom) edges of each panel.
EDGE_LETTERS = {
    "axial": ("R", "L", "A", "P"),
    "coronal": ("R", "L", "S", "I"),
    "sagittal": ("A", "P", "S", "I"),
}
_GEOMETRY_TOLERANCE = 1e-3


@dataclass(frozen=True)
class Box:
    """A rectangle of PNG pixels: ``left``/``top`` from the image's top-left corner."""

    left: int
    top: int
    width: int
    height: int

    def figure_rect(self, size_px: tuple[int, int]) -> tuple[float, float, float, float]:
        """The same rectangle in matplotlib figure fractions (origin bottom-left)."""
        width_px, height_px = size_px
        bottom = height_px - self.top - self.height
        return self.left / width_px, bottom / height_px, self.width / width_px, self.height / height_px


@dataclass(frozen=True)
class Panel:
    """One displayed slice: ``image``/``mask`` rows run top→bottom and columns left→right as shown."""

    name: str
    image: FloatArray
    mask: IntArray
    pixel_mm: tuple[float, float]  # (row height, column width) of one voxel in millimetres
    box: Box

    @property
    def extent_mm(self) -> tuple[float, float]:
        """Physical (height, width) of the slice."""
        rows, cols = self.image.shape
        return rows * self.pixel_mm[0], cols * self.pixel_mm[1]


@dataclass(frozen=True)
class Layout:
    """Bands of the overlay figure, in pixels."""

    size_px: tuple[int, int]
    title_px: int
    legend_px: int
    gap_px: int

    @classmethod
    def for_size(cls, size_px: tuple[int, int]) -> Layout:
        width, height = size_px
        if width < 60 or height < 60:
            raise ValueError(f"an overlay needs at least 60×60 pixels, got {width}×{height}")
        return cls(size_px, title_px=round(0.09 * height), legend_px=round(0.10 * height), gap_px=round(0.01 * width))

    def slots(self) -> list[Box]:
        """Three equal slots side by side between the title band and the legend band."""
        width, height = self.size_px
        slot_width = (width - 4 * self.gap_px) // 3
        slot_height = height - self.title_px - self.legend_px
        return [
            Box(self.gap_px + index * (slot_width + self.gap_px), self.title_px, slot_width, slot_height)
            for index in range(3)
        ]


def lps_view(array: AnyArray, geometry: Geometry) -> tuple[AnyArray, FloatArray]:
    """The array viewed (no copy) with axes pointing to L, P, S, and the spacing in that order."""
    direction = np.abs(geometry.direction_matrix)  # [physical axis, array axis]
    order = max(permutations(range(3)), key=lambda perm: sum(direction[p, a] for p, a in enumerate(perm)))
    view = np.transpose(array, order)
    signed = geometry.direction_matrix
    flips = tuple(p for p, a in enumerate(order) if signed[p, a] < 0)
    if flips:
        view = np.flip(view, axis=flips)
    spacing = np.asarray([geometry.spacing[a] for a in order], dtype=np.float32)
    return view, spacing


def centre_voxel(mask: AnyArray) -> tuple[int, int, int]:
    """The rounded centroid of the nonzero voxels; the array's centre when there are none."""
    inside = mask != 0
    total = int(np.count_nonzero(inside))
    if total == 0:
        x, y, z = (n // 2 for n in mask.shape)
        return x, y, z
    centre = []
    for axis in range(3):
        others = tuple(a for a in range(3) if a != axis)
        profile = inside.sum(axis=others, dtype=np.int64)
        centre.append(round(float(np.dot(np.arange(profile.size), profile)) / total))
    return centre[0], centre[1], centre[2]


def _display_slices(
    view: AnyArray, spacing: FloatArray, centre: tuple[int, int, int]
) -> list[tuple[str, AnyArray, tuple[float, float]]]:
    """(name, 2D slice in display order, (row mm, column mm)) for the three planes through ``centre``."""
    x, y, z = centre
    sx, sy, sz = (float(s) for s in spacing)
    return [
        ("axial", view[:, :, z].T, (sy, sx)),  # rows anterior→posterior, columns right→left
        ("coronal", view[:, y, :].T[::-1], (sz, sx)),  # rows superior→inferior, columns right→left
        ("sagittal", view[x, :, :].T[::-1], (sz, sy)),  # rows superior→inferior, columns anterior→posterior
    ]


def _fit(slot: Box, extent_mm: tuple[float, float]) -> Box:
    """The largest box with the slice's physical aspect ratio, centred in the slot."""
    height_mm, width_mm = extent_mm
    scale = min(slot.width / width_mm, slot.height / height_mm)
    width = max(1, min(slot.width, round(width_mm * scale)))
    height = max(1, min(slot.height, round(height_mm * scale)))
    return Box(slot.left + (slot.width - width) // 2, slot.top + (slot.height - height) // 2, width, height)


def overlay_panels(image: Volume, mask: Volume, size_px: tuple[int, int] = (1500, 560)) -> list[Panel]:
    """The axial, coronal and sagittal panels that :func:`render_overlay` draws, with their pixel boxes."""
    if not image.geometry.same_as(mask.geometry, tolerance=_GEOMETRY_TOLERANCE):
        raise ValueError("the mask must lie on the image's grid (same size, origin, spacing and direction)")
    image_view, spacing = lps_view(image.array, image.geometry)
    mask_view, _ = lps_view(mask.array, mask.geometry)
    centre = centre_voxel(mask_view)
    image_slices = _display_slices(image_view, spacing, centre)
    mask_slices = _display_slices(mask_view, spacing, centre)
    panels = []
    for slot, (name, pixels, pixel_mm), (_, labels, _) in zip(
        Layout.for_size(size_px).slots(), image_slices, mask_slices, strict=True
    ):
        rows, cols = pixels.shape
        box = _fit(slot, (rows * pixel_mm[0], cols * pixel_mm[1]))
        panels.append(Panel(name, pixels.astype(np.float32), labels.astype(np.int64), pixel_mm, box))
    return panels
