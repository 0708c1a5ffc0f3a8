"""CORS: off by default (the built-in player is same-origin); listed origins only when configured."""

from __future__ import annotations

from .conftest import ClientFactory

SPEECH = "/v1/audio/speech"
PREFLIGHT = {"Access-Control-Request-Method": "POST",
             "Access-Control-Request-Headers": "authorization,content-type"}  # fmt: skip


def test_no_cross_origin_access_by_default(make_client: ClientFactory) -> None:
    client = make_client()
    response = client.get("/v1/audio/voices", headers={"Origin": "https://elsewhere.example"})
    assert response.status_code == 200
    assert "access-control-allow-origin" not in response.headers


def test_a_listed_origin_may_call_the_api_and_read_the_request_id(
    make_client: ClientFactory,
) -> None:
    client = make_client(cors_origins="https://chat.example, http://localhost:3000", api_key="k")
    origin = {"Origin": "https://chat.example"}
    preflight = client.options(SPEECH, headers=origin | PREFLIGHT)
    assert preflight.status_code == 200  # a preflight needs no key
    assert preflight.headers["access-control-allow-origin"] == "https://chat.example"
    assert "authorization" in preflight.headers["access-control-allow-headers"].lower()
    response = client.post(
        SPEECH,
        json={"input": "Hi.", "response_format": "pcm"},
        headers=origin | {"Authorization": "Bearer k"},
    )
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "https://chat.example"
    assert "x-request-id" in response.headers["access-control-expose-headers"].lower()


def test_an_unlisted_origin_is_refused(make_client: ClientFactory) -> None:
    client = make_client(cors_origins="https://chat.example")
    preflight = client.options(SPEECH, headers={"Origin": "https://evil.example"} | PREFLIGHT)
    assert preflight.status_code == 400
    assert "access-control-allow-origin" not in preflight.headers
