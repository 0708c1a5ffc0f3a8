"""``tts_service.text.split_sentences``: where sentences end, and what ends them."""

from __future__ import annotations

import pytest

from tts_service.text import Boundary, Sentence, split_sentences


def texts(text: str) -> list[str]:
    return [sentence.text for sentence in split_sentences(text)]


def boundaries(text: str) -> list[Boundary]:
    return [sentence.boundary for sentence in split_sentences(text)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Dr. Smith arrived. He sat down.", ["Dr. Smith arrived.", "He sat down."]),
        ("Mr. and Mrs. Smith came home. They ate.", ["Mr. and Mrs. Smith came home.", "They ate."]),
        ("Ask Prof. Jones. She knows.", ["Ask Prof. Jones.", "She knows."]),
        ("Use a tool, e.g. A hammer. Then stop.", ["Use a tool, e.g. A hammer.", "Then stop."]),
        ("Use a tool, e.g. a hammer. Then stop.", ["Use a tool, e.g. a hammer.", "Then stop."]),
        ("Pick one, i.e. the red one. Done.", ["Pick one, i.e. the red one.", "Done."]),
        ("It was 5 p.m. and dark. We left.", ["It was 5 p.m. and dark.", "We left."]),
        ("The U.S. economy grew. Prices fell.", ["The U.S. economy grew.", "Prices fell."]),
    ],
)
def test_abbreviations_do_not_end_a_sentence(text: str, expected: list[str]) -> None:
    assert texts(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # "etc." may end a sentence: it does when a capitalised word follows...
        (
            "We bought pens, paper, etc. Then we left.",
            ["We bought pens, paper, etc.", "Then we left."],
        ),
        # ... and does not when the next word is lower case.
        (
            "We bought pens, paper, etc. and went home.",
            ["We bought pens, paper, etc. and went home."],
        ),
        ("He works at Acme Inc. The pay is good.", ["He works at Acme Inc.", "The pay is good."]),
        ("He works at Acme Inc. in Ohio. Fine.", ["He works at Acme Inc. in Ohio.", "Fine."]),
    ],
)
def test_sometimes_final_abbreviations_end_a_sentence_only_before_a_capital(
    text: str, expected: list[str]
) -> None:
    assert texts(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("The answer is no. We left.", ["The answer is no.", "We left."]),
        ("I met Ed. He waved.", ["I met Ed.", "He waved."]),
    ],
)
def test_ordinary_words_that_look_like_abbreviations_end_a_sentence(
    text: str, expected: list[str]
) -> None:
    assert texts(text) == expected


def test_a_period_followed_by_a_lower_case_word_does_not_end_a_sentence() -> None:
    assert texts("He lives in Washington. and he likes it. Really.") == [
        "He lives in Washington. and he likes it.",
        "Really.",
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Pi is about 3.14 in value. Yes.", ["Pi is about 3.14 in value.", "Yes."]),
        ("Version 2.0.1 shipped. It works.", ["Version 2.0.1 shipped.", "It works."]),
        ("It costs $4.99 today. Buy it.", ["It costs $4.99 today.", "Buy it."]),
    ],
)
def test_decimal_points_do_not_end_a_sentence(text: str, expected: list[str]) -> None:
    assert texts(text) == expected


def test_initials_do_not_end_a_sentence() -> None:
    assert texts("J. R. R. Tolkien wrote it. It is long.") == [
        "J. R. R. Tolkien wrote it.",
        "It is long.",
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('He said "Stop." Then he left.', ['He said "Stop."', "Then he left."]),
        ("She asked “Why?” Nobody knew.", ["She asked “Why?”", "Nobody knew."]),
        ("(This is an aside.) Back to work.", ["(This is an aside.)", "Back to work."]),
        ("He said 'Go!' Then he ran.", ["He said 'Go!'", "Then he ran."]),
    ],
)
def test_closing_quotes_and_brackets_stay_with_their_sentence(
    text: str, expected: list[str]
) -> None:
    assert texts(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('"Stop!" he said. Then he left.', ['"Stop!" he said.', "Then he left."]),
        ('"Where?" she asked. Nobody knew.', ['"Where?" she asked.', "Nobody knew."]),
    ],
)
def test_exclamation_inside_a_quote_followed_by_a_lower_case_tag_continues(
    text: str, expected: list[str]
) -> None:
    assert texts(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Wow! That is big.", ["Wow!", "That is big."]),
        ("Really? Yes.", ["Really?", "Yes."]),
        ("Really?! Yes.", ["Really?!", "Yes."]),
        ("Wait… Then it came.", ["Wait…", "Then it came."]),
        ("Wait... Then it came.", ["Wait...", "Then it came."]),
    ],
)
def test_exclamation_question_and_ellipsis_end_a_sentence(text: str, expected: list[str]) -> None:
    assert texts(text) == expected
    assert boundaries(text) == [Boundary.SENTENCE, Boundary.NONE]


@pytest.mark.parametrize("ellipsis", ["...", "…"])
def test_an_ellipsis_before_a_lower_case_word_is_a_pause_inside_the_sentence(ellipsis: str) -> None:
    text = f"Wait{ellipsis} and then it came. Yes."
    assert texts(text) == [f"Wait{ellipsis} and then it came.", "Yes."]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("你好。我很好！你呢？", ["你好。", "我很好！", "你呢？"]),
        ("他说：「好。」然后走了。", ["他说：「好。」", "然后走了。"]),
        ("こんにちは。元気ですか？", ["こんにちは。", "元気ですか？"]),
    ],
)
def test_cjk_full_stops_end_a_sentence_without_a_following_space(
    text: str, expected: list[str]
) -> None:
    assert texts(text) == expected


def test_blank_lines_end_a_paragraph() -> None:
    text = "First one. First two.\n\nSecond one.\n \t\n\nThird one."
    assert split_sentences(text) == [
        Sentence("First one.", Boundary.SENTENCE),
        Sentence("First two.", Boundary.PARAGRAPH),
        Sentence("Second one.", Boundary.PARAGRAPH),
        Sentence("Third one.", Boundary.NONE),
    ]


def test_a_single_newline_is_not_a_paragraph_break() -> None:
    assert split_sentences("Line one.\nLine two.") == [
        Sentence("Line one.", Boundary.SENTENCE),
        Sentence("Line two.", Boundary.NONE),
    ]


def test_a_paragraph_without_final_punctuation_still_ends_at_the_blank_line() -> None:
    assert split_sentences("A heading\n\nThe body text.") == [
        Sentence("A heading", Boundary.PARAGRAPH),
        Sentence("The body text.", Boundary.NONE),
    ]


def test_a_semicolon_between_long_clauses_splits_with_a_clause_boundary() -> None:
    text = "I came home late in the evening; my family had already eaten without me."
    assert split_sentences(text) == [
        Sentence("I came home late in the evening;", Boundary.CLAUSE),
        Sentence("my family had already eaten without me.", Boundary.NONE),
    ]


@pytest.mark.parametrize(
    "text",
    [
        "Yes; no.",
        "I came home late in the evening; then slept.",  # short right side
        "Home late; my family had already eaten without me.",  # short left side
    ],
)
def test_a_semicolon_next_to_a_short_clause_does_not_split(text: str) -> None:
    assert texts(text) == [text]


def test_only_the_last_sentence_has_no_boundary() -> None:
    assert boundaries("One. Two! Three? Four.") == [
        Boundary.SENTENCE,
        Boundary.SENTENCE,
        Boundary.SENTENCE,
        Boundary.NONE,
    ]


def test_trailing_blank_lines_do_not_leave_a_paragraph_boundary_on_the_last_sentence() -> None:
    assert split_sentences("One. Two.\n\n\n") == [
        Sentence("One.", Boundary.SENTENCE),
        Sentence("Two.", Boundary.NONE),
    ]


def test_whitespace_inside_a_sentence_collapses_to_single_spaces() -> None:
    assert texts("  Hello   \t world,\n  how are\tyou?   Fine.  ") == [
        "Hello world, how are you?",
        "Fine.",
    ]


@pytest.mark.parametrize("text", ["", " ", "\n\n", " \t\n \n\n  "])
def test_empty_or_blank_input_has_no_sentences(text: str) -> None:
    assert split_sentences(text) == []


def test_text_without_terminal_punctuation_is_one_sentence() -> None:
    assert split_sentences("just some words") == [Sentence("just some words", Boundary.NONE)]
