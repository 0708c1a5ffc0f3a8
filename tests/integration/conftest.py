"""Integration fixtures: the real Kokoro model, a real ``tts-service serve`` process on a free port,
and an offline Whisper model as an independent ear."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.helpers import free_port, whisper_base
from tts_service.assets import ensure_assets
from tts_service.config import Settings


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.fspath).parents:
            item.add_marker(pytest.mark.slow)


@dataclass
class RunningServer:
    url: str
    log_path: Path
    process: subprocess.Popen[bytes]

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def chunk_lines(self, request_id: str) -> list[str]:
        return [line for line in self.log().splitlines() if f"[{request_id}] chunk " in line]

    def chunk_done_at(self, request_id: str) -> dict[int, float]:
        """Chunk index → wall-clock time the server finished synthesizing it (from its debug log)."""
        done = {}
        for line in self.chunk_lines(request_id):
            match = re.search(r"chunk (\d+):.*done_at=([\d.]+)", line)
            if match:
                done[int(match.group(1))] = float(match.group(2))
        return done


@pytest.fixture(scope="session")
def model_settings() -> Settings:
    settings = Settings()
    ensure_assets(settings)  # fetches on a fresh machine, reuses the cache afterwards
    return settings


def start_server(
    tmp: Path,
    env_overrides: dict[str, str] | None = None,
    *,
    command: list[str] | None = None,
    cwd: Path | None = None,
) -> RunningServer:
    """``command`` (default: this checkout's ``python -m tts_service``) ``serve`` on a free port,
    logging at debug to a file in ``tmp``; returns once /health says 200. The phrase cache is
    off unless ``env_overrides`` sets ``TTS_PHRASE_CACHE_BYTES``: the other tests time and count
    the model's work, often on one text spoken again (tests/integration/test_phrase_cache.py
    tests the cache)."""
    port = free_port()
    log_path = tmp / f"server-{port}.log"
    env = {
        **os.environ, "TTS_LOG_LEVEL": "debug", "TTS_PHRASE_CACHE_BYTES": "0",
        **(env_overrides or {}),
    }  # fmt: skip
    log_file = log_path.open("wb")
    process = subprocess.Popen(
        [*(command or [sys.executable, "-m", "tts_service"]), "serve", "--port", str(port)],
        stdout=log_file,
        stderr=subprocess.STDOUT,
        env=env,
        cwd=cwd,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}:\n{log_path.read_text()}")
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return RunningServer(url, log_path, process)
        except httpx.TransportError:
            pass
        time.sleep(0.25)
    process.kill()
    raise RuntimeError(f"server not healthy in time:\n{log_path.read_text()}")


def stop_server(server: RunningServer) -> None:
    server.process.send_signal(signal.SIGINT)
    try:
        server.process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        server.process.kill()


@pytest.fixture(scope="session")
def server(
    model_settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningServer]:
    backend = os.environ.get("TTS_TEST_BACKEND")  # e.g. torch: the whole suite on that backend
    running = start_server(
        tmp_path_factory.mktemp("server"), {"TTS_BACKEND": backend} if backend else None
    )
    yield running
    stop_server(running)


@pytest.fixture(scope="session")
def torch_server(
    model_settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningServer]:
    """The full server with ``TTS_BACKEND=torch`` on the CPU (skips where torch is not installed)."""
    pytest.importorskip("torch", reason="the PyTorch backend comes with the test extra")
    running = start_server(
        tmp_path_factory.mktemp("torch-server"), {"TTS_BACKEND": "torch", "TTS_TORCH_DEVICE": "cpu"}
    )
    assert "Kokoro on PyTorch" in running.log()  # the torch backend, not a silent fallback
    yield running
    stop_server(running)


@pytest.fixture(params=["default", "torch"])
def backend_server(request: pytest.FixtureRequest) -> RunningServer:
    """``server``, then ``torch_server``: a test that takes this runs against each backend. Given
    to the API tests that exercise the backend (formats, speed, SSE, errors from the model's
    side); ``TTS_TEST_BACKEND=torch`` runs every integration test against a torch server."""
    return request.getfixturevalue("server" if request.param == "default" else "torch_server")


@pytest.fixture(scope="session")
def whisper(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201 - faster_whisper.WhisperModel
    """Whisper base (CTranslate2) assembled from its two PyPI parts; runs offline on the CPU."""
    from faster_whisper import WhisperModel

    target = whisper_base()
    return WhisperModel(str(target), device="cpu", compute_type="int8", cpu_threads=2)
