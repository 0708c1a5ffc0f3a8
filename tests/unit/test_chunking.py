"""``tts_service.chunking.plan_chunks`` with the real espeak-ng phonemizer (fast, no model)."""

from __future__ import annotations

import itertools

import pytest

from tts_service.chunking import MIN_CHUNK_PHONEMES, Chunk, Pauses, plan_chunks
from tts_service.pieces import MIN_HEAD_PHONEMES
from tts_service.text import Boundary, Sentence, split_sentences
from tts_service.text.phonemes import MAX_TOKENS, Phonemizer

from .standin import CountingPhonemizer

PAUSES = Pauses(sentence=0.2, clause=0.1, paragraph=0.45)
GROUP = 300
LANG = "en-us"

SHORT_SENTENCES = [
    "The cat sat down.",
    "It was warm.",
    "Birds sang outside.",
    "A dog barked twice.",
    "The sun went down.",
    "Night came slowly.",
    "Stars appeared above.",
    "The moon rose high.",
    "Everyone went to bed.",
    "The house was quiet.",
    "A clock ticked softly.",
    "Morning came at last.",
]


@pytest.fixture(scope="module")
def phonemizer() -> Phonemizer:
    return Phonemizer()


def plan(
    text: str,
    phonemizer: Phonemizer,
    group: int = GROUP,
    *,
    growth: float = 1000.0,  # no growth limit: plain greedy grouping
    first: int = MAX_TOKENS,
    largest: int = MAX_TOKENS,
    first_alone: bool = True,
) -> list[Chunk]:
    return list(
        plan_chunks(
            split_sentences(text),
            phonemizer,
            LANG,
            group_phonemes=group,
            pauses=PAUSES,
            first_chunk_phonemes=first,
            growth=growth,
            max_phonemes=largest,
            first_alone=first_alone,
        )  # fmt: skip
    )


def test_first_chunk_is_never_merged_with_the_next_sentence(phonemizer: Phonemizer) -> None:
    chunks = plan("Hi. Yes. Go on. Fine.", phonemizer)
    assert chunks[0].text == "Hi."
    assert chunks[0].phonemes == phonemizer.phonemize("Hi.", LANG)
    # The rest, all short, is one group.
    assert [chunk.text for chunk in chunks[1:]] == ["Yes. Go on. Fine."]


def test_where_nobody_listens_early_the_first_chunk_groups_sentences_too(
    phonemizer: Phonemizer,
) -> None:
    """A whole file: the fewest, largest chunks, the first one no exception."""
    text = " ".join(SHORT_SENTENCES)
    whole = plan(text, phonemizer, group=80, first_alone=False)
    assert len(whole[0].text.split(". ")) > 1, "the first chunk holds several sentences"
    assert " ".join(chunk.text for chunk in whole) == text
    assert all(len(chunk.phonemes) <= 80 for chunk in whole)
    streamed = plan(text, phonemizer, group=80)
    assert streamed[0].text == SHORT_SENTENCES[0]
    assert len(whole) < len(streamed)


def test_where_nobody_listens_early_a_long_first_sentence_is_not_cut_short(
    phonemizer: Phonemizer,
) -> None:
    text = "A first sentence, with clauses, that goes on for quite a while. Then a short one."
    whole = plan(text, phonemizer, first=20, first_alone=False)
    assert [chunk.phonemes for chunk in whole] == [
        " ".join(phonemizer.phonemize(s.text, LANG) for s in split_sentences(text))
    ]
    assert plan(text, phonemizer, first=20)[0].text != text.split(". ")[0] + "."  # cut


def test_the_first_chunk_is_the_first_speakable_sentence(phonemizer: Phonemizer) -> None:
    chunks = plan("... !!! Hello there. How are you?", phonemizer)
    assert chunks[0].text == "Hello there."


def test_later_short_sentences_are_grouped_greedily_up_to_group_phonemes(
    phonemizer: Phonemizer,
) -> None:
    group = 80
    sentence_phonemes = {s: phonemizer.phonemize(s, LANG) for s in SHORT_SENTENCES}
    chunks = plan(" ".join(SHORT_SENTENCES), phonemizer, group=group)

    assert chunks[0].text == SHORT_SENTENCES[0]
    # Rebuild which sentences went into each later chunk, in order.
    remaining = iter(SHORT_SENTENCES[1:])
    members: list[list[str]] = []
    for chunk in chunks[1:]:
        taken: list[str] = []
        while " ".join(taken) != chunk.text:
            taken.append(next(remaining))
        members.append(taken)
    assert next(remaining, None) is None, "every sentence is in exactly one chunk, in order"

    assert any(len(m) > 1 for m in members), "short sentences are grouped"
    for chunk, taken in zip(chunks[1:], members, strict=True):
        assert chunk.phonemes == " ".join(sentence_phonemes[s] for s in taken)
        assert len(chunk.phonemes) <= group
    # Greedy: the next chunk's first sentence would not have fitted into this one.
    for (chunk, _), (_, next_members) in itertools.pairwise(zip(chunks[1:], members, strict=True)):
        assert len(chunk.phonemes) + 1 + len(sentence_phonemes[next_members[0]]) > group


def test_chunk_indexes_count_up_from_zero(phonemizer: Phonemizer) -> None:
    chunks = plan(" ".join(SHORT_SENTENCES), phonemizer, group=60)
    assert [chunk.index for chunk in chunks] == list(range(len(chunks)))


LONG_WITH_COMMAS = ", ".join(["the quick brown fox jumps over the lazy dog"] * 70) + "."
LONG_WITHOUT_PUNCTUATION = " ".join(["the quick brown fox jumps over the lazy dog"] * 70)
LONG_WORD = "abcdefghij" * 200
LONG_WORD_OF_ONE_LETTER = "a" * 2000


@pytest.mark.parametrize(
    "text",
    [LONG_WITH_COMMAS, LONG_WITHOUT_PUNCTUATION, LONG_WORD, LONG_WORD_OF_ONE_LETTER],
    ids=["3000-chars-with-commas", "3000-chars-no-punctuation", "2000-char-word", "aaaa"],
)
def test_no_chunk_exceeds_the_model_limit_even_for_one_huge_sentence(
    text: str, phonemizer: Phonemizer
) -> None:
    assert len(text) >= 2000
    chunks = plan(text, phonemizer)
    assert chunks
    for chunk in chunks:
        assert 0 < len(phonemizer.tokenize(chunk.phonemes)) <= MAX_TOKENS
        assert len(chunk.phonemes) <= MAX_TOKENS


@pytest.mark.parametrize(
    ("text", "first", "growth"),
    [
        (LONG_WITH_COMMAS, MAX_TOKENS, 1000.0),  # one huge sentence, split evenly
        (LONG_WITHOUT_PUNCTUATION, 20, 1.2),  # a cut first chunk, then growing chunks
        (" ".join(SHORT_SENTENCES * 4), MAX_TOKENS, 1000.0),  # grouped sentences
        (LONG_WORD, MAX_TOKENS, 1.5),  # one endless word
    ],
    ids=["one-huge-sentence", "growing", "grouped", "endless-word"],
)
def test_no_chunk_passes_max_phonemes_and_none_are_lost(
    text: str, first: int, growth: float, phonemizer: Phonemizer
) -> None:
    """A request spoken slowly gets a smaller ``max_phonemes``: every kind of chunk keeps to it
    (a 510-phoneme chunk at speed 0.25 was 145 s of audio, and took the process past 2 GB)."""
    largest = 60
    chunks = plan(text, phonemizer, group=MAX_TOKENS, first=first, growth=growth, largest=largest)
    assert len(chunks) > 3
    assert max(len(c.phonemes) for c in chunks) <= largest
    whole = "".join(phonemizer.phonemize(s.text, LANG) for s in split_sentences(text))
    assert "".join(c.phonemes for c in chunks).replace(" ", "") == whole.replace(" ", "")


def test_an_over_long_sentence_loses_no_phonemes_when_split(phonemizer: Phonemizer) -> None:
    whole = phonemizer.phonemize(LONG_WITH_COMMAS, LANG)
    chunks = plan(LONG_WITH_COMMAS, phonemizer)
    assert len(chunks) > 1
    assert "".join(c.phonemes for c in chunks).replace(" ", "") == whole.replace(" ", "")


def test_an_over_long_sentence_is_split_at_commas_with_clause_pauses(
    phonemizer: Phonemizer,
) -> None:
    chunks = plan(LONG_WITH_COMMAS + " The end.", phonemizer)
    inner = chunks[:-1]
    assert inner
    for chunk in inner:
        assert chunk.phonemes.endswith(",")
        assert chunk.pause == PAUSES.clause
    assert all(len(chunk.phonemes) <= GROUP for chunk in inner[1:])
    # The last part of the long sentence carries the sentence's own boundary, then "The end."
    assert ". " in chunks[-1].phonemes and chunks[-1].phonemes.endswith(".")
    assert chunks[-1].pause == 0.0  # the end of the text


def test_sentences_are_never_grouped_across_a_paragraph_break(phonemizer: Phonemizer) -> None:
    chunks = plan("Intro.\n\nOne. Two.\n\nThree. Four.", phonemizer)
    assert [chunk.text for chunk in chunks] == ["Intro.", "One. Two.", "Three. Four."]


@pytest.mark.parametrize(
    ("text", "pauses"),
    [
        ("One. Two.", [PAUSES.sentence, 0.0]),
        ("One!\n\nTwo.", [PAUSES.paragraph, 0.0]),
        (
            "I came home late in the evening; my family had already eaten without me.",
            [PAUSES.clause, 0.0],
        ),
        ("Intro.\n\nOne. Two.\n\nThree.", [PAUSES.paragraph, PAUSES.paragraph, 0.0]),
        ("Intro. One. Two.\n\nThree.", [PAUSES.sentence, PAUSES.paragraph, 0.0]),
    ],
)
def test_the_pause_after_a_chunk_follows_its_last_boundary(
    text: str, pauses: list[float], phonemizer: Phonemizer
) -> None:
    assert [chunk.pause for chunk in plan(text, phonemizer)] == pauses


def test_pauses_map_every_boundary_to_its_setting() -> None:
    assert PAUSES.after(Boundary.SENTENCE) == 0.2
    assert PAUSES.after(Boundary.CLAUSE) == 0.1
    assert PAUSES.after(Boundary.PARAGRAPH) == 0.45
    assert PAUSES.after(Boundary.NONE) == 0.0


@pytest.mark.parametrize("unspeakable", ["...!!!", "?!...", "—", '"..."'])
def test_sentences_of_only_punctuation_are_skipped(
    unspeakable: str, phonemizer: Phonemizer
) -> None:
    sentences = [
        Sentence("Hello there.", Boundary.SENTENCE),
        Sentence(unspeakable, Boundary.SENTENCE),
        Sentence("Goodbye now.", Boundary.NONE),
    ]
    chunks = list(plan_chunks(sentences, phonemizer, LANG, group_phonemes=GROUP, pauses=PAUSES))
    assert [chunk.text for chunk in chunks] == ["Hello there.", "Goodbye now."]


@pytest.mark.parametrize("text", ["...!!!", "?!... —", "\"'()"])
def test_a_text_with_nothing_speakable_plans_no_chunks(text: str, phonemizer: Phonemizer) -> None:
    assert plan(text, phonemizer) == []


def test_emoji_are_spoken_by_name_and_therefore_not_skipped(phonemizer: Phonemizer) -> None:
    # espeak-ng reads emoji by their Unicode names ("grinning face"), so they are speakable.
    chunks = plan("😀🎉", phonemizer)
    assert len(chunks) == 1
    assert chunks[0].phonemes


def test_the_plan_is_lazy_and_phonemizes_only_what_is_taken() -> None:
    phonemizer = CountingPhonemizer()
    text = " ".join(f"This is sentence number {n}." for n in range(200))
    chunks = plan_chunks(
        split_sentences(text), phonemizer, LANG, group_phonemes=GROUP, pauses=PAUSES
    )
    assert phonemizer.calls == []  # a generator: nothing happens before the first next()
    first = next(chunks)
    assert first.text == "This is sentence number 0."
    assert len(phonemizer.calls) <= 2
    second = next(chunks)
    assert second.text.startswith("This is sentence number 1.")
    assert len(phonemizer.calls) < 20


def test_grouped_chunks_grow_by_at_most_the_growth_factor(phonemizer: Phonemizer) -> None:
    chunks = plan(" ".join(SHORT_SENTENCES * 3), phonemizer, group=300, growth=1.5)
    sizes = [len(chunk.phonemes) for chunk in chunks]
    assert len(chunks) >= 4 and sizes[-2] > 2 * sizes[1], sizes  # they do grow
    for k in range(1, len(chunks)):
        allowed = max(MIN_CHUNK_PHONEMES, int(1.5 * max(sizes[:k])))
        assert sizes[k] <= allowed, (k, sizes)
        assert sizes[k] <= 300


def test_a_growth_function_is_asked_after_each_chunk(phonemizer: Phonemizer) -> None:
    """The synthesizer passes the model's measured speed: chunks grow as fast as it allows."""
    text = " ".join(SHORT_SENTENCES * 3)
    factors = iter([1.0, 1.0, 10.0, 10.0, 10.0, 10.0, 10.0, 10.0, 10.0, 10.0, 10.0, 10.0])
    asked: list[float] = []

    def growth() -> float:
        asked.append(next(factors, 10.0))
        return asked[-1]

    chunks = plan_chunks(
        split_sentences(text), phonemizer, LANG, group_phonemes=300, pauses=PAUSES,
        growth=growth,
    )  # fmt: skip
    sizes = [len(chunk.phonemes) for chunk in chunks]
    assert len(asked) == len(sizes)  # once per chunk, as it is emitted
    assert sizes[2] <= max(MIN_CHUNK_PHONEMES, max(sizes[:2]))  # no growth while it said 1.0
    assert max(sizes[3:]) > 2 * max(sizes[:3])  # then large groups at once
    slow = plan(text, phonemizer, group=300, growth=1.0)
    assert len(sizes) < len(slow)


LONG_FIRST = (
    "When the storm finally reached the harbour after three long days at sea, the captain "
    "ordered every sail down and the crew to their stations. Then we waited."
)


def test_a_long_first_sentence_is_cut_after_its_first_clause(phonemizer: Phonemizer) -> None:
    chunks = plan(LONG_FIRST, phonemizer, first=100, growth=1.5)
    whole = phonemizer.phonemize(LONG_FIRST.split(". ")[0] + ".", LANG)
    assert chunks[0].phonemes.endswith(",") and len(chunks[0].phonemes) <= 100
    assert chunks[0].pause == PAUSES.clause
    assert whole.startswith(chunks[0].phonemes)
    assert chunks[1].phonemes.startswith(whole[len(chunks[0].phonemes) :].strip())


def test_a_long_first_sentence_without_clauses_is_cut_at_a_word(phonemizer: Phonemizer) -> None:
    text = "the quick brown fox jumps over the lazy dog and runs far away " * 4 + "today."
    chunks = plan(text, phonemizer, first=60)
    whole = phonemizer.phonemize(text, LANG)
    assert MIN_HEAD_PHONEMES <= len(chunks[0].phonemes) <= 60
    assert whole[len(chunks[0].phonemes)] == " "  # cut between words
    assert " ".join(chunk.phonemes for chunk in chunks) == whole


def test_a_first_word_longer_than_the_limit_is_cut_inside_the_word(
    phonemizer: Phonemizer,
) -> None:
    """Regression: 4096 x's without a space became one 510-token first chunk, and the first audio
    of such a request came after a whole maximal inference (45 s on the busy 2-core machine)."""
    text = "x" * 4096
    chunks = plan(text, phonemizer, first=100)
    assert len(chunks[0].phonemes) == 100
    assert "".join(chunk.phonemes.replace(" ", "") for chunk in chunks) == phonemizer.phonemize(
        text, LANG
    ).replace(" ", "")


def test_a_first_sentence_within_the_limit_is_not_cut(phonemizer: Phonemizer) -> None:
    text = "Your project sounds interesting and has a lot of potential. Thanks."
    chunks = plan(text, phonemizer, first=100)
    assert chunks[0].text == "Your project sounds interesting and has a lot of potential."


def test_a_sentence_longer_than_the_next_chunk_may_grow_to_is_cut_between_clauses(
    phonemizer: Phonemizer,
) -> None:
    """Regression: a long second sentence was synthesized whole, so on a model
    running 1.25x real time the listener waited seconds after the first sentence."""
    text = (
        "Hello there. The " + ", the ".join(["quick brown fox jumps over the lazy dog"] * 6) + "."
    )
    chunks = plan(text, phonemizer, group=300, growth=1.25)
    sizes = [len(c.phonemes) for c in chunks]
    assert len(chunks) > 3
    for k in range(1, len(sizes)):
        assert sizes[k] <= max(int(max(sizes[:k]) * 1.25), 40), sizes
    assert sum(c.phonemes.endswith(",") for c in chunks[1:-1]) >= 4  # mostly at clauses
    whole = "".join(phonemizer.phonemize(s, LANG) for s in ("Hello there.", text[13:]))
    assert "".join(c.phonemes for c in chunks).replace(" ", "") == whole.replace(" ", "")
