"""The ONNX backend's start-up path, without loading the model."""

from __future__ import annotations

import subprocess
import sys

import pytest
from kokoro_onnx.session import resolve_providers

from tts_service.backends.onnx import _providers


def test_the_provider_shortcut_agrees_with_kokoro_onnx(monkeypatch: pytest.MonkeyPatch) -> None:
    assert _providers() == resolve_providers()
    monkeypatch.setenv("ONNX_PROVIDER", "CPUExecutionProvider")
    assert _providers() == resolve_providers() == ["CPUExecutionProvider"]


def test_importing_the_backend_leaves_the_phonemizer_for_later() -> None:
    """Start-up builds the session while the phonemizer (about 0.35 s of imports) loads
    elsewhere; the backend module must not import it first."""
    check = "import sys, tts_service.backends.onnx; print('phonemizer' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True)
    assert out.stdout.strip() == "False", out.stderr
