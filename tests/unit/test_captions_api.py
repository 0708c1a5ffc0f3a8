"""Captions over the API on the stand-in backend: the SSE stream's last event with
``captions``, and ``POST /v1/audio/captions``, each read back with webvtt-py."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from tests.bad_inputs import BAD_CAPTIONS, MAX_CAPTION_WORDS, Bad, send
from tests.helpers import (
    CAPTIONED_TEXT,
    CAPTIONS,
    SPEECH,
    assert_captions_fit,
    assert_openai_error,
    read_captions,
    sse_events,
    timed_words,
)
from tts_service.schemas import WordTimestamp

from .conftest import ClientFactory, build_app, wait_until_ready
from .standin import StandInBackend

TEXT = (
    "Hello there, my friend. We walked along the river, then we sat on the grass for a while "
    "and paid $12.50 for two coffees. The birds were singing quietly in the trees above us."
)
SSE_CAPTIONS = {
    "input": TEXT, "voice": "af_heart", "response_format": "pcm", "stream_format": "sse",
    "timestamps": True,
}  # fmt: skip


@pytest.fixture(scope="module")
def shared_client() -> Iterator[TestClient]:
    with pytest.MonkeyPatch.context() as env:
        for name in [name for name in os.environ if name.upper().startswith("TTS_")]:
            env.delenv(name)
        env.setenv("TTS_G2P", "espeak")
        app = build_app(StandInBackend())
    with TestClient(app) as client:
        wait_until_ready(client)
        yield client


def spoken(client: TestClient, fmt: str | None) -> tuple[list[WordTimestamp], dict]:
    """The words of the SSE deltas and the data of the last event."""
    body = SSE_CAPTIONS if fmt is None else {**SSE_CAPTIONS, "captions": fmt}
    response = client.post(SPEECH, json=body)
    assert response.status_code == 200, response.text
    events = sse_events(response.text)
    words = [
        WordTimestamp(**word)
        for name, data in events
        if name == "speech.audio.delta"
        for word in data["words"]
    ]
    assert events[-1][0] == "speech.audio.done"
    return words, events[-1][1]


@pytest.mark.parametrize("fmt", ["vtt", "srt"])
def test_the_last_sse_event_carries_captions_of_the_words_spoken(
    shared_client: TestClient, fmt: str
) -> None:
    words, done = spoken(shared_client, fmt)
    assert set(TEXT.split()) <= {w.word for w in words}
    cues = read_captions(done["captions"], fmt)
    assert len(cues) >= 3  # three sentences
    assert_captions_fit(cues, words)
    assert "$12.50" in " ".join(cue.text for cue in cues)


def test_without_the_option_the_last_event_has_no_captions(shared_client: TestClient) -> None:
    _, done = spoken(shared_client, None)
    assert "captions" not in done


@pytest.mark.parametrize("fmt", ["vtt", "srt"])
def test_the_endpoint_formats_the_words_it_is_sent(shared_client: TestClient, fmt: str) -> None:
    words = timed_words(CAPTIONED_TEXT)
    body = {"words": [w.model_dump() for w in words], "format": fmt}
    response = shared_client.post(CAPTIONS, json=body)
    assert response.status_code == 200, response.text
    media = {"vtt": "text/vtt; charset=utf-8", "srt": "application/x-subrip; charset=utf-8"}
    assert response.headers["content-type"] == media[fmt]
    assert response.headers["content-disposition"] == f'attachment; filename="captions.{fmt}"'
    assert_captions_fit(read_captions(response.text, fmt), words)


def test_the_endpoint_defaults_to_webvtt_and_takes_no_words(shared_client: TestClient) -> None:
    response = shared_client.post(CAPTIONS, json={"words": []})
    assert response.status_code == 200
    assert response.text.startswith("WEBVTT")
    assert read_captions(response.text, "vtt") == []


def test_the_endpoint_gives_the_same_cues_as_the_stream(shared_client: TestClient) -> None:
    """The web player joins streams' words and sends them here: the cues are the same."""
    words, done = spoken(shared_client, "vtt")
    body = {"words": [w.model_dump() for w in words], "format": "vtt"}
    assert shared_client.post(CAPTIONS, json=body).text == done["captions"]


@pytest.mark.parametrize("case", BAD_CAPTIONS, ids=[case.id for case in BAD_CAPTIONS])
def test_bad_captions_input_gets_an_openai_shaped_4xx(shared_client: TestClient, case: Bad) -> None:
    case.assert_rejected(send(shared_client, case))


def test_more_words_than_the_limit_are_refused(make_client: ClientFactory) -> None:
    client = make_client(max_request_bytes=32 * 1024 * 1024)
    word = '{"word":"a","start":1,"end":1}'
    raw = ('{"words":[' + ",".join([word] * (MAX_CAPTION_WORDS + 1)) + "]}").encode()
    response = client.post(CAPTIONS, content=raw, headers={"content-type": "application/json"})
    error = assert_openai_error(response, 400, param="words")
    assert str(MAX_CAPTION_WORDS) in error["message"]


def test_the_endpoint_needs_the_key_like_the_others(make_client: ClientFactory) -> None:
    client = make_client(api_key="key-one")
    body = {"words": [{"word": "Hi.", "start": 0.1, "end": 0.4}]}
    assert_openai_error(client.post(CAPTIONS, json=body), 401, code="invalid_api_key")
    response = client.post(CAPTIONS, json=body, headers={"Authorization": "Bearer key-one"})
    assert response.status_code == 200
    assert [cue.text for cue in read_captions(response.text, "vtt")] == ["Hi."]


def test_the_openapi_document_describes_the_option_and_the_endpoint(
    shared_client: TestClient,
) -> None:
    document = shared_client.get("/openapi.json").json()
    speech = document["components"]["schemas"]["SpeechRequest"]
    assert speech["properties"]["captions"]["anyOf"][0]["enum"] == ["vtt", "srt"]
    operation = document["paths"][CAPTIONS]["post"]
    assert set(operation["responses"]["200"]["content"]) == {"text/vtt", "application/x-subrip"}
    assert json.dumps(operation).count("CaptionsRequest") == 1
