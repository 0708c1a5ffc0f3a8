"""The scheduling policy, as pure functions: which chunk runs next, who is admitted, what
``Retry-After`` says, how fast chunks grow. No threads, no clocks: callers pass ``now``.

A free worker takes the queued chunk with the lowest key, ``(priority, order)``:

1. ``FIRST``: a first chunk; a listener is waiting in silence;
2. ``AT_RISK``: a chunk that must start within ``margin`` seconds or its listener hears a gap,
   or one already late for a listener who has heard ``margin`` seconds or more (least slack
   first) — this keeps a long-form stream playing while conversations come and go;
3. ``LATE``: a chunk that is already late (its listener is already waiting): earliest deadline
   first;
4. ``SPARE``: a chunk with time to spare: earliest deadline first.

A chunk's deadline is when the listener, playing in real time from the first chunk on,
reaches it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import IntEnum


class Priority(IntEnum):
    """A queued chunk's class; lower runs first."""

    FIRST = 0
    AT_RISK = 1
    LATE = 2
    SPARE = 3


Key = tuple[Priority, float]
"""A chunk's priority and its order within it (slack or deadline; lower runs first)."""

PHONEMES_PER_SECOND = 15.0
"""Speech runs at roughly this many phonemes per second: a guess at unsynthesized audio's length."""
GUESS_PHONEMES = 100
"""The length guessed for a chunk not planned yet."""
MAX_RETRY_AFTER_S = 60
"""The longest ``Retry-After`` an overloaded server asks for."""


@dataclass(frozen=True)
class Playback:
    """What a stream has delivered so far, as the deadline rule needs it."""

    start: float | None
    """When its first chunk was delivered (``time.monotonic()``); None before that."""
    delivered: int
    """How many chunks it has delivered."""
    delivered_seconds: float
    """How many seconds of audio those chunks hold."""


def phonemes_guess(phonemes: int | None) -> int:
    """A chunk's phonemes, or a typical chunk's while it is not planned yet (None)."""
    return GUESS_PHONEMES if phonemes is None else phonemes


def audio_guess(phonemes: int | None, seconds: float | None = None) -> float:
    """Seconds of audio of a chunk: its measured length once synthesized, else a guess from its
    phonemes (see ``phonemes_guess``)."""
    if seconds is not None:
        return seconds
    return phonemes_guess(phonemes) / PHONEMES_PER_SECOND


def deadline(playback: Playback, seconds_before: Iterable[float], now: float) -> float:
    """When the listener reaches a chunk: the audio delivered, then ``seconds_before`` (the
    undelivered chunks ahead of it), played in real time from the first chunk on (from ``now``
    while nothing has been delivered)."""
    start = playback.start if playback.start is not None else now
    return start + playback.delivered_seconds + sum(seconds_before)


def urgency(
    *, deadline: float, compute: float, now: float, margin: float, established: bool
) -> Key:
    """A later chunk's key: ``compute`` is the inference time it is expected to take; a stream is
    ``established`` once its listener has heard ``margin`` seconds.

    A listener who has already heard ``margin`` seconds is kept fed first, even once behind: a
    gap in the middle of a reading is what long-form must never have, while a short reply that
    is late anyway waits for spare time (its first audio never does)."""
    slack = deadline - compute - now
    if slack < 0 and not established:
        return (Priority.LATE, deadline)
    if slack < margin:
        return (Priority.AT_RISK, slack)
    return (Priority.SPARE, deadline)


def first_chunk_key() -> Key:
    return (Priority.FIRST, 0.0)


def admits(*, open_streams: int, queued: int, max_streams: int, max_queued: int) -> bool:
    """Whether a new stream may start: below both the stream and the queued-chunk limits."""
    return open_streams < max_streams and queued < max_queued


def retry_after(*, queued: int, seconds_per_phoneme: float, workers: int) -> int:
    """Seconds until a worker is likely free: the queued chunks (one at least) at the measured
    inference speed, shared by the workers; 1 to ``MAX_RETRY_AFTER_S``."""
    per_chunk = GUESS_PHONEMES * seconds_per_phoneme
    wait = max(queued, 1) * per_chunk / max(workers, 1)
    return min(MAX_RETRY_AFTER_S, max(1, round(wait)))


def growth(configured: float, speed_share: float, seconds_per_phoneme: float) -> float:
    """How many times longer than the longest chunk so far the next may be: the configured
    growth, or more where the model has been measured faster than that (``speed_share`` of its
    speed in multiples of real time; speech runs at 16-19 phonemes per second, and
    ``PHONEMES_PER_SECOND`` is a low guess), so that on a fast machine a long text soon goes in
    larger, more efficient chunks, while each still is ready before the audio before it has
    played."""
    speed = 1.0 / max(PHONEMES_PER_SECOND * seconds_per_phoneme, 1e-6)
    return max(configured, speed_share * speed)
