"""``deepinfer registry ...``: configure registries (add, list, remove, update) and publish one (build,
keygen, sign, verify). Warnings of the registry code (an offline registry, a skipped one) are printed to
stderr by a logging handler installed here."""

from __future__ import annotations

import json
import logging
import shutil
import time
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import unquote, urlsplit

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from deepinfer._config import Settings, deepinfer_home
from deepinfer._exceptions import DeepInferError, UsageError
from deepinfer.cli._render import print_json
from deepinfer.registry import (
    EMBEDDED_NAME,
    INDEX_NAME,
    SIGNATURE_SUFFIX,
    DirectoryRegistry,
    HttpRegistry,
    Registry,
    RegistrySource,
    add_source,
    build_index,
    check_cards,
    describe_age,
    key_id,
    load_private_key,
    load_sources,
    open_registry,
    parse_public_key,
    read_snapshot,
    remove_source,
    sign_index,
    write_index,
    write_private_key,
)
from deepinfer.store import check_url_path

registry_app = typer.Typer(
    help="Model registries: add, list, remove, update; build, sign and verify your own.", no_args_is_help=True
)
out = Console()
err = Console(stderr=True)

JsonFlag = Annotated[bool, typer.Option("--json", help="Machine-readable JSON output.")]
KeyOption = Annotated[
    list[str] | None,
    typer.Option("--key", help="A trusted Ed25519 public key (ed25519:...); repeat for several."),
]


class _WarningHandler(logging.Handler):
    """Prints the library's warnings on stderr: the registry's as warnings, the runtime choice's as notes."""

    def emit(self, record: logging.LogRecord) -> None:
        kind = "[dim]note:[/]" if record.name.startswith("deepinfer.runners") else "[yellow]warning:[/]"
        Console(stderr=True).print(f"{kind} {escape(record.getMessage())}", highlight=False, soft_wrap=True)


def install_warning_handler() -> None:
    for name in ("deepinfer.registry", "deepinfer.runners"):
        logger = logging.getLogger(name)
        if not any(isinstance(handler, _WarningHandler) for handler in logger.handlers):
            logger.addHandler(_WarningHandler(logging.WARNING))


install_warning_handler()


def _check_whole_cards(registry: Registry) -> None:
    """The rest of each card's check (its schema was checked as the registry loaded): step names and parameters,
    artifact and parameter references; one report for the whole registry."""
    from deepinfer.pipeline import validate_card_pipeline  # the steps (and numpy) only for these commands

    loaded = ((item.source, item.card) for item in registry.entries())
    check_cards(loaded, validate_card_pipeline, registry.name)


def _home_and_settings() -> tuple[Path, Settings]:
    home = deepinfer_home()
    return home, Settings.load(home)


def _location(url: str) -> str:
    """A URL as given, a ``file://`` URL or a path as an absolute folder path."""
    if url.startswith("file://"):
        url = unquote(urlsplit(url).path)
    elif "://" in url:
        return url
    folder = Path(url).expanduser().resolve()
    if not folder.is_dir():
        raise UsageError(f"{url}: no such folder")
    return str(folder)


@registry_app.command("add")
def add(
    name: Annotated[str, typer.Argument(help="A short name (lowercase letters, digits, '-', '_').")],
    url: Annotated[str, typer.Argument(help="An https URL of a static index, or a folder of cards.")],
    key: KeyOption = None,
) -> None:
    """Add a registry after the others (it is loaded and verified first); with --key it must be signed."""
    home, settings = _home_and_settings()
    source = RegistrySource(name, _location(url), tuple(key or ()))
    source.check()
    if any(known.name == name for known in load_sources(home)):
        raise UsageError(f"a registry named {name!r} exists; remove it first")
    cache = home / "registries" / name
    shutil.rmtree(cache, ignore_errors=True)  # a leftover of an earlier registry of that name
    try:
        registry = open_registry(source, home, settings)
        cards = registry.list()
        _check_whole_cards(registry)
    except BaseException:
        shutil.rmtree(cache, ignore_errors=True)
        raise
    add_source(home, source)
    signed = f", signed (key {', '.join(key_id(parse_public_key(k)) for k in source.keys)})" if source.signed else ""
    err.print(f"[green]✓[/] added registry {name!r}: {len(cards)} model(s){signed}", highlight=False)


@registry_app.command("list")
def list_registries(as_json: JsonFlag = False) -> None:
    """The registries in precedence order: an id belongs to the first registry that has it."""
    home, _ = _home_and_settings()
    rows: list[dict[str, Any]] = [
        {
            "name": EMBEDDED_NAME,
            "url": "(inside the deepinfer package)",
            "signed": False,
            "keys": [],
            "state": "built in",
        }
    ]
    rows += [_row(home, source) for source in load_sources(home)]
    if as_json:
        print_json(out, rows)
        return
    table = Table(title="Registries (first wins)")
    for column in ("#", "name", "location", "signed", "state"):
        table.add_column(column)
    for position, row in enumerate(rows, start=1):
        table.add_row(str(position), row["name"], row["url"], "yes" if row["signed"] else "no", row["state"])
    out.print(table)


def _row(home: Path, source: RegistrySource) -> dict[str, Any]:
    state = "local folder"
    if source.remote:
        snapshot = read_snapshot(home / "registries" / source.name, source.url)
        age = describe_age(time.time() - snapshot.checked_at) if snapshot else None
        state = f"copy confirmed {age} ago" if age else "not fetched yet"
    return {"name": source.name, "url": source.url, "signed": source.signed, "keys": list(source.keys), "state": state}


@registry_app.command("remove")
def remove(name: Annotated[str, typer.Argument(help="The registry's name.")]) -> None:
    """Remove a configured registry and its cached copy."""
    home, _ = _home_and_settings()
    remove_source(home, name)
    shutil.rmtree(home / "registries" / name, ignore_errors=True)
    err.print(f"[green]✓[/] removed registry {name!r}", highlight=False)


@registry_app.command("update")
def update(name: Annotated[str | None, typer.Argument(help="Only this registry.")] = None) -> None:
    """Fetch the indexes of the configured registries now (conditional requests) and verify them."""
    home, settings = _home_and_settings()
    sources = [s for s in load_sources(home) if name is None or s.name == name]
    if name is not None and not sources:
        raise UsageError(f"no registry named {name!r}")
    failed = 0
    for source in sources:
        registry = open_registry(source, home, settings)
        try:
            if isinstance(registry, HttpRegistry):
                cards = registry.refresh()
                status = registry.status
            else:
                cards, status = registry.list(), "local folder"
            _check_whole_cards(registry)
        except DeepInferError as error:
            err.print(f"[red]✗[/] {source.name}: {escape(str(error))}", highlight=False, soft_wrap=True)
            failed = max(failed, error.exit_code)
            continue
        err.print(f"[green]✓[/] {source.name}: {len(cards)} model(s), {status}", highlight=False)
    if failed:
        raise typer.Exit(failed)


@registry_app.command("build")
def build(folder: Annotated[Path, typer.Argument(help="A folder of cards (v2 or 2017 files).")]) -> None:
    """Write FOLDER/index.json listing every card with the sha256 of its file (refused, with every problem listed,
    when a card's pipeline does not fit deepinfer's steps)."""
    from deepinfer.pipeline import validate_card_pipeline  # the steps (and numpy) only for this command

    path = write_index(folder, check=validate_card_pipeline)
    entries = json.loads(path.read_text(encoding="utf-8"))["cards"]
    err.print(f"[green]✓[/] wrote {path}: {len(entries)} card(s)", highlight=False)
    for entry in entries:
        try:
            check_url_path(entry["path"])
        except ValueError as error:
            err.print(f"[yellow]warning:[/] not servable over https: {escape(str(error))}", highlight=False)
    if (folder / (INDEX_NAME + SIGNATURE_SUFFIX)).is_file():
        err.print("[yellow]warning:[/] the old index.json.sig no longer matches; run deepinfer registry sign")


@registry_app.command("keygen")
def keygen(private_key: Annotated[Path, typer.Argument(help="The new private key file (PEM, mode 0600).")]) -> None:
    """Create an Ed25519 key pair for signing a registry; prints the public key users add with --key."""
    public = write_private_key(private_key)
    private_key.with_name(private_key.name + ".pub").write_text(public + "\n", encoding="utf-8")
    out.print(public, highlight=False)
    err.print(f"[green]✓[/] wrote {private_key} (keep it secret) and {private_key}.pub", highlight=False)


@registry_app.command("sign")
def sign(
    folder: Annotated[Path, typer.Argument(help="A registry folder with an up-to-date index.json.")],
    key: Annotated[Path, typer.Option("--key", help="The private key file (from deepinfer registry keygen).")],
) -> None:
    """Sign FOLDER/index.json (which pins every card by sha256) into FOLDER/index.json.sig."""
    index = folder / INDEX_NAME
    if not index.is_file():
        raise UsageError(f"{index} is missing; run deepinfer registry build {folder}")
    current = build_index(folder)
    if json.loads(index.read_text(encoding="utf-8")) != current:
        raise UsageError(f"{index} does not match the cards in {folder}; run deepinfer registry build {folder}")
    private = load_private_key(key)
    signature = index.with_name(INDEX_NAME + SIGNATURE_SUFFIX)
    signature.write_bytes(sign_index(index.read_bytes(), private))
    cards = len(current["cards"])
    err.print(f"[green]✓[/] wrote {signature}: key {key_id(private.public_key())}, {cards} card(s)", highlight=False)


@registry_app.command("verify")
def verify(
    folder: Annotated[Path, typer.Argument(help="A signed registry folder.")],
    key: Annotated[list[str], typer.Option("--key", help="A trusted public key (ed25519:...).")],
) -> None:
    """Check a registry folder as a user would: the signature with KEY, then every card's sha256."""
    cards = DirectoryRegistry(folder, keys=tuple(key)).list()
    err.print(f"[green]✓[/] {folder}: signature and {len(cards)} card(s) verified", highlight=False)
