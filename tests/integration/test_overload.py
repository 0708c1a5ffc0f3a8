"""Overload: a burst of simultaneous conversational requests against a real server with the real
model. The admitted ones get their first audio within a few times the idle figure, measured in
the same test; the rest get a 429 with Retry-After at once, not a place in a queue."""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from tests.helpers import SHORT_PHRASE, SPEECH, assert_openai_error, metric
from tts_service.config import Settings

from .conftest import RunningServer, start_server, stop_server

BURST = 12
IDLE_RUNS = 3
BODY = {"model": "kokoro", "voice": "af_heart", "input": SHORT_PHRASE, "response_format": "pcm"}


@dataclass
class Reply:
    status: int
    first_byte: float
    """Seconds from sending to the first byte of the body (the audio, or the error)."""
    response: httpx.Response


@pytest.fixture(scope="module")
def fresh_server(
    model_settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningServer]:
    running = start_server(tmp_path_factory.mktemp("overload"), {"TTS_LOG_LEVEL": "info"})
    yield running
    stop_server(running)


def post(client: httpx.Client, start: threading.Barrier | None = None) -> Reply:
    if start is not None:
        start.wait()
    sent = time.perf_counter()
    with client.stream("POST", SPEECH, json=BODY) as response:
        pieces = response.iter_raw()
        first = next(pieces, b"")
        first_byte = time.perf_counter() - sent
        body = first + b"".join(pieces)
    reply = httpx.Response(response.status_code, headers=response.headers, content=body)
    return Reply(response.status_code, first_byte, reply)


def test_a_burst_gets_prompt_first_audio_or_an_immediate_429(fresh_server: RunningServer) -> None:
    """Regression: with admission by stream count (16), 16 of a 100-request burst on two cores
    were admitted and their median first audio came after 30 s, against half a second alone."""
    with httpx.Client(base_url=fresh_server.url, timeout=300) as client:
        post(client)  # warm-up: the first inference sets up the session
        idle = statistics.median(post(client).first_byte for _ in range(IDLE_RUNS))

    start = threading.Barrier(BURST)
    replies: list[Reply] = []

    def one() -> None:
        with httpx.Client(base_url=fresh_server.url, timeout=300) as client:
            client.get("/health")  # connected before the burst
            reply = post(client, start)
        replies.append(reply)

    threads = [threading.Thread(target=one) for _ in range(BURST)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    served = [r for r in replies if r.status == 200]
    refused = [r for r in replies if r.status == 429]
    assert len(served) + len(refused) == BURST, [r.status for r in replies]
    assert served and refused, [r.status for r in replies]
    slowest = max(r.first_byte for r in served)
    # Three times idle is the goal; five leaves room for a busy machine beside the test (the
    # old admission gave the last of 12 about twelve times the idle figure).
    assert slowest <= 5 * idle, (slowest, idle, [r.first_byte for r in served])
    for reply in refused:
        assert_openai_error(reply.response, 429, error_type="rate_limit_error", code="server_busy")
        assert 1 <= int(reply.response.headers["retry-after"]) <= 60
        assert reply.first_byte < idle  # refused at once, before any synthesis
    for reply in served:
        assert len(reply.response.content) > 24_000 * 2 * 5  # the whole reply: over 5 s of pcm

    metrics = httpx.get(f"{fresh_server.url}/metrics").text
    refusals = sum(
        metric(metrics, "tts_admission_refusals_total", reason=reason)
        for reason in ("first_audio", "playback", "max_streams", "max_queued_chunks")
    )
    assert refusals == len(refused)
    assert metric(metrics, "tts_active_streams") == 0
