"""The uvicorn server ``tts-service serve`` runs: uvicorn's, plus two ways to end a response
that ASGI gives an application none of, and a stop that always ends within a bound.

- ``abort(scope)`` drops one request's connection at once: for a client that stopped reading
  (the send timeout), whose half-sent response would otherwise keep its socket open for as long
  as the client does.
- Shutdown (a signal, or the model failing to load) ends the process within
  ``grace + EXIT_MARGIN_S`` seconds, whatever is running:

  1. At once: no new connections; the responses in progress go on. The exit timer starts,
     counting from the signal.
  2. After ``grace`` seconds, the connections still open are cut. A response that can say so
     in-band (an SSE stream, told through ``middleware.shutdown_notice``) ends with an ``error``
     event and gets ``FAREWELL_S`` to send it; every other connection is dropped. The app sees a
     client disconnect, cancels the stream's queued work and logs one line (reason
     ``shutdown``); its lifespan then interrupts the backend and waits for the inferences still
     running.
  3. ``EXIT_MARGIN_S`` later, if the process is still there (an inference the backend cannot
     stop: PyTorch's forward pass; onnxruntime's stops within a second of the interrupt, even a
     minutes-long one, on 2 busy cores), the timer's thread logs one warning,
     flushes the logs and ends the process with ``os._exit``, status 0 (1 after a failed load).
     That skips the interpreter's teardown, which is what must not happen under a running
     inference: onnxruntime aborts the process when its objects are destroyed under a running
     one. When nothing runs any more, the process ends normally before that.

  uvicorn's own timeout, which cancelled the tasks still running (a ``CancelledError``
  traceback each), is off: the exit timer is the one bound.

  A server beside uvicorn's (the Wyoming protocol's, through ``on_stopping``) follows the same
  steps for its own connections: idle ones close at once, a request in progress may finish
  within the grace period and is cut (with an ``error`` event) at its end.

Both ``abort`` and the cut reach a connection through ``server_state.connections``, uvicorn's set
of protocol objects, each with the ``transport`` it writes to and the ``scope`` of its current
request.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import sys
import threading
import time
from collections.abc import Callable
from types import FrameType

import uvicorn
from starlette.types import Scope

from tts_service.middleware import set_cancel_reason, shutdown_notice_of

logger = logging.getLogger(__name__)

EXIT_MARGIN_S = 3.0
"""The process is gone at most this long after the shutdown grace period, whatever still runs
(the shipped orchestrator grace periods allow for it: ``compose.yaml``, ``deploy/k8s``)."""
FAREWELL_S = 1.0
"""How long a response told to end in-band (an SSE stream's ``error`` event) gets, once the grace
period is over, before its connection is dropped."""


def _no_status() -> int:
    return 0


class GracefulServer(uvicorn.Server):
    def __init__(
        self,
        config: uvicorn.Config,
        grace: float,
        exit_status: Callable[[], int] = _no_status,
        on_stopping: Callable[[float], None] | None = None,
    ) -> None:
        config.timeout_graceful_shutdown = None  # bounded by the exit timer instead
        super().__init__(config)
        self.grace = grace
        self.exit_status = exit_status
        """The process's exit status should the exit timer end it."""
        self.on_stopping = on_stopping
        """Called as stopping begins with the end of the grace period (``time.monotonic()``):
        for the servers beside uvicorn's (the Wyoming protocol's), to drain by then."""
        self._stopping_since: float | None = None
        self._exit_timer: threading.Timer | None = None

    def abort(self, scope: Scope) -> bool:
        """Drop the connection serving the request with ``scope``; False if none is found."""
        for connection in list(self.server_state.connections):
            if getattr(connection, "scope", None) is scope:
                connection.transport.abort()
                return True
        return False

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        # The bound counts from the signal, not from the loop's next tick; the timer starts
        # there (a signal handler must not start a thread: it may interrupt one starting).
        if self._stopping_since is None:
            self._stopping_since = time.monotonic()
        super().handle_exit(sig, frame)

    async def serve(self, sockets: list[socket.socket] | None = None) -> None:
        try:
            await super().serve(sockets)
        finally:
            if self.force_exit:  # a second Ctrl+C: uvicorn waited for nothing, neither do we
                _end_process(self.exit_status())
            if self._exit_timer is not None:  # stopped in time: the interpreter ends normally
                self._exit_timer.cancel()

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        since = self._start_stopping()
        if self.on_stopping is not None:
            self.on_stopping(since + self.grace)
        if self.server_state.connections:
            logger.info(
                "Stopping: %d connection(s) open get up to %.0fs to finish",
                len(self.server_state.connections), self.grace,
            )  # fmt: skip
        cut = asyncio.get_running_loop().call_later(
            max(0.0, since + self.grace - time.monotonic()), self._cut_connections
        )
        try:
            await super().shutdown(sockets)
        finally:
            cut.cancel()

    def _start_stopping(self) -> float:
        """Start the exit timer (once); returns when stopping began (``time.monotonic()``)."""
        if self._stopping_since is None:
            self._stopping_since = time.monotonic()
        if self._exit_timer is None:
            left = self._stopping_since + self.grace + EXIT_MARGIN_S - time.monotonic()
            self._exit_timer = threading.Timer(max(0.0, left), self._overran)
            self._exit_timer.name = "shutdown-deadline"
            self._exit_timer.daemon = True
            self._exit_timer.start()
        return self._stopping_since

    def _overran(self) -> None:
        """On the timer's thread: the process is still there at the deadline."""
        logger.warning(
            "Still stopping %.0fs after the shutdown grace period: exiting now, abandoning the "
            "work still running", EXIT_MARGIN_S,
        )  # fmt: skip
        _end_process(self.exit_status())

    def _cut_connections(self) -> None:
        connections = list(self.server_state.connections)
        if not connections:
            return
        logger.warning(
            "Shutdown grace period of %.0fs is over: closing %d connection(s) still streaming",
            self.grace, len(connections),
        )  # fmt: skip
        told = []
        for connection in connections:
            scope = getattr(connection, "scope", None)
            if scope is not None:
                set_cancel_reason(scope, "shutdown")
                if (notice := shutdown_notice_of(scope)) is not None:
                    notice.set()  # the response ends itself; its connection closes after it
                    told.append(connection.transport)
                    continue
            connection.transport.abort()
        if told:
            asyncio.get_running_loop().call_later(FAREWELL_S, _abort_open, told)


def _abort_open(transports: list[asyncio.Transport]) -> None:
    """Drop those of ``transports`` that did not close after their farewell."""
    for transport in transports:
        if not transport.is_closing():
            transport.abort()


def _end_process(status: int) -> None:
    """Flush the logs and end the process now, without the interpreter's teardown."""
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # closed or gone: nothing to say there
            stream.flush()
    os._exit(status)
