"""One Wyoming client's connection. It answers its requests one at a time, in order, and keeps
reading meanwhile: a hang-up cancels the request being answered (its queued synthesis with it).
``synthesize`` is answered with ``audio-start``, ``audio-chunk``…, ``audio-stop``, each chunk sent
as soon as it is synthesized. A request that fails (unknown voice, empty text, server busy) gets
an ``error`` event with the message the HTTP API gives, and the connection stays usable. Events
this server does not take are dropped, as the protocol asks; the streaming form
(``synthesize-start``, ``-chunk``…, ``-stop``) is one of them for now, and ``info`` says so
(``supports_synthesize_streaming: false``), so Home Assistant sends the whole text in one
``synthesize``.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import Callable

from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.error import Error
from wyoming.event import Event, async_read_event, async_write_event
from wyoming.info import Describe
from wyoming.tts import Synthesize

from tts_service.errors import ServiceError
from tts_service.metrics import Metrics
from tts_service.pipeline.encoded import client_disconnected
from tts_service.serving import SpeechService
from tts_service.wyoming.messages import CHANNELS, SAMPLE_WIDTH, service_info, speech_request

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
        send_timeout: float,
        name: str,
    ) -> None:
        self.reader = reader
        self.writer = writer
        self.speech = speech
        self.metrics = metrics
        self.send_timeout = send_timeout
        self.name = name
        self.cancel_reason: Callable[[], str] = client_disconnected
        self.busy = False
        """A request is being answered."""
        self._closing = False
        self._requests = itertools.count(1)

    async def run(self) -> None:
        """Until the client hangs up (or sends what is not an event): read its events while
        the ones before are answered; a hang-up cancels the answer in progress."""
        events: asyncio.Queue[Event] = asyncio.Queue(MAX_PENDING_EVENTS)
        answering = asyncio.create_task(self._answer(events))
        try:
            while not answering.done():
                reading = asyncio.ensure_future(async_read_event(self.reader))
                await asyncio.wait({reading, answering}, return_when=asyncio.FIRST_COMPLETED)
                if not reading.done():  # the answers ended the connection (a write failed)
                    reading.cancel()
                    break
                event = reading.result()
                if event is None:  # hung up, or sent what is not an event
                    break
                await events.put(event)
        finally:
            cut = self.busy
            answering.cancel()
            with contextlib.suppress(asyncio.CancelledError, ConnectionError, TimeoutError):
                await answering
            if cut and self.cancel_reason is _shutdown:  # say why the audio stops
                with contextlib.suppress(ConnectionError, TimeoutError):
                    farewell = Error(text="The server is stopping.", code="shutdown")
                    await asyncio.wait_for(
                        async_write_event(farewell.event(), self.writer), FAREWELL_S
                    )
            self.writer.close()

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
                await self.handle(event)
            finally:
                self.busy = False

    async def handle(self, event: Event) -> None:
        """Answer one event."""
        if Describe.is_type(event.type):
            await self.write(service_info(self.speech().voices).event())
        elif Synthesize.is_type(event.type):
            await self.synthesize(Synthesize.from_event(event))
        # The streaming form (synthesize-start/-chunk/-stop) goes here, on the incremental
        # segmentation; until then its events are dropped like any other unknown event.

    async def synthesize(self, synthesize: Synthesize) -> None:
        """Answer one ``synthesize``: audio as it is ready, or an ``error`` event."""
        request_id = f"{self.name}-{next(self._requests)}"
        try:
            service = self.speech()
            body = speech_request(synthesize, service.voices, service.settings.default_voice)
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
