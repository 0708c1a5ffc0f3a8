"""HTTP response bodies for one speech stream: raw audio (streamed or whole) and SSE events.

All three read one generator of encoded items (``tts_service.pipeline.encoded``), each with its
bytes and its words.
"""

from __future__ import annotations

import asyncio
import base64
import logging
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing

from fastapi.responses import Response, StreamingResponse
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.types import Send

from tts_service.audio import MEDIA_TYPES
from tts_service.captions import CaptionFormat, captions_text
from tts_service.pipeline.encoded import EncodedAudio, StreamStats
from tts_service.schemas import (
    ErrorDetail,
    SpeechAudioDelta,
    SpeechAudioDone,
    SpeechError,
    Usage,
    WordTimestamp,
)

logger = logging.getLogger(__name__)

STREAM_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
SSE_PING_SECONDS = 10
SSE_SHUTDOWN_MARGIN_S = 2.0
"""sse-starlette cancels event streams on shutdown by itself; it waits this much longer than the
server's grace period, so that the server's own cut (the ``error`` event) comes first."""
SHUTDOWN_MESSAGE = (
    "The server is shutting down and its grace period is over: this stream was cut short. "
    "Ask again (another replica) for the rest."
)


async def _audio_bytes(
    items: AsyncGenerator[EncodedAudio, None],
) -> AsyncGenerator[bytes, None]:
    """The bytes of ``items``, which are closed with this generator."""
    async with aclosing(items):
        async for item in items:
            if item.data:
                yield item.data


class AudioStreamingResponse(StreamingResponse):
    """A streamed body that is closed however sending ends (finished, failed, send timeout,
    cancelled): closing ``encoded_audio`` closes the stream, so its inference stops at once
    rather than whenever the abandoned generator is garbage-collected."""

    body_iterator: AsyncGenerator[bytes, None]

    async def stream_response(self, send: Send) -> None:
        async with aclosing(self.body_iterator):
            await super().stream_response(send)


def audio_response(
    audio: AsyncGenerator[EncodedAudio, None], fmt: str, headers: dict[str, str]
) -> Response:
    return AudioStreamingResponse(
        _audio_bytes(audio), media_type=MEDIA_TYPES[fmt], headers=STREAM_HEADERS | headers
    )


async def whole_file_response(
    audio: AsyncGenerator[EncodedAudio, None], fmt: str, headers: dict[str, str]
) -> Response:
    data = b"".join([part async for part in _audio_bytes(audio)])
    return Response(data, media_type=MEDIA_TYPES[fmt], headers=headers)


def _delta(item: EncodedAudio) -> ServerSentEvent:
    """One delta event, with the item's words when timestamps were asked for."""
    delta = SpeechAudioDelta(audio=base64.b64encode(item.data).decode("ascii"))
    if item.words is not None:
        delta.words = list(item.words)
    return ServerSentEvent(data=delta.model_dump_json(exclude_none=True), event=delta.type)


class _Cut(Exception):
    """The server's shutdown grace period is over: the stream ends before its end."""


async def _until(
    items: AsyncGenerator[EncodedAudio, None], stop: asyncio.Event
) -> AsyncGenerator[EncodedAudio, None]:
    """``items`` until ``stop`` is set: the item being made then is cancelled, which ends
    ``items`` (its stream is closed, its work cancelled), and ``_Cut`` is raised."""
    stopped = asyncio.ensure_future(stop.wait())
    pending: asyncio.Future[EncodedAudio] | None = None
    try:
        while True:
            pending = asyncio.ensure_future(anext(items))
            await asyncio.wait({pending, stopped}, return_when=asyncio.FIRST_COMPLETED)
            if not pending.done():
                raise _Cut
            try:
                item = pending.result()
            except StopAsyncIteration:
                return
            pending = None
            yield item
    finally:
        stopped.cancel()
        if pending is not None and not pending.done():
            pending.cancel()
            await asyncio.gather(pending, return_exceptions=True)  # its clean-up runs to the end


def _error_event(message: str, error_type: str, code: str | None = None) -> ServerSentEvent:
    error = SpeechError(error=ErrorDetail(message=message, type=error_type, code=code))
    return ServerSentEvent(data=error.model_dump_json(), event=error.type)


async def _events(
    audio: AsyncGenerator[EncodedAudio, None],
    stats: StreamStats,
    shutdown: asyncio.Event,
    captions: CaptionFormat | None,
) -> AsyncIterator[ServerSentEvent]:
    words: list[WordTimestamp] = []  # the stream's, kept for its captions
    try:
        async with aclosing(audio), aclosing(_until(audio, shutdown)) as items:  # closed with
            async for item in items:  # the events, whatever ends them
                if captions is not None and item.words:
                    words.extend(item.words)
                yield _delta(item)
    except _Cut:
        yield _error_event(SHUTDOWN_MESSAGE, "service_unavailable", "shutdown")
        return
    except Exception as exc:  # noqa: BLE001 - the stream has started: report in-band, then end
        logger.exception("[%s] speech failed mid-stream", stats.request_id)
        yield _error_event(f"Synthesis failed: {exc}", "server_error")
        return
    usage = Usage(input_tokens=stats.tokens, output_tokens=stats.samples)
    done = SpeechAudioDone(usage=usage)
    if captions is not None:
        done.captions = captions_text(words, captions)
    yield ServerSentEvent(data=done.model_dump_json(exclude_none=True), event=done.type)


def sse_response(
    audio: AsyncGenerator[EncodedAudio, None],
    stats: StreamStats,
    headers: dict[str, str],
    shutdown_grace: float,
    shutdown: asyncio.Event,
    captions: CaptionFormat | None = None,
) -> Response:
    """``text/event-stream``: one ``speech.audio.delta`` per encoded item (with its words, when
    timestamps were asked for), then ``speech.audio.done`` with usage (input = phoneme tokens,
    output = audio samples at 24 kHz) and, in the ``captions`` format asked for, the captions of
    all the words. On shutdown it keeps streaming for the server's grace
    period, like an audio stream; cut then (``shutdown`` is set: the request's
    ``middleware.shutdown_notice``), it ends with an ``error`` event of code ``shutdown``."""
    return EventSourceResponse(
        _events(audio, stats, shutdown, captions), headers=STREAM_HEADERS | headers, ping=SSE_PING_SECONDS,
        shutdown_grace_period=shutdown_grace + SSE_SHUTDOWN_MARGIN_S,
    )  # fmt: skip
