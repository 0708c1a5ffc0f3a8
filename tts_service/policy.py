"""The scheduling policy, as pure functions: which chunk runs next, who is admitted, what
``Retry-After`` says, how fast chunks grow, how long a chunk may be and what memory that takes.
No threads, no clocks: callers pass ``now``.

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
SECONDS_PER_PHONEME = 0.06
"""The most audio Kokoro makes per phoneme (a character of its phoneme string, spaces and
punctuation included) at speed 1, with ``EDGE_SECONDS`` more per chunk; at speed ``s``, both
over ``s``. Measured with ``python -m benchmarks.memory rate`` over the benchmark texts cut into
pieces of up to 100 and 510 phonemes (docs/performance.md, Memory): every piece's audio was at
most 0.60 s + 0.0598 s per phoneme (the median piece: 0.059-0.062 s per phoneme in all)."""
EDGE_SECONDS = 0.7
"""The most audio a chunk has beyond ``SECONDS_PER_PHONEME`` per phoneme: the silence at its
edges, which weighs most in short chunks (0.60 s measured, rounded up)."""
MB_PER_AUDIO_SECOND = 25.0
"""How far an inference's peak resident memory rises per second of its audio (onnxruntime's
working memory): at most 22.9 MB measured, from 15 to 61 s of audio (``python -m
benchmarks.memory growth``, docs/performance.md, Memory), rounded up."""
BASELINE_MB = 400.0
"""A replica's resident memory serving short phrases, before any long inference: 366-389 MB
measured after three (docs/performance.md, Start-up and memory), rounded up."""
PCM_MB_PER_SECOND = 24_000 * 4 / 1e6
"""Memory of one second of synthesized audio held for sending (24 kHz float32)."""


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


def chunk_phonemes(max_seconds: float, speed: float) -> int:
    """The most phonemes a chunk spoken at ``speed`` may have for its audio to last at most
    ``max_seconds`` (at least one; the planner also keeps to the model's own limit)."""
    return max(1, int((max_seconds * speed - EDGE_SECONDS) / SECONDS_PER_PHONEME))


def chunk_seconds(phonemes: int, speed: float) -> float:
    """The longest the audio of ``phonemes`` spoken at ``speed`` may last."""
    return (EDGE_SECONDS + phonemes * SECONDS_PER_PHONEME) / speed


def replica_memory_mb(
    *, inferences: int, max_chunk_seconds: float, streams: int, chunks_per_stream: int
) -> float:
    """The most resident memory a replica may need: its baseline, ``inferences`` running at once
    each making ``max_chunk_seconds`` of audio, and ``streams`` each holding
    ``chunks_per_stream`` such chunks of audio to send."""
    working = inferences * max_chunk_seconds * MB_PER_AUDIO_SECOND
    held = streams * chunks_per_stream * max_chunk_seconds * PCM_MB_PER_SECOND
    return BASELINE_MB + working + held
