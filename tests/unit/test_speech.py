"""``POST /v1/audio/speech`` on the stand-in backend: formats, voices, speed, languages, the
fields clients send, how the text is cut into chunks, concurrent requests."""

from __future__ import annotations

import io
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import av
import numpy as np
import pytest
from fastapi.testclient import TestClient

from tests.helpers import GOOD, SPEECH, TWO_SENTENCES, decode
from tts_service.audio import MEDIA_TYPES
from tts_service.schemas import MODEL_IDS
from tts_service.text.phonemes import Phonemizer

from .conftest import ClientFactory
from .standin import StandInBackend, voice_value

SENTENCE_PAUSE = 0.2  # Settings().sentence_pause
UNTRIMMED_EDGES_S = 0.4  # the stand-in's 0.2 s of silence before and after its tone


def decoded_seconds(data: bytes, fmt: str) -> float:
    return decode(data, fmt).duration


@pytest.mark.parametrize("fmt", ["mp3", "opus", "aac", "flac", "wav", "pcm"])
def test_each_format_returns_its_media_type_and_audio_as_long_as_the_speech(
    client: TestClient, standin: StandInBackend, fmt: str
) -> None:
    response = client.post(SPEECH, json={"input": TWO_SENTENCES, "response_format": fmt})
    assert response.status_code == 200
    assert response.headers["content-type"] == MEDIA_TYPES[fmt]
    assert len(standin.calls) == 2  # first sentence alone, then the rest
    seconds = decoded_seconds(response.content, fmt)
    spoken = standin.total_tone_seconds + SENTENCE_PAUSE
    assert seconds >= spoken - 0.01
    # The stand-in's edge silence was trimmed: much less than 0.4 s per chunk is left.
    assert seconds < spoken + len(standin.calls) * UNTRIMMED_EDGES_S / 2 + 0.06


def test_the_default_format_is_mp3(client: TestClient) -> None:
    response = client.post(SPEECH, json={"input": "Hello.", "voice": "af_heart"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "audio/mpeg"
    with av.open(io.BytesIO(response.content)) as container:
        assert container.format.name == "mp3"


def test_a_streamed_response_is_chunked_without_content_length(client: TestClient) -> None:
    response = client.post(SPEECH, json={"input": TWO_SENTENCES, "response_format": "wav"})
    assert response.status_code == 200
    assert "content-length" not in response.headers
    assert response.headers["cache-control"] == "no-cache"


def test_stream_false_returns_the_whole_file_with_content_length(client: TestClient) -> None:
    body = {"input": TWO_SENTENCES, "response_format": "wav", "stream": False}
    response = client.post(SPEECH, json=body)
    assert response.status_code == 200
    assert int(response.headers["content-length"]) == len(response.content)
    streamed = client.post(SPEECH, json={**body, "stream": True})
    # The same speech, in one piece rather than two: as long, give or take a pause and edges.
    whole, parts = (
        decoded_seconds(response.content, "wav"),
        decoded_seconds(streamed.content, "wav"),
    )
    assert whole > 1.0
    assert abs(whole - parts) < SENTENCE_PAUSE + UNTRIMMED_EDGES_S


def test_a_whole_file_is_one_inference_where_a_stream_starts_with_the_first_sentence(
    client: TestClient, standin: StandInBackend
) -> None:
    """Nobody hears a whole file before it is made: its sentences are grouped, the first one
    too, so a short reply costs one inference (the least total time); a stream still starts
    with the first sentence alone (the soonest first audio)."""
    body = {"input": TWO_SENTENCES, "response_format": "pcm", "stream": False}
    assert client.post(SPEECH, json=body).status_code == 200
    phonemizer = Phonemizer()
    whole_tokens = len(phonemizer.tokenize(
        " ".join(phonemizer.phonemize(s, "en-us") for s in ("Hello there.", TWO_SENTENCES[13:]))
    ))  # fmt: skip
    assert [call.tokens for call in standin.calls] == [whole_tokens]
    standin.calls.clear()
    assert client.post(SPEECH, json={**body, "stream": True}).status_code == 200
    first_tokens = len(phonemizer.tokenize(phonemizer.phonemize("Hello there.", "en-us")))
    assert [call.tokens for call in standin.calls][:1] == [first_tokens]
    assert len(standin.calls) == 2
    standin.calls.clear()
    sse = {**body, "stream_format": "sse"}  # events are read as they come, whatever ``stream``
    assert client.post(SPEECH, json=sse).status_code == 200
    assert len(standin.calls) == 2


def test_a_long_whole_file_goes_in_chunks_as_large_as_the_model_allows(
    client: TestClient, standin: StandInBackend
) -> None:
    text = " ".join(f"This is sentence number {n} of a longer text." for n in range(40))
    body = {"input": text, "response_format": "pcm", "stream": False}
    assert client.post(SPEECH, json=body).status_code == 200
    whole = [call.tokens for call in standin.calls]
    standin.calls.clear()
    assert client.post(SPEECH, json={**body, "stream": True}).status_code == 200
    streamed = [call.tokens for call in standin.calls]
    assert abs(sum(whole) - sum(streamed)) < len(streamed)  # the same text (but for spaces)
    assert len(whole) < len(streamed)
    assert all(tokens > 400 for tokens in whole[:-1]), whole  # 510 at most, sentences whole


@pytest.mark.parametrize("voice", ["bm_fable", {"id": "bm_fable"}, "fable", "BM_FABLE"])
def test_the_voice_may_be_a_name_an_object_or_an_openai_alias(
    client: TestClient, standin: StandInBackend, voice: Any
) -> None:
    response = client.post(
        SPEECH, json={"input": "Hello.", "voice": voice, "response_format": "pcm"}
    )
    assert response.status_code == 200
    assert np.all(standin.calls[0].style == voice_value("bm_fable"))


def test_a_blended_voice_reaches_the_model_as_the_weighted_mean(
    client: TestClient, standin: StandInBackend
) -> None:
    body = {"input": "Hello.", "voice": "af_heart(3)+am_onyx(1)", "response_format": "pcm"}
    assert client.post(SPEECH, json=body).status_code == 200
    expected = (3 * voice_value("af_heart") + voice_value("am_onyx")) / 4
    np.testing.assert_allclose(standin.calls[0].style, expected, rtol=1e-6)


def test_without_a_voice_the_default_voice_speaks(
    client: TestClient, standin: StandInBackend
) -> None:
    assert (
        client.post(SPEECH, json={"input": "Hello.", "response_format": "pcm"}).status_code == 200
    )
    assert np.all(standin.calls[0].style == voice_value("af_heart"))


def test_the_model_gets_one_1x256_style_row_per_chunk(
    client: TestClient, standin: StandInBackend
) -> None:
    assert (
        client.post(SPEECH, json={"input": "Hello.", "response_format": "pcm"}).status_code == 200
    )
    assert standin.calls[0].style.shape == (1, 256)


@pytest.mark.parametrize("speed", [0.25, 0.5, 2.0, 4.0])
def test_speed_is_passed_to_the_model_and_scales_the_audio(
    client: TestClient, standin: StandInBackend, speed: float
) -> None:
    body = {"input": "Hello there, friend.", "speed": speed, "response_format": "pcm"}
    response = client.post(SPEECH, json=body)
    assert response.status_code == 200
    assert [call.speed for call in standin.calls] == [speed]
    seconds = decoded_seconds(response.content, "pcm")
    assert seconds == pytest.approx(standin.total_tone_seconds, abs=UNTRIMMED_EDGES_S / 2)


def test_split_sentences_false_speaks_the_input_as_one_piece(
    client: TestClient, standin: StandInBackend
) -> None:
    text = "One short sentence. Another short sentence. And a third one."
    body = {"input": text, "response_format": "pcm", "split_sentences": False}
    assert client.post(SPEECH, json=body).status_code == 200
    assert len(standin.calls) == 1
    standin.calls.clear()
    assert client.post(SPEECH, json={**body, "split_sentences": True}).status_code == 200
    assert len(standin.calls) >= 2  # the first sentence alone, then growing groups


@pytest.mark.parametrize(
    "extra",
    [
        {"instructions": "Speak like a pirate."},
        {"instructions": "None"},  # Home Assistant sends the literal string
        {"instructions": None, "speed": 1.0},
        {"unknown_field": 1, "user": "someone"},
        {"lang_code": "b"},
        {"lang_code": "en-gb"},
        {"stream_format": "audio"},
    ],
)
def test_extra_and_compatibility_fields_are_accepted(client: TestClient, extra: dict) -> None:
    body = {"input": "Hello.", "response_format": "pcm", **extra}
    response = client.post(SPEECH, json=body)
    assert response.status_code == 200
    assert len(response.content) > 0


@pytest.mark.parametrize("model", MODEL_IDS)
def test_every_listed_model_id_is_accepted(client: TestClient, model: str) -> None:
    assert set(MODEL_IDS) >= {"tts-1", "tts-1-hd", "gpt-4o-mini-tts"}
    body = {"model": model, "input": "Hello.", "response_format": "pcm"}
    assert client.post(SPEECH, json=body).status_code == 200


def test_the_first_chunk_is_only_the_first_sentence(
    client: TestClient, standin: StandInBackend
) -> None:
    text = "Hi. This second sentence is a good deal longer than the first one."
    assert client.post(SPEECH, json={"input": text, "response_format": "pcm"}).status_code == 200
    phonemizer = Phonemizer()
    first_tokens = len(phonemizer.tokenize(phonemizer.phonemize("Hi.", "en-us")))
    assert standin.calls[0].tokens == first_tokens
    # The rest follows in chunks that grow from there (a long sentence is cut between words).
    assert len(standin.calls) >= 2
    assert (
        sum(c.tokens for c in standin.calls[1:])
        >= len(phonemizer.tokenize(phonemizer.phonemize(text[4:], "en-us"))) - 2
    )


@pytest.mark.parametrize(
    "body",
    [
        {"input": "Hola, ¿qué tal? Muy bien.", "voice": "ef_dora"},
        {"input": "こんにちは。元気ですか？", "voice": "jf_alpha"},
        {"input": "你好。我很好！", "lang_code": "z"},
        {"input": "Bonjour. Ça va?", "lang_code": "fr"},
        {"input": "Ciao. Come stai?", "lang_code": "i"},
        {"input": "Olá. Tudo bem?", "lang_code": "pt-br"},
        {"input": "नमस्ते।", "lang_code": "h"},
        {"input": "Hello there, mate.", "voice": "bm_fable", "lang_code": "a"},
    ],
    ids=["es", "ja", "zh", "fr", "it", "pt", "hi", "lang-override"],
)
def test_every_language_is_spoken(client: TestClient, standin: StandInBackend, body: dict) -> None:
    response = client.post(SPEECH, json={**body, "response_format": "pcm"})
    assert response.status_code == 200, response.text
    assert standin.calls and all(call.tokens > 0 for call in standin.calls)


@pytest.mark.parametrize("text", ["Hel\x00lo there.", "Hello\x1b there.\r\nBye.", "😀"])
def test_control_characters_are_dropped_and_emoji_are_spoken(client: TestClient, text: str) -> None:
    response = client.post(SPEECH, json={"input": text, "response_format": "pcm"})
    assert response.status_code == 200
    assert len(response.content) > 0


def test_concurrent_requests_each_get_exactly_their_own_audio(
    make_client: ClientFactory,
) -> None:
    # Admission is left to the stream limit: on a busy machine it may refuse some of the four.
    client = make_client(
        StandInBackend(delay=0.01), inference_workers=2, group_phonemes=50,
        first_audio_wait=3600, max_playback_gap=3600,
    )  # fmt: skip
    texts = [" ".join(f"Request {r} says sentence {n}." for n in range(r + 2)) for r in range(4)]

    def speak(text: str) -> bytes:
        response = client.post(SPEECH, json={"input": text, "response_format": "pcm"})
        assert response.status_code == 200
        return response.content

    alone = [speak(text) for text in texts]
    with ThreadPoolExecutor(max_workers=len(texts)) as pool:
        together = list(pool.map(speak, texts))
    assert [len(a) for a in together] == [len(a) for a in alone]
    assert together == alone  # the stand-in is deterministic: the same bytes, in the same order


def test_an_input_of_exactly_max_input_chars_is_accepted(make_client: ClientFactory) -> None:
    small_client = make_client(max_input_chars=50)
    text = ("Hello there. " * 10)[:50]
    assert len(text) == 50
    assert small_client.post(SPEECH, json={**GOOD, "input": text}).status_code == 200


def test_the_openapi_schema_says_timestamps_need_sse(client: TestClient) -> None:
    """A client generated from the OpenAPI document learns the rule the server enforces (400
    otherwise): with ``timestamps: true``, ``stream_format`` must be ``sse``."""
    import jsonschema

    document = client.get("/openapi.json").json()
    schema = {
        **document["components"]["schemas"]["SpeechRequest"],
        "components": document["components"],
    }
    validator = jsonschema.Draft202012Validator(schema)
    assert validator.is_valid({"input": "Hi.", "timestamps": True, "stream_format": "sse"})
    assert validator.is_valid({"input": "Hi.", "timestamps": False})
    assert not validator.is_valid({"input": "Hi.", "timestamps": True})
    assert not validator.is_valid({"input": "Hi.", "timestamps": True, "stream_format": "audio"})
