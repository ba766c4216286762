"""Loading a card's networks: one file by its card format (:func:`load_network`), or through the cache a pipeline
run reads its networks from (:class:`NetworkCache`), configured for a card by :func:`card_network_cache`. Both
open networks through :data:`~deepinfer.runners._runtimes.RUNTIMES`."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from deepinfer._exceptions import RuntimeUnavailableError
from deepinfer.pipeline import Network
from deepinfer.runners._choice import SelectedNetwork
from deepinfer.runners._runtimes import AUTO, NATIVE, RUNTIMES, check_choice, needs_conversion
from deepinfer.runners._spec import NetworkSpec, compute_precision

if TYPE_CHECKING:
    from deepinfer.card import ModelCard

DEFAULT_TOLERANCE = 1e-3
RUNTIME_VARIABLE = "DEEPINFER_RUNTIME"
PRECISION_VARIABLE = "DEEPINFER_PRECISION"


def load_network(card_format: str, path: Path, threads: int | None = None) -> Network:
    """The network at ``path`` (a file of the card format ``card_format``: ``onnx`` or ``torchscript``) opened by
    the runtime that reads that format as it is (:data:`~deepinfer.runners._runtimes.NATIVE`), in exact mode. The
    one loading path: every runtime, chosen or native, loads through :data:`RUNTIMES`."""
    runtime = NATIVE.get(card_format)
    if runtime is None:
        known = ", ".join(sorted(NATIVE))
        raise RuntimeUnavailableError(f"runtime {card_format!r} cannot run in-process (in-process formats: {known})")
    return RUNTIMES[runtime].load(path, threads, "exact")


def requested_runtime(runtime: str | None = None) -> str:
    """The runtime a run asks for: ``runtime``, else ``$DEEPINFER_RUNTIME``, else ``auto``."""
    return runtime or os.environ.get(RUNTIME_VARIABLE) or AUTO


class NetworkCache:
    """Artifact name → network, loaded on first use with ``locate(name)`` giving the verified file.

    ``runtime``: None (the card's own runtime, loaded at once), a name from :data:`RUNTIMES`, or ``auto``;
    ``precision``: ``exact`` or ``fast``; ``tolerance``: the card's exact-mode bound for ``auto``;
    ``digests``: artifact name → sha256 from the card (else the file is hashed); ``home``: where conversions
    and ``auto`` verdicts are kept (default: DEEPINFER_HOME). A network that must be converted or chosen is
    opened on its first call (:class:`SelectedNetwork`)."""

    def __init__(
        self,
        runtime_type: str,
        locate: Callable[[str], Path],
        threads: int | None = None,
        *,
        runtime: str | None = None,
        precision: str = "exact",
        tolerance: float = DEFAULT_TOLERANCE,
        digests: Mapping[str, str] | None = None,
        home: Path | None = None,
    ) -> None:
        if runtime is not None:
            check_choice(runtime_type, runtime, precision)
        self.runtime_type = runtime_type
        self.locate = locate
        self.threads = threads
        self.runtime = runtime
        self.precision = precision
        self.tolerance = tolerance
        self.digests = dict(digests or {})
        self.home = home
        self.requested_precision = precision
        self._loaded: dict[str, Network] = {}

    @property
    def opened(self) -> int:
        """How many networks this cache has opened so far."""
        return len(self._loaded)

    def __call__(self, artifact: str) -> Network:
        if artifact not in self._loaded:
            self._loaded[artifact] = self._open(artifact)
        return self._loaded[artifact]

    def _open(self, artifact: str) -> Network:
        path = self.locate(artifact)
        if self.runtime is None:
            return load_network(self.runtime_type, path, self.threads)
        if self.runtime != AUTO and not needs_conversion(self.runtime_type, self.runtime):
            return RUNTIMES[self.runtime].load(path, self.threads, self.precision)
        from deepinfer._config import deepinfer_home
        from deepinfer.store import sha256_file

        sha256 = self.digests.get(artifact) or sha256_file(path)
        home = self.home if self.home is not None else deepinfer_home()
        spec = NetworkSpec(
            self.runtime_type, path, sha256, self.threads, self.precision, self.tolerance, home, label=artifact
        )
        selected = SelectedNetwork(spec, self.runtime)
        selected.prepare()  # a remembered runtime and shape start compiling in the background now
        return selected

    def describe(self) -> dict[str, dict[str, Any]]:
        """For provenance: artifact → the runtime and compute precision it ran on (and how it was chosen)."""
        described: dict[str, dict[str, Any]] = {}
        for artifact, network in self._loaded.items():
            if isinstance(network, SelectedNetwork):
                described[artifact] = network.describe()
            else:
                runtime = self.runtime or NATIVE.get(self.runtime_type, self.runtime_type)
                chosen = "card" if self.runtime is None else "requested"
                described[artifact] = {"runtime": runtime, "precision": compute_precision(network), "chosen": chosen}
        return described


def card_network_cache(
    card: ModelCard,
    locate: Callable[[str], Path],
    threads: int | None = None,
    *,
    runtime: str | None = None,
    precision: str | None = None,
    home: Path | None = None,
) -> NetworkCache:
    """The network cache for running ``card``: ``runtime`` (default: ``$DEEPINFER_RUNTIME``, else ``auto``)
    and ``precision`` (default: ``$DEEPINFER_PRECISION``, else ``exact``). ``fast`` runs ``exact`` unless the
    card declares the accuracy fast mode must keep (``precision.fast``); the cache's ``precision`` says which
    mode it runs."""
    chosen_runtime = requested_runtime(runtime)
    requested = precision or os.environ.get(PRECISION_VARIABLE) or "exact"
    effective = "exact" if requested == "fast" and card.precision.fast is None else requested
    cache = NetworkCache(
        card.runtime.type,
        locate,
        threads,
        runtime=chosen_runtime,
        precision=effective,
        tolerance=card.precision.exact_max_abs_diff,
        digests={artifact.name: artifact.sha256 for artifact in card.artifacts},
        home=home,
    )
    cache.requested_precision = requested
    return cache
