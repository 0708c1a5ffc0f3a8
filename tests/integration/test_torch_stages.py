"""The torch backend split into its text stage and its decoder (``torch_stages``), on the CPU.

The whole chunk through the split is the whole model's audio, sample for sample, under the same
torch seed (hexgrad's sine generator draws a random initial phase and noise; the split draws them
in the same order, in ``prepare``). A chunk rendered in windows, joined by the service's
crossfade, is not the same samples (the decoder's instance normalization sees only its window):
the windowed quality gate (``test_windowed_quality.py``) holds it to the int8 model's bounds.

The harmonic source's continuity across joins has no test of its own: joined without the
crossfade, a window fed the wrong part of the source (or one restarting its phase) stepped 1.2–2.7
× the speech around the join against 1.02 × for the whole chunk's source with 16 frames of
context, but 2.9 × with today's 32: the instance normalization's differences at a raw join outweigh
the source's.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

pytest.importorskip("torch", reason="the PyTorch backend comes with the test extra")

import torch

from tests.helpers import PARITY_SENTENCES
from tts_service.assets import ensure_assets
from tts_service.backends import SAMPLES_PER_FRAME, WINDOW_CONTEXT_FRAMES
from tts_service.backends.pytorch import TorchBackend
from tts_service.config import Settings
from tts_service.text.phonemes import Phonemizer
from tts_service.voices import VoiceStore


@pytest.fixture(scope="module")
def backend(model_settings: Settings) -> TorchBackend:
    settings = model_settings.model_copy(update={"torch_device": "cpu", "torch_dtype": "float32"})
    return TorchBackend.from_settings(settings, ensure_assets(settings))


@pytest.fixture(scope="module")
def chunk(model_settings: Settings) -> tuple[list[int], np.ndarray]:
    voice = VoiceStore.load(ensure_assets(model_settings).voices).resolve("af_heart")
    phonemizer = Phonemizer()
    tokens = phonemizer.tokenize(phonemizer.phonemize(PARITY_SENTENCES[0], voice.lang))
    return tokens, voice.style_for(len(tokens))


def test_the_whole_chunk_through_the_split_is_the_models_audio_under_one_seed(
    backend: TorchBackend, chunk: tuple[list[int], np.ndarray]
) -> None:
    tokens, style = chunk
    torch.manual_seed(0)
    audio, durations = backend.synthesize_with_durations(tokens, style, 1.0)
    torch.manual_seed(0)
    prepared = backend.prepare(tokens, style, 1.0)
    rendered = backend.render(prepared, 0, prepared.frames)
    assert prepared.durations is not None
    np.testing.assert_array_equal(prepared.durations, durations)
    assert prepared.frames == int(durations.sum())
    assert rendered.size == prepared.frames * SAMPLES_PER_FRAME == audio.size
    np.testing.assert_array_equal(rendered, audio)
    torch.manual_seed(1)  # the equality above is the seed's: another seed gives other samples
    assert not np.array_equal(backend.synthesize(tokens, style, 1.0), audio)


def test_a_window_is_the_whole_chunks_frames_where_its_context_covers_the_chunk(
    backend: TorchBackend, chunk: tuple[list[int], np.ndarray]
) -> None:
    """The window's source is cut from the whole chunk's at the right frame: where the context
    reaches both ends, the decoder sees what it sees for the whole, so the samples agree."""
    tokens, style = chunk
    prepared = backend.prepare(tokens[:8], style, 1.0)
    whole = backend.render(prepared, 0, prepared.frames)
    # Both ends of the chunk within WINDOW_CONTEXT_FRAMES of the window's.
    start = min(WINDOW_CONTEXT_FRAMES, prepared.frames // 2)
    end = max(start + 1, prepared.frames - WINDOW_CONTEXT_FRAMES)
    assert 0 < start < end < prepared.frames
    window = backend.render(prepared, start, end)
    np.testing.assert_allclose(
        window, whole[start * SAMPLES_PER_FRAME : end * SAMPLES_PER_FRAME], atol=1e-5
    )


def test_windows_of_several_chunks_rendered_in_one_call_are_each_as_rendered_alone(
    model_settings: Settings, chunk: tuple[list[int], np.ndarray]
) -> None:
    """Batching (``torch_batch_windows``, on by default on CUDA) stacks windows of one length
    from several streams' chunks: the decoder treats each row on its own."""
    settings = model_settings.model_copy(
        update={"torch_device": "cpu", "torch_dtype": "float32", "torch_batch_windows": 3}
    )
    backend = TorchBackend.from_settings(settings, ensure_assets(settings))
    tokens, style = chunk
    chunks = [backend.prepare(tokens[: len(tokens) - cut], style, 1.0) for cut in (0, 4, 8)]
    windows = [(prepared, 10, 90) for prepared in chunks]
    alone = [backend.render_many([window])[0] for window in windows]
    together = backend.render_many(windows)
    for one, batched in zip(alone, together, strict=True):
        assert one.size == 80 * SAMPLES_PER_FRAME
        np.testing.assert_allclose(batched, one, atol=1e-4)
    # Rendered from three workers at once, the windows that meet go in one call.
    assert backend._batcher is not None
    with ThreadPoolExecutor(3) as pool:
        for _ in range(5):
            rendered = list(pool.map(lambda p: backend.render(p, 42, 100), chunks))
            if max(backend._batcher.batches) > 1:
                break
    assert max(backend._batcher.batches) > 1, backend._batcher.batches
    for prepared, audio in zip(chunks, rendered, strict=True):
        expected = backend.render_many([(prepared, 10, 132)])[0][32 * SAMPLES_PER_FRAME :]
        np.testing.assert_allclose(audio, expected[: audio.size], atol=1e-4)
