"""Drive the ASGI app directly, as a server would, for what a buffered test client hides."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

import anyio

Sender = Callable[[dict], Awaitable[None]]


async def asgi_post(
    app: Any,
    path: str,
    body: dict,
    deliver: Sender | None = None,
    disconnect_after: float | None = None,
    hang_up_in_body: bool = False,
    disconnect_when: Callable[[], bool] | None = None,
) -> tuple[list[dict], BaseException | None]:
    """POST straight to the ASGI app; every message it sends, and what it raised (if anything).

    Unlike a buffered client this shows whether the app *finished* the response: a server
    completes a response only when the app sends a body message with ``more_body`` false.
    ``deliver`` plays the server's side of ``send`` for each message after it is recorded (a
    client that stops reading is one that never returns); by default it returns at once.
    ``disconnect_after``: seconds after the body at which the client hangs up;
    ``hang_up_in_body``: it hangs up after half the body instead (or the server cut it off);
    ``disconnect_when``: it hangs up once this is true (asked every 10 ms), then after
    ``disconnect_after`` more seconds, if given.
    """
    payload = json.dumps(body).encode()
    messages: list[dict] = []
    request_sent = False

    async def receive() -> dict:
        nonlocal request_sent
        if not request_sent:
            request_sent = True
            if hang_up_in_body:
                return {
                    "type": "http.request",
                    "body": payload[: len(payload) // 2],
                    "more_body": True,
                }
            return {"type": "http.request", "body": payload, "more_body": False}
        if hang_up_in_body:
            return {"type": "http.disconnect"}
        if disconnect_when is not None:
            while not disconnect_when():
                await anyio.sleep(0.01)
            await anyio.sleep(disconnect_after or 0.0)
            return {"type": "http.disconnect"}
        if disconnect_after is None:
            await anyio.sleep_forever()  # the client stays connected
        await anyio.sleep(disconnect_after)
        return {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        messages.append(message)
        if deliver is not None:
            await deliver(message)

    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(payload)).encode()),
    ]
    scope = _scope("http", path, headers, method="POST")
    try:
        await app(scope, receive, send)
    except Exception as exc:  # noqa: BLE001 - what the app raised is the result
        return messages, exc
    return messages, None


async def asgi_websocket(
    app: Any, path: str, frames: list[str], deliver: Sender | None = None
) -> tuple[list[dict], BaseException | None]:
    """Open a WebSocket straight to the ASGI app, send it ``frames`` (text) once it accepted,
    then stay connected without a word; every message it sends, and what it raised. ``deliver``
    plays the server's side of ``send`` for each message after it is recorded (a client that
    stops reading is one that never returns)."""
    messages: list[dict] = []
    pending = [{"type": "websocket.connect"}] + [
        {"type": "websocket.receive", "text": frame} for frame in frames
    ]

    async def receive() -> dict:
        if pending:
            return pending.pop(0)
        await anyio.sleep_forever()
        raise AssertionError("unreachable")

    async def send(message: dict) -> None:
        messages.append(message)
        if deliver is not None:
            await deliver(message)

    scope = _scope("websocket", path, [], subprotocols=[])
    try:
        await app(scope, receive, send)
    except Exception as exc:  # noqa: BLE001 - what the app raised is the result
        return messages, exc
    return messages, None


def _scope(kind: str, path: str, headers: list[tuple[bytes, bytes]], **more: Any) -> dict:
    """The scope a server gives the app for a request of ``kind`` (http, websocket)."""
    return {
        "type": kind,
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "scheme": "http" if kind == "http" else "ws",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"testserver"), *headers],
        "client": ("testclient", 50000),
        "server": ("testserver", 80),
        "state": {},
        **more,
    }
