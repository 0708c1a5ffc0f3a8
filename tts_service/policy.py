"""The scheduling policy, as pure functions: which chunk runs next, who is admitted, what
``Retry-After`` says, how fast chunks grow, how long a chunk may be and what memory that takes.
No threads, no clocks: callers pass ``now``.

A free worker takes the queued chunk with the lowest key, ``(priority, order)``:

1. ``FIRST``: a first chunk; a listener is waiting in silence (or a turn of streamed text's next
   chunk, whose text came as its audio was running out: ``turn_chunk_is_first``);
2. ``AT_RISK``: a chunk that must start within ``margin`` seconds or its listener hears a gap,
   or one already late for a listener who has heard ``margin`` seconds or more (least slack
   first) — this keeps a long-form stream playing while conversations come and go;
3. ``LATE``: a chunk that is already late (its listener is already waiting): earliest deadline
   first;
4. ``SPARE``: a chunk with time to spare: earliest deadline first.

A chunk's deadline is when the listener, playing in real time from the first chunk on,
reaches it.

A new stream is admitted when the pool, doing the most urgent work first, can still start its
first chunk within a bound and keep every listener fed: for every time ahead, the work due by
then (first chunks, then each stream's audio as fast as it plays, from when its buffered audio
runs out) must fit in what the pool can do by then (``overcommitment``, ``admit``). A refused
request is told to retry when the excess will have been worked through.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import IntEnum, StrEnum


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
SPOKEN_PHONEMES_PER_SECOND = 18.0
"""A high guess at the same (16-19): what playing a second of audio at speed 1 costs, in the
model's phonemes."""
PHONEMES_PER_CHAR = 1.1
"""Phonemes per character of English text (1.0-1.3 measured): a guess at a text's work before
it is phonemized."""
FIRST_WAIT_CHUNKS = 1.5
"""Unless configured, a first chunk may wait this many times a first chunk's idle time for the
work ahead: first audio within about 2.5 times its idle figure, leaving room under three times
for the slowing of chunks that run together."""
GUESS_FIRST_PHONEMES = 30
"""The length guessed for a first chunk before one has been measured (a short sentence)."""
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
G2P_MB = {"espeak": 0.0, "auto": 430.0}
"""Resident memory of the G2P engines beyond espeak-ng, by ``TTS_G2P``: misaki with spaCy's
pipeline and its American dictionaries 209 MB, its British ones 55 MB more (measured in-process,
torch not counted: docs/results/g2p.md), its Mandarin G2P 126 MB and its Japanese one 31 MB more
(each loaded only once a voice of its language is used: docs/g2p.md), rounded up."""
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


HURRY_FACTOR = 1.5
"""How many times its estimated synthesis time a clause is started ahead of the audio running
out (the estimate is an average; a chunk may take longer)."""
HURRY_MARGIN_S = 0.3
"""Seconds more for planning, encoding and sending."""


def hurries(audio_left: float, synthesis_guess: float) -> bool:
    """Whether a turn of streamed text should speak its unfinished sentence up to its last clause
    now, rather than wait for the sentence to end: its listener has ``audio_left`` seconds of
    audio, and the clause would take about ``synthesis_guess`` seconds to synthesize."""
    return audio_left <= HURRY_FACTOR * synthesis_guess + HURRY_MARGIN_S


def turn_chunk_is_first(playback: Playback, n: int, now: float, compute: float) -> bool:
    """Whether chunk ``n`` of a turn of streamed text, planned once its text arrived, is as
    urgent as a first chunk: every chunk before it has been delivered, and its listener is in
    silence already or will be before it could be synthesized (``hurries``, with ``compute``
    its estimated synthesis time). A listener whose text came late waits as one whose request
    has just come; on a busy server its chunk must not queue behind chunks with time to spare."""
    if playback.start is None or playback.delivered != n:
        return False
    return hurries(playback.start + playback.delivered_seconds - now, compute)


def renders_in_windows(first_in_stream: bool, frames: int, first_window: int) -> bool:
    """Whether a stream's first chunk of ``frames`` frames is rendered in growing windows, its
    first one ``first_window`` frames with its context (first audio after the first window):
    only one at least twice its first window (a shorter one comes about as soon whole: measured
    in docs/performance.md, Windows). Later chunks: ``later_in_windows``."""
    return first_in_stream and frames >= 2 * first_window


def later_in_windows(shared: bool, frames: int, window: int) -> bool:
    """Whether a later chunk of ``frames`` frames is rendered in windows of ``window`` frames:
    only while other streams share the workers (``shared``), where each window ends a unit of
    work after which another stream's more urgent chunk may run (a long-form chunk rendered
    whole held the worker for seconds while a reply's next sentence waited: docs/performance.md,
    Sizing), and only one at least twice a window. A stream alone keeps whole chunks: windows
    cost model time in all."""
    return shared and frames >= 2 * window


def first_chunk_key() -> Key:
    return (Priority.FIRST, 0.0)


@dataclass(frozen=True)
class Work:
    """What an open stream still needs, as admission sees it. Compute is in pool seconds: the
    time the whole inference pool would take for it alone (see ``Scheduler.pool_seconds_per_phoneme``)."""

    first: float
    """Compute its first chunk still needs (0 once delivered); due ``first_wait`` from now."""
    later: float
    """Compute of every later chunk not yet synthesized (planned, or guessed from its text)."""
    next: float
    """The part of ``later`` that is its next chunk: needed whole when its listener reaches it."""
    buffered: float
    """Seconds of audio its listener has received and not yet heard (0 before first audio)."""
    load: float
    """Compute per second of its playback: what keeping its listener fed costs while it lasts
    (the inverse of the model's speed in multiples of real time, at the request's ``speed``)."""


@dataclass(frozen=True)
class Bounds:
    """What admission promises an admitted stream, and what the pool can do."""

    first_wait: float
    """Seconds a first chunk may wait for the work ahead of it before it starts."""
    gap: float
    """Seconds a listener may wait for a later chunk because of other streams' work."""
    parallel: int
    """Inferences the pool runs at once without slowing each other (pool seconds per second)."""


def _needed(work: Work, t: float, bounds: Bounds) -> float:
    """Compute ``work`` must have had by ``t`` seconds from now so that its listener never waits
    past the bounds: its first chunk at once (first chunks go before any other, in order of
    arrival); its next chunk whole, and the rest as fast as it plays, from when its buffered
    audio runs out (plus the gap allowed)."""
    needed = work.first
    due = _later_due(work, bounds)
    if t >= due and work.later > 0:
        needed += min(work.later, work.next + (t - due) * work.load)
    return needed


def _later_due(work: Work, bounds: Bounds) -> float:
    """When ``work``'s next later chunk is needed: its buffered audio played, plus the gap
    allowed; while its first chunk is pending, after first audio (at the latest) and that
    chunk's audio (its compute over ``load``)."""
    if work.first > 0 and work.load > 0:
        first_audio = bounds.first_wait + work.first
        return first_audio + work.first / work.load + work.buffered + bounds.gap
    return work.buffered + bounds.gap


def _horizons(works: Sequence[Work], bounds: Bounds) -> set[float]:
    """Where the demand of ``works`` jumps or stops growing: the only places where it can exceed
    what the pool can do by more than anywhere else (the pool's supply grows linearly)."""
    points = set()
    for work in works:
        due = _later_due(work, bounds)
        points |= {bounds.first_wait + work.first, due}
        if work.load > 0:
            points.add(due + max(0.0, work.later - work.next) / work.load)
    return {t for t in points if 0 < t < math.inf}


def overcommitment(works: Sequence[Work], bounds: Bounds) -> float:
    """Pool seconds by which the work of ``works`` due by some time exceeds what the pool can do
    by then (its largest excess over all times; 0 or less: every listener is served within the
    bounds, first chunks first, then the most urgent). Each stream is a fluid: its first chunk
    (which may wait ``first_wait`` for those ahead of it), then its audio as fast as it plays;
    a stream whose text is synthesized costs nothing more, however long it still plays."""
    return max(
        (
            sum(_needed(work, t, bounds) for work in works) - bounds.parallel * t
            for t in _horizons(works, bounds)
        ),
        default=0.0,
    )


def admits(*, open_streams: int, queued: int, max_streams: int, max_queued: int) -> bool:
    """Whether a new stream may start as far as the hard limits go: below both the stream and
    the queued-chunk limits."""
    return open_streams < max_streams and queued < max_queued


class Refusal(StrEnum):
    """Why a new stream is refused (a metric label)."""

    STREAMS = "max_streams"
    QUEUE = "max_queued_chunks"
    FIRST_AUDIO = "first_audio"
    PLAYBACK = "playback"


@dataclass(frozen=True)
class Admission:
    """A decision on a new stream: refused for ``reason`` (None: admitted); ``retry_after``,
    seconds until the work ahead lets a stream like it in."""

    reason: Refusal | None
    retry_after: int = 0


def admit(
    new: Work,
    open_works: Sequence[Work],
    bounds: Bounds,
    *,
    queued: int,
    max_streams: int,
    max_queued: int,
) -> Admission:
    """Admit ``new`` when the hard limits allow it and the pool can still start its first chunk
    within ``first_wait`` and keep every listener (``open_works`` and ``new``) fed within
    ``gap`` (as well as it could serve ``new`` alone). Otherwise say why and when to retry: when the pool, working through the excess,
    has made room, or (at the stream limit) when the open stream with least work left is done,
    the pool shared among the open streams."""
    works = [*open_works, new]
    # What the others add: a stream too much for the pool even alone (a slow machine, a fast
    # ``speed``) is still served on an idle one.
    excess = overcommitment(works, bounds) - max(0.0, overcommitment([new], bounds))
    slot_wait = 0.0
    if len(open_works) >= max_streams:
        least = min((w.first + w.later for w in open_works), default=0.0)
        slot_wait = sum(min(w.first + w.later, least) for w in open_works) / bounds.parallel
    wait = max(excess / bounds.parallel, slot_wait)
    if not admits(
        open_streams=len(open_works), queued=queued, max_streams=max_streams, max_queued=max_queued
    ):
        reason = Refusal.STREAMS if len(open_works) >= max_streams else Refusal.QUEUE
    elif excess <= 0:
        return Admission(None)
    else:
        first_only = Bounds(bounds.first_wait, math.inf, bounds.parallel)
        late_first = overcommitment(works, first_only) > max(0.0, overcommitment([new], first_only))
        reason = Refusal.FIRST_AUDIO if late_first else Refusal.PLAYBACK
    return Admission(reason, retry_after(wait))


def retry_after(wait: float) -> int:
    """``Retry-After`` for a wait of ``wait`` seconds: whole seconds, 1 to ``MAX_RETRY_AFTER_S``."""
    return min(MAX_RETRY_AFTER_S, max(1, math.ceil(wait)))


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
    *, inferences: int, max_chunk_seconds: float, streams: int, chunks_per_stream: int,
    g2p_mb: float = 0.0, phrase_cache_mb: float = 0.0,
) -> float:  # fmt: skip
    """The most resident memory a replica may need: its baseline, its G2P engines' ``g2p_mb``,
    ``inferences`` running at once each making ``max_chunk_seconds`` of audio, ``streams``
    each holding ``chunks_per_stream`` such chunks of audio to send, and a full phrase cache."""
    working = inferences * max_chunk_seconds * MB_PER_AUDIO_SECOND
    held = streams * chunks_per_stream * max_chunk_seconds * PCM_MB_PER_SECOND
    return BASELINE_MB + g2p_mb + working + held + phrase_cache_mb


PHRASE_CACHE_MAX_SECONDS = 6.0
"""The longest chunk (seconds of the model's audio) the phrase cache keeps: the phrases said
again and again (greetings, confirmations, "One moment.") are a sentence or two; long-form text
is seldom read twice, and its chunks (up to ``TTS_MAX_CHUNK_SECONDS``) would push them out."""
PHRASE_CACHE_MAX_SHARE = 1 / 16
"""The largest share of the phrase cache one chunk may take, so a small cache still holds at
least 16 phrases."""


def caches_chunk(seconds: float, nbytes: int, capacity: int) -> bool:
    """Whether the phrase cache (``capacity`` bytes; 0: off) keeps a chunk of ``seconds`` of
    audio taking ``nbytes``: short ones only (``PHRASE_CACHE_MAX_SECONDS``), each at most
    ``PHRASE_CACHE_MAX_SHARE`` of the cache, so a flood of long-form text never pushes out
    every short phrase."""
    return (
        capacity > 0
        and seconds <= PHRASE_CACHE_MAX_SECONDS
        and nbytes <= capacity * PHRASE_CACHE_MAX_SHARE
    )
