"""Typed parameter values: defaults from the card, user values (strings from a CLI or a form) coerced and checked."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from deepinfer._exceptions import UsageError
from deepinfer.card._model import (
    BoolParameter,
    EnumParameter,
    FloatParameter,
    IntParameter,
    ModelCard,
    StringParameter,
)

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _as_bool(parameter: BoolParameter, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise UsageError(f"parameter {parameter.name}: {value!r} is not a boolean (use true or false)")


def _as_number(parameter: IntParameter | FloatParameter, value: Any) -> int | float:
    kind = int if isinstance(parameter, IntParameter) else float
    if isinstance(value, bool):
        raise UsageError(f"parameter {parameter.name}: expected a number, got a boolean")
    try:
        number: int | float = kind(value)
    except (TypeError, ValueError):
        raise UsageError(
            f"parameter {parameter.name}: {value!r} is not {'an integer' if kind is int else 'a number'}"
        ) from None
    if number != number or number in (float("inf"), float("-inf")):
        raise UsageError(f"parameter {parameter.name}: {value!r} is not a finite number")
    if parameter.minimum is not None and number < parameter.minimum:
        raise UsageError(f"parameter {parameter.name}: {number} is below the minimum {parameter.minimum}")
    if parameter.maximum is not None and number > parameter.maximum:
        raise UsageError(f"parameter {parameter.name}: {number} is above the maximum {parameter.maximum}")
    return number


def _as_choice(parameter: EnumParameter, value: Any) -> str:
    text = str(value)
    if text not in parameter.choices:
        raise UsageError(f"parameter {parameter.name}: {text!r} is not one of {', '.join(parameter.choices)}")
    return text


def _as_string(parameter: StringParameter, value: Any) -> str:
    text = str(value)
    if len(text) > parameter.max_length:
        raise UsageError(f"parameter {parameter.name}: longer than {parameter.max_length} characters")
    if any(ord(c) < 32 for c in text):
        raise UsageError(f"parameter {parameter.name}: control characters are not allowed")
    return text


def coerce_parameter(parameter: Any, value: Any) -> Any:
    """One user value → the parameter's type, or UsageError naming the parameter."""
    if isinstance(parameter, BoolParameter):
        return _as_bool(parameter, value)
    if isinstance(parameter, IntParameter | FloatParameter):
        return _as_number(parameter, value)
    if isinstance(parameter, EnumParameter):
        return _as_choice(parameter, value)
    return _as_string(parameter, value)


def resolve_parameters(card: ModelCard, given: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Every parameter of the card with its value: the user's (coerced and range-checked) or the default."""
    given = dict(given or {})
    known = {p.name for p in card.parameters}
    unknown = sorted(set(given) - known)
    if unknown:
        raise UsageError(
            f"{card.id} has no parameter {', '.join(unknown)}; its parameters are: {', '.join(sorted(known)) or 'none'}"
        )
    values: dict[str, Any] = {}
    for parameter in card.parameters:
        if parameter.name in given and given[parameter.name] is not None:
            values[parameter.name] = coerce_parameter(parameter, given[parameter.name])
        elif parameter.default is not None:
            values[parameter.name] = parameter.default
        elif isinstance(parameter, EnumParameter):
            values[parameter.name] = parameter.choices[0]
        else:
            raise UsageError(f"parameter {parameter.name} of {card.id} has no default; give a value")
    return values
