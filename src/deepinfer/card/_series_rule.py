"""Which DICOM series a volume input takes: the card's selection rule (``inputs[].series``).

The rules come from registries, so the two text patterns (SeriesDescription, ProtocolName) are held to a safe
subset of Python regular expressions, checked here once: at most :data:`MAX_PATTERN_LENGTH` characters, no
back-references or look-arounds, a group followed by no repetition other than ``?``, and at most
:data:`MAX_REPETITIONS` repetitions (``*``, ``+``, ``{m,n}``) in all. With the subject cut to the 64 characters a
DICOM LO value holds, no such pattern can backtrack for long. Patterns match anywhere in the value, ignoring case.
"""

from __future__ import annotations

import re
from typing import Annotated, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

MAX_PATTERN_LENGTH: Final = 128
MAX_REPETITIONS: Final = 3
PATTERN_SUBJECT_LENGTH: Final = 64
"""Characters of a DICOM value a pattern sees (LO, the VR of SeriesDescription and ProtocolName, holds 64)."""

DICOM_CODE = r"^[A-Z0-9_ ]{1,16}$"  # a DICOM code string (CS): modality, ImageType values
DICOM_KEYWORD = r"^[A-Za-z][A-Za-z0-9]{0,63}$"  # a DICOM attribute keyword, e.g. ContrastBolusAgent

_UNSAFE = (
    (re.compile(r"\\[1-9]|\(\?P="), "back-references"),
    (re.compile(r"\(\?<?[=!]"), "look-arounds"),
    (re.compile(r"\)(?:[*+]|\{\d)"), "a repeated group (only ? may follow a group)"),
)
_REPETITION = re.compile(r"(?<!\\)(?:[*+]|\{\d+,\d*\})")


def pattern_problem(pattern: str) -> str | None:
    """Why ``pattern`` is not a safe selection pattern, or None when it is."""
    if len(pattern) > MAX_PATTERN_LENGTH:
        return f"the pattern is longer than {MAX_PATTERN_LENGTH} characters"
    for test, what in _UNSAFE:
        if test.search(pattern):
            return f"the pattern uses {what}, which selection patterns do not allow"
    if len(_REPETITION.findall(pattern)) > MAX_REPETITIONS:
        return f"the pattern has more than {MAX_REPETITIONS} repetitions (*, +, {{m,n}})"
    try:
        re.compile(pattern)
    except re.error as error:
        return f"not a regular expression ({error})"
    return None


def pattern_matches(pattern: str, value: str) -> bool:
    """A checked pattern against a DICOM text value (anywhere in it, ignoring case; the value cut to 64 chars)."""
    return re.search(pattern, value[:PATTERN_SUBJECT_LENGTH], re.IGNORECASE) is not None


Code = Annotated[str, Field(pattern=DICOM_CODE)]
Keyword = Annotated[str, Field(pattern=DICOM_KEYWORD)]


class SeriesRule(BaseModel):
    """What a DICOM series must be to feed this input. Every given criterion must hold; a folder (or zip) with
    no matching series, or with several, is refused with the list of its series (``--series UID`` picks one)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    modality: Code | None = Field(default=None, description="DICOM Modality, e.g. MR or CT.")
    description: str | None = Field(
        default=None, description="Pattern the SeriesDescription must contain (regular expression, ignoring case)."
    )
    protocol: str | None = Field(
        default=None, description="Pattern the ProtocolName must contain (regular expression, ignoring case)."
    )
    image_type_include: list[Code] = Field(
        default_factory=list, max_length=8, description="ImageType values that must all be present, e.g. ORIGINAL."
    )
    image_type_exclude: list[Code] = Field(
        default_factory=list, max_length=8, description="ImageType values that must be absent, e.g. LOCALIZER."
    )
    orientation: Literal["axial", "coronal", "sagittal", "oblique"] | None = Field(
        default=None, description="Slice plane, from ImageOrientationPatient (the slice normal's main axis)."
    )
    min_slices: int | None = Field(default=None, ge=1, le=100_000, description="Fewest slices (files) accepted.")
    required_tags: list[Keyword] = Field(
        default_factory=list,
        max_length=32,
        description="DICOM keywords that must be present and non-empty, e.g. RepetitionTime.",
    )

    @field_validator("description", "protocol")
    @classmethod
    def _safe_pattern(cls, pattern: str | None) -> str | None:
        if pattern is not None and (problem := pattern_problem(pattern)) is not None:
            raise ValueError(problem)
        return pattern

    @staticmethod
    def text_matches(pattern: str, value: str) -> bool:
        """A checked pattern against a DICOM text value (see :func:`pattern_matches`)."""
        return pattern_matches(pattern, value)

    def summary(self) -> str:
        """The rule in words, for error messages: ``modality MR, description ~ 't1', ≥ 20 slices``."""
        parts = []
        if self.modality:
            parts.append(f"modality {self.modality}")
        if self.description is not None:
            parts.append(f"description ~ {self.description!r}")
        if self.protocol is not None:
            parts.append(f"protocol ~ {self.protocol!r}")
        if self.image_type_include:
            parts.append(f"image type with {'/'.join(self.image_type_include)}")
        if self.image_type_exclude:
            parts.append(f"image type without {'/'.join(self.image_type_exclude)}")
        if self.orientation:
            parts.append(self.orientation)
        if self.min_slices:
            parts.append(f"≥ {self.min_slices} slices")
        if self.required_tags:
            parts.append(f"tags {', '.join(self.required_tags)}")
        return ", ".join(parts) or "no criteria"
