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
from tests.image.conftest import (
    LONG_READING,
    Container,
    Engine,
    Image,
    served_by,
    speak_through,
    speech_body,
    wait_until_it_rejoins,
)
from tests.nginx import MISSING, NGINX, Nginx, shipped_conf

pytestmark = pytest.mark.skipif(NGINX is None, reason=MISSING)

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


def test_requests_spread_over_both_replicas(balancer: Nginx, replicas: list[Container]) -> None:
    """While one replica streams, least connections sends a new request to the other."""
    body = speech_body(LONG_READING)
    with httpx.stream("POST", f"{balancer.url}/v1/audio/speech", json=body, timeout=120) as held:
        busy = served_by(replicas, held.headers["x-request-id"], line="chunk 0")
        pieces = held.iter_raw()
        next(pieces)  # streaming, and held open
        other = speak_through(balancer.url)
    assert served_by(replicas, other.headers["x-request-id"]) == 1 - busy


def test_a_stream_survives_while_the_other_replica_is_killed_and_it_rejoins(
    engine: Engine, balancer: Nginx, replicas: list[Container]
) -> None:
    body = speech_body(LONG_READING)
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
        assert served_by(replicas, speak_through(balancer.url).headers["x-request-id"]) == survivor

    engine.docker("start", killed.name)
    killed.started = time.monotonic()
    killed.wait_healthy()
    wait_until_it_rejoins(balancer.url, replicas, killed, time.monotonic() + REJOIN_WITHIN_S)
