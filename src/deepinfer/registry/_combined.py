"""Several registries as one, and the registry the front ends use (:func:`default_registry`).

Precedence: the embedded registry first, then the configured registries in the order of
``registries.json`` (the order they were added). A card id belongs to the first registry that has it: the
same id in a later registry is hidden (listed in ``shadowed``), so a registry added later can never replace,
or add a newer version of, a model of an earlier one. ``NAME:id[@version]`` picks a card from one registry.

A registry that cannot be reached and has no cached copy, or a local folder that is gone, is skipped with
a warning; a registry that fails verification (a bad signature, a card whose sha256 differs from its index,
an invalid card) stops the command with an error naming the registry and the card — except in a long-running
server (``skip_unverified``), where it is skipped with the reason logged and listed in ``unavailable``, so one
tampered registry does not take every model away.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from deepinfer._config import Settings, deepinfer_home
from deepinfer._exceptions import CardError, FetchError, InputError, IntegrityError, ModelNotFoundError
from deepinfer.registry._configured import EMBEDDED_NAME, RegistrySource, load_sources
from deepinfer.registry._registry import DirectoryRegistry, EmbeddedRegistry, Registry
from deepinfer.registry._summaries import LoadedCard, SummaryCache

if TYPE_CHECKING:
    from deepinfer.store import HttpTransport

logger = logging.getLogger("deepinfer.registry")
REGISTRY_TIMEOUT = 15.0


class CombinedRegistry(Registry):
    """Named registries in precedence order; an id belongs to the first registry that has it."""

    def __init__(self, members: Sequence[tuple[str, Registry]], *, skip_unverified: bool = False) -> None:
        self.members = list(members)
        self.skip_unverified = skip_unverified
        self.name = "registries (" + ", ".join(name for name, _ in self.members) + ")"
        self.shadowed: list[str] = []
        """``id@version from NAME`` of every card hidden by an earlier registry's card of the same id."""
        self.unavailable: list[str] = []
        """``NAME: reason`` of every registry skipped because it could not be read."""
        self._available: list[Registry] = []

    def _load(self) -> list[LoadedCard]:
        owners: dict[str, str] = {}
        result: list[LoadedCard] = []
        for name, member in self.members:
            try:
                loaded = member.entries()
            except (FetchError, InputError) as error:
                self.unavailable.append(f"{name}: {error}")
                logger.warning("registry %r skipped: %s", name, error)
                continue
            except (IntegrityError, CardError) as error:
                if not self.skip_unverified:
                    raise
                self.unavailable.append(f"{name}: fails verification: {error}")
                logger.error("registry %r skipped: it fails verification: %s", name, error)
                continue
            self._available.append(member)
            for item in loaded:
                owner = owners.setdefault(item.summary.id, name)
                if owner == name:
                    result.append(item)
                else:
                    self.shadowed.append(f"{item.summary.ref} from {name} (the id belongs to {owner})")
        return result

    def member(self, name: str) -> Registry:
        for known, registry in self.members:
            if known == name:
                return registry
        names = ", ".join(known for known, _ in self.members)
        raise ModelNotFoundError(f"no registry named {name!r} (registries: {names})")

    def find(self, ref: str) -> LoadedCard:
        """``id``, ``id@version``, or ``NAME:id[@version]`` for a card of the registry ``NAME``."""
        registry_name, qualified, rest = ref.partition(":")
        if qualified:
            self.entries()  # load every member (and so report any that cannot be read)
            return self.member(registry_name).find(rest)
        return super().find(ref)


def open_registry(
    source: RegistrySource,
    home: Path,
    settings: Settings,
    transport: HttpTransport | None = None,
    summaries: SummaryCache | None = None,
) -> Registry:
    """The registry a configured source describes (not loaded yet)."""
    if source.remote:  # imported here: ssl and urllib are not needed until a registry is remote
        from deepinfer.registry._http import HttpRegistry
        from deepinfer.store import UrllibTransport

        http = transport or UrllibTransport(timeout=REGISTRY_TIMEOUT)
        return HttpRegistry(source, home, settings, http, summaries=summaries)
    return DirectoryRegistry(Path(source.url), keys=source.keys, label=source.name, summaries=summaries)


def default_registry(
    home: Path | None = None,
    *,
    settings: Settings | None = None,
    transport: HttpTransport | None = None,
    skip_unverified: bool = False,
) -> CombinedRegistry:
    """The embedded registry followed by the configured ones (``<home>/registries.json``), in that order
    (``skip_unverified``: a registry that fails verification is skipped, not an error; for the server)."""
    home = home if home is not None else deepinfer_home()
    settings = settings if settings is not None else Settings.load(home)
    summaries = SummaryCache(home)
    members: list[tuple[str, Registry]] = [(EMBEDDED_NAME, EmbeddedRegistry(summaries))]
    members += [
        (source.name, open_registry(source, home, settings, transport, summaries)) for source in load_sources(home)
    ]
    return CombinedRegistry(members, skip_unverified=skip_unverified)
