"""Admission by capacity on the stand-in backend: under a burst the service refuses what it cannot
start within the first-audio bound, at once, with a Retry-After that grows with the work ahead."""

from __future__ import annotations

import time

import anyio
import pytest

from tests.helpers import SHORT_PHRASE, SPEECH, metric
from tts_service import serving
from tts_service.config import Settings
from tts_service.errors import OverloadedError
from tts_service.schemas import SpeechRequest
from tts_service.synthesis import Synthesizer

from .asgi import asgi_post
from .conftest import ClientFactory
from .standin import CountingPhonemizer, StandInBackend, make_voice_store

BURST = 12
DELAY_S = 0.3
"""The stand-in's time per chunk: a slow model, so that a burst is far more than it can do."""


@pytest.fixture
def synth() -> Synthesizer:
    synthesizer = Synthesizer(StandInBackend(), CountingPhonemizer(), Settings(warmup=False))
    yield synthesizer
    synthesizer.shutdown()


def test_retry_after_grows_with_the_work_of_the_open_streams(synth: Synthesizer) -> None:
    """Regression: Retry-After counted queued chunks only (1 s while admitted streams had
    minutes of work left) and streams were admitted up to a count, whatever their work."""
    synth.scheduler.pool_seconds_per_phoneme = 0.02  # as measured: a reply costs about 2 s
    synth.scheduler.first_chunk_seconds = 0.5
    voice = make_voice_store().resolve("af_heart")
    retry_after: dict[int, int] = {}
    streams = []
    for n in range(BURST):
        try:
            synth.check_capacity(len(SHORT_PHRASE))
        except OverloadedError as refused:
            retry_after[n] = int(refused.headers["Retry-After"])
        # Opened anyway, as if admitted before: nothing runs until it is read.
        streams.append(synth.stream(SHORT_PHRASE, voice, speed=1.0))
    try:
        admitted = sorted(set(range(BURST)) - set(retry_after))
        # Not 16: the third reply's first chunk would wait for two others (1 s), more than one
        # and a half times a first chunk's time.
        assert admitted == [0, 1], retry_after
        waits = [retry_after[n] for n in sorted(retry_after)]
        assert waits == sorted(waits) and waits[-1] >= 3 * waits[0], waits
        # 12 replies of about 2 s each on one inference at a time: most of that is excess.
        assert waits[-1] >= 0.5 * BURST * len(SHORT_PHRASE) * 1.1 * 0.02
        metrics = synth.metrics.render().decode()
        refusals = metric(metrics, "tts_admission_refusals_total", reason="first_audio")
        assert refusals == len(retry_after)
    finally:
        for stream in streams:
            stream.close()


def test_a_burst_gets_prompt_first_audio_or_an_immediate_429(make_client: ClientFactory) -> None:
    """Regression: on two cores, 16 of 100 simultaneous requests were admitted and their first
    audio came after 30 s (56 s at worst) against half a second alone. Now a burst is admitted
    only as far as first audio stays within about three times its idle time; the rest are
    refused at once with a Retry-After."""
    client = make_client(StandInBackend(delay=DELAY_S))
    body = {"input": SHORT_PHRASE, "response_format": "pcm"}

    async def post() -> tuple[int, float, float, dict[str, str]]:
        """Status, seconds to the first audio (or to the answer), to the end, and headers."""
        started = time.perf_counter()
        first: list[float] = []

        async def deliver(message: dict) -> None:
            if message["type"] == "http.response.body" and not first:
                first.append(time.perf_counter() - started)

        messages, raised = await asgi_post(client.app, SPEECH, body, deliver)
        assert raised is None
        headers = {k.decode(): v.decode() for k, v in messages[0]["headers"]}
        return messages[0]["status"], first[0], time.perf_counter() - started, headers

    async def burst() -> list[tuple[int, float, float, dict[str, str]]]:
        replies = []

        async def one() -> None:
            replies.append(await post())

        async with anyio.create_task_group() as group:
            for _ in range(BURST):
                group.start_soon(one)
        return replies

    idle = client.portal.call(post)  # alone: the model's first-chunk time is measured
    assert idle[0] == 200
    replies = client.portal.call(burst)
    served = [r for r in replies if r[0] == 200]
    refused = [r for r in replies if r[0] == 429]
    assert len(served) + len(refused) == BURST
    assert 1 <= len(served) <= 4, [r[0] for r in replies]  # not 12: the old limit was 16 streams
    assert max(first for _, first, _, _ in served) <= 4 * idle[1], (idle[1], served)
    for _, answered, _, headers in refused:
        assert int(headers["retry-after"]) >= 1
        assert answered < idle[1]  # at once: before any synthesis
    metrics = client.get("/metrics").text
    refusals = sum(
        metric(metrics, "tts_admission_refusals_total", reason=reason)
        for reason in ("first_audio", "playback", "max_streams", "max_queued_chunks")
    )
    assert refusals == len(refused)


def test_a_refused_request_costs_no_thread(
    synth: Synthesizer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Under overload most requests are refused: each is refused before its markup is stripped
    on a worker thread, so a flood of them takes little from the admitted streams."""
    synth.scheduler.pool_seconds_per_phoneme = 0.02
    synth.scheduler.first_chunk_seconds = 0.5
    voices = make_voice_store()
    streams = [synth.stream(SHORT_PHRASE, voices.resolve("af_heart"), speed=1.0) for _ in range(4)]
    stripped: list[str] = []
    monkeypatch.setattr(serving, "_speakable_text", lambda text: stripped.append(text) or text)
    service = serving.SpeechService(synth, voices, synth.settings)
    try:
        with pytest.raises(OverloadedError):
            anyio.run(service.create, SpeechRequest(input=SHORT_PHRASE, voice="af_heart"))
        assert stripped == []
    finally:
        for stream in streams:
            stream.close()
