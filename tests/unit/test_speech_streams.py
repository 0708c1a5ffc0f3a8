"""A speech stream's life on the stand-in backend: a failure mid-stream, a client that leaves
early, the limit on streams at once and the slot a stream holds."""

from __future__ import annotations

import time

import numpy as np
import pytest

from tests.helpers import SPEECH, THREE_SENTENCES, assert_openai_error

from .asgi import asgi_post
from .conftest import ClientFactory
from .standin import SAMPLE_RATE, StandInBackend


def test_a_mid_stream_failure_never_completes_the_response(make_client: ClientFactory) -> None:
    failing = StandInBackend(fail_on_call=1)
    client = make_client(failing)
    body = {"input": THREE_SENTENCES, "response_format": "pcm"}
    messages, raised = client.portal.call(asgi_post, client.app, SPEECH, body)

    assert isinstance(raised, RuntimeError)
    start, *bodies = messages
    assert start["type"] == "http.response.start"
    assert start["status"] == 200  # the first chunk was already on its way
    assert bodies, "the first chunk's audio was sent"
    assert all(m["type"] == "http.response.body" for m in bodies)
    # No final body message: a server aborts the connection instead of ending it cleanly.
    assert all(m.get("more_body", False) for m in bodies)
    sent = b"".join(m.get("body", b"") for m in bodies)
    first_chunk_bytes = 2 * int(np.ceil(failing.calls[0].tone_seconds * SAMPLE_RATE))
    assert len(sent) >= first_chunk_bytes


def test_a_mid_stream_failure_surfaces_as_an_exception_in_the_test_client(
    make_client: ClientFactory,
) -> None:
    client = make_client(StandInBackend(fail_on_call=1))
    with pytest.raises(RuntimeError, match="stand-in inference failure"):
        client.post(SPEECH, json={"input": THREE_SENTENCES, "response_format": "pcm"})


def test_a_failure_without_streaming_is_an_openai_shaped_500(make_client: ClientFactory) -> None:
    client = make_client(StandInBackend(fail_on_call=1), raise_server_exceptions=False)
    # Two paragraphs: a whole file groups sentences, but never across a paragraph, so the
    # failing call is its second chunk's.
    text = THREE_SENTENCES.replace(". ", ".\n\n", 1)
    body = {"input": text, "response_format": "mp3", "stream": False}
    error = assert_openai_error(client.post(SPEECH, json=body), 500)
    assert error["type"] == "server_error"


def test_a_failure_on_the_first_chunk_is_an_openai_shaped_500_even_when_streaming(
    make_client: ClientFactory,
) -> None:
    client = make_client(StandInBackend(fail_on_call=0), raise_server_exceptions=False)
    error = assert_openai_error(client.post(SPEECH, json={"input": THREE_SENTENCES}), 500)
    assert error["type"] == "server_error"


@pytest.mark.parametrize("lookahead", [1, 4])
def test_closing_the_stream_early_leaves_most_chunks_unsynthesized(
    make_client: ClientFactory, lookahead: int
) -> None:
    slow = StandInBackend(delay=0.2)
    client = make_client(slow, lookahead_chunks=lookahead, inference_workers=1, urgent_workers=0)
    text = " ".join(f"This is sentence number {n} of the text." for n in range(10))
    with client.stream("POST", SPEECH, json={"input": text, "response_format": "pcm"}) as response:
        assert response.status_code == 200
        first = next(response.iter_bytes())
        assert first
    time.sleep(0.6)  # what is still queued would run meanwhile, were it not cancelled
    # The first chunk, the one synthesized ahead, and at most one more in flight; with a
    # deeper look-ahead, the chunks queued ahead are cancelled when the client goes away.
    assert 1 <= slow.call_count <= 3


def test_reading_the_whole_stream_synthesizes_every_chunk(make_client: ClientFactory) -> None:
    backend = StandInBackend()
    client = make_client(backend, lookahead_chunks=1, group_phonemes=50)
    text = " ".join(f"This is sentence number {n} of the text." for n in range(10))
    response = client.post(SPEECH, json={"input": text, "response_format": "pcm"})
    assert response.status_code == 200
    assert backend.call_count == 10  # each ~40-phoneme sentence alone: 50 fits only one


def test_beyond_max_streams_a_request_gets_429_with_retry_after_and_later_succeeds(
    make_client: ClientFactory,
) -> None:
    """Overload: a bounded number of streams; the rest are told to come back later."""
    client = make_client(StandInBackend(), max_streams=1)
    client.get("/health")
    service = client.app.state.service
    held = service.synthesizer.stream(
        "A stream in progress.", service.voices.resolve("af_heart"), speed=1.0
    )  # another request's stream, still open
    busy = client.post(SPEECH, json={"input": "Hello.", "response_format": "pcm"})
    error = assert_openai_error(busy, 429)
    assert error["code"] == "server_busy" and error["type"] == "rate_limit_error"
    assert 1 <= int(busy.headers["Retry-After"]) <= 60
    assert busy.headers["X-Request-Id"]
    held.close()
    after = client.post(SPEECH, json={"input": "Hello.", "response_format": "pcm"})
    assert after.status_code == 200 and after.content
    assert 'status="429"' in client.get("/metrics").text


def test_a_stream_dropped_without_close_still_frees_its_slot(make_client: ClientFactory) -> None:
    """A response whose body was never iterated (client gone before it started) must not leak
    a stream slot, or the server would end up refusing everything with 429."""
    import gc

    client = make_client(StandInBackend(), max_streams=1)
    service = client.app.state.service
    client.get("/health")
    synthesizer = service.synthesizer
    voice = service.voices.resolve("af_heart")
    stream = synthesizer.stream("Never read.", voice, speed=1.0)
    assert synthesizer.open_streams == 1
    del stream
    gc.collect()
    assert synthesizer.open_streams == 0
    assert (
        client.post(SPEECH, json={"input": "Hello.", "response_format": "pcm"}).status_code == 200
    )
