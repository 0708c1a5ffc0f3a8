"""One Wyoming client's connection. It answers its requests one at a time, in order, and keeps
reading meanwhile: a hang-up cancels the request being answered (its queued synthesis with it).
``synthesize`` is answered with ``audio-start``, ``audio-chunk``…, ``audio-stop``, each chunk sent
as soon as it is synthesized; the streaming form (``synthesize-start``, ``-chunk``…, ``-stop``) is
answered while its text arrives, by :mod:`tts_service.wyoming.streaming`, which takes the events
of its request as they come (a ``synthesize`` among them is ignored: Home Assistant sends the
whole text that way too, for servers that do not stream). A request that fails (unknown voice,
empty text, server busy) gets an ``error`` event with the message the HTTP API gives, and the
connection stays usable; so does a ``synthesize-chunk`` or ``synthesize-stop`` with no streaming
request in progress (``no_turn``). Other events this server does not take are dropped, as the
protocol asks.

A connection is held only while it is used, as the HTTP API's are (the same settings):

- the first event's header line must arrive within ``TTS_HEADER_TIMEOUT`` of connecting, and a
  later event's within ``TTS_HEADER_TIMEOUT`` of its first byte; an event's data and payload
  within ``TTS_BODY_TIMEOUT`` of its header line. A client that stalls in the middle of an event
  gets an ``error`` event (``request_timeout``) and the connection is closed (where its next
  event would start is unknown); one that sent nothing is closed without a word;
- a connection with no request in progress (none being answered, none read ahead) is closed
  after ``TTS_KEEPALIVE_TIMEOUT`` seconds without a new event. Waiting for an answer is not
  idle: a long synthesis never cuts its client. A streaming request is in progress from its
  ``synthesize-start`` to its ``synthesize-stopped``: while it waits for text, the pauses of a
  language model writing its reply are not idle either; only ``TTS_STREAM_IDLE_TIMEOUT``
  without an event closes its connection (and cancels its synthesis).

None of this cuts Home Assistant: its Wyoming integration opens a connection for each
``describe`` and each ``synthesize`` (the streaming form too), writes its request at once, reads
the answer and closes; so does the ``wyoming`` library's client as Home Assistant uses it. A
client that keeps a connection between requests must reconnect after an idle close, as an HTTP
client does after a keep-alive timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import Callable
from typing import Any

from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.error import Error
from wyoming.event import Event, async_write_event
from wyoming.info import Describe
from wyoming.tts import Synthesize, SynthesizeChunk, SynthesizeStart, SynthesizeStop

from tts_service.config import Settings
from tts_service.errors import (
    InvalidEventError,
    InvalidRequestError,
    RequestTimeoutError,
    ServiceError,
)
from tts_service.metrics import Metrics
from tts_service.pipeline.encoded import client_disconnected
from tts_service.serving import SpeechService
from tts_service.wyoming.messages import CHANNELS, SAMPLE_WIDTH, service_info, speech_request
from tts_service.wyoming.reading import read_event
from tts_service.wyoming.streaming import StreamedSynthesis

logger = logging.getLogger(__name__)

FAREWELL_S = 1.0
"""How long the ``error`` event that ends a request cut by shutdown may take to send."""
MAX_PENDING_EVENTS = 16
"""Events read ahead of the request being answered; more wait in the socket (back-pressure)."""


class WyomingConnection:
    """One client's connection: reads its events and answers them in order."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        speech: Callable[[], SpeechService],
        metrics: Metrics,
        settings: Settings,
        name: str,
    ) -> None:
        self.reader = reader
        self.writer = writer
        self.speech = speech
        self.metrics = metrics
        self.send_timeout = settings.send_timeout
        self.max_event_bytes = settings.max_request_bytes
        self.header_timeout = settings.header_timeout
        self.body_timeout = settings.body_timeout
        self.keepalive_timeout = settings.keepalive_timeout
        self.stream_idle_timeout = settings.stream_idle_timeout
        self.name = name
        self.cancel_reason: Callable[[], str] = client_disconnected
        self.busy = False
        """A request is being answered."""
        self.taking_text = False
        """A streaming request is being answered and waits for its text (its stop not yet
        taken)."""
        self._closing = False
        self._requests = itertools.count(1)
        self._events: asyncio.Queue[Event] = asyncio.Queue(MAX_PENDING_EVENTS)
        """Events read ahead of the request being answered."""
        self._idle: asyncio.Timeout | None = None
        """The timeout on the wait for the next event's first byte, while it is waited for."""

    async def run(self) -> None:
        """Until the client hangs up: read its events while the ones before are answered; a
        hang-up cancels the answer in progress. What is not an event gets an ``error`` event
        and ends the connection (where the next event starts is unknown), as does an event that
        stalls half-sent; a connection that stays silent is closed (see the module's docstring)."""
        events = self._events
        answering = asyncio.create_task(self._answer(events))
        head_deadline: float | None = asyncio.get_running_loop().time() + self.header_timeout
        try:
            while not answering.done():
                reading = asyncio.ensure_future(self._next_event(head_deadline))
                head_deadline = None  # the first event's, counted from the connection
                await asyncio.wait({reading, answering}, return_when=asyncio.FIRST_COMPLETED)
                if not reading.done():  # the answers ended the connection (a write failed)
                    reading.cancel()
                    break
                try:
                    event = reading.result()
                except (InvalidEventError, RequestTimeoutError) as exc:
                    with contextlib.suppress(ConnectionError, TimeoutError):
                        await self.error(exc, self.name)
                    break
                if event is None:  # hung up
                    break
                await events.put(event)
        finally:
            try:
                await self._end(answering)
            finally:
                self.writer.close()

    async def _end(self, answering: asyncio.Task[None]) -> None:
        """Cancel the answer in progress; if the server is stopping, say so to its client."""
        cut = self.busy
        answering.cancel()
        with contextlib.suppress(asyncio.CancelledError, ConnectionError, TimeoutError):
            await answering
        if cut and self.cancel_reason is _shutdown:  # say why the audio stops
            with contextlib.suppress(ConnectionError, TimeoutError):
                farewell = Error(text="The server is stopping.", code="shutdown")
                await asyncio.wait_for(async_write_event(farewell.event(), self.writer), FAREWELL_S)

    def stop(self) -> None:
        """End the connection now, as if the client had hung up: a request in progress is
        cancelled (reason ``shutdown``) and ends with an ``error`` event."""
        self.cancel_reason = _shutdown
        self.reader.feed_eof()

    def finish(self) -> None:
        """End the connection once the request in progress (if any) is answered."""
        self._closing = True
        if not self.busy:
            self.stop()

    async def _answer(self, events: asyncio.Queue[Event]) -> None:
        while not self._closing:
            event = await events.get()
            self.busy = True
            try:
                if SynthesizeStart.is_type(event.type):
                    await StreamedSynthesis(self, self._request_id()).run(event.data, events)
                else:
                    await self.handle(event)
            except ServiceError as exc:  # after the audio began: the stream cannot go on
                await self.error(exc, self.name)
            except (ConnectionError, TimeoutError):
                raise  # the client is gone (or stopped reading): the connection ends
            except Exception:  # noqa: BLE001 - as the HTTP API's last handler: a 500, logged
                logger.exception("[%s] Unhandled error", self.name)
                await self.write(Error(text="Internal server error.", code="server_error").event())
            finally:
                self.busy = False
                self.went_idle()

    async def _next_event(self, head_deadline: float | None) -> Event | None:
        """The next event, or None once the client hung up or stayed silent too long: the
        first one's header line by ``head_deadline``, a later one's within the header timeout of
        its first byte, which may be awaited for the keep-alive timeout while nothing is being
        answered (and for as long as it takes while something is), for the stream idle timeout
        while a streaming request waits for its text."""
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout_at(head_deadline or self._idle_deadline()) as self._idle:
                start = await self.reader.read(1)
        except TimeoutError:
            if self.taking_text:
                logger.info(
                    "[%s] no event for %gs in a streaming request: closed",
                    self.name, self.stream_idle_timeout,
                )  # fmt: skip
            return None
        finally:
            self._idle = None
        if not start:
            return None
        return await read_event(
            self.reader, start, self.max_event_bytes,
            head_deadline=head_deadline or loop.time() + self.header_timeout,
            body_timeout=self.body_timeout,
        )  # fmt: skip

    def _idle_deadline(self) -> float | None:
        """When a connection with no request in progress is closed, or one whose streaming
        request waits for text; None while a request is answered or read ahead."""
        if not self._events.empty():
            return None
        now = asyncio.get_running_loop().time()
        if self.taking_text:
            return now + self.stream_idle_timeout
        if self.busy:
            return None
        return now + self.keepalive_timeout

    def went_idle(self) -> None:
        """A request was answered, or a streaming request took its events read ahead: the wait
        for the next event, if under way, now has a bound."""
        if self._idle is not None and self._idle.when() is None:
            self._idle.reschedule(self._idle_deadline())

    async def handle(self, event: Event) -> None:
        """Answer one event."""
        if Describe.is_type(event.type):
            await self.write(service_info(self.speech().voices).event())
        elif Synthesize.is_type(event.type):
            await self.synthesize(event.data)
        elif SynthesizeChunk.is_type(event.type) or SynthesizeStop.is_type(event.type):
            await self.error(
                InvalidRequestError(
                    f"No streaming request is in progress: send synthesize-start before "
                    f"{event.type}.", param="type", code="no_turn",
                ),
                self._request_id(),
            )  # fmt: skip

    def _request_id(self) -> str:
        return f"{self.name}-{next(self._requests)}"

    async def synthesize(self, data: dict[str, Any]) -> None:
        """Answer one ``synthesize`` (its ``data``): audio as it is ready, or an ``error``."""
        request_id = self._request_id()
        try:
            service = self.speech()
            body = speech_request(data, service.voices, service.settings.default_voice)
            speech = await service.create(
                body, request_id=request_id, cancel_reason=lambda: self.cancel_reason()
            )
        except ServiceError as exc:
            await self.error(exc, request_id)
            return
        rate = service.synthesizer.sample_rate
        async with contextlib.aclosing(speech.items) as items:
            await self.write(AudioStart(rate=rate, width=SAMPLE_WIDTH, channels=CHANNELS).event())
            async for item in items:
                if item.data:
                    chunk = AudioChunk(
                        rate=rate, width=SAMPLE_WIDTH, channels=CHANNELS, audio=item.data
                    )
                    await self.write(chunk.event())
        await self.write(AudioStop().event())

    async def refuse(self, exc: ServiceError) -> None:
        """Say ``exc`` (within ``FAREWELL_S``) and close, before reading anything."""
        try:
            with contextlib.suppress(ConnectionError, TimeoutError):
                await asyncio.wait_for(self.error(exc, self.name), FAREWELL_S)
        finally:
            self.writer.close()

    async def error(self, exc: ServiceError, request_id: str) -> None:
        """The ``error`` event for a refused request, logged and counted like the HTTP API's."""
        self.metrics.count_error(exc.status_code, exc.error_type, exc.code)
        logger.info(
            "[%s] Wyoming error: type=%s code=%s param=%s message=%r",
            request_id, exc.error_type, exc.code, exc.param, exc.message,
        )  # fmt: skip
        await self.write(Error(text=exc.message, code=exc.code or exc.error_type).event())

    async def write(self, event: Event) -> None:
        """Send ``event``; a client that accepts none of it for ``send_timeout`` is dropped."""
        try:
            await asyncio.wait_for(async_write_event(event, self.writer), self.send_timeout)
        except TimeoutError:
            self.cancel_reason = _send_timeout
            self.writer.transport.abort()
            raise


def _send_timeout() -> str:
    return "send_timeout"


def _shutdown() -> str:
    return "shutdown"
