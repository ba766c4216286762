"""Model card (the JSON of ``deepinfer models show ID --json``) → what the Slicer GUI shows.

Pure Python: no Qt, no MRML. The widget turns these specs into qMRMLNodeComboBox, QComboBox, QCheckBox,
QSpinBox/ctkDoubleSpinBox and QLineEdit widgets one to one; nothing about the card is decided in the widget.
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

INT_LIMIT = 2**31 - 1  # a QSpinBox holds a C int
FLOAT_LIMIT = 1e9

# Card member type → the MRML node classes a selector offers, and whether subclasses are offered too
# (vtkMRMLLabelMapVolumeNode derives from vtkMRMLScalarVolumeNode: a "volume" input must not offer labelmaps).
INPUT_NODE_TYPES: dict[str, tuple[tuple[str, ...], bool]] = {
    "volume": (("vtkMRMLScalarVolumeNode",), False),
    "labelmap": (("vtkMRMLLabelMapVolumeNode",), False),
}
OUTPUT_NODE_TYPES: dict[str, tuple[str, str]] = {
    # member type → (node class, import kind)
    "labelmap": ("vtkMRMLSegmentationNode", "segmentation"),
    "probability_map": ("vtkMRMLScalarVolumeNode", "volume"),
    "volume": ("vtkMRMLScalarVolumeNode", "volume"),
    "class_scores": ("vtkMRMLTableNode", "table"),
    "scalar": ("vtkMRMLTableNode", "table"),
}
# Outputs the deepinfer CLI writes as image files; class scores it writes as JSON (scalars have no file yet).
FILE_OUTPUT_TYPES = frozenset({"labelmap", "probability_map", "volume"})
SCORE_OUTPUT_TYPES = frozenset({"class_scores"})


@dataclass(frozen=True)
class NodeSpec:
    """One node selector: an input to export, or an output to import into."""

    name: str
    label: str
    member_type: str
    node_types: tuple[str, ...]
    tooltip: str
    show_child_node_types: bool = False
    required: bool = True
    kind: str = "volume"  # outputs: segmentation | volume | table
    labels: tuple[Mapping[str, Any], ...] = ()  # labelmap outputs: the card's label table


@dataclass(frozen=True)
class ParameterSpec:
    """One parameter widget. ``widget`` is combo | check | int | float | text."""

    name: str
    label: str
    widget: str
    option: str  # the CLI flag without dashes, as deepinfer derives it
    default: Any
    tooltip: str
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()
    decimals: int = 0
    single_step: float = 1.0


@dataclass(frozen=True)
class ModelForm:
    """Everything the Run section shows for one card."""

    model_id: str
    version: str
    title: str
    inputs: tuple[NodeSpec, ...]
    outputs: tuple[NodeSpec, ...]
    parameters: tuple[ParameterSpec, ...]
    problems: tuple[str, ...] = field(default=())  # members this extension cannot handle (Run is disabled)
    card_file: str = ""  # a card file to run instead of the registry's ID@VERSION (a local card)

    @property
    def ref(self) -> str:
        return self.card_file or f"{self.model_id}@{self.version}"

    @property
    def runnable(self) -> bool:
        return not self.problems

    def defaults(self) -> dict[str, Any]:
        return {p.name: p.default for p in self.parameters}


def option_name(parameter: str) -> str:
    """The CLI flag of a card parameter: deepinfer's own function when deepinfer is importable here."""
    try:
        from deepinfer.cli import option_name as deepinfer_option_name
    except ImportError:  # the CLI is an external executable (another Python); same rule, kept in step by a test
        kebab = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "-", parameter).replace("_", "-").lower()
        clashes = {
            "input",
            "output",
            "threads",
            "progress",
            "report",
            "server",
            "token",
            "help",
            "runtime",
            "precision",
            "series",
        }
        return f"param-{kebab}" if kebab in clashes else kebab
    return deepinfer_option_name(parameter)


def _label(member: Mapping[str, Any]) -> str:
    return str(member.get("title") or member["name"])


def _tooltip(member: Mapping[str, Any], *extra: str) -> str:
    parts = [str(member.get("description") or "").strip(), *extra]
    return "\n".join(p for p in parts if p) or _label(member)


def _input_spec(member: Mapping[str, Any]) -> NodeSpec | str:
    kind = member.get("type", "volume")
    if kind not in INPUT_NODE_TYPES:
        return f"input {member['name']}: {kind} inputs are not supported by the Slicer extension"
    node_types, children = INPUT_NODE_TYPES[kind]
    modality = member.get("modality")
    return NodeSpec(
        name=member["name"],
        label=_label(member),
        member_type=kind,
        node_types=node_types,
        tooltip=_tooltip(member, f"Modality: {modality}" if modality else ""),
        show_child_node_types=children,
        required=bool(member.get("required", True)),
    )


def _output_spec(member: Mapping[str, Any]) -> NodeSpec | str:
    kind = member.get("type", "")
    if kind not in OUTPUT_NODE_TYPES:
        return f"output {member['name']}: {kind} outputs are not supported by the Slicer extension"
    node_type, import_kind = OUTPUT_NODE_TYPES[kind]
    labels = tuple(member.get("labels") or ())
    names = ", ".join(f"{label['value']} = {label['name']}" for label in labels)
    return NodeSpec(
        name=member["name"],
        label=_label(member),
        member_type=kind,
        node_types=(node_type,),
        tooltip=_tooltip(member, f"Segments: {names}" if names else ""),
        required=False,
        kind=import_kind,
        labels=labels,
    )


def _decimals(*values: float | None) -> int:
    """Enough decimals to show every bound and the default exactly (2 to 6)."""
    needed = 2
    for value in values:
        if value is None or value == int(value):
            continue
        text = f"{value:.6f}".rstrip("0")
        needed = max(needed, len(text.split(".")[1]))
    return min(needed, 6)


def _float_step(minimum: float | None, maximum: float | None, default: float | None) -> float:
    """A power of ten of about a fiftieth of the range (or of ten times the default's magnitude)."""
    if minimum is not None and maximum is not None and maximum > minimum:
        span = maximum - minimum
    else:
        span = abs(default) * 10 if default else 1.0
    return float(10 ** math.floor(math.log10(span / 50)))


def parameter_spec(parameter: Mapping[str, Any]) -> ParameterSpec:
    """One typed card parameter → its widget spec (type, range, default, choices, tooltip, CLI flag)."""
    kind = parameter.get("type")
    name = parameter["name"]
    common: dict[str, Any] = {
        "name": name,
        "label": _label(parameter),
        "option": option_name(name),
        "tooltip": _tooltip(parameter),
    }
    if kind == "enum":
        choices = tuple(parameter["choices"])
        default = parameter.get("default")
        start = choices[0] if default is None else default
        return ParameterSpec(widget="combo", choices=choices, default=start, **common)
    if kind == "bool":
        return ParameterSpec(widget="check", default=bool(parameter.get("default", False)), **common)
    if kind in {"int", "float"}:
        low, high, default = parameter.get("minimum"), parameter.get("maximum"), parameter.get("default")
        if kind == "int":
            low = -INT_LIMIT if low is None else max(math.ceil(low), -INT_LIMIT)
            high = INT_LIMIT if high is None else min(math.floor(high), INT_LIMIT)
            start = default if default is not None else min(max(0, low), high)
            return ParameterSpec(widget="int", default=int(start), minimum=low, maximum=high, **common)
        step = _float_step(low, high, default)
        decimals = max(_decimals(low, high, default), min(6, -math.floor(math.log10(step))))
        low = -FLOAT_LIMIT if low is None else float(low)
        high = FLOAT_LIMIT if high is None else float(high)
        start = float(default) if default is not None else min(max(0.0, low), high)
        return ParameterSpec(
            widget="float", default=start, minimum=low, maximum=high, decimals=decimals, single_step=step, **common
        )
    return ParameterSpec(widget="text", default=str(parameter.get("default") or ""), **common)


def form_from_card(card: Mapping[str, Any]) -> ModelForm:
    """The Run section of a card: node selectors for inputs and outputs, one widget per parameter."""
    inputs: list[NodeSpec] = []
    outputs: list[NodeSpec] = []
    problems: list[str] = []
    for member in card.get("inputs", []):
        spec = _input_spec(member)
        if isinstance(spec, str):
            problems.append(spec)
        else:
            inputs.append(spec)
    for member in card.get("outputs", []):
        spec = _output_spec(member)
        if isinstance(spec, str):
            problems.append(spec)
        else:
            outputs.append(spec)
    if outputs and not any(spec.member_type in FILE_OUTPUT_TYPES | SCORE_OUTPUT_TYPES for spec in outputs):
        problems.append(
            "the deepinfer CLI writes image and class-score outputs; this model has neither (scalars have no "
            "output file yet)"
        )
    runtime = (card.get("runtime") or {}).get("type")
    if runtime == "container":
        problems.append("this model runs in a container, which the deepinfer CLI does not run yet")
    return ModelForm(
        model_id=card["id"],
        version=card["version"],
        title=card.get("name") or card["id"],
        inputs=tuple(inputs),
        outputs=tuple(outputs),
        parameters=tuple(parameter_spec(p) for p in card.get("parameters", [])),
        problems=tuple(problems),
    )


# ------------------------------------------------------------------------------------- browser and details


def human_size(size: int | None) -> str:
    if not size:
        return "-"
    value = float(size)
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} GB"


def license_text(licence: Mapping[str, Any] | None) -> str:
    if not licence:
        return "-"
    code, weights = licence.get("code", "?"), licence.get("weights", "?")
    return str(code) if code == weights else f"{code} / weights {weights}"


@dataclass(frozen=True)
class BrowserRow:
    """One line of the registry browser."""

    model_id: str
    version: str
    name: str
    task: str
    modality: str
    license: str
    size: str
    installed: bool | None  # None: unknown
    search_text: str

    def cells(self) -> tuple[str, ...]:
        state = {True: "yes", False: "no", None: "?"}[self.installed]
        return (self.name, self.task, self.modality, self.license, self.size, state)


BROWSER_COLUMNS = ("Name", "Task", "Modality", "License", "Size", "Installed")


def installed_refs(cache_rows: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, int]]:
    """``deepinfer cache ls --json`` → {model ref: {artifact name: size}} of the cached artifacts."""
    refs: dict[str, dict[str, int]] = {}
    for row in cache_rows:
        for use in row.get("used_by", []):
            ref, _, artifact = str(use).rpartition(":")
            refs.setdefault(ref, {})[artifact] = int(row.get("size", 0))
    return refs


def _example_artifacts(card: Mapping[str, Any]) -> set[str]:
    """Artifacts that are only example data (``pull`` skips them; they are not part of the download)."""
    return {
        name
        for example in card.get("examples", [])
        for name in [*example.get("inputs", {}).values(), *example.get("expected", {}).values()]
    }


def is_installed(
    summary: Mapping[str, Any], cached: Mapping[str, Mapping[str, int]], card: Mapping[str, Any] | None = None
) -> bool | None:
    """Whether every model artifact is in the cache.

    Exact when the full card is known (every non-example artifact name is cached) or when the CLI says so
    (an ``installed`` field); otherwise judged from sizes: the cached artifacts of this model add up to its size.
    """
    if "installed" in summary:
        return bool(summary["installed"])
    ref = f"{summary['id']}@{summary['version']}"
    have = cached.get(ref, {})
    if card is not None:
        examples = _example_artifacts(card)
        needed = {a["name"] for a in card.get("artifacts", []) if a["name"] not in examples}
        return needed <= set(have)
    size = int(summary.get("size") or 0)
    return size == 0 or sum(have.values()) >= size


def browser_rows(
    summaries: Sequence[Mapping[str, Any]],
    cache_rows: Sequence[Mapping[str, Any]] | None = None,
    cards: Mapping[str, Mapping[str, Any]] | None = None,
) -> list[BrowserRow]:
    """``models list --json`` (+ ``cache ls --json``) → browser rows; ``installed`` is None without cache rows."""
    cached = installed_refs(cache_rows) if cache_rows is not None else None
    rows = []
    for summary in summaries:
        words = [summary.get(k) for k in ("id", "name", "task", "modality", "anatomy")] + list(summary.get("tags", []))
        rows.append(
            BrowserRow(
                model_id=summary["id"],
                version=summary["version"],
                name=summary.get("name") or summary["id"],
                task=summary.get("task", ""),
                modality=summary.get("modality", ""),
                license=license_text(summary.get("license")),
                size=human_size(summary.get("size")),
                installed=None if cached is None else is_installed(summary, cached, (cards or {}).get(summary["id"])),
                search_text=" ".join(str(w) for w in words if w).lower(),
            )
        )
    return rows


def filter_rows(rows: Iterable[BrowserRow], query: str) -> list[BrowserRow]:
    """Rows matching every word of ``query`` (in id, name, task, modality, anatomy or tags)."""
    words = query.lower().split()
    return [row for row in rows if all(word in row.search_text for word in words)]


def details_html(card: Mapping[str, Any], installed: bool | None = None) -> str:
    """What a researcher reads before downloading: description, license, metrics, citation, intended use."""
    e = html.escape
    examples = _example_artifacts(card)
    size = sum(int(a.get("size", 0)) for a in card.get("artifacts", []) if a["name"] not in examples)
    parts = [
        f"<h3>{e(card.get('name', card['id']))}</h3>",
        f"<p><b>{e(card['id'])}@{e(card['version'])}</b> · {e(card.get('task', ''))} · {e(card.get('modality', ''))}"
        f" · {e(card.get('anatomy', ''))}</p>",
        f"<p><b>License:</b> code {e(str(card.get('license', {}).get('code', '?')))}, weights "
        f"{e(str(card.get('license', {}).get('weights', '?')))}</p>",
        f"<p><b>Download:</b> {e(human_size(size))}"
        + {True: " (installed)", False: " (not downloaded yet)", None: ""}[installed]
        + "</p>",
    ]
    if card.get("description"):
        parts.append(f"<p>{e(card['description'])}</p>")
    metrics = card.get("metrics") or []
    if metrics:
        rows = "".join(
            f"<tr><td>{e(m['name'])}</td><td>{m['value']:g}</td><td>{e(m.get('dataset') or '')}</td>"
            f"<td>{e(str(m.get('n') or ''))}</td><td>{e(m.get('reference') or '')}</td></tr>"
            for m in metrics
        )
        parts.append(
            f"<p><b>Reported accuracy</b></p><table><tr><th>metric</th><th>value</th><th>dataset</th>"
            f"<th>n</th><th>compared with</th></tr>{rows}</table>"
        )
    else:
        parts.append("<p><b>Reported accuracy:</b> none reported in the card.</p>")
    citation = card.get("citation")
    if citation:
        link = citation.get("doi") or citation.get("url") or ""
        parts.append(f"<p><b>Citation:</b> {e(citation['text'])}" + (f" ({e(link)})" if link else "") + "</p>")
    parts.append(f"<p><b>Intended use:</b> {e(card.get('intended_use', ''))}</p>")
    parts.append("<p><i>For research use only. Not for clinical diagnosis.</i></p>")
    return "\n".join(parts)
