"""Split input text into sentences (pure functions, no model).

A boundary is sentence punctuation (``.`` ``!`` ``?`` ``…``, CJK ``。！？``), a semicolon between
two clauses of some length, or a blank line. Closing quotes and brackets stay with the sentence
they close; abbreviations ("Dr.", "e.g."), initials ("J. R. R."), decimals ("3.14") and a period
followed by a lower-case word ("the U.S. economy") do not end a sentence.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum


class Boundary(Enum):
    """What ends a piece of text, which decides the pause after it."""

    NONE = "none"
    CLAUSE = "clause"
    SENTENCE = "sentence"
    PARAGRAPH = "paragraph"


@dataclass(frozen=True)
class Sentence:
    text: str
    boundary: Boundary


# Titles and Latin abbreviations: a period after them never ends a sentence (lower-case, no dot).
ABBREVIATIONS = frozenset(
    """mr mrs ms mx dr prof st sr jr rev capt lt sgt gov pres gen col hon sen rep
    e.g i.e vs cf viz""".split()  # noqa: SIM905
)
# Abbreviations that are also ordinary words or often end a sentence ("The answer is no.",
# "in the U.S."): they end one only when a capitalised word follows ("No. 5", "Fig. 3" do not).
SOMETIMES_FINAL = frozenset(
    """etc inc ltd co corp bros al no nos fig figs vol vols pp ed eds est dept univ mt ft approx
    ca a.m p.m u.s u.k u.n e.u ph.d b.sc m.sc jan feb mar apr jun jul aug sep sept oct nov dec""".split()  # noqa: SIM905
)

_CLOSERS = re.escape("\"'”’»)]}」』")
_PARAGRAPH = re.compile(r"\n[ \t]*\n\s*")
# Terminal punctuation, any closers after it, then whitespace (or, after CJK marks, anything).
_BOUNDARY = re.compile(
    rf"(?P<mark>\.\.\.|[.!?…]+|;)(?P<close>[{_CLOSERS}]*)(?=\s)|(?P<cjk>[。！？]+)(?P<cjkclose>[{_CLOSERS}]*)"
)
_WORD_BEFORE = re.compile(r"([\w.]+)$")
_SEMICOLON_MIN_WORDS = 4


def _continues_after_period(before: str, after: str) -> bool:
    """True when a period at the end of ``before`` does not end the sentence."""
    match = _WORD_BEFORE.search(before)
    word = match.group(1).lower().rstrip(".") if match else ""
    next_word = after.lstrip()
    starts_lower = bool(next_word) and next_word[0].islower()
    if word in ABBREVIATIONS:
        return True
    if word in SOMETIMES_FINAL:
        return not next_word[:1].isupper()
    if len(word) == 1 and word.isalpha() and match and match.group(1)[0].isupper():
        return True  # an initial: "J. R. R. Tolkien"
    return starts_lower


def _split_paragraph(paragraph: str) -> list[Sentence]:
    sentences: list[Sentence] = []
    start = 0
    for m in _BOUNDARY.finditer(paragraph):
        end = m.end()
        piece = paragraph[start:end].strip()
        rest = paragraph[end:]
        mark = m.group("mark")
        if mark == ".":
            if _continues_after_period(paragraph[start : m.start()], rest):
                continue
        elif mark == ";":
            left_words = len(paragraph[start : m.start()].split())
            right_words = len(re.split(r"[.!?;…]", rest, maxsplit=1)[0].split())
            if min(left_words, right_words) < _SEMICOLON_MIN_WORDS:
                continue
        elif mark and rest.lstrip()[:1].islower():
            continue  # '"Stop!" he said.', 'Wait... what?': the sentence goes on
        if piece:
            boundary = Boundary.CLAUSE if mark == ";" else Boundary.SENTENCE
            sentences.append(Sentence(piece, boundary))
        start = end
    tail = paragraph[start:].strip()
    if tail:
        sentences.append(Sentence(tail, Boundary.NONE))
    return sentences


def split_sentences(text: str) -> list[Sentence]:
    """Split ``text`` into sentences; the last one of each paragraph gets ``Boundary.PARAGRAPH``."""
    result: list[Sentence] = []
    for paragraph in _PARAGRAPH.split(text):
        sentences = _split_paragraph(" ".join(paragraph.split()))
        if sentences:
            sentences[-1] = Sentence(sentences[-1].text, Boundary.PARAGRAPH)
            result.extend(sentences)
    if result:
        result[-1] = Sentence(result[-1].text, Boundary.NONE)
    return result
