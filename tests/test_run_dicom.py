"""``deepinfer run … -o result.dcm``: a DICOM SEG of the source series and a DICOM SR of its volumes beside it,
equal voxel for voxel to the NIfTI output of the same run (read back by highdicom and by dcmqi), valid for
dciodvfy; refused clearly (and before any reading) when the input is not DICOM, the output is not a labelmap, or
highdicom is missing.

Real parts: Colin27 (Debian mricron-data) written as DICOM series (shuffled file names) and as a zip of one; a real
ONNX network (built with onnx.helper) run by ONNX Runtime; deepbet's weights for the brain-extraction run; highdicom,
dcmqi and dicom3tools.
"""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from deepinfer.card import load_card
from deepinfer.cli import run_cli
from deepinfer.imaging import Volume, read_dicom_source, read_volume
from deepinfer.run import dicom_sr_path, plan_outputs
from deepinfer.store import sha256_file
from dicom_readback import dciodvfy_errors, dcmqi_labelmap
from dicom_series import UID_ROOT, colin27_block, edit_header, sagittal, write_series
from realparts import need
from test_run import deepinfer


def three_class_card(folder: Path) -> Path:
    """A card whose real ONNX network scores (0.5, z, −z) on the z-scored image: argmax gives label 3 where z > 0.5,
    label 7 where z < −0.5, background between. Label 3 is coded (brain), 7 is not."""
    from onnx import TensorProto, helper, save

    image = helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 1, "D", "H", "W"])
    scores = helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["N", 3, "D", "H", "W"])
    zero = helper.make_tensor("zero", TensorProto.FLOAT, [], [0.0])
    half = helper.make_tensor("half", TensorProto.FLOAT, [], [0.5])
    nodes = [
        helper.make_node("Mul", ["image", "zero"], ["zeros"]),
        helper.make_node("Add", ["zeros", "half"], ["background"]),
        helper.make_node("Neg", ["image"], ["negative"]),
        helper.make_node("Concat", ["background", "image", "negative"], ["scores"], axis=1),
    ]
    graph = helper.make_graph(nodes, "three", [image], [scores], initializer=[zero, half])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    network = folder / "three.onnx"
    save(model, str(network))
    labels = [{"value": 3, "name": "bright", "color": "#f0c05a", "code": "SCT:12738006"},
              {"value": 7, "name": "dark", "color": "#3050ff"}]  # fmt: skip
    document = {
        "id": "three", "name": "Three classes", "version": "2.0.1", "task": "segmentation", "modality": "MR",
        "anatomy": "brain", "license": {"code": "MIT", "weights": "MIT"},
        "inputs": [{"type": "volume", "name": "T1"}],
        "outputs": [{"type": "labelmap", "name": "Regions", "labels": labels},
                    {"type": "volume", "name": "Scores"}],
        "artifacts": [{"name": "model", "sha256": sha256_file(network), "size": network.stat().st_size,
                       "source": {"kind": "file", "path": network.name}}],
        "runtime": {"type": "onnx"},
        "pipeline": [
            {"step": "normalize_zscore", "params": {}},
            {"step": "output", "params": {"name": "Scores", "dtype": "float32"}},
            {"step": "infer", "params": {"network": "model"}},
            {"step": "argmax", "params": {"labels": [0, 3, 7]}},
            {"step": "output", "params": {"name": "Regions", "dtype": "uint8"}},
        ],
    }  # fmt: skip
    path = folder / "three.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def card(tmp_path_factory: pytest.TempPathFactory) -> Path:
    need("onnx", "the test network is built with onnx (the test extra)")
    return three_class_card(tmp_path_factory.mktemp("card"))


@pytest.fixture(scope="module")
def series(colin27: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A sagittal Colin27 block as a DICOM series (shuffled file names) with its zip beside it."""
    folder = tmp_path_factory.mktemp("dicom") / "series"
    write_series(sagittal(colin27_block((36, 40, 14))), folder, f"{UID_ROOT}.60")
    with zipfile.ZipFile(folder.with_suffix(".zip"), "w") as archive:
        for path in sorted(folder.iterdir()):
            archive.write(path, path.name)
    return folder


def run(*argv: str) -> int:
    return run_cli(["run", *argv, "--progress", "none"])


@pytest.mark.parametrize("kind", ["folder", "zip"])
def test_seg_and_sr_equal_the_nifti_output_of_the_same_run(
    kind: str, card: Path, series: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    hd = need("highdicom", "DICOM SEG output needs highdicom (deepinfer[dicom])")
    source = series if kind == "folder" else series.with_suffix(".zip")
    assert run(str(card), "-i", str(source), "-o", str(tmp_path / "regions.nii.gz")) == 0
    assert run(str(card), "-i", str(source), "-o", str(tmp_path / "regions.dcm")) == 0
    err = " ".join(capsys.readouterr().err.split())
    assert "no code for dark in the card's label table; written with the generic code SCT:85756007 (Tissue)" in err
    assert f"Regions volumes (DICOM SR) → {tmp_path / 'regions.sr.dcm'}" in err
    assert {p.name for p in tmp_path.iterdir()} == {
        "regions.nii.gz",
        "regions.dcm",
        "regions.sr.dcm",
        "regions.provenance.json",
        "regions.statistics.csv",
        "regions.statistics.json",
        "regions.Scores.nii.gz",
        "regions.Scores.provenance.json",
    }  # fmt: skip  (the .dcm run rewrote the NIfTI run's sidecars and scores; Scores stays NIfTI)
    nifti = read_volume(tmp_path / "regions.nii.gz")
    numbers = np.select([nifti.array == 3, nifti.array == 7], [1, 2], 0)
    assert {1, 2} <= set(np.unique(numbers).tolist())
    seg = hd.seg.segread(tmp_path / "regions.dcm")
    uids = [str(h.SOPInstanceUID) for h in read_dicom_source(series, f"{UID_ROOT}.60").headers]
    frames = seg.get_pixels_by_source_instance(uids, combine_segments=True, ignore_spatial_locations=True)
    assert np.array_equal(np.transpose(frames, (2, 1, 0)), numbers)
    assert np.array_equal(dcmqi_labelmap(tmp_path / "regions.dcm", nifti, tmp_path / "dcmqi"), numbers)
    assert dciodvfy_errors(tmp_path / "regions.dcm") == [] and dciodvfy_errors(tmp_path / "regions.sr.dcm") == []
    record = json.loads((tmp_path / "regions.provenance.json").read_text())
    assert record["output"] == {"name": "Regions", "file": "regions.dcm", "dicom_sr": "regions.sr.dcm"}
    assert any("generic code" in warning for warning in record["warnings"])
    report = hd.sr.srread(tmp_path / "regions.sr.dcm")
    volumes = [g.get_measurements()[0].value for g in report.content.get_volumetric_roi_measurement_groups()]
    rows = json.loads((tmp_path / "regions.statistics.json").read_text())["labels"]
    assert volumes == pytest.approx([row["volume_ml"] for row in rows])
    assert (seg.SeriesInstanceUID, report.StudyInstanceUID) != (f"{UID_ROOT}.60", "") and seg.Modality == "SEG"


def test_a_dcm_output_of_a_file_input_is_refused_before_reading(
    card: Path, colin27: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(str(card), "-i", str(colin27), "-o", str(tmp_path / "regions.dcm")) == 2
    message = " ".join(capsys.readouterr().err.split())
    assert f"error: {tmp_path / 'regions.dcm'}: a DICOM SEG output needs the source DICOM images" in message
    assert f"{colin27} is not a DICOM folder or zip" in message and "write the result as .nii.gz" in message
    assert "Traceback" not in message and not any(tmp_path.iterdir())


def test_a_series_with_a_path_like_frame_of_reference_exits_3_and_writes_nothing(
    card: Path, colin27: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    need("highdicom", "DICOM SEG output needs highdicom (deepinfer[dicom])")
    files = write_series(colin27_block((16, 16, 5)), tmp_path / "series", f"{UID_ROOT}.62")
    for path in files:
        edit_header(path, lambda dataset: setattr(dataset, "FrameOfReferenceUID", "../../etc"))
    out = tmp_path / "out"
    out.mkdir()
    assert run(str(card), "-i", str(tmp_path / "series"), "-o", str(out / "r.dcm")) == 3
    message = " ".join(capsys.readouterr().err.split())
    assert "its FrameOfReferenceUID '../../etc' is not a valid DICOM UID; no DICOM SEG is written" in message
    assert "Traceback" not in message and not any(out.iterdir())


def test_a_dcm_output_is_refused_for_a_server_run_before_connecting(card: Path, colin27: Path, tmp_path: Path) -> None:
    from deepinfer._exceptions import UsageError
    from deepinfer.cli._remote import run_remote
    from deepinfer.cli._target import RemoteTarget
    from deepinfer.pipeline import no_progress

    target = RemoteTarget("http://127.0.0.1:9")  # nothing listens there: the refusal comes first
    outputs = {"Regions": tmp_path / "r.dcm"}
    with pytest.raises(UsageError, match=r"a DICOM output \(SEG, or SR of class scores\) is written by a local run"):
        run_remote(target, load_card(card), {"T1": colin27}, outputs, {}, no_progress)
    assert not any(tmp_path.iterdir())


def test_only_a_labelmap_output_can_be_dicom(
    card: Path, series: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = run(str(card), "-i", str(series), "-o", str(tmp_path / "r.nii.gz"), "-o", f"Scores={tmp_path / 's.dcm'}")
    assert code == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "only a labelmap output (a SEG) or class scores (an SR) can be written as DICOM; Scores is neither" in err
    assert not any(tmp_path.iterdir())


def test_a_dcm_primary_plans_other_labelmaps_as_dcm_and_other_images_as_nifti(card: Path, tmp_path: Path) -> None:
    plan = plan_outputs(load_card(card), tmp_path / "out.dcm")
    assert plan == {"Regions": tmp_path / "out.dcm", "Scores": tmp_path / "out.Scores.nii.gz"}
    assert dicom_sr_path(tmp_path / "out.dcm") == tmp_path / "out.sr.dcm"


def test_without_highdicom_a_dcm_output_says_how_to_install_it(card: Path, series: Path, tmp_path: Path) -> None:
    script = (
        "import sys\n"
        "sys.modules['highdicom'] = None  # as on a plain install: importing it fails\n"
        "from deepinfer.cli import run_cli\n"
        f"sys.exit(run_cli(['run', {str(card)!r}, '-i', {str(series)!r}, '-o', {str(tmp_path / 'r.dcm')!r},"
        " '--progress', 'none']))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, encoding="utf-8", check=False)
    assert done.returncode == 1, done.stderr
    assert done.stderr.strip().splitlines() == [
        "error: DICOM SEG and SR output needs highdicom: pip install 'deepinfer[dicom]'"
    ]
    assert not any(tmp_path.iterdir())


@pytest.mark.slow
def test_brain_extraction_on_a_dicom_series_writes_a_seg_equal_to_its_nifti(
    colin27: Path, shared_home: Path, tmp_path: Path
) -> None:
    """deepbet on Colin27 written as an axial DICOM series: the SEG equals the NIfTI output voxel for voxel."""
    need("torch", "the deepbet card runs on torch (deepinfer[torch])")
    hd = need("highdicom", "DICOM SEG output needs highdicom (deepinfer[dicom])")
    folder = tmp_path / "series"
    write_series(sitk.Cast(sitk.ReadImage(str(colin27)), sitk.sitkInt16), folder, f"{UID_ROOT}.61")
    for name in ("brain.nii.gz", "brain.dcm"):
        done = deepinfer("run", "brain-extraction-deepbet", "-i", str(folder), "-o", str(tmp_path / name),
                         home=shared_home)  # fmt: skip
        assert done.returncode == 0, done.stderr
    nifti: Volume = read_volume(tmp_path / "brain.nii.gz")
    mask = (np.asarray(nifti.array) > 0).astype(np.int64)
    assert mask.sum() > 1_000_000
    seg = hd.seg.segread(tmp_path / "brain.dcm")
    uids = [str(h.SOPInstanceUID) for h in read_dicom_source(folder, f"{UID_ROOT}.61").headers]
    frames = seg.get_pixels_by_source_instance(uids, combine_segments=True, ignore_spatial_locations=True)
    assert np.array_equal(np.transpose(frames, (2, 1, 0)), mask)
    assert np.array_equal(dcmqi_labelmap(tmp_path / "brain.dcm", nifti, tmp_path / "dcmqi"), mask)
    (item,) = seg.SegmentSequence
    assert item.SegmentedPropertyTypeCodeSequence[0].CodeValue == "12738006"  # the card's SNOMED CT code: brain
    assert item.SegmentationAlgorithmIdentificationSequence[0].AlgorithmName.startswith("brain-extraction-deepbet")
    assert dciodvfy_errors(tmp_path / "brain.dcm") == [] and dciodvfy_errors(tmp_path / "brain.sr.dcm") == []
