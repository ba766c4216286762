"""Model registries: the embedded one (package data), card folders, static https indexes, several combined
in precedence order; id@version lookup and search; publishing (index build, Ed25519 signatures)."""

from typing import TYPE_CHECKING

from deepinfer._exports import lazy_exports

if TYPE_CHECKING:
    from deepinfer.registry._combined import CombinedRegistry as CombinedRegistry
    from deepinfer.registry._combined import default_registry as default_registry
    from deepinfer.registry._combined import open_registry as open_registry
    from deepinfer.registry._configured import EMBEDDED_NAME as EMBEDDED_NAME
    from deepinfer.registry._configured import RegistrySource as RegistrySource
    from deepinfer.registry._configured import add_source as add_source
    from deepinfer.registry._configured import load_sources as load_sources
    from deepinfer.registry._configured import remove_source as remove_source
    from deepinfer.registry._http import HttpRegistry as HttpRegistry
    from deepinfer.registry._http import describe_age as describe_age
    from deepinfer.registry._http import read_snapshot as read_snapshot
    from deepinfer.registry._index import INDEX_NAME as INDEX_NAME
    from deepinfer.registry._index import CardCheck as CardCheck
    from deepinfer.registry._index import IndexEntry as IndexEntry
    from deepinfer.registry._index import build_index as build_index
    from deepinfer.registry._index import check_cards as check_cards
    from deepinfer.registry._index import read_index as read_index
    from deepinfer.registry._index import version_key as version_key
    from deepinfer.registry._index import write_index as write_index
    from deepinfer.registry._registry import DirectoryRegistry as DirectoryRegistry
    from deepinfer.registry._registry import EmbeddedRegistry as EmbeddedRegistry
    from deepinfer.registry._registry import Registry as Registry
    from deepinfer.registry._registry import embedded_registry_path as embedded_registry_path
    from deepinfer.registry._signing import SIGNATURE_SUFFIX as SIGNATURE_SUFFIX
    from deepinfer.registry._signing import key_id as key_id
    from deepinfer.registry._signing import load_private_key as load_private_key
    from deepinfer.registry._signing import parse_public_key as parse_public_key
    from deepinfer.registry._signing import public_key_text as public_key_text
    from deepinfer.registry._signing import sign_index as sign_index
    from deepinfer.registry._signing import verify_index as verify_index
    from deepinfer.registry._signing import write_private_key as write_private_key
    from deepinfer.registry._summaries import LoadedCard as LoadedCard
    from deepinfer.registry._summaries import SummaryCache as SummaryCache

__all__, __getattr__, __dir__ = lazy_exports(
    globals(),
    {
        "_combined": "CombinedRegistry default_registry open_registry",
        "_configured": "EMBEDDED_NAME RegistrySource add_source load_sources remove_source",
        "_http": "HttpRegistry describe_age read_snapshot",
        "_index": "CardCheck INDEX_NAME IndexEntry build_index check_cards read_index version_key write_index",
        "_registry": "DirectoryRegistry EmbeddedRegistry Registry embedded_registry_path",
        "_summaries": "LoadedCard SummaryCache",
        "_signing": (
            "SIGNATURE_SUFFIX key_id load_private_key parse_public_key public_key_text sign_index verify_index "
            "write_private_key"
        ),
    },
)
