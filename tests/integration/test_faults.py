"""Faults, against a real ``tts-service serve`` with the real model: a client that stops
reading is dropped after the send timeout and everything it held is freed; SIGTERM lets the
streams in progress finish, or cuts them cleanly when the grace period is over (an SSE stream
with an ``error`` event), and the process exits with status 0 within its deadline either way."""

from __future__ import annotations

import base64
import json
import signal
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from tests.helpers import LONG_TEXT, decode, metric, sse_events
from tts_service.config import Settings
from tts_service.server import EXIT_MARGIN_S

from .conftest import RunningServer, start_server, stop_server

SEND_TIMEOUT_S = 2
CLIENT_RECEIVE_BUFFER = 4096
CLIENT_MAX_SEGMENT = 536
"""A stalled client's small receive buffer and segment size keep the server's kernel from
growing its send buffer (on loopback it would take up to 4 MB, over a minute of pcm): about
100 KiB, plus uvicorn's 64 KiB, hold less than the first two chunks of audio."""
EXIT_SLACK_S = 1.0
"""Beyond the server's exit deadline: the signal's delivery and the process's exit."""
TWO_SHORT_SENTENCES = "The first sentence is short. The second one is a little longer."


def scrape(server: RunningServer) -> str:
    return httpx.get(f"{server.url}/metrics", timeout=30).text


def log_problems(server: RunningServer) -> list[str]:
    """Lines that must never appear: tracebacks, and uvicorn complaining about a response."""
    markers = ("Traceback", "Exception in ASGI application", "ASGI callable", "Cancel ")
    return [line for line in server.log().splitlines() if any(m in line for m in markers)]


@pytest.fixture(scope="module")
def impatient_server(
    model_settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningServer]:
    running = start_server(
        tmp_path_factory.mktemp("impatient"), {"TTS_SEND_TIMEOUT": str(SEND_TIMEOUT_S)}
    )
    yield running
    stop_server(running)


def post_and_read_only_the_headers(url: str, body: dict) -> tuple[socket.socket, str]:
    """A client with a tiny receive buffer that reads the response headers, then nothing."""
    parts = urlsplit(url)
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, CLIENT_RECEIVE_BUFFER)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, CLIENT_MAX_SEGMENT)
    sock.connect((parts.hostname, parts.port))
    payload = json.dumps(body).encode()
    sock.sendall(
        b"POST /v1/audio/speech HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
        + f"Content-Length: {len(payload)}\r\n\r\n".encode()
        + payload
    )
    sock.settimeout(120)
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(1)  # byte by byte: nothing of the body is taken
    lines = head.decode().split("\r\n")[1:]
    headers = {name.lower(): value for name, _, value in (line.partition(": ") for line in lines)}
    assert head.startswith(b"HTTP/1.1 200"), head
    return sock, headers["x-request-id"]


def test_a_client_that_stops_reading_is_dropped_after_the_send_timeout(
    impatient_server: RunningServer,
) -> None:
    server = impatient_server
    body = {"model": "kokoro", "input": LONG_TEXT, "voice": "af_heart", "response_format": "pcm"}
    sock, request_id = post_and_read_only_the_headers(server.url, body)
    with sock:
        headers_at = time.monotonic()
        while metric(metrics := scrape(server), "tts_cancelled_streams_total",
                     reason="send_timeout") < 1:  # fmt: skip
            assert time.monotonic() - headers_at < 180, "the stalled stream was never dropped"
            assert metric(metrics, "tts_active_streams") == 1
            time.sleep(0.1)
        # Freed the moment it was dropped: the scrape that shows the drop shows nothing held.
        assert metric(metrics, "tts_active_streams") == 0
        assert metric(metrics, "tts_queued_chunks") == 0
        assert f"[{request_id}] speech cancelled (send_timeout)" in server.log()
        # The connection was closed (reset): the client gets what was buffered, then the end.
        received = 0
        try:
            while piece := sock.recv(65536):
                received += len(piece)
        except ConnectionResetError:
            pass
        assert received < 1_000_000  # what the buffers held, not the ~4 MB the text makes
    # Synthesis never ran ahead of the stalled client: the chunks that went into the buffers,
    # the one being sent and the look-ahead (the text has about 25 chunks).
    assert len(server.chunk_lines(request_id)) <= 5, server.chunk_lines(request_id)
    # Nor after: the workers take chunks in turn, so once a short request is done, a chunk of
    # the dropped stream still running then is done too; a second one shows nothing followed.
    probe = {**body, "input": "Probe."}
    assert httpx.post(f"{server.url}/v1/audio/speech", json=probe, timeout=60).is_success
    after_first_probe = len(server.chunk_lines(request_id))
    assert httpx.post(f"{server.url}/v1/audio/speech", json=probe, timeout=60).is_success
    assert len(server.chunk_lines(request_id)) == after_first_probe
    response = httpx.post(
        f"{server.url}/v1/audio/speech", json=body | {"input": "Still serving."}, timeout=60
    )
    assert response.status_code == 200 and decode(response.content, "pcm").rms > 0.01
    assert log_problems(server) == []


@dataclass
class Listener:
    """Reads one streamed reply in a thread; ``started`` is set at its first bytes."""

    url: str
    body: dict
    started: threading.Event = field(default_factory=threading.Event)
    data: bytearray = field(default_factory=bytearray)
    error: Exception | None = None
    thread: threading.Thread | None = None

    def start(self) -> Listener:
        self.thread = threading.Thread(target=self._read)
        self.thread.start()
        return self

    def _read(self) -> None:
        try:
            with httpx.stream(
                "POST", f"{self.url}/v1/audio/speech", json=self.body, timeout=180
            ) as response:
                assert response.status_code == 200
                for piece in response.iter_raw():
                    self.data += piece
                    self.started.set()
        except httpx.TransportError as exc:  # cut short: incomplete body or connection reset
            self.error = exc
        finally:
            self.started.set()

    def join(self) -> None:
        assert self.thread is not None
        self.thread.join(timeout=240)

    @property
    def events(self) -> list[tuple[str, dict]]:
        return sse_events(self.data.decode())


BOTH_ADMITTED = {"TTS_FIRST_AUDIO_WAIT": "3600", "TTS_MAX_PLAYBACK_GAP": "3600"}
"""Admission left to the stream limit: the shutdown tests need both streams of ``stream_pair``
running, even on a machine too busy to feed two listeners without gaps."""


def stream_pair(server: RunningServer, text: str) -> tuple[Listener, Listener]:
    """One raw mp3 stream and one SSE stream of ``text``, both started (first bytes in)."""
    body = {"model": "kokoro", "input": text, "voice": "af_heart"}
    audio = Listener(server.url, body | {"response_format": "mp3"}).start()
    events = Listener(server.url, body | {"response_format": "pcm", "stream_format": "sse"})
    events.start()
    assert audio.started.wait(120) and events.started.wait(120)
    assert audio.error is None and events.error is None
    return audio, events


def test_sigterm_lets_streams_in_progress_finish_then_exits_0(
    model_settings: Settings, tmp_path: Path
) -> None:
    server = start_server(tmp_path, {"TTS_SHUTDOWN_GRACE": "150", **BOTH_ADMITTED})
    try:
        audio, events = stream_pair(server, TWO_SHORT_SENTENCES)
        server.process.send_signal(signal.SIGTERM)
        time.sleep(1.0)
        with pytest.raises(httpx.ConnectError):  # no new connections while draining
            httpx.get(f"{server.url}/health", timeout=5)
        audio.join()
        events.join()
        assert server.process.wait(timeout=60) == 0
    finally:
        stop_server(server)
    assert audio.error is None and events.error is None
    speech = decode(bytes(audio.data))
    assert speech.duration > 3.0 and speech.rms > 0.01
    names = [name for name, _ in events.events]
    assert names[-1] == "speech.audio.done" and set(names[:-1]) == {"speech.audio.delta"}
    pcm = b"".join(base64.b64decode(data["audio"]) for name, data in events.events[:-1])
    assert abs(decode(pcm, "pcm").duration - speech.duration) < 0.5
    # Both were still streaming when the server began to stop, and finished after that.
    lines = server.log().splitlines()
    stopping = next(n for n, line in enumerate(lines) if "Stopping: 2 connection(s)" in line)
    assert sum("speech done" in line for line in lines[stopping:]) == 2
    assert log_problems(server) == []


def test_streams_still_running_when_the_grace_period_ends_are_cut_within_its_deadline(
    model_settings: Settings, tmp_path: Path
) -> None:
    """Regression: with 5 streams running, the process exited long after the grace period (23 s
    after SIGTERM with 10 s of grace), past the orchestrators' kill; uvicorn's backstop logged
    tracebacks; an SSE stream was dropped without a ``done`` or ``error`` event. Now audio
    streams are dropped, SSE streams end with an ``error`` event, and the process is gone within
    the grace period plus ``EXIT_MARGIN_S`` (a timer's deadline, not a speed: the slack covers
    the signal's delivery and the exit)."""
    grace = 1.0
    server = start_server(tmp_path, {"TTS_SHUTDOWN_GRACE": str(grace), **BOTH_ADMITTED})
    try:
        audio, events = stream_pair(server, LONG_TEXT)
        body = {
            "model": "kokoro",
            "input": LONG_TEXT,
            "voice": "af_heart",
            "response_format": "pcm",
        }
        more = [Listener(server.url, body).start() for _ in range(3)]
        for listener in more:
            assert listener.started.wait(120) and listener.error is None
        signalled = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        status = server.process.wait(timeout=120)
        stopped_after = time.monotonic() - signalled
        for listener in (audio, events, *more):
            listener.join()
    finally:
        stop_server(server)
    assert status == 0
    assert stopped_after < grace + EXIT_MARGIN_S + EXIT_SLACK_S, stopped_after
    for listener in (audio, *more):  # an aborted transfer, not a short file
        assert isinstance(listener.error, httpx.TransportError)
    assert events.error is None  # the SSE stream ended in-band
    names = [name for name, _ in events.events]
    assert names[-1] == "error" and set(names[:-1]) == {"speech.audio.delta"}, names
    assert events.events[-1][1]["error"]["code"] == "shutdown"
    assert server.log().count("speech cancelled (shutdown)") == 5
    assert log_problems(server) == []


def test_sigterm_during_one_long_slow_chunk_exits_within_the_deadline(
    model_settings: Settings, tmp_path: Path
) -> None:
    """An unsplit text at ``speed: 0.25`` is the longest work a chunk may be: up to
    ``TTS_MAX_CHUNK_SECONDS`` of audio, seconds of inference on 2 cores (before chunks were
    bounded in audio seconds, it was one 510-phoneme chunk of 145 s, which once held a stop for
    69 s). It is asked as a whole file (``stream: false``), so it is rendered in one inference,
    not in windows. A stop during it still ends within the deadline, with status 0 and no
    traceback: the backend's interrupt stops onnxruntime between graph nodes, and the exit timer
    ends the process should that not suffice."""
    grace = 1.0
    server = start_server(tmp_path, {"TTS_SHUTDOWN_GRACE": str(grace)})
    try:
        body = {
            "model": "kokoro", "input": LONG_TEXT[:576], "voice": "af_heart", "speed": 0.25,
            "split_sentences": False, "response_format": "pcm", "stream": False,
        }  # fmt: skip
        listener = Listener(server.url, body).start()
        asked = time.monotonic()
        while metric(scrape(server), "tts_queued_chunks") < 1:  # submitted
            assert time.monotonic() - asked < 120, "the request never got in"
            time.sleep(0.05)
        time.sleep(0.5)  # and taken by a worker: its inference runs for many seconds
        assert not listener.started.is_set()
        signalled = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        status = server.process.wait(timeout=120)
        stopped_after = time.monotonic() - signalled
        listener.join()
    finally:
        stop_server(server)
    assert status == 0
    assert stopped_after < grace + EXIT_MARGIN_S + EXIT_SLACK_S, stopped_after
    assert isinstance(listener.error, httpx.TransportError)
    assert log_problems(server) == []
