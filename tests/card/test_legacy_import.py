"""The ten 2017 DeepInfer registry files import into valid v2 cards that keep their meaning."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from legacy_helpers import LEGACY_FILES, LegacyDocument

from deepinfer._exceptions import CardError, InputError
from deepinfer.card import (
    BoolParameter,
    EnumParameter,
    FloatParameter,
    IntParameter,
    Label,
    LabelmapMember,
    ModelCard,
    ProbabilityMapMember,
    dump_card,
    import_legacy,
    load_legacy,
    looks_like_legacy,
    parse_card,
    validate_card,
)
from deepinfer.card._model import Metric, PointListMember


def test_the_registry_holds_the_ten_files(legacy_registry: Path) -> None:
    assert sorted(path.name for path in legacy_registry.glob("*.json")) == sorted(LEGACY_FILES)


@pytest.mark.parametrize("name", LEGACY_FILES)
def test_every_file_imports_into_a_valid_card(legacy_registry: Path, name: str) -> None:
    card, notes = load_legacy(legacy_registry / name)

    assert validate_card(card.model_dump(mode="json")) == []
    assert parse_card(json.loads(dump_card(card))) == card
    assert notes == card.notes
    assert card.runtime.type == "container" and card.runtime.protocol == "deepinfer-2017"
    assert card.license.code == card.license.weights == "NOASSERTION"


def test_ids_are_unique_even_where_model_names_are_shared(legacy_registry: Path) -> None:
    cards = [load_legacy(legacy_registry / name)[0] for name in LEGACY_FILES]

    assert len({card.id for card in cards}) == len(cards)
    lymph = {card.id: card.runtime for card in cards if card.id.startswith("lymph-node")}
    assert set(lymph) == {"lymph-node-segmentation", "lymph-node-segmentation-gpu"}
    assert {getattr(runtime, "model_name", None) for runtime in lymph.values()} == {"lnq_segmentation_med"}


def _image(card: ModelCard) -> str:
    return getattr(card.runtime, "image", "")


def _member_types(members: list[Any]) -> list[tuple[str, str]]:
    return [(member.name, member.type) for member in members]


def _first_label_name(card: ModelCard) -> str:
    output = card.outputs[0]
    assert isinstance(output, LabelmapMember)
    return output.labels[0].name


FACTS: list[tuple[str, Callable[[ModelCard], Any], Any]] = [
    ("ProstateSegmenter.json", lambda c: c.id, "prostate-gland-segmenter"),
    ("ProstateSegmenter.json", lambda c: c.version, "0.1.0"),
    (
        "ProstateSegmenter.json",
        lambda c: (c.task, c.anatomy, c.modality),
        ("segmentation", "Prostate", "MRI"),
    ),
    (
        "ProstateSegmenter.json",
        lambda c: c.parameter("Domain"),
        EnumParameter(
            name="Domain",
            description="Select the model that will be used for inference.",
            choices=["BWH_WITH_ERC", "BWH_WITHOUT_ERC", "PROMISE12"],
            default="BWH_WITH_ERC",
        ),
    ),
    (
        "ProstateSegmenter.json",
        lambda c: c.parameter("OutputSmoothing"),
        BoolParameter(name="OutputSmoothing"),
    ),
    (
        "ProstateSegmenter.json",
        lambda c: c.parameter("verbose"),
        BoolParameter(name="verbose", default=False),
    ),
    (
        "ProstateSegmenter.json",
        _image,
        "deepinfer/prostate@sha256:4b2b97f0c7ce6021a67dd3bb864e5116bc55a8c73cbb35daaa78c5e0638bf27d",
    ),
    ("ProstateSegmenter.json", lambda c: getattr(c.runtime, "model_name", None), "prostate-segmenter"),
    ("ProstateSegmenter.json", lambda c: c.inputs[0].description, "Axial T2-W Prostate MRI."),
    (
        "WMHSegmenterK2MICCAI2017.json",
        lambda c: _member_types(c.inputs),
        [("InputT1Volume", "volume"), ("InputFLAIRVolume", "volume")],
    ),
    ("WMHSegmenterK2MICCAI2017.json", lambda c: c.version, "1.0.0"),
    (
        "WMHSegmenterK2MICCAI2017.json",
        lambda c: c.parameter("verbose"),
        BoolParameter(name="verbose", default=True),
    ),
    ("CTBoneSegmenter.json", lambda c: c.metrics, [Metric(name="Dice", value=0.772, n=30)]),
    (
        "CTBoneSegmenter.json",
        lambda c: c.training_data is not None and "Training subjects: 140." in c.training_data,
        True,
    ),
    ("CTBoneSegmenter.json", lambda c: "http://4quant.com/Bone-Segmenter" in c.description, True),
    (
        "CTBoneSegmenter.json",
        _image,
        "4quant/bone-segmenter-cpu:v1@sha256:ccf3ebcca020f10873c76fcdacc73be766180184540d9f164628be1a9e29cdb0",
    ),
    ("CTBoneSegmenter.json", lambda c: (c.version, getattr(c.runtime, "model_name", None)), ("1.0.0", None)),
    ("ProstateSegmenterLegacy.json", lambda c: c.metrics, [Metric(name="Dice", value=0.76, n=50)]),
    (
        "ProstateSegmenterLegacy.json",
        lambda c: c.parameter("Accuracy"),
        BoolParameter(name="Accuracy", default=True),
    ),
    ("ProstateSegmenterLegacy.json", lambda c: any("Accuracy" in note for note in c.notes), True),
    ("NeedleFinder-cpu.json", lambda c: getattr(c.runtime, "data_path", None), "/app/data"),
    (
        "NeedleFinder-cpu.json",
        lambda c: c.parameter("MinObjectSize"),
        IntParameter(name="MinObjectSize", default=100, minimum=0, maximum=65535),
    ),
    (
        "NeedleFinder-cpu.json",
        lambda c: c.parameter("MaxLineFitError"),
        FloatParameter(name="MaxLineFitError", default=2.0),
    ),
    ("NeedleFinder-cpu.json", lambda c: (getattr(c.runtime, "gpu", None), c.resources.gpu), ("none", "none")),
    ("NeedleFinder-gpu.json", lambda c: getattr(c.runtime, "gpu", None), "required"),
    ("NeedleFinder-gpu.json", lambda c: c.version, "1.0.0"),
    (
        "LymphNodeSegmenter.json",
        lambda c: _member_types(c.inputs),
        [("InputVolume", "volume"), ("InputFiducialList", "point_list")],
    ),
    (
        "LymphNodeSegmenter.json",
        lambda c: _member_types(c.outputs),
        [("OutputProbmap", "probability_map"), ("OutputLabel", "labelmap")],
    ),
    ("LymphNodeSegmenter.json", lambda c: isinstance(c.outputs[0], ProbabilityMapMember), True),
    (
        "LymphNodeSegmenter.json",
        lambda c: c.parameter("InferenceType"),
        EnumParameter(
            name="InferenceType",
            description="Ensemble models are more accurate. Single models are less accurate.",
            choices=["Ensemble 10", "Ensemble 50", "Single"],
            default="Ensemble 10",
        ),
    ),
    (
        "LymphNodeSegmenter.json",
        lambda c: c.training_data,
        "Models were trained using TCIA CT Lymph Nodes dataset.",
    ),
    ("ProstateNeedleFinder.json", lambda c: c.task, "localization"),
    (
        "ProstateNeedleFinder.json",
        lambda c: c.inputs[1],
        LabelmapMember(
            name="InputProstateMask",
            description="Axial T2-W Prostate MRI.",
            labels=[Label(value=1, name="Prostate", color="#80ae80")],
        ),
    ),
    (
        "ProstateNeedleFinder.json",
        lambda c: c.outputs[1],
        PointListMember(name="OutputFiducialList", description="Output fiducial for storing the predicted needle tip."),
    ),
    ("ExampleThreshold.json", lambda c: (c.description, c.website, c.citation), ("", None, None)),
    ("ExampleThreshold.json", lambda c: c.training_data, None),
    ("ExampleThreshold.json", _first_label_name, "Example Threshold"),
    ("ExampleThreshold.json", lambda c: getattr(c.runtime, "model_name", None), "threshold"),
]


@pytest.mark.parametrize(("name", "fact", "expected"), FACTS, ids=[f"{f[0]}-{i}" for i, f in enumerate(FACTS)])
def test_imported_facts(legacy_registry: Path, name: str, fact: Callable[[ModelCard], Any], expected: Any) -> None:
    card, _ = load_legacy(legacy_registry / name)

    assert fact(card) == expected


def test_label_tables_name_the_organ(legacy_registry: Path) -> None:
    card, _ = load_legacy(legacy_registry / "CTBoneSegmenter.json")

    output = card.outputs[0]
    assert isinstance(output, LabelmapMember)
    assert [(label.value, label.name, label.code) for label in output.labels] == [(1, "Chest", None)]


QUIRK_NOTES = [
    "number_of_inputs (1)",
    "pixel_types ('BasicPixelIDTypeList')",
    "vector_pixel_types_by_component ('VectorPixelIDTypeList')",
    "itk_type 'typename FilterType::SizeType' of InputVolume, OutputLabel",
    "default 'std::vector<unsigned int>(3, 64)' of InputVolume, OutputLabel",
    "docker.size ('3.6 GB')",
    "code and weights are NOASSERTION",
]


@pytest.mark.parametrize("fragment", QUIRK_NOTES)
def test_quirks_are_dropped_with_a_note(legacy_registry: Path, fragment: str) -> None:
    card, notes = load_legacy(legacy_registry / "CTBoneSegmenter.json")

    assert any(fragment in note for note in notes), notes
    body = json.dumps(card.model_dump(mode="json", exclude={"notes"}))
    for quirk in ("itk_type", "std::vector", "pixel_types", "number_of_inputs", "3.6 GB"):
        assert quirk not in body


def test_unknown_keys_are_noted_not_kept(legacy_document: LegacyDocument) -> None:
    data = legacy_document("ProstateSegmenter.json")
    data["homepage"] = "somewhere"
    data["members"][3]["colour"] = "red"

    card, notes = import_legacy(data, "ProstateSegmenter.json")

    assert any("'homepage'" in note for note in notes)
    assert any("colour 'red' of InputVolume" in note for note in notes)
    assert "somewhere" not in json.dumps(card.model_dump(mode="json", exclude={"notes"}))


def test_looks_like_legacy(legacy_registry: Path, legacy_document: LegacyDocument) -> None:
    assert all(looks_like_legacy(legacy_document(name)) for name in LEGACY_FILES)
    card, _ = load_legacy(legacy_registry / "ProstateSegmenter.json")
    assert not looks_like_legacy(card.model_dump(mode="json"))
    assert not looks_like_legacy({**legacy_document("ProstateSegmenter.json"), "schema_version": "2.0"})
    assert not looks_like_legacy(["docker", "members"])


def test_load_legacy_names_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        load_legacy(tmp_path / "absent.json")


def test_load_legacy_reports_malformed_json(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('{"name": "x",', encoding="utf-8")

    with pytest.raises(CardError) as caught:
        load_legacy(path)

    assert caught.value.source == str(path)
    assert caught.value.problems[0].path == "$"


def test_a_document_that_is_not_an_object_is_refused() -> None:
    with pytest.raises(CardError) as caught:
        import_legacy(["members"], "list.json")

    assert [problem.path for problem in caught.value.problems] == ["$"]


def _minimal(document: dict[str, Any]) -> dict[str, Any]:
    """Only what the 2017 Slicer module read: name, docker (repository and digest) and members."""
    return {key: document[key] for key in ("name", "docker", "members")}


@pytest.mark.parametrize("name", ["ProstateSegmenter.json", "CTBoneSegmenter.json", "WMHSegmenterK2MICCAI2017.json"])
def test_a_minimal_2017_file_imports_with_documented_defaults(legacy_document: LegacyDocument, name: str) -> None:
    card, notes = import_legacy(_minimal(legacy_document(name)), name)
    identity = (card.version, card.task, card.modality, card.anatomy)
    assert identity == ("0.0.0", "segmentation", "unspecified", "unspecified")
    assert "no version in the 2017 file: imported as version '0.0.0'" in notes
    assert "no task in the 2017 file: segmentation, inferred from its LabelMap output" in notes
    assert "no modality in the 2017 file: set to 'unspecified'" in notes
    assert "no organ in the 2017 file: anatomy set to 'unspecified'" in notes
    assert not validate_card(json.loads(dump_card(card)))
    labelmap = next(o for o in card.outputs if isinstance(o, LabelmapMember))
    assert labelmap.labels[0].name == card.name  # no organ to name the label after: the model's name


def test_a_minimal_file_without_a_labelmap_output_needs_its_task(legacy_document: LegacyDocument) -> None:
    document = _minimal(legacy_document("ProstateSegmenter.json"))
    document["members"] = [m for m in document["members"] if m.get("voltype") != "LabelMap"]
    with pytest.raises(CardError) as caught:
        import_legacy(document, "no-labelmap.json")
    assert [p.path for p in caught.value.problems] == ["$.task"]
    assert "cannot be inferred" in caught.value.problems[0].message


@pytest.mark.parametrize(("key", "value"), [("version", "v0.1"), ("version", ""), ("task", "Hacking."), ("organ", "")])
def test_a_present_but_wrong_identity_field_is_still_refused(
    legacy_document: LegacyDocument, key: str, value: str
) -> None:
    document = _minimal(legacy_document("ProstateSegmenter.json")) | {key: value}
    with pytest.raises(CardError) as caught:
        import_legacy(document, "bad.json")
    assert f"$.{key}" in [p.path for p in caught.value.problems]
