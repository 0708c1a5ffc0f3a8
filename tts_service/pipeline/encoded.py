"""The last stage: each synthesized chunk (or a window's piece of one) encoded as soon as it
comes, as items that carry their bytes and their words; and the request's figures, logged as one
line at the end. Independent of the protocol that sends the items."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass
from typing import NamedTuple

import anyio

from tts_service.audio import Encoder
from tts_service.metrics import Metrics
from tts_service.pipeline.chunk import AudioChunk
from tts_service.pipeline.stream import SpeechStream
from tts_service.schemas import WordTimestamp

logger = logging.getLogger(__name__)


def client_disconnected() -> str:
    """The reason a stream was cut short, when nothing better is known."""
    return "client_disconnected"


@dataclass
class StreamStats:
    """Per-request figures, logged as one line when the stream ends."""

    request_id: str
    chars: int
    voice: str
    fmt: str
    started: float
    metrics: Metrics
    cancel_reason: Callable[[], str] = client_disconnected
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
    text_end: int | None = None
    """Where the text whose audio this item completes ends in the source text (text streamed
    in); None when it completes none since the item before, or the source does not say."""


async def encoded_audio(
    stream: SpeechStream,
    first: AudioChunk | None,
    encoder: Encoder,
    stats: StreamStats,
) -> AsyncGenerator[EncodedAudio, None]:
    """Encode and yield each chunk as soon as it is synthesized (the stream's look-ahead keeps
    the next one synthesizing meanwhile). An exception propagates: the transfer is aborted, never
    finished as if complete. Leaving early (client gone) closes the stream: synthesis stops.
    With word timestamps, each item carries the words of the chunks encoded since the one before
    (a chunk whose encoding gave no bytes yet passes its words on to the next item, and where
    its text ends). ``first`` None: the stream had nothing to speak (a turn of streamed text may
    end so); the encoder's ending, if any, is all that comes."""
    sample_rate = stream.voicing.sample_rate
    timestamps = stream.voicing.timestamps
    outcome = "failed"
    words: list[WordTimestamp] = []
    text_end: int | None = None
    stats.metrics.active_streams.inc()
    try:
        chunk: AudioChunk | None = first
        while chunk is not None:
            data = b""
            if chunk.samples.size:  # a window's piece may be all trimmed silence
                data = await anyio.to_thread.run_sync(encoder.encode, chunk.samples)
            words.extend(
                WordTimestamp(
                    word=span.word,
                    start=round((stats.samples + span.start) / sample_rate, 3),
                    end=round((stats.samples + span.end) / sample_rate, 3),
                )
                for span in chunk.words
            )
            stats.chunks += chunk.last  # a chunk may come as several pieces (windows)
            stats.tokens += chunk.tokens
            stats.samples += chunk.samples.size
            stats.audio_seconds += chunk.samples.size / sample_rate
            text_end = chunk.text_end if chunk.text_end is not None else text_end
            if data:
                stats.audio_sent()
                yield EncodedAudio(data, _take(words) if timestamps else None, text_end)
                text_end = None
                await asyncio.sleep(0)  # let the server flush this chunk now
            chunk = await stream.next_chunk()
        tail = await anyio.to_thread.run_sync(encoder.finish)
        if tail or words or text_end is not None:
            # The last chunks' words go even when their encoding gave no bytes.
            yield EncodedAudio(tail, _take(words) if timestamps else None, text_end)
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
