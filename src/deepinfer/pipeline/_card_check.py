"""The whole-card check: every problem of a card's pipeline in one report, each with its JSON path.

Words used here: a *step parameter* is a key of a step's ``params`` in the card (``spacing`` of ``resample``);
a *card parameter* is one of the card's typed ``parameters`` (what a user sets, e.g. ``threshold``); a
*reference* ``{"param": NAME}`` puts a card parameter's value into a step parameter.

One function, :func:`check_steps`, checks a step list and builds the steps; ``Pipeline.from_card`` runs it with
the user's values, :func:`validate_card_pipeline` with the values a user could give (defaults, the ends of
numeric ranges, every enum choice). The step classes declare their parameters themselves (keyword-only
``__init__`` arguments; their constructors check the values), so there is no second list of them here.

The card layer sits below the pipeline and cannot know the steps; this module (public through
``deepinfer.pipeline``) is where the schema report and the pipeline report meet: :func:`validate_card_document`.
"""

from __future__ import annotations

import difflib
import inspect
import json
import math
import re
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from pydantic import TypeAdapter, ValidationError

from deepinfer._exceptions import CardError, PipelineError, Problem
from deepinfer.card import (
    BoolParameter,
    EnumParameter,
    FloatParameter,
    IntParameter,
    ModelCard,
    Step,
    default_value,
    validate_card,
)
from deepinfer.pipeline._base import ParamError, PipelineStep

StepSpec = tuple[str, Mapping[str, Any]]
_NO_VALUE = object()  # a reference to a card parameter that has no value to check the step with


def did_you_mean(name: object, known: Collection[str]) -> str:
    close = difflib.get_close_matches(name, list(known), n=1) if isinstance(name, str) else []
    return f"; did you mean {close[0]!r}?" if close else ""


def key_path(path: str, key: str) -> str:
    """``$.a`` + ``b`` → ``$.a.b`` (``$.a["b c"]`` for a key that is not a plain name)."""
    return f"{path}.{key}" if key.isidentifier() else f"{path}[{json.dumps(key)}]"


def declared_parameters(step_cls: type[PipelineStep]) -> dict[str, bool]:
    """A step's own parameters (its keyword-only ``__init__`` arguments) → whether each is optional."""
    signature = inspect.signature(step_cls.__init__)
    return {
        p.name: p.default is not inspect.Parameter.empty
        for p in signature.parameters.values()
        if p.kind is p.KEYWORD_ONLY
    }


def _resolve(value: Any, values: Mapping[str, Any], path: str, problems: list[Problem], used: list[str]) -> Any:
    """``value`` with every reference replaced (``_NO_VALUE`` where a card parameter has no value)."""
    if isinstance(value, dict):
        if set(value) == {"param"}:
            name = value["param"]
            if not isinstance(name, str) or name not in values:
                known = [n for n in values if isinstance(n, str)]
                listed = ", ".join(sorted(known)) or "none"
                message = f"refers to unknown card parameter {name!r}{did_you_mean(name, known)}"
                problems.append(Problem(path, f"{message} (the card's parameters: {listed})"))
                return _NO_VALUE
            used.append(name)
            return values[name]
        return {k: _resolve(v, values, key_path(path, str(k)), problems, used) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve(v, values, f"{path}[{i}]", problems, used) for i, v in enumerate(value)]
    return value


def _has_no_value(value: Any) -> bool:
    if value is _NO_VALUE:
        return True
    if isinstance(value, dict):
        return any(_has_no_value(v) for v in value.values())
    return isinstance(value, list) and any(_has_no_value(v) for v in value)


def _construct(
    step_cls: type[PipelineStep], kwargs: dict[str, Any], path: str, sources: Mapping[str, str], substituted: bool
) -> tuple[PipelineStep | None, list[Problem]]:
    """Build the step; after a bad optional step parameter, try again with its default to find the others.

    Once a value was left out (``substituted``), a complaint about a step parameter the card did not give may
    come from a default standing in, so it ends the search without being reported.
    """
    optional = declared_parameters(step_cls)
    remaining = dict(kwargs)
    problems: list[Problem] = []
    while True:
        try:
            return step_cls(**remaining), problems
        except ParamError as error:
            if substituted and error.param not in remaining:
                return None, problems
            source = sources.get(error.param)
            suffix = f" (the value of card parameter {source!r})" if source else ""
            problems.append(Problem(key_path(f"{path}.params", error.param), f"{error}{suffix}"))
            if error.param not in remaining or not optional.get(error.param, False):
                return None, problems
            del remaining[error.param]
            substituted = True
        except (TypeError, ValueError) as error:
            if not substituted:
                problems.append(Problem(f"{path}.params", str(error)))
            return None, problems


def check_step(step: StepSpec, values: Mapping[str, Any], path: str) -> tuple[PipelineStep | None, list[Problem]]:
    """Every problem of one step (name, step parameters, references, values) and the step when it builds.

    ``values`` maps every card parameter's name to its value, or to ``_NO_VALUE`` (known, nothing to check with).
    """
    name, given = step
    try:
        step_cls = PipelineStep.lookup(name)
    except KeyError:
        listed = ", ".join(PipelineStep.names())
        hint = did_you_mean(name, PipelineStep.names()) or f"; known steps: {listed}"
        return None, [Problem(f"{path}.step", f"unknown pipeline step {name!r}{hint}")]
    declared = declared_parameters(step_cls)
    params_path = f"{path}.params"
    problems: list[Problem] = []
    kwargs: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for key, value in given.items():
        used: list[str] = []
        resolved = _resolve(value, values, key_path(params_path, key), problems, used)
        if used:
            sources[key] = used[0]
        if key not in declared:
            hint = did_you_mean(key, declared)
            listed = ", ".join(sorted(declared)) or "none"
            message = f"{key!r} is not a parameter of step {name!r}{hint} (its parameters: {listed})"
            problems.append(Problem(key_path(params_path, key), message))
        elif not _has_no_value(resolved):
            kwargs[key] = resolved
    missing = [p for p, optional in declared.items() if not optional and p not in given]
    problems += [Problem(key_path(params_path, p), f"{p!r} is required by step {name!r}") for p in missing]
    if missing or any(not declared[k] for k in given if k in declared and k not in kwargs):
        return None, problems  # a required value is absent: nothing to build with
    substituted = any(key in declared and key not in kwargs for key in given)
    built, value_problems = _construct(step_cls, kwargs, path, sources, substituted)
    return built, problems + value_problems


def check_steps(
    steps: Sequence[StepSpec], values: Mapping[str, Any], where: str = "$.pipeline"
) -> tuple[list[PipelineStep | None], list[Problem]]:
    """Check and build every step; ``None`` stands for a step that could not be built."""
    built: list[PipelineStep | None] = []
    problems: list[Problem] = []
    for index, step in enumerate(steps):
        one, found = check_step(step, values, f"{where}[{index}]")
        built.append(one)
        problems += found
    return built, problems


def build_steps(steps: Sequence[StepSpec], params: Mapping[str, Any], where: str = "$.pipeline") -> list[PipelineStep]:
    """Every step built with the card parameter values ``params``, or :class:`CardError` listing all problems."""
    built, problems = check_steps(steps, params, where)
    if problems:
        raise CardError("pipeline", problems)
    return all_built(built)


def all_built(built: Sequence[PipelineStep | None]) -> list[PipelineStep]:
    steps = [step for step in built if step is not None]
    if len(steps) != len(built):  # only a card parameter without a value leaves a step unbuilt silently
        raise PipelineError("internal: a step was not built and no problem says why")
    return steps


def member_problems(
    steps: Sequence[PipelineStep | None], artifacts: Collection[str], outputs: Sequence[str], where: str = "$.pipeline"
) -> list[Problem]:
    """Steps that load artifacts the card lacks, record outputs it does not declare, or outputs never recorded.

    "Never recorded" is left out while a step could not be built: that step may be the one recording it.
    """
    problems: list[Problem] = []
    recorded: set[str] = set()
    for index, step in enumerate(steps):
        if step is None:
            continue
        path = f"{where}[{index}].params"
        problems += [
            Problem(f"{path}.network", f"no artifact named {n!r}{did_you_mean(n, artifacts)}")
            for n in step.artifacts()
            if n not in artifacts
        ]
        for name in step.records():
            if name not in outputs:
                problems.append(Problem(f"{path}.name", f"{name!r} is not one of the card's outputs {list(outputs)}"))
            recorded.add(name)
    if steps and all(step is not None for step in steps):
        problems += [Problem(where, f"no step records the output {n!r}") for n in outputs if n not in recorded]
    return problems


def _check(
    steps: Sequence[StepSpec], values: Mapping[str, Any], artifacts: Collection[str], outputs: Sequence[str]
) -> tuple[list[PipelineStep | None], list[Problem]]:
    built, problems = check_steps(steps, values)
    return built, sorted(problems + member_problems(built, artifacts, outputs), key=_step_index)


def _card_parts(card: ModelCard) -> tuple[list[StepSpec], set[str], list[str]]:
    return [(s.step, s.params) for s in card.pipeline], {a.name for a in card.artifacts}, [o.name for o in card.outputs]


def check_card_pipeline(card: ModelCard, values: Mapping[str, Any]) -> tuple[list[PipelineStep | None], list[Problem]]:
    """The card's steps built with ``values`` (resolved card parameters) and every problem found on the way."""
    steps, artifacts, outputs = _card_parts(card)
    built, problems = _check(steps, values, artifacts, outputs)
    return built, problems + input_problems(built, [m.name for m in card.inputs])


def input_problems(steps: Sequence[PipelineStep | None], inputs: Sequence[str]) -> list[Problem]:
    """Steps that read card inputs the card lacks, or its first input (which is the working image already)."""
    problems: list[Problem] = []
    for index, step in enumerate(steps):
        for name in step.reads() if step is not None else []:
            if name not in inputs[1:]:
                why = "is the first input (the working image)" if inputs[:1] == [name] else "is not one of the card's"
                problems.append(Problem(f"$.pipeline[{index}].params.inputs", f"{name!r} {why} inputs {list(inputs)}"))
    return problems


def values_a_user_may_give(parameter: Any) -> list[Any]:
    """Besides the default: both booleans, every choice, the ends of a numeric range."""
    if isinstance(parameter, BoolParameter):
        return [False, True]
    if isinstance(parameter, EnumParameter):
        return list(parameter.choices)
    if isinstance(parameter, IntParameter | FloatParameter):
        kind = int if isinstance(parameter, IntParameter) else float
        return [kind(end) for end in (parameter.minimum, parameter.maximum) if end is not None]
    return []


def _pipeline_problems(
    steps: Sequence[StepSpec],
    parameters: Sequence[Any],
    artifacts: Collection[str],
    outputs: Sequence[str],
    inputs: Sequence[str],
) -> list[Problem]:
    """The pipeline report: with the defaults, then with each value a user may give each card parameter."""
    defaults = {p.name: _NO_VALUE if (v := default_value(p)) is None else v for p in parameters}
    built, problems = _check(steps, defaults, artifacts, outputs)
    problems += input_problems(built, inputs)
    reported = {problem.path for problem in problems}
    for parameter in parameters:
        for value in values_a_user_may_give(parameter):
            if value == defaults[parameter.name]:
                continue
            for problem in check_steps(steps, {**defaults, parameter.name: value})[1]:
                if problem.path not in reported:
                    reported.add(problem.path)
                    problems.append(Problem(problem.path, f"{problem.message}, a value the card allows"))
    return sorted(problems, key=_step_index)


def _step_index(problem: Problem) -> float:
    """Where a problem is in the pipeline: its step's index; problems of the whole pipeline last."""
    found = re.match(r"\$\.pipeline\[(\d+)\]", problem.path)
    return int(found.group(1)) if found else math.inf


def validate_card_pipeline(card: ModelCard) -> list[Problem]:
    """Every problem of a valid card's pipeline (an empty list: the steps fit the card).

    Step names (with a "did you mean"), step parameters (unknown, missing, wrong values), references to card
    parameters (unknown, or a value the card allows that the step refuses), artifacts the steps load and outputs
    they record. A container card without a pipeline has nothing to check.
    """
    steps, artifacts, outputs = _card_parts(card)
    return _pipeline_problems(steps, card.parameters, artifacts, outputs, [m.name for m in card.inputs])


def _names(items: Any) -> list[str]:
    listed = items if isinstance(items, list) else []
    return [item["name"] for item in listed if isinstance(item, dict) and isinstance(item.get("name"), str)]


def _parts_of(document: dict[str, Any]) -> tuple[list[StepSpec], list[Any], set[str], list[str], list[str]] | None:
    """The parts the pipeline check needs from a card that fails its schema, or None if the steps are invalid.

    Card parameters that fail the schema stay known by name (their references are not reported as unknown)
    but give no value to check with.
    """
    try:
        steps = TypeAdapter(list[Step]).validate_python(document.get("pipeline", []))
    except ValidationError:
        return None
    annotation: Any = ModelCard.model_fields["parameters"].annotation  # the card's own union of parameter types
    parameter_type: TypeAdapter[list[Any]] = TypeAdapter(annotation)
    parameters: list[Any] = []
    for item in document.get("parameters", []) if isinstance(document.get("parameters"), list) else []:
        try:
            parameters += parameter_type.validate_python([item])
        except ValidationError:
            if isinstance(item, dict) and isinstance(item.get("name"), str):
                parameters.append(_Unchecked(item["name"]))
    specs: list[StepSpec] = [(step.step, step.params) for step in steps]
    artifacts, outputs, inputs = (_names(document.get(part)) for part in ("artifacts", "outputs", "inputs"))
    return specs, parameters, set(artifacts), outputs, inputs


class _Unchecked:
    """A card parameter that failed the schema: known by name, without a value to check the steps with."""

    default = None

    def __init__(self, name: str) -> None:
        self.name = name


def validate_card_document(document: Any) -> list[Problem]:
    """Every problem of a card document in one report: the schema's, then the pipeline's.

    The pipeline is checked even when other parts of the card fail the schema (a bad ``version`` does not hide
    a misspelled step); only a ``pipeline`` that itself fails the schema is left to the schema's report.
    """
    problems = validate_card(document)
    if not problems:
        return validate_card_pipeline(ModelCard.model_validate(document))
    parts = _parts_of(document) if isinstance(document, dict) else None
    return problems if parts is None else problems + _pipeline_problems(*parts)
