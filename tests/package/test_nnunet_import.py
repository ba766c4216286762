"""``deepinfer card import-nnunet`` without a trained model: the command's exit codes and the install hint."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from package_helpers import deepinfer

from deepinfer import UsageError
from realparts import need


def results_folder(root: Path, **change: object) -> Path:
    sys.path.insert(0, str(Path(__file__).parents[1] / "security"))
    from hostile_cases_nnunet import write_results

    results: Path = write_results(root, lambda plans: plans["configurations"]["3d_fullres"].update(change))
    return results


def test_a_refused_folder_exits_3_listing_every_problem(tmp_path: Path, shared_home: Path) -> None:
    need("torch")
    resampling = {"is_seg": False, "order": 3, "order_z": 0, "force_separate_z": "yes"}
    results = results_folder(
        tmp_path, patch_size=[0, 16, 16], resampling_fn_data_kwargs=resampling, previous_stage="3d_lowres"
    )
    done = deepinfer("card", "import-nnunet", str(results), "-o", str(tmp_path / "card"), home=shared_home)
    assert done.returncode == 3, done.stderr
    for problem in ("patch_size", "force_separate_z: must be null, true or false", "previous stage"):
        assert problem in done.stderr
    assert not (tmp_path / "card").exists()


def test_bad_folds_exit_2(tmp_path: Path, shared_home: Path) -> None:
    need("torch")
    results = results_folder(tmp_path)
    done = deepinfer("card", "import-nnunet", str(results), "--folds", "x", "-o", str(tmp_path / "c"), home=shared_home)
    assert done.returncode == 2, done.stderr


def test_without_nnunets_network_classes_the_user_is_told_how_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    need("torch")
    from deepinfer.package import import_nnunet_results

    results = results_folder(tmp_path)
    monkeypatch.setitem(sys.modules, "dynamic_network_architectures", None)
    monkeypatch.setitem(sys.modules, "dynamic_network_architectures.architectures", None)
    with pytest.raises(UsageError, match="pip install dynamic-network-architectures"):
        import_nnunet_results(results, tmp_path / "card")
    assert not (tmp_path / "card").exists()


def test_the_exported_network_sees_nnunets_axis_order() -> None:
    """deepinfer's (i, j, k) are SimpleITK's (x, y, z); nnU-Net's axis a is SimpleITK array axis transpose[a]."""
    need("torch")
    import torch

    from deepinfer.package._nnunet_import import in_deepinfer_order
    from deepinfer.package._nnunet_network import axis_wrapper

    seen: list[tuple[int, ...]] = []

    class Spy(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            seen.append(tuple(x.shape))
            return x

    transpose = [2, 0, 1]
    ours = torch.arange(2 * 3 * 4, dtype=torch.float32).reshape(1, 1, 2, 3, 4)  # (i, j, k) = (x, y, z) sizes 2, 3, 4
    sitk_array = ours[0, 0].permute(2, 1, 0)  # SimpleITK's (z, y, x)
    theirs = sitk_array.permute(*transpose)  # what nnU-Net's network gets
    assert torch.equal(axis_wrapper(Spy(), transpose)(ours), ours)
    assert seen == [(1, 1, *theirs.shape)]
    assert in_deepinfer_order(list(theirs.shape), transpose) == [2, 3, 4]
