"""Model registries: the embedded one (package data) and card folders; id@version lookup and search."""

from deepinfer.registry._index import IndexEntry, build_index, read_index, version_key, write_index
from deepinfer.registry._registry import (
    DirectoryRegistry,
    EmbeddedRegistry,
    LoadedCard,
    Registry,
    default_registry,
    embedded_registry_path,
)

__all__ = [
    "DirectoryRegistry",
    "EmbeddedRegistry",
    "IndexEntry",
    "LoadedCard",
    "Registry",
    "build_index",
    "default_registry",
    "embedded_registry_path",
    "read_index",
    "version_key",
    "write_index",
]
