"""uvicorn's WebSocket protocol (websockets' sans-I/O implementation), made to stop as an HTTP
response does: when the server begins to stop, uvicorn closes every WebSocket at once (1012);
this one instead tells the application (``stopping_notice``), which takes no new turn, lets the
turns in progress finish within the grace period and then closes. At the end of the grace
period the server's ``shutdown_notice`` cuts what is left, as for an SSE stream
(:mod:`tts_service.server`)."""

from __future__ import annotations

import asyncio

from starlette.types import Scope
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

_STOPPING_NOTICE = "tts_service.stopping_notice"


def stopping_notice(scope: Scope) -> asyncio.Event:
    """An event the server sets when it begins to stop, for a WebSocket connection that asked
    for it (its ``shutdown`` then leaves the connection open for the application to close)."""
    state = scope.setdefault("state", {})
    notice = state.get(_STOPPING_NOTICE)
    if notice is None:
        notice = state[_STOPPING_NOTICE] = asyncio.Event()
    return notice  # type: ignore[no-any-return]


class GracefulWebSocketProtocol(WebSocketsSansIOProtocol):
    def shutdown(self) -> None:
        scope = getattr(self, "scope", None)
        notice = scope.get("state", {}).get(_STOPPING_NOTICE) if scope is not None else None
        if notice is not None and self.handshake_complete and not self.close_sent:
            notice.set()  # the application closes the connection once its turns are done
            return
        super().shutdown()
