"""The Wyoming TCP server: its connections, their bound, and its stop within the shutdown grace
period.

At most ``TTS_MAX_CONNECTIONS`` Wyoming connections are open at once, counted apart from the
HTTP API's (which have the same bound): a flood on the HTTP port, which may face the internet,
cannot lock Home Assistant out of the Wyoming one, nor the reverse. A connection over the bound
gets an ``error`` event (``too_many_connections``) and is closed."""

from __future__ import annotations

import asyncio
import itertools
import logging
import socket
import time
from collections.abc import Callable

from tts_service.config import Settings
from tts_service.connections import RETRY_AFTER_S
from tts_service.errors import TooManyConnectionsError
from tts_service.metrics import Metrics
from tts_service.serving import SpeechService
from tts_service.wyoming.connection import WyomingConnection

logger = logging.getLogger(__name__)


class WyomingServer:
    """The Wyoming TCP server on a socket already listening (bound before the model loads)."""

    def __init__(
        self,
        sock: socket.socket,
        speech: Callable[[], SpeechService],
        metrics: Metrics,
        settings: Settings,
    ) -> None:
        self.sock = sock
        self.speech = speech
        self.metrics = metrics
        self.settings = settings
        self._server: asyncio.Server | None = None
        self._connections: dict[asyncio.Task[None], WyomingConnection] = {}
        self._cut: asyncio.TimerHandle | None = None
        """Set once stopping began: when the requests still running are cut."""
        self._names = itertools.count(1)

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._connected, sock=self.sock)
        host, port = self.sock.getsockname()[:2]
        logger.info("Wyoming on tcp://%s:%d", host, port)
        if self.settings.api_keys:
            logger.warning(
                "The Wyoming protocol has no authentication: TTS_API_KEY does not cover "
                "tcp://%s:%d; open it only to the network Home Assistant runs in", host, port,
            )  # fmt: skip

    async def _connected(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connection = WyomingConnection(
            reader, writer, self.speech, self.metrics, self.settings,
            f"wyoming-{next(self._names)}",
        )  # fmt: skip
        if len(self._connections) >= self.settings.max_connections:
            await connection.refuse(
                TooManyConnectionsError(
                    f"The server has its limit of {self.settings.max_connections} Wyoming "
                    "connections open; try again shortly.",
                    retry_after=RETRY_AFTER_S,
                )
            )
            return
        task = asyncio.current_task()
        assert task is not None  # a connection callback runs in its own task
        self._connections[task] = connection
        if self._cut is not None:  # accepted as the server began to stop
            connection.finish()
        try:
            await connection.run()
        except Exception:  # noqa: BLE001 - one connection's failure must not reach the server
            logger.exception("[%s] Wyoming connection failed", connection.name)
        finally:
            self._connections.pop(task, None)

    def begin_stopping(self, deadline: float) -> None:
        """The server is stopping: take no new connections, close the idle ones, and let the
        requests in progress finish until ``deadline`` (``time.monotonic()``), when they are
        cut (reason ``shutdown``, an ``error`` event)."""
        if self._cut is not None:
            return
        if self._server is not None:
            self._server.close()
        for connection in self._connections.values():
            connection.finish()
        self._cut = asyncio.get_running_loop().call_later(
            max(0.0, deadline - time.monotonic()), self._cut_all
        )

    def _cut_all(self) -> None:
        for connection in self._connections.values():
            connection.stop()

    async def stop(self) -> None:
        """Stop (at once unless ``begin_stopping`` gave a later deadline) and wait until every
        connection has ended."""
        self.begin_stopping(time.monotonic())
        if self._connections:
            await asyncio.wait(list(self._connections))
