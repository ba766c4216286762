"""Real ultrasound DICOM for the tests: pydicom's own US files (always installed with pydicom) edited to break
them, and pydicom-data's real US files (obstetric, cine; module ``data_store``).

Import it as ``from ultrasound_files import ...`` (imaging and security tests share it)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from realparts import need

RGB_US = "examples_rgb_color.dcm"  # pydicom's own: US, RGB, 240×320, one frame, uncompressed
CINE_US = "color3d_jpeg_baseline.dcm"  # pydicom-data: US cine, 120 frames of 480×640, YBR_FULL_422 JPEG baseline


def pydicom_file(name: str) -> Path:
    import pydicom

    return Path(pydicom.__file__).parent / "data" / "test_files" / name


def pydicom_data_file(name: str) -> Path:
    """A file of PyPI ``pydicom-data`` (a local skip, a CI failure when it is not installed)."""
    data_store = need("data_store", "needs PyPI pydicom-data (the test extra installs it)")
    return Path(str(data_store.__file__)).parent / "data" / name


def region(
    delta_x: float = 0.02, delta_y: float = 0.02, units: int = 3, box: tuple[int, ...] = (0, 0, 319, 239)
) -> Any:
    """One item of a Sequence of Ultrasound Regions: a 2D tissue (B-mode) region, deltas in ``units`` (3: cm)."""
    from pydicom import Dataset

    item = Dataset()
    item.RegionSpatialFormat = 1
    item.RegionDataType = 1
    item.RegionLocationMinX0, item.RegionLocationMinY0, item.RegionLocationMaxX1, item.RegionLocationMaxY1 = box
    item.PhysicalUnitsXDirection = units
    item.PhysicalUnitsYDirection = units
    item.PhysicalDeltaX = delta_x
    item.PhysicalDeltaY = delta_y
    return item


def edited_us(change: Callable[[Any], None], name: str = RGB_US) -> Callable[[Path], Path]:
    """A builder of ``root/us.dcm``: pydicom's real US file ``name`` with ``change`` applied to its dataset."""

    def build(root: Path) -> Path:
        import pydicom

        dataset = pydicom.dcmread(pydicom_file(name))
        change(dataset)
        root.mkdir(parents=True, exist_ok=True)
        dataset.save_as(root / "us.dcm")
        return root / "us.dcm"

    return build


def with_regions(*items: Any) -> Callable[[Any], None]:
    def change(dataset: Any) -> None:
        from pydicom import Sequence

        dataset.SequenceOfUltrasoundRegions = Sequence(list(items))

    return change
