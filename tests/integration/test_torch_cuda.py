"""The torch backend's GPU path (skipped without CUDA: no GPU was lent to this project's machines
or CI, so these have not run here). Run them on a CUDA machine with ``python -m pytest -m slow
tests/integration/test_torch_cuda.py``."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

pytest.importorskip("torch", reason="the PyTorch backend comes with the test extra")

import torch

from tests.helpers import resample_to_16k, word_error_rate
from tts_service.assets import ensure_assets
from tts_service.backends.pytorch import TorchBackend
from tts_service.config import Settings
from tts_service.text.phonemes import Phonemizer
from tts_service.voices import VoiceStore

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")

TEXT = "Reading a good book is a fine way to spend a quiet evening at home."


@pytest.fixture(scope="module", params=["bfloat16", "float16", "float32"])
def gpu(request: pytest.FixtureRequest):  # noqa: ANN201
    settings = Settings(torch_device="cuda", torch_dtype=request.param)
    files = ensure_assets(settings)
    voice = VoiceStore.load(files.voices).resolve("af_heart")
    phonemizer = Phonemizer()
    tokens = phonemizer.tokenize(phonemizer.phonemize(TEXT, voice.lang))
    return TorchBackend.from_settings(settings, files), tokens, voice.style_for(len(tokens))


def test_cuda_speech_is_intelligible_in_every_precision(gpu, whisper) -> None:  # noqa: ANN001
    backend, tokens, style = gpu
    audio = backend.synthesize(tokens, style, 1.0)
    assert audio.dtype == np.float32 and np.isfinite(audio).all()
    segments, _ = whisper.transcribe(resample_to_16k(audio, 24_000), language="en", beam_size=1)
    assert word_error_rate(TEXT, " ".join(s.text for s in segments)) <= 0.15


def test_concurrent_workers_each_use_their_own_stream(gpu) -> None:  # noqa: ANN001
    backend, tokens, style = gpu
    with ThreadPoolExecutor(max_workers=3) as pool:
        lengths = list(pool.map(lambda _: backend.synthesize(tokens, style, 1.0).size, range(6)))
    assert len(set(lengths)) == 1  # same input, same predicted durations, same length
    assert backend._streams and torch.cuda.default_stream() not in backend._streams


def test_cuda_windows_of_a_prepared_chunk_join_into_intelligible_speech(gpu, whisper) -> None:  # noqa: ANN001
    """The split on CUDA: the text stage in one worker's stream, windows rendered from another
    thread's, joined by the service's crossfade."""
    from tts_service.windows import plan_windows, render_windows

    backend, tokens, style = gpu
    prepared = backend.prepare(tokens, style, 1.0)
    windows = plan_windows(prepared.frames, first=15, growth=1.5, largest=200, overlap=4)
    with ThreadPoolExecutor(max_workers=1) as pool:  # not the thread that prepared it
        pieces = pool.submit(
            lambda: list(render_windows(lambda a, b, c: backend.render(prepared, a, b, c), windows))
        ).result()
    audio = np.concatenate(pieces)
    assert audio.size == prepared.frames * 600 and np.isfinite(audio).all()
    segments, _ = whisper.transcribe(resample_to_16k(audio, 24_000), language="en", beam_size=1)
    assert word_error_rate(TEXT, " ".join(s.text for s in segments)) <= 0.15
