"""The look-ahead stream: one request's chunks, synthesized ahead by at most ``lookahead``.

Planning (phonemization) and inference never run on the event loop: each chunk is planned on a
thread, then its text stage and each of its windows (:mod:`tts_service.pipeline.assembly`) are
tasks for the shared :class:`~tts_service.scheduler.Scheduler`, and each window's audio is sent
as soon as it is rendered. So the next chunks are synthesized while the current one is encoded
and sent, yet a slow client never makes the server synthesize a whole book ahead. Each queued
task tells the scheduler how urgent it is (:mod:`tts_service.policy`): a first chunk's text stage
and first window go ahead of everything, every other window is due when its listener reaches
its audio. Closing the stream (the client went away) cancels everything not yet started.

With a phrase cache (:mod:`tts_service.phrase_cache`), a chunk whose audio the model made before
skips the scheduler and the model: its stored windows go through the same assembly as a
synthesized chunk's. Each chunk synthesized to its end, every window rendered, is offered to
the cache (which keeps the short ones).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Future
from dataclasses import dataclass, replace
from functools import partial
from typing import Any, TypeVar

import numpy as np

from tts_service import policy
from tts_service.audio.loudness import Leveller, at_gain, decibels_to_gain
from tts_service.backends import SAMPLE_RATE, SAMPLES_PER_FRAME, Prepared
from tts_service.chunking import Chunk
from tts_service.errors import NoSpeechError
from tts_service.metrics import Metrics
from tts_service.phrase_cache import CacheKey, PhraseCache, Rendition
from tts_service.pipeline.assembly import (
    ChunkAssembly,
    PreparedChunk,
    prepare_chunk,
    render_window,
)
from tts_service.pipeline.chunk import AudioChunk, Voicing
from tts_service.pipeline.plan import Plan
from tts_service.policy import Playback
from tts_service.scheduler import Metered, Scheduler, Urgency
from tts_service.text.timing import spoken_speed

logger = logging.getLogger(__name__)

_T = TypeVar("_T")
_Item = AudioChunk | BaseException | None
"""What a chunk on its way gives: its pieces in order, then (past the text's end) None, or
what went wrong."""


@dataclass(frozen=True)
class _InFlight:
    """One chunk on its way: what makes it, and its pieces as they come."""

    task: asyncio.Task[None]
    pieces: asyncio.Queue[_Item]


def _done(audio: np.ndarray) -> Future[np.ndarray]:
    future: Future[np.ndarray] = Future()
    future.set_result(audio)
    return future


def _total(spent: list[Metered]) -> Metered:
    """The tasks of ``spent`` as one."""
    return Metered(
        sum(m.elapsed for m in spent),
        sum(m.pool_seconds for m in spent),
        all(m.alone for m in spent),
    )


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
        shared: Callable[[], bool] = lambda: False,
        listening: bool = True,
        cache: PhraseCache | None = None,
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
        self.shared = shared
        """Whether other streams are open now (later chunks are then rendered in windows)."""
        self.listening = listening
        """Someone hears the first audio as it comes (False: a whole file, made for its end)."""
        self.leveller = leveller
        """Sets each chunk's gain, in reading order as chunks are delivered (None: the model's
        level)."""
        self.cache = cache
        """Where chunks synthesized before are found, and this stream's are kept (None: none)."""
        self.playback = Playback(start=None, delivered=0, delivered_seconds=0.0)
        """What has been delivered; replaced whole on each delivery, read by worker threads."""
        self._pending: deque[_InFlight] = deque()
        """The chunks on their way, in reading order."""
        self._gain: float | None = None
        """The gain of the chunk being delivered (set with its first piece)."""
        self._chunk_samples = 0
        """Samples delivered of the chunk being delivered."""
        self._submitted = 0
        self._exhausted = False
        self._seconds: dict[int, float] = {}
        """Measured audio length of each synthesized chunk, for the deadlines of later ones."""
        self._bounds: dict[int, float] = {}
        """The audio length of each chunk whose text stage ran (an upper bound: its edge
        silence untrimmed), for deadlines until it is synthesized."""
        self._synthesized_phonemes = 0
        self.closed = False

    def urgency(self, n: int, now: float) -> policy.Key:
        """How urgent chunk ``n`` is at ``now`` (``time.monotonic()``), for the scheduler."""
        phonemes = policy.phonemes_guess(self.plan.phonemes(n))
        return self._key(n, 0.0, phonemes * self.scheduler.seconds_per_phoneme, now)

    def _key(self, n: int, offset: float, compute: float, now: float) -> policy.Key:
        """The key of work on chunk ``n`` whose audio is due ``offset`` seconds into the chunk's
        and takes about ``compute`` seconds."""
        playback = self.playback
        before = (
            policy.audio_guess(self.plan.phonemes(k), self._seconds.get(k, self._bounds.get(k)))
            for k in range(playback.delivered, n)
        )
        return policy.urgency(
            deadline=policy.deadline(playback, before, now) + offset,
            compute=compute,
            now=now,
            margin=self.margin,
            established=playback.delivered_seconds >= self.margin,
        )

    async def _produce(self, n: int, pieces: asyncio.Queue[_Item]) -> None:
        """Plan chunk ``n`` (phonemize, off the event loop), then have the scheduler run its text
        stage and each of its windows, and put its pieces in ``pieces`` as they come (then None
        past the end, or what went wrong). Planning never queues behind inference: the end of a
        stream is known at once."""
        try:
            chunk = await self.plan.take_async(n)
            if chunk is None:
                pieces.put_nowait(None)
                return
            await self._chunk(chunk, pieces)
        except asyncio.CancelledError as exc:
            pieces.put_nowait(exc)
            raise
        except Exception as exc:  # noqa: BLE001 - handed to whoever takes the chunk's pieces
            pieces.put_nowait(exc)

    def _cache_key(self, chunk: Chunk) -> CacheKey | None:
        """Chunk ``chunk``'s key in the phrase cache (None: no cache)."""
        if self.cache is None or not self.cache.enabled:
            return None
        speed = spoken_speed(self.voicing.speed, chunk.rate)
        return self.cache.key(chunk.phonemes, self.voicing.voice.identity, speed)

    async def _chunk(self, chunk: Chunk, pieces: asyncio.Queue[_Item]) -> None:
        key = self._cache_key(chunk)
        if key is not None and self.cache is not None:
            found = self.cache.get(key, durations=self.voicing.timestamps)
            if found is not None:
                await self._replay(chunk, found, pieces)
                return
        await self._synthesize(chunk, pieces, key)

    async def _replay(self, chunk: Chunk, found: Rendition, pieces: asyncio.Queue[_Item]) -> None:
        """Chunk ``chunk`` from the phrase cache: its stored windows, assembled as when they
        were rendered; no scheduler, no model."""
        prepared = PreparedChunk(
            chunk, found.tokens, Prepared(found.frames, found.durations, None), found.windows,
            found.audio,
        )  # fmt: skip
        self._bounds[chunk.index] = prepared.seconds + chunk.lead + chunk.pause
        assembly = ChunkAssembly(prepared, self.voicing)
        samples = 0
        for audio in found.audio:
            piece = await asyncio.to_thread(assembly.add, audio)
            samples += piece.samples.size
            pieces.put_nowait(piece)
        self._seconds[chunk.index] = samples / self.voicing.sample_rate
        self._synthesized_phonemes += len(chunk.phonemes)
        logger.debug(
            "[%s] chunk %d: from the phrase cache, %.2fs audio, text=%r",
            self.request_id, chunk.index, samples / self.voicing.sample_rate, chunk.text[:60],
        )  # fmt: skip

    async def _synthesize(
        self, chunk: Chunk, pieces: asyncio.Queue[_Item], key: CacheKey | None
    ) -> None:
        n, scheduler = chunk.index, self.scheduler
        compute = len(chunk.phonemes) * scheduler.seconds_per_phoneme
        first = n == 0 or (
            self.plan.waits_for_text
            and policy.turn_chunk_is_first(self.playback, n, time.monotonic(), compute)
        )
        spent: list[Metered] = []
        urgency = None if first else partial(self.urgency, n)  # None: a first chunk
        task = scheduler.submit(partial(self._timed, spent, self._prepare, chunk), urgency)
        try:
            prepared: PreparedChunk = await asyncio.wrap_future(task)
        except asyncio.CancelledError:
            if task.cancelled():  # dropped from the queue before a worker took it
                self.metrics.cancelled_chunks.inc()
            raise
        self._bounds[n] = prepared.seconds + chunk.lead + chunk.pause
        if prepared.rendered:  # today's path: the whole chunk is there already
            renders = [_done(audio) for audio in prepared.rendered]
        else:
            renders = [
                scheduler.submit(
                    partial(self._timed, spent, render_window, prepared, self.voicing, k),
                    None if first and k == 0 else self._window_urgency(prepared, k, compute),
                    preemptible=True,
                )
                for k in range(len(prepared.windows))
            ]
        assembly = ChunkAssembly(prepared, self.voicing)
        samples = 0
        rendered: list[np.ndarray] = []
        try:
            for render in renders:
                audio = await asyncio.wrap_future(render)
                rendered.append(audio)
                piece = await asyncio.to_thread(assembly.add, audio)
                samples += piece.samples.size
                pieces.put_nowait(piece)
                if first and render is renders[0]:
                    self._observe_first(spent)
        finally:
            for render in renders:  # the client went away: its queued windows go too
                render.cancel()
        self._observed(chunk, prepared, spent, samples)
        if key is not None and self.cache is not None:  # every window rendered: complete
            durations = prepared.prepared.durations
            rendition = Rendition(
                prepared.tokens, prepared.prepared.frames, durations, prepared.windows,
                tuple(rendered),
            )  # fmt: skip
            self.cache.put(key, rendition)

    def _prepare(self, chunk: Chunk) -> PreparedChunk:
        """The text stage of ``chunk``, on a worker: whether others share the workers is read
        as it runs."""
        return prepare_chunk(chunk, self.voicing, self.shared(), self.listening)

    def _window_urgency(self, prepared: PreparedChunk, k: int, compute: float) -> Urgency:
        """The urgency of window ``k`` of a prepared chunk whose whole synthesis takes about
        ``compute`` seconds: its share of it, due when its audio is reached."""
        window, frames = prepared.windows[k], max(1, prepared.prepared.frames)
        durations = prepared.prepared.durations
        head = int(durations[0]) if durations is not None else 0
        offset = prepared.chunk.lead + max(0, window.start - head) * SAMPLES_PER_FRAME / SAMPLE_RATE
        share = compute * (window.render_end - window.start) / frames
        return partial(self._key, prepared.chunk.index, offset, share)

    def _timed(self, spent: list[Metered], run: Callable[..., _T], *args: Any) -> _T:
        """``run(*args)`` on an inference worker, its time added to ``spent``."""
        with self.scheduler.metered() as metered:
            result = run(*args)
        spent.append(metered[0])
        return result

    def _observe_first(self, spent: list[Metered]) -> None:
        """A first chunk's first audio: the text stage and the first window (or the whole chunk)."""
        self.scheduler.observe_first(_total(spent))

    def _observed(
        self, chunk: Chunk, prepared: PreparedChunk, spent: list[Metered], samples: int
    ) -> None:
        """Learn from a chunk's synthesis: its time, its audio's length."""
        measured = _total(spent)
        seconds = samples / self.voicing.sample_rate
        self._seconds[chunk.index] = seconds
        self._synthesized_phonemes += len(chunk.phonemes)
        self.scheduler.observe(prepared.tokens, measured.elapsed, measured)
        self.metrics.chunk_synthesis.observe(measured.elapsed)
        logger.debug(
            "[%s] chunk %d: %d tokens, %d windows, %.2fs audio, synthesized in %.3fs, "
            "done_at=%.6f, text=%r",
            self.request_id, chunk.index, prepared.tokens, len(prepared.windows), seconds,
            measured.elapsed, time.time(), chunk.text[:60],
        )  # fmt: skip

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

    def _fill(self) -> None:
        while not self._exhausted and len(self._pending) < self.lookahead:
            pieces: asyncio.Queue[_Item] = asyncio.Queue()
            task = asyncio.ensure_future(self._produce(self._submitted, pieces))
            self._pending.append(_InFlight(task, pieces))
            self._submitted += 1
            self.metrics.queued_chunks.inc()

    async def next_chunk(self) -> AudioChunk | None:
        """The next piece of audio in order (a whole chunk, or a window's piece of one), or None
        at the end; keeps the look-ahead full."""
        self._fill()
        if not self._pending:
            return None
        head = self._pending[0]
        item = await head.pieces.get()
        if not isinstance(item, AudioChunk) or item.last:
            self._pending.popleft()
            self.metrics.queued_chunks.dec()
        if isinstance(item, BaseException):
            raise item
        if item is None:
            self._exhausted = True
            return None
        result = self._deliver(item)
        if item.last:
            self._fill()
        return result

    def _deliver(self, piece: AudioChunk) -> AudioChunk:
        """``piece`` at the stream's gain, counted as delivered."""
        sample_rate = self.voicing.sample_rate
        if self.leveller is not None:
            if self._gain is None:  # a chunk's first piece sets its gain
                seconds = piece.samples.size / sample_rate
                self._gain = decibels_to_gain(self.leveller.gain_db(piece.loudness, seconds))
            piece = replace(piece, samples=at_gain(piece.samples, self._gain))
            if piece.last:
                self._gain = None
        self._chunk_samples += piece.samples.size
        played = self.playback
        start = time.monotonic() if played.start is None else played.start
        if piece.last:
            self.playback = Playback(
                start=start,
                delivered=played.delivered + 1,
                delivered_seconds=played.delivered_seconds + self._chunk_samples / sample_rate,
            )
            self._chunk_samples = 0
        elif played.start is None:
            self.playback = replace(played, start=start)
        return piece

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
        """Stop: no further chunk or window is planned or synthesized (one already running
        finishes)."""
        self.closed = True
        if self.on_close is not None:
            self.on_close()
        self.plan.close()
        self._exhausted = True
        for in_flight in self._pending:
            in_flight.task.cancel()
        self.metrics.queued_chunks.dec(len(self._pending))
        self._pending.clear()
