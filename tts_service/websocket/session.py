"""One streamed-text WebSocket connection: its client's messages in, each turn's audio and
events out, over the serving layer's turns (:mod:`tts_service.turns`).

Turns are spoken in the order they started: each turn's speaker task waits for the one before
it, then is admitted, synthesizes and sends. A reader task takes the client's frames into a
bounded queue (back-pressure beyond it), so the session can wait for a message, a timeout or a
server notice at once without ever cancelling a receive. Every turn that got ``turn.started``
gets exactly one ``turn.done``, and none of its audio after it.

What a connection holds is bounded: text per turn (``TTS_MAX_BUFFERED_TEXT``), a message's size
(``TTS_MAX_REQUEST_BYTES``, uvicorn closes with 1009), messages read ahead
(``MAX_PENDING_MESSAGES``), a client that reads nothing (``TTS_SEND_TIMEOUT``, through
``middleware.SendTimeoutMiddleware``), one that sends nothing while nothing is being spoken
(``TTS_STREAM_IDLE_TIMEOUT``). A turn holds a stream slot only while it speaks.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import logging
from collections import deque
from collections.abc import Callable
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Literal

from pydantic import BaseModel
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from tts_service.captions import CaptionFormat, captions_text
from tts_service.config import Settings
from tts_service.errors import InvalidRequestError, ServiceError, ShuttingDownError
from tts_service.metrics import Metrics
from tts_service.middleware import SEND_PIECE_BYTES, SendTimeout, cancel_reason, shutdown_notice
from tts_service.pipeline.encoded import EncodedAudio
from tts_service.schemas import Usage, WordTimestamp
from tts_service.serving import SpeechService
from tts_service.turns import Turn
from tts_service.websocket import messages
from tts_service.websocket.messages import (
    ClientMessage,
    InvalidMessageError,
    TextDelta,
    TextFlush,
    TurnClear,
    TurnEnd,
    TurnStart,
)
from tts_service.websocket.protocol import stopping_notice

logger = logging.getLogger(__name__)

MAX_PENDING_MESSAGES = 256
"""Client messages read ahead of the one being handled; more wait in the socket."""
GOING_AWAY = 1001
POLICY_VIOLATION = 1008
NORMAL = 1000

Inbox = asyncio.Queue[tuple[str, str | bytes | None]]


class _Gone(Exception):
    """The client can no longer be sent to (it hung up, or read nothing for the timeout)."""


def _turn_message(message: str) -> InvalidRequestError:
    return InvalidRequestError(message, param="turn_id")


@dataclass(eq=False)
class _Entry:
    """A started turn, as the session follows it."""

    turn: Turn
    turn_id: str
    audio: Literal["binary", "base64"]
    task: asyncio.Task[None] | None = None
    reported: int = 0
    """Offset in the turn's text up to which ``text.spoken`` has reported."""
    reason: str | None = None
    """Why it was cut short, when the session cut it (for its log line and metrics)."""
    finished: bool = False
    captions: CaptionFormat | None = None
    words: list[WordTimestamp] = field(default_factory=list)
    """With ``captions``, the words spoken so far (for the captions of its ``turn.done``)."""


class TextStreamSession:
    """One client's connection."""

    def __init__(
        self,
        websocket: WebSocket,
        speech: Callable[[], SpeechService],
        settings: Settings,
        metrics: Metrics,
        name: str,
    ) -> None:
        self.ws = websocket
        self.speech = speech
        self.settings = settings
        self.metrics = metrics
        self.name = name
        self._entries: deque[_Entry] = deque()
        """Started turns not yet done, in order: the first speaks, the others wait for it."""
        self._open: _Entry | None = None
        """The turn taking text (started, not ended)."""
        self._numbers = itertools.count(1)
        self._send_lock = asyncio.Lock()
        self._inbox: Inbox = asyncio.Queue(MAX_PENDING_MESSAGES)
        self._stopping = False
        self._gone = False

    # -- the connection's life ------------------------------------------------------------------

    async def run(self) -> None:
        """Serve the connection until the client leaves, idles, or the server stops."""
        self.metrics.text_stream_connections.inc()
        scope = self.ws.scope
        helpers = [
            asyncio.create_task(self._read()),
            asyncio.create_task(self._notice(stopping_notice(scope), "stopping")),
            asyncio.create_task(self._notice(shutdown_notice(scope), "shutdown")),
        ]
        try:
            code = await self._serve()
            if code is not None:
                await self._close(code)
        finally:
            for task in helpers:
                task.cancel()
            await self._drop(self._entries_now(), None)
            self.metrics.text_stream_connections.dec()

    async def _serve(self) -> int | None:
        """Handle what comes until the connection should end; returns the close code to send
        (None: the client is gone)."""
        while True:
            try:
                kind, payload = await asyncio.wait_for(
                    self._inbox.get(), self.settings.stream_idle_timeout
                )
            except TimeoutError:
                if any(entry.turn.ended for entry in self._entries):
                    continue  # the client waits for audio: not idle
                logger.info("[%s] streamed-text connection idle: closed", self.name)
                return NORMAL
            if kind == "message":
                await self._handle(payload)
            elif kind == "gone":
                return None
            elif kind == "stopping":
                self._stopping = True
            elif kind == "shutdown":
                await self._drop(self._entries_now(), ShuttingDownError(_SHUTDOWN))
                return GOING_AWAY
            if self._gone:
                return None
            if self._stopping and not self._entries:
                return GOING_AWAY

    async def _read(self) -> None:
        """Take the client's frames into the inbox, until it disconnects."""
        try:
            while True:
                frame = await self.ws.receive()
                if frame["type"] == "websocket.disconnect":
                    break
                text = frame.get("text")
                await self._inbox.put(("message", text if text is not None else frame.get("bytes")))
        except (WebSocketDisconnect, RuntimeError):  # closed by the server meanwhile
            pass
        await self._inbox.put(("gone", None))

    async def _notice(self, event: asyncio.Event, kind: str) -> None:
        await event.wait()
        await self._inbox.put((kind, None))

    async def _close(self, code: int) -> None:
        if self.ws.application_state is WebSocketState.CONNECTED:
            with contextlib.suppress(WebSocketDisconnect, RuntimeError, SendTimeout, OSError):
                await self.ws.close(code)

    # -- the client's messages ------------------------------------------------------------------

    async def _handle(self, raw: str | bytes | None) -> None:
        turn_id: str | None = None
        try:
            if not isinstance(raw, str):
                raise InvalidMessageError("Send messages as JSON text frames.")
            message = messages.parse(raw)
            turn_id = message.turn_id
            await self._dispatch(message)
        except ServiceError as exc:
            self.metrics.text_stream_refused.labels(exc.code or exc.error_type).inc()
            logger.info(
                "[%s] message refused: code=%s param=%s message=%r",
                self.name, exc.code, exc.param, exc.message,
            )  # fmt: skip
            await self._send_event(messages.error_event(exc, turn_id))

    async def _dispatch(self, message: ClientMessage) -> None:
        if isinstance(message, TurnStart):
            await self._start(message)
        elif isinstance(message, TurnClear):
            await self._clear(message.turn_id)
        else:
            turn = self._taking(message.turn_id).turn
            if isinstance(message, TextDelta):
                turn.feed(message.text)
            elif isinstance(message, TextFlush):
                turn.flush()
            elif isinstance(message, TurnEnd):
                turn.end()
                self._open = None

    def _taking(self, turn_id: str | None) -> _Entry:
        """The open turn, which ``turn_id`` (if given) must name."""
        entry = self._open
        if entry is not None and turn_id in (None, entry.turn_id):
            return entry
        if turn_id is not None and any(e.turn_id == turn_id for e in self._entries):
            raise InvalidRequestError(
                f"Turn {turn_id!r} has ended; it takes no more text.",
                param="turn_id", code="turn_ended",
            )  # fmt: skip
        if turn_id is not None:
            raise InvalidRequestError(
                f"No turn {turn_id!r} is open.", param="turn_id", code="unknown_turn"
            )
        raise InvalidRequestError(
            "No turn is open: send turn.start first.", param="type", code="no_turn"
        )

    async def _start(self, message: TurnStart) -> None:
        if self._open is not None:
            raise InvalidRequestError(
                f"Turn {self._open.turn_id!r} is still open: end it (turn.end) or clear it "
                "(turn.clear) first.", param="type", code="turn_in_progress",
            )  # fmt: skip
        if self._stopping:
            raise ShuttingDownError("The server is shutting down: it takes no new turns.")
        turn_id = message.turn_id or f"turn-{next(self._numbers)}"
        if any(entry.turn_id == turn_id for entry in self._entries):
            raise InvalidRequestError(
                f"Turn {turn_id!r} is still in progress; name the new one differently.",
                param="turn_id", code="duplicate_turn",
            )  # fmt: skip
        entry: _Entry | None = None

        def reason() -> str:  # the session's reason, else the server's (send_timeout...)
            return (entry.reason if entry else None) or cancel_reason(self.ws.scope)

        turn = self.speech().open_turn(
            message, request_id=f"{self.name}/{turn_id}", cancel_reason=reason
        )
        entry = _Entry(turn, turn_id, message.audio, captions=message.captions)
        await self._send_event(
            messages.TurnStarted(
                turn_id=turn_id,
                response_format=message.response_format,
                sample_rate=turn.synthesizer.sample_rate,
                voice=turn.voice.spec,
            )  # fmt: skip
        )
        previous = self._entries[-1].task if self._entries else None
        self._entries.append(entry)
        self._open = entry
        entry.task = asyncio.create_task(self._speak(entry, previous))
        if message.text:
            turn.feed(message.text)

    async def _clear(self, turn_id: str | None) -> None:
        entries = self._entries_now()
        if not entries:
            raise InvalidRequestError("No turn is in progress.", param="type", code="no_turn")
        if turn_id is not None and all(entry.turn_id != turn_id for entry in entries):
            raise InvalidRequestError(
                f"No turn {turn_id!r} is in progress.", param="turn_id", code="unknown_turn"
            )
        await self._drop(entries, None, status="cleared")

    # -- the turns' audio -----------------------------------------------------------------------

    async def _speak(self, entry: _Entry, previous: asyncio.Task[None] | None) -> None:
        """Speak ``entry``'s turn once the turn before it is done."""
        if previous is not None:
            await asyncio.wait([previous])
        turn = entry.turn
        try:
            turn.begin()
            async with aclosing(turn.audio()) as items:
                async for item in items:
                    await self._send_audio(entry, item)
        except _Gone:
            return
        except ServiceError as exc:
            await self._finish(entry, "failed", exc)
            return
        except Exception:  # noqa: BLE001 - the turn has started: report in-band, go on
            logger.exception("[%s/%s] streamed-text turn failed", self.name, entry.turn_id)
            await self._finish(entry, "failed", ServiceError("Synthesis failed; see the logs."))
            return
        await self._finish(entry, "completed")

    async def _send_audio(self, entry: _Entry, item: EncodedAudio) -> None:
        data = item.data
        for start in range(0, len(data), SEND_PIECE_BYTES):
            piece = data[start : start + SEND_PIECE_BYTES]
            if entry.audio == "binary":
                await self._send(piece)
            else:
                encoded = base64.b64encode(piece).decode()
                await self._send_event(messages.AudioDelta(turn_id=entry.turn_id, audio=encoded))
        if item.text_end is None and not item.words:
            return
        end = item.text_end if item.text_end is not None else entry.reported
        words = list(item.words) if item.words else None
        if entry.captions is not None and words:
            entry.words.extend(words)
        await self._send_event(
            messages.TextSpoken(turn_id=entry.turn_id, start=entry.reported, end=end, words=words)
        )
        entry.reported = end

    async def _finish(
        self, entry: _Entry, status: Literal["completed", "cleared", "failed"],
        error: ServiceError | None = None,
    ) -> None:  # fmt: skip
        """Send the turn's ``turn.done`` (once) and forget it."""
        if entry.finished:
            return
        entry.finished = True
        if entry in self._entries:
            self._entries.remove(entry)
        if self._open is entry:
            self._open = None
        self.metrics.text_stream_turns.labels(status).inc()
        stats = entry.turn.stats
        usage = Usage(
            input_tokens=stats.tokens if stats else 0, output_tokens=stats.samples if stats else 0
        )
        done = messages.TurnDone(
            turn_id=entry.turn_id, status=status, spoken_until=entry.turn.spoken_until,
            audio_seconds=round(stats.audio_seconds, 3) if stats else 0.0, usage=usage,
            error=messages.error_detail(error) if error is not None else None,
            captions=captions_text(entry.words, entry.captions) if entry.captions else None,
        )  # fmt: skip
        with contextlib.suppress(_Gone):
            await self._send_event(done)
        with contextlib.suppress(asyncio.QueueFull):
            self._inbox.put_nowait(("turn_done", None))  # wakes the idle and stopping checks

    def _entries_now(self) -> list[_Entry]:
        return list(self._entries)

    async def _drop(
        self,
        entries: list[_Entry],
        error: ServiceError | None,
        status: Literal["cleared", "failed"] = "failed",
    ) -> None:
        """Stop ``entries`` at once (queued synthesis cancelled) and, unless the client is gone
        (``error`` None and ``status`` failed), send each its ``turn.done``."""
        if not entries:
            return
        reason = (
            "cleared" if status == "cleared" else "shutdown" if error else "client_disconnected"
        )
        for entry in entries:
            entry.reason = reason
            entry.turn.close()
            if entry.task is not None:
                entry.task.cancel()
        tasks = [entry.task for entry in entries if entry.task is not None]
        if tasks:
            await asyncio.wait(tasks)
        for entry in entries:
            if status == "cleared" or error is not None:
                await self._finish(entry, status, error)
            else:
                entry.finished = True
                with contextlib.suppress(ValueError):
                    self._entries.remove(entry)
        self._open = None

    # -- sending --------------------------------------------------------------------------------

    async def _send_event(self, event: BaseModel) -> None:
        await self._send(messages.dump(event))

    async def _send(self, frame: str | bytes) -> None:
        """Send one frame (the send timeout applies); raises _Gone once the client is gone."""
        if self._gone:
            raise _Gone
        async with self._send_lock:
            try:
                if isinstance(frame, bytes):
                    await self.ws.send_bytes(frame)
                else:
                    await self.ws.send_text(frame)
            except (SendTimeout, WebSocketDisconnect, RuntimeError, OSError):
                self._gone = True
                with contextlib.suppress(asyncio.QueueFull):
                    self._inbox.put_nowait(("gone", None))
                raise _Gone from None


_SHUTDOWN = (
    "The server is shutting down and its grace period is over: this turn was cut short. "
    "Start it again (on another replica) for the rest."
)
