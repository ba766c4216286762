"""Model registries: the embedded one (package data), card folders, static https indexes, several combined
in precedence order; id@version lookup and search; publishing (index build, Ed25519 signatures)."""

from deepinfer.registry._combined import CombinedRegistry, default_registry, open_registry
from deepinfer.registry._configured import RegistrySource, add_source, load_sources, remove_source
from deepinfer.registry._http import HttpRegistry
from deepinfer.registry._index import IndexEntry, build_index, read_index, version_key, write_index
from deepinfer.registry._registry import (
    DirectoryRegistry,
    EmbeddedRegistry,
    LoadedCard,
    Registry,
    embedded_registry_path,
)
from deepinfer.registry._signing import (
    load_private_key,
    parse_public_key,
    public_key_text,
    sign_index,
    verify_index,
    write_private_key,
)

__all__ = [
    "CombinedRegistry",
    "DirectoryRegistry",
    "EmbeddedRegistry",
    "HttpRegistry",
    "IndexEntry",
    "LoadedCard",
    "Registry",
    "RegistrySource",
    "add_source",
    "build_index",
    "default_registry",
    "embedded_registry_path",
    "load_private_key",
    "load_sources",
    "open_registry",
    "parse_public_key",
    "public_key_text",
    "read_index",
    "remove_source",
    "sign_index",
    "verify_index",
    "version_key",
    "write_index",
    "write_private_key",
]
