"""``deepinfer card test CARD``: run every example of a card and compare with its expected outputs.

A labelmap passes when its Dice with the expected one (averaged over the card's labels; with a single label any
nonzero expected voxel counts, see :func:`deepinfer._metrics.label_dice`) reaches the
example's ``min_dice``; any other volume when the largest absolute voxel difference is at most
``max_abs_diff``. Both must also lie on the expected output's grid. A card ``metrics`` entry that names an
example is recomputed from it: the stated value must match what the example measures today. Examples run through
:func:`deepinfer.run.run_model`, so a container card is tested in its container.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from deepinfer._exceptions import DeepInferError, UsageError
from deepinfer._metrics import label_dice, max_abs_diff
from deepinfer.card import Artifact, Example, LabelmapMember, ModelCard
from deepinfer.imaging import SUPPORTED_SUFFIXES, Volume, read_volume
from deepinfer.pipeline import ProgressCallback, no_progress
from deepinfer.store import ArtifactStore

if TYPE_CHECKING:
    from deepinfer.container import ContainerOptions

GEOMETRY_TOLERANCE = 1e-5
METRIC_TOLERANCE = 0.005
"""How far a card's stated metric may lie from what its example measures (runtimes differ in the last digits)."""


@dataclass(frozen=True)
class ExampleCheck:
    """One comparison: ``metric`` is ``dice``, ``max_abs_diff`` or ``run`` (the run itself failed)."""

    example: str
    output: str
    metric: str
    value: float | None
    limit: float
    passed: bool
    message: str = ""


def compare(card: ModelCard, example: Example, name: str, actual: Volume, expected: Volume) -> ExampleCheck:
    member = next((o for o in card.outputs if o.name == name), None)
    labelmap = isinstance(member, LabelmapMember)
    metric, limit = ("dice", example.min_dice) if labelmap else ("max_abs_diff", example.max_abs_diff)
    if not actual.geometry.same_as(expected.geometry, tolerance=GEOMETRY_TOLERANCE):
        return ExampleCheck(example.name, name, metric, None, limit, False, "not on the expected output's grid")
    if labelmap:
        labels = [label.value for label in member.labels] if isinstance(member, LabelmapMember) else [1]
        value = label_dice(np.asarray(actual.array), np.asarray(expected.array), labels)
        return ExampleCheck(example.name, name, metric, value, limit, value >= limit)
    value = max_abs_diff(np.asarray(actual.array), np.asarray(expected.array))
    return ExampleCheck(example.name, name, metric, value, limit, value <= limit)


def _image_file(store: ArtifactStore, artifact: Artifact, card_dir: Path | None, folder: Path) -> Path:
    """The verified artifact under a name with its image suffix (the cache names files by sha256 only)."""
    source = getattr(artifact.source, "path", None) or getattr(artifact.source, "url", "")
    name = str(source).lower()
    suffix = next((s for s in sorted(SUPPORTED_SUFFIXES, key=len, reverse=True) if name.endswith(s)), "")
    if not suffix or suffix in (".nhdr", ".mhd"):
        raise UsageError(f"example artifact {artifact.name!r}: not a single-file image (.nii.gz, .nii, .nrrd, .mha)")
    cached = store.fetch(artifact, base_dir=card_dir)
    target = folder / f"{artifact.name}{suffix}"
    try:
        os.link(cached, target)
    except OSError:
        shutil.copyfile(cached, target)
    return target


def run_example(
    card: ModelCard,
    example: Example,
    card_dir: Path | None,
    store: ArtifactStore,
    progress: ProgressCallback = no_progress,
    container: ContainerOptions | None = None,
) -> list[ExampleCheck]:
    """Run one example in a temporary folder and compare each expected output."""
    from deepinfer.run import run_model

    with tempfile.TemporaryDirectory(prefix="deepinfer-card-test-") as work:
        folder = Path(work)
        try:
            inputs = {m: _image_file(store, card.artifact(a), card_dir, folder) for m, a in example.inputs.items()}
            plan = {name: folder / f"out.{name}.nrrd" for name in example.expected}
            result = run_model(
                card,
                inputs,
                plan,
                example.params,
                store=store,
                card_dir=card_dir,
                progress=progress,
                container=container,
            )
            expected = {
                name: read_volume(_image_file(store, card.artifact(artifact), card_dir, folder))
                for name, artifact in example.expected.items()
            }
        except DeepInferError as error:
            return [ExampleCheck(example.name, "*", "run", None, 0.0, False, str(error))]
        return [compare(card, example, name, result.volumes[name], volume) for name, volume in expected.items()]


def check_examples(
    card: ModelCard,
    card_dir: Path | None,
    store: ArtifactStore | None = None,
    progress: ProgressCallback = no_progress,
    container: ContainerOptions | None = None,
) -> list[ExampleCheck]:
    """Every example's checks; raises :class:`UsageError` when the card has no example with expected outputs."""
    examples = [example for example in card.examples if example.expected]
    if not examples:
        raise UsageError(f"{card.ref} has no examples with expected outputs to test (add them under 'examples')")
    store = store or ArtifactStore()
    checks: list[ExampleCheck] = []
    for example in examples:
        found = run_example(card, example, card_dir, store, progress, container)
        checks += found + stated_metric_checks(card, example, found)
    return checks


def stated_metric_checks(card: ModelCard, example: Example, checks: list[ExampleCheck]) -> list[ExampleCheck]:
    """The card's ``metrics`` that name ``example``, each compared with the Dice just measured on it: the figure
    a card states must be what its examples give today (within :data:`METRIC_TOLERANCE`)."""
    found = []
    for metric in card.metrics:
        if metric.example != example.name:
            continue
        measured = next((c for c in checks if c.metric == "dice" and c.value is not None), None)
        label = f"card metric {metric.name}"
        if measured is None or measured.value is None or metric.name.lower() != "dice":
            missing = "no Dice measured to compare"
            found.append(ExampleCheck(example.name, "*", label, None, metric.value, False, missing))
            continue
        passed = abs(measured.value - metric.value) <= METRIC_TOLERANCE
        message = "" if passed else f"the card states {metric.value:g}; update its metrics (or find what changed)"
        found.append(ExampleCheck(example.name, measured.output, label, measured.value, metric.value, passed, message))
    return found
