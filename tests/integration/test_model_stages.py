"""The model split into its stages: the same audio as the whole graph, durations that add up,
stage files kept once and rebuilt when damaged."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from tts_service.assets import ensure_assets
from tts_service.backends.onnx import OnnxBackend
from tts_service.backends.onnx_stages import STAGES, stage_paths
from tts_service.config import Settings
from tts_service.text.phonemes import Phonemizer
from tts_service.voices import VoiceStore

TEXT = "Split in two, the model still says every word the way it did."


@pytest.fixture(scope="module")
def spoken(model_settings: Settings) -> tuple[list[int], np.ndarray, np.ndarray]:
    """(tokens, style, the whole graph's audio)."""
    files = ensure_assets(model_settings, fetch=False)
    phonemizer = Phonemizer()
    tokens = phonemizer.tokenize(phonemizer.phonemize(TEXT, "en-us"))
    style = VoiceStore.load(files.voices).resolve("af_heart").style_for(len(tokens))
    whole = ort.InferenceSession(str(files.model), providers=["CPUExecutionProvider"])
    inputs = {
        "tokens": np.array([[0, *tokens, 0]], dtype=np.int64),
        "style": np.asarray(style, dtype=np.float32).reshape(1, -1),
        "speed": np.array([1.0], dtype=np.float32),
    }
    (audio,) = whole.run(None, inputs)
    return tokens, style, np.asarray(audio, dtype=np.float32).ravel()


def test_the_stages_give_the_whole_graphs_audio_and_durations_that_add_up(
    model_settings: Settings, tmp_path: Path, spoken: tuple[list[int], np.ndarray, np.ndarray]
) -> None:
    tokens, style, expected = spoken
    files = ensure_assets(model_settings, fetch=False)
    backend = OnnxBackend.load(files.model, tmp_path, ort.SessionOptions())
    assert backend.windowed and backend.durations
    audio, durations = backend.synthesize_with_durations(tokens, style, 1.0)
    np.testing.assert_array_equal(audio, expected)
    assert len(durations) == len(tokens) + 2 and durations.min() >= 1
    assert audio.size == durations.sum() * 600
    prepared = backend.prepare(tokens, style, 1.0)
    assert prepared.frames == durations.sum()
    window = backend.render(prepared, 10, 30)
    assert window.size == 20 * 600 and np.abs(window).max() > 0.01


def test_stage_files_are_kept_once_and_a_damaged_one_is_rebuilt(
    model_settings: Settings,
    tmp_path: Path,
    spoken: tuple[list[int], np.ndarray, np.ndarray],
    caplog: pytest.LogCaptureFixture,
) -> None:
    tokens, style, expected = spoken
    files = ensure_assets(model_settings, fetch=False)
    OnnxBackend.load(files.model, tmp_path, ort.SessionOptions())
    paths = stage_paths(files.model, tmp_path)
    assert sorted(paths) == sorted(STAGES) and all(p.is_file() for p in paths.values())
    written = {name: p.stat().st_mtime_ns for name, p in paths.items()}
    OnnxBackend.load(files.model, tmp_path, ort.SessionOptions())
    assert {name: p.stat().st_mtime_ns for name, p in paths.items()} == written  # reused

    waveform = paths["waveform"]
    data = bytearray(waveform.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 4096] = bytes(b ^ 0xFF for b in data[middle : middle + 4096])
    waveform.write_bytes(bytes(data))  # same size: only the hash can tell
    with caplog.at_level(logging.WARNING, logger="tts_service"):
        again = OnnxBackend.load(files.model, tmp_path, ort.SessionOptions())
    assert "rebuilding it" in caplog.text
    np.testing.assert_array_equal(again.synthesize(tokens, style, 1.0), expected)


def test_fetch_splits_the_model_so_a_baked_image_carries_its_stages(
    model_settings: Settings, tmp_path: Path
) -> None:
    from tts_service.backends import prepare_backend

    files = ensure_assets(model_settings, fetch=False)
    settings = Settings(model_path=files.model, voices_path=files.voices, models_dir=tmp_path)
    prepare_backend(settings, "onnx", build=False)  # serving without fetch: built at load
    assert not list(tmp_path.glob("*.onnx"))
    prepare_backend(settings, "onnx", build=True)
    assert all(path.is_file() for path in stage_paths(files.model, tmp_path).values())


def test_preempt_stops_the_render_running_on_that_thread_and_the_next_render_runs_whole(
    model_settings: Settings, spoken: tuple[list[int], np.ndarray, np.ndarray]
) -> None:
    tokens, style, _ = spoken
    backend = OnnxBackend.from_settings(model_settings, ensure_assets(model_settings))
    prepared = backend.prepare((tokens * 4)[:500], style, 1.0)
    started = time.perf_counter()
    expected = backend.render(prepared, 0, prepared.frames)
    whole_seconds = time.perf_counter() - started
    outcome: dict[str, object] = {}

    def render() -> None:
        try:
            outcome["audio"] = backend.render(prepared, 0, prepared.frames)
        except Exception as exc:  # noqa: BLE001 - what the stopped render raised
            outcome["error"] = exc

    assert not backend.preempt(threading.get_ident())  # nothing runs here
    worker = threading.Thread(target=render)
    worker.start()
    assert worker.ident is not None
    while not backend.preempt(worker.ident):  # until its render has begun
        assert worker.is_alive(), outcome
        time.sleep(0.001)
    stopped_at = time.perf_counter()
    worker.join()
    assert "error" in outcome, "the render ran to its end"
    assert time.perf_counter() - stopped_at < 0.5 * whole_seconds
    # The flag was that run's alone: a render after it runs whole.
    worker = threading.Thread(target=render)
    worker.start()
    worker.join()
    np.testing.assert_array_equal(outcome["audio"], expected)
