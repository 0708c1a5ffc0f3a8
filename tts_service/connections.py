"""Connection hygiene: what a client must do to keep a connection, and what it gets when it does
not. uvicorn's h11 protocol, plus:

- a **header timeout**: the request head (request line and headers) must arrive in full within
  ``TTS_HEADER_TIMEOUT`` seconds of the connection opening, or of the first byte of the next
  request on a kept-alive connection. A connection that sent part of a head gets 408 and is
  closed (slowloris); one that sent nothing is closed without a word (a browser's unused
  preconnection looks the same);
- a **body timeout**: the body must arrive in full within ``TTS_BODY_TIMEOUT`` seconds of the
  head; else 408 (if no response has started) and the connection is closed, and the request sees
  a disconnect;
- a **connection bound**: a connection accepted while ``TTS_MAX_CONNECTIONS`` are open gets 503
  to its request and is closed, without reaching the application;
- **protocol errors** (a head over h11's size limit, a malformed ``Content-Length``, TLS bytes on
  the plain port) in OpenAI's error shape with an ``X-Request-Id``, where uvicorn sends a
  ``text/plain`` 400;
- a **capped send buffer** (``TTS_SEND_BUFFER_BYTES``) on every accepted socket, so that a client
  that stops reading fills it, and starts the send timeout counting, after a little audio instead
  of megabytes.

The idle timeout between requests is uvicorn's own keep-alive timeout. Every response sent from
here goes through the app's one error renderer, so it is logged and counted like any other.

At the open-file limit, ``accept()`` fails. asyncio then backs off for a second, but before
CPython 3.14 it goes on calling ``accept()`` for the rest of the listen backlog first, logging and
scheduling a retry each time (CPython gh-151615): thousands of tracebacks a second, and retries
that multiply. ``SteadyAcceptLoop`` accepts one connection per readiness event, so a failure
costs one retry; ``logs.OpenFileLimitFilter`` turns the tracebacks into one warning now and then.
"""

from __future__ import annotations

import asyncio
import http
import logging
import resource
import socket
from dataclasses import dataclass
from typing import Any, ClassVar

import h11
from starlette.types import Receive, Scope, Send
from uvicorn.config import Config
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.server import ServerState

from tts_service.config import Settings
from tts_service.errors import (
    HeadersTooLargeError,
    InvalidHTTPError,
    RequestTimeoutError,
    ServiceError,
    TooManyConnectionsError,
)
from tts_service.middleware import ErrorRenderer, new_request_id

logger = logging.getLogger(__name__)

RESERVED_FILES = 64
"""Open files the process keeps for itself (model files, log, listening socket, event loop):
the connection bound is lowered to leave them free under a low open-file limit."""
MAX_HEAD_BYTES = 16 * 1024
"""Largest request head (request line and headers) accepted: h11's default, given to uvicorn."""
RETRY_AFTER_S = 1
"""What a connection over the bound is told to wait: connections come and go within seconds."""


class SteadyAcceptLoop(asyncio.SelectorEventLoop):
    """asyncio's event loop (given to ``uvicorn.Config(loop=...)`` as an import string), taking
    one connection per readiness event of the listening socket: the socket stays readable while
    connections wait, so a burst is still accepted, one per turn of the loop."""

    def _accept_connection(
        self, protocol_factory: Any, sock: Any, sslcontext: Any = None, server: Any = None,
        backlog: int = 100, *rest: Any,
    ) -> None:  # fmt: skip
        super()._accept_connection(protocol_factory, sock, sslcontext, server, 1, *rest)  # type: ignore[misc]


@dataclass(frozen=True)
class ConnectionLimits:
    header_timeout: float
    body_timeout: float
    max_connections: int
    send_buffer_bytes: int


@dataclass(frozen=True)
class _Guard:
    limits: ConnectionLimits
    render: ErrorRenderer


def raise_open_file_limit() -> None:
    """Raise the process's open-file limit to the most it may have (as Go programs do at start):
    the soft limit is often 1024 while the hard one allows far more."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == hard:
        return
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    except (ValueError, OSError):  # macOS refuses an unlimited hard limit: keep the soft one
        logger.info("Open-file limit kept at %d (raising it to %d was refused)", soft, hard)


def connection_limits(settings: Settings) -> ConnectionLimits:
    """The limits from ``settings``; the connection bound lowered, with a warning, where the
    process's open-file limit would be reached first."""
    bound = settings.max_connections
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and bound > soft - RESERVED_FILES:
        bound = max(1, soft - RESERVED_FILES)
        logger.warning(
            "TTS_MAX_CONNECTIONS=%d lowered to %d: the open-file limit is %d (raise it with "
            "ulimit -n or the container's nofile limit)",
            settings.max_connections, bound, soft,
        )  # fmt: skip
    return ConnectionLimits(
        header_timeout=settings.header_timeout,
        body_timeout=settings.body_timeout,
        max_connections=bound,
        send_buffer_bytes=settings.send_buffer_bytes,
    )


def guarded_protocol(limits: ConnectionLimits, render: ErrorRenderer) -> type[GuardedH11Protocol]:
    """The protocol class to give ``uvicorn.Config(http=...)``: uvicorn creates one per
    connection with its own arguments, so the limits and the renderer travel on the class."""
    return type("GuardedH11Protocol", (GuardedH11Protocol,), {"guard": _Guard(limits, render)})


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with the limits above (chosen explicitly: httptools, which uvicorn
    prefers when installed, parses differently and has none of these hooks either)."""

    guard: ClassVar[_Guard]

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.limits = self.guard.limits
        self.over_limit = False
        self.head_timer: asyncio.TimerHandle | None = None
        self.head_bytes = 0
        self.body_timer: asyncio.TimerHandle | None = None
        self.served_app = self.app
        self.app = self.refuse_or_serve

    # --- the connection's life --------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.over_limit = len(self.connections) > self.limits.max_connections
        sock = transport.get_extra_info("socket")
        if self.limits.send_buffer_bytes and sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, self.limits.send_buffer_bytes)
        self.arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self.cancel_timers()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        waiting_for_head = self.conn.their_state is h11.IDLE
        if waiting_for_head and self.head_timer is None:  # the next request on a kept-alive one
            self.arm_head_timer()
        self.head_bytes += len(data) if waiting_for_head else 0
        super().data_received(data)
        if self.transport.get_protocol() is not self:  # upgraded to a WebSocket: not ours now
            self.cancel_timers()
            return
        # h11 moves the client's state on from IDLE once a whole head has been parsed, and on
        # to DONE once the body has been.
        if self.conn.their_state is not h11.IDLE and self.head_timer is not None:
            self.head_timer.cancel()
            self.head_timer = None
        if self.conn.their_state is h11.SEND_BODY and self.body_timer is None:
            self.body_timer = self.loop.call_later(self.limits.body_timeout, self.body_timed_out)
        elif self.conn.their_state is not h11.SEND_BODY and self.body_timer is not None:
            self.body_timer.cancel()
            self.body_timer = None

    def arm_head_timer(self) -> None:
        self.head_bytes = 0
        self.head_timer = self.loop.call_later(self.limits.header_timeout, self.head_timed_out)

    def cancel_timers(self) -> None:
        for timer in (self.head_timer, self.body_timer):
            if timer is not None:
                timer.cancel()
        self.head_timer = self.body_timer = None

    # --- what a client that breaks the rules gets -------------------------------------------

    def head_timed_out(self) -> None:
        self.head_timer = None
        if self.transport.is_closing():
            return
        if self.head_bytes == 0:  # silent: nothing to answer
            self.transport.close()
            return
        self.answer(
            RequestTimeoutError(
                f"The request head did not arrive in full within {self.limits.header_timeout:g}s."
            )
        )

    def body_timed_out(self) -> None:
        self.body_timer = None
        if self.transport.is_closing():
            return
        cycle = self.cycle
        if cycle is not None and not cycle.response_started:
            error = RequestTimeoutError(
                f"The request body did not arrive in full within {self.limits.body_timeout:g}s."
            )
            self.answer(error, scope=dict(self.scope))
        else:
            self.transport.close()
        if cycle is not None:  # the request being read sees a disconnect, and sends nothing
            cycle.disconnected = True
            cycle.message_event.set()

    def send_400_response(self, msg: str) -> None:
        """Called by uvicorn when h11 cannot parse what arrived (and after it logged a warning)."""
        error: ServiceError
        if len(self.conn.trailing_data[0]) > MAX_HEAD_BYTES:
            error = HeadersTooLargeError(
                f"The request head is larger than the limit of {MAX_HEAD_BYTES} bytes."
            )
        else:
            error = InvalidHTTPError(
                "The request is not valid HTTP/1.1 (a malformed request line or header; TLS "
                "sent to the plain-HTTP port?)."
            )
        self.answer(error)

    def answer(self, error: ServiceError, scope: Scope | None = None) -> None:
        """Send ``error`` in OpenAI's shape outside any request cycle, then close."""
        scope = scope or {"type": "http", "method": "-", "path": "-", "state": {}}
        scope.setdefault("state", {}).setdefault("request_id", new_request_id())
        response = self.guard.render(error, scope)
        headers = [*response.raw_headers, (b"connection", b"close")]
        reason = http.HTTPStatus(response.status_code).phrase.encode()
        try:
            for event in (
                h11.Response(status_code=response.status_code, headers=headers, reason=reason),
                h11.Data(data=bytes(response.body)),
                h11.EndOfMessage(),
            ):
                self.transport.write(self.conn.send(event) or b"")
        except h11.LocalProtocolError:  # a response had already begun: nothing more can be said
            pass
        self.transport.close()

    async def refuse_or_serve(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The application as this connection sees it: a 503 if it came over the bound."""
        if not self.over_limit:
            await self.served_app(scope, receive, send)  # type: ignore[arg-type]
            return
        scope.setdefault("state", {})["request_id"] = new_request_id()
        error = TooManyConnectionsError(
            f"The server has its limit of {self.limits.max_connections} connections open; "
            "try again shortly.",
            retry_after=RETRY_AFTER_S,
        )
        response = self.guard.render(error, scope)
        response.headers["connection"] = "close"
        await response(scope, receive, send)
