"""The streamed-text WebSocket against a real server with the real model: an independent ear
(Whisper) hears a reply fed as a language model writes it, abbreviations, decimals and sentences
split across its pieces; audio starts before the text is complete; clear stops the turn and the
connection goes on; a hang-up frees the turn's stream; malformed messages get error events."""

from __future__ import annotations

import json
import time
from typing import Any

import numpy as np
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from tests.bad_inputs import BAD_MESSAGES
from tests.helpers import metric, resample_to_16k, speech, word_error_rate
from tests.integration.conftest import RunningServer

pytestmark = pytest.mark.slow

RECV_TIMEOUT_S = 120.0
REPLY = (
    'Dr. Smith said, "The results are in." The new model is 3.5 times faster than the old '
    "one. It costs about twelve dollars a month. We think you will like it."
)


def ws_url(server: RunningServer) -> str:
    return server.url.replace("http://", "ws://") + "/v1/audio/speech/stream"


def tokens(text: str, size: int = 4) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


def collect(ws: ClientConnection, kind: str = "turn.done") -> tuple[list[dict[str, Any]], bytes]:
    """Events and audio until an event of ``kind``."""
    events: list[dict[str, Any]] = []
    audio = bytearray()
    while True:
        frame = ws.recv(timeout=RECV_TIMEOUT_S)
        if isinstance(frame, bytes):
            audio += frame
            continue
        event = json.loads(frame)
        events.append(event)
        if event["type"] == kind:
            return events, bytes(audio)


def heard(whisper, pcm: bytes) -> str:  # noqa: ANN001 - faster_whisper.WhisperModel
    samples = np.frombuffer(pcm, "<i2").astype(np.float32) / 32768
    segments, _ = whisper.transcribe(resample_to_16k(samples, 24000), language="en", beam_size=1)
    return " ".join(segment.text for segment in segments)


def test_whisper_hears_a_reply_streamed_token_by_token(server: RunningServer, whisper) -> None:  # noqa: ANN001
    with connect(ws_url(server)) as ws:
        ws.send(json.dumps({"type": "turn.start", "voice": "af_heart"}))
        # "Dr." and "Smith", "3." and "5", the closing quote: each split across tokens.
        for token in tokens(REPLY, 3):
            ws.send(json.dumps({"type": "text.delta", "text": token}))
        ws.send(json.dumps({"type": "turn.end"}))
        events, pcm = collect(ws)
    done = events[-1]
    assert done["status"] == "completed", done
    spoken = [e for e in events if e["type"] == "text.spoken"]
    # Spoken in pieces cut at sentence ends, never after "Dr." or "3.". How many sentences a
    # later piece holds depends on how far the text had come when it was planned.
    assert len(spoken) >= 2  # not as one piece
    pieces = [REPLY[e["start"] : e["end"]].strip() for e in spoken]
    assert all(p.endswith((".", '."')) for p in pieces), pieces
    assert not any(p.endswith(("Dr.", "3.")) for p in pieces), pieces
    text = heard(whisper, pcm)
    assert word_error_rate(REPLY, text) <= 0.2, text


def test_first_audio_comes_before_the_text_is_complete(server: RunningServer) -> None:
    first_sentence = "Here is the first sentence of the answer."
    # What this machine needs for that sentence, measured now: the reply is written slowly
    # enough that its first sentence's audio is due well before the writing ends.
    started = time.monotonic()
    assert speech(server, input=first_sentence, response_format="pcm").status_code == 200
    measured = time.monotonic() - started
    rest = " ".join(f"Then comes sentence number {n}." for n in range(2, 12))
    pieces = tokens(f"{first_sentence} {rest}")
    pause = 4 * measured / len(pieces[len(first_sentence) // 4 :])
    with connect(ws_url(server)) as ws:
        ws.send(json.dumps({"type": "turn.start"}))
        first_audio_at: int | None = None
        for sent, piece in enumerate(pieces, 1):
            ws.send(json.dumps({"type": "text.delta", "text": piece}))
            time.sleep(pause)
            while True:  # read what has come (a client that stops reading is cut)
                try:
                    frame = ws.recv(timeout=0)
                except TimeoutError:
                    break
                if isinstance(frame, bytes) and first_audio_at is None:
                    first_audio_at = sent
        ws.send(json.dumps({"type": "turn.end"}))
        events, _ = collect(ws)
    assert events[-1]["status"] == "completed"
    assert first_audio_at is not None and first_audio_at < len(pieces), (first_audio_at, measured)


def test_clear_stops_the_turn_and_the_connection_goes_on(server: RunningServer) -> None:
    before = server_metrics(server)
    long_reply = " ".join(f"This is sentence number {n} of a long answer." for n in range(30))
    with connect(ws_url(server)) as ws:
        ws.send(json.dumps({"type": "turn.start", "text": long_reply}))
        ws.send(json.dumps({"type": "turn.end"}))
        while not isinstance(ws.recv(timeout=RECV_TIMEOUT_S), bytes):
            pass
        ws.send(json.dumps({"type": "turn.clear"}))
        events, _ = collect(ws)
        done = events[-1]
        assert done["status"] == "cleared" and 0 < done["spoken_until"] < len(long_reply)
        ws.send(json.dumps({"type": "turn.start", "text": "A new answer."}))
        ws.send(json.dumps({"type": "turn.end"}))
        after_events, pcm = collect(ws)
        assert after_events[-1]["status"] == "completed" and len(pcm) > 24000
    after = server_metrics(server)
    cleared = "tts_cancelled_streams_total"
    assert metric(after, cleared, reason="cleared") == metric(before, cleared, reason="cleared") + 1
    # Its queued synthesis went (a chunk already running finishes; whether one was still queued
    # depends on timing, so tts_cancelled_chunks_total is not required to move).
    deadline = time.monotonic() + 30
    while metric(after, "tts_queued_chunks") and time.monotonic() < deadline:
        time.sleep(0.05)
        after = server_metrics(server)
    assert metric(after, "tts_queued_chunks") == 0 and metric(after, "tts_active_streams") == 0


def test_a_hang_up_mid_turn_frees_its_stream(server: RunningServer) -> None:
    long_reply = " ".join(f"This is sentence number {n} of a long answer." for n in range(30))
    with connect(ws_url(server)) as ws:
        ws.send(json.dumps({"type": "turn.start", "text": long_reply}))
        while not isinstance(ws.recv(timeout=RECV_TIMEOUT_S), bytes):
            pass
    deadline = time.monotonic() + 30
    while metric(server_metrics(server), "tts_active_streams") and time.monotonic() < deadline:
        time.sleep(0.05)
    metrics = server_metrics(server)
    assert metric(metrics, "tts_active_streams") == 0
    assert metric(metrics, "tts_text_stream_connections") == 0
    assert speech(server, input="Still serving.", response_format="pcm").status_code == 200


def test_bad_messages_get_error_events_and_the_connection_stays_usable(
    server: RunningServer,
) -> None:
    with connect(ws_url(server)) as ws:
        for frame, code, param in BAD_MESSAGES:
            ws.send(frame)
            error = json.loads(ws.recv(timeout=RECV_TIMEOUT_S))
            assert error["type"] == "error", (frame, error)
            assert error["error"]["type"] == "invalid_request_error", (frame, error)
            if code is not None:
                assert error["error"]["code"] == code, (frame, error)
            assert error["error"].get("param") == param, (frame, error)
        ws.send(json.dumps({"type": "turn.start", "text": "Still here."}))
        ws.send(json.dumps({"type": "turn.end"}))
        events, pcm = collect(ws)
        assert events[-1]["status"] == "completed" and pcm


def test_an_oversized_message_closes_the_connection(server: RunningServer) -> None:
    with connect(ws_url(server), max_size=None) as ws:
        ws.send(json.dumps({"type": "text.delta", "text": "x" * 1_100_000}))
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=RECV_TIMEOUT_S)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009


def server_metrics(server: RunningServer) -> str:
    import httpx

    return httpx.get(f"{server.url}/metrics", timeout=30).text
