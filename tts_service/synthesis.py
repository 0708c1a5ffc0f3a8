"""The synthesizer: owns the backend, the phonemizer, the inference scheduler and the stream
slots, and opens a :class:`~tts_service.pipeline.SpeechStream` for a text.

The pipeline's stages are in :mod:`tts_service.pipeline`; the rules (which chunk runs next, who
is admitted) in :mod:`tts_service.policy`.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Iterator

from tts_service import policy
from tts_service.backends import Backend
from tts_service.chunking import Chunk, Pauses, plan_chunks
from tts_service.config import Settings
from tts_service.errors import OverloadedError
from tts_service.metrics import Metrics
from tts_service.pipeline import ChunkPlan, SpeechStream, Voicing
from tts_service.scheduler import Scheduler
from tts_service.text import Boundary, Sentence, split_sentences
from tts_service.text.phonemes import MAX_TOKENS, Phonemizer
from tts_service.voices import Voice

_UNSPLIT_GROWTH = 1000.0
"""Chunk growth for a text spoken unsplit: every chunk as long as the model allows."""


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
    """Owns the backend, the phonemizer, the inference scheduler and the stream slots."""

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
        self.slots = StreamSlots()

    @property
    def open_streams(self) -> int:
        """Streams started and not yet closed (or collected)."""
        return self.slots.open

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

    @property
    def sample_rate(self) -> int:
        return self.backend.sample_rate

    def _growth(self) -> float:
        return policy.growth(
            self.settings.chunk_growth,
            self.settings.chunk_growth_speed_share,
            self.scheduler.seconds_per_phoneme,
        )

    def plan(
        self,
        text: str,
        voice: Voice,
        *,
        lang: str | None = None,
        split: bool = True,
        timestamps: bool = False,
    ) -> Iterator[Chunk]:
        """The chunks of ``text``, planned lazily; ``split=False`` speaks it as few model-sized
        pieces as possible; ``timestamps`` keeps each chunk's words."""
        if split:
            sentences = split_sentences(text)
        else:  # the baseline that streaming is measured against: one piece, as the model allows
            sentences = [Sentence(" ".join(text.split()), Boundary.NONE)]
        return plan_chunks(
            sentences,
            self.phonemizer,
            lang or voice.lang,
            group_phonemes=self.settings.group_phonemes if split else MAX_TOKENS,
            pauses=self.pauses,
            first_chunk_phonemes=self.settings.first_chunk_phonemes if split else MAX_TOKENS,
            growth=self._growth if split else _UNSPLIT_GROWTH,
            words=timestamps,
        )

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
        """A stream of ``text`` (see ``plan``); ``timestamps`` locates the words of each chunk in
        its audio (``backend.durations``). It holds a slot until closed or collected."""
        chunks = self.plan(text, voice, lang=lang, split=split, timestamps=timestamps)
        release = self.slots.take()
        stream = SpeechStream(
            ChunkPlan(chunks),
            Voicing(self.backend, self.phonemizer, voice, speed, timestamps),
            scheduler=self.scheduler,
            metrics=self.metrics,
            lookahead=self.settings.lookahead,
            margin=self.settings.playback_margin,
            request_id=request_id,
            on_close=release,
        )
        weakref.finalize(stream, release)  # a stream dropped unclosed frees its slot too
        return stream

    def shutdown(self) -> None:
        """Blocking: stop the running chunks where the backend can, cancel the queued ones, and
        wait for what still runs, however long: the interpreter must not be torn down under a
        running inference. The server's exit deadline bounds the wait (``tts_service.server``)."""
        self.backend.interrupt()
        self.scheduler.shutdown(wait=None)
