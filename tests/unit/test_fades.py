"""Fades at the cut edges of a chunk: the audio starts and ends at zero, so joins do not click."""

from __future__ import annotations

import numpy as np
import pytest

from tts_service.audio.fades import FADE_S, fade_edges, ramp
from tts_service.chunking import Chunk
from tts_service.pipeline import Voicing, synthesize_chunk

from .standin import SAMPLE_RATE, CountingPhonemizer, StandInBackend, make_voice_store


def sine_cut_mid_cycle(seconds: float = 0.5) -> np.ndarray:
    """A 440 Hz sine that starts and stops at its peaks, as a cut through speech may."""
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    return (0.5 * np.cos(2 * np.pi * 440 * t)).astype(np.float32)


def largest_edge_step(audio: np.ndarray) -> float:
    """The largest step at the edges, silence before and after included."""
    padded = np.concatenate([[0.0], audio, [0.0]])
    head, tail = np.diff(padded[:48]), np.diff(padded[-48:])
    return float(np.max(np.abs(np.concatenate([head, tail]))))


def test_a_sine_cut_mid_cycle_jumps_at_its_edges_and_the_fade_removes_the_jump() -> None:
    sine = sine_cut_mid_cycle()
    inner = float(np.max(np.abs(np.diff(sine))))  # the largest step the sine itself makes
    assert largest_edge_step(sine) == pytest.approx(0.5, abs=0.01)  # a click
    faded = fade_edges(sine, SAMPLE_RATE)
    assert faded[0] == 0.0 and faded[-1] == 0.0
    assert largest_edge_step(faded) <= inner
    length = int(FADE_S * SAMPLE_RATE)
    np.testing.assert_array_equal(faded[length:-length], sine[length:-length])  # speech untouched


def test_the_ramp_is_a_raised_cosine_from_zero() -> None:
    rise = ramp(8)
    assert rise[0] == 0.0 and rise[-1] < 1.0
    assert np.all(np.diff(rise) > 0)
    np.testing.assert_allclose(rise[1:] + rise[1:][::-1], 1.0, atol=1e-6)  # symmetric about 1/2


def test_audio_shorter_than_two_fades_is_faded_over_its_halves() -> None:
    short = np.ones(10, dtype=np.float32)
    faded = fade_edges(short, SAMPLE_RATE)
    assert faded[0] == 0.0 and faded[-1] == 0.0 and faded.size == 10
    assert fade_edges(np.ones(1, dtype=np.float32), SAMPLE_RATE).size == 1


class NoEdgeSilenceBackend(StandInBackend):
    """A model whose speech fills its whole output: the chunk's edges fall mid-cycle."""

    def synthesize(self, tokens, style, speed):  # noqa: ANN001, ANN201
        self._call(tokens, style, speed)
        return sine_cut_mid_cycle(0.06 * len(tokens))


@pytest.mark.parametrize("pause", [0.0, 0.2])
def test_a_synthesized_chunk_starts_and_ends_at_zero_whatever_the_model_gave(pause: float) -> None:
    backend = NoEdgeSilenceBackend()
    voice = make_voice_store().resolve("af_heart")
    voicing = Voicing(backend, CountingPhonemizer(), voice, 1.0)
    chunk = Chunk(0, "Hello there.", "həlˈoʊ ðˈɛɹ.", pause)
    audio = synthesize_chunk(chunk, voicing).samples
    speech = audio[: audio.size - int(pause * SAMPLE_RATE)]
    assert speech[0] == 0.0 and speech[-1] == 0.0
    assert not np.any(audio[speech.size :])  # the pause stays exact silence
    unfaded = synthesize_chunk(chunk, Voicing(backend, CountingPhonemizer(), voice, 1.0, fade=0))
    assert unfaded.samples[0] != 0.0  # without the fade, the cut edge jumps
