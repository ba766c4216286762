"""``deepinfer card import-monai BUNDLE -o CARD_DIR``: a MONAI bundle as a verified card folder.

Reads ``configs/metadata.json`` (identity, input, label names, stated metrics) and ``configs/inference.json``
(``preprocessing``, ``inferer`` and ``postprocessing``, mapped step by step in ``_monai_transforms``), copies
the network (``models/model.ts``, TorchScript, or ``models/model.onnx``) beside the card, pinned by sha256 and
size. Nothing from the bundle is evaluated, unpickled or run: ``$`` expressions are refused where the card needs a
value, and a ``models/model.pt`` checkpoint (a pickle that also needs the network's Python code) is refused with
the way to export TorchScript. Every problem of a bundle is listed in one :class:`CardError` (exit 3) with a
JSON path into the bundle's file; nothing is written unless the whole import succeeds.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from deepinfer._exceptions import CardError, Problem, UsageError
from deepinfer.card import ModelCard, dump_card, parse_card
from deepinfer.imaging import image_suffix
from deepinfer.package._init_card import _PALETTE, member_name
from deepinfer.package._monai_config import BundleConfig, Transform, child
from deepinfer.package._monai_files import read_config, read_json
from deepinfer.package._monai_metadata import METADATA, BundleMetadata, MetadataReader
from deepinfer.package._monai_transforms import (
    INFERERS,
    POSTPROCESSING,
    PREPROCESSING,
    SELF_KEYED,
    Mapper,
    PipelineDraft,
    check_keys,
)
from deepinfer.pipeline import validate_card_pipeline
from deepinfer.store import resolve_inside, sha256_file

__all__ = ["ImportPlan", "artifact", "import_monai_bundle", "plan_import", "read_json", "write_card_folder"]

INFERENCE: Final = "configs/inference.json"
MODELS: Final = {"models/model.ts": "torchscript", "models/model.onnx": "onnx"}
RUNTIMES: Final = {".ts": "torchscript", ".onnx": "onnx"}
PICKLES: Final = ("models/model.pt", "models/model.pth")
STANDARD_ITEMS: Final = ("$.preprocessing", "$.inferer", "$.postprocessing")
EXPORT_HINT: Final = (
    "export the network first: `python -m monai.bundle ckpt_export network_def --filepath models/model.ts "
    "--ckpt_file models/model.pt --meta_file configs/metadata.json --config_file configs/inference.json`"
)


@dataclass
class ImportPlan:
    """A checked card and the files its folder needs (name in the folder → source file)."""

    card: ModelCard
    files: dict[str, Path] = field(default_factory=dict)


def target_name(config: BundleConfig, item: Any, path: str) -> tuple[str, Mapping[str, Any]] | None:
    """The MONAI class name an item builds (``monai.transforms.Spacingd`` → ``Spacingd``), and its options."""
    if isinstance(item, str) and item.startswith("@"):
        found = config.lookup(item, path)
        item, path = found if found is not None else (None, path)
    if item is None and path in STANDARD_ITEMS:
        config.problem(path, f"missing: deepinfer reads MONAI's standard inference items ({', '.join(STANDARD_ITEMS)})")
        return None
    if not isinstance(item, Mapping) or not isinstance(item.get("_target_"), str):
        config.problem(path, "must be an object with a '_target_' class name")
        return None
    target = str(item["_target_"])
    for prefix in ("monai.transforms.", "monai.inferers."):
        target = target.removeprefix(prefix)
    return target, item


def map_item(
    config: BundleConfig, item: Any, path: str, mappers: Mapping[str, Mapper], draft: PipelineDraft, key: str | None
) -> str | None:
    """Map one transform (checking it works on ``key``) or inferer (``key`` None) onto the draft's steps; returns
    the class name the item builds."""
    found = target_name(config, item, path)
    if found is None:
        return None
    name, options = found
    mapper = mappers.get(name)
    if mapper is None:
        supported = ", ".join(sorted(mappers))
        config.problem(child(path, "_target_"), f"{name!r} is not supported here (supported: {supported})")
        return name
    transform = Transform(config, name, options, path)
    if key is not None and name not in SELF_KEYED:
        check_keys(transform, draft.keys_for(key))
    mapper(transform, draft)
    transform.finish()
    return name


def map_compose(config: BundleConfig, section: str, mappers: Mapping[str, Mapper], draft: PipelineDraft) -> None:
    path = child("$", section)
    found = target_name(config, config.data.get(section), path)
    if found is None:
        return
    name, compose = found
    transforms = compose.get("transforms")
    if name != "Compose" or not isinstance(transforms, list):
        config.problem(path, f"must be a Compose of a 'transforms' list, got {name!r}")
        return
    outer = Transform(config, "Compose", compose, path)
    outer.ignore("transforms", "log_stats")
    outer.fixed("map_items", True)
    outer.fixed("unpack_items", False)
    outer.fixed("lazy", False)
    outer.finish()
    key = draft.image_key if mappers is PREPROCESSING else draft.pred_key
    names = [
        map_item(config, item, child(child(path, "transforms"), i), mappers, draft, key)
        for i, item in enumerate(transforms)
    ]
    if mappers is PREPROCESSING and names[:1] != ["LoadImaged"]:
        config.problem(child(path, "transforms"), "preprocessing must start with LoadImaged")
    if mappers is PREPROCESSING and draft.separate:
        loaded = ", ".join(draft.input_keys)
        config.problem(
            child(path, "transforms"),
            f"LoadImaged loads several keys ({loaded}) but no ConcatItemsd stacks them into {draft.image_key!r}, "
            "the key the network reads",
        )


def check_evaluator(config: BundleConfig, draft: PipelineDraft) -> None:
    evaluator = config.data.get("evaluator")
    if not isinstance(evaluator, Mapping):
        return
    for key in ("inferer", "postprocessing"):
        if evaluator.get(key, f"@{key}") != f"@{key}":
            config.problem(child("$.evaluator", key), f"the evaluator must use '@{key}', the item deepinfer reads")
    if evaluator.get("amp") is True:
        draft.notes.append("The bundle's evaluator sets amp (float16 on a GPU); the card runs the network in float32.")


def map_pipeline(config: BundleConfig, metadata: BundleMetadata) -> PipelineDraft:
    draft = PipelineDraft(metadata.image_key, metadata.pred_key)
    config.refuse_internals(config.data)
    check_evaluator(config, draft)
    map_compose(config, "preprocessing", PREPROCESSING, draft)
    map_item(config, config.data.get("inferer"), "$.inferer", INFERERS, draft, None)
    map_compose(config, "postprocessing", POSTPROCESSING, draft)
    if draft.grid_changed and not draft.inverted:
        config.problem(
            "$.postprocessing",
            "the prediction stays on the preprocessed grid (MONAI would save it there) but a card's outputs lie "
            "on the input's grid: add Invertd of '@preprocessing' to the postprocessing",
        )
    if not draft.inverted:
        draft.add("restore_geometry")
    if draft.channel_order:  # the other inputs join the first as channels before any step changes the grid
        others = [member_name(key, "image") for key in draft.channel_order[1:]]
        draft.steps.insert(0, {"step": "stack_inputs", "params": {"inputs": others}})
    return draft


def find_model(root: Path, model: str | None, problems: list[Problem]) -> tuple[Path, str] | None:
    """The network file and its runtime; TorchScript must be a TorchScript archive (it has a ``code/`` folder)."""
    names = [model] if model is not None else list(MODELS)
    for name in names:
        try:
            path = resolve_inside(root, name)
        except ValueError as error:
            problems.append(Problem(f"model {name!r}", f"refused: {error}"))
            return None
        if not path.is_file():
            continue
        runtime = RUNTIMES.get(path.suffix.lower())
        if runtime is None:
            problems.append(Problem(name, "deepinfer takes a TorchScript (.ts) or ONNX (.onnx) network"))
            return None
        if runtime == "torchscript" and not is_torchscript(path):
            problems.append(Problem(name, f"not a TorchScript archive (a pickled checkpoint?); {EXPORT_HINT}"))
            return None
        return path, runtime
    pickles = [name for name in PICKLES if (root / name).is_file()]
    why = ""
    if pickles:
        why = f"{pickles[0]} is a pickled checkpoint (it needs the network's Python code, and unpickling can run code: "
        why += "deepinfer never reads it); "
    problems.append(Problem(" or ".join(names), f"no network found: {why}{EXPORT_HINT} (or ONNX: models/model.onnx)"))
    return None


def is_torchscript(path: Path) -> bool:
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as archive:
        return any("/code/" in name for name in archive.namelist())


def output_members(
    draft: PipelineDraft, metadata: BundleMetadata, problems: list[Problem], inference: str
) -> list[dict[str, Any]]:
    """The card outputs and the steps that record them (appended to the draft); ``inference`` the config's name."""
    names = metadata.channel_names
    channels = metadata.channels
    if draft.discrete is not None:
        if draft.discrete == "threshold" and channels != 1:
            problems.append(Problem(inference, f"AsDiscreted threshold on {channels} channels: only one is supported"))
        if draft.discrete == "argmax" and channels < 2:
            problems.append(Problem(inference, "AsDiscreted argmax of a one-channel output gives only zeros"))
        if draft.discrete == "argmax":
            values = {index: names.get(index, f"label{index}") for index in range(1, channels)}
        else:
            values = {1: names.get(0, "label1")}
        labels = [{"value": v, "name": n, "color": _PALETTE[(v - 1) % len(_PALETTE)]} for v, n in values.items()]
        draft.add("output", name="segmentation", dtype="uint8")
        return [{"type": "labelmap", "name": "segmentation", "labels": labels or [values_placeholder()]}]
    kind = "probability_map" if draft.activation else "volume"
    skip_background = draft.activation == "softmax" and channels > 1
    outputs = []
    for index in range(1 if skip_background else 0, channels):
        name = member_name(f"{'probability' if draft.activation else 'output'}_{names.get(index, index)}", "output")
        draft.add("output", name=name, dtype="float32", channel=index)
        outputs.append({"type": kind, "name": name, "description": f"channel {index} of the network's output"})
    return outputs


def values_placeholder() -> dict[str, Any]:
    return {"value": 1, "name": "label1", "color": _PALETTE[0]}  # only with a problem already reported


def network_note(config: BundleConfig, metadata: BundleMetadata, draft: PipelineDraft) -> str:
    """What ``network_def`` says (plain values only), checked against the metadata's channel counts and the
    inputs the preprocessing loads."""
    if metadata.input_channels != draft.channels:
        where = f"{metadata.file}:$.network_data_format.inputs.{draft.image_key}.num_channels"
        loaded = f"LoadImaged loads {draft.channels} key(s) ({', '.join(draft.input_keys)})"
        why = f"{metadata.input_channels} channels, but {loaded}"
        if draft.channels == 1:
            why += (
                "; several channels in one key (a list of files per case) are not supported: load one key per "
                "channel and stack them with ConcatItemsd"
            )
        config.problems.append(Problem(where, why))
    definition = config.data.get("network_def")
    if not isinstance(definition, Mapping):
        return "The network's architecture is not stated as a plain network_def."
    for key, wanted in (("in_channels", draft.channels), ("out_channels", metadata.channels)):
        stated = definition.get(key)
        if isinstance(stated, int) and stated != wanted:
            config.problem(child("$.network_def", key), f"{key} {stated} disagrees with the bundle ({wanted})")
    target = definition.get("_target_")
    if not isinstance(target, str) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.]{0,80}", target):
        return "The network's class is not stated plainly in network_def."
    return f"The network is MONAI's {target} (network_def); its weights are the copied file."


def example_files(
    example: Path | None, expected: Path | None, images: list[str], outputs: list[dict[str, Any]]
) -> tuple[dict[str, tuple[str, Path]], list[dict[str, Any]]]:
    """Artifacts (name → folder path, source file) and the card example: ``example`` an input image, ``expected``
    the bundle's own output for it (MONAI's run), so that ``deepinfer card test`` checks the card against MONAI."""
    if example is None:
        if expected is not None:
            raise UsageError("--expected needs --example (the input it was computed from)")
        return {}, []
    if len(images) != 1:
        raise UsageError(f"--example: the card has {len(images)} inputs; give examples in the card instead")
    image = images[0]
    files: dict[str, tuple[str, Path]] = {}
    for role, path in (("input", example), ("expected", expected)):
        if path is None:
            continue
        suffix = image_suffix(path)
        if not path.is_file() or not suffix:
            raise UsageError(f"{path}: not an image file (.nii.gz, .nii, .nrrd, .mha)")
        files[f"example_{role}"] = (f"examples/{role}{suffix}", path)
    entry: dict[str, Any] = {"name": "example", "inputs": {image: "example_input"}}
    if expected is not None:
        if len(outputs) != 1:
            raise UsageError(f"--expected: the card has {len(outputs)} outputs; give examples in the card instead")
        entry["expected"] = {outputs[0]["name"]: "example_expected"}
    return files, [entry]


def artifact(name: str, relative: str, path: Path) -> dict[str, Any]:
    source = {"kind": "file", "path": relative}
    return {"name": name, "sha256": sha256_file(path), "size": path.stat().st_size, "source": source}


def plan_import(
    bundle: Path, model: str | None = None, example: Path | None = None, expected: Path | None = None
) -> ImportPlan:
    """Read and check a bundle; raises :class:`CardError` with every problem, or returns the card to write."""
    if not bundle.is_dir():
        raise UsageError(f"{bundle}: not a folder (a MONAI bundle has configs/ and models/)")
    root = bundle.resolve()
    problems: list[Problem] = []
    (meta_name, meta_data), (inference_name, inference) = (
        read_config(root, METADATA, problems),
        read_config(root, INFERENCE, problems),
    )
    found = find_model(root, model, problems)
    if meta_data is None or inference is None:
        raise CardError(str(bundle), problems)
    config = BundleConfig(inference_name, inference, problems)
    metadata = MetadataReader(meta_data, problems, meta_name).read()
    BundleConfig(meta_name, meta_data, problems).refuse_internals(meta_data)
    draft = map_pipeline(config, metadata)
    notes = [network_note(config, metadata, draft)]
    outputs = output_members(draft, metadata, problems, inference_name)
    if problems or found is None:
        raise CardError(str(bundle), problems)
    model_path, runtime = found
    keys = draft.channel_order or [metadata.image_key]
    images = [member_name(key, "image") for key in keys]
    files, examples = example_files(example, expected, images, outputs)
    files = {"model": (f"model{model_path.suffix.lower()}", model_path), **files}
    notes += [
        f"Imported from a MONAI bundle by deepinfer card import-monai: {inference_name}'s preprocessing, "
        "inferer and postprocessing became the pipeline; its data loading, devices and evaluator do not apply.",
        *draft.notes,
        *metadata.notes,
    ]
    document = {
        **metadata.identity,
        "task": "segmentation",
        "modality": metadata.modality,
        "anatomy": "unspecified",
        "tags": ["monai-bundle"],
        "notes": notes,
        "inputs": [{"type": "volume", "name": image, "modality": metadata.modality} for image in images],
        "outputs": outputs,
        "artifacts": [artifact(name, relative, path) for name, (relative, path) in files.items()],
        "runtime": {"type": runtime},
        "pipeline": draft.steps,
        "examples": examples,
    }
    card = parse_card(document, str(bundle))
    problems = validate_card_pipeline(card)
    if problems:  # a mapping that gives an invalid step is a bug here; say so rather than write the card
        raise CardError(f"{bundle} (the imported card)", problems)
    return ImportPlan(card, {relative: path for relative, path in files.values()})


def write_card_folder(plan: ImportPlan, card_dir: Path, force: bool = False) -> Path:
    """Write ``card.json`` and the copied files into ``card_dir`` (new or empty; ``force`` replaces it), all at
    once: the folder is filled beside its place and renamed into it."""
    if card_dir.exists() and (not card_dir.is_dir() or any(card_dir.iterdir())) and not force:
        raise UsageError(f"{card_dir} exists and is not an empty folder; use --force to replace it")
    card_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{card_dir.name}.", dir=card_dir.parent))
    try:
        for relative, source in plan.files.items():
            (staging / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, staging / relative)
        (staging / "card.json").write_text(dump_card(plan.card), encoding="utf-8")
        if card_dir.is_dir():
            shutil.rmtree(card_dir)
        elif card_dir.exists():
            card_dir.unlink()
        os.replace(staging, card_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return card_dir / "card.json"


def import_monai_bundle(
    bundle: Path,
    card_dir: Path,
    *,
    model: str | None = None,
    example: Path | None = None,
    expected: Path | None = None,
    force: bool = False,
) -> tuple[ModelCard, Path]:
    """Import the MONAI bundle folder ``bundle`` as a card folder ``card_dir``; returns the card and its file.

    ``model``: the network's path inside the bundle (default ``models/model.ts``, then ``models/model.onnx``).
    ``example`` / ``expected``: an input image and the bundle's own output for it, recorded as the card's example.
    """
    plan = plan_import(bundle, model, example, expected)
    return plan.card, write_card_folder(plan, card_dir, force)
