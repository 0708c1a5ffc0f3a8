"""Optional API keys (``TTS_API_KEY``), checked by an ASGI middleware before anything else, so an
unauthenticated caller learns nothing about the request it sent (not even that its JSON is bad)."""

from __future__ import annotations

import hmac
from collections.abc import Sequence

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from tts_service.errors import AuthenticationError
from tts_service.middleware import ErrorRenderer

# Discovery, health, metrics, docs and the web player stay open.
PROTECTED_PATHS = ("/v1/audio/speech",)


def check_api_key(authorization: str, keys: Sequence[str]) -> None:
    """Raise AuthenticationError unless ``authorization`` is ``Bearer <one of keys>``. Every key
    is compared in constant time, with no early exit."""
    scheme, _, token = authorization.partition(" ")
    encoded = token.strip().encode()
    if scheme.lower() != "bearer" or not encoded:
        raise AuthenticationError("Missing API key: send 'Authorization: Bearer <key>'.")
    matches = [hmac.compare_digest(encoded, key.encode()) for key in keys]
    if not any(matches):
        raise AuthenticationError("Incorrect API key provided.")


class ApiKeyMiddleware:
    def __init__(self, app: ASGIApp, keys: Sequence[str], on_error: ErrorRenderer) -> None:
        self.app = app
        self.keys = list(keys)
        self.on_error = on_error

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].rstrip("/") in PROTECTED_PATHS:
            try:
                check_api_key(Headers(scope=scope).get("authorization", ""), self.keys)
            except AuthenticationError as exc:
                await self.on_error(exc, scope)(scope, receive, send)
                return
        await self.app(scope, receive, send)
