"""Model card v2: pydantic models, JSON Schema export, validation report, legacy (2017) import."""

from deepinfer.card._legacy import import_legacy, load_legacy, looks_like_legacy
from deepinfer.card._model import (
    Artifact,
    BoolParameter,
    ClassScoresMember,
    ContainerRuntime,
    EnumParameter,
    FloatParameter,
    IntParameter,
    Label,
    LabelmapMember,
    ModelCard,
    OnnxRuntime,
    ProbabilityMapMember,
    Step,
    StringParameter,
    VolumeMember,
)
from deepinfer.card._precision import FastBounds, Precision
from deepinfer.card._schema import card_json_schema, schema_text
from deepinfer.card._validate import (
    dump_card,
    json_path,
    load_card,
    parse_card,
    read_card_json,
    validate_card,
)

__all__ = [
    "Artifact",
    "BoolParameter",
    "ClassScoresMember",
    "ContainerRuntime",
    "EnumParameter",
    "FastBounds",
    "FloatParameter",
    "IntParameter",
    "Label",
    "LabelmapMember",
    "ModelCard",
    "OnnxRuntime",
    "Precision",
    "ProbabilityMapMember",
    "Step",
    "StringParameter",
    "VolumeMember",
    "card_json_schema",
    "dump_card",
    "import_legacy",
    "json_path",
    "load_card",
    "load_legacy",
    "looks_like_legacy",
    "parse_card",
    "read_card_json",
    "schema_text",
    "validate_card",
]
