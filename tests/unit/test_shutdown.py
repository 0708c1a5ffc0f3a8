"""Stopping the server, with the stand-in backend in a server process of its own
(``tests/unit/standin_server.py``): the process is gone within the grace period plus
``EXIT_MARGIN_S`` even under an inference that cannot be interrupted, and an SSE stream still
running at the end of the grace period ends with an ``error`` event, not a dropped connection.

The bounds are the server's own deadlines (a timer), not a speed: the slack on top of them
covers only the signal's delivery and the process's exit."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from tests.helpers import SPEECH, free_port, metric, sse_events
from tts_service.server import EXIT_MARGIN_S

ROOT = Path(__file__).resolve().parents[2]
SLACK_S = 1.0
"""Beyond the server's deadline: the signal's delivery and the process's exit."""
START_TIMEOUT_S = 60.0
TEXT = " ".join(f"Sentence number {n} is here." for n in range(1, 30))


@contextmanager
def standin_server(
    tmp_path: Path, grace: float, delay: float, *flags: str
) -> Iterator[tuple[str, subprocess.Popen[bytes], Path]]:
    """A stand-in server process on a free port, ready; killed if a test leaves it running."""
    port = free_port()
    log = tmp_path / "server.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "tests.unit.standin_server", str(port), str(delay), *flags],
            cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
            env={**{k: v for k, v in os.environ.items() if not k.startswith("TTS_")},
                 "TTS_SHUTDOWN_GRACE": str(grace), "TTS_G2P": "espeak"},
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            assert process.poll() is None, log.read_text()
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        yield url, process, log
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def stop_and_time(process: subprocess.Popen[bytes]) -> tuple[int, float]:
    """SIGTERM; the exit status and the seconds it took."""
    signalled = time.monotonic()
    process.send_signal(signal.SIGTERM)
    status = process.wait(timeout=120)
    return status, time.monotonic() - signalled


def test_an_inference_that_cannot_be_interrupted_does_not_hold_the_process_past_its_deadline(
    tmp_path: Path,
) -> None:
    """Regression: shutdown waited up to 60 s for a running inference, and PyTorch's cannot be
    stopped; the orchestrator's kill came first. Now the process exits (status 0) at the
    deadline, abandoning the inference, without the interpreter's teardown under it."""
    grace = 0.5
    with standin_server(tmp_path, grace, 300.0, "--uninterruptible") as (url, process, log):
        body = {"model": "kokoro", "input": "Hello there.", "voice": "af_heart"}

        def ask() -> None:
            with contextlib.suppress(httpx.TransportError):  # the connection is dropped
                httpx.post(f"{url}{SPEECH}", json=body, timeout=120)

        client = threading.Thread(target=ask, daemon=True)
        client.start()
        asked = time.monotonic()
        while metric(httpx.get(f"{url}/metrics", timeout=10).text, "tts_queued_chunks") < 1:
            assert time.monotonic() - asked < START_TIMEOUT_S, "the request never got in"
            time.sleep(0.05)  # until the request's one chunk is queued
        time.sleep(0.5)  # and taken by an idle worker: its inference runs for 300 s
        status, took = stop_and_time(process)
    assert status == 0
    assert took < grace + EXIT_MARGIN_S + SLACK_S, took
    text = log.read_text()
    assert "exiting now, abandoning the work still running" in text
    assert "Traceback" not in text


def test_an_sse_stream_cut_at_the_end_of_the_grace_period_ends_with_an_error_event(
    tmp_path: Path,
) -> None:
    """Regression: the SSE stream was dropped mid-stream, without a ``done`` or ``error`` event,
    so a client could not tell a cut from a network fault."""
    grace = 1.0
    with standin_server(tmp_path, grace, 0.2) as (url, process, log):
        body = {
            "model": "kokoro", "input": TEXT, "voice": "af_heart", "response_format": "pcm",
            "stream_format": "sse",
        }  # fmt: skip
        received = bytearray()
        started = threading.Event()
        failure: list[Exception] = []

        def listen() -> None:
            try:
                with httpx.stream("POST", f"{url}{SPEECH}", json=body, timeout=60) as response:
                    for piece in response.iter_raw():
                        received.extend(piece)
                        started.set()
            except httpx.TransportError as exc:
                failure.append(exc)
            finally:
                started.set()

        client = threading.Thread(target=listen)
        client.start()
        assert started.wait(30)
        status, took = stop_and_time(process)
        client.join(30)
    assert status == 0
    assert took < grace + EXIT_MARGIN_S + SLACK_S, took
    assert failure == []  # a complete response, not a dropped connection
    events = sse_events(received.decode())
    names = [name for name, _ in events]
    assert names[-1] == "error" and set(names[:-1]) == {"speech.audio.delta"}, names
    error = events[-1][1]["error"]
    assert error["code"] == "shutdown" and error["type"] == "service_unavailable"
    text = log.read_text()
    assert "speech cancelled (shutdown)" in text
    assert "Traceback" not in text


def _ws_url(url: str) -> str:
    return url.replace("http://", "ws://") + "/v1/audio/speech/stream"


def events_until_closed(ws: ClientConnection) -> list[dict[str, Any]]:
    """The events a WebSocket receives until the server closes it (its audio skipped)."""
    events = []
    with contextlib.suppress(ConnectionClosed):
        while True:
            frame = ws.recv(timeout=30)
            if isinstance(frame, str):
                events.append(json.loads(frame))
    return events


def test_a_streamed_text_turn_in_progress_finishes_within_the_grace_period(
    tmp_path: Path,
) -> None:
    with standin_server(tmp_path, 30.0, 0.05) as (url, process, log):
        with connect(_ws_url(url), open_timeout=30) as ws:
            ws.send(json.dumps({"type": "turn.start", "text": "The first sentence is here."}))
            assert json.loads(ws.recv(timeout=30))["type"] == "turn.started"
            process.send_signal(signal.SIGTERM)
            time.sleep(0.5)  # stopping has begun; the turn still takes its text
            ws.send(json.dumps({"type": "text.delta", "text": " And a second one."}))
            ws.send(json.dumps({"type": "turn.end"}))
            events = events_until_closed(ws)
        assert ws.close_code == 1001  # going away, once its turn is done
        done = [e for e in events if e["type"] == "turn.done"]
        assert len(done) == 1 and done[0]["status"] == "completed"
        assert done[0]["spoken_until"] == len("The first sentence is here. And a second one.")
        assert process.wait(timeout=30) == 0
        assert "Traceback" not in log.read_text()


def test_a_streamed_text_turn_cut_at_the_end_of_the_grace_period_says_so(
    tmp_path: Path,
) -> None:
    grace = 1.0
    with standin_server(tmp_path, grace, 0.2) as (url, process, log):
        with connect(_ws_url(url), open_timeout=30) as ws:
            ws.send(json.dumps({"type": "turn.start", "text": TEXT}))
            ws.send(json.dumps({"type": "turn.end"}))
            while not isinstance(ws.recv(timeout=30), bytes):
                pass  # until its first audio
            status, took = stop_and_time(process)
            events = events_until_closed(ws)
        assert ws.close_code == 1001
    assert status == 0
    assert took < grace + EXIT_MARGIN_S + SLACK_S, took
    done = events[-1]
    assert done["type"] == "turn.done" and done["status"] == "failed"
    assert done["error"]["code"] == "shutdown" and 0 < done["spoken_until"] < len(TEXT)
    text = log.read_text()
    assert "speech cancelled (shutdown)" in text
    assert "Traceback" not in text
