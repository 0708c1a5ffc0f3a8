"""Streamed responses tell reverse proxies not to buffer or cache them, whatever the format.

nginx buffers upstream responses by default (it reads them ahead of the client into buffers and
temporary files); ``X-Accel-Buffering: no`` turns that off per response, whatever the proxy's
configuration, and ``Cache-Control: no-cache`` keeps caches from storing or replaying streams.
"""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.helpers import SPEECH, TWO_SENTENCES
from tts_service.audio import MEDIA_TYPES


@pytest.mark.parametrize("fmt", sorted(MEDIA_TYPES))
@pytest.mark.parametrize("stream_format", ["audio", "sse"])
def test_every_streamed_format_tells_proxies_not_to_buffer(
    client: TestClient, fmt: str, stream_format: str
) -> None:
    body = {"input": TWO_SENTENCES, "response_format": fmt, "stream_format": stream_format}
    response = client.post(SPEECH, json=body)
    assert response.status_code == 200
    assert response.headers["x-accel-buffering"] == "no"
    assert response.headers["cache-control"] == "no-cache"


def test_a_whole_file_response_may_be_buffered(client: TestClient) -> None:
    body = {"input": TWO_SENTENCES, "response_format": "wav", "stream": False}
    response = client.post(SPEECH, json=body)
    assert response.status_code == 200
    assert "x-accel-buffering" not in response.headers
