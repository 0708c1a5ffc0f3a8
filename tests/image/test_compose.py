"""``compose.yaml`` as shipped, run by a real Compose: two replicas of the built image behind
nginx with the shipped config, started once the replicas are healthy. Requests spread over both,
a stream survives while the other replica crashes, and the crashed replica is restarted by its
restart policy and rejoins.

Offline, two images are named in an override file: the image the session built (compose.yaml
would build the same from the working tree, from a registry's base), and Debian's nginx in place
of Docker Hub's (``deploy/container-engine.sh nginx``).
"""

from __future__ import annotations

import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.helpers import decode, free_port
from tests.image.conftest import (
    LONG_READING,
    ROOT,
    Container,
    Engine,
    Image,
    docker_client,
    served_by,
    speak_through,
    speech_body,
    wait_until_it_rejoins,
)

REJOIN_WITHIN_S = 120.0
"""The restart policy's delay, the replica's start and nginx's fail_timeout (10 s)."""


def compose_command(engine: Engine) -> list[str]:
    """``docker compose`` (v2) where the client has it, else Debian's ``docker-compose``."""
    plugin = subprocess.run(
        [docker_client(), "compose", "version"], env=engine.env, capture_output=True
    )
    if plugin.returncode == 0:
        return [docker_client(), "compose"]
    standalone = shutil.which("docker-compose")
    if standalone is None:
        pytest.skip("no Compose: neither `docker compose` nor docker-compose is installed")
    return [standalone]


class Stack:
    def __init__(self, engine: Engine, image: Image, folder: Path) -> None:
        self.engine, self.project = engine, f"tts{uuid.uuid4().hex[:8]}"
        override = folder / "offline.yaml"
        override.write_text(
            "services:\n"
            f"  tts:\n    image: {image.tag}\n"
            "    environment:\n      TTS_LOG_LEVEL: debug\n"
            "  nginx:\n    image: localhost/nginx:bookworm\n"
        )
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        self.command = [
            *compose_command(engine),
            "--project-name", self.project, "--project-directory", str(ROOT),
            "-f", str(ROOT / "compose.yaml"), "-f", str(override),
        ]  # fmt: skip
        # Two replicas of one core each on this two-core machine.
        self.env = {**engine.env, "TTS_PUBLISHED_PORT": str(port), "TTS_CPUS": "1"}

    def run(self, *args: str, timeout: float = 600) -> str:
        result = subprocess.run(
            [*self.command, *args], env=self.env, capture_output=True, text=True, timeout=timeout
        )
        assert result.returncode == 0, result.stdout + result.stderr
        return result.stdout

    def replicas(self) -> list[Container]:
        names = self.engine.docker(
            "ps", "-a", "--filter", f"label=com.docker.compose.project={self.project}",
            "--filter", "label=com.docker.compose.service=tts", "--format", "{{.Names}}",
        ).split()  # fmt: skip
        return [Container(self.engine, name) for name in sorted(names)]


@pytest.fixture(scope="module")
def stack(
    engine: Engine, image: Image, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    made = engine.script("nginx")
    assert made.returncode == 0, made.stderr
    stack = Stack(engine, image, tmp_path_factory.mktemp("compose"))
    try:
        # Returns once nginx is started, which waits for both replicas to be healthy.
        stack.run("up", "-d", "--no-build")
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{stack.url}/health", timeout=10).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, stack.run("logs", "nginx")
            time.sleep(0.2)
        yield stack
    finally:
        stack.run("down", "-v", "--timeout", "5")


def test_compose_starts_the_shipped_number_of_replicas_with_their_limits(stack: Stack) -> None:
    replicas = stack.replicas()
    assert len(replicas) == 2  # TTS_REPLICAS's default
    for replica in replicas:
        limits = replica.inspect("{{.HostConfig.Memory}} {{.HostConfig.NanoCpus}}")
        assert limits == f"{2432 * 2**20} {10**9}"
        assert replica.inspect("{{.State.Health.Status}}") == "healthy"


def test_requests_spread_and_a_crashed_replica_is_restarted_and_rejoins(
    engine: Engine, stack: Stack
) -> None:
    replicas = stack.replicas()
    body = speech_body(LONG_READING)
    received = bytearray()
    with httpx.stream("POST", f"{stack.url}/v1/audio/speech", json=body, timeout=120) as stream:
        request_id = stream.headers["x-request-id"]
        busy = served_by(replicas, request_id, line="chunk 0")
        pieces = stream.iter_raw()
        received += next(pieces)
        # A new request goes to the replica without an open stream.
        assert served_by(replicas, speak_through(stack.url).headers["x-request-id"]) == 1 - busy
        crashed = replicas[1 - busy]
        restarts = int(crashed.inspect("{{.RestartCount}}"))
        # A crash, not a stop: the server process killed from the host, so that the restart
        # policy (unless-stopped) applies.
        subprocess.run(["kill", "-9", crashed.inspect("{{.State.Pid}}")], check=True)
        for piece in pieces:
            received += piece
    audio = decode(bytes(received))
    assert audio.duration > 15 and audio.rms > 0.01  # the stream on the other replica, uncut
    deadline = time.monotonic() + REJOIN_WITHIN_S
    while int(crashed.inspect("{{.RestartCount}}")) == restarts:
        assert time.monotonic() < deadline, "the crashed replica was not restarted"
        time.sleep(0.2)
    crashed.started = time.monotonic()
    crashed.wait_healthy()
    wait_until_it_rejoins(stack.url, replicas, crashed, deadline)
