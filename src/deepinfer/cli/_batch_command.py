"""``deepinfer batch MODEL --inputs DIR|CSV|GLOB --output-dir OUT [--workers N] [--ray ADDRESS [--ship-inputs]]
[model options]``: a cohort on this machine, or on a Ray cluster (see :mod:`deepinfer.batch`). Exit 0 when every
case succeeded or was skipped, 5 when any failed, 130 on Ctrl-C (the manifest keeps the cases that finished), 2 for
a bad command line or cohort (or --ray without Ray installed)."""

from __future__ import annotations

import contextlib
import enum
import inspect
import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from deepinfer._exceptions import UsageError
from deepinfer.card import ModelCard
from deepinfer.cli._progress import JsonProgress, ProgressMode, RichProgress
from deepinfer.cli._render import RESEARCH_ONLY
from deepinfer.cli._run_command import _parameter_signature, resolve_model
from deepinfer.cli._runtime_options import chosen, runtime_parameters

if TYPE_CHECKING:
    from deepinfer.batch import BatchOptions, BatchResult, CaseRecord, Cohort

FAILED_EXIT = 5
"""The exit code of a batch in which at least one case failed (the others ran)."""
_KW = inspect.Parameter.KEYWORD_ONLY
_OWN = {
    "inputs", "output_dir", "workers", "threads", "force", "report", "progress", "suffix", "runtime", "precision",
    "ray", "ship_inputs",
}  # fmt: skip


def batch(
    ctx: typer.Context,
    model: Annotated[str | None, typer.Argument(help="Model id, id@version, or a card file.")] = None,
) -> None:
    """Run a model on a cohort: deepinfer batch MODEL --inputs DIR|CSV|GLOB --output-dir OUT [--workers N],
    plus the model's own options (`deepinfer batch MODEL --help`). Writes OUT/CASE/... and OUT/manifest.csv;
    a rerun skips the cases already done. Exit 5 when a case failed."""
    if model is None or model in {"-h", "--help"}:
        typer.echo(ctx.get_help())
        return
    card, card_dir = resolve_model(model)
    command = typer.main.get_command(batch_app(card, card_dir))
    command.main(args=list(ctx.args), prog_name=f"{ctx.command_path} {model}", standalone_mode=True)


def _option(name: str, kind: Any, default: Any, *flags: str, **settings: Any) -> inspect.Parameter:
    return inspect.Parameter(name, _KW, default=default, annotation=Annotated[kind, typer.Option(*flags, **settings)])


def batch_app(card: ModelCard, card_dir: Path | None) -> typer.Typer:
    """A one-command Typer app: the batch options plus the card's typed parameters."""
    clash = sorted(_OWN & {p.name for p in card.parameters})
    if clash:
        raise UsageError(f"{card.id}: its parameter(s) {', '.join(clash)} clash with batch options")
    from deepinfer.imaging import SUPPORTED_SUFFIXES  # (imaging imports numpy: not at the CLI's start)

    formats = (*SUPPORTED_SUFFIXES, ".dcm")  # .dcm: each case's labelmap as a DICOM SEG (+ SR) of its DICOM series
    Suffix = enum.Enum("Suffix", {s: s for s in formats})  # type: ignore[misc]
    common = [
        _option("inputs", str, inspect.Parameter.empty, "--inputs", help="A folder of images or DICOM series "
                "folders (one case each), a quoted glob, or a CSV with a case_id column and one column per input."),
        _option("output_dir", Path, inspect.Parameter.empty, "-o", "--output-dir",
                help="Output folder: OUT/CASE/OUTPUT.nii.gz (+ provenance) per case, and OUT/manifest.csv."),
        _option("workers", int | None, None, "--workers", min=1,
                help="Worker processes (default: one per core), reduced to what the memory holds."),
        _option("threads", int | None, None, "--threads", min=1,
                help="CPU threads per worker (default: the cores shared out among the workers)."),
        _option("force", bool, False, "--force", help="Redo every case, even those whose outputs are up to date."),
        _option("report", bool, False, "--report/--no-report", help="Also write OUTPUT.report.png per case."),
        _option("suffix", Suffix, Suffix(".nii.gz"), "--format",
                help="Output image format; .dcm writes a labelmap as a DICOM SEG and SR of each case's series."),
        _option("progress", ProgressMode, ProgressMode.rich, "--progress",
                help="Progress display: rich, json (one JSON line per event on stderr) or none."),
        _option("ray", str | None, None, "--ray", metavar="ADDRESS",
                help="Run on the Ray cluster at ADDRESS (host:port, or auto): one actor per worker; "
                "needs deepinfer[ray]."),
        _option("ship_inputs", bool, False, "--ship-inputs",
                help="With --ray: send the input files through Ray's object store (else every node reads "
                "the input paths, which all nodes must see)."),
        *runtime_parameters(),
    ]  # fmt: skip
    names = [p.name for p in card.parameters]

    def command(**values: Any) -> None:
        chosen_values = {n: v.value if isinstance(v, enum.Enum) else v for n, v in values.items() if n in names}
        _batch(card, card_dir, values, chosen_values)

    command.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [*common, *(_parameter_signature(p) for p in card.parameters)]
    )
    app = typer.Typer(add_completion=False, pretty_exceptions_enable=False, rich_markup_mode=None)
    app.command(
        name=card.id,
        help=f"Run {card.name} ({card.ref}) on a cohort.\n\n{RESEARCH_ONLY}",
        context_settings={"help_option_names": ["-h", "--help"]},
    )(command)
    return app


def _batch(card: ModelCard, card_dir: Path | None, options: dict[str, Any], values: dict[str, Any]) -> None:
    from deepinfer.batch import BatchOptions, find_cases, ray_connection

    err = Console(stderr=True)
    out_dir: Path = options["output_dir"]
    cohort = find_cases(card, options["inputs"], exclude=out_dir)
    if cohort.ignored:
        listed = ", ".join(p.name for p in cohort.ignored[:5]) + (", ..." if len(cohort.ignored) > 5 else "")
        err.print(f"note: {len(cohort.ignored)} file(s) without an image suffix ignored: {escape(listed)}")
    if options["ship_inputs"] and options["ray"] is None:
        raise UsageError("--ship-inputs sends the inputs to a Ray cluster's actors: give --ray ADDRESS too")
    settings = BatchOptions(
        options["suffix"].value, options["force"], options["report"], chosen(options, "runtime"),
        chosen(options, "precision"), options["ray"], options["ship_inputs"],
    )  # fmt: skip
    with ray_connection() if options["ray"] is not None else contextlib.nullcontext():
        result = _plan_and_run(card, card_dir, options, values, settings, cohort, err)
    _summary(err, result)
    if result.failed:
        raise typer.Exit(FAILED_EXIT)


def _plan_and_run(
    card: ModelCard,
    card_dir: Path | None,
    options: dict[str, Any],
    values: dict[str, Any],
    settings: BatchOptions,
    cohort: Cohort,
    err: Console,
) -> BatchResult:
    from deepinfer.batch import case_memory, pending_cases, plan_workers, ray_plan, run_batch
    from deepinfer.card import resolve_parameters

    mode: ProgressMode = options["progress"]
    out_dir: Path = options["output_dir"]
    resolved = resolve_parameters(card, values)
    todo, _ = pending_cases(card, resolved, cohort.cases, out_dir, settings)
    memory = case_memory(card, resolved, todo)
    if options["ray"] is not None:
        plan = ray_plan(options["ray"], options["workers"], len(todo), memory, options["threads"])
    else:
        plan = plan_workers(options["workers"], len(todo), memory, options["threads"])
    if plan.note:
        err.print(f"[yellow]note:[/] {escape(plan.note)}", highlight=False, soft_wrap=True)
    display: type[_JsonCases | _RichCases] = _JsonCases if mode is ProgressMode.json else _RichCases
    with display(err, len(cohort.cases), len(todo), plan.workers, mode is ProgressMode.none) as shown:
        downloads = JsonProgress() if mode is ProgressMode.json else RichProgress(err)
        with downloads:
            result = run_batch(
                card, cohort.cases, out_dir, values, plan, card_dir=card_dir, options=settings,
                on_case=shown.case, progress=downloads if mode is not ProgressMode.none else _quiet,
            )  # fmt: skip
    return result


def _quiet(task: str, done: int, total: int) -> None:
    return None


def _summary(err: Console, result: BatchResult) -> None:
    from deepinfer.batch import FAILED, SKIPPED, SUCCEEDED

    manifest = result.manifest
    for record in manifest.records.values():
        if record.status == FAILED:
            err.print(f"[red]✗[/] {escape(record.case_id)}: {escape(record.error)}", highlight=False, soft_wrap=True)
    counts = ", ".join(f"{manifest.count(s)} {s}" for s in (SUCCEEDED, SKIPPED, FAILED))
    err.print(f"{len(manifest.records)} case(s): {counts} → {manifest.path}", highlight=False, soft_wrap=True)


class _RichCases:
    """One bar over the cases to run: done / total, failed so far, elapsed and the time remaining."""

    def __init__(self, console: Console, cases: int, todo: int, workers: int, quiet: bool) -> None:
        self.quiet = quiet
        self.failed = 0
        self.console = console
        self.bar = Progress(
            TextColumn("cases"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[failed]} failed"),
            TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(), console=console,
        )  # fmt: skip
        self.task = self.bar.add_task("cases", total=todo, failed=0)
        if not quiet:
            skipped = cases - todo
            console.print(f"{todo} case(s) to run on {workers} worker(s); {skipped} already done", highlight=False)

    def case(self, record: CaseRecord) -> None:
        if record.status == "skipped":
            return
        self.failed += record.status == "failed"
        self.bar.update(self.task, advance=1, failed=self.failed)

    def __enter__(self) -> _RichCases:
        if not self.quiet:
            self.bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar.live.is_started:
            self.bar.stop()


class _JsonCases:
    """``{"event": "batch", ...}`` once, then ``{"event": "case", ...}`` per finished case, on stderr: case id,
    status, done / total of the cases to run, failed so far, seconds, and the estimated seconds remaining."""

    def __init__(self, console: Console, cases: int, todo: int, workers: int, quiet: bool) -> None:
        self.total, self.done, self.failed = todo, 0, 0
        self.started = time.monotonic()
        self._write({"event": "batch", "cases": cases, "to_run": todo, "skipped": cases - todo, "workers": workers})

    def case(self, record: CaseRecord) -> None:
        if record.status != "skipped":
            self.done += 1
            self.failed += record.status == "failed"
        elapsed = time.monotonic() - self.started
        remaining = (self.total - self.done) * elapsed / self.done if self.done else None
        self._write({
            "event": "case", "case": record.case_id, "status": record.status, "done": self.done,
            "total": self.total, "failed": self.failed, "seconds": record.seconds,
            "eta_s": None if remaining is None else round(remaining, 1),
        })  # fmt: skip

    @staticmethod
    def _write(line: dict[str, Any]) -> None:
        sys.stderr.write(json.dumps(line) + "\n")
        sys.stderr.flush()

    def __enter__(self) -> _JsonCases:
        return self

    def __exit__(self, *exc: object) -> None:
        return None
