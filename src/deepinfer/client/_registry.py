"""A deepinfer server's models seen as a registry (``deepinfer --server URL models list``)."""

from __future__ import annotations

from deepinfer.client._client import ServerClient
from deepinfer.registry import LoadedCard, Registry


class ServerRegistry(Registry):
    """The latest version of every model the server offers; its cards are fetched once."""

    def __init__(self, client: ServerClient) -> None:
        self.client = client
        self.name = f"server {client.url}"

    def _load(self) -> list[LoadedCard]:
        refs = [str(model.get("ref") or f"{model['id']}@{model['version']}") for model in self.client.models()]
        return [LoadedCard.of(self.client.card(ref), f"{self.client.url}/api/models/{ref}", None) for ref in refs]
