"""Planning a run's files: which outputs a card writes as images and where, where their provenance goes, and
the checks on the input and output paths before anything is read."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

from deepinfer._exceptions import InputError, UsageError
from deepinfer.card import ClassScoresMember, ModelCard, PointListMember, ScalarMember
from deepinfer.imaging import SUPPORTED_SUFFIXES, image_suffix

_NON_VOLUME_OUTPUTS = (ClassScoresMember, ScalarMember, PointListMember)
DICOM_SUFFIX = ".dcm"


def output_stem(path: Path) -> str:
    """The file name without its image suffix (``seg.nii.gz`` → ``seg``)."""
    suffix = image_suffix(path)
    return path.name[: len(path.name) - len(suffix)] if suffix else path.stem


def volume_outputs(card: ModelCard) -> list[str]:
    """Names of the card's outputs that are written as image files, primary (first labelmap) first."""
    names = [o.name for o in card.outputs if not isinstance(o, _NON_VOLUME_OUTPUTS)]
    labelmaps = [o.name for o in card.outputs if o.type == "labelmap"]
    return labelmaps[:1] + [n for n in names if n not in labelmaps[:1]]


def plan_outputs(card: ModelCard, primary: Path, explicit: Mapping[str, Path] | None = None) -> dict[str, Path]:
    """Output member → file: the primary output at ``primary``, the others beside it as ``STEM.NAME.SUFFIX``.

    A ``.dcm`` primary (a labelmap written as DICOM SEG, see :mod:`deepinfer.run._dicom_outputs`) puts the other
    labelmaps beside it as ``.dcm`` too and the other image outputs as ``.nii.gz``."""
    dicom = primary.name.lower().endswith(DICOM_SUFFIX)
    suffix = DICOM_SUFFIX if dicom else image_suffix(primary)
    if suffix is None:
        formats = ", ".join((*SUPPORTED_SUFFIXES, DICOM_SUFFIX))
        raise UsageError(f"{primary}: unsupported output format; use one of {formats} (.dcm: a DICOM SEG)")
    names = volume_outputs(card)
    explicit = dict(explicit or {})
    unknown = sorted(set(explicit) - set(names))
    if unknown:
        raise UsageError(f"{card.id} has no image output {', '.join(unknown)}; its outputs are {', '.join(names)}")
    labelmaps = {o.name for o in card.outputs if o.type == "labelmap"}
    plan = {names[0]: primary}
    for name in names[1:]:
        beside = suffix if not dicom or name in labelmaps else ".nii.gz"
        plan[name] = primary.with_name(f"{output_stem(primary)}.{name}{beside}")
    plan.update(explicit)
    return plan


def provenance_path(output: Path) -> Path:
    """Where the provenance sidecar of ``output`` goes: ``STEM.provenance.json`` beside it."""
    return output.with_name(f"{output_stem(output)}.provenance.json")


def check_input_names(card: ModelCard, given: Iterable[str]) -> None:
    """A :class:`UsageError` naming the inputs ``card`` does not have, or the required ones not given."""
    names = {m.name for m in card.inputs}
    given = set(given)
    unknown = sorted(given - names)
    if unknown:
        raise UsageError(f"{card.id} has no input {', '.join(unknown)}; its inputs are {', '.join(sorted(names))}")
    missing = [m.name for m in card.inputs if getattr(m, "required", True) and m.name not in given]
    if missing:
        raise UsageError(f"{card.id} needs the input(s) {', '.join(missing)}")


def check_inputs(card: ModelCard, inputs: Mapping[str, Path], outputs: Mapping[str, Path]) -> None:
    """Refuse unknown or missing inputs, input files that do not exist, outputs that would overwrite an
    input, and output folders that do not exist."""
    check_input_names(card, inputs)
    for name, path in inputs.items():
        if not path.exists():
            raise InputError(f"{path}: no such file or folder (input {name})")
    sources = {p.resolve() for p in inputs.values()}
    for path in outputs.values():
        if path.resolve() in sources:
            raise UsageError(f"{path}: an output would overwrite an input")
        if not path.parent.is_dir():
            raise UsageError(f"{path}: the output folder {path.parent} does not exist")
