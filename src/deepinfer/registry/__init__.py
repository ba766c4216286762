"""Model registries: the embedded one (package data), card folders, static https indexes, several combined
in precedence order; id@version lookup and search; publishing (index build, Ed25519 signatures)."""

from deepinfer.registry._combined import CombinedRegistry, default_registry, open_registry
from deepinfer.registry._configured import EMBEDDED_NAME, RegistrySource, add_source, load_sources, remove_source
from deepinfer.registry._http import HttpRegistry, describe_age, read_snapshot
from deepinfer.registry._index import (
    INDEX_NAME,
    CardCheck,
    IndexEntry,
    build_index,
    check_cards,
    read_index,
    version_key,
    write_index,
)
from deepinfer.registry._registry import (
    DirectoryRegistry,
    EmbeddedRegistry,
    LoadedCard,
    Registry,
    embedded_registry_path,
)
from deepinfer.registry._signing import (
    SIGNATURE_SUFFIX,
    key_id,
    load_private_key,
    parse_public_key,
    public_key_text,
    sign_index,
    verify_index,
    write_private_key,
)

__all__ = [
    "EMBEDDED_NAME",
    "INDEX_NAME",
    "SIGNATURE_SUFFIX",
    "CardCheck",
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
    "check_cards",
    "default_registry",
    "describe_age",
    "embedded_registry_path",
    "key_id",
    "load_private_key",
    "load_sources",
    "open_registry",
    "parse_public_key",
    "public_key_text",
    "read_index",
    "read_snapshot",
    "remove_source",
    "sign_index",
    "verify_index",
    "version_key",
    "write_index",
    "write_private_key",
]
