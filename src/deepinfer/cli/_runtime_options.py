"""``--runtime`` and ``--precision``: how ``deepinfer run`` runs a card's networks in this process."""

from __future__ import annotations

import enum
import inspect
from typing import Annotated, Any

import typer

from deepinfer.runners import PRECISIONS, RUNTIME_CHOICES

RuntimeChoice = enum.Enum("RuntimeChoice", {name: name for name in RUNTIME_CHOICES})  # type: ignore[misc]
PrecisionChoice = enum.Enum("PrecisionChoice", {name: name for name in PRECISIONS})  # type: ignore[misc]
EXACT = PrecisionChoice("exact")

RUNTIME_HELP = (
    "Runtime for the networks: auto (the fastest installed one that keeps the card's accuracy, measured once per "
    "model and host), onnxruntime, openvino or torchscript. Default: $DEEPINFER_RUNTIME, else auto."
)
PRECISION_HELP = (
    "exact (fp32, the reference results) or fast (bf16/fp16 where the CPU computes it, within the accuracy the "
    "card declares for fast mode; exact when it declares none). Default: $DEEPINFER_PRECISION, else exact."
)


def runtime_parameters() -> list[inspect.Parameter]:
    """The two options as keyword parameters of a generated Typer command (None: not given)."""
    keyword = inspect.Parameter.KEYWORD_ONLY
    return [
        inspect.Parameter(
            "runtime",
            keyword,
            default=None,
            annotation=Annotated[RuntimeChoice | None, typer.Option("--runtime", help=RUNTIME_HELP)],
        ),
        inspect.Parameter(
            "precision",
            keyword,
            default=None,
            annotation=Annotated[PrecisionChoice | None, typer.Option("--precision", help=PRECISION_HELP)],
        ),
    ]


def chosen(options: dict[str, Any], name: str) -> str | None:
    """The value given for ``--runtime`` / ``--precision``, or None."""
    value = options.get(name)
    return None if value is None else str(value.value)
