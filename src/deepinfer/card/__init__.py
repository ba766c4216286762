"""Model card v2: pydantic models, JSON Schema export, validation report, legacy (2017) import."""

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

__all__ = [
    "Artifact",
    "BoolParameter",
    "ClassScoresMember",
    "ContainerRuntime",
    "EnumParameter",
    "FloatParameter",
    "IntParameter",
    "Label",
    "LabelmapMember",
    "ModelCard",
    "OnnxRuntime",
    "ProbabilityMapMember",
    "Step",
    "StringParameter",
    "VolumeMember",
]
