"""Validation of step parameters (JSON values from a card) into typed Python values.

Each helper raises :class:`ParamError` naming the parameter, so the card's problem list points at it.
JSON booleans are never accepted as numbers.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from deepinfer.pipeline._base import ParamError

Triple = tuple[float, float, float]
IntTriple = tuple[int, int, int]


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def number(name: str, value: Any, minimum: float | None = None, maximum: float | None = None) -> float:
    """A finite number within ``[minimum, maximum]``."""
    if not _is_number(value):
        raise ParamError(name, f"must be a number, got {value!r}")
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        low = "-inf" if minimum is None else f"{minimum:g}"
        high = "inf" if maximum is None else f"{maximum:g}"
        raise ParamError(name, f"must lie in [{low}, {high}], got {value!r}")
    return float(value)


def integer(name: str, value: Any, minimum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ParamError(name, f"must be an integer, got {value!r}")
    if minimum is not None and value < minimum:
        raise ParamError(name, f"must be at least {minimum}, got {value!r}")
    return value


def boolean(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ParamError(name, f"must be true or false, got {value!r}")
    return value


def choice(name: str, value: Any, choices: Sequence[str]) -> str:
    if value not in choices:
        raise ParamError(name, f"must be one of {', '.join(map(repr, choices))}, got {value!r}")
    return str(value)


def _three(name: str, value: Any) -> list[Any]:
    if isinstance(value, list | tuple):
        if len(value) != 3:
            raise ParamError(name, f"must have 3 values (one per axis), got {len(value)}")
        return list(value)
    return [value] * 3


def positive_triple(name: str, value: Any) -> Triple:
    """One positive number per axis; a single number applies to all three."""
    values = _three(name, value)
    if not all(_is_number(v) and v > 0 for v in values):
        raise ParamError(name, f"must be a positive number or 3 positive numbers, got {value!r}")
    return (float(values[0]), float(values[1]), float(values[2]))


def nonnegative_triple(name: str, value: Any) -> Triple:
    values = _three(name, value)
    if not all(_is_number(v) and v >= 0 for v in values):
        raise ParamError(name, f"must be a number ≥ 0 or 3 such numbers, got {value!r}")
    return (float(values[0]), float(values[1]), float(values[2]))


def int_triple(name: str, value: Any, minimum: int) -> IntTriple:
    """One integer ≥ ``minimum`` per axis; a single integer applies to all three."""
    values = _three(name, value)
    if not all(isinstance(v, int) and not isinstance(v, bool) and v >= minimum for v in values):
        raise ParamError(name, f"must be an integer ≥ {minimum} or 3 such integers, got {value!r}")
    return (int(values[0]), int(values[1]), int(values[2]))


def member_name(name: str, value: Any) -> str:
    """A card member / artifact / slot name (letters, digits, underscore)."""
    if not isinstance(value, str) or not value or not (value[0].isalpha() and value.replace("_", "").isalnum()):
        raise ParamError(name, f"must be a name of letters, digits and underscores, got {value!r}")
    return value


def axis_order(name: str, value: Any) -> list[int]:
    """A permutation of the axes 0, 1, 2 (integers, each once)."""
    if not isinstance(value, list | tuple) or not all(type(v) is int for v in value) or sorted(value) != [0, 1, 2]:
        raise ParamError(name, f"must be a permutation of the axes 0, 1, 2, got {value!r}")
    return [int(v) for v in value]
