"""Marks: markup's meaning carried inline through splitting, one word to whitespace splits."""

from __future__ import annotations

from tts_service.text import marks
from tts_service.text.clean import clean_text
from tts_service.text.split import split_sentences


def test_marks_round_trip_and_read_as_their_text() -> None:
    text = (
        "Hello" + marks.pause(0.5) + "call " + marks.say_as("telephone", "555 1234.")
        + " in " + marks.pronounce("New York", "nuː jˈɔːk") + marks.rate(1.2) + "now."
    )  # fmt: skip
    assert list(marks.parts(text)) == [
        "Hello ", marks.Pause(0.5), " call ", marks.SayAs("telephone", "555 1234."), " in ",
        marks.Pronounce("New York", "nuː jˈɔːk"), " ", marks.Rate(1.2), " now.",
    ]  # fmt: skip
    assert marks.plain(text) == "Hello call 555 1234. in New York now."
    assert len(text.split()) == 8  # each mark is one whitespace-separated word


def test_a_mark_is_never_cut_by_the_sentence_splitter() -> None:
    text = "It is " + marks.say_as("date", "Jan. 5. Then") + " over. Next one."
    sentences = split_sentences(text)
    assert [marks.plain(s.text) for s in sentences] == ["It is Jan. 5. Then over.", "Next one."]


def test_user_text_cannot_forge_a_mark() -> None:
    forged = "a \ue0005\ue001 b \ue005x\ue006y\ue007"
    assert not marks.has_marks(clean_text(forged))
    assert list(marks.parts("stray \ue003 mark")) == ["stray  mark"]
