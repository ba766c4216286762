"""An imported MONAI bundle in the Slicer extension like any other card: imported with ``card import-monai``,
published with ``registry build`` and added with ``registry add``; the module logic lists it, generates its
widgets from the card (one volume selector, one segmentation output named and coloured from the bundle's
channel names, no parameters), and its run through real MRML gives the labels of ``deepinfer run`` on the same
real volume (Colin27), voxel for voxel, on the input's grid."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
from DeepInferLib.logic import Logic
from DeepInferLib.scene import segment_names_and_colors
from slicer_helpers import connection, load_volume, new_scene, require_mrml, voxels
from test_slicer_mrml import assert_same_grid, to_labelmap

from deepinfer.cli import run_cli
from monai_bundles import IMPORTED_ID, colin27_block, monai_registry_home
from realparts import need


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A home whose configured registry holds the imported card, and the real volume."""
    need("monai.bundle", "the bundle is made with MONAI's tooling")
    work = tmp_path_factory.mktemp("slicer-imported")
    image = colin27_block(work / "t1.nii.gz")
    home = monai_registry_home(work, image)
    return home, image


def test_the_logic_lists_builds_widgets_and_runs_the_imported_card(
    published: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    require_mrml()
    home, image = published
    monkeypatch.setenv("DEEPINFER_HOME", str(home))
    logic = Logic(connection(), work_root=tmp_path / "work")
    (tmp_path / "work").mkdir()
    assert IMPORTED_ID in [row["id"] for row in logic.start_list_models().wait(timeout=120).result]
    card = logic.start_show(IMPORTED_ID).wait(timeout=120).result
    form = logic.form(IMPORTED_ID)
    assert form.problems == () and form.parameters == ()
    assert [(spec.name, spec.member_type) for spec in form.inputs] == [("image", "volume")]
    assert "vtkMRMLScalarVolumeNode" in form.inputs[0].node_types
    (output,) = form.outputs
    assert (output.name, output.kind) == ("segmentation", "segmentation")
    assert [label["name"] for label in output.labels] == ["part one", "part two"]

    scene, volumes = new_scene()
    volume = load_volume(volumes, image, "colin27 block")
    task = logic.start_run(scene, form, {"image": volume}).wait(timeout=300)
    assert task.error == "", task.error
    segmentation = task.result.nodes["segmentation"]
    labels = card["outputs"][0]["labels"]
    assert segment_names_and_colors(segmentation) == [(lab["name"], lab["color"].lower()) for lab in labels]
    labelmap = to_labelmap(scene, segmentation)
    assert_same_grid(labelmap, volume)
    local = tmp_path / "local.nii.gz"
    assert run_cli(["run", IMPORTED_ID, "-i", str(image), "-o", str(local), "--progress", "none"]) == 0
    expected = sitk.GetArrayFromImage(sitk.ReadImage(str(local)))
    assert np.array_equal(voxels(labelmap), expected)
    assert set(np.unique(expected)) == {0, 1, 2}
    assert list((tmp_path / "work").iterdir()) == []  # the run's folder is gone
