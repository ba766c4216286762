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

import yaml
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


def _yaml_config(text: str) -> Callable[[Path], Path]:
    """The bundle with ``text`` as configs/inference.yaml instead of its JSON (``PLAIN`` in it: the config's
    own items, as YAML)."""

    def build(root: Path) -> Path:
        bundle = write_bundle(root)
        plain = yaml.safe_dump(json.loads((bundle / "configs" / "inference.json").read_text(encoding="utf-8")))
        (bundle / "configs" / "inference.json").unlink()
        (bundle / "configs" / "inference.yaml").write_text(text.replace("PLAIN", plain), encoding="utf-8")
        return bundle

    return build


YAML_BOMB = "a: &a ['x', 'x', 'x', 'x', 'x', 'x', 'x', 'x', 'x']\n" + "".join(
    f"{name}: &{name} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]\n"
    for prev, name in zip("abcdefgh", "bcdefghi", strict=True)
)


PYTHON_APPLY = f"evil: !!python/object/apply:os.system ['touch {CANARY}']\n"


def _load_keys(keys: list[str]) -> Callable[[dict[str, Any]], None]:
    return lambda config: config["preprocessing"]["transforms"][0].__setitem__("keys", keys)


def _concat_path(config: dict[str, Any]) -> None:
    transforms = config["preprocessing"]["transforms"]
    transforms[0]["keys"] = transforms[1]["keys"] = transforms[2]["keys"] = ["image", "t2"]
    transforms.append({"_target_": "ConcatItemsd", "keys": ["image", "t2", "/etc/passwd"], "name": "image"})


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
    # YAML configs (read by a safe loader, after a check of the parse events): code-running tags, anchor bombs,
    # sizes and depths beyond a config's, a second document.
    hostile("monai-yaml-python-tag", refused(_yaml_config(PYTHON_APPLY)), CardError,
            r"inference\.yaml: refused: the YAML tag 'tag:yaml\.org,2002:python/object/apply:os\.system'"),
    hostile("monai-yaml-python-name", refused(_yaml_config("evil: !!python/name:os.system ''\n")), CardError,
            r"the YAML tag .*python/name:os\.system' is not read"),
    hostile("monai-yaml-custom-tag", refused(_yaml_config("evil: !Transform {a: 1}\n")), CardError,
            r"the YAML tag '!Transform' is not read \(line 1\)"),
    hostile("monai-yaml-expression", refused(_yaml_config(f"initialize: [\"{SYSTEM_CALL}\"]\nPLAIN")), CardError,
            r"inference\.yaml:\$\.initialize\[0\]: .*reaches for Python internals"),
    hostile("monai-yaml-anchor-bomb", refused(_yaml_config(YAML_BOMB)), CardError,
            r"YAML anchors and aliases are not read \(line 1\)"),
    hostile("monai-yaml-deep-nesting", refused(_yaml_config("[" * 100_000 + "]" * 100_000)), CardError,
            "exceeded maximum nesting depth|nested deeper than 32 levels"),
    hostile("monai-yaml-nesting-within-parser", refused(_yaml_config("a: " + "[" * 500 + "]" * 500 + "\n")),
            CardError, r"nested deeper than 32 levels \(line 1\)"),
    hostile("monai-yaml-huge", refused(_yaml_config("pad: '" + "x" * (5 << 20) + "'\n")), CardError,
            "larger than 4 MiB"),
    hostile("monai-yaml-two-documents", refused(_yaml_config("PLAIN\n---\nPLAIN")), CardError,
            "must hold one YAML document, it holds 2"),
    hostile("monai-load-keys-path", refused(lambda r: write_bundle(r, _load_keys(["image", "../../outside/x"]))),
            CardError, r"transforms\[0\]\.keys: LoadImaged: keys must be 1 to 16 distinct plain keys"),
    hostile("monai-load-keys-many", refused(lambda r: write_bundle(r, _load_keys([f"k{i}" for i in range(10**5)]))),
            CardError, r"transforms\[0\]\.keys: LoadImaged: keys must be 1 to 16 distinct plain keys"),
    hostile("monai-concat-path-key", refused(lambda r: write_bundle(r, _concat_path)), CardError,
            r"transforms\[3\]\.keys: ConcatItemsd: keys must be 1 to 16 distinct plain keys"),
    hostile("monai-yaml-null-key", refused(_yaml_config("? null\n: 1\nPLAIN")), CardError,
            "the key None is not text"),
]  # fmt: skip
