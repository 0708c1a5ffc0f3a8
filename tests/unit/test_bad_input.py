"""The bad-input table in-process on the stand-in backend: every malformed request is a 4xx in
OpenAI's shape with a request id, is counted in the metrics, and the service keeps speaking."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from tests.bad_inputs import BAD_REQUESTS, ODD_BUT_VALID, Bad, send
from tests.helpers import GOOD, SPEECH, assert_openai_error, decode, metric

from .conftest import ClientFactory, build_app, wait_until_ready
from .standin import StandInBackend


@pytest.fixture(scope="module")
def shared_client() -> Iterator[TestClient]:
    """One app for the whole table (a fresh app per case would only slow the table down)."""
    with pytest.MonkeyPatch.context() as env:
        for name in [name for name in os.environ if name.upper().startswith("TTS_")]:
            env.delenv(name)
        app = build_app(StandInBackend())
    with TestClient(app) as client:
        wait_until_ready(client)
        yield client


@pytest.mark.parametrize("case", BAD_REQUESTS, ids=[case.id for case in BAD_REQUESTS])
def test_a_bad_request_gets_an_openai_shaped_4xx(shared_client: TestClient, case: Bad) -> None:
    case.assert_rejected(send(shared_client, case))


def test_malformed_json_says_so(shared_client: TestClient) -> None:
    error = assert_openai_error(send(shared_client, Bad("not-json", b"{not json")), 400)
    assert "JSON" in error["message"]


@pytest.mark.parametrize(
    "body", [body for _, body in ODD_BUT_VALID], ids=[i for i, _ in ODD_BUT_VALID]
)
def test_odd_but_valid_input_is_spoken(shared_client: TestClient, body: dict) -> None:
    response = shared_client.post(SPEECH, json=body)
    assert response.status_code == 200, response.text
    assert decode(response.content, "pcm").rms > 0.01


def test_the_service_still_speaks_after_the_whole_table(shared_client: TestClient) -> None:
    for case in BAD_REQUESTS:
        assert send(shared_client, case).status_code == case.status
    response = shared_client.post(SPEECH, json=GOOD)
    assert response.status_code == 200
    assert decode(response.content, "pcm").rms > 0.01


def test_errors_are_counted_by_status_type_and_code(client: TestClient) -> None:
    for voice in ("nosuchvoice", "../../etc/passwd"):
        client.post(SPEECH, json={**GOOD, "voice": voice})
    client.post(SPEECH, json={**GOOD, "speed": "fast"})
    metrics = client.get("/metrics").text
    labels = {"status": "400", "type": "invalid_request_error"}
    assert metric(metrics, "tts_errors_total", **labels, code="voice_not_found") == 2
    assert metric(metrics, "tts_errors_total", **labels, code="invalid_value") == 1
    assert metric(metrics, "tts_rejected_requests_total", reason="voice_not_found") == 2


def test_a_too_large_body_is_refused_before_it_is_read(make_client: ClientFactory) -> None:
    """The Content-Length alone decides: the app never reads a byte of the body."""
    client = make_client(max_request_bytes=2048)
    error = Bad("too-large", status=413, code="request_too_large").assert_rejected(
        client.post(SPEECH, json={**GOOD, "input": "Hello. " * 400})
    )
    assert "2048" in error["message"]
    assert client.post(SPEECH, json=GOOD).status_code == 200
    metrics = client.get("/metrics").text
    assert metric(metrics, "tts_rejected_requests_total", reason="request_too_large") == 1


def test_a_body_just_under_the_limit_is_accepted(make_client: ClientFactory) -> None:
    client = make_client(max_request_bytes=2048)
    chunked = Bad(
        "chunked", body=b'{"input": "Hello there.", "response_format": "pcm"}', chunked=True
    )
    assert send(client, chunked).status_code == 200


def test_every_error_carries_the_request_id_it_was_logged_with(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level("INFO", logger="tts_service.app"):
        response = client.post(SPEECH, json={**GOOD, "voice": "nosuchvoice"})
    request_id = response.headers["x-request-id"]
    lines = [r.getMessage() for r in caplog.records if f"[{request_id}]" in r.getMessage()]
    assert len(lines) == 1
    assert "error 400" in lines[0] and "code=voice_not_found" in lines[0]


def test_a_500_also_carries_a_request_id(make_client: ClientFactory) -> None:
    client = make_client(StandInBackend(fail_on_call=0), raise_server_exceptions=False)
    response = client.post(SPEECH, json=GOOD)
    assert response.status_code == 500
    assert response.headers.get("x-request-id")
    assert response.json()["error"]["type"] == "server_error"


def test_successful_speech_has_one_request_id(client: TestClient) -> None:
    response = client.post(SPEECH, json=GOOD)
    assert response.status_code == 200
    assert len(response.headers.get_list("x-request-id")) == 1
