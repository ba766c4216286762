"""TorchScript → ONNX conversion for OpenVINO and ONNX Runtime: made once from a verified file, checked on the
first real batch, kept with a manifest, re-hashed on every use; a disagreeing conversion is never kept."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from deepinfer._exceptions import PipelineError
from deepinfer.runners import NetworkCache, SelectedNetwork
from deepinfer.runners._derived import CONVERTER, Derived, converted_onnx, derived_folder, prune_derived
from deepinfer.store import sha256_file
from deepinfer.store._lock import exclusive_lock
from realparts import require

BATCH = np.random.default_rng(0).normal(size=(1, 1, 8, 8, 8)).astype(np.float32)


@pytest.fixture
def torchscript_net(tmp_path: Path) -> Path:
    """A real TorchScript network: a 3D convolution, instance norm and softmax over two channels."""
    require(importlib.util.find_spec("torch") is not None, "the conversion needs torch (deepinfer[torch])")
    import torch

    class Net(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = torch.nn.Conv3d(1, 2, 3, padding=1)
            self.norm = torch.nn.InstanceNorm3d(2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.softmax(self.norm(self.conv(x)), dim=1)

    torch.manual_seed(0)
    path = tmp_path / "net.pt"
    torch.jit.save(torch.jit.script(Net().eval()), str(path))
    return path


def test_a_converted_network_is_checked_kept_and_reused(torchscript_net: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    sha256 = sha256_file(torchscript_net)
    onnx = converted_onnx(home, torchscript_net, sha256, BATCH, tolerance=1e-4)
    derived = Derived(derived_folder(home), sha256)
    assert onnx == derived.onnx and derived.verified() == onnx
    record = json.loads(derived.manifest.read_text())
    assert record["source_sha256"] == sha256 and record["sha256"] == sha256_file(onnx)
    assert record["check"]["max_abs_diff"] <= 1e-4 and record["check"]["input_shape"] == [1, 1, 8, 8, 8]
    assert converted_onnx(home, torchscript_net, sha256, BATCH, tolerance=1e-4) == onnx  # found, not redone
    assert not [p for p in derived.folder.iterdir() if "partial" in p.name]


def test_a_changed_conversion_is_never_used(torchscript_net: Path, tmp_path: Path) -> None:
    sha256 = sha256_file(torchscript_net)
    onnx = converted_onnx(tmp_path, torchscript_net, sha256, BATCH, tolerance=1e-4)
    onnx.write_bytes(onnx.read_bytes() + b"\0")
    derived = Derived(derived_folder(tmp_path), sha256)
    assert derived.verified() is None
    converted_onnx(tmp_path, torchscript_net, sha256, BATCH, tolerance=1e-4)  # converted again
    assert derived.verified() == onnx


def test_a_disagreeing_conversion_is_not_kept(torchscript_net: Path, tmp_path: Path) -> None:
    sha256 = sha256_file(torchscript_net)
    with pytest.raises(PipelineError, match="differs from the TorchScript network"):
        converted_onnx(tmp_path, torchscript_net, sha256, BATCH, tolerance=1e-4, reference=np.zeros_like(BATCH))
    assert [p.name for p in derived_folder(tmp_path).iterdir()] == [f"{sha256}.lock"]


@pytest.mark.parametrize("runtime", ["openvino", "onnxruntime"])
def test_a_torchscript_card_runs_on_an_onnx_runtime(torchscript_net: Path, tmp_path: Path, runtime: str) -> None:
    from deepinfer.runners import TorchScriptNetwork

    expected = TorchScriptNetwork(torchscript_net)(BATCH)
    networks = NetworkCache("torchscript", lambda name: torchscript_net, 1, runtime=runtime, home=tmp_path)
    network = networks("net")
    assert isinstance(network, SelectedNetwork)
    np.testing.assert_allclose(network(BATCH), expected, atol=1e-4)
    assert networks.describe()["net"]["runtime"] == runtime


def test_running_a_conversion_later_does_not_import_torch(torchscript_net: Path, tmp_path: Path) -> None:
    converted_onnx(tmp_path, torchscript_net, sha256_file(torchscript_net), BATCH, tolerance=1e-4)
    code = f"""
import sys
import numpy as np
from pathlib import Path
from deepinfer.runners import NetworkCache
networks = NetworkCache("torchscript", lambda name: Path({str(torchscript_net)!r}), 1, runtime="openvino",
                        home=Path({str(tmp_path)!r}))
networks("net")(np.ones((1, 1, 8, 8, 8), np.float32))
print("torch" in sys.modules)
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, encoding="utf-8", check=True)
    assert result.stdout.strip() == "False"


def test_prune_keeps_current_conversions_of_kept_artifacts_only(tmp_path: Path) -> None:
    folder = derived_folder(tmp_path)
    folder.mkdir(parents=True)
    kept, dropped, busy = "a" * 64, "b" * 64, "c" * 64
    lock = f"{dropped}.lock"
    names = {
        "current": [f"{kept}.lock", f"{kept}.{CONVERTER}.onnx", f"{kept}.{CONVERTER}.json"],
        "unused": [f"{dropped}.lock", f"{dropped}.{CONVERTER}.onnx", f"{dropped}.{CONVERTER}.json"],
        "stale": [f"{kept}.onnx9-v0.onnx", f"{kept}.onnx9-v0.json", f".{kept}.{CONVERTER}.onnx.0123.partial.onnx"],
        "stray": ["notes.txt"],
        "running": [f".{busy}.{CONVERTER}.onnx.4567.partial.onnx"],
    }
    for group in names.values():
        for name in group:
            (folder / name).write_bytes(b"x")
    with exclusive_lock(folder / f"{busy}.lock"):  # a conversion of `busy` is running now
        planned = prune_derived(tmp_path, {kept, busy}, dry_run=True)
        assert all(p.exists() for p in planned)
        removed = prune_derived(tmp_path, {kept, busy})
    expected = {folder / n for group in ("unused", "stale", "stray") for n in names[group]} - {folder / lock}
    assert set(planned) == set(removed) == expected
    kept_names = [*names["current"], *names["running"], f"{busy}.lock", lock]  # lock files always stay
    assert sorted(p.name for p in folder.iterdir()) == sorted(kept_names)
    # without a list of artifacts to keep, only what no current conversion can use goes: here the stale file
    # and the partial file of the conversion that has ended since (its lock is free now)
    (folder / f"{kept}.onnx9-v0.onnx").write_bytes(b"x")
    assert set(prune_derived(tmp_path)) == {folder / f"{kept}.onnx9-v0.onnx", folder / names["running"][0]}
    assert sorted(p.name for p in folder.iterdir()) == sorted([*names["current"], f"{busy}.lock", lock])
    # links are removed, never followed, and a linked folder is not pruned at all
    victim = tmp_path / "victim.onnx"
    victim.write_bytes(b"x")
    (folder / f"{kept}.onnx9-v0.onnx").symlink_to(victim)
    assert prune_derived(tmp_path) == [folder / f"{kept}.onnx9-v0.onnx"] and victim.exists()
    elsewhere = tmp_path / "elsewhere"
    folder.rename(elsewhere)
    folder.symlink_to(elsewhere)
    assert prune_derived(tmp_path, set()) == [] and (elsewhere / names["current"][1]).exists()


def run_script(script: str, net: Path, home: Path) -> subprocess.CompletedProcess[str]:
    """``script`` in a fresh interpreter (so that it can make a package unimportable), given the net and home."""
    return subprocess.run(
        [sys.executable, "-c", script, str(net), str(home)], capture_output=True, encoding="utf-8", check=True
    )


WITHOUT_ONNX = """
import sys
sys.modules["onnx"] = None  # as on an install without the onnx package: importing it fails
import numpy as np
from pathlib import Path
from deepinfer._exceptions import RuntimeUnavailableError
from deepinfer.runners import NetworkCache
net, home = Path(sys.argv[1]), Path(sys.argv[2])
networks = NetworkCache("torchscript", lambda name: net, 1, runtime="auto", home=home)
networks("net")(np.ones((1, 1, 8, 8, 8), np.float32))
print(networks.describe()["net"]["runtime"])
try:
    NetworkCache("torchscript", lambda name: net, 1, runtime="openvino", home=home)("net")(
        np.ones((1, 1, 8, 8, 8), np.float32)
    )
except RuntimeUnavailableError as error:
    print(error)
"""


def test_without_the_onnx_package_auto_leaves_the_onnx_runtimes_out_with_a_note(
    torchscript_net: Path, tmp_path: Path
) -> None:
    result = run_script(WITHOUT_ONNX, torchscript_net, tmp_path)
    chosen, refused = result.stdout.strip().splitlines()
    assert chosen == "torchscript"
    assert "runtime auto: onnxruntime and openvino left out for net: converting TorchScript to ONNX needs onnx" in (
        result.stderr
    )
    assert "Traceback" not in result.stderr
    # asked for explicitly, the exporter's own failure is one clear line, not the exporter's traceback
    assert refused == "net.pt: torch's ONNX export failed: Module onnx is not installed!"


WITHOUT_TORCH = """
import sys
sys.modules["torch"] = None  # as on an install without torch (and so without its ONNX exporter)
import numpy as np
from pathlib import Path
from deepinfer._exceptions import RuntimeUnavailableError
from deepinfer.runners import NetworkCache
net, home = Path(sys.argv[1]), Path(sys.argv[2])
try:
    NetworkCache("torchscript", lambda name: net, 1, runtime="auto", home=home)("net")(
        np.ones((1, 1, 8, 8, 8), np.float32)
    )
except RuntimeUnavailableError as error:
    print(error)
"""


def test_without_torch_a_torchscript_card_says_how_to_install_what_it_needs(
    torchscript_net: Path, tmp_path: Path
) -> None:
    result = run_script(WITHOUT_TORCH, torchscript_net, tmp_path)
    assert result.stdout.strip() == (
        "no runtime could run net: onnxruntime: converting TorchScript to ONNX needs torch "
        "(pip install 'deepinfer[torch]'); openvino: converting TorchScript to ONNX needs torch "
        "(pip install 'deepinfer[torch]'); torchscript: not installed (pip install 'deepinfer[torch]')"
    )
    assert "Traceback" not in result.stderr
