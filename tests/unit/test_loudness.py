"""Loudness: BS.1770 per chunk, and the gain that evens a stream's chunks near one target."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from tts_service.audio.loudness import PEAK_CEILING, Leveller, integrated_loudness
from tts_service.config import Settings
from tts_service.pipeline import AudioChunk
from tts_service.synthesis import Synthesizer

from .standin import SAMPLE_RATE, CountingPhonemizer, StandInBackend, make_voice_store


def tone(amplitude: float, seconds: float = 1.0, hz: float = 1000.0) -> np.ndarray:
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    return (amplitude * np.sin(2 * np.pi * hz * t)).astype(np.float32)


def lufs(samples: np.ndarray) -> float:
    measured = integrated_loudness(samples, SAMPLE_RATE)
    assert measured is not None
    return measured


def test_a_full_scale_1khz_sine_measures_near_its_bs1770_reference() -> None:
    # BS.1770: a 0 dBFS 997 Hz sine in one channel reads -3.01 LKFS.
    assert lufs(tone(1.0, hz=997.0)) == pytest.approx(-3.01, abs=0.1)
    assert lufs(tone(0.1, hz=997.0)) == pytest.approx(-23.01, abs=0.1)


def test_a_chunk_shorter_than_a_gating_block_is_measured_as_one_block() -> None:
    assert lufs(tone(0.1, seconds=0.2, hz=997.0)) == pytest.approx(-23.0, abs=0.2)
    assert integrated_loudness(tone(0.1, seconds=0.01), SAMPLE_RATE) is None  # too short
    assert integrated_loudness(np.zeros(SAMPLE_RATE, dtype=np.float32), SAMPLE_RATE) is None


def level_stream(leveller: Leveller, chunks: list[np.ndarray]) -> list[np.ndarray]:
    return [leveller.apply(c, lufs(c), c.size / SAMPLE_RATE) for c in chunks]


def test_chunks_of_a_stream_land_at_the_target_whatever_the_voice_level() -> None:
    for amplitude in (0.03, 0.1, 0.2):  # voices 16 dB apart
        chunks = [tone(amplitude), tone(amplitude * 1.2), tone(amplitude * 0.85)]
        levelled = level_stream(Leveller(target=-24.0), chunks)
        for chunk in levelled:
            assert lufs(chunk) == pytest.approx(-24.0, abs=0.1)


def test_a_chunk_far_from_the_stream_level_moves_only_by_the_bound() -> None:
    loud, quiet = tone(0.2), tone(0.02)  # 20 dB softer
    levelled = level_stream(Leveller(target=None, max_chunk_db=3.0), [loud, loud, quiet])
    assert lufs(levelled[0]) == pytest.approx(lufs(loud), abs=0.01)  # no target: model's level
    assert lufs(levelled[2]) - lufs(quiet) == pytest.approx(3.0, abs=0.01)


def test_without_a_target_or_a_correction_the_audio_is_untouched() -> None:
    chunks = [tone(0.2), tone(0.05)]
    levelled = level_stream(Leveller(target=None, max_chunk_db=0.0), chunks)
    for before, after in zip(chunks, levelled, strict=True):
        np.testing.assert_array_equal(before, after)


def test_the_gain_never_pushes_a_peak_past_the_ceiling() -> None:
    # A chunk of clicks: loud peaks, little loudness, far below the target.
    spiky = np.zeros(SAMPLE_RATE, dtype=np.float32)
    spiky[:: SAMPLE_RATE // 10] = 0.9
    (levelled,) = level_stream(Leveller(target=-10.0), [spiky])
    assert np.max(np.abs(levelled)) <= PEAK_CEILING + 1e-6
    (loud,) = level_stream(Leveller(target=None, max_chunk_db=0.0), [tone(1.0)])
    assert np.max(np.abs(loud)) <= PEAK_CEILING + 1e-6  # even at the model's own level


def test_an_unmeasured_chunk_gets_the_stream_gain() -> None:
    leveller = Leveller(target=-20.0)
    first = tone(0.05)
    leveller.apply(first, lufs(first), 1.0)
    gain = leveller.gain_db(None, 0.01)
    assert gain == pytest.approx(-20.0 - lufs(first), abs=0.01)


def test_a_stream_delivers_its_chunks_at_the_configured_loudness() -> None:
    voice = make_voice_store().resolve("af_heart")
    text = " ".join(f"This is sentence number {n}." for n in range(4))
    for target in (-30.0, -18.0):
        settings = Settings(warmup=False, group_phonemes=50, loudness_target=target)
        synth = Synthesizer(StandInBackend(), CountingPhonemizer(), settings)

        async def collect(synth: Synthesizer) -> list[AudioChunk]:
            return [chunk async for chunk in synth.stream(text, voice, speed=1.0)]

        try:
            chunks = asyncio.run(collect(synth))
        finally:
            synth.shutdown()
        assert len(chunks) > 1
        for chunk in chunks:
            assert lufs(chunk.samples) == pytest.approx(target, abs=0.5)


def test_every_length_under_the_gating_block_is_measured_without_an_error() -> None:
    """A block of the audio's own length in seconds could come out a rounding error longer than
    the audio, which pyloudnorm refuses: a short chunk failed its stream."""
    rng = np.random.default_rng(1)
    for samples in range(2_400, 9_700, 7):
        noise = (0.1 * rng.standard_normal(samples)).astype(np.float32)
        assert integrated_loudness(noise, 24_000) is not None, samples
