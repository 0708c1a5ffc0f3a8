"""The WebSocket for streamed text, in-process against the stand-in backend: turns, their events
and audio, the incremental cut, flush, stall, clear, queued turns, errors that leave the
connection usable, keys, origins, limits and metrics."""

from __future__ import annotations

import base64
import itertools
import json
import time
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from tests.bad_inputs import BAD_MESSAGES
from tests.helpers import assert_captions_fit, metric, read_captions
from tts_service.schemas import WordTimestamp

from .conftest import ClientFactory
from .standin import StandInBackend

URL = "/v1/audio/speech/stream"
REPLY = (
    "Hello there! Dr. Smith paid $3.50 for the U.S. edition, which was cheap. "
    "It arrived on Monday. Thanks for asking."
)


def tokens(text: str, size: int = 4) -> list[str]:
    """``text`` cut as a language model writes it: a few characters at a time."""
    return [text[i : i + size] for i in range(0, len(text), size)]


class Turn:
    """What came back for one turn: its events in order (binary frames as ``audio`` events)."""

    def __init__(self, events: list[dict[str, Any]], audio: bytes) -> None:
        self.events = events
        self.audio = audio

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [event for event in self.events if event["type"] == kind]

    @property
    def done(self) -> dict[str, Any]:
        return self.of("turn.done")[-1]

    @property
    def samples(self) -> np.ndarray:
        return np.frombuffer(self.audio, dtype="<i2")


def receive(ws: Any) -> dict[str, Any]:
    """The next frame as an event (binary: ``{"type": "audio", "bytes": ...}``)."""
    message = ws.receive()
    if message["type"] == "websocket.close":
        raise WebSocketDisconnect(message.get("code", 1000))
    if message.get("bytes") is not None:
        return {"type": "audio", "bytes": message["bytes"]}
    return json.loads(message["text"])  # type: ignore[no-any-return]


def until(ws: Any, kind: str, turn_id: str | None = None) -> Turn:
    """Frames until an event of ``kind`` (for ``turn_id``, if given)."""
    events: list[dict[str, Any]] = []
    audio = bytearray()
    while True:
        event = receive(ws)
        events.append(event)
        if event["type"] == "audio":
            audio += event["bytes"]
        if event["type"] == kind and turn_id in (None, event.get("turn_id")):
            return Turn(events, bytes(audio))


def speak(ws: Any, text: str, **options: Any) -> Turn:
    """One whole turn: started, fed ``text`` in tokens, ended; what came back."""
    ws.send_json({"type": "turn.start", "voice": "af_heart", **options})
    for token in tokens(text):
        ws.send_json({"type": "text.delta", "text": token})
    ws.send_json({"type": "turn.end"})
    return until(ws, "turn.done")


@pytest.fixture
def ws_client(make_client: ClientFactory) -> TestClient:
    return make_client(StandInBackend())


def test_a_turn_fed_token_by_token_is_spoken_sentence_by_sentence(ws_client: TestClient) -> None:
    with ws_client.websocket_connect(URL) as ws:
        turn = speak(ws, REPLY)
    started = turn.of("turn.started")[0]
    assert started["response_format"] == "pcm" and started["sample_rate"] == 24000
    spoken = turn.of("text.spoken")
    # Contiguous, in order, covering the whole text; "Dr." and "U.S." did not end a sentence,
    # though each was split across tokens.
    assert spoken[0]["start"] == 0 and spoken[-1]["end"] == len(REPLY)
    assert all(a["end"] == b["start"] for a, b in zip(spoken, spoken[1:], strict=False))
    pieces = [REPLY[e["start"] : e["end"]].strip() for e in spoken]
    assert pieces[0] == "Hello there!"
    assert any("Dr. Smith" in p for p in pieces)  # a piece may end at a clause, not at "Dr."
    assert not any(p.endswith(("Dr.", "U.S.")) for p in pieces)
    done = turn.done
    assert done["status"] == "completed" and done["spoken_until"] == len(REPLY)
    assert done["audio_seconds"] == pytest.approx(turn.samples.size / 24000, abs=0.002)
    assert done["usage"]["output_tokens"] == turn.samples.size > 0
    assert np.abs(turn.samples).max() > 1000  # a tone, not silence
    # The audio of each piece comes before the event that reports it.
    first_audio = next(i for i, e in enumerate(turn.events) if e["type"] == "audio")
    assert first_audio < turn.events.index(spoken[0])


def test_audio_starts_before_the_turn_ends(ws_client: TestClient) -> None:
    with ws_client.websocket_connect(URL) as ws:
        ws.send_json({"type": "turn.start"})
        for token in tokens("The first sentence is complete. The second one is not"):
            ws.send_json({"type": "text.delta", "text": token})
        first = receive(ws)  # would wait forever if nothing were spoken before turn.end
        while first["type"] != "audio":
            first = receive(ws)
        spoken = until(ws, "text.spoken")
        assert spoken.of("text.spoken")[0]["end"] == len("The first sentence is complete.")
        ws.send_json({"type": "turn.end"})
        assert until(ws, "turn.done").done["spoken_until"] == len(
            "The first sentence is complete. The second one is not"
        )


def test_base64_audio_carries_all_the_audio(ws_client: TestClient) -> None:
    with ws_client.websocket_connect(URL) as ws:
        turn = speak(ws, REPLY, audio="base64")
    deltas = turn.of("audio.delta")
    assert deltas and not turn.audio  # no binary frame
    samples = np.frombuffer(b"".join(base64.b64decode(d["audio"]) for d in deltas), "<i2")
    assert samples.size == turn.done["usage"]["output_tokens"] > 24000
    assert np.abs(samples).max() > 1000


def test_flush_speaks_an_unfinished_sentence_at_once(ws_client: TestClient) -> None:
    with ws_client.websocket_connect(URL) as ws:
        ws.send_json({"type": "turn.start", "text": "Let me check the weather for"})
        ws.send_json({"type": "text.flush"})
        spoken = until(ws, "text.spoken").of("text.spoken")[0]
        assert spoken["end"] == len("Let me check the weather for")
        ws.send_json({"type": "text.delta", "text": " Paris. It is sunny."})
        ws.send_json({"type": "turn.end"})
        done = until(ws, "turn.done").done
        assert done["spoken_until"] == len("Let me check the weather for Paris. It is sunny.")


def test_a_stalled_sentence_is_spoken_up_to_its_last_clause(make_client: ClientFactory) -> None:
    client = make_client(StandInBackend(), text_stall=0.2)
    with client.websocket_connect(URL) as ws:
        ws.send_json({"type": "turn.start", "text": "Well, as I was saying, the answer is"})
        # Nothing more arrives: after the stall the text is spoken up to its last clause.
        spoken = until(ws, "text.spoken").of("text.spoken")[0]
        assert spoken["end"] == len("Well, as I was saying,")
        ws.send_json({"type": "text.delta", "text": " forty-two."})
        ws.send_json({"type": "turn.end"})
        assert until(ws, "turn.done").done["status"] == "completed"


def test_clear_stops_the_turn_and_the_next_one_is_served(make_client: ClientFactory) -> None:
    client = make_client(StandInBackend(delay=0.05))
    long_reply = " ".join(f"Sentence number {n} is here." for n in range(40))
    with client.websocket_connect(URL) as ws:
        ws.send_json({"type": "turn.start", "turn_id": "a", "text": long_reply})
        ws.send_json({"type": "turn.end"})
        until(ws, "audio")
        ws.send_json({"type": "turn.clear"})
        cleared = until(ws, "turn.done")
        done = cleared.done
        assert done["turn_id"] == "a" and done["status"] == "cleared"
        assert 0 < done["spoken_until"] < len(long_reply)
        after = speak(ws, "And now for something else.", turn_id="b")
        assert after.done["status"] == "completed"
        assert after.of("turn.started")[0]["turn_id"] == "b"
    metrics = client.get("/metrics").text
    assert metric(metrics, "tts_cancelled_streams_total", reason="cleared") == 1
    assert metric(metrics, "tts_text_stream_turns_total", status="cleared") == 1
    assert metric(metrics, "tts_text_stream_turns_total", status="completed") == 1
    assert metric(metrics, "tts_active_streams") == 0


def test_a_turn_started_behind_an_ended_one_follows_its_audio(ws_client: TestClient) -> None:
    with ws_client.websocket_connect(URL) as ws:
        ws.send_json({"type": "turn.start", "turn_id": "one", "text": REPLY})
        ws.send_json({"type": "turn.end"})
        ws.send_json({"type": "turn.start", "turn_id": "two", "text": "Second reply here."})
        ws.send_json({"type": "turn.end"})
        both = until(ws, "turn.done", "two")
    kinds = [(e["type"], e.get("turn_id")) for e in both.events if e["type"] != "audio"]
    done_one = kinds.index(("turn.done", "one"))
    assert kinds.index(("turn.started", "two")) < done_one  # taken at once...
    spoken_two = [i for i, k in enumerate(kinds) if k == ("text.spoken", "two")]
    assert spoken_two and min(spoken_two) > done_one  # ...spoken after the first
    assert [e["status"] for e in both.of("turn.done")] == ["completed", "completed"]


@pytest.mark.parametrize(("frame", "code", "param"), BAD_MESSAGES)
def test_a_bad_message_gets_an_error_and_the_connection_stays_usable(
    ws_client: TestClient, frame: str | bytes, code: str | None, param: str | None
) -> None:
    with ws_client.websocket_connect(URL) as ws:
        if isinstance(frame, bytes):
            ws.send_bytes(frame)
        else:
            ws.send_text(frame)
        error = receive(ws)
        assert error["type"] == "error", error
        detail = error["error"]
        assert set(detail) >= {"message", "type"} and detail["message"]
        assert detail["type"] == "invalid_request_error"
        if code is not None:
            assert detail["code"] == code
        assert detail.get("param") == param
        assert speak(ws, "Still here.").done["status"] == "completed"
    refused = ws_client.get("/metrics").text
    counted = detail.get("code") or detail["type"]
    assert metric(refused, "tts_text_stream_refused_messages_total", code=counted) == 1


def test_turn_rules(ws_client: TestClient) -> None:
    with ws_client.websocket_connect(URL) as ws:
        ws.send_json({"type": "turn.start", "turn_id": "a"})
        until(ws, "turn.started")
        ws.send_json({"type": "turn.start", "turn_id": "b"})
        assert receive(ws)["error"]["code"] == "turn_in_progress"
        ws.send_json({"type": "text.delta", "turn_id": "zzz", "text": "x"})
        assert receive(ws)["error"]["code"] == "unknown_turn"
        ws.send_json({"type": "text.delta", "turn_id": "a", "text": "Named. "})
        ws.send_json({"type": "turn.end", "turn_id": "a"})
        ws.send_json({"type": "text.delta", "turn_id": "a", "text": "too late"})
        late = until(ws, "error")
        assert late.of("error")[0]["error"]["code"] == "turn_ended"
        assert until(ws, "turn.done").done["spoken_until"] == len("Named. ")


def test_timestamps_need_a_backend_with_durations(make_client: ClientFactory) -> None:
    client = make_client(StandInBackend(durations=False))
    with client.websocket_connect(URL) as ws:
        ws.send_json({"type": "turn.start", "timestamps": True})
        error = receive(ws)["error"]
        assert error["code"] == "unsupported_by_backend" and error["param"] == "timestamps"


def test_timestamps_give_each_piece_its_words(ws_client: TestClient) -> None:
    with ws_client.websocket_connect(URL) as ws:
        turn = speak(ws, "Hello there. How are you today?", timestamps=True)
    words = [w for e in turn.of("text.spoken") for w in e.get("words", [])]
    assert [w["word"] for w in words] == ["Hello", "there.", "How", "are", "you", "today?"]
    assert all(a["end"] <= b["start"] + 1e-6 for a, b in zip(words, words[1:], strict=False))
    assert words[-1]["end"] <= turn.done["audio_seconds"] + 1e-6


@pytest.mark.parametrize("fmt", ["vtt", "srt"])
def test_captions_come_with_the_turns_end_and_match_its_words(
    ws_client: TestClient, fmt: str
) -> None:
    with ws_client.websocket_connect(URL) as ws:
        turn = speak(ws, REPLY, timestamps=True, captions=fmt)
        plain = speak(ws, "Hello there.", timestamps=True)
    words = [WordTimestamp(**w) for e in turn.of("text.spoken") for w in e.get("words", [])]
    cues = read_captions(turn.done["captions"], fmt)
    assert len(cues) >= 3  # three sentences
    assert_captions_fit(cues, words)
    assert cues[-1].end <= turn.done["audio_seconds"] + 0.0005
    assert "captions" not in plain.done


def test_text_beyond_the_buffer_bound_is_refused_not_taken(make_client: ClientFactory) -> None:
    client = make_client(StandInBackend(delay=0.2), max_buffered_text=300)
    with client.websocket_connect(URL) as ws:
        ws.send_json({"type": "turn.start"})
        ws.send_json({"type": "text.delta", "text": "word " * 50})  # 250 characters
        ws.send_json({"type": "text.delta", "text": "more " * 20})  # 100 more: over
        error = until(ws, "error").of("error")[0]
        assert error["error"]["code"] == "buffer_full" and error["error"]["param"] == "text"
        ws.send_json({"type": "turn.end"})
        assert until(ws, "turn.done").done["spoken_until"] == 250


def test_a_busy_server_refuses_a_turn_with_retry_after(make_client: ClientFactory) -> None:
    client = make_client(StandInBackend(), max_streams=1)
    with client.websocket_connect(URL) as first, client.websocket_connect(URL) as second:
        first.send_json({"type": "turn.start", "turn_id": "holds-the-slot"})
        until(first, "turn.started")
        second.send_json({"type": "turn.start", "turn_id": "refused"})
        done = until(second, "turn.done").done
        assert done["status"] == "failed" and done["error"]["code"] == "server_busy"
        first.send_json({"type": "text.delta", "text": "Now it ends."})
        first.send_json({"type": "turn.end"})
        assert until(first, "turn.done").done["status"] == "completed"
        assert speak(second, "My turn now.").done["status"] == "completed"


def test_an_idle_connection_is_closed(make_client: ClientFactory) -> None:
    client = make_client(StandInBackend(), stream_idle_timeout=0.3)
    with client.websocket_connect(URL) as ws:
        with pytest.raises(WebSocketDisconnect) as closed:
            receive(ws)
        assert closed.value.code == 1000


class TestKeysAndOrigins:
    def test_the_key_goes_in_a_header_or_a_subprotocol(self, make_client: ClientFactory) -> None:
        client = make_client(StandInBackend(), api_key="sk-one")
        with pytest.raises(WebSocketDisconnect) as refused, client.websocket_connect(URL):
            pass
        assert refused.value.code == 1008
        with client.websocket_connect(URL, headers={"Authorization": "Bearer sk-one"}) as ws:
            assert speak(ws, "With a header.").done["status"] == "completed"
        offered = ["tts-service", "tts-service.key.sk-one"]
        with client.websocket_connect(URL, subprotocols=offered) as ws:
            assert ws.accepted_subprotocol == "tts-service"
            assert speak(ws, "From a browser.").done["status"] == "completed"
        wrong = ["tts-service", "tts-service.key.sk-two"]
        with pytest.raises(WebSocketDisconnect), client.websocket_connect(URL, subprotocols=wrong):
            pass

    def test_a_browser_on_another_site_is_refused(self, make_client: ClientFactory) -> None:
        client = make_client(StandInBackend())
        with (
            pytest.raises(WebSocketDisconnect) as refused,
            client.websocket_connect(URL, headers={"Origin": "https://evil.example"}),
        ):
            pass
        assert refused.value.code == 1008
        with client.websocket_connect(URL, headers={"Origin": "http://testserver"}) as ws:
            assert speak(ws, "Same origin.").done["status"] == "completed"
        metrics = client.get("/metrics").text
        assert metric(metrics, "tts_text_stream_refused_messages_total", code="origin_not_allowed")

    def test_listed_origins_are_allowed(self, make_client: ClientFactory) -> None:
        client = make_client(StandInBackend(), cors_origins="https://app.example")
        with client.websocket_connect(URL, headers={"Origin": "https://app.example"}) as ws:
            assert speak(ws, "Listed.").done["status"] == "completed"


def test_connections_are_counted(ws_client: TestClient) -> None:
    with ws_client.websocket_connect(URL) as ws:
        speak(ws, "Counting.")
        assert metric(ws_client.get("/metrics").text, "tts_text_stream_connections") == 1
    # The session ends after the client's close is read: poll briefly for the gauge to drop.
    deadline = time.monotonic() + 5
    while metric(ws_client.get("/metrics").text, "tts_text_stream_connections") and (
        time.monotonic() < deadline
    ):
        time.sleep(0.01)
    assert metric(ws_client.get("/metrics").text, "tts_text_stream_connections") == 0


def test_a_sentence_written_after_the_audio_ran_out_is_spoken_clause_by_clause(
    make_client: ClientFactory,
) -> None:
    client = make_client(StandInBackend(), text_stall=60.0)  # not the stall rule's doing
    first = "Hi there. "
    clause = "The garden opens at nine and the glasshouses close at four,"
    with client.websocket_connect(URL) as ws:
        ws.send_json({"type": "turn.start", "text": first + "The"})
        head = until(ws, "text.spoken")
        time.sleep(head.samples.size / 24000 + 0.2)  # its audio has played out: silence now
        ws.send_json({"type": "text.delta", "text": clause[3:]})
        ws.send_json({"type": "text.delta", "text": " so the"})  # the sentence goes on
        spoken = until(ws, "text.spoken").of("text.spoken")[0]
        assert spoken["end"] == len(first + clause)  # not waiting for the sentence's end
        ws.send_json({"type": "text.delta", "text": " morning is best."})
        ws.send_json({"type": "turn.end"})
        assert until(ws, "turn.done").done["status"] == "completed"


def test_a_streamed_turn_keeps_its_prosody_rates_across_sentences(
    make_client: ClientFactory,
) -> None:
    """Markup is read sentence by sentence: the rates of the open <prosody> elements go from one
    sentence to the next, so the end of an inner one restores the outer one."""
    backend = StandInBackend()
    client: TestClient = make_client(backend)
    text = (
        'Hello there. <prosody rate="slow">It is slow. <prosody rate="fast">Now fast.</prosody> '
        "Slow again.</prosody> Back to normal."
    )
    with client.websocket_connect(URL) as ws:
        turn = speak(ws, text)
    assert turn.done["status"] == "completed"
    speeds = [speed for speed, _ in itertools.groupby(call.speed for call in backend.calls)]
    assert speeds == [1.0, 0.75, 1.25, 0.75, 1.0]
