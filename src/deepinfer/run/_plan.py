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


def score_outputs(card: ModelCard) -> list[str]:
    """Names of the card's ``class_scores`` outputs (written as JSON, with a CSV beside)."""
    return [o.name for o in card.outputs if isinstance(o, ClassScoresMember)]


def file_outputs(card: ModelCard) -> list[str]:
    """Names of the outputs a run writes as files: the image outputs (primary first), then the class scores."""
    return volume_outputs(card) + score_outputs(card)


def _check_suffix(card: ModelCard, name: str, path: Path) -> None:
    if name in score_outputs(card):
        if not path.name.lower().endswith((".json", DICOM_SUFFIX)):
            raise UsageError(
                f"{path}: the class scores {name} of {card.id} are written as JSON (or a DICOM SR of a DICOM input); "
                "name a .json or .dcm file"
            )
    elif image_suffix(path) is None and not path.name.lower().endswith(DICOM_SUFFIX):
        formats = ", ".join((*SUPPORTED_SUFFIXES, DICOM_SUFFIX))
        raise UsageError(f"{path}: unsupported output format; use one of {formats} (.dcm: a DICOM SEG)")


def plan_outputs(card: ModelCard, primary: Path, explicit: Mapping[str, Path] | None = None) -> dict[str, Path]:
    """Output member → file: the primary output at ``primary``, the others beside it as ``STEM.NAME.SUFFIX``
    (``.json`` for class scores; the primary's image suffix, else ``.nii.gz``, for images)."""
    names = file_outputs(card)
    explicit = dict(explicit or {})
    unknown = sorted(set(explicit) - set(names))
    if unknown:
        raise UsageError(f"{card.id} has no file output {', '.join(unknown)}; its outputs are {', '.join(names)}")
    for name, path in {names[0]: primary, **explicit}.items():
        _check_suffix(card, name, path)
    suffix = image_suffix(primary) or ".nii.gz"
    stem = output_stem(primary) if image_suffix(primary) else primary.stem
    # a .dcm primary (a DICOM SEG, see run._dicom_outputs): the other labelmaps as .dcm too, other images as NIfTI
    labelmaps = {o.name for o in card.outputs if o.type == "labelmap"}
    dicom = labelmaps if primary.name.lower().endswith(DICOM_SUFFIX) else set()
    plan = {names[0]: primary}
    for name in names[1:]:
        beside = ".json" if name in score_outputs(card) else DICOM_SUFFIX if name in dicom else suffix
        plan[name] = primary.with_name(f"{stem}.{name}{beside}")
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
