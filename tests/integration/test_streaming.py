"""The real model behind a real uvicorn server: streaming, formats, disconnects, the openai client."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.helpers import LONG_TEXT, SHORT_PHRASE, decode, metric, speech
from tests.integration.conftest import RunningServer


def test_first_audio_arrives_before_second_sentence_is_synthesized(server: RunningServer) -> None:
    first_bytes_at = None
    received = bytearray()
    payload = {
        "model": "kokoro",
        "input": SHORT_PHRASE,
        "voice": "af_heart",
        "response_format": "mp3",
    }
    with httpx.stream(
        "POST", f"{server.url}/v1/audio/speech", json=payload, timeout=120
    ) as response:
        assert response.status_code == 200
        request_id = response.headers["x-request-id"]
        for piece in response.iter_raw():
            if piece and first_bytes_at is None:
                first_bytes_at = time.time()
            received += piece
    done_at = server.chunk_done_at(request_id)
    # Sentence one alone, then sentence two (in growing pieces: it is longer than chunk one).
    assert len(done_at) >= 2 and sorted(done_at) == list(range(len(done_at))), done_at
    assert first_bytes_at is not None
    # The client held audio of sentence one while the server was still synthesizing sentence two.
    assert first_bytes_at < done_at[1], (first_bytes_at, done_at)
    assert decode(bytes(received)).duration > 3.0


@pytest.mark.parametrize(
    ("fmt", "media_type", "codec"),
    [
        ("mp3", "audio/mpeg", "mp3"),
        ("opus", "audio/ogg", "opus"),
        ("aac", "audio/aac", "aac"),
        ("flac", "audio/flac", "flac"),
        ("wav", "audio/wav", "pcm_s16le"),
        ("pcm", "audio/pcm", "pcm_s16le"),
    ],
)
def test_every_format_streams_decodable_speech(
    backend_server: RunningServer, fmt: str, media_type: str, codec: str
) -> None:
    response = speech(backend_server, input="Hello there. How are you today?", response_format=fmt)
    assert response.status_code == 200
    assert response.headers["content-type"] == media_type
    assert "content-length" not in response.headers  # streamed (chunked), not buffered
    audio = decode(response.content, fmt)
    assert audio.codec.startswith(codec)
    assert audio.sample_rate in (24_000, 48_000)
    assert 1.0 < audio.duration < 6.0
    assert audio.rms > 0.01


def test_stream_false_returns_the_whole_file_with_content_length(
    backend_server: RunningServer,
) -> None:
    response = speech(
        backend_server, input="One piece, all at once.", response_format="wav", stream=False
    )
    assert response.status_code == 200
    assert int(response.headers["content-length"]) == len(response.content)
    audio = decode(response.content)
    assert audio.sample_rate == 24_000 and audio.duration > 1.0 and audio.rms > 0.01


def test_pcm_is_headerless_and_matches_wav(server: RunningServer) -> None:
    text = "Raw samples, please."
    pcm = speech(server, input=text, response_format="pcm").content
    wav = speech(server, input=text, response_format="wav").content
    assert not pcm.startswith(b"RIFF")
    assert wav[:4] == b"RIFF" and wav[44:] == pcm  # deterministic model, same samples


def test_disconnecting_mid_stream_stops_synthesis(server: RunningServer) -> None:
    payload = {"model": "kokoro", "input": LONG_TEXT, "voice": "af_heart", "response_format": "pcm"}
    with httpx.stream(
        "POST", f"{server.url}/v1/audio/speech", json=payload, timeout=120
    ) as response:
        request_id = response.headers["x-request-id"]
        next(response.iter_raw())
    deadline = time.monotonic() + 60
    while f"[{request_id}] speech cancelled (client_disconnected)" not in server.log():
        assert time.monotonic() < deadline, "the server never noticed the disconnect"
        time.sleep(0.2)
    # What the stream held is freed by the time it is logged: no stream, no queued chunk.
    metrics = httpx.get(f"{server.url}/metrics").text
    assert metric(metrics, "tts_active_streams") == 0
    assert metric(metrics, "tts_queued_chunks") == 0
    assert metric(metrics, "tts_cancelled_streams_total", reason="client_disconnected") >= 1
    # The worker pool runs chunks in turn, so a short request finishing means any chunk of the
    # cancelled stream that was already running has finished too; a runaway stream would get
    # another chunk in between two such probes.
    speech(server, input="Probe.", response_format="pcm")
    after_first_probe = len(server.chunk_lines(request_id))
    speech(server, input="Probe.", response_format="pcm")
    assert len(server.chunk_lines(request_id)) == after_first_probe, "synthesis went on"
    assert after_first_probe <= 3, server.chunk_lines(request_id)  # sent, look-ahead, in flight


def test_speed_changes_duration(backend_server: RunningServer) -> None:
    text = "The quick brown fox jumps over the lazy dog."
    normal = decode(
        speech(backend_server, input=text, response_format="pcm").content, "pcm"
    ).duration
    fast = decode(
        speech(backend_server, input=text, response_format="pcm", speed=2.0).content, "pcm"
    ).duration
    assert fast < 0.7 * normal


def test_official_openai_client_streams_speech(backend_server: RunningServer, tmp_path) -> None:  # noqa: ANN001
    from openai import OpenAI

    client = OpenAI(base_url=f"{backend_server.url}/v1", api_key="not-needed")
    target = tmp_path / "speech.mp3"
    with client.audio.speech.with_streaming_response.create(
        model="tts-1", voice="nova", input="The official client works. Nothing else is needed."
    ) as response:
        response.stream_to_file(target)
    audio = decode(target.read_bytes())
    assert audio.codec.startswith("mp3") and audio.duration > 2.0 and audio.rms > 0.01


def test_discovery_lists_models_and_all_54_voices(backend_server: RunningServer) -> None:
    models = httpx.get(f"{backend_server.url}/v1/models").json()
    assert {m["id"] for m in models["data"]} >= {"kokoro", "tts-1", "tts-1-hd", "gpt-4o-mini-tts"}
    voices = httpx.get(f"{backend_server.url}/v1/audio/voices").json()["voices"]
    assert len(voices) == 54
    heart = next(v for v in voices if v["id"] == "af_heart")
    assert heart["language"] == "American English" and heart["gender"] == "female"
    assert httpx.get(f"{backend_server.url}/v1/audio/models").json()["models"][0]["id"] == "kokoro"
