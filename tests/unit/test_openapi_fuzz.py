"""Schema fuzzing with schemathesis: generated requests (valid and invalid by the OpenAPI document)
against the app on the stand-in backend, in-process (ASGI). No 5xx, and every response matches
what the document declares (status, content type, body schema)."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, settings
from schemathesis.python.asgi import get_client
from schemathesis.specs.openapi.checks import positive_data_acceptance

from .conftest import build_app
from .standin import StandInBackend

HEALTH_TIMEOUT_S = 10.0
FUZZ_EXAMPLES = 30
"""Per operation and phase: about 10 s in all (400 finds nothing more, in 35 s)."""


@pytest.fixture(scope="module")
def fuzzed_app() -> Iterator[FastAPI]:
    with pytest.MonkeyPatch.context() as env:
        for name in [name for name in os.environ if name.upper().startswith("TTS_")]:
            env.delenv(name)
        yield build_app(StandInBackend())


@pytest.fixture(scope="module")
def api_schema(fuzzed_app: FastAPI):  # noqa: ANN201 - schemathesis' schema type
    """The app's own /openapi.json; the app is started (lifespan) once and kept ready."""
    schema = schemathesis.openapi.from_asgi("/openapi.json", fuzzed_app)
    with get_client(fuzzed_app) as client:
        deadline = time.monotonic() + HEALTH_TIMEOUT_S
        while client.get("/health").status_code != 200:
            assert time.monotonic() < deadline, "the stand-in never became ready"
            time.sleep(0.01)
    return schema


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=FUZZ_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
def test_the_api_matches_its_openapi_document(case: schemathesis.Case) -> None:
    # Not every schema-valid request can succeed: the voice must exist and the input must hold
    # something speakable, which no JSON schema can say; those get a declared 400 instead.
    case.call_and_validate(excluded_checks=[positive_data_acceptance])
