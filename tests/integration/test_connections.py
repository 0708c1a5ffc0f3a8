"""Clumsy and hostile connections against a real ``tts-service serve``: clients that send their
request slowly or not at all, hold connections idle, open more than the bound or more than the
open-file limit allows, send bytes that are not HTTP, or stop reading a response. Each is cut
off or answered in OpenAI's error shape, the log stays small, and the server keeps serving.
Everything goes to the loopback address, bounded in count and time."""

from __future__ import annotations

import json
import os
import shutil
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from websockets.sync.client import connect as ws_connect

from tests.bad_inputs import BAD_HTTP
from tests.helpers import (
    GOOD,
    LONG_TEXT,
    SPEECH,
    assert_openai_error,
    decode,
    metric,
    read_response,
)
from tts_service.config import Settings

from .conftest import RunningServer, start_server, stop_server

HEADER_TIMEOUT_S = 1.0
BODY_TIMEOUT_S = 1.0
KEEPALIVE_TIMEOUT_S = 1
SEND_TIMEOUT_S = 2.0
WAIT_S = 30.0
"""How long a client waits for what must come after a timeout of a second or two: generous, so
that only a server that never acts fails."""


@pytest.fixture(scope="module")
def strict_server(
    model_settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningServer]:
    running = start_server(
        tmp_path_factory.mktemp("strict"),
        {
            "TTS_HEADER_TIMEOUT": str(HEADER_TIMEOUT_S),
            "TTS_BODY_TIMEOUT": str(BODY_TIMEOUT_S),
            "TTS_KEEPALIVE_TIMEOUT": str(KEEPALIVE_TIMEOUT_S),
            "TTS_SEND_TIMEOUT": str(SEND_TIMEOUT_S),
        },
    )
    yield running
    stop_server(running)


def connect(server: RunningServer) -> socket.socket:
    host, port = server.url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)))
    sock.settimeout(WAIT_S)
    return sock


def closed_after(sock: socket.socket) -> tuple[bytes, float]:
    """What the server sent until it closed the connection, and how long that took."""
    start, data = time.monotonic(), b""
    try:
        while piece := sock.recv(65536):
            data += piece
    except ConnectionResetError:
        pass
    return data, time.monotonic() - start


def scrape(server: RunningServer) -> str:
    return httpx.get(f"{server.url}/metrics", timeout=30).text


def test_a_request_head_sent_too_slowly_gets_408_after_the_header_timeout(
    strict_server: RunningServer,
) -> None:
    """Slowloris: a connection that keeps sending a head it never finishes held its socket (and
    a file) forever."""
    with connect(strict_server) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")
        start = time.monotonic()
        response = read_response(sock)
        elapsed = time.monotonic() - start
    assert_openai_error(response, 408, code="request_timeout")
    assert elapsed >= HEADER_TIMEOUT_S * 0.9


def test_a_connection_that_sends_nothing_is_closed_after_the_header_timeout(
    strict_server: RunningServer,
) -> None:
    with connect(strict_server) as sock:
        data, elapsed = closed_after(sock)
    assert data == b""  # nothing to answer: no request began
    assert elapsed >= HEADER_TIMEOUT_S * 0.9


def test_a_request_body_sent_too_slowly_gets_408_after_the_body_timeout(
    strict_server: RunningServer,
) -> None:
    with connect(strict_server) as sock:
        sock.sendall(
            b"POST /v1/audio/speech HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b'Content-Length: 100\r\n\r\n{"input": '
        )
        start = time.monotonic()
        response = read_response(sock)
        elapsed = time.monotonic() - start
    assert_openai_error(response, 408, code="request_timeout")
    assert elapsed >= BODY_TIMEOUT_S * 0.9
    assert httpx.get(f"{strict_server.url}/health", timeout=30).status_code == 200


def test_an_idle_kept_alive_connection_is_closed_after_the_keepalive_timeout(
    strict_server: RunningServer,
) -> None:
    """The idle timeout is a setting (uvicorn's default of 5 s was fixed)."""
    with connect(strict_server) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        data, elapsed = closed_after(sock)
    assert data.startswith(b"HTTP/1.1 200")
    # Closed once idle for the timeout: not half as long again (a fixed 5 s would be 5 times).
    assert KEEPALIVE_TIMEOUT_S * 0.9 <= elapsed < KEEPALIVE_TIMEOUT_S * 1.5 + HEADER_TIMEOUT_S


@pytest.mark.parametrize(("data", "status", "code"),
                         [case[1:] for case in BAD_HTTP], ids=[case[0] for case in BAD_HTTP])  # fmt: skip
def test_bytes_that_are_not_http_get_an_error_in_openais_shape(
    strict_server: RunningServer, data: bytes, status: int, code: str
) -> None:
    """uvicorn answered these with a text/plain 400 and no request id."""
    with connect(strict_server) as sock:
        sock.sendall(data)
        response = read_response(sock)
    error = assert_openai_error(response, status, code=code)
    assert error["type"] == "invalid_request_error"
    assert response.headers["connection"] == "close"


def test_a_client_with_default_buffers_that_stops_reading_is_cut_after_little_audio(
    strict_server: RunningServer,
) -> None:
    """With the kernel's own send buffer, which grows to megabytes on a fast path, a client
    that stopped reading got most of a long text synthesized into buffers before the send
    timeout began to count. The send buffer is now capped: the stream is cut after a few
    chunks, the send timeout after the buffers filled."""
    server = strict_server
    body = {**GOOD, "model": "kokoro", "input": LONG_TEXT}
    # How long this server takes for a text as long as the first chunks of LONG_TEXT.
    first_sentences = ". ".join(LONG_TEXT.split(". ")[:4]) + "."
    start = time.monotonic()
    assert httpx.post(f"{server.url}{SPEECH}", json={**body, "input": first_sentences},
                      timeout=120).is_success  # fmt: skip
    four_sentences_s = time.monotonic() - start

    with connect(server) as sock:
        payload = httpx.Request("POST", "/", json=body).content
        sock.sendall(
            b"POST /v1/audio/speech HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            + f"Content-Length: {len(payload)}\r\n\r\n".encode()
            + payload
        )
        head = b""
        while b"\r\n\r\n" not in head:
            head += sock.recv(1)  # byte by byte: nothing of the body is taken
        assert head.startswith(b"HTTP/1.1 200"), head
        request_id = next(
            line.split(b":", 1)[1].strip().decode()
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"x-request-id")
        )
        headers_at = time.monotonic()
        while metric(scrape(server), "tts_cancelled_streams_total", reason="send_timeout") < 1:
            # The text makes about twenty chunks; the buffers hold about two, plus the look-ahead.
            assert len(server.chunk_lines(request_id)) <= 5, server.chunk_lines(request_id)
            assert time.monotonic() - headers_at < 300, "the stalled stream was never dropped"
            time.sleep(0.1)
        cut_after = time.monotonic() - headers_at
    assert len(server.chunk_lines(request_id)) <= 5, server.chunk_lines(request_id)
    assert cut_after < SEND_TIMEOUT_S + 3 * four_sentences_s, (cut_after, four_sentences_s)


@pytest.fixture
def bounded_server(model_settings: Settings, tmp_path: Path) -> Iterator[RunningServer]:
    running = start_server(tmp_path, {"TTS_MAX_CONNECTIONS": "3"})
    yield running
    stop_server(running)


def test_a_connection_over_the_bound_gets_503_in_openais_shape_and_is_closed(
    bounded_server: RunningServer,
) -> None:
    server = bounded_server
    held = [connect(server) for _ in range(3)]
    try:
        with connect(server) as sock:
            sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            response = read_response(sock)  # and closed: it reads to the end
        error = assert_openai_error(response, 503, code="too_many_connections")
        assert error["type"] == "service_unavailable"
        assert int(response.headers["retry-after"]) >= 1
    finally:
        for sock in held:
            sock.close()
    deadline = time.monotonic() + WAIT_S
    while httpx.get(f"{server.url}/health", timeout=30).status_code != 200:
        assert time.monotonic() < deadline, "never served again after the connections closed"
        time.sleep(0.1)
    assert metric(scrape(server), "tts_rejected_requests_total", reason="too_many_connections") == 1


def cpu_seconds(server: RunningServer) -> float:
    """CPU time the server process has used (user and system)."""
    fields = Path(f"/proc/{server.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


OPEN_FILES = 128
FLOOD = 300
"""Half-sent requests at once: more than the open-file limit lets the server accept."""


@pytest.fixture
def low_file_limit_server(model_settings: Settings, tmp_path: Path) -> Iterator[RunningServer]:
    prlimit = shutil.which("prlimit")
    if prlimit is None:
        pytest.skip("prlimit (util-linux) is not installed")
    running = start_server(
        tmp_path,
        {"TTS_HEADER_TIMEOUT": "3"},
        command=[prlimit, f"--nofile={OPEN_FILES}:{OPEN_FILES}", sys.executable, "-m",
                 "tts_service"],
    )  # fmt: skip
    yield running
    stop_server(running)


def test_a_flood_of_half_sent_requests_at_the_open_file_limit_keeps_the_log_small(
    low_file_limit_server: RunningServer,
) -> None:
    """At the open-file limit, asyncio logged a traceback for every failed accept(), thousands
    a second (44 MB of log in 30 s); now one warning per interval. The connections the server
    did accept are cut at the header timeout, and it serves normally once the flood is gone."""
    server = low_file_limit_server
    host, port = server.url.removeprefix("http://").split(":")
    flood: list[socket.socket] = []
    cpu_before, start = cpu_seconds(server), time.monotonic()
    try:
        for _ in range(FLOOD):
            sock = socket.create_connection((host, int(port)), timeout=WAIT_S)
            sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")
            flood.append(sock)
        time.sleep(4)  # past the header timeout: accepted ones are cut, others wait to be
    finally:
        for sock in flood:
            sock.close()
    # It did not spin on accept() meanwhile (it used a third of a core or more doing so).
    cpu_share = (cpu_seconds(server) - cpu_before) / (time.monotonic() - start)
    assert cpu_share < 0.15, cpu_share
    # The connections closed while they waited in the kernel's queue are accepted and closed
    # in turn: a request may get a 503 (over the bound) until they are gone.
    deadline = time.monotonic() + WAIT_S
    while True:
        response = httpx.post(f"{server.url}{SPEECH}", json={**GOOD, "model": "kokoro"},
                              timeout=120)  # fmt: skip
        if response.status_code != 503 or time.monotonic() > deadline:
            break
        time.sleep(float(response.headers["retry-after"]))
    assert response.status_code == 200 and decode(response.content, "pcm").rms > 0.01
    log = server.log()
    assert "Traceback" not in log
    assert log.count("the open-file limit (128) is reached") <= 2, log[-2000:]
    # At most a line per connection (its 408) and the server's own lines.
    assert len(log.splitlines()) < FLOOD + 100


def test_a_websocket_outlives_the_http_timeouts(strict_server: RunningServer) -> None:
    """Regression: the body timer of the upgrade request, never disarmed, cut every WebSocket
    after the body timeout, without a close frame."""
    url = strict_server.url.replace("http://", "ws://") + "/v1/audio/speech/stream"
    with ws_connect(url) as ws:
        time.sleep(max(HEADER_TIMEOUT_S, BODY_TIMEOUT_S, KEEPALIVE_TIMEOUT_S) + 1.0)
        ws.send(json.dumps({"type": "turn.start", "text": "Still connected."}))
        ws.send(json.dumps({"type": "turn.end"}))
        while True:
            frame = ws.recv(timeout=120)
            if isinstance(frame, str) and json.loads(frame)["type"] == "turn.done":
                assert json.loads(frame)["status"] == "completed"
                break
