"""The entrypoint of the images ``deepinfer package build`` makes: ``python3 -m deepinfer.container ARGS``.

It runs the one card the image holds (``DEEPINFER_IMAGE_CARD``) with :func:`deepinfer.run.run_model`, and
understands two command lines:

- ours (protocol ``deepinfer``)::

      run --input NAME=PATH ... --output NAME=PATH ... [--param NAME=VALUE ...] [--progress json|none]

  Options come in pairs and a value is everything after the first ``=``, so no value is ever read as an option.
- the 2017 DeepInfer one (protocol ``deepinfer-2017``, what the original Slicer module runs)::

      --ModelName MODEL --InputName PATH --OutputName PATH --Param VALUE --BoolParam

  A boolean parameter is a bare flag (true when present; an explicit ``true``/``false`` after it is accepted).

Progress goes to stderr as the JSON lines of :mod:`deepinfer.container._protocol`.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from deepinfer._exceptions import DeepInferError, UsageError
from deepinfer.card import BoolParameter, ModelCard, load_card
from deepinfer.container._protocol import progress_json

CARD_VARIABLE = "DEEPINFER_IMAGE_CARD"
DEFAULT_CARD = "/opt/deepinfer/card.json"
_BOOL_WORDS = {"true", "false", "1", "0", "yes", "no", "on", "off"}


@dataclass
class Request:
    inputs: dict[str, Path] = field(default_factory=dict)
    outputs: dict[str, Path] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    progress: bool = True


def parse_ours(card: ModelCard, tokens: Sequence[str]) -> Request:
    """``--input NAME=PATH`` / ``--output NAME=PATH`` / ``--param NAME=VALUE`` / ``--progress MODE`` pairs."""
    if len(tokens) % 2:
        raise UsageError(f"options come in pairs (--option value); {tokens[-1]!r} has no value")
    request = Request()
    targets = {"--input": request.inputs, "--output": request.outputs, "--param": request.params}
    for option, value in zip(tokens[::2], tokens[1::2], strict=True):
        if option == "--progress" and value in ("json", "none"):
            request.progress = value == "json"
            continue
        name, separator, text = value.partition("=")
        if option not in targets or not separator:
            raise UsageError(f"expected --input/--output/--param NAME=VALUE or --progress json|none, got {option!r}")
        targets[option][name] = text if option == "--param" else Path(text)
    return request


def parse_2017(card: ModelCard, tokens: Sequence[str]) -> Request:
    """The 2017 client's ``--Name value`` items (bare ``--Name`` for a true boolean)."""
    request = Request()
    booleans = {p.name for p in card.parameters if isinstance(p, BoolParameter)}
    places = {m.name: request.inputs for m in card.inputs} | {m.name: request.outputs for m in card.outputs}
    position = 0
    while position < len(tokens):
        token = tokens[position]
        key = token[2:] if token.startswith("--") else ""
        following = tokens[position + 1] if position + 1 < len(tokens) else None
        position += 1
        if key in booleans:
            explicit = following is not None and following.lower() in _BOOL_WORDS
            request.params[key] = following if explicit else True
            position += explicit
            continue
        if following is None or not (key == "ModelName" or key in places or key in _value_parameters(card)):
            raise UsageError(f"unexpected argument {token!r}; this model takes {_legacy_names(card)}")
        position += 1
        if key == "ModelName":
            _check_model_name(card, following)
        elif key in places:
            places[key][key] = Path(following)
        else:
            request.params[key] = following
    return request


def _value_parameters(card: ModelCard) -> set[str]:
    return {p.name for p in card.parameters if not isinstance(p, BoolParameter)}


def _legacy_names(card: ModelCard) -> str:
    names = [m.name for m in [*card.inputs, *card.outputs, *card.parameters]]
    return " ".join(f"--{name}" for name in ["ModelName", *names])


def _check_model_name(card: ModelCard, name: str) -> None:
    if name not in {card.id, card.name}:
        raise UsageError(f"this image holds the model {card.id!r}, not {name!r}")


def _progress(task: str, done: int, total: int) -> None:
    sys.stderr.write(progress_json(task, done, total) + "\n")
    sys.stderr.flush()


def run_request(card: ModelCard, card_dir: Path, request: Request) -> None:
    from deepinfer.pipeline import no_progress
    from deepinfer.run import file_outputs, run_model

    known = file_outputs(card)  # image outputs and class scores (JSON, with a CSV and provenance beside it)
    unknown = sorted(set(request.outputs) - set(known))
    if unknown or not request.outputs:
        named = f" (not {', '.join(unknown)})" if unknown else ""
        raise UsageError(f"give one or more of the outputs {', '.join(known)}{named}")
    progress = _progress if request.progress else no_progress
    run_model(card, request.inputs, request.outputs, request.params, card_dir=card_dir, progress=progress)


def main(argv: Sequence[str] | None = None) -> int:
    tokens = list(sys.argv[1:] if argv is None else argv)
    try:
        card_path = Path(os.environ.get(CARD_VARIABLE, DEFAULT_CARD))
        card = load_card(card_path)
        request = parse_ours(card, tokens[1:]) if tokens[:1] == ["run"] else parse_2017(card, tokens)
        run_request(card, card_path.parent, request)
    except DeepInferError as error:
        sys.stderr.write(f"error: {error}\n")
        return error.exit_code
    return 0
