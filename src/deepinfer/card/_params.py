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


def default_value(parameter: Any) -> Any:
    """What a card parameter is when the user gives nothing: its default, an enum's first choice, else None."""
    if parameter.default is not None:
        return parameter.default
    if isinstance(parameter, EnumParameter):
        return parameter.choices[0]
    return None


class ParameterValues(dict[str, Any]):
    """The values :func:`resolve_parameters` returned for the card ``card_ref``: every parameter, typed.

    Handing them to :func:`resolve_parameters` (or ``Pipeline.from_card``) again for the same card returns
    them as they are, so a run resolves its parameters once however many layers pass them on. A plain dict
    (e.g. values read back from a job database) is resolved and checked again. Read-only, so that what was
    checked is what runs (``dict(values)`` is a mutable copy). Whoever makes one by hand vouches for its values.
    """

    def __init__(self, values: Mapping[str, Any], card_ref: str) -> None:
        super().__init__(values)
        self.card_ref = card_ref

    def __reduce__(self) -> tuple[Any, ...]:  # pickled with the card it belongs to
        return (ParameterValues, (dict(self), self.card_ref))

    def _read_only(self, *args: Any, **kwargs: Any) -> Any:
        raise TypeError("resolved parameter values are read-only; change a copy: dict(values)")

    __setitem__ = __delitem__ = __ior__ = _read_only
    clear = pop = popitem = setdefault = update = _read_only


def resolve_parameters(card: ModelCard, given: Mapping[str, Any] | None = None) -> ParameterValues:
    """Every parameter of the card with its value: the user's (coerced and range-checked) or the default."""
    if isinstance(given, ParameterValues) and given.card_ref == card.ref:
        return given
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
        elif (default := default_value(parameter)) is not None:
            values[parameter.name] = default
        else:
            raise UsageError(f"parameter {parameter.name} of {card.id} has no default; give a value")
    return ParameterValues(values, card.ref)
