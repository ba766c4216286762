"""Bearer-token check for every API route (``/api/*`` and ``/v2/*``) when the server has a token."""

from __future__ import annotations

import hmac

from fastapi import Request

from deepinfer.server._errors import ApiError
from deepinfer.server._state import server_state


def require_token(request: Request) -> None:
    expected = server_state(request).settings.token
    if not expected:
        return
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), expected.encode()):
        raise ApiError(
            401, "missing or wrong access token (send Authorization: Bearer TOKEN)", {"WWW-Authenticate": "Bearer"}
        )
