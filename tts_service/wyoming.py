"""Home Assistant's Wyoming protocol on its own TCP port (``TTS_WYOMING_PORT``): ``describe`` →
``info`` (every voice with its language), ``synthesize`` → ``audio-start``, ``audio-chunk``…,
``audio-stop``, each chunk sent as soon as it is synthesized. A thin front-end over
``SpeechService.create``, like the HTTP route, built on the ``wyoming`` library's events.

A connection answers its requests one at a time, in order, and keeps reading meanwhile: a
hang-up cancels the request being answered (its queued synthesis with it). A request that fails
(unknown voice, empty text, server busy) gets an ``error`` event with the message the HTTP API
gives, and the connection stays usable. Events this server does not take are dropped, as the
protocol asks; the streaming form (``synthesize-start``, ``-chunk``…, ``-stop``) is one of them
for now, and ``info`` says so (``supports_synthesize_streaming: false``), so Home Assistant
sends the whole text in one ``synthesize``.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import socket
import time
from collections.abc import Callable

from pydantic import ValidationError
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.error import Error
from wyoming.event import Event, async_read_event, async_write_event
from wyoming.info import Attribution, Describe, Info, TtsProgram, TtsVoice
from wyoming.tts import Synthesize

from tts_service import __version__
from tts_service.config import Settings
from tts_service.errors import InvalidRequestError, ServiceError
from tts_service.metrics import Metrics
from tts_service.pipeline.encoded import client_disconnected
from tts_service.schemas import SpeechRequest
from tts_service.serving import SpeechService
from tts_service.voices import VoiceStore, describe, language_tag

logger = logging.getLogger(__name__)

SAMPLE_WIDTH = 2
"""Bytes per sample of the audio sent: the ``pcm`` format's 16-bit little-endian mono."""
CHANNELS = 1
FAREWELL_S = 1.0
"""How long the ``error`` event that ends a request cut by shutdown may take to send."""
MAX_PENDING_EVENTS = 16
"""Events read ahead of the request being answered; more wait in the socket (back-pressure)."""

ATTRIBUTION = Attribution(
    name="Kokoro-82M by hexgrad (Apache-2.0)", url="https://huggingface.co/hexgrad/Kokoro-82M"
)


def service_info(voices: VoiceStore) -> Info:
    """``info``: one TTS program listing every voice, with the language it speaks."""
    tts_voices = []
    for voice_id in voices.ids:
        card = describe(voice_id)
        tts_voices.append(
            TtsVoice(
                name=voice_id, attribution=ATTRIBUTION, installed=True,
                description=f"{card.name} ({card.language}, {card.gender})", version="1.0",
                languages=[language_tag(voice_id)],
            )
        )  # fmt: skip
    program = TtsProgram(
        name="tts-service", attribution=ATTRIBUTION, installed=True,
        description="Kokoro-82M text-to-speech (Apache-2.0), streamed sentence by sentence",
        version=__version__, voices=tts_voices, supports_synthesize_streaming=False,
    )  # fmt: skip
    return Info(tts=[program])


def speech_request(synthesize: Synthesize, voices: VoiceStore, default_voice: str) -> SpeechRequest:
    """The HTTP API's request for a ``synthesize`` event: its text, in the voice it names (a
    voice, a blend or an OpenAI name), else a voice of the language it names, as bare PCM."""
    voice = synthesize.voice
    spec: str | None = None
    if voice is not None and voice.name:
        spec = voice.name
    elif voice is not None and voice.language:
        spec = voices.for_language(voice.language, default_voice)
    try:
        return SpeechRequest(input=synthesize.text, voice=spec, response_format="pcm")
    except ValidationError as exc:
        first = exc.errors()[0]
        param = str(first["loc"][0]) if first["loc"] else None
        raise InvalidRequestError(f"{param}: {first['msg']}", param=param) from None


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
            reader, writer, self.speech, self.metrics, self.settings.send_timeout,
            f"wyoming-{next(self._names)}",
        )  # fmt: skip
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
