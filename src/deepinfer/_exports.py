"""Package namespaces whose public names are imported on first use (PEP 562 module ``__getattr__``).

A package's ``__init__`` maps each public name to the private module that defines it. Importing the package
then costs nothing, and ``from deepinfer.card import CardSummary`` imports only the module that defines
``CardSummary``: a command that lists models does not build the pydantic card models it never uses. The
``__init__`` repeats the names under ``TYPE_CHECKING`` (``import X as X``) for type checkers;
``tests/test_architecture.py`` checks that every public name resolves.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(
    namespace: dict[str, Any], exports: Mapping[str, str]
) -> tuple[list[str], Callable[[str], Any], Callable[[], list[str]]]:
    """``__all__``, ``__getattr__`` and ``__dir__`` for the package whose globals are ``namespace``;
    ``exports`` maps a private module's name (``"_model"``) to its public names, separated by spaces."""
    package = namespace["__name__"]
    owners = {name: module for module, names in exports.items() for name in names.split()}

    def __getattr__(name: str) -> Any:
        module = owners.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{module}"), name)
        namespace[name] = value  # later lookups find it without calling this again
        return value

    def __dir__() -> list[str]:
        return sorted({*namespace, *owners})

    return sorted(owners), __getattr__, __dir__
