"""Hostile corpus, part 4: MONAI bundles. MONAI's own loader evaluates every ``$`` expression of a config (the
bundle format runs code by design) and unpickles ``models/model.pt``; ``deepinfer card import-monai`` must do
neither. Each bundle below is refused with a CardError (exit 3) naming the file and the JSON path, and nothing
runs: the canary file an expression or a pickle would create never appears."""

from __future__ import annotations

import json
import pickle
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hostile_helpers import Attack, Hostile, hostile, outside

from deepinfer import CardError
from deepinfer.package import import_monai_bundle

CANARY = "CANARY"
SYSTEM_CALL = f"$__import__('os').system('touch {CANARY}')"


def bundle_metadata() -> dict[str, Any]:
    image = {"type": "image", "modality": "CT", "num_channels": 1}
    pred = {"type": "image", "format": "segmentation", "num_channels": 2, "channel_def": {"0": "bg", "1": "organ"}}
    formats = {"inputs": {"image": image}, "outputs": {"pred": pred}}
    return {"name": "Hostile", "version": "1.0.0", "network_data_format": formats}


def bundle_inference() -> dict[str, Any]:
    preprocessing = [
        {"_target_": "LoadImaged", "keys": "image"},
        {"_target_": "EnsureChannelFirstd", "keys": "image"},
        {"_target_": "Spacingd", "keys": "image", "pixdim": [1.5, 1.5, 2.0]},
    ]
    postprocessing = [
        {"_target_": "Activationsd", "keys": "pred", "softmax": True},
        {"_target_": "Invertd", "keys": "pred", "transform": "@preprocessing", "orig_keys": "image"},
        {"_target_": "AsDiscreted", "keys": "pred", "argmax": True},
    ]
    return {
        "preprocessing": {"_target_": "Compose", "transforms": preprocessing},
        "inferer": {"_target_": "SlidingWindowInferer", "roi_size": [96, 96, 96]},
        "postprocessing": {"_target_": "Compose", "transforms": postprocessing},
    }


class RunsCode:
    """A pickle that would run a command when loaded (what ``torch.load`` of a hostile checkpoint does)."""

    def __reduce__(self) -> tuple[Callable[..., Any], tuple[str]]:
        import os

        return os.system, (f"touch {CANARY}",)


def fake_torchscript(path: Path) -> None:
    """Enough of a TorchScript archive's layout for the importer (it never loads the network)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("model/code/__torch__.py", "")
        archive.writestr("model/data.pkl", b"")


def write_bundle(root: Path, change: Callable[[dict[str, Any]], None] = lambda c: None, model: bool = True) -> Path:
    bundle = root / "bundle"
    (bundle / "configs").mkdir(parents=True)
    inference = bundle_inference()
    change(inference)
    (bundle / "configs" / "inference.json").write_text(json.dumps(inference), encoding="utf-8")
    (bundle / "configs" / "metadata.json").write_text(json.dumps(bundle_metadata()), encoding="utf-8")
    if model:
        fake_torchscript(bundle / "models" / "model.ts")
    return bundle


def refused(build: Callable[[Path], Path], model: str | None = None) -> Attack:
    """Import the bundle; the refusal must come before anything ran (no canary, in the root or the cwd)."""

    def attack(root: Path) -> object:
        bundle = build(root)
        try:
            return import_monai_bundle(bundle, root / "card", model=model)
        finally:
            assert not (root / "card").exists(), "nothing is written for a refused bundle"
            for folder in (root, bundle, Path.cwd()):
                assert not (folder / CANARY).exists(), "an expression or a pickle of the bundle ran"

    return attack


def _expression_everywhere(config: dict[str, Any]) -> None:
    config["preprocessing"]["transforms"][2]["pixdim"] = SYSTEM_CALL
    config["initialize"] = [SYSTEM_CALL]  # MONAI runs this before anything else


def _roi(size: object) -> Callable[[Path], Path]:
    return lambda root: write_bundle(root, lambda c: c["inferer"].__setitem__("roi_size", size))


def _reader_path(config: dict[str, Any]) -> None:
    config["preprocessing"]["transforms"][0]["reader"] = "../../outside/evil.py"


def _target_path(config: dict[str, Any]) -> None:
    config["postprocessing"]["transforms"][0]["_target_"] = "../outside/evil.Transform"


def _pickled_checkpoint(root: Path) -> Path:
    bundle = write_bundle(root, model=False)
    (bundle / "models").mkdir()
    (bundle / "models" / "model.pt").write_bytes(pickle.dumps(RunsCode()))
    return bundle


def _pickle_named_ts(root: Path) -> Path:
    bundle = write_bundle(root, model=False)
    (bundle / "models").mkdir()
    (bundle / "models" / "model.ts").write_bytes(pickle.dumps(RunsCode()))
    return bundle


def _model_link(root: Path) -> Path:
    bundle = write_bundle(root, model=False)
    (bundle / "models").mkdir()
    (bundle / "models" / "model.ts").symlink_to(outside(root) / "victim.bin")
    return bundle


def _config_link(root: Path) -> Path:
    bundle = write_bundle(root)
    (bundle / "configs" / "inference.json").unlink()
    (bundle / "configs" / "inference.json").symlink_to(outside(root) / "victim.json")
    return bundle


def _raw_config(text: str) -> Callable[[Path], Path]:
    def build(root: Path) -> Path:
        bundle = write_bundle(root)
        (bundle / "configs" / "inference.json").write_text(text, encoding="utf-8")
        return bundle

    return build


def _reference_cycle(config: dict[str, Any]) -> None:
    config["a"], config["b"] = "@b", "@a"
    config["inferer"]["overlap"] = "@a"


MONAI_CASES: list[Hostile] = [
    hostile("monai-expression-canary", refused(lambda r: write_bundle(r, _expression_everywhere)), CardError,
            r"initialize\[0\]: .*reaches for Python internals(.|\n)*pixdim: .*is a Python expression"),
    hostile("monai-roi-zero", refused(_roi([0, 96, 96])), CardError, r"\$\.inferer\.roi_size: .*in \[1, 1024\]"),
    hostile("monai-roi-huge", refused(_roi(10**9)), CardError, r"\$\.inferer\.roi_size: .*in \[1, 1024\]"),
    hostile("monai-reader-path", refused(lambda r: write_bundle(r, _reader_path)), CardError,
            r"transforms\[0\]\.reader: LoadImaged: reader='\.\./\.\./outside/evil\.py' is not supported"),
    hostile("monai-target-path", refused(lambda r: write_bundle(r, _target_path)), CardError,
            r"transforms\[0\]\._target_: '\.\./outside/evil\.Transform' is not supported"),
    hostile("monai-reference-cycle", refused(lambda r: write_bundle(r, _reference_cycle)), CardError,
            "nest deeper than 16 levels"),
    hostile("monai-deep-nesting", refused(_raw_config("[" * 100_000 + "]" * 100_000)), CardError,
            "nested too deeply"),
    hostile("monai-nesting-beyond-parser", refused(_raw_config('{"a": ' + "[" * 500 + "]" * 500 + "}")), CardError,
            "nested deeper than 32 levels"),
    hostile("monai-huge-config", refused(_raw_config('{"pad": "' + "x" * (5 << 20) + '"}')), CardError,
            "larger than 4 MiB"),
    hostile("monai-pickled-checkpoint", refused(_pickled_checkpoint), CardError,
            "models/model.pt is a pickled checkpoint"),
    hostile("monai-pickle-named-ts", refused(_pickle_named_ts), CardError, "not a TorchScript archive"),
    hostile("monai-model-dotdot", refused(write_bundle, model="../../outside/victim.bin"), CardError,
            r"refused: .*'\.\.'"),
    hostile("monai-model-symlink", refused(_model_link), CardError, "symlinks are refused"),
    hostile("monai-config-symlink", refused(_config_link), CardError, "symlinks are refused"),
]  # fmt: skip
