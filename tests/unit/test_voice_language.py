"""A voice speaks its own language unless the request's ``lang_code`` says otherwise."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tts_service.text.phonemes import Phonemizer

from .standin import StandInBackend

SPEECH = "/v1/audio/speech"


def tokens(text: str, lang: str) -> int:
    phonemizer = Phonemizer()
    return len(phonemizer.tokenize(phonemizer.phonemize(text, lang)))


@pytest.mark.parametrize(
    ("voice", "text", "own", "other"),
    [
        ("ef_dora", "Hola, ¿qué tal estás hoy?", "es", "en-us"),
        ("af_heart", "Hola, ¿qué tal estás hoy?", "en-us", "es"),
        ("jf_alpha", "元気です。", "ja", "cmn"),
    ],
)
def test_a_voice_speaks_its_own_language_and_lang_code_overrides_it(
    client: TestClient, standin: StandInBackend, voice: str, text: str, own: str, other: str
) -> None:
    assert tokens(text, own) != tokens(text, other)  # the two languages read it differently
    body = {"input": text, "voice": voice, "response_format": "pcm"}
    assert client.post(SPEECH, json=body).status_code == 200
    assert [call.tokens for call in standin.calls] == [tokens(text, own)]
    standin.calls.clear()
    assert client.post(SPEECH, json={**body, "lang_code": other}).status_code == 200
    assert [call.tokens for call in standin.calls] == [tokens(text, other)]
