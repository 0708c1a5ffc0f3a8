"""The look-ahead stream: one request's chunks, synthesized ahead by at most ``lookahead``.

Planning (phonemization) and inference never run on the event loop: each chunk is planned on a
thread, then is a task for the shared :class:`~tts_service.scheduler.Scheduler`. So the next
chunks are synthesized (on several cores at once) while the current one is encoded and sent,
yet a slow client never makes the server synthesize a whole book ahead. Each queued chunk tells
the scheduler how urgent it is (:mod:`tts_service.policy`). Closing the stream (the client went
away) cancels everything not yet started.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from functools import partial

from tts_service import policy
from tts_service.audio.loudness import Leveller
from tts_service.chunking import Chunk
from tts_service.errors import NoSpeechError
from tts_service.metrics import Metrics
from tts_service.pipeline.chunk import AudioChunk, Voicing, synthesize_chunk
from tts_service.pipeline.plan import Plan
from tts_service.policy import Playback
from tts_service.scheduler import Scheduler

logger = logging.getLogger(__name__)


class SpeechStream:
    """One request's chunks in reading order, synthesized ahead by at most ``lookahead``."""

    def __init__(
        self,
        plan: Plan,
        voicing: Voicing,
        *,
        scheduler: Scheduler,
        metrics: Metrics,
        lookahead: int,
        margin: float = 8.0,
        request_id: str = "-",
        on_close: Callable[[], None] | None = None,
        leveller: Leveller | None = None,
    ) -> None:
        self.plan = plan
        self.voicing = voicing
        self.scheduler = scheduler
        self.metrics = metrics
        self.lookahead = lookahead
        self.margin = margin
        """Seconds of slack below which this stream's chunks go ahead of late ones (policy)."""
        self.request_id = request_id
        self.on_close = on_close
        """Called on every close (it must be idempotent): releases the stream's slot."""
        self.leveller = leveller
        """Sets each chunk's gain, in reading order as chunks are delivered (None: the model's
        level)."""
        self.playback = Playback(start=None, delivered=0, delivered_seconds=0.0)
        """What has been delivered; replaced whole on each delivery, read by worker threads."""
        self._pending: deque[asyncio.Task[AudioChunk | None]] = deque()
        self._submitted = 0
        self._exhausted = False
        self._seconds: dict[int, float] = {}
        """Measured audio length of each synthesized chunk, for the deadlines of later ones."""
        self._synthesized_phonemes = 0
        self.closed = False

    def urgency(self, n: int, now: float) -> policy.Key:
        """How urgent chunk ``n`` is at ``now`` (``time.monotonic()``), for the scheduler."""
        playback = self.playback
        before = (
            policy.audio_guess(self.plan.phonemes(k), self._seconds.get(k))
            for k in range(playback.delivered, n)
        )
        phonemes = policy.phonemes_guess(self.plan.phonemes(n))
        return policy.urgency(
            deadline=policy.deadline(playback, before, now),
            compute=phonemes * self.scheduler.seconds_per_phoneme,
            now=now,
            margin=self.margin,
            established=playback.delivered_seconds >= self.margin,
        )

    async def _produce(self, n: int) -> AudioChunk | None:
        """Plan chunk ``n`` (phonemize, off the event loop), then have the scheduler synthesize
        it. Planning never queues behind inference: the end of a stream is known at once."""
        chunk = await self.plan.take_async(n)
        if chunk is None:
            return None
        compute = len(chunk.phonemes) * self.scheduler.seconds_per_phoneme
        first = n == 0 or (
            self.plan.waits_for_text
            and policy.turn_chunk_is_first(self.playback, n, time.monotonic(), compute)
        )
        urgency = None if first else partial(self.urgency, n)  # None: a first chunk
        task = self.scheduler.submit(partial(self._synthesize, chunk), urgency)
        try:
            return await asyncio.wrap_future(task)
        except asyncio.CancelledError:
            if task.cancelled():  # dropped from the queue before a worker took it
                self.metrics.cancelled_chunks.inc()
            raise

    def work(
        self, now: float, seconds_per_phoneme: float, first_guess: float, growth: float
    ) -> policy.Work:
        """What this stream still needs, for admission (see ``policy.Work``): compute at
        ``seconds_per_phoneme`` (the pool's), a first chunk not planned yet at ``first_guess``,
        a later one at ``growth`` times the one before."""
        if self._exhausted:
            return policy.Work(first=0.0, later=0.0, next=0.0, buffered=0.0, load=0.0)
        plan, playback = self.plan, self.playback
        seconds = dict(self._seconds)
        unsynthesized = max(0, plan.expected_phonemes - self._synthesized_phonemes)
        remaining = unsynthesized * seconds_per_phoneme
        first = 0.0
        if playback.start is None and 0 not in seconds:
            planned = plan.phonemes(0)
            first = first_guess if planned is None else planned * seconds_per_phoneme
            first = min(first, remaining)
        n = max(1, playback.delivered)
        while n in seconds:
            n += 1
        later = max(0.0, remaining - first)
        planned = plan.phonemes(n)
        if planned is not None:
            next_chunk = planned * seconds_per_phoneme
        else:  # chunks grow from the first on
            before = plan.phonemes(n - 1)
            next_chunk = growth * (first_guess if before is None else before * seconds_per_phoneme)
        buffered = sum(s for k, s in seconds.items() if k >= playback.delivered)
        if playback.start is not None:
            buffered += max(0.0, playback.start + playback.delivered_seconds - now)
        rate = policy.SPOKEN_PHONEMES_PER_SECOND * self.voicing.speed
        return policy.Work(
            first=first,
            later=later,
            next=min(later, next_chunk),
            buffered=buffered,
            load=rate * seconds_per_phoneme,
        )

    def _synthesize(self, chunk: Chunk) -> AudioChunk:
        """Runs on an inference worker thread."""
        with self.scheduler.metered() as metered:
            result = synthesize_chunk(chunk, self.voicing)
        measured = metered[0]
        elapsed = measured.elapsed
        done_at = time.time()
        seconds = result.samples.size / self.voicing.sample_rate
        self._seconds[chunk.index] = seconds
        self._synthesized_phonemes += len(chunk.phonemes)
        self.scheduler.observe(result.tokens, elapsed, measured)
        if chunk.index == 0:
            self.scheduler.observe_first(measured)
        self.metrics.chunk_synthesis.observe(elapsed)
        logger.debug(
            "[%s] chunk %d: %d tokens, %.2fs audio, synthesized in %.3fs, done_at=%.6f, text=%r",
            self.request_id, chunk.index, result.tokens, seconds, elapsed, done_at,
            chunk.text[:60],
        )  # fmt: skip
        return result

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
            if self.leveller is not None:
                seconds = result.samples.size / self.voicing.sample_rate
                samples = self.leveller.apply(result.samples, result.loudness, seconds)
                result = replace(result, samples=samples)
            played = self.playback
            self.playback = Playback(
                start=time.monotonic() if played.start is None else played.start,
                delivered=played.delivered + 1,
                delivered_seconds=played.delivered_seconds
                + result.samples.size / self.voicing.sample_rate,
            )
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
        self.closed = True
        if self.on_close is not None:
            self.on_close()
        self.plan.close()
        self._exhausted = True
        for future in self._pending:
            future.cancel()
        self.metrics.queued_chunks.dec(len(self._pending))
        self._pending.clear()
