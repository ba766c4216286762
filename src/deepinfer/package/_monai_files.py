"""Reading a bundle's config files as plain data: JSON, or YAML (MONAI reads both) through a checked safe loader.

A config is a bundle's ``configs/NAME.json``, ``NAME.yaml`` or ``NAME.yml`` (exactly one of them). Every form is
capped in size and nesting, and must be one object. YAML is read by PyYAML's *safe* loader only, after a pass
over its parse events that refuses what plain JSON-like data never needs: explicit tags (``!!python/object``,
``!!binary``, application tags: the safe loader would refuse the Python ones, this refuses them all, by name),
anchors and aliases (shared nodes: the "billion laughs" expansion), and more nodes than a config holds. Integer
keys become text (JSON's ``"0"``); other keys that are not text are refused; timestamps stay text, as in JSON.
So a YAML config maps exactly as the same JSON would.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Final

from deepinfer._exceptions import Problem
from deepinfer.store import resolve_inside

MAX_CONFIG_BYTES: Final = 4 << 20
MAX_NESTING: Final = 32
MAX_YAML_EVENTS: Final = 400_000
YAML_SUFFIXES: Final = (".yaml", ".yml")
_PLAIN_TAGS: Final = {f"tag:yaml.org,2002:{kind}" for kind in ("str", "int", "float", "bool", "null", "map", "seq")}


class _YamlRefused(ValueError):
    pass


def read_json(root: Path, name: str, problems: list[Problem]) -> Mapping[str, Any] | None:
    """The JSON object in ``root/name`` (a path inside ``root``), or None with the problem recorded."""
    found = _config_file(root, name, problems)
    if found is None:
        return None
    if not found.is_file():
        yaml = [other for other in (found.with_suffix(s) for s in YAML_SUFFIXES) if other.is_file()]
        hint = f"; {yaml[0].name} is YAML, which this import does not read: convert it to JSON" if yaml else ""
        problems.append(Problem(name, f"missing{hint}"))
        return None
    return _parsed(found, name, problems)


def read_config(root: Path, name: str, problems: list[Problem]) -> tuple[str, Mapping[str, Any] | None]:
    """The config ``name`` (``configs/inference.json``) of a bundle as JSON or as YAML (``.yaml``, ``.yml``):
    the file's name inside ``root`` (for problem paths) and its object, or None with the problem recorded."""
    names = [name, *(str(Path(name).with_suffix(suffix)) for suffix in YAML_SUFFIXES)]
    files = [(each, _config_file(root, each, problems)) for each in names]
    present = [(each, path) for each, path in files if path is not None and path.is_file()]
    if any(path is None for _, path in files):
        return name, None
    if not present:
        problems.append(Problem(name, f"missing (deepinfer reads {' or '.join(Path(n).name for n in names)})"))
        return name, None
    if len(present) > 1:
        listed = " and ".join(each for each, _ in present)
        problems.append(Problem(name, f"{listed} both exist: keep one, so that the import reads what MONAI runs"))
        return name, None
    chosen, path = present[0]
    return chosen, _parsed(path, chosen, problems)


def _config_file(root: Path, name: str, problems: list[Problem]) -> Path | None:
    try:
        return resolve_inside(root, name)
    except ValueError as error:
        problems.append(Problem(name, f"refused: {error}"))
        return None


def _parsed(path: Path, name: str, problems: list[Problem]) -> Mapping[str, Any] | None:
    if path.stat().st_size > MAX_CONFIG_BYTES:
        problems.append(Problem(name, f"larger than {MAX_CONFIG_BYTES >> 20} MiB: not a bundle config"))
        return None
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        problems.append(Problem(name, f"not UTF-8 text ({error})"))
        return None
    if path.suffix.lower() in YAML_SUFFIXES:
        data = _yaml(text, name, problems)
        if data is None:
            return None
    else:
        try:
            data = json.loads(text)
        except ValueError as error:  # JSONDecodeError, and integers too long to convert
            problems.append(Problem(name, f"not valid JSON ({error})"))
            return None
        except RecursionError:
            problems.append(Problem(name, "nested too deeply to be a bundle config"))
            return None
    if not isinstance(data, dict):
        problems.append(Problem(f"{name}:$", f"must be an object, got {type(data).__name__}"))
        return None
    if nesting(data) > MAX_NESTING:
        problems.append(Problem(f"{name}:$", f"nested deeper than {MAX_NESTING} levels: not a bundle config"))
        return None
    return data


def _yaml(text: str, name: str, problems: list[Problem]) -> Any:
    """The YAML document in ``text`` through the checked safe loader; None with a problem when refused."""
    import yaml

    loader = _plain_loader(yaml)
    try:
        _check_events(yaml, yaml.parse(text, Loader=loader))
        documents = list(yaml.load_all(text, Loader=loader))
    except _YamlRefused as error:
        problems.append(Problem(name, f"refused: {error}"))
        return None
    except (yaml.YAMLError, ValueError) as error:  # ValueError: an integer too long to convert
        problems.append(Problem(name, f"not valid YAML ({' '.join(str(error).split())})"))
        return None
    if len(documents) != 1:
        problems.append(Problem(name, f"must hold one YAML document, it holds {len(documents)}"))
        return None
    try:
        return _json_keys(documents[0])
    except _YamlRefused as error:
        problems.append(Problem(f"{name}:$", str(error)))
        return None


def _plain_loader(yaml: Any) -> Any:
    """PyYAML's safe loader (the C one when built) with timestamps left as text, as JSON has them."""
    base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    resolvers = {
        first: [(tag, pattern) for tag, pattern in entries if tag != "tag:yaml.org,2002:timestamp"]
        for first, entries in base.yaml_implicit_resolvers.items()
    }
    return type("PlainSafeLoader", (base,), {"yaml_implicit_resolvers": resolvers})


def _check_events(yaml: Any, events: Iterable[Any]) -> None:
    """Refuse anchors, aliases, explicit tags other than the plain types', deep nesting and too many nodes."""
    depth = 0
    for count, event in enumerate(events):
        if count > MAX_YAML_EVENTS:
            raise _YamlRefused(f"more than {MAX_YAML_EVENTS} YAML nodes: not a bundle config")
        where = f" (line {event.start_mark.line + 1})"
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
            raise _YamlRefused(f"YAML anchors and aliases are not read{where}: write the values out")
        tag = getattr(event, "tag", None)
        if tag is not None and tag not in _PLAIN_TAGS and tag != "!":
            raise _YamlRefused(f"the YAML tag {tag!r} is not read{where}: a config holds plain values only")
        if isinstance(event, yaml.MappingStartEvent | yaml.SequenceStartEvent):
            depth += 1
            if depth > MAX_NESTING:
                raise _YamlRefused(f"nested deeper than {MAX_NESTING} levels{where}: not a bundle config")
        elif isinstance(event, yaml.MappingEndEvent | yaml.SequenceEndEvent):
            depth -= 1


def _json_keys(value: Any) -> Any:
    """``value`` with integer mapping keys as text (``0: background`` is JSON's ``"0"``); any other key that is
    not text (a boolean, null, a float, a list) is refused. Nesting is already bounded by the event check."""
    if isinstance(value, list):
        return [_json_keys(item) for item in value]
    if not isinstance(value, dict):
        return value
    converted: dict[str, Any] = {}
    for key, item in value.items():
        if isinstance(key, int) and not isinstance(key, bool):
            key = str(key)
        if not isinstance(key, str):
            raise _YamlRefused(f"the key {key!r} is not text (quote it, as JSON would)")
        if key in converted:
            raise _YamlRefused(f"the key {key!r} appears twice")
        converted[key] = _json_keys(item)
    return converted


def nesting(document: Any) -> int:
    """How deep lists and objects nest in a JSON document (counted without recursion)."""
    deepest, pending = 0, [(document, 1)]
    while pending:
        value, depth = pending.pop()
        if isinstance(value, dict | list):
            deepest = max(deepest, depth)
            pending += [(item, depth + 1) for item in (value.values() if isinstance(value, dict) else value)]
    return deepest
