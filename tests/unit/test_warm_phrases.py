"""Warm-up phrases for the phrase cache (``tts_service.warm_phrases``): the file's format, a bad
file stopping start-up, and the phrases made in the background once ready."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.helpers import SPEECH
from tts_service.warm_phrases import WarmPhrase, WarmupFileError, parse_phrases

from .conftest import ClientFactory
from .standin import StandInBackend


def test_a_warmup_file_is_one_phrase_per_line_optionally_with_a_voice() -> None:
    text = "# greetings\n\nSure.\n  bf_emma | Good morning!  \naf_heart(2)+bm_fable|Hi.\n"
    assert parse_phrases(text) == [
        WarmPhrase("Sure.", None),
        WarmPhrase("Good morning!", "bf_emma"),
        WarmPhrase("Hi.", "af_heart(2)+bm_fable"),
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [("Sure.\n| Hi.\n", "line 2: no voice"), ("af_heart |  \n", "line 1: no phrase")],
)
def test_a_malformed_line_is_named(text: str, message: str) -> None:
    with pytest.raises(WarmupFileError, match=message):
        parse_phrases(text)


def wait_for_load(client: TestClient) -> dict[str, object]:
    deadline = time.monotonic() + 5
    while (health := client.get("/health")).json()["status"] == "loading":
        assert time.monotonic() < deadline
        time.sleep(0.01)
    return dict(health.json())


@pytest.mark.parametrize(
    ("content", "detail"),
    [(None, "cannot be read"), ("nosuchvoice | Hi.\n", "nosuchvoice")],
    ids=["missing", "unknown-voice"],
)
def test_an_unusable_warmup_file_stops_start_up(
    make_client: ClientFactory, tmp_path: Path, content: str | None, detail: str
) -> None:
    path = tmp_path / "phrases.txt"
    if content is not None:
        path.write_text(content)
    client = make_client(
        StandInBackend(), phrase_cache_bytes=1 << 24, phrase_cache_warmup=path, wait=False
    )
    health = wait_for_load(client)
    assert health["status"] == "error"
    assert "TTS_PHRASE_CACHE_WARMUP" in str(health["detail"])
    assert detail in str(health["detail"])


def test_warmed_phrases_are_hits_and_health_shows_the_cache(
    make_client: ClientFactory, tmp_path: Path
) -> None:
    path = tmp_path / "phrases.txt"
    path.write_text("Sure.\nbm_fable | One moment.\n")
    backend = StandInBackend()
    client = make_client(backend, phrase_cache_bytes=1 << 24, phrase_cache_warmup=path)
    deadline = time.monotonic() + 5
    while (cache := client.get("/health").json()["phrase_cache"])["warming"]:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert cache["entries"] == 2 and 0 < cache["bytes"] <= cache["capacity_bytes"]
    calls = len(backend.calls)
    for body in ({"input": "Sure."}, {"input": "One moment.", "voice": "bm_fable"}):
        response = client.post(SPEECH, json={"model": "kokoro", "response_format": "pcm", **body})
        assert response.status_code == 200 and response.content
    assert len(backend.calls) == calls  # both from the cache
