"""Captions: words grouped into cues by the policy, written as WebVTT and SubRip, and every
output read back with webvtt-py's own parsers."""

from __future__ import annotations

import html
import io
from dataclasses import dataclass

import pytest
import webvtt

from tts_service.captions import CUE_POLICY, captions_text, group_words
from tts_service.schemas import WordTimestamp

ARTICLE = (
    "Hello there, my friend. We walked along the river, then we sat on the grass for a while "
    "and paid $12.50 for two coffees at 3:45 p.m. The birds were singing quietly in the trees "
    "above us, and nobody said anything for a long, long time; it was the kind of afternoon "
    "that you remember for years! Did we talk about the future? Perhaps."
)


def timed(text: str, *, word_s: float = 0.3, gap_s: float = 0.05) -> list[WordTimestamp]:
    """The words of ``text`` spoken one after another, each ``word_s`` long."""
    words, t = [], 0.0
    for word in text.split():
        words.append(WordTimestamp(word=word, start=round(t, 3), end=round(t + word_s, 3)))
        t += word_s + gap_s
    return words


@dataclass(frozen=True)
class ReadCue:
    start: float
    end: float
    lines: list[str]

    @property
    def text(self) -> str:
        return " ".join(self.lines)


def read(text: str, fmt: str) -> list[ReadCue]:
    """The cues of ``text`` as webvtt-py parses the format (WebVTT's character references read
    as the characters they stand for)."""
    if fmt == "vtt":
        captions = webvtt.from_string(text).captions
    else:
        captions = webvtt.from_buffer(io.StringIO(text), format="srt").captions
    unescape = html.unescape if fmt == "vtt" else str
    return [
        ReadCue(
            c.start_time.in_milliseconds() / 1000,
            c.end_time.in_milliseconds() / 1000,
            [unescape(line) for line in c.text.split("\n")],
        )  # fmt: skip
        for c in captions
    ]


def assert_well_formed(cues: list[ReadCue], words: list[WordTimestamp]) -> None:
    """The cues say the words in order, start with the first word and end with the last,
    follow each other without overlapping, and keep to the policy's lines and seconds."""
    assert " ".join(cue.text for cue in cues).split() == [w.word for w in words]
    assert cues[0].start == pytest.approx(words[0].start, abs=0.0005)
    assert cues[-1].end == pytest.approx(words[-1].end, abs=0.0005)
    for cue in cues:
        assert cue.start < cue.end
        assert len(cue.lines) <= CUE_POLICY.max_lines
        assert all(len(line) <= CUE_POLICY.max_line_chars for line in cue.lines)
        assert cue.end - cue.start <= CUE_POLICY.max_seconds
    for before, after in zip(cues, cues[1:], strict=False):
        assert before.end <= after.start


@pytest.mark.parametrize("fmt", ["vtt", "srt"])
def test_captions_read_back_as_the_words_in_order_in_well_formed_cues(fmt: str) -> None:
    words = timed(ARTICLE)
    captions = read(captions_text(words, fmt), fmt)
    assert len(captions) == len(group_words(words)) >= 6
    assert_well_formed(captions, words)


def test_a_cue_ends_after_each_sentence() -> None:
    cues = group_words(timed("One. Two words! Three? Four… “Five.” Six"))
    assert [cue.lines for cue in cues] == [
        ("One.",), ("Two words!",), ("Three?",), ("Four…",), ("“Five.”",), ("Six",)
    ]  # fmt: skip


def test_a_long_pause_ends_a_cue_and_a_short_one_does_not() -> None:
    words = timed("a b c d")
    words[2] = WordTimestamp(word="c", start=words[1].end + CUE_POLICY.pause_seconds, end=1.6)
    words[3] = WordTimestamp(word="d", start=1.6 + CUE_POLICY.pause_seconds - 0.01, end=2.5)
    assert [cue.lines for cue in group_words(words)] == [("a b",), ("c d",)]


def test_a_cue_lasts_at_most_the_policy_seconds() -> None:
    words = timed("slow " * 40, word_s=0.9, gap_s=0.1)  # one long sentence, spoken slowly
    cues = group_words(words)
    assert len(cues) > 1
    assert all(cue.end - cue.start <= CUE_POLICY.max_seconds for cue in cues)


def test_two_lines_are_even_or_nearly_so_and_broken_after_punctuation() -> None:
    cue = group_words(timed("We walked along the river, then we sat on the grass"))[0]
    assert cue.lines == ("We walked along the river,", "then we sat on the grass")
    # The most even break (17 | 26) loses to the one after the comma (27 | 16).
    cue = group_words(timed("This is a test of captions, with some words."))[0]
    assert cue.lines == ("This is a test of captions,", "with some words.")
    cue = group_words(timed("One two three four five six seven eight nine ten eleven"))[0]
    assert cue.lines == ("One two three four five six", "seven eight nine ten eleven")


def test_cues_never_overlap_even_when_words_do() -> None:
    words = [
        WordTimestamp(word="one.", start=0.0, end=1.0),
        WordTimestamp(word="two", start=0.8, end=1.5),
    ]
    cues = group_words(words)
    assert [(c.start, c.end) for c in cues] == [(0.0, 0.8), (0.8, 1.5)]


def test_a_word_with_no_time_of_its_own_joins_its_neighbours() -> None:
    """A word merged away when spoken lasts no time; alone it would be a cue never shown."""
    words = [
        WordTimestamp(word="Hi.", start=0.0, end=0.4),
        WordTimestamp(word="—", start=0.4, end=0.4),
        WordTimestamp(word="there", start=1.5, end=1.9),
    ]
    cues = group_words(words)
    assert all(cue.end > cue.start for cue in cues)
    assert " ".join(" ".join(cue.lines) for cue in cues).split() == ["Hi.", "—", "there"]


def test_words_are_written_as_given_and_markup_characters_stay_text() -> None:
    text = "It costs $12.50 <b>now</b> & then --> ok"
    words = timed(text)
    vtt = captions_text(words, "vtt")
    assert "&lt;b&gt;now&lt;/b&gt; &amp; then --&gt; ok" in vtt
    assert read(vtt, "vtt")[0].text.split() == text.split()
    srt = read(captions_text(words, "srt"), "srt")
    assert srt[0].text == "It costs $12.50 ‹b›now‹/b› & then --› ok"


def test_a_word_longer_than_a_line_gets_a_line_of_its_own() -> None:
    long = "Pneumonoultramicroscopicsilicovolcanoconiosis-like"
    cues = group_words(timed(f"a {long} b"))
    assert [line for cue in cues for line in cue.lines] == ["a", long, "b"]


def test_no_words_give_empty_captions() -> None:
    assert captions_text([], "vtt").startswith("WEBVTT")
    assert webvtt.from_string(captions_text([], "vtt")).captions == []
    assert captions_text([], "srt") == ""
