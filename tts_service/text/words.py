"""Which phonemes of a sentence belong to which of its words (for word timestamps).

espeak-ng phonemizes a sentence as a whole and does not keep its words apart: it joins unstressed
words ("on the" → ``ɔnðɪ``), reads one word as several ("280" → ``tˈuːhˈʌndɹɪd ˈeɪɾi``) and
reduces vowels in context. So each word is phonemized again on its own, and the sentence's
phonemes are aligned to those of the words with ``difflib``: every phoneme of the sentence gets
the word it most likely came from.

Positions count *sounding* phonemes only (no spaces, no punctuation): they survive the chunker's
re-joining and stripping of phoneme strings unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from difflib import SequenceMatcher
from typing import TYPE_CHECKING

from tts_service.text import marks
from tts_service.text.phonemes import is_sounding

if TYPE_CHECKING:
    from tts_service.text.phonemes import Phonemizer


@dataclass(frozen=True)
class SpokenWord:
    """A word of the text and its sounding phonemes ``start`` to ``end`` (exclusive), counted in
    the sounding phonemes of the phoneme string it belongs to."""

    text: str
    start: int
    end: int


def sounding(phonemes: str) -> str:
    return "".join(p for p in phonemes if is_sounding(p))


def spoken_words(text: str, phonemes: str, phonemizer: Phonemizer, lang: str) -> list[SpokenWord]:
    """The words of ``text`` (split at whitespace, punctuation kept) located in ``phonemes``, the
    phonemes of the whole of ``text``. Words with no sound of their own (a dash, an emoji) are
    left out."""
    return located_words([(word, word) for word in text.split()], phonemes, phonemizer, lang)


def located_words(
    pairs: Sequence[tuple[str, str]], phonemes: str, phonemizer: Phonemizer, lang: str
) -> list[SpokenWord]:
    """Like ``spoken_words``, for text that was rewritten before it was phonemized: each pair is
    a written word (what the result names) and what was said for it ("$12.50", "twelve dollars
    and fifty cents"); ``phonemes`` are those of all the said parts in order. A pronounce mark is
    one word: its phonemes alone are what it sounds like, its text what the word says."""
    said = sounding(phonemes)
    words = [written for written, _ in pairs]
    alone = [sounding(phonemizer.phonemize(spoken, lang)) if spoken else "" for _, spoken in pairs]
    owners = [index for index, sounds in enumerate(alone) for _ in sounds]
    if not said or not owners:
        return []
    # Each sounding phoneme of the sentence → the word of the phoneme it is aligned with.
    owner_of = [0] * len(said)
    matcher = SequenceMatcher(None, said, "".join(alone), autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        for i in range(i1, i2):
            if tag == "equal":
                owner_of[i] = owners[j1 + i - i1]
            elif tag == "replace":  # spread the sentence's phonemes over the words' evenly
                owner_of[i] = owners[j1 + (i - i1) * (j2 - j1) // (i2 - i1)]
            else:  # only in the sentence: it belongs to the word before (or the first one)
                owner_of[i] = owner_of[i - 1] if i else owners[min(j1, len(owners) - 1)]
    spans: dict[int, tuple[int, int]] = {}
    for i, owner in enumerate(owner_of):
        spans[owner] = (spans.get(owner, (i, i))[0], i + 1)
    result: list[SpokenWord] = []
    for index, sounds in enumerate(alone):
        if sounds:  # a word that was merged away entirely gets no time of its own, but a place
            end = result[-1].end if result else 0
            start, end = spans.get(index, (end, end))
            result.append(SpokenWord(marks.plain(words[index]), start, end))
    return result


def shift(words: list[SpokenWord] | tuple[SpokenWord, ...], by: int) -> list[SpokenWord]:
    return [replace(word, start=word.start + by, end=word.end + by) for word in words]


def split_words(
    words: tuple[SpokenWord, ...], at: int
) -> tuple[tuple[SpokenWord, ...], tuple[SpokenWord, ...]]:
    """The words before and after sounding phoneme ``at``, the second part shifted to start at 0.
    A word the cut goes through is in both parts, each with its own phonemes."""
    head = tuple(replace(w, end=min(w.end, at)) for w in words if w.start < at)
    tail = tuple(shift([replace(w, start=max(w.start, at)) for w in words if w.end > at], -at))
    return head, tail
