"""Optional API keys (``TTS_API_KEY``), checked by an ASGI middleware before anything else, so an
unauthenticated caller learns nothing about the request it sent (not even that its JSON is bad).

Safe by default: when keys are set, every endpoint needs one except those listed as open, so a
new endpoint is protected without anyone remembering to add it here. A path that no route serves
is left to the router's 404, as without keys (clients probe such paths to learn the server's
kind)."""

from __future__ import annotations

import hmac
from collections.abc import Iterable, Sequence

from starlette.datastructures import Headers
from starlette.routing import Match
from starlette.types import ASGIApp, Receive, Scope, Send

from tts_service.errors import AuthenticationError
from tts_service.middleware import ErrorRenderer

OPEN_PATHS = frozenset(
    {
        "/health",  # probes
        "/metrics",  # scrapers
        "/v1/models",  # discovery: Open WebUI lists models and voices without a key
        "/v1/audio/models",
        "/v1/audio/voices",
        "/v1/audio/formats",
    }
)
"""API paths open without a key. The app adds its documentation pages and the web player's
files (which ask for a key only when they call the API)."""


SUBPROTOCOL = "tts-service"
"""The WebSocket subprotocol a browser offers, and the server accepts, with its key."""
KEY_SUBPROTOCOL_PREFIX = f"{SUBPROTOCOL}.key."
"""A browser cannot set headers on a WebSocket: it offers its key as the subprotocol
``tts-service.key.<key>`` (with ``tts-service``), which no log records, unlike a URL."""


def websocket_authorization(scope: Scope) -> str:
    """The ``Authorization`` of a WebSocket handshake: its header, else a key offered as a
    subprotocol (``KEY_SUBPROTOCOL_PREFIX``)."""
    header = Headers(scope=scope).get("authorization")
    if header is not None:
        return header
    for offered in scope.get("subprotocols", []):
        if offered.startswith(KEY_SUBPROTOCOL_PREFIX):
            return f"Bearer {offered.removeprefix(KEY_SUBPROTOCOL_PREFIX)}"
    return ""


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


def _normalized(path: str) -> str:
    """``/v1/models/`` is ``/v1/models``; ``/`` stays ``/``."""
    return path.rstrip("/") or "/"


def _routed(scope: Scope) -> bool:
    """Whether a route of the app serves this path (with any method, or with a trailing slash
    the router would redirect). Without a router to ask, assume one does."""
    router = getattr(scope.get("app"), "router", None)
    if router is None:
        return True
    for path in {scope["path"], _normalized(scope["path"])}:
        probe = {**scope, "path": path}
        if any(route.matches(probe)[0] is not Match.NONE for route in router.routes):
            return True
    return False


class ApiKeyMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        keys: Sequence[str],
        on_error: ErrorRenderer,
        open_paths: Iterable[str] = OPEN_PATHS,
    ) -> None:
        self.app = app
        self.keys = list(keys)
        self.on_error = on_error
        self.open_paths = frozenset(_normalized(path) for path in open_paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] in ("http", "websocket")
            and _normalized(scope["path"]) not in self.open_paths
            and _routed(scope)
        ):
            websocket = scope["type"] == "websocket"
            authorization = (
                websocket_authorization(scope)
                if websocket
                else Headers(scope=scope).get("authorization", "")
            )
            try:
                check_api_key(authorization, self.keys)
            except AuthenticationError as exc:
                if websocket:
                    # Closed before it is accepted: the server answers the handshake with 403.
                    await send({"type": "websocket.close", "code": 1008})
                else:
                    await self.on_error(exc, scope)(scope, receive, send)
                return
        await self.app(scope, receive, send)
