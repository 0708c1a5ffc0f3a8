"""``tts_service.text.incremental``: sentences released from text that arrives in pieces."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tts_service.text import Boundary, Sentence, split_sentences
from tts_service.text.incremental import Released, SentenceBuffer

TRICKY = [
    "Dr. Smith arrived. He sat down.",
    "The U.S. economy grew. Prices fell in the U.S. Then they rose.",
    "It costs 3.14 dollars. Really! It rose 2.5 percent.",
    'He said "Stop." Then he left. "Why?" she asked. «Oui.» Non.',
    "Wait... what? Yes… No. Hi!?! Ok.. fine... And then",
    "We bought pens, paper, etc. Then we left. See fig. 3 and No. 5. Done.",
    "J. R. R. Tolkien wrote it. Use a tool, e.g. a hammer, i.e. this one. vs. that",
    "你好。我很好！谢谢？「好」。再见",
    "First paragraph here.\n\nSecond one; it has four words here. End.\n \n\n",
    "Alpha beta gamma delta; one two three four. Short; no. Tail without end",
    "One;two three four five; six seven eight nine. A long clause with words; and short.",
    "(A bracket.) Next (one). [Yes!] Ok.",
    "Tab\tand\u00a0nbsp. Next\u2003one.\r\nA new line. a.b.c. D",
    "Hello.\n\n",
    "  Leading space. End.  ",
    "End.\n\nNew.\n\n\nThird",
]


def feed_all(buffer: SentenceBuffer, deltas: list[str]) -> list[Released]:
    released = [piece for delta in deltas for piece in buffer.feed(delta)]
    return released + buffer.flush()


def sentences(pieces: list[Released]) -> list[Sentence]:
    return [piece.sentence for piece in pieces]


def cut(text: str, positions: list[int]) -> list[str]:
    bounds = [0, *sorted(set(positions)), len(text)]
    return [text[a:b] for a, b in zip(bounds, bounds[1:], strict=False)]


def assert_offsets(text: str, pieces: list[Released]) -> None:
    """Each piece is its span of the whole text; spans follow each other and cover all of it."""
    previous = 0
    for piece in pieces:
        assert " ".join(text[piece.start : piece.end].split()) == piece.sentence.text
        assert previous <= piece.start < piece.end
        assert not text[previous : piece.start].strip()
        previous = piece.end
    assert not text[previous:].strip()


@pytest.mark.parametrize("text", TRICKY)
def test_every_split_of_a_text_gives_the_sentences_of_the_whole_text(text: str) -> None:
    """Two deltas cut at every position, then a token (a few characters) at a time, then
    character by character: always split_sentences of the whole, at the same offsets."""
    expected = split_sentences(text)
    splits = [cut(text, [i]) for i in range(len(text) + 1)]
    splits.append(cut(text, list(range(0, len(text), 4))))
    splits.append(list(text))
    for deltas in splits:
        pieces = feed_all(SentenceBuffer(), deltas)
        assert sentences(pieces) == expected, deltas
        assert_offsets(text, pieces)


_FRAGMENTS = st.sampled_from(
    [
        "Dr.", "Mr.", "e.g.", "i.e.", "etc.", "U.S.", "No.", "J.", "3.14", "5.", "a.m.",
        "word", "Word", "the", "The", "it", "and", ".", "!", "?", "...", "…", ";", ",", ":",
        '"', "'", "”", ")", "(", "»", "。", "！", "「好」", "你好", " ", " ", "  ", "\n",
        "\n\n", "\t", "\u00a0", " - ", "—",
    ]
)  # fmt: skip


@settings(max_examples=400, deadline=None)
@given(
    parts=st.lists(_FRAGMENTS, max_size=40),
    seed=st.integers(0, 2**32 - 1),
)
def test_any_text_in_any_deltas_gives_the_sentences_of_the_whole_text(
    parts: list[str], seed: int
) -> None:
    text = " ".join(parts) if seed % 2 else "".join(parts)
    chooser = random.Random(seed)
    positions = [i for i in range(1, len(text)) if chooser.random() < 0.3]
    pieces = feed_all(SentenceBuffer(), cut(text, positions))
    assert sentences(pieces) == split_sentences(text)
    assert_offsets(text, pieces)


def test_a_sentence_is_released_as_soon_as_the_next_word_begins() -> None:
    buffer = SentenceBuffer()
    assert buffer.feed("Hello there.") == []
    assert buffer.feed(" ") == []
    [piece] = buffer.feed("H")
    assert piece == Released(Sentence("Hello there.", Boundary.SENTENCE), 0, 12)
    assert buffer.buffered == " H"


@pytest.mark.parametrize(
    ("deltas", "held"),
    [
        (["Call Dr.", " Smith"], "Call Dr. Smith"),  # an abbreviation
        (["It is 3.", "14"], "It is 3.14"),  # a decimal
        (["The U.S.", " economy"], "The U.S. economy"),  # lower case goes on
        (['He said "Stop.', '"'], 'He said "Stop."'),  # the quote it closes
        (["Stop!", " he said"], "Stop! he said"),  # lower case goes on
        (["Wait.", ".", ". what"], "Wait... what"),  # an ellipsis typed a dot at a time
        (["Alpha beta gamma delta; one", " two three"], "Alpha beta gamma delta; one two three"),
    ],
)
def test_a_boundary_split_across_deltas_is_not_released_too_early(
    deltas: list[str], held: str
) -> None:
    buffer = SentenceBuffer()
    assert [piece for delta in deltas for piece in buffer.feed(delta)] == []
    assert buffer.buffered == held


def test_the_last_sentence_of_a_paragraph_waits_for_text_after_the_blank_line() -> None:
    buffer = SentenceBuffer()
    assert buffer.feed("One. Two.\n\n") == [Released(Sentence("One.", Boundary.SENTENCE), 0, 4)]
    [piece] = buffer.feed("Three")
    assert piece == Released(Sentence("Two.", Boundary.PARAGRAPH), 5, 9)
    [last] = buffer.flush()
    assert last == Released(Sentence("Three", Boundary.NONE), 11, 16)


def test_flush_releases_what_is_buffered_and_the_turn_goes_on() -> None:
    buffer = SentenceBuffer()
    buffer.feed("Let me think")
    assert buffer.flush() == [Released(Sentence("Let me think", Boundary.NONE), 0, 12)]
    assert buffer.flush() == []
    assert buffer.feed(" about it. Ok") == [
        Released(Sentence("about it.", Boundary.SENTENCE), 13, 22)
    ]
    assert buffer.text == "Let me think about it. Ok"
    assert buffer.released_until == 22


def test_a_stall_releases_up_to_the_last_clause() -> None:
    buffer = SentenceBuffer(stall=0.5)
    assert buffer.feed("Well, I think, on the whole", now=10.0) == []
    assert buffer.stall_deadline() == 10.5
    assert buffer.release_stalled(10.4) == []
    assert buffer.release_stalled(10.5) == [
        Released(Sentence("Well, I think,", Boundary.CLAUSE), 0, 14)
    ]
    assert buffer.buffered == " on the whole"
    assert buffer.stall_deadline() is None  # no clause left to release
    buffer.feed(" - that is", now=11.0)
    assert buffer.release_stalled(11.2) == []  # text arrived: the wait starts again
    assert buffer.release_stalled(11.5) == [
        Released(Sentence("on the whole -", Boundary.CLAUSE), 15, 29)
    ]
    assert sentences(buffer.flush()) == [Sentence("that is", Boundary.NONE)]


def test_a_stall_after_sentence_punctuation_releases_the_sentence() -> None:
    """A period at the end may yet be "Dr." or "e.g.": a stall releases the sentence anyway."""
    buffer = SentenceBuffer(stall=1.0)
    assert buffer.feed("Well, that is done.", now=0.0) == []
    assert buffer.release_stalled(1.0) == [
        Released(Sentence("Well, that is done.", Boundary.SENTENCE), 0, 19)
    ]


def test_no_stall_rule_without_a_stall_time() -> None:
    buffer = SentenceBuffer()
    buffer.feed("Well, I think", now=0.0)
    assert buffer.stall_deadline() is None
    assert buffer.release_stalled(1e9) == []


def test_a_long_first_sentence_is_released_at_its_first_long_enough_clause() -> None:
    buffer = SentenceBuffer(first_clause_chars=20)
    assert buffer.feed("Once upon a time, in a land") == []  # "Once upon a time," is short
    [head] = buffer.feed(" far away, there")
    assert head == Released(
        Sentence("Once upon a time, in a land far away,", Boundary.CLAUSE), 0, 37
    )
    # Only the turn's first sentence: later ones wait for their end.
    assert buffer.feed(" lived a king. Then, one day, a dragon came and") == [
        Released(Sentence("there lived a king.", Boundary.SENTENCE), 38, 57)
    ]


def test_text_without_punctuation_is_released_between_words_at_the_bound() -> None:
    words = [f"word{i}" for i in range(100)]
    text = " ".join(words)
    buffer = SentenceBuffer(max_buffered=50)
    pieces = [
        piece for token in cut(text, list(range(0, len(text), 3))) for piece in buffer.feed(token)
    ]
    assert pieces and all(len(piece.sentence.text) <= 50 for piece in pieces)
    assert all(piece.sentence.boundary is Boundary.NONE for piece in pieces)
    assert len(buffer.buffered) <= 50
    pieces += buffer.flush()
    assert " ".join(piece.sentence.text for piece in pieces).split() == words
    assert_offsets(text, pieces)


def test_over_the_bound_a_clause_is_preferred_and_an_endless_word_is_cut() -> None:
    buffer = SentenceBuffer(max_buffered=30)
    [piece] = buffer.feed("one two three, four five six seven eight")
    assert piece.sentence == Sentence("one two three,", Boundary.CLAUSE)
    buffer = SentenceBuffer(max_buffered=30)
    pieces = buffer.feed("x" * 70)
    assert [piece.sentence.text for piece in pieces] == ["x" * 30, "x" * 30]
    assert buffer.buffered == "x" * 10


def test_token_by_token_only_the_unreleased_tail_is_kept() -> None:
    """A long reply fed token by token is split again only as far as its unfinished sentence,
    so the work per token does not grow with the reply."""
    text = " ".join(TRICKY[:13]) * 8
    buffer = SentenceBuffer()
    longest = max(len(sentence.text) for sentence in split_sentences(text))
    pieces: list[Released] = []
    for token in cut(text, list(range(0, len(text), 4))):
        pieces += buffer.feed(token)
        assert len(buffer.buffered) <= longest + 2 * 4
    pieces += buffer.flush()
    assert sentences(pieces) == split_sentences(text)


@settings(max_examples=300, deadline=None)
@given(
    parts=st.lists(_FRAGMENTS, max_size=40),
    seed=st.integers(0, 2**32 - 1),
    max_buffered=st.integers(1, 40),
    first_clause_chars=st.one_of(st.none(), st.integers(1, 30)),
)
def test_forced_releases_never_drop_repeat_or_reorder_text(
    parts: list[str], seed: int, max_buffered: int, first_clause_chars: int | None
) -> None:
    """Stalls, the bound and an early first clause cut sentences, but every character of the
    text is released once, in order, at its offsets."""
    text = " ".join(parts)
    chooser = random.Random(seed)
    buffer = SentenceBuffer(
        stall=1.0, max_buffered=max_buffered, first_clause_chars=first_clause_chars
    )
    pieces: list[Released] = []
    for now, delta in enumerate(cut(text, [i for i in range(len(text)) if chooser.random() < 0.3])):
        pieces += buffer.feed(delta, now=float(now))
        if chooser.random() < 0.3:
            pieces += buffer.release_stalled(now + 1.0)
    pieces += buffer.flush()
    assert_offsets(text, pieces)
    assert "".join(piece.sentence.text for piece in pieces).replace(" ", "") == "".join(
        text.split()
    )


def test_a_caller_may_release_up_to_the_last_clause_before_the_sentence_ends() -> None:
    buffer = SentenceBuffer()
    text = "The garden opens at nine, and the glasshouses close at half past four, so the"
    assert buffer.feed(text) == []
    end = buffer.last_clause(min_chars=10)
    assert end == len("The garden opens at nine, and the glasshouses close at half past four,")
    (clause,) = buffer.release_to(end)
    assert clause.sentence == Sentence(text[:end], Boundary.CLAUSE)
    assert (clause.start, clause.end) == (0, end)
    assert buffer.last_clause() is None  # " so the": no clause boundary left
    assert [r.sentence.text for r in buffer.feed(" morning is best. Next")] == [
        "so the morning is best."
    ]


def test_no_clause_is_released_below_its_minimum() -> None:
    buffer = SentenceBuffer()
    buffer.feed("Well, I think that the answer")
    assert buffer.last_clause(min_chars=10) is None
    assert buffer.last_clause(min_chars=5) == len("Well,")
