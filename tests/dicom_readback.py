"""Independent read-back of the DICOM objects deepinfer writes: dcmqi's SEG decoder and TID 1500 reader, and
dicom3tools' validator.

Import it as ``from dicom_readback import ...`` (imaging and run tests share it)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import SimpleITK as sitk

from deepinfer.imaging import Volume
from realparts import need, require


def dciodvfy_errors(path: Path) -> list[str]:
    """The error lines ``dciodvfy`` reports on ``path`` (warnings are allowed)."""
    require(shutil.which("dciodvfy") is not None, "dciodvfy needs the Debian package dicom3tools")
    done = subprocess.run(["dciodvfy", str(path)], capture_output=True, encoding="utf-8", check=False)
    return [line for line in (done.stdout + done.stderr).splitlines() if line.startswith("Error")]


def dcmqi_measurements(report: Path, folder: Path) -> list[dict[str, Any]]:
    """The measurement groups of a TID 1500 report as dcmqi's ``tid1500reader`` reads them (its JSON)."""
    dcmqi = need("dcmqi", "dcmqi (PyPI) reads TID 1500 reports independently of highdicom")
    tool = Path(str(dcmqi.__file__)).parent / "bin" / "tid1500reader"
    folder.mkdir()
    metadata = folder / "report.json"
    subprocess.run([str(tool), "--inputDICOM", str(report), "--outputMetadata", str(metadata)],
                   capture_output=True, encoding="utf-8", check=True)  # fmt: skip
    return list(json.loads(metadata.read_text(encoding="utf-8"))["Measurements"])


def dcmqi_labelmap(seg: Path, reference: Volume, folder: Path) -> npt.NDArray[np.int64]:
    """The SEG decoded by dcmqi's segimage2itkimage, one image per segment, put on ``reference``'s grid and
    combined into segment numbers (each dcmqi image must lie on that grid's points)."""
    dcmqi = need("dcmqi", "dcmqi (PyPI) decodes DICOM SEG independently of highdicom")
    tool = Path(str(dcmqi.__file__)).parent / "bin" / "segimage2itkimage"
    folder.mkdir()
    subprocess.run([str(tool), "--inputDICOM", str(seg), "--outputDirectory", str(folder), "-t", "nrrd"],
                   capture_output=True, encoding="utf-8", check=True)  # fmt: skip
    combined = np.zeros(reference.geometry.size, dtype=np.int64)
    for path in sorted(folder.glob("*.nrrd"), key=lambda p: int(p.stem)):
        image = sitk.ReadImage(str(path))
        assert np.allclose(image.GetDirection(), reference.geometry.direction, atol=1e-6)
        assert np.allclose(image.GetSpacing(), reference.geometry.spacing, atol=1e-4)
        corner = np.linalg.solve(reference.geometry.index_to_physical, [*image.GetOrigin(), 1.0])[:3]
        start = np.rint(corner).astype(int)
        assert np.allclose(corner, start, atol=1e-3), "dcmqi's image does not lie on the source grid"
        array = sitk.GetArrayFromImage(image).T > 0
        stop = start + np.asarray(array.shape)
        combined[start[0] : stop[0], start[1] : stop[1], start[2] : stop[2]][array] = int(path.stem)
    return combined
