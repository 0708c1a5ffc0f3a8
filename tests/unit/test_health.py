"""``/health`` and the service while its model loads: 503 until it is ready, then speech; a failed
load reported; the warm-up's default."""

from __future__ import annotations

import time
from concurrent.futures import Future

from fastapi.testclient import TestClient

from tests.helpers import GOOD, SPEECH, assert_openai_error
from tts_service.app import create_app
from tts_service.config import Settings
from tts_service.loading import Loaded
from tts_service.text.phonemes import Phonemizer

from .conftest import ClientFactory, wait_until_ready
from .standin import StandInBackend, make_voice_store


def test_health_is_ok_once_the_stand_in_is_loaded(client: TestClient) -> None:
    response = client.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok" and body["backend"] == "standin"
    assert body["g2p"]["en-us"] == body["g2p"]["ja"] == "espeak"  # TTS_G2P=espeak in unit tests


def test_requests_during_loading_get_503_model_not_ready(make_client: ClientFactory) -> None:
    # Warm-up runs one synthesis; a slow stand-in keeps the service loading for a while.
    slow = StandInBackend(delay=1.0)
    client = make_client(slow, warmup=True, wait=False)
    health = client.get("/health")
    assert health.status_code == 503
    assert health.json()["status"] == "loading"
    error = assert_openai_error(client.post(SPEECH, json=GOOD), 503)
    assert error["code"] == "model_not_ready"
    assert_openai_error(client.get("/v1/audio/voices"), 503)
    wait_until_ready(client)
    assert client.post(SPEECH, json=GOOD).status_code == 200
    assert len(slow.calls) == 2  # the warm-up, then the request


def test_a_failed_load_reports_an_error_and_503s(make_client: ClientFactory) -> None:
    # The warm-up resolves the default voice; one that does not exist makes loading fail.
    client = make_client(StandInBackend(), warmup=True, default_voice="nosuchvoice", wait=False)
    deadline = time.monotonic() + 5
    while (health := client.get("/health")).json()["status"] == "loading":
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert health.status_code == 503
    assert health.json()["status"] == "error"
    assert "nosuchvoice" in health.json()["detail"]
    error = assert_openai_error(client.post(SPEECH, json=GOOD), 503)
    assert "Loading the model failed" in error["message"]


def test_a_load_started_before_the_app_is_served_once_it_finishes() -> None:
    """``tts-service serve`` starts loading before it imports the web stack (``start_loading``);
    the app waits for that future: 503 while it runs, ready when it resolves."""
    loading: Future[Loaded] = Future()
    app = create_app(Settings(warmup=False), loading=loading)
    with TestClient(app) as client:
        assert client.get("/health").status_code == 503
        loading.set_result(Loaded(StandInBackend(), make_voice_store(), Phonemizer(), 0.1))
        wait_until_ready(client)
        assert client.post(SPEECH, json=GOOD).status_code == 200


def test_a_load_started_early_that_fails_stops_the_server() -> None:
    fatal = []
    loading: Future[Loaded] = Future()
    app = create_app(Settings(warmup=False), loading=loading, on_fatal=lambda: fatal.append(1))
    with TestClient(app) as client:
        loading.set_exception(RuntimeError("no such model"))
        deadline = time.monotonic() + 5
        while not fatal:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        error = assert_openai_error(client.post(SPEECH, json=GOOD), 503)
        assert "no such model" in error["message"]


def test_warm_up_is_on_by_default_only_for_torch() -> None:
    assert not Settings().warmup_for("onnx") and Settings().warmup_for("torch")
    assert Settings(warmup=True).warmup_for("onnx")
    assert not Settings(warmup=False).warmup_for("torch")
