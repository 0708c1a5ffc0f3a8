"""The uvicorn server ``tts-service serve`` runs: uvicorn's, plus two ways to end a response
that ASGI gives an application none of.

- ``abort(scope)`` drops one request's connection at once: for a client that stopped reading
  (the send timeout), whose half-sent response would otherwise keep its socket open for as long
  as the client does.
- Shutdown: uvicorn stops accepting connections and waits for the responses in progress; after
  ``grace`` seconds it would cancel their tasks, which logs a ``CancelledError`` traceback each.
  Instead, the connections still open at the deadline are dropped: the app sees a client
  disconnect, cancels the stream's synthesis and logs one line (reason ``shutdown``). uvicorn's
  own timeout stays as a backstop a few seconds later.

Both reach a connection through ``server_state.connections``, uvicorn's set of protocol objects,
each with the ``transport`` it writes to and the ``scope`` of its current request.
"""

from __future__ import annotations

import asyncio
import logging
import math
import socket

import uvicorn
from starlette.types import Scope

from tts_service.middleware import set_cancel_reason

logger = logging.getLogger(__name__)

BACKSTOP_S = 5.0
"""uvicorn cancels whatever is still running this long after the grace period."""


class GracefulServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, grace: float) -> None:
        config.timeout_graceful_shutdown = math.ceil(grace + BACKSTOP_S)
        super().__init__(config)
        self.grace = grace

    def abort(self, scope: Scope) -> bool:
        """Drop the connection serving the request with ``scope``; False if none is found."""
        for connection in list(self.server_state.connections):
            if getattr(connection, "scope", None) is scope:
                connection.transport.abort()
                return True
        return False

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        if self.server_state.connections:
            logger.info(
                "Stopping: %d connection(s) open get up to %.0fs to finish",
                len(self.server_state.connections), self.grace,
            )  # fmt: skip
        deadline = asyncio.get_running_loop().call_later(self.grace, self._cut_connections)
        try:
            await super().shutdown(sockets)
        finally:
            deadline.cancel()

    def _cut_connections(self) -> None:
        connections = list(self.server_state.connections)
        if not connections:
            return
        logger.warning(
            "Shutdown grace period of %.0fs is over: closing %d connection(s) still streaming",
            self.grace, len(connections),
        )  # fmt: skip
        for connection in connections:
            scope = getattr(connection, "scope", None)
            if scope is not None:
                set_cancel_reason(scope, "shutdown")
            connection.transport.abort()
