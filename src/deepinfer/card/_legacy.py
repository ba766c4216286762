"""Import of the 2017 DeepInfer registry JSON (Mehrtash et al., SPIE 2017) into a version 2 model card.

Each piece of the 2017 document is validated on its own, so one import reports every problem with a JSON path
into the *2017* document. Hostile values (docker options in the image name, shell characters, ``..`` in
``data_path``, control characters) are refused by the v2 model's own patterns, never sanitised silently.
What has no place in a v2 card (C++ types of the 2017 Slicer plugin, image sizes) is dropped with a note."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, TypeVar, get_args

from pydantic import BaseModel, ValidationError

from deepinfer._exceptions import CardError, Problem
from deepinfer.card._model import (
    DIGEST,
    IMAGE_NAME,
    BoolParameter,
    Citation,
    ContainerRuntime,
    EnumParameter,
    FloatParameter,
    IntParameter,
    LabelmapMember,
    Metric,
    ModelCard,
    PointListMember,
    ProbabilityMapMember,
    Resources,
    StringParameter,
    VolumeMember,
    slugify,
)
from deepinfer.card._validate import read_card_json

M = TypeVar("M", bound=BaseModel)
Section = Literal["inputs", "outputs", "parameters"]
Gpu = Literal["none", "optional", "required"]
_Typed = tuple[type[BaseModel] | None, dict[str, Any]]

LABEL_COLOR = "#80ae80"  # Slicer's colour for generic tissue, the first label of its default table
NO_LICENSE = "NOASSERTION"
# What a 2017 file that omits these fields gets (each with a note on the card).
DEFAULT_VERSION = "0.0.0"
UNSPECIFIED = "unspecified"
DEFAULT_ANATOMY = UNSPECIFIED
PROTOCOL_2017 = "deepinfer-2017"
_PLACEHOLDERS = {"", "."}
_TASKS = set(get_args(ModelCard.model_fields["task"].annotation))
_METRIC_NAMES = {"dice similarity": "Dice", "dice similarity coefficient": "Dice", "dsc": "Dice"}
# C integer types of 2017 members → (minimum, maximum); each signed type also gives its unsigned twin.
_C_INT_BITS = {"int8_t": 8, "int16_t": 16, "short": 16, "int32_t": 32, "int": 32, "int64_t": 64, "long": 64}
_C_INT_RANGES = {name: (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) for name, bits in _C_INT_BITS.items()}
_C_INT_RANGES |= {
    (f"u{name}" if name.endswith("_t") else f"unsigned {name}"): (0, 2**bits - 1) for name, bits in _C_INT_BITS.items()
}
_SIMPLE_PARAMETERS: dict[str, type[BaseModel]] = {"bool": BoolParameter, "string": StringParameter}
_SIMPLE_PARAMETERS |= {"float": FloatParameter, "double": FloatParameter, "std::string": StringParameter}
_VOLUME_TYPES: dict[str, type[BaseModel]] = {"ScalarVolume": VolumeMember, "LabelMap": LabelmapMember}
# Keys of the 2017 format that describe the C++ plugin, not the model: dropped with the reason.
_DROPPED = {
    "number_of_inputs": "the inputs are the input members",
    "pixel_types": "a SimpleITK pixel type list of the 2017 C++ plugin",
    "vector_pixel_types_by_component": "a SimpleITK pixel type list of the 2017 C++ plugin",
    "itk_type": "a C++ filter type of the 2017 plugin",
    "default": "a C++ size expression, not a value",
    "size": "the download size of the image",
}
_TOP_QUIRKS = ("number_of_inputs", "pixel_types", "vector_pixel_types_by_component")
_TOP_KEYS = {
    *("name", "task", "organ", "modality", "version", "website", "citation", "members", "docker"),
    *("briefdescription", "detaileddescription", "train_test_data_details", "training", "test"),
    *("model_name", "data_path", *_TOP_QUIRKS),
}
_MEMBER_KEYS = {"name", "type", "iotype", "voltype", "enum", "default", "detaileddescriptionSet"}
# Clearer messages than "String should match pattern ..." for the fields a hostile document would abuse.
_PATTERN_HELP = {
    "name": "a member name is a letter followed by letters, digits or '_' (at most 64 characters)",
    "model_name": "model_name may hold only letters, digits, '_', '.' and '-' (no spaces or shell signs)",
    "data_path": "data_path must be an absolute path of letters, digits, '_', '.', '-' and '/'",
    "choices": "a choice must be text without control characters",
}
# v2 field → the 2017 key it comes from, to report a v2 validation error where the 2017 document has it.
_TOP_RENAMES = {"id": "name", "anatomy": "organ", "description": "briefdescription", "metrics": "test"}
_TOP_RENAMES |= {"training_data": "train_test_data_details", "runtime": "docker"}
_TOP_RENAMES |= {"inputs": "members", "outputs": "members", "parameters": "members"}
_MEMBER_RENAMES = {"description": "detaileddescriptionSet", "choices": "enum", "labels": "voltype"}
_MEMBER_RENAMES |= {"minimum": "type", "maximum": "type"}
# Stands in for an image refused above, so the other runtime fields are still checked; never imported.
_REFUSED_IMAGE = "sha256:" + "0" * 64


def looks_like_legacy(data: Any) -> bool:
    """Whether a JSON document is a 2017 DeepInfer description rather than a v2 card."""
    return isinstance(data, dict) and {"docker", "members"} <= data.keys() and "schema_version" not in data


def load_legacy(path: Path) -> tuple[ModelCard, list[str]]:
    """Read and import a 2017 DeepInfer JSON file; see :func:`import_legacy`."""
    return import_legacy(read_card_json(path), str(path))


def import_legacy(data: Any, source: str) -> tuple[ModelCard, list[str]]:
    """A v2 card from a 2017 DeepInfer registry document, and notes on what was dropped or inferred.

    Raises :class:`CardError` listing every problem (JSON path into the 2017 document + message)."""
    if not isinstance(data, dict):
        raise CardError(source, [Problem("$", f"a 2017 description is an object, not {type(data).__name__}")])
    importer = _Importer(data)
    card = importer.card()
    if card is None:
        raise CardError(source, importer.problems)
    return card, list(card.notes)


def json_key(path: str, key: str | int) -> str:
    """``path`` and one more key: ``$.test`` + ``number of subjects`` → ``$.test['number of subjects']``."""
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key) else f"{path}[{key!r}]"


def _meaningful(value: Any) -> str | None:
    """Stripped text, or None for the 2017 placeholders ("" and ".") and non-text values."""
    if not isinstance(value, str) or value.strip() in _PLACEHOLDERS:
        return None
    return value.strip()


def _shown(value: Any, limit: int = 80) -> str:
    """A value for a message: its repr (control characters escaped), cut to ``limit`` characters."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _semver(version: Any) -> str | None:
    """'0.1' → '0.1.0', '1' → '1.0.0'; None when the value is not a dotted number."""
    text = str(version).strip() if isinstance(version, str | int | float) and not isinstance(version, bool) else ""
    if not re.fullmatch(r"\d+(?:\.\d+){0,2}", text):
        return None
    parts = [str(int(part)) for part in text.split(".")]
    return ".".join(parts + ["0"] * (3 - len(parts)))


class _Importer:
    """One import: converts the pieces, collecting problems and notes."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data
        self.problems: list[Problem] = []
        self.notes: list[str] = []
        self.dropped: dict[tuple[str, str], list[str]] = {}

    def problem(self, path: str, message: str) -> None:
        self.problems.append(Problem(path, message))

    def build(self, cls: type[M], values: dict[str, Any], path: str, renames: Mapping[str, str]) -> M | None:
        """``cls`` validated from ``values``; its errors are recorded at the 2017 location they came from."""
        try:
            return cls.model_validate(values)
        except ValidationError as error:
            for item in error.errors():
                self.problem(*_located(item, path, renames))
            return None

    def text(self, key: str) -> str | None:
        """A required top-level text field."""
        value = _meaningful(self.data.get(key))
        if value is None:
            self.problem(json_key("$", key), f"{key} is missing or empty")
        return value

    # ------------------------------------------------------------------------------------------- card

    def absent(self, key: str, default: str, why: str) -> bool:
        """Whether ``key`` is absent from the 2017 file (the 2017 Slicer module needed only ``name``,
        ``docker`` and ``members``); if so, note the ``default`` used and ``why``. A key that is present is
        checked as given (an empty or wrong value is a problem, never replaced)."""
        if self.data.get(key) is not None:
            return False
        self.notes.append(f"no {key} in the 2017 file: {why} {default!r}")
        return True

    def card(self) -> ModelCard | None:
        name = self.text("name")
        anatomy = DEFAULT_ANATOMY if self.absent("organ", DEFAULT_ANATOMY, "anatomy set to") else self.text("organ")
        modality = self.text("modality") if not self.absent("modality", UNSPECIFIED, "set to") else UNSPECIFIED
        identity: dict[str, Any] = {"id": slugify(name or ""), "name": name, "anatomy": anatomy}
        identity |= {"modality": modality, "version": self._version()}
        runtime = self._runtime()
        sections = self._members(label_name=anatomy if anatomy not in (None, "Other", DEFAULT_ANATOMY) else name)
        identity["task"] = self._task(sections)
        about = self._about()
        self._drop_quirks()
        if self.problems or runtime is None:
            return None
        self.notes.append(f"no license in the 2017 description: code and weights are {NO_LICENSE}")
        values: dict[str, Any] = {**identity, **about, **sections, "runtime": runtime, "notes": self.notes}
        values |= {"license": {"code": NO_LICENSE, "weights": NO_LICENSE}, "tags": [PROTOCOL_2017]}
        return self.build(ModelCard, {**values, "resources": Resources(gpu=runtime.gpu)}, "$", _TOP_RENAMES)

    def _about(self) -> dict[str, Any]:
        """The descriptive fields: description, training data, metrics, website, citation."""
        metric = self._metric()
        citation = self._optional("citation")
        descriptions = map(self._optional, ("briefdescription", "detaileddescription"))
        return {
            "description": "\n\n".join(filter(None, descriptions)),
            "training_data": self._training_data(),
            "metrics": [metric] if metric else [],
            "website": self._optional("website"),
            "citation": Citation(text=citation) if citation else None,
        }

    def _optional(self, key: str) -> str | None:
        return _meaningful(self.data.get(key))

    def _version(self) -> str | None:
        if self.absent("version", DEFAULT_VERSION, "imported as version"):
            return DEFAULT_VERSION
        raw = self.data.get("version")
        version = _semver(raw)
        if version is None:
            self.problem("$.version", f"version {_shown(raw)} is not a number like 1, 0.1 or 1.2.3")
        return version

    def _task(self, sections: dict[str, list[BaseModel]]) -> str | None:
        if self.data.get("task") is None:
            if any(isinstance(member, LabelmapMember) for member in sections["outputs"]):
                self.notes.append("no task in the 2017 file: segmentation, inferred from its LabelMap output")
                return "segmentation"
            self.problem("$.task", "task is missing, and with no LabelMap output it cannot be inferred")
            return None
        raw = self.data.get("task")
        task = raw.strip().rstrip(".").strip().lower() if isinstance(raw, str) else None
        if task not in _TASKS:
            self.problem("$.task", f"task {_shown(raw)} is not one of {', '.join(sorted(_TASKS))}")
            return None
        return task

    def _training_data(self) -> str | None:
        details = self._optional("train_test_data_details")
        training = self.data.get("training", {})
        subjects = training.get("number of subjects") if isinstance(training, dict) else None
        if not isinstance(training, dict) or not (subjects is None or _count(subjects)):
            self.problem("$.training", "training must be an object with a whole 'number of subjects'")
        count = f"Training subjects: {subjects}." if _count(subjects) else None
        return " ".join(filter(None, (details, count))) or None

    def _metric(self) -> Metric | None:
        test = self.data.get("test")
        if test is None:
            return None
        if not isinstance(test, dict):
            self.problem("$.test", "test must be an object with Accuracy, Metric and 'number of subjects'")
            return None
        renames = {"name": "Metric", "value": "Accuracy", "n": "number of subjects"}
        values = {field: test.get(key) for field, key in renames.items()}
        name = test.get("Metric", "Accuracy")
        values["name"] = _METRIC_NAMES.get(name.lower(), name) if isinstance(name, str) else name
        return self.build(Metric, values, "$.test", renames)

    def _drop_quirks(self) -> None:
        for key in sorted(self.data.keys() - _TOP_KEYS):
            self.notes.append(f"dropped {_shown(key)}: not part of the 2017 format")
        for key in _TOP_QUIRKS:
            if key in self.data:
                self.notes.append(f"dropped {key} ({_shown(self.data[key])}): {_DROPPED[key]}")
        for (key, value), names in self.dropped.items():
            reason = _DROPPED.get(key, "unknown key")
            self.notes.append(f"dropped {key} {value} of {', '.join(names)}: {reason}")

    # ---------------------------------------------------------------------------------------- runtime

    def _runtime(self) -> ContainerRuntime | None:
        docker = self.data.get("docker")
        if not isinstance(docker, dict):
            self.problem("$.docker", "docker must be an object with dockerhub_repository and digest")
            return None
        repository, digest = docker.get("dockerhub_repository"), docker.get("digest")
        image_ok = self._image_part(repository, IMAGE_NAME, "dockerhub_repository", "owner/name[:tag]")
        image_ok &= self._image_part(digest, DIGEST, "digest", "sha256:<64 lowercase hex digits>")
        for key in sorted(docker.keys() - {"dockerhub_repository", "digest"}):
            reason = _DROPPED.get(key, "unknown key")
            self.notes.append(f"dropped docker.{key} ({_shown(docker[key])}): {reason}")
        values = {
            "image": f"{repository}@{digest}" if image_ok else _REFUSED_IMAGE,
            "model_name": self.data.get("model_name"),
            "data_path": self.data.get("data_path", "/data"),
            "protocol": PROTOCOL_2017,
            "gpu": self._gpu(str(repository)),
        }
        return self.build(ContainerRuntime, values, "$", {"image": "docker", "gpu": "docker"})

    def _image_part(self, value: Any, pattern: str, key: str, form: str) -> bool:
        """Whether one part of the image reference is plain; whitespace and docker options are refused."""
        if isinstance(value, str) and re.fullmatch(pattern, value):
            return True
        self.problem(
            f"$.docker.{key}",
            f"{key} must be of the form {form} (no spaces, no options); got {_shown(value)}",
        )
        return False

    def _gpu(self, repository: str) -> Gpu:
        words = set(re.split(r"[^a-z0-9]+", repository.lower()))
        gpu: Gpu = "required" if "gpu" in words else "none" if "cpu" in words else "optional"
        if gpu != "optional":
            self.notes.append(f"GPU use ({gpu}) inferred from the image name")
        return gpu

    # ---------------------------------------------------------------------------------------- members

    def _members(self, label_name: str | None) -> dict[str, list[BaseModel]]:
        sections: dict[str, list[BaseModel]] = {"inputs": [], "outputs": [], "parameters": []}
        members = self.data.get("members")
        if not isinstance(members, list):
            self.problem("$.members", "members must be a list")
            return sections
        first_seen: dict[Any, str] = {}
        for index, raw in enumerate(members):
            path = f"$.members[{index}]"
            if not isinstance(raw, dict):
                self.problem(path, "a member must be an object")
                continue
            name = raw.get("name")
            if isinstance(name, str) and name in first_seen:
                self.problem(f"{path}.name", f"the name {_shown(name)} is already used at {first_seen[name]}")
            if isinstance(name, str):
                first_seen.setdefault(name, path)
            self._drop_member_keys(raw)
            converted = self._member(raw, path, label_name or "label")
            if converted is not None:
                sections[converted[0]].append(converted[1])
        return sections

    def _member(self, raw: dict[str, Any], path: str, label_name: str) -> tuple[Section, BaseModel] | None:
        kind, iotype = raw.get("type"), raw.get("iotype", "parameter")
        description = _meaningful(raw.get("detaileddescriptionSet")) or ""
        values = {"name": raw.get("name"), "description": description}
        if kind in ("volume", "point_vec"):
            return self._io_member(raw, path, values, label_name)
        cls, extra = self._parameter_type(raw, path)
        if cls is None:
            return None
        if iotype not in ("parameter", "input"):
            self.problem(f"{path}.iotype", f"a {kind} member is a parameter, not an {_shown(iotype)}")
            return None
        if iotype == "input":
            self.notes.append(f"member {raw.get('name')} is a {kind} input in 2017; imported as a parameter")
        built = self.build(cls, {**values, **extra}, path, _MEMBER_RENAMES)
        return ("parameters", built) if built else None

    def _parameter_type(self, raw: dict[str, Any], path: str) -> _Typed:
        """The parameter class of a member and the fields its type implies (choices, range, default)."""
        kind = raw.get("type")
        default = {"default": raw["default"]} if "default" in raw else {}
        if kind == "enum":
            choices = raw.get("enum")
            first = choices[0] if isinstance(choices, list) and choices else None
            return EnumParameter, {"choices": choices, "default": raw.get("default", first)}
        if isinstance(kind, str) and kind in _C_INT_RANGES:
            minimum, maximum = _C_INT_RANGES[kind]
            return IntParameter, {"minimum": minimum, "maximum": maximum, **default}
        if isinstance(kind, str) and kind in _SIMPLE_PARAMETERS:
            return _SIMPLE_PARAMETERS[kind], default
        known = ", ".join(["volume", "point_vec", "enum", *_SIMPLE_PARAMETERS, *_C_INT_RANGES])
        self.problem(f"{path}.type", f"unknown member type {_shown(kind)}; known: {known}")
        return None, {}

    def _io_member(
        self, raw: dict[str, Any], path: str, values: dict[str, Any], label_name: str
    ) -> tuple[Section, BaseModel] | None:
        iotype, voltype = raw.get("iotype"), raw.get("voltype", "")
        if iotype not in ("input", "output"):
            self.problem(f"{path}.iotype", f"iotype must be input or output, not {_shown(iotype)}")
            return None
        section: Section = "inputs" if iotype == "input" else "outputs"
        volume_type = _VOLUME_TYPES.get(voltype) if isinstance(voltype, str) else None
        cls = volume_type if raw["type"] == "volume" else PointListMember
        if cls is None:
            self.problem(f"{path}.voltype", f"voltype {_shown(voltype)} is neither ScalarVolume nor LabelMap")
            return None
        if cls is VolumeMember and iotype == "output" and "prob" in str(raw.get("name")).lower():
            cls = ProbabilityMapMember
        if cls is LabelmapMember:
            values["labels"] = [{"value": 1, "name": label_name, "color": LABEL_COLOR}]
        built = self.build(cls, values, path, _MEMBER_RENAMES)
        return (section, built) if built else None

    def _drop_member_keys(self, raw: dict[str, Any]) -> None:
        """Record the member keys that do not reach the card (volume defaults, C++ types, unknown keys)."""
        dropped = set(raw) - _MEMBER_KEYS
        if raw.get("type") in ("volume", "point_vec"):
            dropped |= {"default"} & raw.keys()
        for key in sorted(dropped):
            self.dropped.setdefault((key, _shown(raw[key])), []).append(str(raw.get("name")))


def _located(item: Any, path: str, renames: Mapping[str, str]) -> tuple[str, str]:
    """A pydantic error → (JSON path in the 2017 document, message)."""
    location = tuple(item["loc"])
    field = location[0] if location and isinstance(location[0], str) else None
    legacy = json_key(path, renames.get(field, field)) if field else path
    for part in location[1:]:
        legacy = json_key(legacy, part)
    message = str(item["msg"]).removeprefix("Value error, ")
    if item["type"] == "string_pattern_mismatch" and field in _PATTERN_HELP:
        message = f"{_PATTERN_HELP[field]}; got {_shown(item['input'])}"
    if field in renames:
        message += f" (card field {'.'.join(map(str, location))})"
    return legacy, message
