"""One table of response formats: the request schema, the responses' media types, the encoder
choice and the web player (through ``GET /v1/audio/formats``) all read it."""

from __future__ import annotations

import re
from typing import get_args

import pytest
from fastapi.testclient import TestClient

from tts_service.audio import FORMATS, MEDIA_TYPES, create_encoder
from tts_service.audio.formats import AudioFormat, ResponseFormat
from tts_service.config import Settings
from tts_service.routes.web import PLAYER_DIR, PLAYER_FILES
from tts_service.schemas import SpeechRequest

from .standin import StandInBackend


def test_the_schemas_formats_are_the_tables() -> None:
    assert get_args(ResponseFormat) == tuple(FORMATS)
    assert SpeechRequest.model_fields["response_format"].default in FORMATS


def test_media_types_and_encoders_come_from_the_table(monkeypatch: pytest.MonkeyPatch) -> None:
    assert {name: spec.media_type for name, spec in FORMATS.items()} == MEDIA_TYPES
    made: list[int] = []

    def encoder(sample_rate: int):  # noqa: ANN202 - an encoder from the pcm entry's factory
        made.append(sample_rate)
        return FORMATS["pcm"].encoder(sample_rate)

    entry = AudioFormat("raw", "audio/x-raw", "raw", False, encoder, "A test entry")
    monkeypatch.setitem(FORMATS, "raw", entry)
    assert create_encoder("raw", 24_000).finish() == b""
    assert made == [24_000]


def test_formats_are_listed_without_a_key_as_the_table_says(make_client) -> None:
    client: TestClient = make_client(StandInBackend(), api_key="key-one")
    listing = client.get("/v1/audio/formats").json()
    assert listing["default"] == SpeechRequest.model_fields["response_format"].default
    assert listing["sample_rate"] == StandInBackend().sample_rate
    assert [card["id"] for card in listing["formats"]] == list(FORMATS)
    assert listing["max_input_chars"] == Settings().max_input_chars
    for card in listing["formats"]:
        spec = FORMATS[card["id"]]
        assert card == {
            "id": spec.name, "media_type": spec.media_type, "extension": spec.extension,
            "streams": spec.streams, "description": spec.description,
        }  # fmt: skip


def test_the_player_keeps_no_copy_of_the_formats() -> None:
    """It used to list them in its page and again in its script; now it asks the server."""
    page = (PLAYER_DIR / "index.html").read_text()
    select = re.search(r'<select id="format".*?</select>', page, re.DOTALL)
    assert select is not None
    assert re.findall(r'<option value="([^"]*)"', select.group(0)) == ["auto"]
    scripts = "".join(
        (PLAYER_DIR / name).read_text() for name in PLAYER_FILES.values() if name.endswith(".js")
    )
    # Bare samples are the one kind it decodes itself, and keeps as a WAV file it writes.
    own = {"audio/pcm", "audio/wav", "wav"}
    for spec in FORMATS.values():
        for value in (spec.name, spec.media_type, spec.extension):
            assert value in own or f'"{value}"' not in scripts, value


def test_the_input_limit_is_discoverable(make_client) -> None:
    """The article reader splits a long text into requests under the server's limit, so it
    must learn that limit from the server rather than keep a copy."""
    client: TestClient = make_client(StandInBackend(), max_input_chars=120)
    assert client.get("/v1/audio/formats").json()["max_input_chars"] == 120
