"""Discovery: ``/v1/models``, ``/v1/audio/models`` and ``/v1/audio/voices``."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tts_service.schemas import MODEL_IDS

from .standin import VOICE_IDS


def test_models_are_listed_openai_style(client: TestClient) -> None:
    response = client.get("/v1/models")
    assert response.status_code == 200
    body = response.json()
    assert body["object"] == "list"
    assert [model["id"] for model in body["data"]] == list(MODEL_IDS)
    assert all(model["object"] == "model" for model in body["data"])


def test_audio_models_are_listed(client: TestClient) -> None:
    response = client.get("/v1/audio/models")
    assert response.status_code == 200
    models = response.json()["models"]
    assert [model["id"] for model in models] == list(MODEL_IDS)


def test_voices_are_listed_with_language_and_gender(client: TestClient) -> None:
    response = client.get("/v1/audio/voices")
    assert response.status_code == 200
    voices = response.json()["voices"]
    assert [voice["id"] for voice in voices] == sorted(VOICE_IDS)
    for voice in voices:
        assert set(voice) == {"id", "name", "language", "lang_code", "gender"}
    by_id = {voice["id"]: voice for voice in voices}
    assert by_id["af_heart"] == {
        "id": "af_heart",
        "name": "Heart",
        "language": "American English",
        "lang_code": "en-us",
        "gender": "female",
    }
    assert by_id["ef_dora"]["lang_code"] == "es"
    assert by_id["am_onyx"]["gender"] == "male"
