"""``deepinfer cache ls | verify | prune``: look after the content-addressed artifact cache."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from deepinfer._exceptions import DeepInferError, UsageError
from deepinfer.cli._render import human_size, print_json
from deepinfer.registry import CombinedRegistry, default_registry
from deepinfer.store import ArtifactStore

if TYPE_CHECKING:
    from deepinfer.container import ContainerEngine

cache_app = typer.Typer(help="The artifact cache: list, verify, prune.", no_args_is_help=True)
out = Console()
err = Console(stderr=True)

JsonFlag = Annotated[bool, typer.Option("--json", help="Machine-readable JSON output.")]


def _known_artifacts(registry: CombinedRegistry) -> dict[str, list[str]]:
    """sha256 → ``id@version:artifact`` of every card version of every registry that could be read."""
    names: dict[str, list[str]] = {}
    for loaded in registry.entries():
        for artifact in loaded.card.artifacts:
            names.setdefault(artifact.sha256, []).append(f"{loaded.card.ref}:{artifact.name}")
    return names


@cache_app.command("ls")
def cache_ls(as_json: JsonFlag = False) -> None:
    """List the cached artifacts with their size and the cards that use them."""
    store = ArtifactStore()
    known = _known_artifacts(default_registry())
    rows: list[dict[str, Any]] = [
        {
            "sha256": entry.sha256,
            "size": entry.size,
            "added": datetime.fromtimestamp(entry.modified, UTC).isoformat(timespec="seconds"),
            "used_by": known.get(entry.sha256, []),
        }
        for entry in store.entries()
    ]
    if as_json:
        print_json(out, rows)
        return
    table = Table(title=f"Artifact cache: {store.root}")
    for column in ("sha256", "size", "added", "used by"):
        table.add_column(column)
    for row in rows:
        used = ", ".join(row["used_by"]) or "-"
        table.add_row(row["sha256"][:16], human_size(row["size"]), row["added"], used)
    out.print(table)
    out.print(f"{len(rows)} artifact(s), {human_size(sum(row['size'] for row in rows))}", highlight=False)


@cache_app.command("verify")
def cache_verify(
    remove: Annotated[bool, typer.Option("--remove", help="Delete the corrupted files.")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Re-hash every cached artifact; exit 4 when one no longer matches its sha256 (unless --remove)."""
    store = ArtifactStore()
    checked = len(store.entries())
    corrupted = store.verify_all()
    if remove:
        for path in corrupted:
            path.unlink(missing_ok=True)
    if as_json:
        print_json(out, {"checked": checked, "corrupted": [p.name for p in corrupted], "removed": remove})
    for path in corrupted:
        err.print(f"[red]✗[/] {path.name}: content differs from its sha256" + (" (removed)" if remove else ""))
    if not corrupted:
        err.print(f"[green]✓[/] {checked} artifact(s) verified")
    elif not remove:
        raise typer.Exit(4)


@cache_app.command("prune")
def cache_prune(
    unused: Annotated[
        bool, typer.Option("--unused", help="Also remove artifacts that no card of any registry uses.")
    ] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only list what would be removed.")] = False,
) -> None:
    """Remove leftovers of interrupted downloads and anything in the cache that is not a verified-by-name
    artifact file (symlinks included), and ONNX conversions of TorchScript networks made by an older converter;
    with --unused also the artifacts no card refers to, and their conversions. Also removes the containers and
    deepinfer-job-* work folders of deepinfer processes on this host that were killed (SIGKILL) mid-run."""
    keep = None
    if unused:
        registry = default_registry()
        keep = set(_known_artifacts(registry))
        if registry.unavailable:
            raise UsageError(
                "--unused needs every registry, but some could not be read: " + "; ".join(registry.unavailable)
            )
    store = ArtifactStore()
    from deepinfer.runners import prune_derived

    removed = store.prune(keep, dry_run=dry_run) + prune_derived(store.home, keep, dry_run=dry_run)
    from deepinfer.container import prune_orphans, work_roots

    engine = _container_engine()
    orphans, problems = prune_orphans(engine, work_roots(), dry_run=dry_run)
    verb = "would remove" if dry_run else "removed"
    for path in removed:
        err.print(f"{verb} {path}", highlight=False)
    for orphan in orphans:
        err.print(f"{verb} the orphaned {escape(str(orphan))}", highlight=False, soft_wrap=True)
    for problem in problems:
        err.print(f"[red]✗[/] could not remove the orphaned {escape(problem)}", highlight=False, soft_wrap=True)
    err.print(f"[green]✓[/] {verb} {len(removed) + len(orphans)} item(s)")
    if problems:
        raise typer.Exit(1)


def _container_engine() -> ContainerEngine | None:
    """The container engine to look for orphaned containers in; None (with a note) when none can be reached."""
    from deepinfer.container import detect_engine

    try:
        engine = detect_engine()
    except DeepInferError:
        return None  # no Docker or Podman here: no containers to look at
    try:
        engine.check()
    except DeepInferError as error:
        err.print(f"note: containers not checked: {escape(str(error))}", highlight=False, soft_wrap=True)
        return None
    return engine
