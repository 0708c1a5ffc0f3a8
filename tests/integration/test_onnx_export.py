"""``tts-service export-onnx``: the fp32 ONNX export of the PyTorch weights loads in onnxruntime
with the int8 model's inputs, the ONNX backend speaks with it (and gets durations from it), and
it says the same as the int8 model: lengths within 2 %, identical Whisper transcripts.

The export is cached in TTS_MODELS_DIR like the rebuilt weights; the first run exports it (about
half a minute on 2 cores).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

pytest.importorskip("torch", reason="the export needs the PyTorch backend (test extra)")

from click.testing import CliRunner

from tests.helpers import PARITY_SENTENCES, resample_to_16k, words
from tts_service.assets import ensure_assets
from tts_service.backends.onnx import OnnxBackend
from tts_service.backends.onnx_export import FP32_NAME
from tts_service.cli import main
from tts_service.config import Settings
from tts_service.text.phonemes import Phonemizer
from tts_service.voices import VoiceStore

TEXTS = PARITY_SENTENCES[:2]


@pytest.fixture(scope="module")
def settings() -> Settings:
    settings = Settings(onnx_threads=2)
    ensure_assets(settings)
    result = CliRunner().invoke(main, ["export-onnx"])
    assert result.exit_code == 0, result.output
    assert f"TTS_MODEL_PATH={settings.models_dir / FP32_NAME}" in result.output
    return settings.model_copy(update={"model_path": settings.models_dir / FP32_NAME})


@pytest.fixture(scope="module")
def spoken(settings: Settings):  # noqa: ANN201
    """(text, fp32 audio, fp32 durations, int8 audio, int8 durations) per sentence, through the
    ONNX backend (the int8 model's durations from its text stage)."""
    files = ensure_assets(settings)
    fp32 = OnnxBackend.from_settings(settings, files)
    default = settings.model_copy(update={"model_path": None})
    int8 = OnnxBackend.from_settings(default, ensure_assets(default))
    assert fp32.durations and int8.durations
    voice = VoiceStore.load(files.voices).resolve("af_heart")
    phonemizer = Phonemizer()
    result = []
    for text in TEXTS:
        tokens = phonemizer.tokenize(phonemizer.phonemize(text, voice.lang))
        style = voice.style_for(len(tokens))
        audio, durations = fp32.synthesize_with_durations(tokens, style, 1.0)
        assert len(durations) == len(tokens) + 2
        assert audio.size == durations.sum() * 600  # the unit timestamps are counted in
        result.append((text, audio, durations, *int8.synthesize_with_durations(tokens, style, 1.0)))
    text, audio, *_ = result[0]
    tokens = phonemizer.tokenize(phonemizer.phonemize(text, voice.lang))
    again = fp32.synthesize(tokens, voice.style_for(len(tokens)), 1.0)
    np.testing.assert_array_equal(again, audio)  # no random ops in the export
    return result


def test_the_export_has_the_int8_models_inputs_and_a_durations_output(settings: Settings) -> None:
    def signature(session: ort.InferenceSession) -> list[tuple[str, str]]:
        return [(i.name, i.type) for i in session.get_inputs()]

    def load(path: Path) -> ort.InferenceSession:
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    assert settings.model_path is not None
    fp32 = load(settings.model_path)
    int8 = load(ensure_assets(settings.model_copy(update={"model_path": None})).model)
    assert signature(fp32) == signature(int8)
    assert [(o.name, o.type) for o in fp32.get_outputs()] == [
        ("audio", "tensor(float)"),
        ("durations", "tensor(int64)"),
    ]


def test_the_export_matches_the_int8_model_in_length_and_loudness(spoken) -> None:  # noqa: ANN001
    for text, audio, _, int8, _ in spoken:
        assert 0.98 <= audio.size / int8.size <= 1.02, text
        rms = np.sqrt(np.mean(audio**2)) / np.sqrt(np.mean(int8**2))
        assert 0.85 <= rms <= 1.15, (text, rms)


def test_whisper_hears_the_same_words_from_the_export_and_the_int8_model(
    spoken,  # noqa: ANN001
    whisper,  # noqa: ANN001
) -> None:
    def heard(audio: np.ndarray) -> list[str]:
        segments, _ = whisper.transcribe(resample_to_16k(audio, 24_000), language="en", beam_size=1)
        return words(" ".join(segment.text for segment in segments))

    for text, audio, _, int8, _ in spoken:
        assert heard(audio) == heard(int8) == words(text), text


def test_the_int8_text_stage_predicts_the_exports_durations(spoken) -> None:  # noqa: ANN001
    """The same weights at another precision: a token now and then one frame apart, no more."""
    for text, _, durations, int8, int8_durations in spoken:
        assert int8.size == int8_durations.sum() * 600, text
        assert len(int8_durations) == len(durations), text
        assert np.abs(int8_durations - durations).max() <= 1, text
        assert np.mean(int8_durations != durations) < 0.1, text
