"""API keys are safe by default: with keys set, every path needs one unless it is listed as
open, so an endpoint added later is protected without anyone touching the auth module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from starlette.websockets import WebSocket, WebSocketDisconnect

from .conftest import build_app, wait_until_ready
from .standin import StandInBackend

KEY = {"Authorization": "Bearer key-one"}


@pytest.fixture
def app() -> FastAPI:
    return build_app(StandInBackend(), api_key="key-one")


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as client:
        wait_until_ready(client)
        yield client


def test_a_route_added_to_the_app_needs_the_key_without_touching_auth(app: FastAPI) -> None:
    async def secret() -> dict[str, str]:
        return {"secret": "yes"}

    app.add_api_route("/v1/audio/secret", secret, methods=["GET"])
    with TestClient(app) as client:
        refused = client.get("/v1/audio/secret")
        assert refused.status_code == 401
        assert refused.json()["error"]["code"] == "invalid_api_key"
        assert client.get("/v1/audio/secret", headers=KEY).json() == {"secret": "yes"}


def test_a_websocket_added_to_the_app_needs_the_key(app: FastAPI) -> None:
    async def echo(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_text("hello")
        await websocket.close()

    app.add_api_websocket_route("/v1/audio/live", echo)
    with TestClient(app) as client:
        with (
            pytest.raises(WebSocketDisconnect) as refused,
            client.websocket_connect("/v1/audio/live"),
        ):
            pass
        assert refused.value.code == 1008
        with client.websocket_connect("/v1/audio/live", headers=KEY) as websocket:
            assert websocket.receive_text() == "hello"


@pytest.mark.parametrize(
    "path",
    [
        "/health",
        "/metrics",
        "/v1/models",
        "/v1/audio/models",
        "/v1/audio/voices",
        "/v1/audio/voices/",
        "/v1/audio/formats",
        "/docs",
        "/redoc",
        "/openapi.json",
        "/",
        "/player.js",
        "/style.css",
    ],
)
def test_listed_paths_stay_open_when_keys_are_set(client: TestClient, path: str) -> None:
    assert client.get(path).status_code == 200


@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", "/v1/audio/speech"), ("GET", "/v1/audio/speech"), ("POST", "/v1/audio/speech/")],
)
def test_other_endpoints_need_the_key_whatever_the_method(
    client: TestClient, method: str, path: str
) -> None:
    """Even with a wrong method: a caller without the key learns nothing about the endpoint."""
    response = client.request(method, path)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_api_key"


@pytest.mark.parametrize("path", ["/v1/readyz", "/v1/test"])
def test_a_path_no_route_serves_is_a_404_as_without_keys(client: TestClient, path: str) -> None:
    """wyoming-openai probes these paths, without a key, to learn what kind of server it is."""
    assert client.get(path).status_code == 404
