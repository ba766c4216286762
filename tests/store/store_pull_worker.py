"""Run as a script by the concurrency tests: pull one artifact from a loopback URL into a shared cache.

Usage: python store_pull_worker.py HOME URL SHA256 SIZE. It prints ``ready`` once imported, waits for a line
on stdin (so that several workers start their pulls together), pulls, and prints the cached path.
"""

from __future__ import annotations

import sys
from pathlib import Path

from deepinfer._config import Settings
from deepinfer.card import Artifact
from deepinfer.store import ArtifactStore, UrllibTransport


def main(home: str, url: str, sha256: str, size: str) -> None:
    artifact = Artifact.model_validate(
        {"name": "weights", "sha256": sha256, "size": int(size), "source": {"kind": "url", "url": "https://x"}}
    )
    # A card's URL must be https; the loopback test sets its http URL past that check on purpose.
    artifact = artifact.model_copy(update={"source": artifact.source.model_copy(update={"url": url})})
    settings = Settings(allowed_hosts=("127.0.0.1",), allow_http_loopback=True)
    store = ArtifactStore(Path(home), settings, transport=UrllibTransport(timeout=30))
    print("ready", flush=True)
    sys.stdin.readline()
    print(store.fetch(artifact), flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:5])
