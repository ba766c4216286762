"""The client side of a deepinfer server: the API client (thin-client runs, Slicer) and the server's models
as a registry."""

from deepinfer.client._client import ServerClient, job_error, job_warnings
from deepinfer.client._registry import ServerRegistry
from deepinfer.client._sse import sse_events

__all__ = ["ServerClient", "ServerRegistry", "job_error", "job_warnings", "sse_events"]
