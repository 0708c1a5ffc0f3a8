"""The SSML subset and the plain-text pause form become marks (tts_service/text/markup.py,
tts_service/text/ssml.py); malformed markup is read sensibly, never raises."""

from __future__ import annotations

import pytest

from tts_service.text import marks
from tts_service.text.markup import strip_markup
from tts_service.text.split import split_sentences
from tts_service.text.timing import MAX_PAUSE, MAX_RATE, MIN_RATE


def read(text: str) -> list[str | marks.Mark]:
    """The marks and the words of ``text`` after the markup stage, whitespace-normalized."""
    out: list[str | marks.Mark] = []
    for part in marks.parts(strip_markup(text)):
        if isinstance(part, str):
            out.extend(part.split())
        else:
            out.append(part)
    return out


P, R, S, Ph = marks.Pause, marks.Rate, marks.SayAs, marks.Pronounce


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('A <break time="500ms"/> b', ["A", P(0.5), "b"]),
        ('A <break time="2s"/> b', ["A", P(2.0), "b"]),
        ("A <break time='1.25s'> b", ["A", P(1.25), "b"]),
        ('A <break strength="none"/> b', ["A", P(0.0), "b"]),
        ('A <break strength="x-weak"/> b', ["A", P(0.1), "b"]),
        ('A <break strength="weak"/> b', ["A", P(0.25), "b"]),
        ('A <break strength="medium"/> b', ["A", P(0.5), "b"]),
        ('A <break strength="strong"/> b', ["A", P(0.8), "b"]),
        ('A <break strength="x-strong"/> b', ["A", P(1.2), "b"]),
        ("A <break/> b", ["A", P(0.5), "b"]),
        ('A <break time="3s" strength="weak"/> b', ["A", P(3.0), "b"]),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_a_break_is_a_pause_of_its_time_or_strength(text: str, expected: list) -> None:
    assert read(text) == expected


@pytest.mark.parametrize(
    ("time_value", "seconds"),
    [("-5s", 0.5), ("abc", 0.5), ("", 0.5), ("1e400s", 0.5), ("NaNs", 0.5), ("5", 0.5),
     ("99999999999s", MAX_PAUSE), ("60s", MAX_PAUSE), ("9" * 5000 + "ms", 0.5)],
)  # fmt: skip
def test_a_break_time_that_cannot_be_read_is_a_medium_pause_and_a_long_one_is_bounded(
    time_value: str, seconds: float
) -> None:
    assert read(f'A <break time="{time_value}"/> b') == ["A", P(seconds), "b"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Wait [pause] now", ["Wait", P(0.5), "now"]),
        ("Wait [pause 1.5s] now", ["Wait", P(1.5), "now"]),
        ("Wait [pause 500ms] now", ["Wait", P(0.5), "now"]),
        ("Wait [pause:2s] now", ["Wait", P(2.0), "now"]),
        ("Wait [PAUSE 2] now", ["Wait", P(2.0), "now"]),
        ("Wait [pause 90s] now", ["Wait", P(MAX_PAUSE), "now"]),
        ("**Wait** [pause 1s] _now_", ["Wait", P(1.0), "now"]),
        ("Say [pause here] or [pause -1s] or [paused]", ["Say", "[pause", "here]", "or", "[pause", "-1s]", "or", "[paused]"]),
    ],
    ids=["bare", "seconds", "milliseconds", "colon", "upper-number", "bounded", "in-markdown", "not-a-pause"],
)  # fmt: skip
def test_the_plain_text_pause_form_is_a_pause(text: str, expected: list) -> None:
    assert read(text) == expected


def test_sub_is_read_as_its_alias() -> None:
    assert read('I am <sub alias="Doctor">Dr.</sub> Who.') == ["I", "am", "Doctor", "Who."]
    assert read("Water is H<sub>2</sub>O.") == ["Water", "is", "H2O."]  # HTML's sub: its text
    assert read('<sub alias="">Dr.</sub> Who') == ["Dr.", "Who"]  # an empty alias is no alias


def test_say_as_is_a_say_as_mark_and_an_unknown_kind_its_text() -> None:
    for kind, mark_kind in [("characters", "characters"), ("spell-out", "characters"),
                            ("digits", "characters"), ("cardinal", "cardinal"),
                            ("ordinal", "ordinal"), ("date", "date"), ("telephone", "telephone")]:  # fmt: skip
        text = f'Call <say-as interpret-as="{kind}">555 1234</say-as> now.'
        assert read(text) == ["Call", S(mark_kind, "555 1234"), "now."], kind
    assert read('Call <say-as interpret-as="vxml:x">555</say-as> now.') == ["Call", "555", "now."]
    assert read("Call <say-as>555</say-as> now.") == ["Call", "555", "now."]


def test_phoneme_is_a_pronounce_mark_in_kokoros_phoneme_set() -> None:
    text = 'A <phoneme alphabet="ipa" ph="kəˈkɔːɹoʊ">Kokoro</phoneme> model.'
    assert read(text) == ["A", Ph("Kokoro", "kəˈkɔːɹoʊ"), "model."]
    # Symbols outside the set are dropped; nothing left to say, or another alphabet: the text.
    assert read('<phoneme ph="tə͡ʃ">x</phoneme>') == [Ph("x", "təʃ")]
    assert read('<phoneme ph="123 #">Kokoro</phoneme>') == ["Kokoro"]
    assert read('<phoneme alphabet="x-sampa" ph="k@">Kokoro</phoneme>') == ["Kokoro"]


def test_prosody_rate_sets_a_rate_and_its_end_restores_the_enclosing_one() -> None:
    text = (
        'A <prosody rate="slow">b <prosody rate="x-fast">c</prosody> d</prosody> e '
        '<prosody rate="80%">f</prosody> <prosody rate="+20%">g</prosody> '
        '<prosody rate="1.1">h</prosody> <prosody pitch="high">i</prosody>'
    )
    assert read(text) == [
        "A", R(0.75), "b", R(1.5), "c", R(0.75), "d", R(1.0), "e", R(0.8), "f", R(1.0),
        R(1.2), "g", R(1.0), R(1.1), "h", R(1.0), "i",
    ]  # fmt: skip


@pytest.mark.parametrize(("value", "factor"), [("5", MAX_RATE), ("10%", MIN_RATE), ("x-slow", 0.5)])
def test_a_rate_is_bounded(value: str, factor: float) -> None:
    assert read(f'<prosody rate="{value}">a</prosody>') == [R(factor), "a", R(1.0)]


@pytest.mark.parametrize("value", ["0", "-150%", "fastest", "", "1e9", "nan"])
def test_a_rate_that_cannot_be_read_changes_nothing(value: str) -> None:
    assert read(f'<prosody rate="{value}">a</prosody> b') == ["a", "b"]


def test_streamed_sentences_share_their_open_prosody_rates() -> None:
    rates: list[float] = []
    first = strip_markup('<prosody rate="slow">One. <prosody rate="fast">Two.', rates)
    second = strip_markup("Three.</prosody> Four.</prosody> Five.", rates)
    assert [p for p in marks.parts(first) if not isinstance(p, str)] == [R(0.75), R(1.25)]
    assert [p for p in marks.parts(second) if not isinstance(p, str)] == [R(0.75), R(1.0)]
    assert rates == []


def test_an_end_of_prosody_with_no_start_goes_back_to_the_normal_rate() -> None:
    assert read("a</prosody> b") == ["a", R(1.0), "b"]


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ('<say-as interpret-as="date">1 <say-as interpret-as="cardinal">2</say-as> 3</say-as> x',
         [S("date", "1 2 3"), "x"]),
        ('Unclosed <say-as interpret-as="telephone">555 1234', ["Unclosed", S("telephone", "555 1234")]),
        ('<say-as interpret-as="ordinal"><break time="1s"/>3<prosody rate="slow">rd</prosody></say-as>',
         [S("ordinal", "3rd")]),
        ('<phoneme ph="a"></phoneme>Empty', ["Empty"]),
        ('<sub alias="x"><sub alias="y">z</sub></sub> w', ["x", "w"]),
        ('<say-as interpret-as="date">12 May <sub alias="a">b', [S("date", "12 May a")]),
        ('<sub alias="x"><say-as interpret-as="date">12</say-as></sub> w', ["x", "w"]),
        ("<speak><p><s>One.</s><s>Two.</s></p></speak>", ["One.", "Two."]),
        ("<voice name='x'><emphasis>Hi</emphasis> <mark name='m'/> <audio src='a.wav'>beep</audio></voice>",
         ["Hi", "beep"]),
        ("</say-as></phoneme></sub>plain", ["plain"]),
        ("a < b > c, <3, x<y", ["a", "<", "b", ">", "c,", "<3,", "x<y"]),
    ],
    ids=["nested-say-as", "unclosed-say-as", "marks-inside-say-as", "empty-phoneme",
         "nested-sub", "unclosed-sub-in-say-as", "say-as-in-sub", "speak-p-s", "unimplemented-tags", "stray-ends", "angle-brackets"],
)  # fmt: skip
def test_malformed_or_unimplemented_markup_is_read_sensibly(text: str, words: list) -> None:
    assert read(text) == words


@pytest.mark.parametrize(
    ("text", "spoken"),
    [
        ("<prosody rate='slow'>" * 10_000 + "deep", "deep"),
        ("<say-as interpret-as='date'>" * 10_000 + "deep", "deep"),
        ("<sub alias='a'>" * 10_000 + "deep", "a"),
        ("<break time='10s'/>" * 2_000 + "deep", "deep"),
        ("<phoneme ph='" + "ə" * 100_000 + "'>deep</phoneme>", "deep"),
        ("<sub alias='" + "a " * 50_000 + "'>x</sub>", "a " * 49_999 + "a"),
        ("[pause" + " " * 50_000 + "1s]", ""),  # a pause: nothing to say
    ],
    ids=["nested-prosody", "nested-say-as", "nested-sub", "many-breaks", "huge-ph", "huge-alias",
         "spaced-pause-form"],
)  # fmt: skip
def test_huge_or_deeply_nested_markup_is_read_without_error(text: str, spoken: str) -> None:
    assert marks.plain(strip_markup(text)).strip() == spoken


def test_marks_survive_sentence_splitting() -> None:
    text = strip_markup('One. <break time="1s"/> Two <say-as interpret-as="date">Jan. 5</say-as>.')
    sentences = split_sentences(text)
    assert [marks.plain(s.text) for s in sentences] == ["One.", "Two Jan. 5."]
    assert sum(isinstance(p, P) for s in sentences for p in marks.parts(s.text)) == 1
