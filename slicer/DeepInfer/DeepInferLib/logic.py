"""The extension's logic: browse the registry, pull, run a model on scene nodes, import the results.

No Qt. Every deepinfer call is a background :class:`~.process.Task` the widget polls from a timer; the MRML
work (exporting inputs, importing results) happens in the caller's thread, inside ``start_run`` and
``Task.poll``, so MRML is only touched from the GUI thread. The MRML part (``scene``) is imported only when a
run starts, so browsing works (and is tested) without Slicer's libraries.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import commands
from .cards import SCORE_OUTPUT_TYPES, BrowserRow, ModelForm, browser_rows, filter_rows, form_from_card
from .commands import CommandError, Connection
from .process import CliProcess, Outcome, Task


@dataclass
class RunResult:
    """What a finished run put into the scene."""

    nodes: dict[str, Any]  # output name → node
    provenance: dict[str, Any]
    seconds: float  # wall time of the whole run, export and import included
    notes: list[str] = field(default_factory=list)
    # output name → the other nodes it filled: a segmentation's statistics table; the plot chart, its series
    # and the target-plane marker of per-plane class scores
    extras: dict[str, list[Any]] = field(default_factory=dict)


def _stem_sidecar(path: Path, kind: str) -> Path:
    """deepinfer's sidecar of an output file: ``STEM.provenance.json``, ``STEM.statistics.json``."""
    name = path.name
    for suffix in (".nii.gz", ".nrrd", ".nii", ".mha", ".mhd"):
        if name.endswith(suffix):
            return path.with_name(f"{name[: -len(suffix)]}.{kind}.json")
    return path.with_name(f"{path.stem}.{kind}.json")


class Logic:
    """State of the module (the model list, the cache listing, the cards seen) and the tasks that fill it."""

    def __init__(self, connection: Connection | None = None, work_root: Path | None = None) -> None:
        self.connection = connection
        self.work_root = work_root
        self.summaries: list[dict[str, Any]] = []
        self.cache_rows: list[dict[str, Any]] | None = None
        self.cards: dict[str, dict[str, Any]] = {}

    # ------------------------------------------------------------------------------------------ plumbing

    def _connection(self) -> Connection:
        if self.connection is None:
            self.connection = commands.make_connection()
        return self.connection

    def _task(self, argv: Sequence[str], finish: Any = None, cleanup: Any = None) -> Task:
        process = CliProcess(argv, self._connection().environment()).start()
        return Task(process, finish or (lambda outcome: outcome), cleanup)

    # ------------------------------------------------------------------------------------------ registry

    def start_list_models(self) -> Task:
        def finish(outcome: Outcome) -> list[dict[str, Any]]:
            self.summaries = list(outcome.json())
            return self.summaries

        return self._task(commands.list_models(self._connection()), finish)

    def start_list_cache(self) -> Task:
        def finish(outcome: Outcome) -> list[dict[str, Any]]:
            self.cache_rows = list(outcome.json())
            return self.cache_rows

        return self._task(commands.list_cache(self._connection()), finish)

    def start_show(self, model_id: str) -> Task:
        """The full card of a model (kept in :attr:`cards`); the task's result is the card."""

        def finish(outcome: Outcome) -> dict[str, Any]:
            card = dict(outcome.json())
            self.cards[card["id"]] = card
            return card

        return self._task(commands.show_model(self._connection(), model_id), finish)

    def start_pull(self, model_id: str) -> Task:
        return self._task(commands.pull_model(self._connection(), model_id))

    def rows(self, query: str = "") -> list[BrowserRow]:
        return filter_rows(browser_rows(self.summaries, self.cache_rows, self.cards), query)

    def installed(self, model_id: str) -> bool | None:
        return next((row.installed for row in self.rows() if row.model_id == model_id), None)

    def form(self, model_id: str) -> ModelForm:
        return form_from_card(self.cards[model_id])

    # ----------------------------------------------------------------------------------------------- run

    def start_run(
        self,
        scene: Any,
        form: ModelForm,
        inputs: Mapping[str, Any],
        values: Mapping[str, Any] | None = None,
        targets: Mapping[str, Any] | None = None,
        threads: int | None = None,
    ) -> Task:
        """Export the input nodes, start ``deepinfer run`` in the background; the task's result is a
        :class:`RunResult` once :meth:`Task.poll` has imported the outputs (into ``targets`` or new nodes)."""
        from . import scene as mrml

        started = time.perf_counter()
        nodes = {name: node for name, node in inputs.items() if node is not None}
        missing = [spec.label for spec in form.inputs if spec.required and spec.name not in nodes]
        if missing:
            raise CommandError(f"select the input(s): {', '.join(missing)}")
        folder = Path(tempfile.mkdtemp(prefix="deepinfer-slicer-", dir=self.work_root))
        try:
            (folder / "in").mkdir()
            (folder / "out").mkdir()
            files = {name: mrml.export_volume(node, folder / "in" / f"{name}.nrrd") for name, node in nodes.items()}
            outputs = commands.output_files(form, folder / "out")
            argv = commands.run_model(self._connection(), form, files, outputs, values or {}, threads)
            process = CliProcess(argv, self._connection().environment()).start()
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise

        def finish(outcome: Outcome) -> RunResult:
            return self._import_results(scene, form, nodes, folder / "out", dict(targets or {}), started)

        return Task(process, finish, cleanup=lambda: shutil.rmtree(folder, ignore_errors=True))

    def _import_results(
        self,
        scene: Any,
        form: ModelForm,
        inputs: Mapping[str, Any],
        folder: Path,
        targets: dict[str, Any],
        started: float,
    ) -> RunResult:
        from . import scene as mrml

        reference = inputs.get(form.inputs[0].name) if form.inputs else None
        result = RunResult({}, {}, 0.0)
        try:
            self._import_outputs(scene, form, inputs, folder, targets, reference, result)
        except BaseException:  # nothing half-imported: drop the nodes this run created
            for name, node in result.nodes.items():
                if targets.get(name) is None:
                    for extra in result.extras.get(name, []):
                        mrml.remove_node(scene, extra)
                    mrml.remove_node(scene, node)
            raise
        result.seconds = time.perf_counter() - started
        return result

    def _import_outputs(
        self,
        scene: Any,
        form: ModelForm,
        inputs: Mapping[str, Any],
        folder: Path,
        targets: dict[str, Any],
        reference: Any,
        result: RunResult,
    ) -> None:
        from . import scene as mrml

        base = reference.GetName() if reference is not None else form.model_id
        outputs = commands.output_files(form, folder)
        for spec in form.outputs:
            name = f"{base} {spec.label}"
            path = outputs.get(spec.name)
            if path is None or (spec.member_type in SCORE_OUTPUT_TYPES and not path.is_file()):
                note = f"{spec.label}: this deepinfer version writes no file for {spec.member_type} outputs"
                result.notes.append(note)
                continue
            if spec.member_type in SCORE_OUTPUT_TYPES:
                node = self._import_scores(scene, path, name, targets.get(spec.name), reference, result, spec.name)
            elif spec.kind == "segmentation":
                node = mrml.import_segmentation(scene, path, spec.labels, reference, name, targets.get(spec.name))
            else:
                node = mrml.read_volume(scene, path, name, targets.get(spec.name))
            result.nodes[spec.name] = node
            provenance = {
                **mrml.read_provenance(_stem_sidecar(path, "provenance")),
                "slicer": {
                    "inputs": {n: node_in.GetName() for n, node_in in inputs.items()},
                    "mode": self._connection().mode,
                },
            }
            if spec.kind == "segmentation":
                self._import_statistics(scene, path, node, result, spec.name)
            for each in [node, *result.extras.get(spec.name, [])]:
                mrml.attach_provenance(each, provenance)
            result.provenance = result.provenance or provenance

    @staticmethod
    def _import_scores(
        scene: Any, path: Path, name: str, target: Any, reference: Any, result: RunResult, output: str
    ) -> Any:
        """Per-plane scores → table, chart and target-plane marker; the older one-vector form → a table."""
        from . import scene as mrml
        from .plane_scores import import_plane_scores, is_plane_scores

        document = json.loads(path.read_text(encoding="utf-8"))
        if not is_plane_scores(document):
            return mrml.import_table(scene, document, name, target)
        nodes = import_plane_scores(scene, document, name, target, reference)
        result.extras[output] = nodes.extras()
        return nodes.table

    @staticmethod
    def _import_statistics(scene: Any, path: Path, segmentation: Any, result: RunResult, output: str) -> None:
        """``STEM.statistics.json`` beside a labelmap → the segmentation's statistics table."""
        from .label_statistics import import_statistics

        statistics = _stem_sidecar(path, "statistics")
        if not statistics.is_file():
            result.notes.append(f"{segmentation.GetName()}: this deepinfer version writes no label statistics")
            return
        document = json.loads(statistics.read_text(encoding="utf-8"))
        result.extras.setdefault(output, []).append(import_statistics(scene, document, segmentation))
