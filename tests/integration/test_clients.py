"""Real clients against the real server: the official openai SDK, SSE, Open WebUI's sequence, auth."""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

pytest.importorskip("openai", reason="the official client comes with the test extra")

import openai
from openai import OpenAI

from tests.helpers import decode, sse_events
from tests.integration.conftest import RunningServer, start_server, stop_server

KEYS = ("sk-first-key", "sk-second-key")
TEXT = "Clients should just work. Nothing about them needs to change."


@pytest.fixture(scope="module")
def auth_server(
    model_settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningServer]:  # noqa: ANN001
    running = start_server(tmp_path_factory.mktemp("auth"), {"TTS_API_KEY": ",".join(KEYS)})
    yield running
    stop_server(running)


def client(server: RunningServer, key: str = "not-needed") -> OpenAI:
    return OpenAI(base_url=f"{server.url}/v1", api_key=key, max_retries=0)


@pytest.mark.parametrize("fmt", ["mp3", "opus", "aac", "flac", "wav", "pcm"])
def test_openai_sdk_create_returns_decodable_audio(server: RunningServer, fmt: str) -> None:
    response = client(server).audio.speech.create(
        model="tts-1", voice="alloy", input="Every format works.", response_format=fmt
    )
    audio = decode(response.content, fmt)
    assert audio.duration > 0.8 and audio.rms > 0.01


def test_openai_sdk_streams_first_bytes_before_synthesis_ends(server: RunningServer) -> None:
    first_at = None
    data = bytearray()
    with client(server).audio.speech.with_streaming_response.create(
        model="gpt-4o-mini-tts", voice="af_heart", input=TEXT, response_format="pcm"
    ) as response:
        request_id = response.headers["x-request-id"]
        for piece in response.iter_bytes(1024):
            first_at = first_at or time.time()
            data += piece
    done_at = server.chunk_done_at(request_id)
    assert len(done_at) >= 2
    assert first_at < max(done_at.values())
    assert decode(bytes(data), "pcm").duration > 3.0


def test_openai_sdk_stream_to_file(server: RunningServer, tmp_path: Path) -> None:
    target = tmp_path / "out.opus"
    with client(server).audio.speech.with_streaming_response.create(
        model="tts-1-hd", voice="onyx", input=TEXT, response_format="opus"
    ) as response:
        response.stream_to_file(target)
    assert decode(target.read_bytes()).codec == "opus"


@pytest.mark.parametrize("fmt", ["pcm", "mp3"])
def test_sse_stream_sends_deltas_then_done_with_usage(
    backend_server: RunningServer, fmt: str
) -> None:
    response = client(backend_server).audio.speech.create(
        model="kokoro", voice="af_heart", input=TEXT, response_format=fmt, stream_format="sse"
    )
    assert response.response.headers["content-type"].startswith("text/event-stream")
    events = sse_events(response.text)
    *deltas, (done_event, done) = events
    assert len(deltas) >= 2  # one per chunk at least: the sentences arrive separately
    assert all(event == data["type"] == "speech.audio.delta" for event, data in deltas)
    assert done_event == done["type"] == "speech.audio.done"
    audio = decode(b"".join(base64.b64decode(d["audio"]) for _, d in deltas), fmt)
    assert audio.duration > 3.0 and audio.rms > 0.01
    usage = done["usage"]
    assert usage["input_tokens"] > 40  # phoneme tokens of two sentences
    assert abs(usage["output_tokens"] - audio.duration * 24_000) < 0.05 * usage["output_tokens"]
    assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]


def test_sdk_raises_bad_request_with_our_message(backend_server: RunningServer) -> None:
    with pytest.raises(openai.BadRequestError) as raised:
        client(backend_server).audio.speech.create(model="kokoro", voice="zz_nobody", input="Hi.")
    assert "Unknown voice 'zz_nobody'" in raised.value.message
    assert raised.value.body["param"] == "voice"  # type: ignore[index]


@pytest.mark.parametrize(
    ("header", "status"),
    [
        (None, 401),
        ("Bearer", 401),
        ("Bearer wrong-key", 401),
        ("Basic c2stZmlyc3Qta2V5", 401),
        (f"Bearer {KEYS[0]}", 200),
        (f"Bearer {KEYS[1]}", 200),
    ],
)
def test_api_key_is_required_when_configured(
    auth_server: RunningServer, header: str | None, status: int
) -> None:
    headers = {"Authorization": header} if header is not None else {}
    response = httpx.post(
        f"{auth_server.url}/v1/audio/speech",
        json={"input": "Hi.", "voice": "af_heart", "response_format": "pcm"},
        headers=headers,
        timeout=60,
    )
    assert response.status_code == status, response.text
    if status == 401:
        error = response.json()["error"]
        assert error["type"] == "invalid_request_error" and error["code"] == "invalid_api_key"


@pytest.mark.parametrize("path", ["/v1/models", "/v1/audio/models", "/v1/audio/voices", "/health"])
def test_discovery_and_health_stay_open_with_a_key(auth_server: RunningServer, path: str) -> None:
    assert httpx.get(f"{auth_server.url}{path}").status_code == 200


def test_sdk_raises_authentication_error_for_a_wrong_key(auth_server: RunningServer) -> None:
    with pytest.raises(openai.AuthenticationError, match="Incorrect API key"):
        client(auth_server, "sk-wrong").audio.speech.create(
            model="tts-1", voice="nova", input="Hi."
        )
    ok = client(auth_server, KEYS[0]).audio.speech.create(model="tts-1", voice="nova", input="Hi.")
    assert decode(ok.content).duration > 0.3


def test_open_webui_sequence(server: RunningServer) -> None:
    """What Open WebUI (0.12) does: discover without auth, then POST {input, voice, model} (no
    response_format, so mp3) with a possibly empty Bearer key, reading each whole reply; "read
    aloud" and call mode send a reply's sentences one request after another."""
    base = f"{server.url}/v1"
    models = httpx.get(f"{base}/audio/models").json()["models"]
    voices = httpx.get(f"{base}/audio/voices").json()["voices"]
    assert {"id"} <= set(models[0]) and {"id", "name"} <= set(voices[0])
    sentences = [f"This is sentence {word} of the answer." for word in
                 ("one", "two", "three", "four", "five")]  # fmt: skip

    def say(sentence: str) -> httpx.Response:
        return httpx.post(
            f"{base}/audio/speech",
            json={"input": sentence, "voice": voices[3]["id"], "model": models[0]["id"]},
            headers={"Authorization": "Bearer"},  # an empty key (httpx strips the space)
            timeout=180,
        )

    for sentence in sentences:
        response = say(sentence)
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == "audio/mpeg"
        audio = decode(response.content)
        assert audio.codec.startswith("mp3") and audio.duration > 1.0
