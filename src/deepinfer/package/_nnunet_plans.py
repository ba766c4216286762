"""Read an nnU-Net v2 results folder's ``dataset.json`` and ``plans.json`` as data, and map them onto steps.

Every value the card needs is checked for type and range; every problem is recorded with a JSON path into its
file, so that one refusal lists them all. Only what deepinfer reproduces exactly is accepted: 3D configurations
without a previous stage, label-based or region-based training (``regions_class_order``), one or several input
channels, the default preprocessor and resampling function (separate z for anisotropic grids included), the
normalization schemes ``ZScoreNormalization``, ``CTNormalization`` and ``NoNormalization``. The network's
architecture is read here too, and only from an allowlist of classes.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from deepinfer._exceptions import Problem

DATASET: Final = "dataset.json"
PLANS: Final = "plans.json"
MAX_PATCH: Final = 1024
MAX_CHANNELS: Final = 16
MAX_LABELS: Final = 255
NETWORKS: Final = {
    "dynamic_network_architectures.architectures.unet.PlainConvUNet": "PlainConvUNet",
    "dynamic_network_architectures.architectures.unet.ResidualEncoderUNet": "ResidualEncoderUNet",
}
# the classes an architecture may name for its layers (nnU-Net imports any dotted name; deepinfer does not)
LAYERS: Final = {
    "conv_op": ("torch.nn.modules.conv.Conv3d", "torch.nn.Conv3d"),
    "norm_op": (
        "torch.nn.modules.instancenorm.InstanceNorm3d",
        "torch.nn.InstanceNorm3d",
        "torch.nn.modules.batchnorm.BatchNorm3d",
        "torch.nn.BatchNorm3d",
    ),
    "dropout_op": ("torch.nn.modules.dropout.Dropout3d", "torch.nn.Dropout3d"),
    "nonlin": (
        "torch.nn.LeakyReLU",
        "torch.nn.modules.activation.LeakyReLU",
        "torch.nn.ReLU",
        "torch.nn.modules.activation.ReLU",
    ),
}
SCHEMES: Final = {"ZScoreNormalization": "zscore", "CTNormalization": "ct", "NoNormalization": "none"}
RESAMPLING: Final = "resample_data_or_seg_to_shape"
RESAMPLING_KEYS: Final = {"is_seg", "order", "order_z", "force_separate_z", "separate_z_anisotropy_threshold"}
SEPARATE_Z: Final = {None: "auto", True: "always", False: "never"}
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9 _.+()-]{0,63}")


@dataclass
class NnunetPlan:
    """What the card needs from the two files, in nnU-Net's axis order (the importer maps the axes)."""

    configuration: str
    channels: list[str] = field(default_factory=list)
    labels: dict[int, str] = field(default_factory=dict)
    patch: list[int] = field(default_factory=list)
    spacing: list[float] = field(default_factory=list)
    transpose: list[int] = field(default_factory=lambda: [0, 1, 2])
    normalization: list[dict[str, Any]] = field(default_factory=list)
    data_order: int = 3
    probability_order: int = 1
    data_order_z: int = 0
    probability_order_z: int = 0
    separate_z: dict[str, str] = field(default_factory=lambda: {"data": "auto", "probabilities": "auto"})
    anisotropy_threshold: dict[str, float] = field(default_factory=lambda: {"data": 3.0, "probabilities": 3.0})
    regions: list[tuple[str, list[int]]] = field(default_factory=list)  # region-based: (name, label values)
    regions_order: list[int] = field(default_factory=list)  # the value each region paints (regions_class_order)
    network_class: str = "PlainConvUNet"
    network_kwargs: dict[str, Any] = field(default_factory=dict)
    dataset_name: str = "nnunet-model"

    @property
    def heads(self) -> int:
        """The network's output channels: one per region, or one per label (background included)."""
        return len(self.regions) if self.regions else len(self.labels)


class Reader:
    """Typed access to one JSON document that records a problem (with its JSON path) instead of raising."""

    def __init__(self, file: str, problems: list[Problem]) -> None:
        self.file = file
        self.problems = problems

    def problem(self, path: str, message: str) -> None:
        self.problems.append(Problem(f"{self.file}:{path}", message))

    def get(self, data: Mapping[str, Any], key: str, path: str, kind: type | tuple[type, ...]) -> Any:
        value = data.get(key)
        if not isinstance(value, kind) or (isinstance(value, bool) and bool not in _kinds(kind)):
            names = "/".join(k.__name__ for k in _kinds(kind))
            self.problem(f"{path}.{key}", f"must be {names}, got {_show(value)}")
            return None
        return value

    def ints(self, data: Mapping[str, Any], key: str, path: str, low: int, high: int, count: int) -> list[int]:
        values = self.get(data, key, path, list)
        ok = isinstance(values, list) and len(values) == count
        ok = ok and all(isinstance(v, int) and not isinstance(v, bool) and low <= v <= high for v in values)
        if values is not None and not ok:
            self.problem(f"{path}.{key}", f"must be {count} whole numbers in {low}..{high}, got {_show(values)}")
            return []
        return list(values) if values is not None else []

    def numbers(self, data: Mapping[str, Any], key: str, path: str, low: float, high: float) -> list[float]:
        values = self.get(data, key, path, list)
        ok = isinstance(values, list) and len(values) == 3
        ok = ok and all(_number(v) and low < float(v) <= high for v in values)
        if values is not None and not ok:
            self.problem(f"{path}.{key}", f"must be 3 numbers above {low:g} and at most {high:g}, got {_show(values)}")
            return []
        return [float(v) for v in values]


def _kinds(kind: type | tuple[type, ...]) -> tuple[type, ...]:
    return kind if isinstance(kind, tuple) else (kind,)


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value == value and abs(value) < 1e30


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def read_dataset(data: Mapping[str, Any], plan: NnunetPlan, problems: list[Problem]) -> None:
    """Channels (``channel_names``, in order), labels (``labels``: name → value, or name → list of values for
    a region with ``regions_class_order``); the ``ignore`` label is no network output and is left out."""
    reader = Reader(DATASET, problems)
    channels = reader.get(data, "channel_names", "$", dict)
    if channels is not None:
        keys = [str(i) for i in range(len(channels))]
        if sorted(channels, key=str) != sorted(keys) or not 1 <= len(channels) <= MAX_CHANNELS:
            reader.problem("$.channel_names", f"must map '0'..'{len(channels) - 1}' to names (1 to {MAX_CHANNELS})")
        else:
            plan.channels = [str(channels[k]) for k in keys]
    labels = reader.get(data, "labels", "$", dict)
    if labels is None:
        return
    if any(isinstance(v, list | tuple) for v in labels.values()) or "regions_class_order" in data:
        read_regions(reader, labels, data.get("regions_class_order"), plan)
        return
    for name, value in labels.items():
        where = f"$.labels.{name}"
        if name == "ignore" and _label(value):
            continue
        if not _label(value):
            reader.problem(where, f"must be a label value 0..{MAX_LABELS}, got {_show(value)}")
        elif not NAME.fullmatch(str(name)):
            reader.problem(where, "label names are plain words (letters, digits, space, _ . + - ( ))")
        else:
            plan.labels[value] = str(name)
    if plan.labels and sorted(plan.labels) != list(range(len(plan.labels))):
        reader.problem("$.labels", f"values must be 0..N-1 with background 0, got {sorted(plan.labels)}")


def _label(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_LABELS


def read_regions(reader: Reader, labels: Mapping[str, Any], order: Any, plan: NnunetPlan) -> None:
    """Region-based training as nnU-Net's ``LabelManager``: every label but background (0) and ``ignore`` is a
    region (a value or a list of values), one sigmoid output each, in the file's order; ``regions_class_order``
    gives the value each paints."""
    if labels.get("background") != 0:
        reader.problem("$.labels.background", "must be 0")
    for name, value in labels.items():
        where = f"$.labels.{name}"
        values = list(value) if isinstance(value, list | tuple) else [value]
        if name == "ignore" and _label(value):
            continue
        if not values or len(values) > MAX_LABELS or not all(_label(v) for v in values):
            reader.problem(where, f"must be a label value or a list of values 0..{MAX_LABELS}, got {_show(value)}")
        elif not NAME.fullmatch(str(name)):
            reader.problem(where, "label names are plain words (letters, digits, space, _ . + - ( ))")
        elif set(values) != {0}:
            plan.regions.append((str(name), [int(v) for v in values]))
    if not isinstance(order, list) or not all(_label(v) and v > 0 for v in order):
        reader.problem("$.regions_class_order", f"must list the label value (1..{MAX_LABELS}) each region paints")
    elif len(order) != len(plan.regions):
        reader.problem("$.regions_class_order", f"has {len(order)} values for {len(plan.regions)} regions")
    else:
        plan.regions_order = [int(v) for v in order]
        plan.labels = {0: "background"}
        for (name, _), value in zip(plan.regions, plan.regions_order, strict=True):
            plan.labels.setdefault(value, name)


def read_plans(data: Mapping[str, Any], plan: NnunetPlan, problems: list[Problem]) -> None:
    reader = Reader(PLANS, problems)
    name = data.get("dataset_name")
    if isinstance(name, str) and NAME.fullmatch(name):
        plan.dataset_name = name
    transpose = reader.ints(data, "transpose_forward", "$", 0, 2, 3)
    if transpose and sorted(transpose) != [0, 1, 2]:
        reader.problem("$.transpose_forward", f"must be a permutation of 0, 1, 2, got {transpose}")
    elif transpose:
        plan.transpose = transpose
    configurations = reader.get(data, "configurations", "$", dict)
    if configurations is None:
        return
    found = configurations.get(plan.configuration)
    where = f"$.configurations.{plan.configuration}"
    if not isinstance(found, dict):
        known = ", ".join(sorted(str(k) for k in configurations))
        reader.problem(where, f"no such configuration (the plans have: {known})")
        return
    if "inherits_from" in found:
        reader.problem(f"{where}.inherits_from", "inherited configurations are not supported: name the base one")
    if found.get("previous_stage") is not None or "cascade" in plan.configuration:
        reader.problem(f"{where}.previous_stage", "cascades need the previous stage's output: not supported")
    if found.get("preprocessor_name", "DefaultPreprocessor") != "DefaultPreprocessor":
        reader.problem(f"{where}.preprocessor_name", "only nnU-Net's DefaultPreprocessor is supported")
    read_configuration(reader, found, where, plan)
    intensities = data.get("foreground_intensity_properties_per_channel")
    read_normalization(reader, found, where, intensities, plan)


def read_configuration(reader: Reader, config: Mapping[str, Any], where: str, plan: NnunetPlan) -> None:
    plan.patch = reader.ints(config, "patch_size", where, 1, MAX_PATCH, 3)
    if isinstance(config.get("patch_size"), list) and len(config["patch_size"]) == 2:
        reader.problems[-1] = Problem(f"{PLANS}:{where}.patch_size", "2D configurations are not supported")
    plan.spacing = reader.numbers(config, "spacing", where, 0.0, 1e4)
    for kind, attribute in (("data", "data_order"), ("probabilities", "probability_order")):
        function = config.get(f"resampling_fn_{kind}")
        if function != RESAMPLING:
            reader.problem(f"{where}.resampling_fn_{kind}", f"only {RESAMPLING} is supported, got {_show(function)}")
        kwargs = reader.get(config, f"resampling_fn_{kind}_kwargs", where, dict)
        if kwargs is None:
            continue
        path = f"{where}.resampling_fn_{kind}_kwargs"
        order = kwargs.get("order")
        if not isinstance(order, int) or isinstance(order, bool) or not 0 <= order <= 5:
            reader.problem(f"{path}.order", f"must be a spline order 0..5, got {_show(order)}")
        else:
            setattr(plan, attribute, order)
        read_separate_z(reader, kwargs, path, kind, plan)
        if kwargs.get("is_seg", False) is not False:
            reader.problem(f"{path}.is_seg", "must be false")
    if plan.separate_z["data"] != plan.separate_z["probabilities"] or len(set(plan.anisotropy_threshold.values())) > 1:
        reader.problem(
            f"{where}.resampling_fn_probabilities_kwargs",
            "force_separate_z and separate_z_anisotropy_threshold must be the data's (as in nnU-Net's plans)",
        )
    read_architecture(reader, config, where, plan)


def read_separate_z(reader: Reader, kwargs: Mapping[str, Any], path: str, kind: str, plan: NnunetPlan) -> None:
    """``order_z``, ``force_separate_z`` (null: nnU-Net decides by the anisotropy threshold) and the threshold."""
    unknown = sorted(str(k) for k in kwargs if k not in RESAMPLING_KEYS)
    if unknown:
        reader.problem(
            path, f"unknown resampling options {_show(unknown)} (known: {', '.join(sorted(RESAMPLING_KEYS))})"
        )
    order_z = kwargs.get("order_z", 0)
    if not isinstance(order_z, int) or isinstance(order_z, bool) or not 0 <= order_z <= 5:
        reader.problem(f"{path}.order_z", f"must be a spline order 0..5, got {_show(order_z)}")
    elif kind == "data":
        plan.data_order_z = order_z
    else:
        plan.probability_order_z = order_z
    force = kwargs.get("force_separate_z")
    if force is not None and not isinstance(force, bool):
        reader.problem(f"{path}.force_separate_z", f"must be null, true or false, got {_show(force)}")
    else:
        plan.separate_z[kind] = SEPARATE_Z[force]
    threshold = kwargs.get("separate_z_anisotropy_threshold", 3.0)
    if not _number(threshold) or not 1 <= float(threshold) <= 1e3:
        reader.problem(f"{path}.separate_z_anisotropy_threshold", f"must be a number 1..1000, got {_show(threshold)}")
    else:
        plan.anisotropy_threshold[kind] = float(threshold)


def read_normalization(
    reader: Reader, config: Mapping[str, Any], where: str, intensities: Any, plan: NnunetPlan
) -> None:
    schemes = reader.get(config, "normalization_schemes", where, list)
    masks = reader.get(config, "use_mask_for_norm", where, list)
    if schemes is None or masks is None:
        return
    if plan.channels and (len(schemes) != len(plan.channels) or len(masks) != len(plan.channels)):
        reader.problem(f"{where}.normalization_schemes", f"must have one entry per channel ({len(plan.channels)})")
        return
    for index, (scheme, mask) in enumerate(zip(schemes, masks, strict=False)):
        path = f"{where}.normalization_schemes[{index}]"
        kind = SCHEMES.get(scheme) if isinstance(scheme, str) else None
        if kind is None:
            reader.problem(path, f"{_show(scheme)} is not supported (supported: {', '.join(SCHEMES)})")
            continue
        entry: dict[str, Any] = {"scheme": kind}
        if kind == "zscore":
            entry["use_mask"] = mask is True
        if kind == "ct":
            entry.update(ct_statistics(reader, intensities, index))
        plan.normalization.append(entry)


def ct_statistics(reader: Reader, intensities: Any, index: int) -> dict[str, float]:
    path = f"$.foreground_intensity_properties_per_channel.{index}"
    found = intensities.get(str(index)) if isinstance(intensities, dict) else None
    if not isinstance(found, dict):
        reader.problem(path, "CTNormalization needs the channel's foreground intensity statistics")
        return {}
    values: dict[str, float] = {}
    for key, name in (("mean", "mean"), ("std", "std"), ("percentile_00_5", "lower"), ("percentile_99_5", "upper")):
        value = found.get(key)
        if isinstance(value, int | float) and _number(value):
            values[name] = float(value)
        else:
            reader.problem(f"{path}.{key}", f"must be a number, got {_show(value)}")
    return values


def read_architecture(reader: Reader, config: Mapping[str, Any], where: str, plan: NnunetPlan) -> None:
    """The network class (allowlisted) and its keyword arguments, with layer classes from ``LAYERS`` only."""
    architecture = reader.get(config, "architecture", where, dict)
    if architecture is None:
        return
    path = f"{where}.architecture"
    name = architecture.get("network_class_name")
    if name not in NETWORKS:
        reader.problem(
            f"{path}.network_class_name", f"{_show(name)} is not supported (supported: {', '.join(NETWORKS)})"
        )
        return
    plan.network_class = NETWORKS[name]
    kwargs = reader.get(architecture, "arch_kwargs", path, dict)
    if kwargs is None:
        return
    for key, allowed in LAYERS.items():
        value = kwargs.get(key)
        if value is None and key == "dropout_op":
            continue
        if value not in allowed:
            reader.problem(
                f"{path}.arch_kwargs.{key}", f"{_show(value)} is not supported (supported: {', '.join(allowed)})"
            )
    stages = kwargs.get("n_stages")
    if not isinstance(stages, int) or isinstance(stages, bool) or not 1 <= stages <= 12:
        reader.problem(f"{path}.arch_kwargs.n_stages", f"must be 1..12, got {_show(stages)}")
    features = kwargs.get("features_per_stage")
    if not isinstance(features, list) or not all(isinstance(f, int) and 1 <= f <= 4096 for f in features):
        reader.problem(f"{path}.arch_kwargs.features_per_stage", "must be a list of 1..4096 features per stage")
    plan.network_kwargs = dict(kwargs)
