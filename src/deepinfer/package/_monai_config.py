"""Reading a MONAI bundle's JSON configs as plain data: nothing in them is ever evaluated.

MONAI's config syntax has three kinds of special strings: ``"@id"`` refers to another config item (``"@a::b"``
or ``"@a#b"`` to a nested one), ``"$..."`` is a Python expression and ``"%file::id"`` a macro from another file.
Only plain references are followed here. An expression or a macro in a value the importer needs is a problem
(with its JSON path into the bundle's file); expressions elsewhere (MONAI's data loader, device and evaluator
plumbing, which a card replaces) are never read, except to refuse any that reaches for Python internals
(``__import__``, ``__class__``, ...): nothing legitimate in a bundle needs them.

:class:`Transform` reads one ``{"_target_": NAME, ...}`` item option by option, checks each value's type and
range, and reports what it does not support; every problem lands in one shared list, so one import reports all.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from typing import Any, Final

from deepinfer._exceptions import Problem

EXPRESSION: Final = "$"
REFERENCE: Final = "@"
MACRO: Final = "%"
MAX_DEPTH: Final = 16
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_DUNDER = re.compile(r"__\w+__")
_SPECIAL_KEYS = {"_target_", "_requires_", "_disabled_", "_desc_", "_mode_"}


class _Refused:
    """Stands for a value that was refused (its problem is already recorded)."""

    def __repr__(self) -> str:
        return "REFUSED"


REFUSED: Final = _Refused()


def child(path: str, key: str | int) -> str:
    """The JSON path of ``key`` below ``path``: ``$.a`` + ``b`` → ``$.a.b``, + ``0`` → ``$.a[0]``."""
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if _IDENTIFIER.match(key) else f"{path}[{key!r}]"


def short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


class BundleConfig:
    """One JSON config file of a bundle (``configs/inference.json``), its problems going to ``problems``."""

    def __init__(self, name: str, data: Mapping[str, Any], problems: list[Problem]) -> None:
        self.name = name
        self.data = data
        self.problems = problems

    def problem(self, path: str, message: str) -> None:
        self.problems.append(Problem(f"{self.name}:{path}", message))

    def refuse_internals(self, value: Any, path: str = "$") -> None:
        """Report every expression below ``value`` that names a Python internal (``__...__``)."""
        if isinstance(value, str):
            if value.startswith(EXPRESSION) and _DUNDER.search(value):
                self.problem(
                    path,
                    f"the expression {short(value)} reaches for Python internals; deepinfer never evaluates a "
                    "bundle's expressions and refuses a bundle that carries one like this",
                )
        elif isinstance(value, Mapping):
            for key, item in value.items():
                if key == "_requires_":
                    self.problem(child(path, key), "'_requires_' runs code before an item is built: not supported")
                self.refuse_internals(item, child(path, str(key)))
        elif isinstance(value, list):
            for index, item in enumerate(value):
                self.refuse_internals(item, child(path, index))

    def lookup(self, reference: str, path: str) -> tuple[Any, str] | None:
        """The raw value an ``@id`` names and its JSON path, or None (problem recorded)."""
        parts = re.split(r"::|#", reference[len(REFERENCE) :])
        value: Any = self.data
        where = "$"
        for part in parts:
            if isinstance(value, list) and part.isdigit() and int(part) < len(value):
                value, where = value[int(part)], child(where, int(part))
            elif isinstance(value, Mapping) and part in value:
                value, where = value[part], child(where, part)
            else:
                self.problem(path, f"the reference {reference!r} names no item of the config")
                return None
        return value, where

    def resolve(self, value: Any, path: str, depth: int = 0) -> Any:
        """``value`` with every plain ``@id`` reference replaced by what it names, all the way down; REFUSED
        (with a problem) for an expression, a macro, a reference that names nothing or a cycle."""
        if depth > MAX_DEPTH:
            self.problem(path, f"references nest deeper than {MAX_DEPTH} levels (a cycle?)")
            return REFUSED
        if isinstance(value, str):
            if value.startswith(EXPRESSION):
                self.problem(path, f"{short(value)} is a Python expression; deepinfer never evaluates expressions")
                return REFUSED
            if value.startswith(MACRO):
                self.problem(path, f"{short(value)} is a macro (a value from another file): not supported")
                return REFUSED
            if value.startswith(REFERENCE):
                found = self.lookup(value, path)
                return REFUSED if found is None else self.resolve(found[0], path, depth + 1)
            return value
        if isinstance(value, list):
            items = [self.resolve(item, child(path, index), depth + 1) for index, item in enumerate(value)]
            return REFUSED if any(item is REFUSED for item in items) else items
        if isinstance(value, Mapping):
            entries = {key: self.resolve(item, child(path, key), depth + 1) for key, item in value.items()}
            return REFUSED if any(item is REFUSED for item in entries.values()) else entries
        return value


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


class Transform:
    """One config item with a ``_target_``, read option by option (see the module docstring)."""

    def __init__(self, config: BundleConfig, name: str, options: Mapping[str, Any], path: str) -> None:
        self.config = config
        self.name = name
        self.options = options
        self.path = path
        self.used: set[str] = set(_SPECIAL_KEYS & options.keys())
        self.failed = False

    def problem(self, key: str | None, message: str) -> None:
        self.failed = True
        self.config.problem(self.path if key is None else child(self.path, key), f"{self.name}: {message}")

    def value(self, key: str, default: Any) -> Any:
        """The resolved option (``default`` when absent); REFUSED when it cannot be read."""
        self.used.add(key)
        if key not in self.options:
            return default
        resolved = self.config.resolve(self.options[key], child(self.path, key))
        if resolved is REFUSED:
            self.failed = True
        return resolved

    def checked(self, key: str, default: Any, test: Callable[[Any], bool], wanted: str) -> Any:
        value = self.value(key, default)
        if value is REFUSED:
            return None
        if not test(value):
            self.problem(key, f"{key} must be {wanted}, got {short(value)}")
            return None
        return value

    def number(self, key: str, default: Any, low: float, high: float) -> float | None:
        wanted = f"a number in [{low:g}, {high:g}]"
        found = self.checked(key, default, lambda v: is_number(v) and low <= v <= high, wanted)
        return None if found is None else float(found)

    def boolean(self, key: str, default: bool) -> bool | None:
        found = self.checked(key, default, lambda v: isinstance(v, bool), "true or false")
        return None if found is None else bool(found)

    def triple(self, key: str, default: Any, low: float, high: float, integer: bool = False) -> list[Any] | None:
        """One number or one per spatial axis, each in ``[low, high]`` (integers with ``integer``)."""

        def fits(item: Any) -> bool:
            return is_number(item) and low <= item <= high and (not integer or isinstance(item, int))

        def test(value: Any) -> bool:
            return fits(value) or (isinstance(value, list) and len(value) == 3 and all(map(fits, value)))

        kind = "an integer" if integer else "a number"
        found = self.checked(key, default, test, f"{kind} in [{low:g}, {high:g}] or 3 of them")
        if found is None:
            return None
        return list(found) if isinstance(found, list) else [found] * 3

    def choice(self, key: str, default: Any, choices: Mapping[Any, Any]) -> Any:
        """The mapped value of a supported option value (None with a problem for any other)."""
        value = self.value(key, default)
        if value is REFUSED:
            return None
        if not isinstance(value, str | bool | int | type(None)) or value not in choices:
            supported = ", ".join(repr(choice) for choice in choices)
            self.problem(key, f"{key}={short(value)} is not supported (supported: {supported})")
            return None
        return choices[value]

    def fixed(self, key: str, *allowed: Any) -> None:
        """An option deepinfer supports only at these values (the first one is MONAI's default)."""
        self.choice(key, allowed[0], {value: value for value in allowed})

    def ignore(self, *keys: str) -> None:
        """Options that do not change the result (devices, logging, meta-data keys): never read."""
        self.used.update(keys)

    def finish(self) -> None:
        for key in self.options:
            if key not in self.used:
                self.problem(key, f"the option {key!r} is not supported")
        if self.options.get("_disabled_") not in (None, False):
            self.problem("_disabled_", "'_disabled_' is not supported (remove the item instead)")
        if self.options.get("_mode_") not in (None, "default"):
            self.problem("_mode_", "only the default '_mode_' is supported")
