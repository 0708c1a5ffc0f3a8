"""``tts-service fetch --models-dir DIR``, exactly as the Containerfile runs it to bake the model
into an image: into an empty folder it assembles and downloads both files, verified; run again,
it reuses them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tts_service.assets import MODEL_NAME, MODEL_SHA256, VOICES_NAME, sha256_of, verify_voices


def fetch(models_dir: Path) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "tts_service", "fetch", "--models-dir", str(models_dir)]
    return subprocess.run(command, capture_output=True, text=True, timeout=300)


def test_fetch_builds_a_verified_model_cache_in_an_empty_folder(tmp_path: Path) -> None:
    models = tmp_path / "models"
    result = fetch(models)
    assert result.returncode == 0, result.stderr
    assert f"Model files are ready in {models}" in result.stdout
    assert sha256_of(models / MODEL_NAME) == MODEL_SHA256
    verify_voices(models / VOICES_NAME)

    again = fetch(models)
    assert again.returncode == 0, again.stderr
    assert "Downloading" not in again.stderr and "Assembling" not in again.stderr
