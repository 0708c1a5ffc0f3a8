"""Two replicas from the built image behind the shipped nginx configuration (its upstream pointed
at the two containers' published ports, as tests/integration/test_nginx.py does with processes):
requests spread over both, a stream in progress survives while the other replica is killed, and
the killed replica, started again, rejoins."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.helpers import decode, free_port
from tests.image.conftest import Container, Engine, Image, served_by
from tests.nginx import MISSING, NGINX, Nginx, shipped_conf

pytestmark = pytest.mark.skipif(NGINX is None, reason=MISSING)

SHORT = "Hello from a replica."
LONG = " ".join(
    f"This is sentence number {n} of a long reading that keeps one replica busy."
    for n in range(1, 7)
)
REJOIN_WITHIN_S = 60.0
"""nginx skips a replica that refused a connection for fail_timeout (10 s in the shipped
config); after that, and the replica's own start, it gets requests again."""


@pytest.fixture(scope="module")
def replicas(engine: Engine, image: Image) -> Iterator[list[Container]]:
    # One inference thread each: two replicas share this machine's cores. Fixed host ports:
    # a replica started again keeps its address in nginx's upstream. Debug logs name each chunk.
    made = [
        Container.run(
            engine,
            image.tag,
            "-p",
            f"127.0.0.1:{free_port()}:8880",
            "-e",
            "TTS_ONNX_THREADS=1",
            "-e",
            "TTS_LOG_LEVEL=debug",
        )  # fmt: skip
        for _ in range(2)
    ]
    try:
        with ThreadPoolExecutor(2) as pool:
            list(pool.map(Container.wait_healthy, made))
        yield made
    finally:
        for container in made:
            container.remove()


@pytest.fixture(scope="module")
def balancer(
    replicas: list[Container], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Nginx]:
    prefix, port = tmp_path_factory.mktemp("nginx"), free_port()
    upstreams = [c.published().removeprefix("http://") for c in replicas]
    with Nginx(shipped_conf(upstreams, prefix, port), prefix, port) as nginx:
        yield nginx


SHORT_BODY = {"model": "kokoro", "input": SHORT, "voice": "af_heart", "response_format": "mp3"}


def speak(url: str) -> httpx.Response:
    response = httpx.post(f"{url}/v1/audio/speech", json=SHORT_BODY, timeout=120)
    assert response.status_code == 200, response.text
    audio = decode(response.content)
    assert audio.duration > 0.5 and audio.rms > 0.01
    return response


def test_requests_spread_over_both_replicas(balancer: Nginx, replicas: list[Container]) -> None:
    """While one replica streams, least connections sends a new request to the other."""
    body = {"model": "kokoro", "input": LONG, "voice": "af_heart", "response_format": "mp3"}
    with httpx.stream("POST", f"{balancer.url}/v1/audio/speech", json=body, timeout=120) as held:
        busy = served_by(replicas, held.headers["x-request-id"], line="chunk 0")
        pieces = held.iter_raw()
        next(pieces)  # streaming, and held open
        other = speak(balancer.url)
    assert served_by(replicas, other.headers["x-request-id"]) == 1 - busy


def test_a_stream_survives_while_the_other_replica_is_killed_and_it_rejoins(
    engine: Engine, balancer: Nginx, replicas: list[Container]
) -> None:
    body = {"model": "kokoro", "input": LONG, "voice": "af_heart", "response_format": "mp3"}
    received = bytearray()
    with httpx.stream("POST", f"{balancer.url}/v1/audio/speech", json=body, timeout=120) as stream:
        request_id = stream.headers["x-request-id"]
        survivor = served_by(replicas, request_id, line="chunk 0")
        killed = replicas[1 - survivor]
        pieces = stream.iter_raw()
        received += next(pieces)
        engine.docker("kill", killed.name)
        for piece in pieces:
            received += piece
    audio = decode(bytes(received))
    assert audio.duration > 15 and audio.rms > 0.01  # all six sentences, uncut
    assert served_by(replicas, request_id) == survivor
    # With one replica gone, nginx sends every request to the survivor.
    for _ in range(2):
        assert served_by(replicas, speak(balancer.url).headers["x-request-id"]) == survivor

    engine.docker("start", killed.name)
    killed.started = time.monotonic()
    killed.wait_healthy()
    back, deadline = replicas.index(killed), time.monotonic() + REJOIN_WITHIN_S
    while True:  # until nginx's fail_timeout for the killed replica has passed
        with httpx.stream(
            "POST", f"{balancer.url}/v1/audio/speech", json=body, timeout=120
        ) as held:
            busy = served_by(replicas, held.headers["x-request-id"], line="chunk 0")
            next(held.iter_raw())
            # Sent to the busy survivor while the other is still skipped, it may be refused.
            other = httpx.post(f"{balancer.url}/v1/audio/speech", json=SHORT_BODY, timeout=120)
        if back == busy or (
            other.status_code == 200 and served_by(replicas, other.headers["x-request-id"]) == back
        ):
            break
        assert time.monotonic() < deadline, "the restarted replica never got a request"
        time.sleep(1)
