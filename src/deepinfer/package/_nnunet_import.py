"""``deepinfer card import-nnunet RESULTS -o CARD_DIR``: an nnU-Net v2 results folder as a verified card folder.

``dataset.json`` and ``plans.json`` are read as data (``_nnunet_plans``); each fold's ``checkpoint_final.pth``
with ``torch.load(weights_only=True)`` (numpy scalars and dtypes allowed, nothing else: a checkpoint that needs
any other class is refused, so no code in it runs); ``postprocessing.pkl`` is never read. The network is rebuilt
from the plans' architecture (allowlisted ``dynamic_network_architectures`` classes), loaded with the weights,
wrapped so that it takes deepinfer's (i, j, k) axis order, exported to ONNX with torch and checked against torch.
The pipeline is nnU-Net's inference (the ``*_nnunet`` steps). Every problem is listed in one :class:`CardError`
(exit 3); nothing is written unless the whole import succeeds.
"""

from __future__ import annotations

import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np

from deepinfer._exceptions import CardError, Problem, UsageError
from deepinfer.card import ModelCard, parse_card
from deepinfer.package._init_card import _PALETTE, member_name
from deepinfer.package._monai_bundle import ImportPlan, artifact, read_json, write_card_folder
from deepinfer.package._nnunet_plans import DATASET, PLANS, NnunetPlan, read_dataset, read_plans
from deepinfer.package._nnunet_postprocessing import read_postprocessing
from deepinfer.pipeline import validate_card_pipeline
from deepinfer.store import resolve_inside

CHECKPOINT: Final = "checkpoint_final.pth"
MAX_CHECKPOINT_BYTES: Final = 4 << 30
MAX_FOLDS: Final = 16
ONNX_TOLERANCE: Final = 1e-3
EXAMPLE_MIN_DICE: Final = 0.999
EXAMPLE_MAX_DIFF: Final = 2e-2
INSTALL_HINT: Final = (
    "importing an nnU-Net model needs nnU-Net's network classes: pip install dynamic-network-architectures "
    "(or nnunetv2; pin torch to the build you have with a constraints file so no other torch is pulled)"
)
# trainers whose inference is nnU-Net's default (the variants only change the training schedule)
TRAINERS: Final = re.compile(r"nnUNetTrainer(_\d+epochs)?(_NoMirroring)?")


def parse_folds(folds: str, root: Path) -> list[str]:
    """``"0,1"`` → ``["0", "1"]``; ``"all"`` → every ``fold_N`` folder with a final checkpoint, in order."""
    if folds == "all":
        found = sorted(
            (p.name.removeprefix("fold_") for p in root.glob("fold_*") if (p / CHECKPOINT).is_file()),
            key=lambda name: (not name.isdigit(), int(name) if name.isdigit() else 0, name),
        )
        if not found:
            raise UsageError(f"{root}: no fold_*/{CHECKPOINT} found")
        return found[:MAX_FOLDS]
    names = [part.strip() for part in folds.split(",") if part.strip()]
    if not names or len(names) > MAX_FOLDS or any(not (n.isdigit() or n == "all") for n in names):
        raise UsageError(f"--folds: give fold numbers like 0,1 (at most {MAX_FOLDS}) or 'all', got {folds!r}")
    return list(dict.fromkeys(names))


def load_checkpoint(path: Path, where: str, problems: list[Problem]) -> dict[str, Any] | None:
    """The checkpoint as plain data, or None with the problem recorded (never unpickles anything else)."""
    import pickle

    try:
        import torch
    except ImportError:
        raise UsageError(INSTALL_HINT) from None
    if path.stat().st_size > MAX_CHECKPOINT_BYTES:
        problems.append(Problem(where, f"larger than {MAX_CHECKPOINT_BYTES >> 30} GiB: not a checkpoint"))
        return None
    scalar = np._core.multiarray.scalar  # type: ignore[attr-defined]  # numpy 2's location of its scalar loader
    data_only = [scalar, np.dtype, *(type(np.dtype(k)) for k in "?bhilqBHILQefdg")]
    try:
        with torch.serialization.safe_globals(data_only):
            loaded = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, ValueError, EOFError, OSError) as error:
        first = str(error).strip().splitlines()[-1][:300] if str(error).strip() else type(error).__name__
        problems.append(
            Problem(where, f"not a plain weights checkpoint (refused without running it: {first})"),
        )
        return None
    if not isinstance(loaded, dict) or not isinstance(loaded.get("network_weights"), dict):
        problems.append(Problem(where, "no 'network_weights' state dict: not an nnU-Net v2 checkpoint"))
        return None
    return loaded


def check_checkpoint(checkpoint: dict[str, Any], plan: NnunetPlan, where: str, problems: list[Problem]) -> list[int]:
    """The trainer and configuration the checkpoint was made with; returns its mirroring axes (nnU-Net order)."""
    trainer = checkpoint.get("trainer_name")
    if not isinstance(trainer, str) or not TRAINERS.fullmatch(trainer):
        problems.append(
            Problem(
                f"{where}:trainer_name",
                f"trainer {str(trainer)[:80]!r} may override nnU-Net's inference: only nnUNetTrainer (and its "
                "epoch-count and NoMirroring variants) are supported",
            )
        )
    init = checkpoint.get("init_args")
    configuration = init.get("configuration") if isinstance(init, dict) else None
    if configuration is not None and configuration != plan.configuration:
        problems.append(Problem(f"{where}:init_args.configuration", f"trained as {configuration!r}"))
    axes = checkpoint.get("inference_allowed_mirroring_axes")
    if axes is None:
        return []
    if not isinstance(axes, list | tuple) or any(a not in (0, 1, 2) for a in axes):
        problems.append(Problem(f"{where}:inference_allowed_mirroring_axes", f"must list axes 0..2, got {axes!r}"))
        return []
    return sorted({int(a) for a in axes})


def to_deepinfer_axis(axis: int, transpose: list[int]) -> int:
    """nnU-Net's axis ``axis`` (after ``transpose_forward`` of SimpleITK's z, y, x) as deepinfer's i, j, k axis."""
    return 2 - transpose[axis]


def in_deepinfer_order(values: list[Any], transpose: list[int]) -> list[Any]:
    ordered: list[Any] = [None] * 3
    for axis, value in enumerate(values):
        ordered[to_deepinfer_axis(axis, transpose)] = value
    return ordered


@dataclass
class FolderContents:
    """What a results folder gives the card: the plan, each fold's checkpoint (name → data), the mirroring axes
    and the label groups nnU-Net's postprocessing keeps the largest component of."""

    plan: NnunetPlan
    checkpoints: dict[str, dict[str, Any]]
    mirror_axes: list[int]
    postprocessing: list[list[int]]


def read_folder(results: Path, configuration: str, folds: str) -> FolderContents:
    """Everything the card needs from the folder; raises with every problem."""
    if not results.is_dir():
        raise UsageError(f"{results}: not a folder (an nnU-Net results folder has dataset.json, plans.json, fold_N/)")
    root = results.resolve()
    problems: list[Problem] = []
    plan = NnunetPlan(configuration)
    dataset, plans = read_json(root, DATASET, problems), read_json(root, PLANS, problems)
    if dataset is not None:
        read_dataset(dataset, plan, problems)
    if plans is not None:
        read_plans(plans, plan, problems)
    checkpoints: dict[str, dict[str, Any]] = {}
    mirror_axes: list[int] | None = None
    for fold in parse_folds(folds, root):
        where = f"fold_{fold}/{CHECKPOINT}"
        try:
            path = resolve_inside(root, where)
        except ValueError as error:
            problems.append(Problem(where, f"refused: {error}"))
            continue
        if not path.is_file():
            problems.append(Problem(where, "missing"))
            continue
        checkpoint = load_checkpoint(path, where, problems)
        if checkpoint is not None:
            axes = check_checkpoint(checkpoint, plan, where, problems)
            if mirror_axes is not None and axes != mirror_axes:
                problems.append(Problem(where, f"mirroring axes {axes} differ from another fold's {mirror_axes}"))
            mirror_axes = axes
            checkpoints[fold] = checkpoint
    postprocessing = read_postprocessing(root, list(checkpoints), plan, problems)
    if problems:
        raise CardError(str(results), problems)
    return FolderContents(plan, checkpoints, mirror_axes or [], postprocessing)


def input_names(plan: NnunetPlan) -> list[str]:
    """One card input per channel, named by ``channel_names`` (made unique)."""
    names: list[str] = []
    for index, channel in enumerate(plan.channels):
        name = member_name(channel, f"image{index}")
        names.append(name if name not in names else f"{name[:58]}_{index}")
    return names


def probability_names(plan: NnunetPlan) -> list[tuple[int, str, str]]:
    """(channel, output name, what it is) of each probability output: one per region, or per foreground label."""
    if plan.regions:
        return [
            (i, member_name(f"probability_{name}", "probability"), f"nnU-Net's sigmoid probability of region {name!r}")
            for i, (name, _) in enumerate(plan.regions)
        ]
    return [
        (
            v,
            member_name(f"probability_{plan.labels[v]}", "probability"),
            f"nnU-Net's softmax probability of {plan.labels[v]!r}",
        )
        for v in sorted(plan.labels)[1:]
    ]


def pipeline_steps(
    plan: NnunetPlan, networks: list[str], mirror_axes: list[int], postprocessing: list[list[int]] | None = None
) -> list[dict[str, Any]]:
    """nnU-Net's inference as card steps (per-axis values in deepinfer's order)."""
    inputs = input_names(plan)
    steps: list[dict[str, Any]] = [{"step": "stack_inputs", "params": {"inputs": inputs[1:]}}] if inputs[1:] else []
    steps += [
        {"step": "crop_nonzero", "params": {}},
        {"step": "normalize_nnunet", "params": {"channels": plan.normalization}},
        {
            "step": "resample_nnunet",
            "params": {
                "spacing": in_deepinfer_order(plan.spacing, plan.transpose),
                "order": plan.data_order,
                "order_z": plan.data_order_z,
                "inverse_order": plan.probability_order,
                "inverse_order_z": plan.probability_order_z,
                "inverse_float16": True,
                "axis_order": [to_deepinfer_axis(a, plan.transpose) for a in range(3)],  # nnU-Net's rounding
                **separate_z_params(plan),
            },
        },
        {
            "step": "sliding_window_nnunet",
            "params": {
                "roi": in_deepinfer_order(plan.patch, plan.transpose),
                "networks": networks,
                "step_size": {"param": "step_size"},
                "mirror": {"param": "tta"},
                # nnU-Net's order of the axes: the order of its float16 sums (windows) and float32 sums (mirrors)
                "mirror_axes": [to_deepinfer_axis(a, plan.transpose) for a in mirror_axes],
                "axis_order": [to_deepinfer_axis(a, plan.transpose) for a in range(3)],
                "accumulate": "float16",  # as nnU-Net's predictor
            },
        },
        {"step": "restore_geometry", "params": {"levels": 1}},  # logits back onto the cropped grid
        {"step": "activation", "params": {"function": "sigmoid" if plan.regions else "softmax"}},
        {"step": "restore_geometry", "params": {}},  # then the crop is reverted (probabilities 0 outside)
    ]
    steps += [
        {"step": "output", "params": {"name": name, "channel": channel}} for channel, name, _ in probability_names(plan)
    ]
    if plan.regions:
        steps.append({"step": "regions_nnunet", "params": {"order": plan.regions_order}})
    else:
        steps.append({"step": "argmax", "params": {"labels": sorted(plan.labels)}})
    steps += [{"step": "largest_component_nnunet", "params": {"labels": labels}} for labels in postprocessing or []]
    steps.append({"step": "output", "params": {"name": "segmentation", "dtype": "uint8"}})
    return steps


def separate_z_params(plan: NnunetPlan) -> dict[str, Any]:
    """nnU-Net's separate-z choice; both resamplings of one configuration must make it alike (they do in every
    plan nnU-Net writes), since the step has one rule for both directions."""
    return {"separate_z": plan.separate_z["data"], "anisotropy_threshold": plan.anisotropy_threshold["data"]}


def card_document(
    plan: NnunetPlan,
    folds: list[str],
    mirror_axes: list[int],
    notes: list[str],
    postprocessing: list[list[int]] | None = None,
) -> dict[str, Any]:
    from deepinfer.card import slugify

    names = [f"fold_{fold}" for fold in folds]
    labels = [
        {"value": v, "name": n, "color": _PALETTE[(v - 1) % len(_PALETTE)]} for v, n in sorted(plan.labels.items()) if v
    ]
    probabilities = [
        {"type": "probability_map", "name": name, "description": what} for _, name, what in probability_names(plan)
    ]
    channels = ", ".join(plan.channels)
    inputs = [
        {"type": "volume", "name": name, "modality": "unspecified", "description": f"nnU-Net channel {i}: {channel}"}
        for i, (name, channel) in enumerate(zip(input_names(plan), plan.channels, strict=True))
    ]
    return {
        "id": slugify(f"nnunet-{plan.dataset_name}-{plan.configuration}"),
        "name": f"nnU-Net {plan.dataset_name} ({plan.configuration})",
        "version": "1.0.0",
        "task": "segmentation",
        "modality": "unspecified",
        "anatomy": "unspecified",
        "description": f"nnU-Net v2 model {plan.dataset_name}, configuration {plan.configuration}, folds "
        f"{', '.join(folds)}, input channels {channels}, imported by deepinfer card import-nnunet.",
        "authors": [],
        "license": {"code": "NOASSERTION", "weights": "NOASSERTION"},
        "tags": ["nnunet"],
        "notes": notes,
        "inputs": inputs,
        "outputs": [{"type": "labelmap", "name": "segmentation", "labels": labels}, *probabilities],
        "parameters": [
            {
                "type": "bool",
                "name": "tta",
                "title": "Mirroring test-time augmentation",
                "default": True,
                "description": f"Average over inputs mirrored along nnU-Net's axes {mirror_axes} (nnU-Net's default).",
            },
            {
                "type": "float",
                "name": "step_size",
                "title": "Sliding-window step",
                "default": 0.5,
                "minimum": 0.1,
                "maximum": 1.0,
                "description": "Window step as a fraction of the patch (nnU-Net: 0.5).",
            },
        ],
        "artifacts": [],
        "runtime": {"type": "onnx"},
        "pipeline": pipeline_steps(plan, names, mirror_axes, postprocessing),
    }


def plan_import(
    results: Path,
    scratch: Path,
    configuration: str = "3d_fullres",
    folds: str = "0",
    examples: list[Path] | None = None,
) -> ImportPlan:
    """Read and check a results folder and export its folds' networks into ``scratch``; raises
    :class:`CardError` with every problem, or returns the card to write. ``examples``: one image per input
    channel, recorded with the card's outputs for them (see :func:`record_example`)."""
    found = read_folder(results, configuration, folds)
    plan, checkpoints = found.plan, found.checkpoints
    if examples is not None and len(examples) != len(plan.channels):
        names = ", ".join(plan.channels)
        raise UsageError(f"--example: give one image per input channel ({names}), in that order; got {len(examples)}")
    from deepinfer.package._nnunet_network import axis_wrapper, build_network, export_onnx

    problems: list[Problem] = []
    files: dict[str, Path] = {}
    artifacts = []
    done = "largest-component postprocessing from postprocessing.json" if found.postprocessing else "no postprocessing"
    notes = [
        "Imported from an nnU-Net v2 results folder by deepinfer card import-nnunet: the pipeline is nnU-Net's "
        "predictor (crop to nonzero, normalization, resampling, Gaussian sliding window, mirroring, fold average, "
        f"resampling back, {'sigmoid, regions' if plan.regions else 'softmax, argmax'}) with {done}; "
        "postprocessing.pkl is never read.",
    ]
    shape = (1, len(plan.channels), *in_deepinfer_order(plan.patch, plan.transpose))
    for fold, checkpoint in checkpoints.items():
        where = f"fold_{fold}/{CHECKPOINT}"
        network = build_network(plan, checkpoint["network_weights"], where, problems)
        if network is None:
            continue
        target = scratch / f"fold_{fold}.onnx"
        difference = export_onnx(axis_wrapper(network, plan.transpose), tuple(shape), target)
        if difference > ONNX_TOLERANCE:
            problems.append(Problem(where, f"the ONNX export differs from torch by {difference:.2g}"))
        notes.append(f"fold_{fold}: ONNX export checked against torch, max |difference| {difference:.2g}.")
        files[f"fold_{fold}.onnx"] = target
        artifacts.append(artifact(f"fold_{fold}", f"fold_{fold}.onnx", target))
    if problems:
        raise CardError(str(results), problems)
    document = card_document(plan, list(checkpoints), found.mirror_axes, notes, found.postprocessing)
    document["artifacts"] = artifacts
    card = checked_card(document, results)
    if examples:
        draft = write_card_folder(ImportPlan(card, files), scratch / "draft")
        example_files, entry = record_example(draft, examples, scratch / "example")
        document["artifacts"] += [artifact(name, relative, path) for name, (relative, path) in example_files.items()]
        document["examples"] = [entry]
        card = checked_card(document, results)
        files |= {relative: path for relative, path in example_files.values()}
    return ImportPlan(card, files)


def checked_card(document: dict[str, Any], results: Path) -> ModelCard:
    card = parse_card(document, str(results))
    found = validate_card_pipeline(card)
    if found:  # a mapping that gives an invalid step is a bug here; say so rather than write the card
        raise CardError(f"{results} (the imported card)", found)
    return card


def record_example(
    card_file: Path, images: list[Path], work: Path
) -> tuple[dict[str, tuple[str, Path]], dict[str, Any]]:
    """Run the imported card on ``images`` (one per input) and keep its outputs as the example's expected ones,
    so that ``deepinfer card test`` checks that the card, wherever it runs later, still gives them: labels by
    Dice (:data:`EXAMPLE_MIN_DICE`), probabilities by the largest difference (:data:`EXAMPLE_MAX_DIFF`, room for
    nnU-Net's float16 accumulation on another runtime)."""
    from deepinfer.card import load_card
    from deepinfer.imaging import image_suffix
    from deepinfer.run import run_model

    card = load_card(card_file)
    files: dict[str, tuple[str, Path]] = {}
    inputs: dict[str, Path] = {}
    for member, image in zip(card.inputs, images, strict=True):
        suffix = image_suffix(image)
        if not image.is_file() or not suffix:
            raise UsageError(f"--example {image}: not an image file (.nii.gz, .nii, .nrrd, .mha)")
        files[f"example_{member.name}"] = (f"examples/{member.name}{suffix}", image)
        inputs[member.name] = image
    work.mkdir(parents=True, exist_ok=True)
    outputs = {m.name: work / f"{m.name}.nii.gz" for m in card.outputs}
    run_model(card, inputs, outputs, card_dir=card_file.parent)
    for name, path in outputs.items():
        files[f"expected_{name}"] = (f"examples/expected_{name}.nii.gz", path)
    entry = {
        "name": "example",
        "inputs": {m.name: f"example_{m.name}" for m in card.inputs},
        "expected": {name: f"expected_{name}" for name in outputs},
        "min_dice": EXAMPLE_MIN_DICE,
        "max_abs_diff": EXAMPLE_MAX_DIFF,
    }
    return files, entry


def import_nnunet_results(
    results: Path,
    card_dir: Path,
    *,
    configuration: str = "3d_fullres",
    folds: str = "0",
    examples: list[Path] | None = None,
    force: bool = False,
) -> tuple[ModelCard, Path]:
    """Import the nnU-Net v2 results folder ``results`` (``dataset.json``, ``plans.json``, ``fold_N/``) as a card
    folder ``card_dir``; returns the card and its file. ``folds``: ``"0,1"`` or ``"all"``; ``examples``: one
    image per input channel to record as the card's example (its outputs for them become the expected ones)."""
    with tempfile.TemporaryDirectory(prefix="deepinfer-nnunet-") as scratch:
        plan = plan_import(results, Path(scratch), configuration, folds, examples)
        return plan.card, write_card_folder(plan, card_dir, force)
