"""``stream_format: "sse"`` (OpenAI's speech events) and optional API keys, on the stand-in."""

from __future__ import annotations

import base64

import pytest
from fastapi.testclient import TestClient

from tests.helpers import GOOD, SPEECH, THREE_SENTENCES, assert_openai_error
from tests.helpers import sse_events as events

from .conftest import ClientFactory
from .standin import StandInBackend

SSE = {"input": THREE_SENTENCES, "response_format": "pcm", "stream_format": "sse"}


def test_sse_sends_the_same_audio_as_deltas_then_done_with_usage(
    make_client: ClientFactory, standin: StandInBackend
) -> None:
    # Chunks grow with the model's measured speed, which the first request changes: fix the
    # growth so that both requests are chunked, and so sound, alike.
    client = make_client(standin, chunk_growth_speed_share=0.0)
    response = client.post(SPEECH, json=SSE)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    received = events(response.text)
    names = [name for name, _ in received]
    assert names[-1] == "speech.audio.done"
    assert set(names[:-1]) == {"speech.audio.delta"}
    assert len(names) - 1 == len(standin.calls)  # one delta per chunk (pcm: bytes at once)
    for name, data in received:
        assert data["type"] == name
    audio = b"".join(base64.b64decode(data["audio"]) for name, data in received[:-1])

    plain = client.post(SPEECH, json={**SSE, "stream_format": "audio"})
    assert audio == plain.content

    usage = received[-1][1]["usage"]
    assert usage["input_tokens"] == sum(call.tokens for call in standin.calls[: len(names) - 1])
    assert usage["output_tokens"] == len(audio) // 2  # 16-bit samples
    assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]


def test_sse_reports_a_mid_stream_failure_as_an_error_event_and_no_done(
    make_client: ClientFactory,
) -> None:
    client = make_client(StandInBackend(fail_on_call=1))
    response = client.post(SPEECH, json=SSE)
    assert response.status_code == 200  # the stream had started
    received = events(response.text)
    names = [name for name, _ in received]
    assert names[0] == "speech.audio.delta"  # the first chunk got out
    assert names[-1] == "error"
    assert "speech.audio.done" not in names
    error = received[-1][1]["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["type"] == "server_error"


def test_sse_still_validates_before_streaming(client: TestClient) -> None:
    error = assert_openai_error(client.post(SPEECH, json={**SSE, "voice": "nosuchvoice"}), 400)
    assert error["code"] == "voice_not_found"


# --- API keys ----------------------------------------------------------------------------------


@pytest.fixture
def keyed(make_client: ClientFactory) -> TestClient:
    return make_client(api_key="key-one, key-two")


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": "Bearer "},
        {"Authorization": "Basic key-one"},
        {"Authorization": "key-one"},
        {"Authorization": "Bearer key-one-and-more"},
    ],
    ids=["none", "wrong", "empty", "basic", "no-scheme", "prefix"],
)
def test_speech_without_a_valid_key_is_an_openai_shaped_401(keyed: TestClient, headers) -> None:
    error = assert_openai_error(keyed.post(SPEECH, json=GOOD, headers=headers), 401)
    assert error["code"] == "invalid_api_key"


@pytest.mark.parametrize("key", ["key-one", "key-two"])
def test_any_configured_key_is_accepted(keyed: TestClient, key: str) -> None:
    response = keyed.post(SPEECH, json=GOOD, headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 200


@pytest.mark.parametrize("path", ["/health", "/v1/models", "/v1/audio/models", "/v1/audio/voices"])
def test_discovery_and_health_stay_open_when_keys_are_set(keyed: TestClient, path: str) -> None:
    assert keyed.get(path).status_code == 200


def test_without_configured_keys_no_key_is_needed(client: TestClient) -> None:
    assert client.post(SPEECH, json=GOOD).status_code == 200


@pytest.mark.parametrize("body", [{"input": ""}, b"{not json"], ids=["invalid", "malformed"])
def test_the_key_is_checked_before_the_body_is_validated(keyed: TestClient, body) -> None:
    if isinstance(body, bytes):
        response = keyed.post(SPEECH, content=body, headers={"content-type": "application/json"})
    else:
        response = keyed.post(SPEECH, json=body)
    assert_openai_error(response, 401)
