"""Word timestamps: words located in the phonemes, carried through chunking, timed from the
model's durations, and sent in SSE events (the stand-in gives known durations and makes every
word a burst of tone, so the test finds the words in the decoded audio itself)."""

from __future__ import annotations

import base64

import numpy as np
import pytest
from fastapi.testclient import TestClient

from tests.helpers import SPEECH, assert_openai_error, decode
from tests.helpers import sse_events as events
from tts_service.chunking import Pauses, plan_chunks
from tts_service.text import split_sentences
from tts_service.text.phonemes import Phonemizer
from tts_service.text.words import SpokenWord, sounding, spoken_words
from tts_service.timestamps import WordSpan, word_spans

from .conftest import ClientFactory
from .standin import SAMPLE_RATE, StandInBackend

TEXT = (
    "Hello there, my friend. We walked along the river, then we sat on the grass for a while. "
    "The birds were singing quietly in the trees above us."
)
TIMESTAMPS = {"input": TEXT, "response_format": "pcm", "stream_format": "sse", "timestamps": True}


@pytest.fixture(scope="module")
def phonemizer() -> Phonemizer:
    return Phonemizer()


def test_words_espeak_joins_or_splits_are_still_located_one_by_one(
    phonemizer: Phonemizer,
) -> None:
    """espeak reads "on the" as one word (ɔnðɪ) and "280" as two: the words are still found."""
    text = "We met on the island in 280."
    phonemes = phonemizer.phonemize(text, "en-us")
    # The trap: "on the" is one phoneme word and "280" two, so matching the n-th phoneme word to
    # the n-th word would put every word after "on" in the wrong place (the counts even agree).
    assert "ɔnðɪ" in phonemes.split()
    words = spoken_words(text, phonemes, phonemizer, "en-us")
    said = sounding(phonemes)
    assert [(w.text, said[w.start : w.end]) for w in words] == [
        ("We", "wiː"),
        ("met", "mˈɛt"),
        ("on", "ɔn"),
        ("the", "ðɪ"),
        ("island", "ˈaɪlənd"),
        ("in", "ɪn"),
        ("280.", "tˈuːhˈʌndɹɪdˈeɪɾi"),
    ]


def test_words_without_sound_are_left_out(phonemizer: Phonemizer) -> None:
    text = "Wait — what?"
    words = spoken_words(text, phonemizer.phonemize(text, "en-us"), phonemizer, "en-us")
    assert [w.text for w in words] == ["Wait", "what?"]


def test_word_spans_run_from_first_to_last_sounding_phoneme_of_each_word() -> None:
    # Tokens: pad 4 frames, "a" 1, "b" 2, " " 3, "c" 5, "." 6, pad 7.
    durations = np.array([4, 1, 2, 3, 5, 6, 7])
    words = (SpokenWord("ab", 0, 2), SpokenWord("c.", 2, 3))
    spans = word_spans("ab c.", words, durations, trim_start=3000, length=8000)
    # ab: frames 4–7 → samples 2400–4200, less 3000 trimmed (clamped at 0); c: frames 10–15.
    assert spans == [WordSpan("ab", 0, 1200), WordSpan("c.", 3000, 6000)]
    # The end of the kept audio clamps too.
    assert word_spans("ab c.", words, durations, 3000, 5000)[1] == WordSpan("c.", 3000, 5000)


def test_a_word_merged_away_gets_the_instant_after_the_word_before() -> None:
    durations = np.array([4, 1, 2, 3, 5, 6, 7])
    words = (SpokenWord("ab", 0, 2), SpokenWord("gone", 2, 2), SpokenWord("c", 2, 3))
    spans = word_spans("ab c.", words, durations, trim_start=0, length=30_000)
    assert spans[1] == WordSpan("gone", 4200, 4200)


def test_word_spans_refuse_durations_that_do_not_fit_the_tokens() -> None:
    with pytest.raises(ValueError, match="durations"):
        word_spans("ab", (SpokenWord("ab", 0, 2),), np.array([4, 1, 2]), 0, 10)


def test_every_word_stays_with_its_phonemes_when_sentences_are_cut_and_grouped(
    phonemizer: Phonemizer,
) -> None:
    long = " ".join(["The quick brown fox jumps over the lazy dog, and then it runs away."] * 12)
    text = f"{TEXT} {long}"
    chunks = list(
        plan_chunks(
            split_sentences(text), phonemizer, "en-us", group_phonemes=120,
            pauses=Pauses(0.2, 0.1, 0.4), first_chunk_phonemes=30, words=True,
        )
    )  # fmt: skip
    assert len(chunks) > 8
    assert [w.text for chunk in chunks for w in chunk.words] == text.split()
    # Each word points at the same phonemes as when its sentence is located whole.
    whole = []
    for sentence in split_sentences(text):
        phonemes = phonemizer.phonemize(sentence.text, "en-us")
        said = sounding(phonemes)
        words = spoken_words(sentence.text, phonemes, phonemizer, "en-us")
        whole.extend(said[w.start : w.end] for w in words)
    cut = [sounding(c.phonemes)[w.start : w.end] for c in chunks for w in c.words]
    assert cut == whole


def tone_bursts(samples: np.ndarray) -> list[tuple[float, float]]:
    """(start, end) seconds of each stretch of tone, gaps shorter than 10 ms bridged."""
    loud = np.abs(samples) > 1e-3
    edges = np.flatnonzero(np.diff(np.concatenate([[0], loud.astype(np.int8), [0]])))
    runs = [[start, end] for start, end in zip(edges[::2], edges[1::2], strict=True)]
    merged: list[list[int]] = []
    for run in runs:
        if merged and run[0] - merged[-1][1] < SAMPLE_RATE // 100:
            merged[-1][1] = run[1]
        else:
            merged.append(run)
    return [(start / SAMPLE_RATE, end / SAMPLE_RATE) for start, end in merged]


def test_sse_words_mark_where_each_word_sounds_in_the_whole_stream(
    client: TestClient, standin: StandInBackend
) -> None:
    response = client.post(SPEECH, json=TIMESTAMPS)
    assert response.status_code == 200, response.text
    deltas = [data for name, data in events(response.text) if name == "speech.audio.delta"]
    assert len(standin.calls) >= 3  # several chunks: times must run on across them
    audio = decode(b"".join(base64.b64decode(d["audio"]) for d in deltas), "pcm")
    words = [word for delta in deltas for word in delta["words"]]
    assert [w["word"] for w in words] == TEXT.split()
    # espeak speaks "on the" and "for a" as one word each: one burst, two words that meet.
    remaining = list(words)
    for start, end in tone_bursts(audio.samples):
        inside = [w for w in remaining if w["start"] < end and w["end"] > start]
        assert inside == remaining[: len(inside)] and len(inside) in (1, 2), (start, end, inside)
        del remaining[: len(inside)]
        assert inside[0]["start"] == pytest.approx(start, abs=0.0015), inside
        assert inside[-1]["end"] == pytest.approx(end, abs=0.0015), inside
        for before, after in zip(inside, inside[1:], strict=False):
            assert before["end"] == after["start"]
    assert remaining == []


def test_words_of_a_chunk_come_no_later_than_its_audio(client: TestClient) -> None:
    response = client.post(SPEECH, json=TIMESTAMPS)
    sent = 0.0
    for name, data in events(response.text):
        if name == "speech.audio.delta":
            sent += len(base64.b64decode(data["audio"])) / 2 / SAMPLE_RATE
            assert all(word["end"] <= sent + 1e-3 for word in data["words"])


def test_sse_without_timestamps_sends_no_words(client: TestClient) -> None:
    response = client.post(SPEECH, json={**TIMESTAMPS, "timestamps": False})
    deltas = [data for name, data in events(response.text) if name == "speech.audio.delta"]
    assert deltas and all(set(delta) == {"type", "audio"} for delta in deltas)


def test_timestamps_on_a_backend_without_durations_are_a_400_naming_those_that_have_them(
    make_client: ClientFactory,
) -> None:
    backend = StandInBackend(durations=False)
    client = make_client(backend)
    error = assert_openai_error(client.post(SPEECH, json=TIMESTAMPS), 400)
    assert error["param"] == "timestamps"
    assert error["code"] == "unsupported_by_backend"
    assert "TTS_BACKEND=torch" in error["message"]
    assert backend.calls == []  # refused before any synthesis
