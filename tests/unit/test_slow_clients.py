"""Faults: a client that stops reading holds no more than its look-ahead of synthesized
audio, and after the send timeout it is dropped and everything it held is freed."""

from __future__ import annotations

import json
import time

import anyio
import pytest

from tests.helpers import decode, metric
from tts_service.middleware import SEND_PIECE_BYTES

from .asgi import asgi_post, asgi_websocket
from .conftest import ClientFactory
from .standin import StandInBackend

SPEECH = "/v1/audio/speech"
TEN_SENTENCES = " ".join(f"This is sentence number {n} of the text." for n in range(10))


async def read_nothing(message: dict) -> None:
    """A client that takes the headers, then never reads: its socket buffers are full."""
    if message["type"] == "http.response.body":
        await anyio.sleep_forever()


@pytest.mark.parametrize("lookahead", [1, 2])
@pytest.mark.parametrize("stream_format", ["audio", "sse"])
def test_a_client_that_never_reads_is_dropped_after_the_send_timeout_and_frees_its_stream(
    make_client: ClientFactory, lookahead: int, stream_format: str
) -> None:
    backend = StandInBackend(delay=0.02)  # all ten chunks would take 0.2 s, were they made
    client = make_client(
        backend, send_timeout=1.0, lookahead_chunks=lookahead, inference_workers=1,
        urgent_workers=0, group_phonemes=50,  # one chunk per sentence
    )  # fmt: skip
    body = {"input": TEN_SENTENCES, "response_format": "pcm", "stream_format": stream_format}
    started = time.monotonic()
    pending = client.portal.start_task_soon(asgi_post, client.app, SPEECH, body, read_nothing)

    time.sleep(0.6)
    # Bounded buffering: the chunk being sent and the look-ahead, nothing more.
    assert backend.call_count == 1 + lookahead
    metrics = client.get("/metrics").text
    assert metric(metrics, "tts_active_streams") == 1

    messages, raised = pending.result(timeout=10)
    assert raised is None  # ended quietly, no exception for the server to log
    assert 1.0 <= time.monotonic() - started < 3.0
    bodies = [m for m in messages if m["type"] == "http.response.body"]
    assert all(m.get("more_body") for m in bodies), "the response must not look complete"
    assert client.app.state.service.synthesizer.open_streams == 0
    metrics = client.get("/metrics").text
    assert metric(metrics, "tts_active_streams") == 0
    assert metric(metrics, "tts_queued_chunks") == 0
    assert metric(metrics, "tts_cancelled_streams_total", reason="send_timeout") == 1
    assert metric(metrics, "tts_speech_requests_total", outcome="cancelled") == 1
    assert backend.call_count == 1 + lookahead  # nothing more was synthesized afterwards
    after = client.post(SPEECH, json={"input": "Still serving.", "response_format": "pcm"})
    assert after.status_code == 200 and decode(after.content, "pcm").rms > 0.03  # -23 LUFS


def test_a_slow_but_steady_reader_is_never_cut(make_client: ClientFactory) -> None:
    """The timeout is on each 16 KiB piece, not on a whole chunk: a reader that takes 0.1 s per
    16 KiB gets a chunk that takes it four times the timeout to read."""
    client = make_client(StandInBackend(), send_timeout=0.3)
    bytes_per_second = SEND_PIECE_BYTES / 0.1

    async def slow_reader(message: dict) -> None:
        await anyio.sleep(len(message.get("body", b"")) / bytes_per_second)

    text = "One sentence here. Two sentences here. Three sentences here, and then some more."
    body = {"input": text, "response_format": "pcm", "split_sentences": False}  # one chunk
    messages, raised = client.portal.call(asgi_post, client.app, SPEECH, body, slow_reader)
    assert raised is None
    bodies = [m for m in messages if m["type"] == "http.response.body"]
    assert not bodies[-1].get("more_body") and all(m.get("more_body") for m in bodies[:-1])
    data = b"".join(m["body"] for m in bodies)
    assert len(data) / bytes_per_second > 4 * 0.3
    audio = decode(data, "pcm")
    assert audio.duration > 4 and audio.rms > 0.03  # a tone at -23 LUFS, not silence
    metrics = client.get("/metrics").text
    assert metric(metrics, "tts_speech_requests_total", outcome="done") == 1


def test_bodies_reach_the_server_in_pieces_of_at_most_16_kib(make_client: ClientFactory) -> None:
    # Chunks grow with the model's measured speed, which the first request changes: fix the
    # growth so that both requests are chunked, and so sound, alike.
    client = make_client(chunk_growth_speed_share=0.0)
    body = {"input": TEN_SENTENCES, "response_format": "wav"}
    messages, raised = client.portal.call(asgi_post, client.app, SPEECH, body)
    assert raised is None
    bodies = [m["body"] for m in messages if m["type"] == "http.response.body"]
    assert max(len(b) for b in bodies) <= SEND_PIECE_BYTES
    assert b"".join(bodies) == client.post(SPEECH, json=body).content


def test_a_burst_of_requests_cannot_all_pass_the_stream_limit_at_once(
    make_client: ClientFactory,
) -> None:
    """Regression: the capacity check came before an ``await`` (markup stripping in a thread)
    and the stream was opened after it, so requests arriving together all passed the check."""
    client = make_client(StandInBackend(delay=0.2), max_streams=2)
    body = {"input": "One sentence here. Two sentences here.", "response_format": "pcm"}

    async def burst() -> list[int]:
        statuses: list[int] = []

        async def one() -> None:
            messages, raised = await asgi_post(client.app, SPEECH, body)
            assert raised is None
            statuses.append(messages[0]["status"])

        async with anyio.create_task_group() as group:
            for _ in range(6):
                group.start_soon(one)
        return statuses

    assert sorted(client.portal.call(burst)) == [200, 200, 429, 429, 429, 429]


@pytest.mark.parametrize("stream", [False, True])
def test_a_client_that_hangs_up_before_its_audio_starts_stops_the_work_at_once(
    make_client: ClientFactory, stream: bool
) -> None:
    """Regression: a ``stream: false`` client that hung up kept its slot and the CPU until the
    whole file was synthesized, and a streaming one was noticed only when its first chunk was
    sent. Both now end within a share of one chunk's time, and free their stream."""
    delay = 10.0  # one (stand-in) chunk's inference time
    backend = StandInBackend(delay=delay)
    client = make_client(backend, inference_workers=1, urgent_workers=1, group_phonemes=50)
    body = {"input": TEN_SENTENCES, "response_format": "mp3", "stream": stream}
    hung_up: list[float] = []

    def first_chunk_running() -> bool:
        """The client hangs up once the first chunk's inference runs (however long a busy
        machine took to get there)."""
        if backend.call_count and not hung_up:
            hung_up.append(time.monotonic())
        return bool(hung_up)

    messages, raised = client.portal.call(
        lambda: asgi_post(
            client.app, SPEECH, body, disconnect_when=first_chunk_running, disconnect_after=0.3
        )
    )
    took = time.monotonic() - hung_up[0]
    assert raised is None
    assert took < delay / 4, took
    assert not any(m["type"] == "http.response.body" and m.get("body") for m in messages)
    metrics = client.get("/metrics").text
    assert metric(metrics, "tts_cancelled_streams_total", reason="client_disconnected") == 1
    assert metric(metrics, "tts_queued_chunks") == 0
    assert client.app.state.service.synthesizer.open_streams == 0
    assert backend.call_count <= 2  # at most the chunks already running when it hung up


def test_a_client_that_hangs_up_in_the_body_is_no_client_error(make_client: ClientFactory) -> None:
    """A body cut short (the client hung up, or the body timeout cut it off) was answered and
    counted as a 400 "error parsing the body"; nobody is there to read an answer."""
    client = make_client()
    body = {"input": "Hello there.", "response_format": "pcm"}
    messages, raised = client.portal.call(
        lambda: asgi_post(client.app, SPEECH, body, hang_up_in_body=True)
    )
    assert raised is None
    assert messages[0]["status"] == 499
    errors = client.get("/metrics").text
    assert "tts_errors_total{" not in errors, errors


async def read_no_audio(message: dict) -> None:
    """A WebSocket client that takes the events, then never reads audio: buffers full."""
    if message["type"] == "websocket.send" and message.get("bytes") is not None:
        await anyio.sleep_forever()


def test_a_streamed_text_client_that_never_reads_is_dropped_and_frees_its_turn(
    make_client: ClientFactory,
) -> None:
    backend = StandInBackend(delay=0.02)
    client = make_client(
        backend, send_timeout=1.0, lookahead_chunks=1, inference_workers=1, urgent_workers=0,
        group_phonemes=50,  # one chunk per sentence
    )  # fmt: skip
    frames = [
        json.dumps({"type": "turn.start", "text": TEN_SENTENCES}),
        json.dumps({"type": "turn.end"}),
    ]
    started = time.monotonic()
    pending = client.portal.start_task_soon(
        asgi_websocket, client.app, "/v1/audio/speech/stream", frames, read_no_audio
    )
    messages, raised = pending.result(timeout=10)
    assert raised is None
    assert 1.0 <= time.monotonic() - started < 3.0
    assert not [m for m in messages if "turn.done" in m.get("text", "")]
    assert backend.call_count <= 3  # the chunk being sent, the look-ahead, one starting
    assert client.app.state.service.synthesizer.open_streams == 0
    metrics = client.get("/metrics").text
    assert metric(metrics, "tts_active_streams") == 0
    assert metric(metrics, "tts_cancelled_streams_total", reason="send_timeout") == 1
    assert metric(metrics, "tts_text_stream_connections") == 0
