"""ASGI middleware that runs before routing: a request id for every request, a limit on the
size of request bodies that is enforced before the body is read, and a timeout on clients that
stop accepting the response.

Errors found here are rendered by the app's one error renderer (``ErrorRenderer``), the same one
the exception handlers use, so they have OpenAI's shape and are counted and logged alike.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable, Iterator

import anyio
from starlette.datastructures import Headers, MutableHeaders
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tts_service.errors import RequestTooLargeError, ServiceError

logger = logging.getLogger(__name__)

ErrorRenderer = Callable[[ServiceError, Scope], Response]
"""Turns a domain error into the response sent for it (OpenAI's error shape)."""

ConnectionAborter = Callable[[Scope], bool]
"""Drops the connection of the request with this scope at once; False if it cannot."""

REQUEST_ID_HEADER = "X-Request-Id"
_SHUTDOWN_NOTICE = "shutdown_notice"
"""The key of a request's shutdown notice in its scope's state (``shutdown_notice``)."""
SEND_PIECE_BYTES = 16 * 1024
"""Response bodies go to the server in pieces of at most this size, each within the send timeout."""


def new_request_id() -> str:
    """A short random id for a request (12 hex digits)."""
    return uuid.uuid4().hex[:12]


def request_id(scope: Scope) -> str:
    """The id ``RequestIdMiddleware`` gave this request (``-`` outside of it)."""
    return str(scope.get("state", {}).get("request_id", "-"))


def cancel_reason(scope: Scope) -> str:
    """Why this request's response was cut short: ``client_disconnected`` unless the server
    recorded another reason (``send_timeout``, ``shutdown``) with ``set_cancel_reason``."""
    return str(scope.get("state", {}).get("cancel_reason", "client_disconnected"))


def set_cancel_reason(scope: Scope, reason: str) -> None:
    scope.setdefault("state", {})["cancel_reason"] = reason


def shutdown_notice(scope: Scope) -> asyncio.Event:
    """An event the server sets when its shutdown grace period is over while this request's
    response is still going: a response that can end in-band (an SSE stream, with an ``error``
    event) asks for it, ends itself when it is set, and its connection closes after it. The
    server drops the connections of all other responses at once."""
    state = scope.setdefault("state", {})
    notice = state.get(_SHUTDOWN_NOTICE)
    if notice is None:
        notice = state[_SHUTDOWN_NOTICE] = asyncio.Event()
    return notice  # type: ignore[no-any-return]


def shutdown_notice_of(scope: Scope) -> asyncio.Event | None:
    """The request's shutdown notice if its response asked for one (``shutdown_notice``)."""
    return scope.get("state", {}).get(_SHUTDOWN_NOTICE)  # type: ignore[no-any-return]


class RequestIdMiddleware:
    """Gives every HTTP request a short random id, kept in ``request.state.request_id`` (it tags
    the request's log lines) and sent back as ``X-Request-Id`` on every response, errors too."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = new_request_id()
        scope.setdefault("state", {})["request_id"] = rid

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)[REQUEST_ID_HEADER] = rid
            await send(message)

        await self.app(scope, receive, send_with_id)


class BodySizeLimitMiddleware:
    """Refuses a body over ``max_bytes`` with 413: at once when ``Content-Length`` says so, else
    (chunked uploads) as soon as the bytes received pass the limit; never reads past it."""

    def __init__(self, app: ASGIApp, max_bytes: int, on_error: ErrorRenderer) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.on_error = on_error

    def _too_large(self, scope: Scope) -> Response:
        error = RequestTooLargeError(
            f"The request body is larger than the limit of {self.max_bytes} bytes."
        )
        return self.on_error(error, scope)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = Headers(scope=scope).get("content-length")
        if length is not None and length.isdigit():  # the server has checked it matches the body
            if int(length) > self.max_bytes:
                await self._too_large(scope)(scope, receive, send)
                return
            await self.app(scope, receive, send)
            return
        # No length given (a chunked upload): read up to the limit, then hand the body on.
        parts: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away while sending
            part = message.get("body", b"")
            size += len(part)
            if size > self.max_bytes:
                await self._too_large(scope)(scope, receive, send)
                return
            parts.append(part)
            if not message.get("more_body", False):
                break
        await self.app(scope, _replay(b"".join(parts), receive), send)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that first returns ``body`` whole, then whatever the server sends next
    (``http.disconnect``)."""
    pending = [body]

    async def replayed() -> Message:
        if pending:
            return {"type": "http.request", "body": pending.pop(), "more_body": False}
        return await receive()

    return replayed


class SendTimeout(Exception):
    """The client accepted nothing for the send timeout (raised by ``SendTimeoutMiddleware``'s
    ``send``; the response stops and closes its body, which cancels the stream)."""


def _pieces(message: Message) -> Iterator[Message]:
    body = message.get("body", b"")
    if message["type"] != "http.response.body" or len(body) <= SEND_PIECE_BYTES:
        yield message
        return
    more_body = message.get("more_body", False)
    for start in range(0, len(body), SEND_PIECE_BYTES):
        end = start + SEND_PIECE_BYTES
        yield {**message, "body": bytes(body[start:end]), "more_body": more_body or end < len(body)}


class SendTimeoutMiddleware:
    """Gives up on a client that accepts no data for ``timeout`` seconds: one that never reads,
    or stopped reading, would otherwise hold its stream, and the stream's inference slot, for as
    long as it keeps the connection open. The server's ``send`` waits while the connection's
    buffers are full; bodies are handed over in pieces of ``SEND_PIECE_BYTES``, each of which must
    go within the timeout, so a slow but steady reader (a player reading in real time) is never
    cut, however long a chunk is.

    On a timeout the connection is dropped at once when the server can (``abort``, from the CLI's
    server), and ``send`` raises ``SendTimeout``: the response closes its body generator (the
    stream is cancelled and counted with reason ``send_timeout``) and the request ends without a
    traceback. A WebSocket's messages are each given the timeout too (the streamed-text session
    sends its audio in frames of at most ``SEND_PIECE_BYTES``, and ends when ``send`` raises)."""

    def __init__(self, app: ASGIApp, timeout: float, abort: ConnectionAborter | None) -> None:
        self.app = app
        self.timeout = timeout
        self.abort = abort

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        aborted = False

        async def send_within_timeout(message: Message) -> None:
            nonlocal aborted
            for piece in _pieces(message):
                with anyio.move_on_after(self.timeout) as waiting:
                    await send(piece)
                if waiting.cancelled_caught:
                    set_cancel_reason(scope, "send_timeout")
                    aborted = self.abort is not None and self.abort(scope)
                    logger.warning(
                        "[%s] the client accepted no data for %.0fs: response abandoned%s",
                        request_id(scope), self.timeout,
                        ", connection closed" if aborted else "",
                    )  # fmt: skip
                    raise SendTimeout(request_id(scope))

        try:
            await self.app(scope, receive, send_within_timeout)
        except SendTimeout:
            if aborted:  # end once the server has seen the connection go, so it logs nothing
                with anyio.move_on_after(1.0):
                    while (await receive())["type"] != "http.disconnect":
                        pass
