"""The streaming pipeline (``tts_service.synthesis``) on the stand-in backend, without HTTP."""

from __future__ import annotations

import asyncio
import time

import numpy as np
import pytest

from tts_service import policy
from tts_service.config import Settings
from tts_service.errors import NoSpeechError
from tts_service.pipeline import speech_bounds
from tts_service.policy import Priority
from tts_service.text.phonemes import MAX_TOKENS

from .standin import (
    EDGE_SILENCE_S,
    SAMPLE_RATE,
    StandInBackend,
    collect,
    standin_synthesizer,
)

MARGIN_S = 0.03  # synthesis keeps this much of the model's edge silence
SENTENCES = " ".join(f"This is sentence number {n}." for n in range(8))
LONG = " ".join(
    f"Sentence {n} of this text keeps the model busy for a while, clause after clause."
    for n in range(20)
)


def test_speech_bounds_cut_leading_and_trailing_silence_but_keep_a_margin() -> None:
    silence = np.zeros(int(EDGE_SILENCE_S * SAMPLE_RATE), dtype=np.float32)
    tone = np.sin(np.arange(SAMPLE_RATE) * 2 * np.pi * 440 / SAMPLE_RATE).astype(np.float32) / 2
    audio = np.concatenate([silence, tone, silence])
    start, end = speech_bounds(audio, SAMPLE_RATE)
    trimmed = audio[start:end]
    left = int(np.flatnonzero(trimmed)[0]) - 1  # the tone starts at sin(0) == 0
    right = trimmed.size - left - tone.size
    assert MARGIN_S * SAMPLE_RATE <= left < EDGE_SILENCE_S * SAMPLE_RATE / 2
    assert MARGIN_S * SAMPLE_RATE <= right < EDGE_SILENCE_S * SAMPLE_RATE / 2
    # The tone itself is untouched.
    np.testing.assert_array_equal(trimmed[left : left + tone.size], tone)


def test_speech_bounds_of_nothing_are_empty() -> None:
    assert speech_bounds(np.zeros(0, dtype=np.float32), SAMPLE_RATE) == (0, 0)


def test_a_stream_yields_every_chunk_in_order_with_its_pause(voice) -> None:
    backend = StandInBackend()
    synth = standin_synthesizer(backend, group_phonemes=50)
    try:
        chunks = asyncio.run(collect(synth.stream(SENTENCES, voice, speed=1.0)))
    finally:
        synth.shutdown()
    assert [c.index for c in chunks] == list(range(8))
    assert [c.tokens for c in chunks] == [call.tokens for call in backend.calls]
    for chunk, call in zip(chunks, backend.calls, strict=True):
        pause = 0.0 if chunk is chunks[-1] else Settings().sentence_pause
        trimmed_seconds = chunk.samples.size / SAMPLE_RATE - pause
        assert call.tone_seconds <= trimmed_seconds < call.tone_seconds + EDGE_SILENCE_S
        if pause:
            assert not np.any(chunk.samples[-int(pause * SAMPLE_RATE) :])  # the pause is silent


def test_a_text_with_nothing_speakable_raises_no_speech_on_first(voice) -> None:
    backend = StandInBackend()
    synth = standin_synthesizer(backend)
    try:
        stream = synth.stream("?!... —", voice, speed=1.0)
        with pytest.raises(NoSpeechError):
            asyncio.run(stream.first())
    finally:
        synth.shutdown()
    assert backend.calls == []


class FirstCallLateBackend(StandInBackend):
    """A stand-in whose first call is slow, as when the OS deschedules the worker that runs it:
    the second chunk, on another worker, finishes first."""

    first_taken = False

    def synthesize(self, tokens, style, speed):  # noqa: ANN001, ANN201
        with self._lock:
            first, self.first_taken = not self.first_taken, True
        if first:
            time.sleep(0.2)
        return super().synthesize(tokens, style, speed)


def test_chunks_come_out_in_reading_order_whichever_worker_runs_first(voice) -> None:
    backend = FirstCallLateBackend()
    synth = standin_synthesizer(backend, group_phonemes=50, inference_workers=2, lookahead_chunks=2)
    try:
        chunks = asyncio.run(collect(synth.stream(SENTENCES, voice, speed=1.0)))
    finally:
        synth.shutdown()
    assert [c.index for c in chunks] == list(range(8))


def test_close_cancels_chunks_queued_ahead(voice) -> None:
    backend = StandInBackend(delay=0.1)
    synth = standin_synthesizer(backend, lookahead_chunks=4, group_phonemes=50)

    async def take_first_then_close() -> None:
        stream = synth.stream(SENTENCES, voice, speed=1.0)
        await stream.first()
        stream.close()
        await asyncio.sleep(0.6)  # long enough for queued chunks to run, were they not cancelled

    try:
        asyncio.run(take_first_then_close())
    finally:
        synth.shutdown()
    # The first chunk and the one already running when close() came (one more at most, on a
    # slow machine); without cancelling, all 4 chunks queued ahead would run: 5 calls.
    assert backend.call_count <= 3


def test_the_stream_plans_lazily_as_chunks_are_taken(voice) -> None:
    backend = StandInBackend()
    synth = standin_synthesizer(backend, lookahead_chunks=1)
    text = " ".join(f"This is sentence number {n}." for n in range(200))

    async def first_only() -> None:
        stream = synth.stream(text, voice, speed=1.0)
        await stream.first()
        stream.close()

    try:
        asyncio.run(first_only())
    finally:
        synth.shutdown()
    assert len(synth.phonemizer.calls) < 10
    assert backend.call_count <= 2


def test_a_chunk_is_late_at_risk_or_spare_by_how_much_audio_plays_before_it(voice) -> None:
    """The scheduler's view of a stream: chunk n is needed when the audio before it has played."""
    backend = StandInBackend()
    synth = standin_synthesizer(backend, group_phonemes=50, lookahead_chunks=1)
    synth.scheduler.seconds_per_phoneme = 0.0  # inference takes no time: only playback counts

    async def urgencies() -> list[tuple[int, float]]:
        stream = synth.stream(SENTENCES, voice, speed=1.0)
        first = await stream.first()
        played = first.samples.size / SAMPLE_RATE  # ~1.8 s of tone and pause
        now = stream.playback.start
        assert now is not None
        stream.margin = 1.0
        result = [
            stream.urgency(1, now),  # ~1.8 s of audio plays before it: time to spare
            stream.urgency(1, now + played - 0.5),  # its listener reaches it in 0.5 s: at risk
        ]
        stream.margin = played + 1.0  # (a listener who has heard less than the margin)
        result.append(stream.urgency(1, now + played + 0.01))  # should be playing: late
        stream.close()
        return result

    try:
        spare, at_risk, late = asyncio.run(urgencies())
    finally:
        synth.shutdown()
    assert spare[0] == Priority.SPARE
    assert at_risk[0] == Priority.AT_RISK and 0.0 <= at_risk[1] < 1.0
    assert late[0] == Priority.LATE


def test_the_end_of_a_stream_is_known_while_every_worker_is_busy(voice) -> None:
    """Regression: finding that a stream has no further chunk used to be a task queued behind
    inference, so a finished reply stayed open until a worker came free (seconds under load)."""
    import threading

    busy = 10.0  # how long the background worker stays busy unless released
    backend = StandInBackend()
    synth = standin_synthesizer(backend, inference_workers=1, urgent_workers=1)
    release = threading.Event()

    async def end_while_busy() -> float:
        # The background worker is busy (a long-form chunk, say); the urgent one is free.
        synth.scheduler.submit(lambda: release.wait(busy), lambda now: (Priority.SPARE, 0.0))
        stream = synth.stream("Just one sentence.", voice, speed=1.0)
        await stream.first()
        started = time.perf_counter()
        assert await stream.next_chunk() is None
        return time.perf_counter() - started

    try:
        waited = asyncio.run(end_while_busy())
    finally:
        release.set()
        synth.shutdown()
    assert waited < busy / 4  # not queued behind the busy worker


def test_a_late_chunk_of_an_established_stream_goes_before_other_late_chunks(voice) -> None:
    """Under load, a reading that has already played ``margin`` seconds is kept fed before
    short replies that are late anyway, so long-form playback does not starve under load."""
    backend = StandInBackend()
    synth = standin_synthesizer(backend, group_phonemes=50, lookahead_chunks=1)
    synth.scheduler.seconds_per_phoneme = 0.0

    async def late_urgencies() -> tuple[tuple[int, float], tuple[int, float]]:
        stream = synth.stream(SENTENCES, voice, speed=1.0)
        first = await stream.first()
        played = first.samples.size / SAMPLE_RATE
        now = stream.playback.start
        assert now is not None
        stream.margin = played + 1.0  # not yet established: a late chunk is LATE
        young = stream.urgency(1, now + played + 0.5)
        stream.margin = played - 0.1  # it has now played more than the margin
        established = stream.urgency(1, now + played + 0.5)
        stream.close()
        return young, established

    try:
        young, established = asyncio.run(late_urgencies())
    finally:
        synth.shutdown()
    assert young[0] == Priority.LATE
    assert established[0] == Priority.AT_RISK and established[1] < 0


def test_chunks_grow_faster_where_the_model_is_measured_faster(voice) -> None:
    synth = standin_synthesizer(StandInBackend(), chunk_growth=1.2)
    try:
        synth.scheduler.seconds_per_phoneme = 0.04  # about 1.7x real time: the setting holds
        assert synth._growth() == 1.2
        synth.scheduler.seconds_per_phoneme = 0.01  # about 6.7x real time
        assert synth._growth() == pytest.approx(0.6 / (15 * 0.01))
    finally:
        synth.shutdown()


@pytest.mark.parametrize("split", [False, True], ids=["unsplit", "split"])
@pytest.mark.parametrize("speed", [0.25, 0.6, 1.0])
def test_no_inference_makes_more_audio_than_max_chunk_seconds_at_any_speed(
    voice, split: bool, speed: float
) -> None:
    """Regression: chunks were bounded in phonemes only, so a 576-character text spoken unsplit
    at speed 0.25 was one 510-phoneme inference of 145 s of audio, which took the process from
    1.0 to 2.28 GB, past the shipped 2 GiB limit. The bound is in audio seconds, speed included."""
    backend = StandInBackend()
    synth = standin_synthesizer(backend, max_chunk_seconds=20.0)
    try:
        chunks = asyncio.run(collect(synth.stream(LONG, voice, speed=speed, split=split)))
    finally:
        synth.shutdown()
    assert len(chunks) == len(backend.calls) > 1
    for call in backend.calls:
        assert call.speed == speed
        assert policy.chunk_seconds(call.tokens, speed) <= 20.0


def test_a_text_spoken_slowly_is_planned_in_chunks_of_fewer_phonemes(voice) -> None:
    synth = standin_synthesizer(StandInBackend())
    try:
        sizes = {
            speed: [len(c.phonemes) for c in synth.plan(LONG, voice, speed=speed, split=False)]
            for speed in (1.0, 0.5, 0.25)
        }
    finally:
        synth.shutdown()
    bound = synth.settings.max_chunk_seconds
    for speed, planned in sizes.items():
        assert max(planned) <= policy.chunk_phonemes(bound, speed)
    assert max(sizes[0.25]) < max(sizes[0.5]) < max(sizes[1.0])
    assert max(sizes[1.0]) <= MAX_TOKENS
    assert sum(sizes[0.25]) == pytest.approx(sum(sizes[1.0]), rel=0.05)  # the same phonemes


def test_shutdown_stops_a_running_chunk_instead_of_waiting_for_it(voice) -> None:
    """Regression: shutdown waited for the chunk being synthesized, so a SIGTERM on a slow or
    busy machine took as long as that chunk (8.6 s seen) after the grace period. Shutdown now
    interrupts the backend; the bound is a share of the chunk's own length, not a clock time."""
    delay = 30.0
    backend = StandInBackend(delay=delay)
    synth = standin_synthesizer(backend)

    async def shut_down_while_the_first_chunk_runs() -> float:
        first = asyncio.ensure_future(synth.stream(SENTENCES, voice, speed=1.0).first())
        while backend.call_count == 0:
            await asyncio.sleep(0.01)
        started = time.monotonic()
        await asyncio.to_thread(synth.shutdown)
        took = time.monotonic() - started
        first.cancel()
        return took

    took = asyncio.run(shut_down_while_the_first_chunk_runs())
    assert took < delay / 10, took
    assert backend.call_count == 1


def test_a_stream_slot_is_released_once_whichever_threads_release_it() -> None:
    """A slot is released on close (the event loop) and when its stream is collected unclosed
    (any thread); both may happen, from different threads, and must count once."""
    import threading

    from tts_service.synthesis import StreamSlots

    slots = StreamSlots()
    kept = slots.take()
    releases = [slots.take() for _ in range(50)]
    assert slots.open == 51
    threads = [threading.Thread(target=release) for release in releases for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert slots.open == 1
    kept()
    kept()
    assert slots.open == 0
