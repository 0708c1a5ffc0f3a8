"""Response bodies for one speech stream: raw audio (streamed or whole) and SSE events.

All three share one generator, ``encoded_audio``, that encodes each chunk as soon as it is
synthesized and yields to the event loop after it. Each item it yields carries its bytes and
the words they hold (``EncodedAudio``).
"""

from __future__ import annotations

import asyncio
import base64
import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from contextlib import aclosing
from dataclasses import dataclass
from typing import NamedTuple

import anyio
from fastapi.responses import Response, StreamingResponse
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.types import Send

from tts_service.audio import MEDIA_TYPES, Encoder
from tts_service.metrics import Metrics
from tts_service.pipeline import AudioChunk, SpeechStream
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
server's grace period, so that the server's own cut (a clean disconnect) comes first."""


@dataclass
class StreamStats:
    """Per-request figures, logged as one line when the stream ends."""

    request_id: str
    chars: int
    voice: str
    fmt: str
    started: float
    metrics: Metrics
    cancel_reason: Callable[[], str] = lambda: "client_disconnected"
    """Asked when the stream is cut short: why (see ``tts_service.middleware.cancel_reason``)."""
    first_audio: float | None = None
    audio_seconds: float = 0.0
    samples: int = 0
    tokens: int = 0
    chunks: int = 0

    def audio_sent(self) -> None:
        if self.first_audio is None:
            self.first_audio = time.perf_counter()
            self.metrics.ttfa.observe(self.first_audio - self.started)

    def finish(self, outcome: str) -> None:
        """Log the request's one line and record its metrics."""
        total = time.perf_counter() - self.started
        ttfa = (self.first_audio - self.started) if self.first_audio else float("nan")
        self.metrics.requests.labels(outcome).inc()
        self.metrics.audio_seconds.inc(self.audio_seconds)
        if outcome == "cancelled":
            reason = self.cancel_reason()
            self.metrics.cancelled_streams.labels(reason).inc()
            outcome = f"cancelled ({reason})"
        if outcome == "done":
            self.metrics.request_duration.observe(total)
            if self.audio_seconds:
                self.metrics.real_time_factor.observe(total / self.audio_seconds)
        logger.info(
            "[%s] speech %s: %d chars, %d chunks, voice %s, %s, TTFA %.3fs, total %.3fs, "
            "audio %.2fs, RTF %.3f (%.1fx real time)",
            self.request_id, outcome, self.chars, self.chunks, self.voice, self.fmt, ttfa, total,
            self.audio_seconds, total / self.audio_seconds if self.audio_seconds else float("nan"),
            self.audio_seconds / total if total else 0.0,
        )  # fmt: skip


class EncodedAudio(NamedTuple):
    """One item of an encoded stream: bytes of audio and the words they complete."""

    data: bytes
    words: tuple[WordTimestamp, ...] | None = None
    """With word timestamps, the words of the chunks encoded since the item before (in seconds
    from the start of the stream); None when they were not asked for."""


async def encoded_audio(
    stream: SpeechStream,
    first: AudioChunk,
    encoder: Encoder,
    sample_rate: int,
    stats: StreamStats,
    timestamps: bool = False,
) -> AsyncGenerator[EncodedAudio, None]:
    """Encode and yield each chunk as soon as it is synthesized (the stream's look-ahead keeps
    the next one synthesizing meanwhile). An exception propagates: the transfer is aborted, never
    finished as if complete. Leaving early (client gone) closes the stream: synthesis stops.
    With ``timestamps``, each item carries the words of the chunks encoded since the one before
    (a chunk whose encoding gave no bytes yet passes its words on to the next item)."""
    outcome = "failed"
    words: list[WordTimestamp] = []
    stats.metrics.active_streams.inc()
    try:
        chunk: AudioChunk | None = first
        while chunk is not None:
            data = await anyio.to_thread.run_sync(encoder.encode, chunk.samples)
            words.extend(
                WordTimestamp(
                    word=span.word,
                    start=round((stats.samples + span.start) / sample_rate, 3),
                    end=round((stats.samples + span.end) / sample_rate, 3),
                )
                for span in chunk.words
            )
            stats.chunks += 1
            stats.tokens += chunk.tokens
            stats.samples += chunk.samples.size
            stats.audio_seconds += chunk.samples.size / sample_rate
            if data:
                stats.audio_sent()
                yield EncodedAudio(data, _take(words) if timestamps else None)
                await asyncio.sleep(0)  # let the server flush this chunk now
            chunk = await stream.next_chunk()
        tail = await anyio.to_thread.run_sync(encoder.finish)
        if tail or words:  # the last chunks' words go even when their encoding gave no bytes
            yield EncodedAudio(tail, _take(words) if timestamps else None)
        outcome = "done"
    except (asyncio.CancelledError, GeneratorExit):
        outcome = "cancelled"
        raise
    finally:
        stream.close()
        encoder.close()
        stats.metrics.active_streams.dec()
        stats.finish(outcome)


def _take(words: list[WordTimestamp]) -> tuple[WordTimestamp, ...]:
    taken = tuple(words)
    words.clear()
    return taken


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


async def _events(
    audio: AsyncGenerator[EncodedAudio, None], stats: StreamStats
) -> AsyncIterator[ServerSentEvent]:
    try:
        async with aclosing(audio):  # closed with the events, whatever ends them
            async for item in audio:
                yield _delta(item)
    except Exception as exc:  # noqa: BLE001 - the stream has started: report in-band, then end
        logger.exception("[%s] speech failed mid-stream", stats.request_id)
        error = SpeechError(
            error=ErrorDetail(message=f"Synthesis failed: {exc}", type="server_error")
        )
        yield ServerSentEvent(data=error.model_dump_json(), event=error.type)
        return
    usage = Usage(input_tokens=stats.tokens, output_tokens=stats.samples)
    done = SpeechAudioDone(usage=usage)
    yield ServerSentEvent(data=done.model_dump_json(), event=done.type)


def sse_response(
    audio: AsyncGenerator[EncodedAudio, None],
    stats: StreamStats,
    headers: dict[str, str],
    shutdown_grace: float,
) -> Response:
    """``text/event-stream``: one ``speech.audio.delta`` per encoded item (with its words, when
    timestamps were asked for), then ``speech.audio.done`` with usage (input = phoneme tokens,
    output = audio samples at 24 kHz). On shutdown it keeps streaming for the server's grace
    period, like an audio stream."""
    return EventSourceResponse(
        _events(audio, stats), headers=STREAM_HEADERS | headers, ping=SSE_PING_SECONDS,
        shutdown_grace_period=shutdown_grace + SSE_SHUTDOWN_MARGIN_S,
    )  # fmt: skip
