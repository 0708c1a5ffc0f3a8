"""Wyoming's streaming form, as Home Assistant (2025.7 and later) sends a language model's reply:
``synthesize-start`` (the voice), ``synthesize-chunk``… (the text as it is written),
``synthesize-stop``. A thin front-end over the serving layer's turns (:mod:`tts_service.turns`),
as the WebSocket is: the text is cut into sentences as it arrives and each is spoken as soon as
it is certain, so the audio (``audio-start``, ``audio-chunk``…, ``audio-stop``) goes out while
the text still arrives; ``synthesize-stopped`` ends the answer.

- The request's events are taken as they arrive while its audio is sent by a task of its own:
  the text never waits behind the audio it is to follow.
- Home Assistant also sends the whole text in one ``synthesize`` during the streaming request
  (for servers that do not stream): a ``synthesize`` that arrives between ``synthesize-start``
  and ``synthesize-stop`` is ignored. Other events (``describe``) are answered at once.
- Every ``synthesize-start`` gets, once its ``synthesize-stop`` has arrived and its audio is
  sent, exactly one ``synthesize-stopped``, last, whatever happened before: Home Assistant reads
  until it.
- A refused start (a voice that does not exist, data of another shape, the server busy) is an
  ``error`` event with the HTTP API's message, and no audio; its chunks are dropped. A chunk
  that would make the turn hold more unspoken text than ``TTS_MAX_BUFFERED_TEXT`` is an
  ``error`` (``buffer_full``) and is dropped, the rest goes on. A failure in the middle of the
  audio is an ``error`` in place of ``audio-stop``. A second ``synthesize-start`` before the
  stop is an ``error`` (``turn_in_progress``); a chunk or a stop with no streaming request in
  progress is an ``error`` (``no_turn``) (see the connection).
- The request holds a stream slot from its start (admission) until its audio ends. While it
  waits for text, its connection is closed only after ``TTS_STREAM_IDLE_TIMEOUT`` without an
  event (a language model that pauses is not gone), not the keep-alive timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING, Any

from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.error import Error
from wyoming.event import Event
from wyoming.tts import (
    Synthesize,
    SynthesizeChunk,
    SynthesizeStart,
    SynthesizeStop,
    SynthesizeStopped,
)

from tts_service.errors import InvalidRequestError, ServiceError
from tts_service.turns import Turn
from tts_service.wyoming.messages import CHANNELS, SAMPLE_WIDTH, chunk_text, turn_options

if TYPE_CHECKING:
    from tts_service.wyoming.connection import WyomingConnection

logger = logging.getLogger(__name__)


class StreamedSynthesis:
    """One streaming request on a connection: from its ``synthesize-start`` (already taken) to
    its ``synthesize-stopped``."""

    def __init__(self, connection: WyomingConnection, request_id: str) -> None:
        self.connection = connection
        self.request_id = request_id
        self.turn: Turn | None = None
        """The request's turn; None if its start was refused."""

    async def run(self, data: dict[str, Any], events: asyncio.Queue[Event]) -> None:
        """Answer the request whose ``synthesize-start`` had ``data``, taking its next events
        from ``events`` up to its ``synthesize-stop``."""
        connection = self.connection
        self.turn = turn = await self._open(data)
        speaking = asyncio.create_task(self._speak(turn)) if turn is not None else None
        connection.taking_text = True
        connection.went_idle()  # the wait for the next event has the streaming bound
        try:
            while not SynthesizeStop.is_type((event := await self._next(events, speaking)).type):
                await self._take(event)
            connection.taking_text = False
            if turn is not None:
                turn.end()
            if speaking is not None:
                await speaking  # raises if the client is gone
            await connection.write(SynthesizeStopped().event())
        finally:
            connection.taking_text = False
            if turn is not None:
                turn.close()
            if speaking is not None and not speaking.done():
                speaking.cancel()
                await asyncio.wait([speaking])

    async def _open(self, data: dict[str, Any]) -> Turn | None:
        """The request's turn, admitted; None (an ``error`` event sent) if it is refused."""
        connection = self.connection
        try:
            service = connection.speech()
            options = turn_options(data, service.voices, service.settings.default_voice)
            turn = service.open_turn(
                options, request_id=self.request_id,
                cancel_reason=lambda: connection.cancel_reason(),
            )  # fmt: skip
        except ServiceError as exc:
            await connection.error(exc, self.request_id)
            return None
        try:
            turn.begin()
        except ServiceError as exc:
            turn.close()
            await connection.error(exc, self.request_id)
            return None
        return turn

    async def _next(
        self, events: asyncio.Queue[Event], speaking: asyncio.Task[None] | None
    ) -> Event:
        """The request's next event; or what the audio task raised (the client is gone), if it
        fails first."""
        while speaking is not None and not speaking.done():
            getting = asyncio.ensure_future(events.get())
            try:
                await asyncio.wait({getting, speaking}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                if not getting.done():
                    getting.cancel()
            if getting.done() and not getting.cancelled():
                return getting.result()
        if speaking is not None:
            speaking.result()
        return await events.get()

    async def _take(self, event: Event) -> None:
        """One event of the request before its stop."""
        connection = self.connection
        connection.went_idle()  # the wait for the next event is bounded again
        if SynthesizeChunk.is_type(event.type):
            try:
                text = chunk_text(event.data)
                if self.turn is not None:
                    self.turn.feed(text)
            except ServiceError as exc:
                await connection.error(exc, self.request_id)
        elif Synthesize.is_type(event.type):
            logger.debug("[%s] whole-text synthesize ignored (streaming)", self.request_id)
        elif SynthesizeStart.is_type(event.type):
            await connection.error(
                InvalidRequestError(
                    "A streaming request is in progress: end it (synthesize-stop) first.",
                    param="type", code="turn_in_progress",
                ),
                self.request_id,
            )  # fmt: skip
        else:
            await connection.handle(event)

    async def _speak(self, turn: Turn) -> None:
        """Send the turn's audio as it is synthesized: ``audio-start`` (before the first
        chunk), ``audio-chunk``…, ``audio-stop``; an ``error`` event in place of the stop if
        synthesis fails."""
        connection = self.connection
        rate = turn.synthesizer.sample_rate
        started = False
        try:
            async with contextlib.aclosing(turn.audio()) as items:
                async for item in items:
                    if not item.data:
                        continue
                    if not started:
                        started = True
                        await connection.write(_audio_start(rate))
                    chunk = AudioChunk(
                        rate=rate, width=SAMPLE_WIDTH, channels=CHANNELS, audio=item.data
                    )
                    await connection.write(chunk.event())
            if not started:  # nothing to speak: an empty answer still has its start and stop
                await connection.write(_audio_start(rate))
            await connection.write(AudioStop().event())
        except ServiceError as exc:
            await connection.error(exc, self.request_id)
        except (ConnectionError, TimeoutError):
            raise  # the client is gone (or stopped reading): the connection ends
        except Exception:  # noqa: BLE001 - as the HTTP API's last handler: logged, the answer ends
            logger.exception("[%s] Wyoming streaming request failed", self.request_id)
            await connection.write(
                Error(text="Internal server error.", code="server_error").event()
            )


def _audio_start(rate: int) -> Event:
    return AudioStart(rate=rate, width=SAMPLE_WIDTH, channels=CHANNELS).event()
