"""The phrase cache (``tts_service.phrase_cache``): its key, its byte bound and LRU order, which
chunks it keeps (``policy.caches_chunk``), and a stream on the stand-in that finds its chunks
there instead of asking the model."""

from __future__ import annotations

import asyncio
import json

import numpy as np
import pytest

from tests.helpers import SPEECH, metric
from tts_service import policy
from tts_service.backends import SAMPLE_RATE, SAMPLES_PER_FRAME
from tts_service.metrics import Metrics
from tts_service.phrase_cache import PhraseCache, Rendition
from tts_service.windows import Window

from .conftest import ClientFactory
from .standin import StandInBackend, collect, make_voice_store, standin_synthesizer


def rendition(seconds: float, durations: bool = True) -> Rendition:
    frames = max(1, round(seconds * SAMPLE_RATE / SAMPLES_PER_FRAME))
    audio = np.ones(frames * SAMPLES_PER_FRAME, dtype=np.float32)
    spans = np.array([1, frames - 1], dtype=np.int64) if durations else None
    return Rendition(2, frames, spans, (Window(0, frames, frames),), (audio,))


def cache(capacity: int) -> tuple[PhraseCache, Metrics]:
    metrics = Metrics()
    return PhraseCache(capacity, "standin:model", metrics), metrics


def value(metrics: Metrics, name: str) -> float:
    return metrics.registry.get_sample_value(name) or 0.0


def test_every_spelling_of_one_blend_is_one_key_with_the_same_styles() -> None:
    store = make_voice_store()
    spellings = [
        "af_heart+bm_fable",
        "bm_fable+af_heart",
        "af_heart(2)+bm_fable(2)",
        "AF_HEART(0.5)+bm_fable(0.5)",
        "af_heart(0.25)+bm_fable(0.5)+af_heart(0.25)",
    ]
    voices = [store.resolve(spec) for spec in spellings]
    assert {v.identity for v in voices} == {"af_heart(0.5)+bm_fable(0.5)"}
    for voice in voices[1:]:
        np.testing.assert_array_equal(voice.styles, voices[0].styles)
    assert store.resolve("af_heart(3)+bm_fable").identity != voices[0].identity
    assert store.resolve("af_heart").identity == "af_heart"


def test_a_blend_keeps_the_language_of_its_first_voice_whatever_its_key() -> None:
    store = make_voice_store()
    assert store.resolve("bm_fable+af_heart").lang == store.resolve("bm_fable").lang
    assert store.resolve("af_heart+bm_fable").lang == store.resolve("af_heart").lang


def test_the_key_holds_everything_that_makes_the_audio() -> None:
    phrases, _ = cache(1 << 20)
    key = phrases.key("həlˈoʊ", "af_heart", 1.0)
    assert key == phrases.key("həlˈoʊ", "af_heart", 1)
    others = [
        phrases.key("həlˈoʊ.", "af_heart", 1.0),
        phrases.key("həlˈoʊ", "bm_fable", 1.0),
        phrases.key("həlˈoʊ", "af_heart", 1.25),
        PhraseCache(1 << 20, "onnx:kokoro-v1.0.onnx", Metrics()).key("həlˈoʊ", "af_heart", 1.0),
    ]
    assert all(other != key for other in others)


def test_the_cache_never_holds_more_bytes_than_its_capacity_and_counts_evictions() -> None:
    one = rendition(0.5)
    capacity = one.nbytes * 20 + one.nbytes // 2
    phrases, metrics = cache(capacity)
    for n in range(100):
        assert phrases.put(phrases.key(f"phrase {n}", "af_heart", 1.0), one)
        assert phrases.stats()["bytes"] <= capacity
        assert value(metrics, "tts_phrase_cache_bytes") <= capacity
    assert phrases.stats()["entries"] == 20
    assert value(metrics, "tts_phrase_cache_evictions_total") == 80
    assert value(metrics, "tts_phrase_cache_stores_total") == 100
    assert value(metrics, "tts_phrase_cache_entries") == 20


def test_the_least_recently_used_chunk_goes_first() -> None:
    one = rendition(0.5)
    phrases, _ = cache(one.nbytes * 17)  # 17 fit; each may take 1/16
    keys = [phrases.key(f"phrase {n}", "af_heart", 1.0) for n in range(18)]
    for key in keys[:17]:
        phrases.put(key, one)
    assert phrases.get(keys[0]) is not None  # now the most recently used
    phrases.put(keys[17], one)
    assert phrases.get(keys[1]) is None  # the least recently used went
    assert all(phrases.get(key) is not None for key in (keys[0], *keys[2:]))


def test_a_hit_gives_the_stored_samples_which_nobody_can_change() -> None:
    phrases, metrics = cache(1 << 22)
    key = phrases.key("ʃʊɹ", "af_heart", 1.0)
    original = rendition(0.5)
    assert phrases.get(key) is None
    phrases.put(key, original)
    found = phrases.get(key)
    assert found is not None
    np.testing.assert_array_equal(found.audio[0], original.audio[0])
    assert found.audio[0] is not original.audio[0]  # a copy: the render's buffer is not kept
    with pytest.raises(ValueError, match="read-only"):
        found.audio[0][0] = 0.5
    assert (value(metrics, "tts_phrase_cache_hits_total"), value(metrics, "tts_phrase_cache_misses_total")) == (1, 1)  # fmt: skip


def test_long_chunks_are_not_kept_so_long_form_text_cannot_push_out_the_phrases() -> None:
    phrases, _ = cache(1 << 30)
    key = phrases.key("a long chunk", "af_heart", 1.0)
    assert not phrases.put(key, rendition(policy.PHRASE_CACHE_MAX_SECONDS + 0.5))
    assert phrases.put(key, rendition(policy.PHRASE_CACHE_MAX_SECONDS - 0.5))


def test_no_chunk_takes_more_than_its_share_of_a_small_cache() -> None:
    one = rendition(1.0)
    phrases, _ = cache(one.nbytes * 10)
    assert not phrases.put(phrases.key("x", "af_heart", 1.0), one)
    assert policy.caches_chunk(1.0, 100, 1600)
    assert not policy.caches_chunk(1.0, 101, 1600)
    assert not policy.caches_chunk(1.0, 1, 0)


def test_a_disabled_cache_keeps_nothing_and_counts_nothing() -> None:
    phrases, metrics = cache(0)
    key = phrases.key("ʃʊɹ", "af_heart", 1.0)
    assert not phrases.enabled
    assert not phrases.put(key, rendition(0.5))
    assert phrases.get(key) is None
    assert value(metrics, "tts_phrase_cache_misses_total") == 0
    assert phrases.stats()["entries"] == 0


def test_a_chunk_kept_without_durations_is_a_miss_for_word_timestamps() -> None:
    phrases, _ = cache(1 << 22)
    key = phrases.key("ʃʊɹ", "af_heart", 1.0)
    phrases.put(key, rendition(0.5, durations=False))
    assert phrases.get(key) is not None
    assert phrases.get(key, durations=True) is None
    phrases.put(key, rendition(0.5))
    assert phrases.get(key, durations=True) is not None
    assert not phrases.put(key, rendition(0.5, durations=False))  # never replaced by less
    assert phrases.get(key, durations=True) is not None


@pytest.mark.parametrize("windowed", [False, True], ids=["whole", "windowed"])
def test_a_phrase_spoken_again_skips_the_model_and_sounds_identical(windowed: bool) -> None:
    backend = StandInBackend(windowed=windowed)
    synth = standin_synthesizer(backend, phrase_cache_bytes=1 << 24)
    voice = make_voice_store().resolve("af_heart")
    text = "Sure. One moment, please."
    try:
        first = asyncio.run(collect(synth.stream(text, voice, speed=1.0, timestamps=True)))
        work = (len(backend.calls), len(backend.prepares), len(backend.renders))
        again = asyncio.run(collect(synth.stream(text, voice, speed=1.0, timestamps=True)))
    finally:
        synth.shutdown()
    assert (len(backend.calls), len(backend.prepares), len(backend.renders)) == work  # no model
    assert len(again) == len(first) > 1
    for old, new in zip(first, again, strict=True):
        np.testing.assert_array_equal(new.samples, old.samples)
        assert new.words == old.words
    hits = synth.metrics.registry.get_sample_value("tts_phrase_cache_hits_total")
    assert hits == synth.phrase_cache.stats()["entries"] >= 2


def test_another_speed_or_voice_is_synthesized() -> None:
    backend = StandInBackend()
    synth = standin_synthesizer(backend, phrase_cache_bytes=1 << 24)
    store = make_voice_store()
    try:
        for spec, speed in [("af_heart", 1.0), ("af_heart", 1.5), ("bm_fable", 1.0)]:
            asyncio.run(collect(synth.stream("Sure.", store.resolve(spec), speed=speed)))
    finally:
        synth.shutdown()
    assert len(backend.calls) == 3


REPLY = "Certainly, one moment while I look up the opening hours for you."


@pytest.mark.parametrize("windowed", [False, True], ids=["whole", "windowed"])
def test_a_phrase_spoken_over_http_is_a_hit_for_a_websocket_turn(
    make_client: ClientFactory, windowed: bool
) -> None:
    """A turn renders its chunks whole; a chunk kept from a stream's first, rendered in windows,
    is replayed in those windows."""
    backend = StandInBackend(windowed=windowed)
    client = make_client(backend, phrase_cache_bytes=1 << 24)
    body = {"input": REPLY, "voice": "af_heart", "response_format": "pcm"}
    spoken = client.post(SPEECH, json=body)
    assert spoken.status_code == 200
    work = (len(backend.calls), len(backend.prepares), len(backend.renders))
    with client.websocket_connect("/v1/audio/speech/stream") as ws:
        ws.send_json({"type": "turn.start", "voice": "af_heart", "text": REPLY})
        ws.send_json({"type": "turn.end"})
        audio = bytearray()
        while (message := ws.receive()).get("bytes") is not None or (
            json.loads(message["text"])["type"] != "turn.done"
        ):
            audio += message.get("bytes") or b""
    assert (len(backend.calls), len(backend.prepares), len(backend.renders)) == work  # no model
    assert not windowed or len(backend.renders) > 1  # the request's chunk was in windows
    assert bytes(audio) == spoken.content
    assert metric(client.get("/metrics").text, "tts_phrase_cache_hits_total") == 1
