"""``deepinfer card test --precision fast``: fast mode against exact mode on every example of a card.

Each example's inputs run twice through :func:`deepinfer.run.run_model`, with ``precision="exact"`` and
``precision="fast"`` (same runtime choice), and every output is compared with the bounds the card declares in
``precision.fast``: labelmaps by mean Dice over their labels (``min_dice``), other volumes by the largest
absolute difference (``max_abs_diff``, when declared), class scores by the fraction of planes whose top class
agrees (``min_class_agreement``) and the largest score difference (``max_abs_diff``, when declared). Expected
outputs are not needed: the reference is the card's own exact result.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from deepinfer._exceptions import DeepInferError, UsageError
from deepinfer._metrics import label_dice, max_abs_diff
from deepinfer.card import Example, FastBounds, LabelmapMember, ModelCard
from deepinfer.imaging import Volume
from deepinfer.package._card_test import ExampleCheck, _image_file
from deepinfer.pipeline import ClassScores, ProgressCallback, no_progress
from deepinfer.store import ArtifactStore

MODES = ("exact", "fast")


def compare_modes(card: ModelCard, example: str, name: str, exact: Volume, fast: Volume) -> ExampleCheck | None:
    """One output of one example, fast vs exact, against the card's fast-mode bounds (None: nothing to check)."""
    bounds = card.precision.fast or FastBounds()
    member = next((o for o in card.outputs if o.name == name), None)
    if isinstance(member, LabelmapMember):
        labels = [label.value for label in member.labels]
        value = label_dice(np.asarray(fast.array), np.asarray(exact.array), labels)
        return ExampleCheck(example, name, "fast vs exact dice", value, bounds.min_dice, value >= bounds.min_dice)
    if bounds.max_abs_diff is None:
        return None
    value = max_abs_diff(np.asarray(fast.array), np.asarray(exact.array))
    limit = bounds.max_abs_diff
    return ExampleCheck(example, name, "fast vs exact max_abs_diff", value, limit, value <= limit)


def compare_score_modes(
    card: ModelCard, example: str, name: str, exact: ClassScores, fast: ClassScores
) -> list[ExampleCheck]:
    """One class-score output of one example, fast vs exact: the share of planes with the same top class
    (``min_class_agreement``) and, when declared, the largest score difference (``max_abs_diff``)."""
    bounds = card.precision.fast or FastBounds()
    if exact.planes != fast.planes:
        message = f"fast mode scored {len(fast.planes)} planes, exact mode {len(exact.planes)}"
        return [ExampleCheck(example, name, "fast vs exact planes", None, 0.0, False, message)]
    if not exact.planes:
        return []
    top_exact, top_fast = np.argmax(exact.values, axis=1), np.argmax(fast.values, axis=1)
    agreement = float(np.mean(top_exact == top_fast))
    limit = bounds.min_class_agreement
    checks = [ExampleCheck(example, name, "fast vs exact top-class agreement", agreement, limit, agreement >= limit)]
    if bounds.max_abs_diff is not None:
        value = max_abs_diff(np.asarray(fast.values), np.asarray(exact.values))
        limit = bounds.max_abs_diff
        checks.append(ExampleCheck(example, name, "fast vs exact max_abs_diff", value, limit, value <= limit))
    return checks


def _run_modes(
    card: ModelCard, example: Example, card_dir: Path | None, store: ArtifactStore, progress: ProgressCallback
) -> list[ExampleCheck]:
    from deepinfer.run import run_model, score_outputs, volume_outputs

    with tempfile.TemporaryDirectory(prefix="deepinfer-fast-check-") as work:
        folder = Path(work)
        try:
            inputs = {m: _image_file(store, card.artifact(a), card_dir, folder) for m, a in example.inputs.items()}
            results, scores = {}, {}
            for mode in MODES:
                plan = {name: folder / f"{mode}.{name}.nrrd" for name in volume_outputs(card)}
                plan.update({name: folder / f"{mode}.{name}.json" for name in score_outputs(card)})
                run = run_model(card, inputs, plan, example.params, store=store, card_dir=card_dir, progress=progress,
                                precision=mode)  # fmt: skip
                results[mode], scores[mode] = run.volumes, run.scores
        except DeepInferError as error:
            return [ExampleCheck(example.name, "*", "run", None, 0.0, False, str(error))]
    checks = [compare_modes(card, example.name, n, results["exact"][n], results["fast"][n]) for n in results["exact"]]
    for name in scores["exact"]:
        checks += compare_score_modes(card, example.name, name, scores["exact"][name], scores["fast"][name])
    return [check for check in checks if check is not None]


def check_fast_mode(
    card: ModelCard, card_dir: Path | None, store: ArtifactStore | None = None, progress: ProgressCallback = no_progress
) -> list[ExampleCheck]:
    """Every example's fast-vs-exact checks; a :class:`UsageError` when the card declares no fast-mode bounds
    or has no example inputs."""
    if card.precision.fast is None:
        raise UsageError(f"{card.ref} declares no fast-mode accuracy (precision.fast); fast mode runs exact for it")
    examples = [example for example in card.examples if example.inputs]
    if not examples:
        raise UsageError(f"{card.ref} has no examples to compare fast and exact mode on (add them under 'examples')")
    store = store or ArtifactStore()
    checks: list[ExampleCheck] = []
    for example in examples:
        checks += _run_modes(card, example, card_dir, store, progress)
    return checks
