"""A stream whose backend renders a chunk's audio a window at a time (the stand-in's windowed
mode): each window is a scheduler task, and its audio is sent as soon as it is rendered."""

from __future__ import annotations

import asyncio
import time

import numpy as np

from tts_service.backends import SAMPLES_PER_FRAME
from tts_service.pipeline import AudioChunk

from .standin import PAD_FRAMES, StandInBackend, collect, standin_synthesizer

SENTENCES = " ".join(f"This is sentence number {n}, spoken in a test." for n in range(6))
LONG = " ".join(
    f"Sentence {n} of this text keeps the model busy for a while, clause after clause."
    for n in range(12)
)
EVEN = {"loudness_target": None, "loudness_chunk_correction": 0.0}
"""No gain: the audio as the model made it (the gain of a windowed chunk is set by its first
piece)."""


def joined(pieces: list[AudioChunk]) -> tuple[np.ndarray, list[tuple[str, int, int]]]:
    """The stream's audio and its words (samples from the stream's start)."""
    words, offset = [], 0
    for piece in pieces:
        words += [(w.word, w.start + offset, w.end + offset) for w in piece.words]
        offset += piece.samples.size
    return np.concatenate([p.samples for p in pieces]), words


def speak(backend: StandInBackend, voice, text: str, **settings: object) -> list[AudioChunk]:
    synth = standin_synthesizer(backend, **settings)
    try:
        return asyncio.run(collect(synth.stream(text, voice, speed=1.0, timestamps=True)))
    finally:
        synth.shutdown()


def test_joined_windows_equal_the_whole_chunk_path_for_a_backend_whose_render_is_exact(
    voice,
) -> None:
    """Trim, fades, pauses and word spans of the joined windows are today's whole-chunk ones."""
    small = {"window_first_frames": 3, "window_growth": 1.5, "window_largest_frames": 10}
    text = f"[pause 0.5s] {SENTENCES}"  # a lead, and pauses after chunks
    windowed = speak(StandInBackend(windowed=True), voice, text, **EVEN, **small)
    whole = speak(StandInBackend(), voice, text, **EVEN)
    assert len(windowed) > 2 * len(whole)  # it did come in windows
    assert sum(p.last for p in windowed) == len(whole)
    assert sum(p.tokens for p in windowed) == sum(c.tokens for c in whole)
    audio, words = joined(windowed)
    expected, expected_words = joined(whole)
    assert audio.size == expected.size
    np.testing.assert_allclose(audio, expected, atol=1e-6)
    assert words == expected_words


def test_first_audio_leaves_after_the_first_window_not_the_whole_chunk(voice) -> None:
    backend = StandInBackend(windowed=True, window_delay=0.02)
    synth = standin_synthesizer(backend, window_first_frames=4, window_growth=1.0,
                        window_largest_frames=8)  # fmt: skip

    async def first() -> tuple[AudioChunk, int]:
        stream = synth.stream(LONG, voice, speed=1.0)
        piece = await stream.first()
        rendered = len(backend.renders)
        stream.close()
        return piece, rendered

    try:
        piece, rendered = asyncio.run(first())
    finally:
        synth.shutdown()
    assert not piece.last
    assert piece.samples.size <= (PAD_FRAMES + 4) * SAMPLES_PER_FRAME  # the pad and 4 frames
    # The first chunk has dozens of windows of 4 to 8 frames; the first piece left after its first
    # (and those the other worker rendered meanwhile: a few, however slow the machine).
    assert rendered < 10


def test_a_client_gone_cancels_its_queued_windows(voice) -> None:
    backend = StandInBackend(windowed=True, window_delay=0.05)
    synth = standin_synthesizer(backend, window_first_frames=4, window_growth=1.0,
                        window_largest_frames=8, lookahead_chunks=2)  # fmt: skip

    async def take_first_then_close() -> None:
        stream = synth.stream(LONG, voice, speed=1.0)
        await stream.first()
        stream.close()
        await asyncio.sleep(0.5)  # long enough for ten queued windows, were they not cancelled

    try:
        asyncio.run(take_first_then_close())
    finally:
        synth.shutdown()
    # The first window and those already running when close() came; without cancelling, every
    # window of two chunks (dozens of 4 frames) would render.
    assert len(backend.renders) <= 4


def test_a_new_streams_first_window_goes_before_the_next_window_of_a_running_stream(
    voice,
) -> None:
    """One worker, no urgent one: the first window of a conversation that arrives while a
    long-form stream's windows are queued waits for at most the window running then."""
    backend = StandInBackend(windowed=True, window_delay=0.03)
    synth = standin_synthesizer(
        backend, inference_workers=1, urgent_workers=0, lookahead_chunks=2,
        window_first_frames=4, window_growth=1.0, window_largest_frames=8,
    )  # fmt: skip

    async def run() -> float:
        reader = synth.stream(LONG, voice, speed=1.0)
        pieces = reader.__aiter__()
        for _ in range(3):
            await anext(pieces)
        arrived = time.perf_counter()
        reply = synth.stream("Hi there.", voice, speed=1.0)
        await reply.first()
        reply.close()
        await asyncio.sleep(0.1)  # the reader's windows go on
        reader.close()
        return arrived

    try:
        arrived = asyncio.run(run())
    finally:
        synth.shutdown()
    reply_ids = {chunk for tokens, chunk in backend.prepares if tokens < 20}
    renders = backend.renders
    first_reply = next(n for n, r in enumerate(renders) if r.chunk in reply_ids)
    reader_between = [
        r for r in renders[:first_reply] if r.started >= arrived and r.chunk not in reply_ids
    ]
    queued = [r for r in renders[first_reply:] if r.chunk not in reply_ids]
    assert queued  # the reader had windows waiting, and they ran after the reply's first
    assert len(reader_between) <= 1


def test_a_chunk_in_windows_keeps_the_gain_its_first_piece_set(voice) -> None:
    """The stream's loudness levelling sets a chunk's gain with its first piece (measured on
    it) and keeps it for the chunk's later pieces: no gain moves inside a chunk's speech."""
    small = {"window_first_frames": 6, "window_growth": 1.0, "window_largest_frames": 6}
    pieces = speak(StandInBackend(windowed=True), voice, SENTENCES, **small)
    unlevelled = speak(StandInBackend(windowed=True), voice, SENTENCES, **EVEN, **small)
    assert [p.samples.size for p in pieces] == [p.samples.size for p in unlevelled]
    gains_by_chunk: dict[int, list[float]] = {}
    for piece, raw in zip(pieces, unlevelled, strict=True):
        peak = float(np.max(np.abs(raw.samples)))
        if peak > 0.4:  # a piece with tone (the stand-in's is 0.5)
            gains_by_chunk.setdefault(piece.index, []).append(
                float(np.max(np.abs(piece.samples))) / peak
            )
    assert len(gains_by_chunk) > 1
    for gains in gains_by_chunk.values():
        assert max(gains) - min(gains) < 1e-3
    assert any(abs(g[0] - 1.0) > 0.01 for g in gains_by_chunk.values())  # a gain was applied


def test_only_a_long_enough_first_chunk_is_rendered_in_windows(voice) -> None:
    """Windows cost model time in all: later chunks of a stream alone, made while earlier audio
    plays, are rendered whole, and so is a first chunk too short for a small first window to
    come sooner."""
    backend = StandInBackend(windowed=True)
    pieces = speak(backend, voice, LONG, window_first_frames=8, window_growth=2.0)
    chunks = sorted({p.index for p in pieces})
    assert len(chunks) > 2
    per_chunk = {i: sum(p.index == i for p in pieces) for i in chunks}
    assert per_chunk[chunks[0]] > 1  # the first chunk in windows
    assert all(per_chunk[i] == 1 for i in chunks[1:]), per_chunk  # the others whole
    whole_renders = [r for r in backend.renders if r.start == 0]
    assert len(whole_renders) == len(chunks)  # one render from frame 0 per chunk

    short = StandInBackend(windowed=True)
    pieces = speak(short, voice, "Hi.", window_first_frames=8)
    assert len(pieces) == 1 and len(short.renders) == 1


def test_later_chunks_are_rendered_in_shared_windows_while_another_stream_is_open(
    voice,
) -> None:
    """While other streams share the workers, a later chunk is rendered in windows of
    ``TTS_WINDOW_SHARED_FRAMES`` (each a point where another stream's urgent work can run)."""
    backend = StandInBackend(windowed=True)
    synth = standin_synthesizer(
        backend, window_first_frames=8, window_growth=2.0, window_largest_frames=32,
        window_shared_frames=16,
    )  # fmt: skip

    async def run() -> list[AudioChunk]:
        other = synth.stream("Hi there.", voice, speed=1.0)  # open, holding its slot
        try:
            return await collect(synth.stream(LONG, voice, speed=1.0))
        finally:
            other.close()

    try:
        pieces = asyncio.run(run())
    finally:
        synth.shutdown()
    by_chunk: dict[int, list] = {}
    for render in backend.renders:
        by_chunk.setdefault(render.chunk, []).append(render)
    later = [renders for renders in by_chunk.values()][1:]
    assert len(later) >= 2
    assert all(len(renders) >= 2 for renders in later)  # each later chunk in windows
    # Each window is the shared size (the first's leading pad and the last's remainder aside).
    for renders in later:
        starts = [r.start for r in renders]
        owned = [b - a for a, b in zip(starts, starts[1:], strict=False)]
        assert owned and all(size == 16 for size in owned[1:]), owned
    assert len({p.index for p in pieces}) == len(by_chunk)


def test_a_whole_file_has_its_first_chunk_rendered_whole(voice) -> None:
    """Nobody hears a whole file (``stream: false``, a download) before its end: windows would
    only add their context's cost, so its first chunk is rendered as a later one, whole."""
    backend = StandInBackend(windowed=True)
    synth = standin_synthesizer(backend, window_first_frames=8, window_growth=2.0)
    try:
        stream = synth.stream(LONG, voice, speed=1.0, listening=False)
        pieces = asyncio.run(collect(stream))
    finally:
        synth.shutdown()
    assert len(backend.prepares) >= 1
    assert len(backend.renders) == len(backend.prepares)  # one render per chunk
    assert all(r.start == 0 for r in backend.renders)
    assert len(pieces) == len({p.index for p in pieces})
