"""``/v1/audio/speech/stream``: the WebSocket for streamed text (docs/text-streaming.md). The
route checks where a browser's handshake comes from and accepts it; the session
(:mod:`tts_service.websocket.session`) does the rest. The API key is checked before, by
``auth.ApiKeyMiddleware`` (a header, or a browser's subprotocol)."""

from __future__ import annotations

from urllib.parse import urlsplit

from fastapi import APIRouter, WebSocket

from tts_service.auth import SUBPROTOCOL
from tts_service.config import Settings
from tts_service.middleware import new_request_id
from tts_service.websocket.session import POLICY_VIOLATION, TextStreamSession

router = APIRouter(tags=["speech"])


def origin_allowed(websocket: WebSocket, settings: Settings) -> bool:
    """A handshake without ``Origin`` (not a browser) passes; a browser's only from the service's
    own origin or from ``TTS_CORS_ORIGINS`` (browsers do not apply CORS to WebSockets: a page on
    any site could otherwise open one with its visitor's network position)."""
    origin = websocket.headers.get("origin")
    if origin is None:
        return True
    allowed = settings.cors_origin_list
    if "*" in allowed or origin.rstrip("/") in (o.rstrip("/") for o in allowed):
        return True
    host = websocket.headers.get("host", "")
    return urlsplit(origin).netloc.lower() == host.lower()


@router.websocket("/v1/audio/speech/stream")
async def speech_stream(websocket: WebSocket) -> None:
    service = websocket.app.state.service
    settings: Settings = service.settings
    if not origin_allowed(websocket, settings):
        service.metrics.text_stream_refused.labels("origin_not_allowed").inc()
        await websocket.close(POLICY_VIOLATION)  # before accepting: the handshake gets 403
        return
    offered = websocket.scope.get("subprotocols", [])
    await websocket.accept(subprotocol=SUBPROTOCOL if SUBPROTOCOL in offered else None)
    session = TextStreamSession(
        websocket, service.speech, settings, service.metrics, f"ws-{new_request_id()}"
    )
    await session.run()
