"""Optional API keys (``TTS_API_KEY``): a FastAPI dependency for the routes that need one."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Request

from tts_service.errors import AuthenticationError


def require_api_key(request: Request) -> None:
    """Accept the request when no key is configured or its Bearer token matches one (compared
    in constant time); raise a 401 in OpenAI's error shape otherwise."""
    keys = request.app.state.service.settings.api_keys
    if not keys:
        return
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    token = token.strip().encode()
    if scheme.lower() != "bearer" or not token:
        raise AuthenticationError("Missing API key: send 'Authorization: Bearer <key>'.")
    # Compare with every key (no early exit) so timing does not tell which one nearly matched.
    matches = [hmac.compare_digest(token, key.encode()) for key in keys]
    if not any(matches):
        raise AuthenticationError("Incorrect API key provided.")


ApiKey = Annotated[None, Depends(require_api_key)]
