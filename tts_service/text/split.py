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
    end: int | None = None
    """Where it ends in the text it came from, when the splitter says (text streamed in)."""


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
PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n\s*")
# Terminal punctuation, any closers after it, then whitespace (or, after CJK marks, anything).
_BOUNDARY = re.compile(
    rf"(?P<mark>\.\.\.|[.!?…]+|;)(?P<close>[{_CLOSERS}]*)(?=\s)|(?P<cjk>[。！？]+)(?P<cjkclose>[{_CLOSERS}]*)"
)
_WORD_BEFORE = re.compile(r"([\w.]+)$")
_SEMICOLON_MIN_WORDS = 4

Span = tuple[int, int, Boundary]
"""A sentence's start and end in the text it was found in, and what ends it."""


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


def sentence_spans(paragraph: str, *, final: bool = True) -> tuple[list[Span], int]:
    """The sentences of one paragraph as ``(start, end, boundary)`` spans of ``paragraph``
    (whitespace around each left out), and where the text they do not cover begins.

    ``final``: the paragraph is complete; its last sentence ends with ``Boundary.NONE``. Not
    ``final`` (more text may follow): only the sentences whose end no text to come can change,
    which needs the non-space text after a boundary (a period at the end may be "Dr." or "3.",
    the next word's case decides "U.S. economy", and a semicolon needs the words after it); the
    rest is left for later."""
    spans: list[Span] = []
    start = 0
    for m in _BOUNDARY.finditer(paragraph):
        end = m.end()
        rest = paragraph[end:]
        if not final and not rest.strip():
            break  # whether this ends a sentence, and how, waits for the text to come
        mark = m.group("mark")
        if mark == ".":
            if _continues_after_period(paragraph[start : m.start()], rest):
                continue
        elif mark == ";":
            left_words = len(paragraph[start : m.start()].split())
            right = re.split(r"[.!?;…]", rest, maxsplit=1)
            right_words = len(right[0].split())
            if min(left_words, right_words) < _SEMICOLON_MIN_WORDS:
                if not final and len(right) == 1 and left_words >= _SEMICOLON_MIN_WORDS:
                    break  # the clause after it may still grow to enough words
                continue
        elif mark and rest.lstrip()[:1].islower():
            continue  # '"Stop!" he said.', 'Wait... what?': the sentence goes on
        span = _stripped(paragraph, start, end)
        if span:
            boundary = Boundary.CLAUSE if mark == ";" else Boundary.SENTENCE
            spans.append((*span, boundary))
        start = end
    if not final:
        return spans, start
    span = _stripped(paragraph, start, len(paragraph))
    if span:
        spans.append((*span, Boundary.NONE))
    return spans, len(paragraph)


def _stripped(text: str, start: int, end: int) -> tuple[int, int] | None:
    """``start, end`` without the whitespace at either side; None when only whitespace."""
    piece = text[start:end]
    stripped = piece.lstrip()
    if not stripped:
        return None
    start += len(piece) - len(stripped)
    return start, start + len(stripped.rstrip())


def split_sentences(text: str) -> list[Sentence]:
    """Split ``text`` into sentences; the last one of each paragraph gets ``Boundary.PARAGRAPH``."""
    result: list[Sentence] = []
    for paragraph in PARAGRAPH_BREAK.split(text):
        normal = " ".join(paragraph.split())
        sentences = [Sentence(normal[a:b], kind) for a, b, kind in sentence_spans(normal)[0]]
        if sentences:
            sentences[-1] = Sentence(sentences[-1].text, Boundary.PARAGRAPH)
            result.extend(sentences)
    if result:
        result[-1] = Sentence(result[-1].text, Boundary.NONE)
    return result
