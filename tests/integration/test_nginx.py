"""Two real replicas behind a real nginx on loopback, as compose.yaml runs them: the shipped
``deploy/nginx/nginx.conf`` with its upstream pointed at two ``tts-service serve`` processes.

Streams stay streams through the proxy, new requests go to the least busy replica, and a killed
replica leaves the other serving.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from websockets.sync.client import connect as ws_connect

from tests.helpers import decode, free_port, which_logged
from tests.integration.conftest import RunningServer, start_server, stop_server
from tests.nginx import MISSING, NGINX, Nginx, shipped_conf
from tts_service.config import Settings

pytestmark = pytest.mark.skipif(NGINX is None, reason=MISSING)

# A one-word first sentence: a few kB of audio, the kind of small write a proxy may hold back.
HI_THEN_MORE = "Hi. Your project sounds interesting and has the potential for a lot of impact."


@pytest.fixture(scope="module")
def replicas(
    model_settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[list[RunningServer]]:
    tmp = tmp_path_factory.mktemp("replicas")
    with ThreadPoolExecutor(2) as pool:
        servers = list(pool.map(lambda _: start_server(tmp), range(2)))
    yield servers
    for server in servers:
        if server.process.poll() is None:
            stop_server(server)


@pytest.fixture(scope="module")
def balancer(
    replicas: list[RunningServer], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Nginx]:
    prefix, port = tmp_path_factory.mktemp("nginx"), free_port()
    upstreams = [server.url.removeprefix("http://") for server in replicas]
    with Nginx(shipped_conf(upstreams, prefix, port), prefix, port) as nginx:
        yield nginx


def replica_of(replicas: list[RunningServer], request_id: str, line: str = "speech ") -> int:
    """Index of the replica that served ``request_id`` (see ``which_logged``)."""
    return which_logged([s.log for s in replicas], request_id, line, wait_s=10)


def speak(url: str, text: str = "Hello there.", fmt: str = "pcm") -> httpx.Response:
    body = {"model": "kokoro", "input": text, "voice": "af_heart", "response_format": fmt}
    return httpx.post(f"{url}/v1/audio/speech", json=body, timeout=120)


def first_audio_before_second_chunk(
    url: str, replicas: list[RunningServer], **extra: str
) -> tuple[float, float, bytes, str]:
    """Stream HI_THEN_MORE through ``url``: (first bytes at, second chunk synthesized at, body,
    request id)."""
    body = {"model": "kokoro", "input": HI_THEN_MORE, "voice": "af_heart", **extra}
    first_bytes_at, received = None, bytearray()
    with httpx.stream("POST", f"{url}/v1/audio/speech", json=body, timeout=120) as response:
        assert response.status_code == 200
        request_id = response.headers["x-request-id"]
        for piece in response.iter_raw():
            if piece and first_bytes_at is None:
                first_bytes_at = time.time()
            received += piece
    assert first_bytes_at is not None
    replica = replicas[replica_of(replicas, request_id)]
    done_at = replica.chunk_done_at(request_id)
    assert {0, 1} <= set(done_at), replica.chunk_lines(request_id)
    return first_bytes_at, done_at[1], bytes(received), request_id


def test_first_audio_passes_the_balancer_before_the_second_sentence_is_synthesized(
    balancer: Nginx, replicas: list[RunningServer]
) -> None:
    first_bytes_at, second_done_at, body, _ = first_audio_before_second_chunk(
        balancer.url, replicas, response_format="mp3"
    )
    assert first_bytes_at < second_done_at
    audio = decode(body)
    assert audio.duration > 2.0 and audio.rms > 0.01


def test_requests_go_to_the_replica_with_fewer_open_streams(
    balancer: Nginx, replicas: list[RunningServer]
) -> None:
    """One stream is held open on one replica; least connections sends every new request to the
    other. Then, with both idle, requests alternate between them."""
    text = " ".join([HI_THEN_MORE] * 10)  # far longer than the test holds it
    body = {"model": "kokoro", "input": text, "voice": "af_heart", "response_format": "mp3"}
    with httpx.stream("POST", f"{balancer.url}/v1/audio/speech", json=body, timeout=120) as held:
        held_id = held.headers["x-request-id"]
        busy = replica_of(replicas, held_id, line="chunk 0")
        pieces = held.iter_raw()  # (dropping the iterator would close the connection)
        next(pieces)  # streaming, and not read further: the connection stays open
        while_busy = [speak(balancer.url) for _ in range(2)]
    # Cancelled, not done: it was still streaming while the two requests went elsewhere.
    assert replica_of(replicas, held_id, line="speech cancelled") == busy
    idle = [speak(balancer.url) for _ in range(2)]
    for response in while_busy + idle:
        assert response.status_code == 200
        assert decode(response.content, "pcm").rms > 0.01
    assert {replica_of(replicas, r.headers["x-request-id"]) for r in while_busy} == {1 - busy}
    assert sorted(replica_of(replicas, r.headers["x-request-id"]) for r in idle) == [0, 1]


def test_the_container_healthcheck_command_passes_against_a_ready_replica(
    replicas: list[RunningServer],
) -> None:
    port = replicas[1].url.rsplit(":", 1)[1]
    command = [sys.executable, "-m", "tts_service", "healthcheck", "--port", port]
    result = subprocess.run(command, capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr


def test_when_one_replica_is_killed_the_other_keeps_serving(
    balancer: Nginx, replicas: list[RunningServer]
) -> None:
    killed = replicas[0]
    killed.process.kill()
    killed.process.wait(timeout=10)
    responses = [speak(balancer.url, fmt="mp3") for _ in range(3)]
    for response in responses:
        assert response.status_code == 200, response.text
        audio = decode(response.content)
        assert audio.duration > 0.5 and audio.rms > 0.01
    assert {replica_of(replicas, r.headers["x-request-id"]) for r in responses} == {1}
    assert httpx.get(f"{balancer.url}/health", timeout=10).status_code == 200


def test_the_streamed_text_websocket_passes_the_balancer(balancer: Nginx) -> None:
    url = balancer.url.replace("http://", "ws://") + "/v1/audio/speech/stream"
    host = balancer.url.removeprefix("http://")
    # A browser on the page nginx serves: its Origin carries the port, as the Host does.
    with ws_connect(url, origin=f"http://{host}") as ws:  # type: ignore[arg-type]
        ws.send(json.dumps({"type": "turn.start", "text": HI_THEN_MORE}))
        ws.send(json.dumps({"type": "turn.end"}))
        audio = bytearray()
        while True:
            frame = ws.recv(timeout=120)
            if isinstance(frame, bytes):
                audio += frame
            elif json.loads(frame)["type"] == "turn.done":
                assert json.loads(frame)["status"] == "completed"
                break
    assert decode(bytes(audio), "pcm").duration > 2.0
