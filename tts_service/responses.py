"""Response bodies for one speech stream: raw audio (streamed or whole) and SSE events.

All three share one generator, ``encoded_audio``, that encodes each chunk as soon as it is
synthesized and yields to the event loop after it.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import anyio
from fastapi.responses import Response, StreamingResponse
from sse_starlette import EventSourceResponse, ServerSentEvent

from tts_service.audio import MEDIA_TYPES, Encoder
from tts_service.metrics import Metrics
from tts_service.schemas import (
    ErrorDetail,
    SpeechAudioDelta,
    SpeechAudioDone,
    SpeechError,
    Usage,
    WordTimestamp,
)
from tts_service.synthesis import AudioChunk, SpeechStream

logger = logging.getLogger(__name__)

STREAM_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
SSE_PING_SECONDS = 10


@dataclass
class StreamStats:
    """Per-request figures, logged as one line when the stream ends."""

    request_id: str
    chars: int
    voice: str
    fmt: str
    started: float
    metrics: Metrics
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


async def encoded_audio(
    stream: SpeechStream,
    first: AudioChunk,
    encoder: Encoder,
    sample_rate: int,
    stats: StreamStats,
    words: list[WordTimestamp] | None = None,
) -> AsyncIterator[bytes]:
    """Encode and yield each chunk as soon as it is synthesized (the stream's look-ahead keeps
    the next one synthesizing meanwhile). An exception propagates: the transfer is aborted, never
    finished as if complete. Leaving early (client gone) closes the stream: synthesis stops.
    ``words`` receives each chunk's word timestamps, in seconds from the start of the stream,
    before the chunk's bytes are yielded."""
    outcome = "failed"
    stats.metrics.active_streams.inc()
    try:
        chunk: AudioChunk | None = first
        while chunk is not None:
            data = await anyio.to_thread.run_sync(encoder.encode, chunk.samples)
            if words is not None:
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
                yield data
                await asyncio.sleep(0)  # let the server flush this chunk now
            chunk = await stream.next_chunk()
        if tail := await anyio.to_thread.run_sync(encoder.finish):
            yield tail
        outcome = "done"
    except (asyncio.CancelledError, GeneratorExit):
        outcome = "cancelled"
        raise
    finally:
        stream.close()
        encoder.close()
        stats.metrics.active_streams.dec()
        stats.finish(outcome)


def audio_response(audio: AsyncIterator[bytes], fmt: str, headers: dict[str, str]) -> Response:
    return StreamingResponse(audio, media_type=MEDIA_TYPES[fmt], headers=STREAM_HEADERS | headers)


async def whole_file_response(
    audio: AsyncIterator[bytes], fmt: str, headers: dict[str, str]
) -> Response:
    data = b"".join([part async for part in audio])
    return Response(data, media_type=MEDIA_TYPES[fmt], headers=headers)


def _delta(data: bytes, words: list[WordTimestamp] | None) -> ServerSentEvent:
    """One delta event; with timestamps, it takes the words collected since the last one."""
    delta = SpeechAudioDelta(audio=base64.b64encode(data).decode("ascii"))
    if words is not None:
        delta.words = words.copy()
        words.clear()
    return ServerSentEvent(data=delta.model_dump_json(exclude_none=True), event=delta.type)


async def _events(
    audio: AsyncIterator[bytes], stats: StreamStats, words: list[WordTimestamp] | None
) -> AsyncIterator[ServerSentEvent]:
    try:
        async for data in audio:
            yield _delta(data, words)
        if words:  # the last chunks' encoding gave no bytes after them: their words still go
            yield _delta(b"", words)
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
    audio: AsyncIterator[bytes],
    stats: StreamStats,
    headers: dict[str, str],
    words: list[WordTimestamp] | None = None,
) -> Response:
    """``text/event-stream``: one ``speech.audio.delta`` per encoded chunk, then
    ``speech.audio.done`` with usage (input = phoneme tokens, output = audio samples at 24 kHz).
    ``words``: the list ``encoded_audio`` fills; each delta then carries the words that came
    since the one before."""
    return EventSourceResponse(
        _events(audio, stats, words), headers=STREAM_HEADERS | headers, ping=SSE_PING_SECONDS
    )
