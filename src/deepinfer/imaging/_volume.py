"""`Volume`: a voxel array with its physical geometry (LPS, as ITK)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt


@dataclass(frozen=True)
class Geometry:
    """Where the voxels are: index (i, j, k) → LPS point ``origin + direction @ (spacing * index)``."""

    origin: tuple[float, float, float]
    spacing: tuple[float, float, float]
    direction: tuple[float, ...]  # 9 values, row-major 3×3, columns are the axis directions
    size: tuple[int, int, int]

    def __post_init__(self) -> None:
        if len(self.direction) != 9 or len(self.origin) != 3 or len(self.spacing) != 3 or len(self.size) != 3:
            raise ValueError("geometry must be 3D")

    @property
    def direction_matrix(self) -> npt.NDArray[np.float64]:
        return np.asarray(self.direction, dtype=np.float64).reshape(3, 3)

    @property
    def index_to_physical(self) -> npt.NDArray[np.float64]:
        """The 4×4 affine from voxel index to LPS millimetres."""
        affine = np.eye(4)
        affine[:3, :3] = self.direction_matrix * np.asarray(self.spacing)[None, :]
        affine[:3, 3] = self.origin
        return affine

    @property
    def voxel_volume_mm3(self) -> float:
        return float(np.prod(self.spacing))

    def with_size(self, size: tuple[int, int, int]) -> Geometry:
        return Geometry(self.origin, self.spacing, self.direction, size)

    def same_as(self, other: Geometry, tolerance: float = 0.0) -> bool:
        """Exact (or within ``tolerance``) equality of size, origin, spacing and direction."""
        if self.size != other.size:
            return False
        ours = np.concatenate([self.origin, self.spacing, self.direction])
        theirs = np.concatenate([other.origin, other.spacing, other.direction])
        return bool(np.all(np.abs(ours - theirs) <= tolerance))


@dataclass
class Volume:
    """A 3D image. ``array`` is indexed ``[i, j, k]`` (ITK index order, x fastest on disk),
    i.e. the transpose of SimpleITK's ``GetArrayFromImage``."""

    array: npt.NDArray[np.generic]
    geometry: Geometry
    metadata: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.array.ndim != 3:
            raise ValueError(f"a Volume is 3D, got an array of shape {self.array.shape}")
        if tuple(self.array.shape) != self.geometry.size:
            shape, size = self.array.shape, self.geometry.size
            raise ValueError(f"array shape {shape} does not match geometry size {size}")

    def with_array(self, array: npt.NDArray[np.generic]) -> Volume:
        """Same geometry, new voxels (shape must match)."""
        return Volume(array, self.geometry, dict(self.metadata))
