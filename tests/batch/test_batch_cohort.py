"""deepinfer batch, the machinery: case ids and refused collisions, CSV cohorts, the memory bound on workers,
and end to end on real Colin27 crops with a small real TorchScript network: the manifest, broken files failing
alone (exit 5), masks identical to ``deepinfer run``, a rerun that skips, a changed parameter and ``--force``
that redo."""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
from batch_helpers import manifest_rows, reoriented, tiny_card, write_broken_files

from deepinfer._exceptions import UsageError
from deepinfer.batch import COLUMNS, GIB, Case, find_cases, plan_workers
from deepinfer.card import load_card
from deepinfer.cli import run_cli
from dicom_series import UID_ROOT, colin27_block, write_series
from plane_networks import plane_mean_card
from realparts import need, require

FAILED_EXIT = 5


@pytest.fixture
def card_file(tmp_path: Path) -> Path:
    require(importlib.util.find_spec("torch") is not None, "the small TorchScript card needs torch")
    (tmp_path / "card").mkdir()
    return tiny_card(tmp_path / "card")


@pytest.fixture
def cohort(colin27: Path, tmp_path: Path) -> Path:
    """Two real crops of Colin27 (one reoriented to LAS and resampled, as NRRD) and three broken files."""
    folder = tmp_path / "cohort"
    folder.mkdir()
    image = sitk.ReadImage(str(colin27))
    sitk.WriteImage(image[40:140, 50:170, 40:140], str(folder / "ch2 crop.nii.gz"))
    sitk.WriteImage(reoriented(sitk.Cast(image[30:150, 40:180, 30:150], sitk.sitkFloat32)), str(folder / "las.nrrd"))
    write_broken_files(folder, colin27)
    (folder / "README.txt").write_text("not a case\n", encoding="utf-8")
    return folder


@pytest.fixture
def home(deepinfer_home: Path) -> Iterator[Path]:
    yield deepinfer_home


def batch(card: Path, inputs: Path | str, out: Path, *options: str) -> int:
    return run_cli(["batch", str(card), "--inputs", str(inputs), "-o", str(out), "--progress", "none", *options])


# --------------------------------------------------------------------------------------------- cases, workers


def test_case_ids_come_from_file_names_and_collisions_are_refused(card_file: Path, tmp_path: Path) -> None:
    card = load_card(card_file)
    folder = tmp_path / "images"
    folder.mkdir()
    for name in ("b c.nii.gz", "a.nrrd", "notes.txt"):
        (folder / name).write_bytes(b"")
    (folder / "series1").mkdir()
    (folder / "series1" / "1.dcm").write_bytes(b"")
    cohort = find_cases(card, str(folder))
    assert [(c.case_id, c.inputs["T1"].name) for c in cohort.cases] == [
        ("a", "a.nrrd"), ("b_c", "b c.nii.gz"), ("series1", "series1")
    ]  # fmt: skip
    assert [p.name for p in cohort.ignored] == ["notes.txt"]
    assert [c.case_id for c in find_cases(card, str(folder / "*.nrrd")).cases] == ["a"]
    (folder / "a.nii.gz").write_bytes(b"")
    with pytest.raises(UsageError, match=r"a\.nii\.gz and .*a\.nrrd would both be case 'a'"):
        find_cases(card, str(folder))
    with pytest.raises(UsageError, match="no such folder or CSV file, and no file matches it"):
        find_cases(card, str(tmp_path / "nothing*.nii.gz"))


def test_a_csv_names_its_cases_and_inputs(card_file: Path, tmp_path: Path) -> None:
    card = load_card(card_file)
    table = tmp_path / "cohort.csv"
    table.write_text("case_id,T1\nsubject-01,images/s1.nii.gz\nsubject-02,/data/s2.nrrd\n", encoding="utf-8")
    assert find_cases(card, str(table)).cases == [
        Case("subject-01", {"T1": tmp_path / "images" / "s1.nii.gz"}), Case("subject-02", {"T1": Path("/data/s2.nrrd")})
    ]  # fmt: skip
    table.write_text("case_id,T2\nx,a.nii.gz\n", encoding="utf-8")
    with pytest.raises(UsageError, match="tiny has no input T2"):
        find_cases(card, str(table))
    table.write_text("case_id,T1\nx,a.nii.gz\nx,b.nii.gz\n", encoding="utf-8")
    with pytest.raises(UsageError, match="line 3: case id 'x' is given twice"):
        find_cases(card, str(table))
    table.write_text("case_id,T1\n../up,a.nii.gz\n", encoding="utf-8")
    with pytest.raises(UsageError, match="is not a folder name"):
        find_cases(card, str(table))


def test_workers_are_bounded_by_memory_with_a_message() -> None:
    plan = plan_workers(8, 20, 4 * GIB, cores=8, available=10 * GIB)
    assert (plan.workers, plan.threads) == (2, 4)
    assert "--workers 8 reduced to 2" in plan.note and "4.0 GiB" in plan.note and "10.0 GiB is available" in plan.note
    assert plan_workers(None, 3, GIB, cores=16, available=64 * GIB) == plan_workers(3, 3, GIB, 5, 16, 64 * GIB)
    assert plan_workers(None, 3, GIB, cores=16, available=64 * GIB).workers == 3
    assert plan_workers(2, 10, 64 * GIB, cores=2, available=8 * GIB).workers == 1  # at least one


# ------------------------------------------------------------------------------------------------ end to end


def test_a_cohort_gives_its_manifest_and_masks_identical_to_run(
    card_file: Path, cohort: Path, home: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    assert batch(card_file, cohort, out, "--workers", "2") == FAILED_EXIT
    rows = manifest_rows(out)
    assert list(next(iter(rows.values()))) == list(COLUMNS)
    assert {case: row["status"] for case, row in rows.items()} == {
        "ch2_crop": "succeeded", "four_d": "failed", "las": "succeeded", "not_an_image": "failed",
        "truncated": "failed",
    }  # fmt: skip
    assert "four_d.nii.gz: is a 4D image" in rows["four_d"]["error"]
    assert "not_an_image.nii.gz: not a readable NIfTI image" in rows["not_an_image"]["error"]
    assert "truncated.nii.gz: the file is truncated" in rows["truncated"]["error"]
    assert rows["las"]["outputs"] == "Mask=las/Mask.nii.gz" and rows["las"]["error"] == ""
    assert float(rows["las"]["seconds"]) > 0 and float(rows["las"]["peak_memory_mb"]) > 0
    provenance = json.loads((out / "las" / "Mask.provenance.json").read_text(encoding="utf-8"))
    assert provenance["inputs"]["T1"]["file"] == "las.nrrd"
    assert sorted(p.name for p in out.iterdir()) == ["ch2_crop", "las", "manifest.csv"]  # failures leave nothing

    single = tmp_path / "single.nii.gz"
    assert (
        run_cli(["run", str(card_file), "-i", str(cohort / "las.nrrd"), "-o", str(single), "--progress", "none"]) == 0
    )
    ours = sitk.GetArrayFromImage(sitk.ReadImage(str(out / "las" / "Mask.nii.gz")))
    assert 0 < ours.sum() < ours.size
    assert np.array_equal(ours, sitk.GetArrayFromImage(sitk.ReadImage(str(single))))


def test_a_rerun_skips_a_changed_parameter_and_force_redo(
    card_file: Path, cohort: Path, home: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    images = str(cohort / "*[ps]*.n*")  # the two images, not the broken files
    assert batch(card_file, images, out) == 0
    first = (out / "las" / "Mask.nii.gz").stat().st_mtime_ns
    assert batch(card_file, images, out) == 0
    assert {row["status"] for row in manifest_rows(out).values()} == {"skipped"}
    assert (out / "las" / "Mask.nii.gz").stat().st_mtime_ns == first

    assert batch(card_file, images, out, "--threshold", "0.6") == 0
    assert {row["status"] for row in manifest_rows(out).values()} == {"succeeded"}
    provenance = json.loads((out / "las" / "Mask.provenance.json").read_text(encoding="utf-8"))
    assert provenance["parameters"] == {"threshold": 0.6}

    assert batch(card_file, images, out, "--threshold", "0.6", "--force") == 0
    assert {row["status"] for row in manifest_rows(out).values()} == {"succeeded"}
    (out / "las" / "Mask.provenance.json").unlink()  # an output without its provenance is redone
    assert batch(card_file, images, out, "--threshold", "0.6") == 0
    assert {c: r["status"] for c, r in manifest_rows(out).items()} == {"ch2_crop": "skipped", "las": "succeeded"}


def test_a_multi_input_card_needs_a_csv(card_file: Path, cohort: Path, tmp_path: Path) -> None:
    document = json.loads(card_file.read_text(encoding="utf-8"))
    document["inputs"].append({"type": "volume", "name": "T2"})
    card_file.write_text(json.dumps(document), encoding="utf-8")
    assert batch(card_file, cohort, tmp_path / "out") == 2


def test_with_runtime_auto_one_case_measures_alone_and_every_worker_runs_its_choice(
    card_file: Path, colin27: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a fresh home, two workers must not each time the runtimes while the other one runs (each slowing the
    other's figures, and possibly choosing differently): the first case runs alone and measures, the other
    worker runs the runtime it chose, remembered."""
    monkeypatch.setenv("DEEPINFER_HOME", str(tmp_path / "fresh-home"))
    monkeypatch.delenv("DEEPINFER_RUNTIME", raising=False)
    cohort = tmp_path / "cohort"
    cohort.mkdir()
    crop = sitk.ReadImage(str(colin27))[40:140, 50:170, 40:140]  # one shape: a verdict is for an input shape
    for index in range(4):
        sitk.WriteImage(crop, str(cohort / f"case{index}.nii.gz"))
    out = tmp_path / "out"
    assert batch(card_file, cohort, out, "--workers", "2", "--runtime", "auto") == 0
    chosen = []
    for case in sorted(manifest_rows(out)):
        provenance = json.loads((out / case / "Mask.provenance.json").read_text(encoding="utf-8"))
        (network,) = provenance["runtime"]["networks"].values()
        chosen.append((network["runtime"], network["chosen"]))
    # The first worker measured (its later cases keep that network: "measured"); the second one, started after,
    # ran the remembered choice. Two workers measuring at once would both say "measured".
    assert {how for _, how in chosen} == {"measured", "remembered"}
    assert len({runtime for runtime, _ in chosen}) == 1


def test_dicom_series_cases_give_a_seg_and_sr_each(card_file: Path, tmp_path: Path, home: Path) -> None:
    """--format .dcm: every DICOM series case gets its labelmap as a SEG of that series, with the SR beside it;
    a NIfTI case among them fails alone (a SEG needs source DICOM images)."""
    need("highdicom", "DICOM SEG output needs highdicom")
    import pydicom

    cohort = tmp_path / "cohort"
    write_series(colin27_block(), cohort / "first", f"{UID_ROOT}.31")
    write_series(colin27_block((32, 40, 12)), cohort / "second", f"{UID_ROOT}.32")
    sitk.WriteImage(colin27_block(), str(cohort / "plain.nii.gz"))
    out = tmp_path / "out"
    assert batch(card_file, cohort, out, "--workers", "1", "--format", ".dcm") == FAILED_EXIT
    rows = manifest_rows(out)
    assert {case: row["status"] for case, row in rows.items()} == {
        "first": "succeeded", "second": "succeeded", "plain": "failed"
    }  # fmt: skip
    assert "needs the source DICOM images" in rows["plain"]["error"]
    for case, series in (("first", f"{UID_ROOT}.31"), ("second", f"{UID_ROOT}.32")):
        seg = pydicom.dcmread(out / case / "Mask.dcm")
        assert seg.Modality == "SEG"
        assert seg.ReferencedSeriesSequence[0].SeriesInstanceUID == series
        assert pydicom.dcmread(out / case / "Mask.sr.dcm").Modality == "SR"


def test_a_plane_classifier_gives_each_case_its_scores(colin27: Path, tmp_path: Path, home: Path) -> None:
    """A card whose only output is class scores: each case gets OUTPUT.json (and the CSV, the provenance)."""
    need("onnx", "the test classifier is built with onnx")
    (tmp_path / "card").mkdir()
    card = plane_mean_card(tmp_path / "card")
    cohort = tmp_path / "cohort"
    cohort.mkdir()
    image = sitk.ReadImage(str(colin27))
    sitk.WriteImage(image[40:140, 50:170, 60:90], str(cohort / "a.nii.gz"))
    sitk.WriteImage(image[40:140, 50:170, 90:100], str(cohort / "b.nii.gz"))
    out = tmp_path / "out"
    assert batch(card, cohort, out, "--workers", "1") == 0
    for case, planes in (("a", 30), ("b", 10)):
        document = json.loads((out / case / "scores.json").read_text(encoding="utf-8"))
        assert len(document["planes"]) == planes and (out / case / "scores.csv").is_file()
        assert (out / case / "scores.provenance.json").is_file()
    assert manifest_rows(out)["a"]["outputs"] == "scores=a/scores.json"
    assert batch(card, cohort, out, "--workers", "1") == 0  # a rerun skips both
    assert {row["status"] for row in manifest_rows(out).values()} == {"skipped"}
