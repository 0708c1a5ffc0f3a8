"""The streaming pipeline: sentences → chunks → inference scheduler → trimmed PCM with pauses.

Inference (and phonemization) never runs on the event loop: each chunk is a task for the
shared :class:`~tts_service.scheduler.Scheduler`. A stream keeps at most ``lookahead_chunks``
chunks in flight ahead of the one being sent, so the next chunks are synthesized (on several
cores at once) while the current one is encoded and sent, yet a slow client never makes the
server synthesize a whole book ahead. Each queued chunk tells the scheduler how urgent it is:
its deadline is when the listener, playing in real time from the first chunk on, reaches it.
Closing the stream (the client went away) cancels everything not yet started.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import weakref
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from functools import partial

import numpy as np
from kokoro_onnx.trim import trim

from tts_service import policy
from tts_service.backends import Backend
from tts_service.chunking import Chunk, Pauses, plan_chunks
from tts_service.config import Settings
from tts_service.errors import NoSpeechError, OverloadedError
from tts_service.metrics import Metrics
from tts_service.policy import Playback
from tts_service.scheduler import Scheduler
from tts_service.text import Boundary, Sentence, split_sentences
from tts_service.text.phonemes import MAX_TOKENS, Phonemizer
from tts_service.timestamps import WordSpan, word_spans
from tts_service.voices import Voice

logger = logging.getLogger(__name__)

# Keep a little of the model's edge silence so soft onsets and endings are not clipped.
_EDGE_MARGIN_S = 0.03
_SHUTDOWN_WAIT_S = 60.0
"""Longest wait at shutdown for chunks already running (one chunk takes seconds)."""


@dataclass(frozen=True)
class AudioChunk:
    index: int
    samples: np.ndarray
    tokens: int
    done_at: float
    """Wall-clock time (``time.time()``) when synthesis of this chunk finished."""
    words: list[WordSpan] = field(default_factory=list)
    """Where its words are, when the stream was asked for word timestamps."""


def speech_bounds(audio: np.ndarray, sample_rate: int) -> tuple[int, int]:
    """Where the model's speech starts and ends, with a short margin of its edge silence."""
    if audio.size == 0:
        return 0, 0
    _, (start, end) = trim(audio, top_db=50)
    margin = int(_EDGE_MARGIN_S * sample_rate)
    return max(0, int(start) - margin), min(audio.size, int(end) + margin)


@dataclass
class SpeechStream:
    """One request's chunks, synthesized ahead by at most ``lookahead`` chunks."""

    plan: Iterator[Chunk]
    backend: Backend
    phonemizer: Phonemizer
    voice: Voice
    speed: float
    scheduler: Scheduler
    lookahead: int
    metrics: Metrics
    request_id: str = "-"
    margin: float = 8.0
    """Seconds of slack below which this stream's chunks go ahead of late ones (see scheduler)."""
    on_close: Callable[[], None] | None = None
    timestamps: bool = False
    """Locate each chunk's words in its audio (the backend must give durations)."""
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _pending: deque[asyncio.Task[AudioChunk | None]] = field(default_factory=deque)
    _closed: bool = False
    _exhausted: bool = False
    _submitted: int = 0
    _planned: dict[int, Chunk] = field(default_factory=dict)
    _plan_next: int = 0
    _plan_done: bool = False
    _phonemes: dict[int, int] = field(default_factory=dict)
    _seconds: dict[int, float] = field(default_factory=dict)
    _delivered: int = 0
    _delivered_seconds: float = 0.0
    _playback_start: float | None = None

    def _take(self, n: int) -> Chunk | None:
        """The ``n``-th chunk of the plan, whichever worker thread gets here first."""
        with self._lock:
            if self._closed:
                return None
            while self._plan_next <= n and not self._plan_done:
                chunk = next(self.plan, None)
                if chunk is None:
                    self._plan_done = True
                else:
                    self._planned[self._plan_next] = chunk
                    self._phonemes[self._plan_next] = len(chunk.phonemes)
                    self._plan_next += 1
            return self._planned.pop(n, None)

    def _urgency(self, n: int, now: float) -> policy.Key:
        """How urgent chunk ``n`` is at ``now`` (``time.monotonic()``), for the scheduler."""
        playback = Playback(self._playback_start, self._delivered, self._delivered_seconds)
        before = (
            policy.audio_guess(self._phonemes.get(k), self._seconds.get(k))
            for k in range(self._delivered, n)
        )
        phonemes = self._phonemes.get(n, policy.GUESS_PHONEMES)
        return policy.urgency(
            deadline=policy.deadline(playback, before, now),
            compute=phonemes * self.scheduler.seconds_per_phoneme,
            now=now,
            margin=self.margin,
            established=self._delivered_seconds >= self.margin,
        )

    async def _produce(self, n: int) -> AudioChunk | None:
        """Plan chunk ``n`` (phonemize, off the event loop), then have the scheduler synthesize
        it. Planning never queues behind inference: the end of a stream is known at once."""
        chunk = await asyncio.to_thread(self._take, n)
        if chunk is None:
            return None
        urgency = None if n == 0 else partial(self._urgency, n)
        task = self.scheduler.submit(partial(self._synthesize, chunk), urgency)
        return await asyncio.wrap_future(task)

    def _synthesize(self, chunk: Chunk) -> AudioChunk:
        """Runs on an inference worker thread."""
        n = chunk.index
        started = time.perf_counter()
        tokens = self.phonemizer.tokenize(chunk.phonemes)
        style = self.voice.style_for(len(tokens))
        durations = None
        if self.timestamps:
            audio, durations = self.backend.synthesize_with_durations(tokens, style, self.speed)
        else:
            audio = self.backend.synthesize(tokens, style, self.speed)
        start, end = speech_bounds(audio, self.backend.sample_rate)
        words = []
        if durations is not None:
            words = word_spans(chunk.phonemes, chunk.words, durations, start, end - start)
        audio = audio[start:end]
        if chunk.pause:
            silence = np.zeros(int(chunk.pause * self.backend.sample_rate), dtype=np.float32)
            audio = np.concatenate([audio, silence])
        elapsed = time.perf_counter() - started
        done_at = time.time()
        self._seconds[n] = audio.size / self.backend.sample_rate
        self.scheduler.observe(len(tokens), elapsed)
        self.metrics.chunk_synthesis.observe(elapsed)
        logger.debug(
            "[%s] chunk %d: %d tokens, %.2fs audio, synthesized in %.3fs, done_at=%.6f, text=%r",
            self.request_id, chunk.index, len(tokens), audio.size / self.backend.sample_rate, elapsed,
            done_at, chunk.text[:60],
        )  # fmt: skip
        return AudioChunk(chunk.index, audio, len(tokens), done_at, words)

    def _fill(self) -> None:
        while not self._exhausted and len(self._pending) < self.lookahead:
            self._pending.append(asyncio.ensure_future(self._produce(self._submitted)))
            self._submitted += 1
            self.metrics.queued_chunks.inc()

    async def next_chunk(self) -> AudioChunk | None:
        """The next chunk in order, or None at the end; keeps the look-ahead full."""
        self._fill()
        if not self._pending:
            return None
        future = self._pending.popleft()
        try:
            result = await future
        finally:
            self.metrics.queued_chunks.dec()
        if result is None:
            self._exhausted = True
        else:
            if self._playback_start is None:
                self._playback_start = time.monotonic()
            self._delivered += 1
            self._delivered_seconds += result.samples.size / self.backend.sample_rate
            self._fill()
        return result

    async def first(self) -> AudioChunk:
        """Synthesize the first chunk; raises NoSpeechError when the text has nothing to speak."""
        chunk = await self.next_chunk()
        if chunk is None:
            raise NoSpeechError(
                "The input contains nothing speakable (only punctuation, symbols or emoji?).",
                param="input",
            )
        return chunk

    async def __aiter__(self) -> AsyncIterator[AudioChunk]:
        while (chunk := await self.next_chunk()) is not None:
            yield chunk

    def close(self) -> None:
        """Stop: no further chunk is planned or synthesized (one already running finishes)."""
        if self.on_close is not None:
            self.on_close()
        self._closed = True
        self._exhausted = True
        for future in self._pending:
            future.cancel()
        self.metrics.queued_chunks.dec(len(self._pending))
        self._pending.clear()


class Synthesizer:
    """Owns the backend, the phonemizer and the inference scheduler."""

    def __init__(
        self,
        backend: Backend,
        phonemizer: Phonemizer,
        settings: Settings,
        metrics: Metrics | None = None,
    ) -> None:
        self.backend = backend
        self.metrics = metrics or Metrics()
        self.phonemizer = phonemizer
        self.settings = settings
        self.pauses = Pauses(
            settings.sentence_pause, settings.clause_pause, settings.paragraph_pause
        )
        self.scheduler = Scheduler(
            settings.inference_workers, settings.urgent_workers, settings.background_nice
        )
        self.open_streams = 0
        """Streams started and not yet closed (all on the event loop thread)."""

    def check_capacity(self) -> None:
        """Raise OverloadedError when a new stream would exceed the configured limits."""
        settings = self.settings
        queued = self.scheduler.queued
        if policy.admits(
            open_streams=self.open_streams, queued=queued,
            max_streams=settings.max_streams, max_queued=settings.max_queued_chunks,
        ):  # fmt: skip
            return
        raise OverloadedError(
            f"The server is busy ({self.open_streams} streams, {queued} chunks waiting); "
            "retry shortly.",
            retry_after=policy.retry_after(
                queued=queued, seconds_per_phoneme=self.scheduler.seconds_per_phoneme,
                workers=settings.inference_workers + settings.urgent_workers,
            ),
        )  # fmt: skip

    def _release(self, released: list[bool]) -> None:
        if not released:
            released.append(True)
            self.open_streams -= 1

    @property
    def sample_rate(self) -> int:
        return self.backend.sample_rate

    def _growth(self) -> float:
        return policy.growth(self.settings.chunk_growth, self.scheduler.seconds_per_phoneme)

    def stream(
        self,
        text: str,
        voice: Voice,
        *,
        speed: float,
        lang: str | None = None,
        split: bool = True,
        request_id: str = "-",
        timestamps: bool = False,
    ) -> SpeechStream:
        """A stream of ``text``; ``split=False`` speaks it as few model-sized pieces as possible;
        ``timestamps`` locates the words of each chunk in its audio (``backend.durations``)."""
        if split:
            sentences = split_sentences(text)
        else:  # the baseline that streaming is measured against: one piece, as the model allows
            sentences = [Sentence(" ".join(text.split()), Boundary.NONE)]
        plan = plan_chunks(
            sentences,
            self.phonemizer,
            lang or voice.lang,
            group_phonemes=self.settings.group_phonemes if split else MAX_TOKENS,
            pauses=self.pauses,
            first_chunk_phonemes=self.settings.first_chunk_phonemes if split else MAX_TOKENS,
            growth=self._growth if split else 1000.0,
            words=timestamps,
        )
        self.open_streams += 1
        release = partial(self._release, [])  # once: on close, or when dropped unclosed
        stream = SpeechStream(
            plan, self.backend, self.phonemizer, voice, speed, self.scheduler,
            self.settings.lookahead, self.metrics, request_id, self.settings.playback_margin,
            release, timestamps,
        )  # fmt: skip
        weakref.finalize(stream, release)
        return stream

    def shutdown(self) -> None:
        """Blocking: stop the running chunks where the backend can, cancel the queued ones, and
        wait for what still runs (the process must not exit under a running inference)."""
        self.backend.interrupt()
        self.scheduler.shutdown(wait=_SHUTDOWN_WAIT_S)
