"""The bad-input table against a real ``tts-service serve`` with the real model: every malformed
request is a 4xx in OpenAI's shape, odd but valid input is spoken, the server keeps answering, and
a short schemathesis run against the live server finds no 5xx and nothing off its OpenAPI document.
All of it shares the session's one server."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from tests.bad_inputs import BAD_REQUESTS, ODD_BUT_VALID, Bad, send
from tests.helpers import GOOD, SPEECH, decode, metric

from .conftest import RunningServer

REQUEST_TIMEOUT_S = 60.0
FUZZ_EXAMPLES = 2
FUZZ_INPUT_CHARS = 12
"""Generated inputs are cut to this many characters: the real model speaks each valid one."""


@pytest.fixture(scope="module")
def http(server: RunningServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=REQUEST_TIMEOUT_S) as client:
        yield client


@pytest.mark.parametrize("case", BAD_REQUESTS, ids=[case.id for case in BAD_REQUESTS])
def test_a_bad_request_gets_an_openai_shaped_4xx_from_the_real_server(
    http: httpx.Client, case: Bad
) -> None:
    case.assert_rejected(send(http, case))


@pytest.mark.parametrize(
    "body", [body for _, body in ODD_BUT_VALID], ids=[i for i, _ in ODD_BUT_VALID]
)
def test_odd_but_valid_input_is_spoken_by_the_real_model(http: httpx.Client, body: dict) -> None:
    response = http.post(SPEECH, json=body)
    assert response.status_code == 200, response.text
    audio = decode(response.content, "pcm")
    assert audio.duration > 0.3
    assert audio.rms > 0.01


def test_the_real_server_still_speaks_after_the_whole_table(
    server: RunningServer, http: httpx.Client
) -> None:
    for case in BAD_REQUESTS:
        assert send(http, case).status_code == case.status, case.id
    response = http.post(SPEECH, json={**GOOD, "response_format": "mp3"})
    assert response.status_code == 200
    audio = decode(response.content, "mp3")
    assert audio.sample_rate == 24_000 and audio.duration > 0.3 and audio.rms > 0.01
    assert server.process.poll() is None
    metrics = http.get("/metrics").text
    assert 'status="500"' not in metrics
    labels = {"status": "400", "type": "invalid_request_error", "code": "voice_not_found"}
    assert metric(metrics, "tts_errors_total", **labels) >= 2 * 6  # six such cases, twice over


@pytest.fixture(scope="module")
def live_schema(server: RunningServer):  # noqa: ANN201 - schemathesis' schema type
    schema = schemathesis.openapi.from_url(f"{server.url}/openapi.json")
    schema.config.update(request_timeout=REQUEST_TIMEOUT_S)
    schema.config.phases.update(phases=["examples", "fuzzing"])  # no coverage phase: too many
    schema.config.generation.update(max_examples=FUZZ_EXAMPLES)
    return schema


live = schemathesis.pytest.from_fixture("live_schema")


@live.parametrize()
@settings(max_examples=FUZZ_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
def test_the_live_server_matches_its_openapi_document(case: schemathesis.Case) -> None:
    if isinstance(case.body, dict) and isinstance(case.body.get("input"), str):
        case.body["input"] = case.body["input"][:FUZZ_INPUT_CHARS]
    case.call_and_validate(excluded_checks=[positive_data_acceptance])
