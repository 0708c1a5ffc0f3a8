"""The container image, built from this working tree and run by a real engine.

``deploy/container-engine.sh`` starts one where none answers (Debian's docker.io with its own
data root and socket) and makes the offline base images; the session then builds the CPU image
once, with the model baked in, and every test here runs containers from it. The tests skip,
saying why, only where no engine can be started. What was measured (build time, image size,
time from ``run`` to healthy) is written to ``test-artifacts/image/figures.json``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.helpers import decode, which_logged

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "deploy" / "container-engine.sh"
ARTIFACTS = ROOT / "test-artifacts" / "image"
TAG = "localhost/tts-service:test"
SHORT = "Hello from a replica."
LONG_READING = " ".join(
    f"This is sentence number {n} of a long reading that keeps one replica busy."
    for n in range(1, 7)
)
"""Six sentences (over 15 s of audio): a stream that holds its replica while a test acts."""
HEALTHY_WITHIN_S = 300.0
"""How long a container may take to become healthy: the image's own start period (120 s) plus
room for a busy machine; a normal start takes seconds."""

# A client run inside a container (the image has Python, not curl): POST a speech request to
# the server in that container and write the response body to stdout.
IN_CONTAINER_CLIENT = """
import json, sys, urllib.request
body = json.dumps({"model": "kokoro", "input": sys.argv[1], "response_format": sys.argv[2],
                   "voice": sys.argv[3]}).encode()
request = urllib.request.Request("http://127.0.0.1:8880/v1/audio/speech", data=body,
                                 headers={"Content-Type": "application/json"})
with urllib.request.urlopen(request, timeout=120) as response:
    sys.stdout.buffer.write(response.read())
"""


def docker_client() -> str:
    """Debian's client where installed (it matches its daemon); another one negotiates down."""
    if os.access("/usr/bin/docker", os.X_OK):
        return "/usr/bin/docker"
    return shutil.which("docker") or "docker"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.fspath).parents:
            item.add_marker(pytest.mark.slow)
            item.add_marker(pytest.mark.image)


@dataclass
class Engine:
    """A Docker engine that answers at ``env["DOCKER_HOST"]``."""

    env: dict[str, str]
    figures: dict[str, object] = field(default_factory=dict)

    def docker(self, *args: str, timeout: float = 600, check: bool = True) -> str:
        result = subprocess.run(
            [docker_client(), *args], env=self.env, capture_output=True, text=True, timeout=timeout
        )
        if check:
            assert result.returncode == 0, f"docker {' '.join(args)}: {result.stderr}"
        return result.stdout.strip()

    def script(self, *args: str, timeout: float = 1800) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["bash", str(SCRIPT), *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )


@dataclass
class Image:
    tag: str
    size: int
    build_log: str


class Container:
    """A container by name; ``Container.run`` starts one with ``docker run -d``."""

    def __init__(self, engine: Engine, name: str) -> None:
        self.engine, self.name = engine, name
        self.started = time.monotonic()

    @classmethod
    def run(cls, engine: Engine, image: str, *options: str) -> Container:
        container = cls(engine, f"tts-test-{uuid.uuid4().hex[:10]}")
        # The image's own health check, asked more often so that the wait is short.
        engine.docker(
            "run", "-d", "--name", container.name, "--health-interval", "500ms", *options, image
        )  # fmt: skip
        return container

    def inspect(self, template: str) -> str:
        return self.engine.docker("inspect", "-f", template, self.name)

    def logs(self) -> str:
        result = subprocess.run(
            [docker_client(), "logs", self.name],
            env=self.engine.env,
            capture_output=True,
            text=True,
        )
        return result.stdout + result.stderr

    def wait_healthy(self) -> float:
        """Seconds from ``docker run`` (or ``started``) to the health check's first pass."""
        deadline = self.started + HEALTHY_WITHIN_S
        while True:
            status = self.inspect("{{.State.Status}} {{.State.Health.Status}}")
            if status == "running healthy":
                return time.monotonic() - self.started
            assert status.startswith("running"), f"{status}:\n{self.logs()[-3000:]}"
            assert time.monotonic() < deadline, f"not healthy: {status}\n{self.logs()[-3000:]}"
            time.sleep(0.1)

    def speak(self, text: str, fmt: str, voice: str = "af_heart") -> bytes:
        """A speech request made inside the container (it may have no network)."""
        client = ["python", "-c", IN_CONTAINER_CLIENT, text, fmt, voice]
        result = subprocess.run(
            [docker_client(), "exec", self.name, *client],
            env=self.engine.env,
            capture_output=True,
            timeout=300,
        )
        assert result.returncode == 0, result.stderr.decode(errors="replace")
        return result.stdout

    def published(self, port: int = 8880) -> str:
        """``http://127.0.0.1:PORT`` where the container's ``port`` is published."""
        address = self.engine.docker("port", self.name, f"{port}/tcp").splitlines()[0]
        return "http://" + address.replace("0.0.0.0", "127.0.0.1")

    def remove(self) -> None:
        self.engine.docker("rm", "-f", "-v", self.name, check=False)


def _engine_host(start: subprocess.CompletedProcess[str]) -> str:
    match = re.search(r"^export DOCKER_HOST=(\S+)$", start.stdout, re.MULTILINE)
    assert match, start.stdout + start.stderr
    return match.group(1)


@pytest.fixture(scope="session")
def engine() -> Iterator[Engine]:
    engine = Engine(dict(os.environ))
    start = engine.script("start", timeout=600)
    if start.returncode == 3:  # the script's "no engine can be started here"
        pytest.skip(f"no container engine can be started here: {start.stderr.strip()}")
    assert start.returncode == 0, start.stderr
    engine.env["DOCKER_HOST"] = _engine_host(start)
    started_here = "starting dockerd" in start.stderr
    base = engine.script("base")
    assert base.returncode == 0, base.stderr
    yield engine
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "figures.json").write_text(json.dumps(engine.figures, indent=2) + "\n")
    if started_here:
        engine.script("stop", timeout=60)


@pytest.fixture(scope="session")
def image(engine: Engine) -> Image:
    """The CPU image of this working tree, the model baked in."""
    started = time.monotonic()
    build = engine.script("build", "-t", TAG, "--build-arg", "BAKE_MODELS=true")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "build.log").write_text(build.stdout + build.stderr)
    assert build.returncode == 0, (build.stdout + build.stderr)[-4000:]
    size = int(engine.docker("image", "inspect", "-f", "{{.Size}}", TAG))
    engine.figures.update(
        build_s=round(time.monotonic() - started, 1),
        build_steps_cached=build.stdout.count("Using cache"),
        image_bytes=size,
    )
    return Image(TAG, size, build.stdout)


@pytest.fixture
def containers(engine: Engine) -> Iterator[list[Container]]:
    """Containers a test starts (append them); all removed when it ends."""
    made: list[Container] = []
    yield made
    for container in made:
        container.remove()


def served_by(containers: list[Container], request_id: str, line: str = "speech ") -> int:
    """Index of the container that served ``request_id`` (see ``which_logged``)."""
    return which_logged([c.logs for c in containers], request_id, line)


def speech_body(text: str) -> dict[str, str]:
    return {"model": "kokoro", "input": text, "voice": "af_heart", "response_format": "mp3"}


def speak_through(url: str, text: str = SHORT) -> httpx.Response:
    """A short request through ``url``, spoken and decoded."""
    response = httpx.post(f"{url}/v1/audio/speech", json=speech_body(text), timeout=120)
    assert response.status_code == 200, response.text
    audio = decode(response.content)
    assert audio.duration > 0.5 and audio.rms > 0.01
    return response


def wait_until_it_rejoins(
    url: str, replicas: list[Container], back: Container, deadline: float
) -> None:
    """Until the balancer at ``url`` sends ``back`` a request again (nginx skips a replica that
    failed for its fail_timeout): one stream is held open, so a second request goes to the
    other replica, or to the busy one, which may refuse it, while ``back`` is still skipped."""
    index = replicas.index(back)
    while True:
        with httpx.stream(
            "POST", f"{url}/v1/audio/speech", json=speech_body(LONG_READING), timeout=120
        ) as held:
            busy = served_by(replicas, held.headers["x-request-id"], line="chunk 0")
            next(held.iter_raw())
            other = httpx.post(f"{url}/v1/audio/speech", json=speech_body(SHORT), timeout=120)
        if busy == index or (
            other.status_code == 200 and served_by(replicas, other.headers["x-request-id"]) == index
        ):
            return
        assert time.monotonic() < deadline, "the restarted replica never got a request"
        time.sleep(1)
