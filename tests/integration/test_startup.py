"""Start-up: a bad model file stops the service with a clear message and a non-zero status."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.integration.conftest import free_port
from tts_service.assets import VOICES_NAME
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


def test_unloadable_model_stops_the_server_with_status_1(
    tmp_path: Path, model_settings: Settings
) -> None:
    garbage = tmp_path / "broken.onnx"
    garbage.write_bytes(os.urandom(2_000_000))
    voices = model_settings.models_dir / VOICES_NAME
    result = serve({"TTS_MODEL_PATH": str(garbage), "TTS_VOICES_PATH": str(voices)})
    assert result.returncode == 1
    assert "Loading the model failed" in result.stderr
