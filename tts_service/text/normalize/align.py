"""Rewriting a sentence while remembering where each spoken word came from.

Rules rewrite *spans* of the sentence ("$12.50" → "twelve dollars and fifty cents"); a rewritten
span is final (later rules do not look inside it). At the end, each word the user wrote (split at
whitespace) is paired with what is said for it; where a rewrite spans several written words
("5 km" read as one), those words become one pair, so a timestamp names exactly what was
written and what was said for it.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

Edit = tuple[int, int, str]
"""Characters ``start`` to ``end`` of the sentence are said as the text."""
Rewrite = Callable[[re.Match[str]], "str | list[Edit] | None"]
"""What a rule's match is said as: a text for the whole match, finer edits (positions in the
sentence), or None to leave the match as it is."""
Rule = tuple[re.Pattern[str], Rewrite]


@dataclass(frozen=True)
class Segment:
    start: int
    end: int
    spoken: str | None = None
    """None: said as written (not rewritten yet)."""


@dataclass(frozen=True)
class Word:
    """One or more whitespace words of the sentence (``written``) and what is said for them."""

    written: str
    spoken: str


def rewrite(text: str, rules: Iterable[Rule]) -> list[Segment]:
    """Apply ``rules`` in order to the parts of ``text`` that no earlier rule rewrote."""
    segments = [Segment(0, len(text))]
    for pattern, replace in rules:
        result: list[Segment] = []
        for segment in segments:
            if segment.spoken is None:
                result.extend(_apply(text, segment, pattern, replace))
            else:
                result.append(segment)
        segments = result
    return segments


def _apply(
    text: str, segment: Segment, pattern: re.Pattern[str], replace: Rewrite
) -> list[Segment]:
    out: list[Segment] = []
    position = segment.start
    for match in pattern.finditer(text, segment.start, segment.end):
        if match.start() < position or match.end() == match.start():
            continue
        said = replace(match)
        if said is None:
            continue
        edits = [(match.start(), match.end(), said)] if isinstance(said, str) else said
        for start, end, spoken in sorted(edits):
            if start < position or end > segment.end:
                continue
            if start > position:
                out.append(Segment(position, start))
            out.append(Segment(start, end, spoken))
            position = end
    if position < segment.end:
        out.append(Segment(position, segment.end))
    return out


def words(text: str, segments: Sequence[Segment], show: Callable[[str], str] = str) -> list[Word]:
    """The written words of ``text`` paired with what ``segments`` say for them; ``show`` turns a
    written word into what is displayed for it. Linear in the text's length."""
    spans = [m.span() for m in re.finditer(r"\S+", text)]
    if not spans:
        return []
    ends = [end for _, end in spans]
    # Each word's group: the first word of the run of words that rewrites join to it.
    group = list(range(len(spans)))
    for segment in segments:
        if segment.spoken is None:
            continue
        first = bisect_right(ends, segment.start)
        last = first
        while last + 1 < len(spans) and spans[last + 1][0] < segment.end:
            last += 1
        for i in range(first + 1, last + 1):
            group[i] = group[first]
    starts = [segment.start for segment in segments]
    result: list[Word] = []
    i = 0
    while i < len(spans):
        j = i
        while j + 1 < len(spans) and group[j + 1] == group[i]:
            j += 1
        start, end = spans[i][0], spans[j][1]
        first_segment = max(0, bisect_right(starts, start) - 1)
        said = _render(text, segments, first_segment, start, end)
        result.append(Word(show(text[start:end]), said))
        i = j + 1
    return result


def _render(text: str, segments: Sequence[Segment], first: int, start: int, end: int) -> str:
    out = ""
    rewritten_before = False
    for segment in segments[first:]:
        if segment.start > end or (segment.start == end and segment.end > end):
            break
        s, e = max(segment.start, start), min(segment.end, end)
        if s >= e and not (segment.start == segment.end and start <= s <= end):
            continue
        piece = text[s:e] if segment.spoken is None else segment.spoken
        rewritten = segment.spoken is not None
        if (
            out and piece and (rewritten or rewritten_before)
            and out[-1].isalnum() and piece[0].isalnum()
        ):  # fmt: skip
            out += " "
        out += piece
        rewritten_before = rewritten
    return " ".join(out.split())


def spoken(words: Sequence[Word]) -> str:
    return " ".join(word.spoken for word in words if word.spoken)
