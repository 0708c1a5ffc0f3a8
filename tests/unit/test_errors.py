"""Paths and methods the API does not have: OpenAI-shaped 404 and 405 errors."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.helpers import SPEECH, assert_openai_error


def test_an_unknown_path_is_an_openai_shaped_404(client: TestClient) -> None:
    error = assert_openai_error(client.get("/v1/no/such/thing"), 404)
    assert error["type"] == "invalid_request_error"


@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", "/v1/audio/speeches"), ("GET", "/nope"), ("PUT", "/nope"), ("POST", "/index.html"),
     ("DELETE", "/v1/audio/speech/1"), ("OPTIONS", "/v1/models/kokoro")],
)  # fmt: skip
def test_any_method_on_an_unknown_path_is_an_openai_shaped_404(
    client: TestClient, method: str, path: str
) -> None:
    """The web player's files were once mounted at "/" and caught every path the API did not
    have: a POST to a mistyped path answered 405 "Method Not Allowed" instead of 404."""
    error = assert_openai_error(client.request(method, path), 404)
    assert error["type"] == "invalid_request_error"
    assert f"{method} {path}" in error["message"]


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [("GET", SPEECH, "POST"), ("DELETE", "/v1/models", "GET"), ("POST", "/", "GET, HEAD")],
)
def test_the_wrong_method_on_a_known_path_is_an_openai_shaped_405(
    client: TestClient, method: str, path: str, allow: str
) -> None:
    response = client.request(method, path)
    error = assert_openai_error(response, 405)
    assert response.headers["allow"] == allow
    assert error["message"] == f"Use {allow} for {path}, not {method}."
