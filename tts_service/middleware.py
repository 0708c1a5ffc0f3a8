"""ASGI middleware that runs before routing: a request id for every request, and a limit on the
size of request bodies that is enforced before the body is read.

Errors found here are rendered by the app's one error renderer (``ErrorRenderer``), the same one
the exception handlers use, so they have OpenAI's shape and are counted and logged alike.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

from starlette.datastructures import Headers, MutableHeaders
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tts_service.errors import RequestTooLargeError, ServiceError

ErrorRenderer = Callable[[ServiceError, Scope], Response]
"""Turns a domain error into the response sent for it (OpenAI's error shape)."""

REQUEST_ID_HEADER = "X-Request-Id"


def request_id(scope: Scope) -> str:
    """The id ``RequestIdMiddleware`` gave this request (``-`` outside of it)."""
    return str(scope.get("state", {}).get("request_id", "-"))


class RequestIdMiddleware:
    """Gives every HTTP request a short random id, kept in ``request.state.request_id`` (it tags
    the request's log lines) and sent back as ``X-Request-Id`` on every response, errors too."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = uuid.uuid4().hex[:12]
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
