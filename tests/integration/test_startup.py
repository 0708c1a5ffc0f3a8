"""Start-up: a bad model file stops the service with a clear message and a non-zero status."""

from __future__ import annotations

import logging
import os
import resource
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers import free_port
from tts_service.assets import MODEL_NAME, VOICES_NAME
from tts_service.config import Settings


def serve(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "tts_service", "serve", "--port", str(free_port())]
    return subprocess.run(
        command, env={**os.environ, **env}, capture_output=True, text=True, timeout=120
    )


def test_missing_model_file_exits_with_a_message_not_a_traceback(tmp_path: Path) -> None:
    result = serve({"TTS_MODEL_PATH": str(tmp_path / "nope.onnx")})
    assert result.returncode == 2
    assert "does not exist" in result.stderr and "Traceback" not in result.stderr


def test_a_busy_port_fails_at_once_before_the_model_loads(model_settings: Settings) -> None:
    """uvicorn used to bind the port only once the model files were verified and the model had
    started loading: a second server on the same port loaded the model, then logged a bind
    error. Now the port is taken first, and a busy one ends the start in one line."""
    with socket.socket() as other:  # another server, listening
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        command = [sys.executable, "-m", "tts_service", "serve", "--port", str(port)]
        env = {
            **os.environ,
            "TTS_LOG_LEVEL": "debug",
            "TTS_MODELS_DIR": str(model_settings.models_dir),
        }
        started = time.monotonic()
        result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
        elapsed = time.monotonic() - started
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"error: 127.0.0.1:{port} is already in use (another server listens there); stop it or "
        "choose another port with --port or TTS_PORT"
    ], result.stderr
    assert elapsed < 10


def test_unloadable_model_stops_the_server_with_status_1(
    tmp_path: Path, model_settings: Settings
) -> None:
    garbage = tmp_path / "broken.onnx"
    garbage.write_bytes(os.urandom(2_000_000))
    voices = model_settings.models_dir / VOICES_NAME
    result = serve({"TTS_MODEL_PATH": str(garbage), "TTS_VOICES_PATH": str(voices)})
    assert result.returncode == 1
    # The log has the traceback; the last word is one line that says what went wrong.
    last_line = result.stderr.rstrip().splitlines()[-1]
    assert last_line.startswith("error: Loading the model failed: "), result.stderr[-2000:]


def test_a_second_start_loads_the_saved_optimized_graph_and_sounds_the_same(
    tmp_path: Path, model_settings: Settings
) -> None:
    """Start-up speed: onnxruntime's graph optimization cost every start about a
    second; it is now done once and its result kept next to the model files."""
    import numpy as np

    from tts_service.assets import ensure_assets
    from tts_service.backends.onnx import OnnxBackend, optimized_model_path
    from tts_service.backends.onnx_stages import stage_paths
    from tts_service.text.phonemes import Phonemizer
    from tts_service.voices import VoiceStore

    files = ensure_assets(model_settings, fetch=False)
    settings = Settings(model_path=files.model, voices_path=files.voices, models_dir=tmp_path)
    phonemizer = Phonemizer()
    tokens = phonemizer.tokenize(phonemizer.phonemize("Saved once, loaded fast.", "en-us"))
    style = VoiceStore.load(files.voices).resolve("af_heart").style_for(len(tokens))

    first = OnnxBackend.from_settings(settings, files)
    saved = optimized_model_path(stage_paths(files.model, tmp_path)["waveform"], tmp_path)
    assert saved.is_file() and saved.stat().st_size > 1_000_000
    second = OnnxBackend.from_settings(settings, files)  # loads the saved graph
    a = first.synthesize(tokens, style, 1.0)
    b = second.synthesize(tokens, style, 1.0)
    assert a.size == b.size and a.size > 24_000
    assert np.allclose(a, b, atol=1e-4)

    saved.write_bytes(b"not a model")  # a damaged cache is replaced, not fatal
    third = OnnxBackend.from_settings(settings, files)
    assert np.allclose(third.synthesize(tokens, style, 1.0), a, atol=1e-4)
    assert saved.stat().st_size > 1_000_000


def test_flipped_bytes_in_the_saved_graph_are_caught_by_its_hash_not_heard(
    tmp_path: Path, model_settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    """The saved graph used to be loaded unchecked: flipped bytes in it loaded silently and
    changed the audio of every request. Its SHA-256 is recorded beside it and checked."""
    import numpy as np

    from tts_service.assets import ensure_assets, sha256_of
    from tts_service.backends.onnx import OnnxBackend, optimized_model_path
    from tts_service.backends.onnx_stages import stage_paths
    from tts_service.voices import VoiceStore

    files = ensure_assets(model_settings, fetch=False)
    settings = Settings(model_path=files.model, voices_path=files.voices, models_dir=tmp_path)
    tokens = [50, 83, 156, 43, 102, 16, 81, 61, 156, 56, 102, 4]
    style = VoiceStore.load(files.voices).resolve("af_heart").style_for(len(tokens))
    expected = OnnxBackend.from_settings(settings, files).synthesize(tokens, style, 1.0)
    saved = optimized_model_path(stage_paths(files.model, tmp_path)["waveform"], tmp_path)
    good = saved.read_bytes()
    with saved.open("r+b") as f:  # same size: only the hash can tell
        f.seek(len(good) // 2)
        f.write(bytes(b ^ 0xFF for b in good[len(good) // 2 : len(good) // 2 + 4096]))

    with caplog.at_level(logging.WARNING, logger="tts_service"):
        again = OnnxBackend.from_settings(settings, files)
    assert np.allclose(again.synthesize(tokens, style, 1.0), expected, atol=1e-4)
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == [
        f"The cached optimized model {saved} does not match its recorded SHA-256; rebuilding it"
    ]
    assert saved.with_name(f"{saved.name}.sha256").read_text() == sha256_of(saved)


def test_a_models_volume_too_small_for_the_saved_graph_still_serves(
    tmp_path: Path, model_settings: Settings
) -> None:
    """onnxruntime fails the session when it cannot save the optimized graph, so a full
    models volume stopped every start though the model files were intact. A file size limit
    (RLIMIT_FSIZE, SIGXFSZ ignored) in the server's process stands in for the full volume."""
    models = model_settings.models_dir
    env = {
        **os.environ,
        "TTS_MODEL_PATH": str(models / MODEL_NAME),
        "TTS_VOICES_PATH": str(models / VOICES_NAME),
        "TTS_MODELS_DIR": str(tmp_path),
    }

    def small_volume() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, 1 << 20))

    child = (
        "from tts_service.assets import ensure_assets\n"
        "from tts_service.config import Settings\n"
        "from tts_service.loading import load\n"
        "import logging; logging.basicConfig(format='%(levelname)s %(name)s: %(message)s')\n"
        "settings = Settings()\n"
        "loaded = load(settings, ensure_assets(settings, fetch=False))\n"
        "print(loaded.backend.name)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", child], env=env, capture_output=True, text=True, timeout=120,
        preexec_fn=small_volume,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "onnx"
    warnings = [line for line in result.stderr.splitlines() if line.startswith("WARNING")]
    assert len(warnings) == 1 and "without the model-stage cache" in warnings[0], result.stderr
    assert not list(tmp_path.glob("*.ort"))  # nothing half-written to load next time
    assert not list(tmp_path.glob("*.onnx"))
