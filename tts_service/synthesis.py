"""The synthesizer: owns the backend, the phonemizer, the inference scheduler, the stream
slots and the phrase cache, and opens a :class:`~tts_service.pipeline.SpeechStream` for a text.

The pipeline's stages are in :mod:`tts_service.pipeline`; the rules (which chunk runs next, who
is admitted) in :mod:`tts_service.policy`.
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections.abc import Callable, Iterator

from tts_service import policy
from tts_service.audio.loudness import Leveller
from tts_service.backends import Backend
from tts_service.chunking import Chunk, ChunkPlanner, Pauses
from tts_service.config import Settings
from tts_service.errors import OverloadedError
from tts_service.metrics import Metrics
from tts_service.phrase_cache import PhraseCache, model_identity
from tts_service.pipeline import ChunkPlan, Plan, SpeechStream, Voicing, WindowSizes
from tts_service.scheduler import Scheduler
from tts_service.text import Boundary, Sentence, split_sentences
from tts_service.text.phonemes import MAX_TOKENS, Phonemizer
from tts_service.text.timing import spoken_speed
from tts_service.voices import Voice

_UNSPLIT_GROWTH = 1000.0
_BUSY = {
    policy.Refusal.FIRST_AUDIO: "a new stream's first audio would wait too long",
    policy.Refusal.PLAYBACK: "the streams in progress could not all be kept playing",
    policy.Refusal.STREAMS: "it has as many streams as it takes",
    policy.Refusal.QUEUE: "it has as many chunks waiting as it takes",
}
"""Why a stream is refused, in the words of its 429."""
"""Chunk growth for a text spoken unsplit: every chunk as long as the model allows."""

logger = logging.getLogger(__name__)


class StreamSlots:
    """How many streams are open. A slot is released once, whichever thread releases it: on
    close (the event loop) or when its stream is garbage-collected unclosed (any thread)."""

    def __init__(self) -> None:
        # Reentrant: a finalizer may release a slot on a thread that holds the lock (taking one).
        self._lock = threading.RLock()
        self._open = 0

    @property
    def open(self) -> int:
        return self._open

    def take(self) -> Callable[[], None]:
        """Take a slot; returns its release, idempotent and thread-safe."""
        with self._lock:
            self._open += 1
        once = threading.Lock()

        def release() -> None:
            if once.acquire(blocking=False):  # the first call only
                with self._lock:
                    self._open -= 1

        return release


class Synthesizer:
    """Owns the backend, the phonemizer, the inference scheduler, the stream slots and the
    phrase cache."""

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
            settings.inference_workers, settings.urgent_workers, self._background_nice(),
            parallel=settings.parallel_inferences, preempt=self._preempt,
        )  # fmt: skip
        self.slots = StreamSlots()
        self.phrase_cache = PhraseCache(
            settings.phrase_cache_bytes, model_identity(backend.name, settings), self.metrics
        )
        self._streams: weakref.WeakSet[SpeechStream] = weakref.WeakSet()
        """The open streams, for admission (a stream dropped unclosed leaves by itself)."""

    def _preempt(self, thread: int) -> bool:
        """Stop the window rendering on ``thread`` for a first chunk (``Backend.preempt``)."""
        stopped = self.backend.preempt(thread)
        if stopped:
            self.metrics.preempted_windows.inc()
            logger.debug("stopped the window rendering on thread %d for a first chunk", thread)
        return stopped

    @property
    def open_streams(self) -> int:
        """Streams started and not yet closed (or collected)."""
        return self.slots.open

    def _seconds_per_phoneme(self) -> float:
        """The pool's measured time per phoneme (the inference time until measured)."""
        scheduler = self.scheduler
        return scheduler.pool_seconds_per_phoneme or scheduler.seconds_per_phoneme

    def _first_guess(self) -> float:
        """A first chunk's time on the idle server: measured, or guessed from the speed."""
        measured = self.scheduler.first_chunk_seconds
        return measured or policy.GUESS_FIRST_PHONEMES * self._seconds_per_phoneme()

    def _bounds(self) -> policy.Bounds:
        settings = self.settings
        return policy.Bounds(
            first_wait=settings.first_audio_wait or policy.FIRST_WAIT_CHUNKS * self._first_guess(),
            gap=settings.max_playback_gap,
            parallel=self.scheduler.parallel,
        )

    def check_capacity(self, chars: int, *, speed: float = 1.0, split: bool = True) -> None:
        """Raise OverloadedError (429) unless a new stream of ``chars`` characters at ``speed``
        is admitted (``policy.admit``): the hard limits, then the measured work ahead."""
        settings = self.settings
        per_phoneme, first_guess, growth = (
            self._seconds_per_phoneme(),
            self._first_guess(),
            self._growth(),
        )
        phonemes = chars * policy.PHONEMES_PER_CHAR
        total = phonemes * per_phoneme
        first = min(
            total, first_guess if split else min(phonemes, self._largest(speed)) * per_phoneme
        )
        later = total - first
        new = policy.Work(
            first=first, later=later, next=min(later, first * growth), buffered=0.0,
            load=policy.SPOKEN_PHONEMES_PER_SECOND * speed * per_phoneme,
        )  # fmt: skip
        now = time.monotonic()
        open_works = [
            stream.work(now, per_phoneme, first_guess, growth)
            for stream in list(self._streams)
            if not stream.closed
        ]
        queued = self.scheduler.queued
        decision = policy.admit(
            new, open_works, self._bounds(), queued=queued,
            max_streams=settings.max_streams, max_queued=settings.max_queued_chunks,
        )  # fmt: skip
        if decision.reason is None:
            return
        self.metrics.admission_refusals.labels(decision.reason.value).inc()
        raise OverloadedError(
            f"The server is busy: {_BUSY[decision.reason]} ({len(open_works)} streams, "
            f"{queued} chunks waiting); retry in {decision.retry_after} s.",
            retry_after=decision.retry_after,
        )

    @property
    def sample_rate(self) -> int:
        return self.backend.sample_rate

    def _growth(self) -> float:
        return policy.growth(
            self.settings.chunk_growth,
            self.settings.chunk_growth_speed_share,
            self.scheduler.seconds_per_phoneme,
        )

    def _largest(self, speed: float) -> int:
        """The most phonemes a chunk spoken at ``speed`` may have (``TTS_MAX_CHUNK_SECONDS``)."""
        return min(MAX_TOKENS, policy.chunk_phonemes(self.settings.max_chunk_seconds, speed))

    def planner(
        self,
        voice: Voice,
        *,
        speed: float = 1.0,
        lang: str | None = None,
        split: bool = True,
        timestamps: bool = False,
        normalize: bool = True,
        listening: bool = True,
        windows: bool = True,
    ) -> ChunkPlanner:
        """The planner of a text spoken at ``speed``; ``split=False`` speaks it as few pieces as
        possible; ``timestamps`` keeps each chunk's words; ``normalize`` reads numbers, money,
        dates… as words. No chunk's audio lasts longer than ``max_chunk_seconds`` at ``speed``.
        ``listening=False``: nobody hears the audio before the whole reply is made (a whole
        file), so its sentences go in chunks as large as the model (and ``group_phonemes``)
        allows, the first one too: fewest inferences, soonest done."""
        small = split and listening  # chunks that start small and grow, for early first audio
        return ChunkPlanner(
            self.phonemizer,
            lang or voice.lang,
            group_phonemes=self.settings.group_phonemes if split else MAX_TOKENS,
            pauses=self.pauses,
            first_chunk_phonemes=self._first_chunk_phonemes(windows) if small else MAX_TOKENS,
            growth=self._growth if small else _UNSPLIT_GROWTH,
            words=timestamps,
            max_phonemes=lambda rate: self._largest(spoken_speed(speed, rate)),
            normalize=normalize,
            first_alone=listening,
        )

    def plan(
        self,
        text: str,
        voice: Voice,
        *,
        speed: float = 1.0,
        lang: str | None = None,
        split: bool = True,
        timestamps: bool = False,
        normalize: bool = True,
        listening: bool = True,
    ) -> Iterator[Chunk]:
        """The chunks of ``text`` (see ``planner``), planned lazily."""
        if split:
            sentences = split_sentences(text)
        else:  # the baseline that streaming is measured against: one piece, as the model allows
            sentences = [Sentence(" ".join(text.split()), Boundary.NONE)]
        planner = self.planner(
            voice, speed=speed, lang=lang, split=split, timestamps=timestamps,
            normalize=normalize, listening=listening,
        )  # fmt: skip
        return planner.chunks(sentences)

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
        normalize: bool = True,
        listening: bool = True,
    ) -> SpeechStream:
        """A stream of ``text`` (see ``plan``); ``timestamps`` locates the words of each chunk in
        its audio (``backend.durations``). It holds a slot until closed or collected."""
        chunks = self.plan(
            text, voice, speed=speed, lang=lang, split=split, timestamps=timestamps,
            normalize=normalize, listening=listening,
        )  # fmt: skip
        plan = ChunkPlan(chunks, round(len(text) * policy.PHONEMES_PER_CHAR))
        return self.open_stream(
            plan, voice, speed=speed, timestamps=timestamps, request_id=request_id,
            listening=listening,
        )  # fmt: skip

    def open_stream(
        self,
        plan: Plan,
        voice: Voice,
        *,
        speed: float,
        timestamps: bool = False,
        request_id: str = "-",
        windows: bool = True,
        listening: bool = True,
    ) -> SpeechStream:
        """A stream of ``plan``'s chunks (a whole text's, or a turn's as its text arrives). It
        holds a slot until closed or collected. ``windows=False``: every chunk whole;
        ``listening=False``: nobody hears the audio before its end (see ``plan``)."""
        release = self.slots.take()
        stream = SpeechStream(
            plan,
            Voicing(
                self.backend,
                self.phonemizer,
                voice,
                speed,
                timestamps,
                windows=self._window_sizes() if windows else None,
            ),  # fmt: skip
            scheduler=self.scheduler,
            metrics=self.metrics,
            lookahead=self.settings.lookahead,
            margin=self.settings.playback_margin,
            request_id=request_id,
            on_close=release,
            leveller=Leveller(
                self.settings.loudness_target, self.settings.loudness_chunk_correction
            ),
            shared=lambda: self.slots.open > 1,
            listening=listening,
            cache=self.phrase_cache,
        )
        self._streams.add(stream)
        weakref.finalize(stream, release)  # a stream dropped unclosed frees its slot too
        return stream

    def _first_chunk_phonemes(self, windows: bool = True) -> int:
        """``TTS_FIRST_CHUNK_PHONEMES`` where chunks are synthesized whole (``windows=False``: a
        turn's); with windows a first sentence is never cut (its first window comes as soon:
        docs/performance.md, Windows)."""
        if windows and self._window_sizes() is not None and self.backend.windowed:
            return MAX_TOKENS
        return self.settings.first_chunk_phonemes

    def _background_nice(self) -> int:
        """``TTS_BACKGROUND_NICE``, or where unset: 0 with windows, 10 without."""
        if self.settings.background_nice is not None:
            return self.settings.background_nice
        return 0 if self._window_sizes() is not None and self.backend.windowed else 10

    def _window_sizes(self) -> WindowSizes | None:
        settings = self.settings
        if not settings.windows:
            return None
        return WindowSizes(
            settings.window_first_frames, settings.window_growth, settings.window_largest_frames,
            settings.window_shared_frames,
        )  # fmt: skip

    def shutdown(self) -> None:
        """Blocking: stop the running chunks where the backend can, cancel the queued ones, and
        wait for what still runs, however long: the interpreter must not be torn down under a
        running inference. The server's exit deadline bounds the wait (``tts_service.server``)."""
        self.backend.interrupt()
        self.scheduler.shutdown(wait=None)
