"""The streamed-input benchmark's pure parts: the simulated model's tokens and schedule, the
frameworks' sentence splitter, and the playback gap of audio played in the reply's order."""

from __future__ import annotations

import asyncio
import time

import pytest

from benchmarks.simulated_llm import (
    SentenceSplitter,
    emit,
    first_sentence_token,
    replies,
    sentences,
    tokens,
)
from benchmarks.streamed_clients import Run

SECOND = 48_000
"""Bytes of one second of 24 kHz 16-bit mono pcm."""


def test_tokens_are_words_cut_in_four_characters_and_join_back_into_the_reply() -> None:
    assert tokens("Hi there, botanical.") == ["Hi", " the", "re,", " bot", "anic", "al."]
    for reply in replies():
        pieces = tokens(reply)
        assert "".join(pieces) == reply
        assert all(1 <= len(piece) <= 4 for piece in pieces)


def test_the_bundled_replies_have_four_to_seven_sentences_an_abbreviation_and_a_number() -> None:
    texts = replies()
    assert len(texts) >= 3
    for text in texts:
        assert 4 <= len(list(sentences(text))) <= 8  # the splitter also cuts after "Dr."
        assert any(abbreviation in text for abbreviation in ("Dr.", "St.", "Mr."))
        assert any(ch.isdigit() for ch in text)


def test_the_splitter_ends_a_sentence_at_punctuation_then_space_as_frameworks_do() -> None:
    splitter = SentenceSplitter()
    said = [
        s for piece in tokens("It is 14.50 now. Dr. Lee is in! Ok?") for s in splitter.feed(piece)
    ]
    assert said == ["It is 14.50 now.", "Dr.", "Lee is in!"]
    assert list(splitter.flush()) == ["Ok?"]
    assert list(splitter.flush()) == []


def test_the_first_sentence_is_certain_at_the_token_after_its_punctuation() -> None:
    pieces = tokens("Hello there. More text.")
    assert pieces[first_sentence_token(pieces)] == " Mor"
    assert (
        first_sentence_token(tokens("One sentence only.")) == len(tokens("One sentence only.")) - 1
    )


def test_tokens_are_written_on_an_absolute_schedule() -> None:
    async def times() -> list[float]:
        return [at async for at, _ in emit(["a"] * 5, 50, time.monotonic())]

    written = asyncio.run(times())
    assert all(at >= i / 50 for i, at in enumerate(written))


def _run(arrivals: list[tuple[float, int]]) -> Run:
    return Run("idle", "concurrent", 10, 1, arrivals=arrivals)


def test_the_playback_gap_is_the_time_the_listener_waits_for_audio() -> None:
    assert _run([(1.0, SECOND), (3.0, SECOND)]).gap == pytest.approx(1.0)
    assert _run([(1.0, SECOND), (1.5, SECOND)]).gap == 0


def test_audio_that_came_early_is_played_in_turn_without_a_gap() -> None:
    """All at once: the second sentence may arrive before the first; it is played after it."""
    run = _run([(1.0, SECOND), (0.5, SECOND), (3.5, SECOND)])
    assert run.gap == pytest.approx(0.5)
    assert run.audio_seconds == pytest.approx(3.0)


def test_a_refused_request_misses_the_goal() -> None:
    run = Run("idle", "sequential", 10, 1, chunk_ready=1.0, model_time=1.0, first_audio=1.5)
    assert run.goal == pytest.approx(2.15) and run.goal_met
    run.refused = 1
    assert not run.goal_met
