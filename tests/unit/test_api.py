"""The HTTP API against the stand-in backend: speech, errors, discovery, health, streaming."""

from __future__ import annotations

import io
import time
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import av
import numpy as np
import pytest
from fastapi.testclient import TestClient

from tests.helpers import GOOD, SPEECH, THREE_SENTENCES, TWO_SENTENCES, assert_openai_error, decode
from tts_service.app import create_app
from tts_service.audio import MEDIA_TYPES
from tts_service.config import Settings
from tts_service.loading import Loaded
from tts_service.schemas import MODEL_IDS
from tts_service.text.phonemes import Phonemizer

from .asgi import asgi_post
from .conftest import ClientFactory, wait_until_ready
from .standin import SAMPLE_RATE, VOICE_IDS, StandInBackend, make_voice_store, voice_value

SENTENCE_PAUSE = 0.2  # Settings().sentence_pause
UNTRIMMED_EDGES_S = 0.4  # the stand-in's 0.2 s of silence before and after its tone


def decoded_seconds(data: bytes, fmt: str) -> float:
    return decode(data, fmt).duration


# --- speech ------------------------------------------------------------------------------------


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
    assert streamed.content == response.content


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
    client = make_client(StandInBackend(delay=0.01), inference_workers=2, group_phonemes=50)
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


# --- errors ------------------------------------------------------------------------------------


def test_an_input_of_exactly_max_input_chars_is_accepted(make_client: ClientFactory) -> None:
    small_client = make_client(max_input_chars=50)
    text = ("Hello there. " * 10)[:50]
    assert len(text) == 50
    assert small_client.post(SPEECH, json={**GOOD, "input": text}).status_code == 200


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


# --- discovery and health ----------------------------------------------------------------------


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


def test_health_is_ok_once_the_stand_in_is_loaded(client: TestClient) -> None:
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "backend": "standin"}


def test_requests_during_loading_get_503_model_not_ready(make_client: ClientFactory) -> None:
    # Warm-up runs one synthesis; a slow stand-in keeps the service loading for a while.
    slow = StandInBackend(delay=1.0)
    client = make_client(slow, warmup=True, wait=False)
    health = client.get("/health")
    assert health.status_code == 503
    assert health.json()["status"] == "loading"
    error = assert_openai_error(client.post(SPEECH, json=GOOD), 503)
    assert error["code"] == "model_not_ready"
    assert_openai_error(client.get("/v1/audio/voices"), 503)
    wait_until_ready(client)
    assert client.post(SPEECH, json=GOOD).status_code == 200
    assert len(slow.calls) == 2  # the warm-up, then the request


def test_a_failed_load_reports_an_error_and_503s(make_client: ClientFactory) -> None:
    # The warm-up resolves the default voice; one that does not exist makes loading fail.
    client = make_client(StandInBackend(), warmup=True, default_voice="nosuchvoice", wait=False)
    deadline = time.monotonic() + 5
    while (health := client.get("/health")).json()["status"] == "loading":
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert health.status_code == 503
    assert health.json()["status"] == "error"
    assert "nosuchvoice" in health.json()["detail"]
    error = assert_openai_error(client.post(SPEECH, json=GOOD), 503)
    assert "Loading the model failed" in error["message"]


def test_a_load_started_before_the_app_is_served_once_it_finishes() -> None:
    """``tts-service serve`` starts loading before it imports the web stack (``start_loading``);
    the app waits for that future: 503 while it runs, ready when it resolves."""
    loading: Future[Loaded] = Future()
    app = create_app(Settings(warmup=False), loading=loading)
    with TestClient(app) as client:
        assert client.get("/health").status_code == 503
        loading.set_result(Loaded(StandInBackend(), make_voice_store(), Phonemizer(), 0.1))
        wait_until_ready(client)
        assert client.post(SPEECH, json=GOOD).status_code == 200


def test_a_load_started_early_that_fails_stops_the_server() -> None:
    fatal = []
    loading: Future[Loaded] = Future()
    app = create_app(Settings(warmup=False), loading=loading, on_fatal=lambda: fatal.append(1))
    with TestClient(app) as client:
        loading.set_exception(RuntimeError("no such model"))
        deadline = time.monotonic() + 5
        while not fatal:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        error = assert_openai_error(client.post(SPEECH, json=GOOD), 503)
        assert "no such model" in error["message"]


# --- failures and laziness ---------------------------------------------------------------------


def test_a_mid_stream_failure_never_completes_the_response(make_client: ClientFactory) -> None:
    failing = StandInBackend(fail_on_call=1)
    client = make_client(failing)
    body = {"input": THREE_SENTENCES, "response_format": "pcm"}
    messages, raised = client.portal.call(asgi_post, client.app, SPEECH, body)

    assert isinstance(raised, RuntimeError)
    start, *bodies = messages
    assert start["type"] == "http.response.start"
    assert start["status"] == 200  # the first chunk was already on its way
    assert bodies, "the first chunk's audio was sent"
    assert all(m["type"] == "http.response.body" for m in bodies)
    # No final body message: a server aborts the connection instead of ending it cleanly.
    assert all(m.get("more_body", False) for m in bodies)
    sent = b"".join(m.get("body", b"") for m in bodies)
    first_chunk_bytes = 2 * int(np.ceil(failing.calls[0].tone_seconds * SAMPLE_RATE))
    assert len(sent) >= first_chunk_bytes


def test_a_mid_stream_failure_surfaces_as_an_exception_in_the_test_client(
    make_client: ClientFactory,
) -> None:
    client = make_client(StandInBackend(fail_on_call=1))
    with pytest.raises(RuntimeError, match="stand-in inference failure"):
        client.post(SPEECH, json={"input": THREE_SENTENCES, "response_format": "pcm"})


def test_a_failure_without_streaming_is_an_openai_shaped_500(make_client: ClientFactory) -> None:
    client = make_client(StandInBackend(fail_on_call=1), raise_server_exceptions=False)
    body = {"input": THREE_SENTENCES, "response_format": "mp3", "stream": False}
    error = assert_openai_error(client.post(SPEECH, json=body), 500)
    assert error["type"] == "server_error"


def test_a_failure_on_the_first_chunk_is_an_openai_shaped_500_even_when_streaming(
    make_client: ClientFactory,
) -> None:
    client = make_client(StandInBackend(fail_on_call=0), raise_server_exceptions=False)
    error = assert_openai_error(client.post(SPEECH, json={"input": THREE_SENTENCES}), 500)
    assert error["type"] == "server_error"


@pytest.mark.parametrize("lookahead", [1, 4])
def test_closing_the_stream_early_leaves_most_chunks_unsynthesized(
    make_client: ClientFactory, lookahead: int
) -> None:
    slow = StandInBackend(delay=0.2)
    client = make_client(slow, lookahead_chunks=lookahead, inference_workers=1, urgent_workers=0)
    text = " ".join(f"This is sentence number {n} of the text." for n in range(10))
    with client.stream("POST", SPEECH, json={"input": text, "response_format": "pcm"}) as response:
        assert response.status_code == 200
        first = next(response.iter_bytes())
        assert first
    time.sleep(0.6)  # what is still queued would run meanwhile, were it not cancelled
    # The first chunk, the one synthesized ahead, and at most one more in flight; with a
    # deeper look-ahead, the chunks queued ahead are cancelled when the client goes away.
    assert 1 <= slow.call_count <= 3


def test_reading_the_whole_stream_synthesizes_every_chunk(make_client: ClientFactory) -> None:
    backend = StandInBackend()
    client = make_client(backend, lookahead_chunks=1, group_phonemes=50)
    text = " ".join(f"This is sentence number {n} of the text." for n in range(10))
    response = client.post(SPEECH, json={"input": text, "response_format": "pcm"})
    assert response.status_code == 200
    assert backend.call_count == 10  # each ~40-phoneme sentence alone: 50 fits only one


def test_beyond_max_streams_a_request_gets_429_with_retry_after_and_later_succeeds(
    make_client: ClientFactory,
) -> None:
    """Overload: a bounded number of streams; the rest are told to come back later."""
    client = make_client(StandInBackend(), max_streams=1)
    client.get("/health")
    service = client.app.state.service
    held = service.synthesizer.stream(
        "A stream in progress.", service.voices.resolve("af_heart"), speed=1.0
    )  # another request's stream, still open
    busy = client.post(SPEECH, json={"input": "Hello.", "response_format": "pcm"})
    error = assert_openai_error(busy, 429)
    assert error["code"] == "server_busy" and error["type"] == "rate_limit_error"
    assert 1 <= int(busy.headers["Retry-After"]) <= 60
    assert busy.headers["X-Request-Id"]
    held.close()
    after = client.post(SPEECH, json={"input": "Hello.", "response_format": "pcm"})
    assert after.status_code == 200 and after.content
    assert 'status="429"' in client.get("/metrics").text


def test_a_stream_dropped_without_close_still_frees_its_slot(make_client: ClientFactory) -> None:
    """A response whose body was never iterated (client gone before it started) must not leak
    a stream slot, or the server would end up refusing everything with 429."""
    import gc

    client = make_client(StandInBackend(), max_streams=1)
    service = client.app.state.service
    client.get("/health")
    synthesizer = service.synthesizer
    voice = service.voices.resolve("af_heart")
    stream = synthesizer.stream("Never read.", voice, speed=1.0)
    assert synthesizer.open_streams == 1
    del stream
    gc.collect()
    assert synthesizer.open_streams == 0
    assert (
        client.post(SPEECH, json={"input": "Hello.", "response_format": "pcm"}).status_code == 200
    )


def test_warm_up_is_on_by_default_only_for_torch() -> None:
    assert not Settings().warmup_for("onnx") and Settings().warmup_for("torch")
    assert Settings(warmup=True).warmup_for("onnx")
    assert not Settings(warmup=False).warmup_for("torch")
