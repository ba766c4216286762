"""MONAI bundles with YAML configs (``configs/inference.yaml``, ``metadata.yaml``): the two real bundle configs of
the shared formats folder, written as YAML by the test, import to the same card as their JSON; YAML that is
more than plain data (Python tags, anchors, a second document) is refused, and nothing in it runs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from deepinfer import CardError
from deepinfer.package import import_monai_bundle
from monai_bundles import REAL_BUNDLES, real_bundle

CANARY = "CANARY"


@pytest.fixture(scope="module")
def bundles(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("bundles")
    return {name: real_bundle(name, folder, small=True) for name in REAL_BUNDLES}


def as_yaml(bundle: Path, folder: Path, suffix: str = ".yaml") -> Path:
    """A copy of ``bundle`` whose two configs are YAML (written by PyYAML from the JSON)."""
    copy = folder / f"{bundle.name}-yaml"
    shutil.copytree(bundle, copy)
    for part in ("metadata", "inference"):
        source = copy / "configs" / f"{part}.json"
        document = json.loads(source.read_text(encoding="utf-8"))
        (copy / "configs" / f"{part}{suffix}").write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
        source.unlink()
    return copy


def comparable(card_file: Path) -> dict[str, Any]:
    """The card without its notes (they name the config file the import read)."""
    document: dict[str, Any] = json.loads(card_file.read_text(encoding="utf-8"))
    document.pop("notes")
    return document


@pytest.mark.parametrize("name", REAL_BUNDLES)
def test_a_yaml_bundle_imports_as_its_json_does(bundles: dict[str, Path], tmp_path: Path, name: str) -> None:
    from_json = import_monai_bundle(bundles[name], tmp_path / "json")[1]
    suffix = ".yml" if name.startswith("prostate") else ".yaml"
    yaml_bundle = as_yaml(bundles[name], tmp_path, suffix)
    assert "- _target_: LoadImaged" in (yaml_bundle / "configs" / f"inference{suffix}").read_text(encoding="utf-8")
    card, from_yaml = import_monai_bundle(yaml_bundle, tmp_path / "yaml")
    assert comparable(from_yaml) == comparable(from_json)
    assert any(f"configs/inference{suffix}'s preprocessing" in note for note in card.notes)


def test_integer_keys_and_dates_read_as_json_has_them(bundles: dict[str, Path], tmp_path: Path) -> None:
    """``0: background`` (an integer key in YAML) is JSON's ``"0"``; a date stays text (no timestamp type)."""
    bundle = as_yaml(bundles["spleen_ct_segmentation"], tmp_path)
    metadata_file = bundle / "configs" / "metadata.yaml"
    text = metadata_file.read_text(encoding="utf-8").replace("'0': background", "0: background")
    text = text.replace("'1': spleen", "1: spleen")
    assert "\n        0: background" in text and "1: spleen" in text
    metadata_file.write_text(text + "released: 2020-05-01\n", encoding="utf-8")
    card = import_monai_bundle(bundle, tmp_path / "card")[0]
    assert [(label.value, label.name) for label in card.outputs[0].labels] == [(1, "spleen")]  # type: ignore[union-attr]


def hostile_bundle(source: Path, folder: Path, inference: str) -> Path:
    """``source`` with ``inference`` as its configs/inference.yaml (and no JSON form)."""
    bundle = folder / "hostile"
    shutil.copytree(source, bundle)
    (bundle / "configs" / "inference.json").unlink()
    (bundle / "configs" / "inference.yaml").write_text(inference, encoding="utf-8")
    return bundle


PYTHON_TAG = f"evil: !!python/object/apply:os.system ['touch {CANARY}']\n"


def test_a_python_tag_would_run_code_and_the_import_refuses_it(bundles: dict[str, Path], tmp_path: Path) -> None:
    """The positive control: PyYAML's unsafe loader runs the tag (the canary appears); the import does not."""
    source = bundles["spleen_ct_segmentation"]
    text = yaml.safe_dump(json.loads((source / "configs" / "inference.json").read_text(encoding="utf-8")))
    bundle = hostile_bundle(source, tmp_path, PYTHON_TAG + text)
    with pytest.raises(CardError, match=r"configs/inference\.yaml: refused: the YAML tag .*python/object/apply"):
        import_monai_bundle(bundle, tmp_path / "card", model=None)
    assert not (tmp_path / "card").exists()
    for folder in (tmp_path, bundle, Path.cwd()):
        assert not (folder / CANARY).exists(), "the import ran the YAML's Python tag"
    live = tmp_path / "live"
    live.mkdir()
    yaml.unsafe_load(PYTHON_TAG.replace(CANARY, str(live / CANARY)))
    assert (live / CANARY).exists(), "PyYAML's unsafe loader ran the tag: the canary is live"


def test_an_expression_in_yaml_is_refused_as_in_json(bundles: dict[str, Path], tmp_path: Path) -> None:
    source = bundles["spleen_ct_segmentation"]
    document = json.loads((source / "configs" / "inference.json").read_text(encoding="utf-8"))
    document["initialize"] = [f"$__import__('os').system('touch {CANARY}')"]
    bundle = hostile_bundle(source, tmp_path, yaml.safe_dump(document))
    with pytest.raises(CardError, match=r"configs/inference\.yaml:\$\.initialize\[0\]: .*reaches for Python internals"):
        import_monai_bundle(bundle, tmp_path / "card")
    assert not (bundle / CANARY).exists() and not (Path.cwd() / CANARY).exists()


def test_json_and_yaml_side_by_side_are_refused(bundles: dict[str, Path], tmp_path: Path) -> None:
    bundle = as_yaml(bundles["spleen_ct_segmentation"], tmp_path)
    shutil.copyfile(
        bundles["spleen_ct_segmentation"] / "configs" / "inference.json", bundle / "configs" / "inference.json"
    )
    with pytest.raises(CardError, match=r"inference\.json and configs/inference\.yaml both exist: keep one"):
        import_monai_bundle(bundle, tmp_path / "card")


def test_no_config_at_all_names_every_form(tmp_path: Path) -> None:
    bundle = tmp_path / "bundle"
    (bundle / "configs").mkdir(parents=True)
    with pytest.raises(CardError) as refused:
        import_monai_bundle(bundle, tmp_path / "card")
    text = str(refused.value)
    assert "configs/metadata.json: missing (deepinfer reads metadata.json or metadata.yaml or metadata.yml)" in text
    assert "configs/inference.json: missing" in text and "ckpt_export" in text


@pytest.mark.parametrize("suffix", [".json", ".yaml"])
def test_an_integer_too_long_to_read_is_a_clear_refusal(bundles: dict[str, Path], tmp_path: Path, suffix: str) -> None:
    """Python refuses to convert integers of more than 4300 digits (a plain ValueError, neither a JSON nor a YAML
    error): the import names the file instead of ending in a traceback."""
    bundle = as_yaml(bundles["spleen_ct_segmentation"], tmp_path) if suffix == ".yaml" else tmp_path / "bundle"
    if suffix == ".json":
        shutil.copytree(bundles["spleen_ct_segmentation"], bundle)
    (bundle / "configs" / f"metadata{suffix}").write_text('{"version": ' + "1" * 5000 + "}\n", encoding="utf-8")
    with pytest.raises(CardError, match=rf"configs/metadata\{suffix}: not valid (JSON|YAML) \(Exceeds the limit"):
        import_monai_bundle(bundle, tmp_path / "card")
