"""Captions: words grouped into cues by the policy, written as WebVTT and SubRip, and every
output read back with webvtt-py's own parsers."""

from __future__ import annotations

import pytest
import webvtt

from tests.helpers import CAPTIONED_TEXT, assert_captions_fit, read_captions, timed_words
from tts_service.captions import CUE_POLICY, captions_text, group_words
from tts_service.schemas import WordTimestamp


@pytest.mark.parametrize("fmt", ["vtt", "srt"])
def test_captions_read_back_as_the_words_in_order_in_well_formed_cues(fmt: str) -> None:
    words = timed_words(CAPTIONED_TEXT)
    captions = read_captions(captions_text(words, fmt), fmt)
    assert len(captions) == len(group_words(words)) >= 6
    assert_captions_fit(captions, words)


def test_a_cue_ends_after_each_sentence() -> None:
    cues = group_words(timed_words("One. Two words! Three? Four… “Five.” Six"))
    assert [cue.lines for cue in cues] == [
        ("One.",), ("Two words!",), ("Three?",), ("Four…",), ("“Five.”",), ("Six",)
    ]  # fmt: skip


def test_a_long_pause_ends_a_cue_and_a_short_one_does_not() -> None:
    words = timed_words("a b c d")
    words[2] = WordTimestamp(word="c", start=words[1].end + CUE_POLICY.pause_seconds, end=1.6)
    words[3] = WordTimestamp(word="d", start=1.6 + CUE_POLICY.pause_seconds - 0.01, end=2.5)
    assert [cue.lines for cue in group_words(words)] == [("a b",), ("c d",)]


def test_a_cue_lasts_at_most_the_policy_seconds() -> None:
    words = timed_words("slow " * 40, word_s=0.9, gap_s=0.1)  # one long sentence, spoken slowly
    cues = group_words(words)
    assert len(cues) > 1
    assert all(cue.end - cue.start <= CUE_POLICY.max_seconds for cue in cues)


def test_two_lines_are_even_or_nearly_so_and_broken_after_punctuation() -> None:
    cue = group_words(timed_words("We walked along the river, then we sat on the grass"))[0]
    assert cue.lines == ("We walked along the river,", "then we sat on the grass")
    # The most even break (17 | 26) loses to the one after the comma (27 | 16).
    cue = group_words(timed_words("This is a test of captions, with some words."))[0]
    assert cue.lines == ("This is a test of captions,", "with some words.")
    cue = group_words(timed_words("One two three four five six seven eight nine ten eleven"))[0]
    assert cue.lines == ("One two three four five six", "seven eight nine ten eleven")


def test_a_full_cue_breaks_after_its_last_clause_instead() -> None:
    cues = group_words(timed_words("It cost $12.50, which is a lot for a coffee that nobody "
                                   "really wanted in the first place."))  # fmt: skip
    assert [cue.lines for cue in cues] == [
        ("It cost $12.50,",),
        ("which is a lot for a coffee that nobody", "really wanted in the first place."),
    ]
    # A clause shorter than the policy's minimum stays: "Well," alone would flash by.
    cues = group_words(timed_words("Well, " + "one two three four five six seven " * 3))
    assert cues[0].lines[0].startswith("Well, one")


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
    words = timed_words(text)
    vtt = captions_text(words, "vtt")
    assert "&lt;b&gt;now&lt;/b&gt; &amp; then --&gt; ok" in vtt
    assert read_captions(vtt, "vtt")[0].text.split() == text.split()
    srt = read_captions(captions_text(words, "srt"), "srt")
    assert srt[0].text == "It costs $12.50 ‹b›now‹/b› & then --› ok"


def test_a_word_longer_than_a_line_gets_a_line_of_its_own() -> None:
    long = "Pneumonoultramicroscopicsilicovolcanoconiosis-like"
    cues = group_words(timed_words(f"a {long} b"))
    assert [line for cue in cues for line in cue.lines] == ["a", long, "b"]


def test_no_words_give_empty_captions() -> None:
    assert captions_text([], "vtt").startswith("WEBVTT")
    assert webvtt.from_string(captions_text([], "vtt")).captions == []
    assert captions_text([], "srt") == ""
