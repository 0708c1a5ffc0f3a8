"""Captions from word timestamps: the words grouped into cues (``CUE_POLICY``, the one place
that says how long a cue may be and where it breaks) and written as WebVTT or SubRip by
webvtt-py. Pure functions: words in, text out.

A cue runs from its first word's start to its last word's end, and never past the next cue's
start; cues follow each other in time. Its text is the words as given (``$12.50`` stays as
written), joined by spaces and laid out on at most ``max_lines`` lines.
"""

from __future__ import annotations

import html
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

import webvtt
from webvtt.models import Timestamp

CaptionFormat = Literal["vtt", "srt"]

MAX_CAPTION_WORDS = 200_000
"""The most words one ``POST /v1/audio/captions`` may send: five times what a 100,000-character
article speaks (the request body limit, ``TTS_MAX_REQUEST_BYTES``, usually binds first)."""

MAX_CAPTION_SECONDS = 360_000.0
"""The latest time a captioned word may have (100 hours)."""


@dataclass(frozen=True)
class CuePolicy:
    """Where one cue ends and the next begins (the usual subtitle guidelines: two lines of about
    42 characters, on screen for at most about 7 seconds)."""

    max_line_chars: int = 42
    max_lines: int = 2
    max_seconds: float = 7.0
    pause_seconds: float = 0.6
    """A silence at least this long between two words ends the cue before it."""
    sentence_ends: str = ".!?…。！？"
    """A word ending in one of these (before closing quotes or brackets) ends its cue."""
    closers: str = "\"')]}»”’"
    clause_ends: str = ",;:–—"
    """A cue that is full breaks after the last word ending in one of these instead, when
    what comes before it is at least ``min_clause_chars`` long."""
    min_clause_chars: int = 12
    punctuation_slack: int = 8
    """Two lines break after punctuation rather than where they are most even, unless that
    makes the longer line more than this many characters longer."""


CUE_POLICY = CuePolicy()


class TimedWord(Protocol):
    """A word and where it is spoken, in seconds (``schemas.WordTimestamp``)."""

    @property
    def word(self) -> str: ...
    @property
    def start(self) -> float: ...
    @property
    def end(self) -> float: ...


@dataclass(frozen=True)
class Cue:
    start: float
    end: float
    lines: tuple[str, ...]


def _text(word: TimedWord) -> str:
    """The word on one line: any whitespace inside it becomes one space."""
    return " ".join(word.word.split())


def _greedy_lines(texts: Sequence[str], width: int) -> list[str]:
    """``texts`` filled into lines of at most ``width`` characters (a longer word alone)."""
    lines: list[str] = []
    for text in texts:
        if lines and len(lines[-1]) + 1 + len(text) <= width:
            lines[-1] += " " + text
        else:
            lines.append(text)
    return lines


def _layout(texts: Sequence[str], policy: CuePolicy) -> tuple[str, ...]:
    """One line if it fits; else two lines as even as they can be, or nearly so and broken
    after punctuation; else as many full lines as it takes (only a word longer than a line
    does)."""
    width = policy.max_line_chars
    whole = " ".join(texts)
    if len(whole) <= width or len(texts) == 1:
        return (whole,)
    best: tuple[int, int] | None = None  # (cost, cut)
    for cut in range(1, len(texts)):
        first, second = " ".join(texts[:cut]), " ".join(texts[cut:])
        if len(first) <= width and len(second) <= width:
            punctuated = not texts[cut - 1][-1].isalnum()
            cost = max(len(first), len(second)) - punctuated * policy.punctuation_slack
            best = min(best, (cost, cut)) if best else (cost, cut)
    if best is not None and policy.max_lines >= 2:
        return (" ".join(texts[: best[1]]), " ".join(texts[best[1] :]))
    return tuple(_greedy_lines(texts, width))


def _ends_sentence(text: str, policy: CuePolicy) -> bool:
    stripped = text.rstrip(policy.closers)
    return bool(stripped) and stripped[-1] in policy.sentence_ends


@dataclass
class _Group:
    """A cue being gathered: its words, their texts, and their lines filled greedily."""

    words: list[TimedWord]
    texts: list[str]
    lines: list[int]
    """The length of each greedily filled line (a word longer than a line has one alone)."""

    @classmethod
    def of(cls, word: TimedWord, text: str) -> _Group:
        return cls([word], [text], [len(text)])

    def lines_with(self, text: str, width: int) -> int:
        return len(self.lines) + (self.lines[-1] + 1 + len(text) > width)

    def add(self, word: TimedWord, text: str, width: int) -> None:
        if self.lines_with(text, width) == len(self.lines):
            self.lines[-1] += 1 + len(text)
        else:
            self.lines.append(len(text))
        self.words.append(word)
        self.texts.append(text)

    @property
    def timeless(self) -> bool:
        return max(word.end for word in self.words) <= self.words[0].start


def _ends_clause(text: str, policy: CuePolicy) -> bool:
    stripped = text.rstrip(policy.closers)
    return bool(stripped) and stripped[-1] in policy.clause_ends


def _ends_cue(cue: _Group, word: TimedWord, policy: CuePolicy) -> bool:
    """Whether ``cue`` ends before ``word`` by itself: after a sentence or at a pause."""
    return (
        _ends_sentence(cue.texts[-1], policy)
        or word.start - cue.words[-1].end >= policy.pause_seconds
    )


def _is_full(cue: _Group, word: TimedWord, text: str, policy: CuePolicy) -> bool:
    """Whether ``word`` would take ``cue`` past the policy's seconds or lines."""
    return (
        word.end - cue.words[0].start > policy.max_seconds
        or cue.lines_with(text, policy.max_line_chars) > policy.max_lines
    )


def _clause_tail(cue: _Group, policy: CuePolicy) -> _Group | None:
    """The words of a full ``cue`` after its last clause break, taken from it to begin the next
    cue; None when it has none late enough to leave a clause of ``min_clause_chars``."""
    width = policy.max_line_chars
    length = sum(len(text) + 1 for text in cue.texts) - 1
    for index in range(len(cue.texts) - 2, -1, -1):
        length -= len(cue.texts[index + 1]) + 1
        if length < policy.min_clause_chars:
            return None
        if _ends_clause(cue.texts[index], policy):
            tail = _Group.of(cue.words[index + 1], cue.texts[index + 1])
            for word, text in zip(cue.words[index + 2 :], cue.texts[index + 2 :], strict=True):
                tail.add(word, text, width)
            del cue.words[index + 1 :], cue.texts[index + 1 :]
            cue.lines = [len(line) for line in _greedy_lines(cue.texts, width)]
            return tail
    return None


def _joinable(first: _Group, second: _Group, policy: CuePolicy) -> bool:
    """Whether a cue of no time at all (words merged away when spoken) may join its neighbour:
    the two together still keep to the policy's lines and seconds."""
    words = first.words + second.words
    return (
        (first.timeless or second.timeless)
        and max(word.end for word in words) - words[0].start <= policy.max_seconds
        and len(_greedy_lines(first.texts + second.texts, policy.max_line_chars))
        <= policy.max_lines
    )


def group_words(words: Sequence[TimedWord], policy: CuePolicy = CUE_POLICY) -> list[Cue]:
    """The cues of ``words``, which are in order of their starts. A full cue gives the words
    after its last clause break to the next one; a cue that would last no time at all joins the
    cue before it (or after it, first) where the two fit in one."""
    width = policy.max_line_chars
    groups: list[_Group] = []
    for word in words:
        text = _text(word)
        full = groups and _is_full(groups[-1], word, text, policy)
        if full and (tail := _clause_tail(groups[-1], policy)) is not None:
            groups.append(tail)
        if (
            groups
            and not _ends_cue(groups[-1], word, policy)
            and not _is_full(groups[-1], word, text, policy)
        ):
            groups[-1].add(word, text, width)
        else:
            groups.append(_Group.of(word, text))
    merged: list[_Group] = []
    for group in groups:
        if merged and _joinable(merged[-1], group, policy):
            for word, text in zip(group.words, group.texts, strict=True):
                merged[-1].add(word, text, width)
        else:
            merged.append(group)
    cues = []
    for index, group in enumerate(merged):
        end = max(word.end for word in group.words)
        if index + 1 < len(merged):
            end = min(end, merged[index + 1].words[0].start)  # never over the next cue
        cues.append(Cue(group.words[0].start, end, _layout(group.texts, policy)))
    return cues


def _timestamp(seconds: float) -> str:
    return str(Timestamp.from_seconds(seconds))


def _vtt(cues: Sequence[Cue]) -> str:
    """WebVTT: ``&``, ``<`` and ``>`` are written as character references, so a word is never
    read as a cue tag (and ``-->`` never ends a cue's text)."""
    captions = [
        webvtt.Caption(
            start=_timestamp(cue.start),
            end=_timestamp(cue.end),
            text=[html.escape(line, quote=False) for line in cue.lines],
        )  # fmt: skip
        for cue in cues
    ]
    return webvtt.WebVTT(captions=captions).content


SRT_ANGLES = str.maketrans({"<": "‹", ">": "›"})
"""SubRip has no escapes and its players read ``<...>`` as formatting (and webvtt-py drops it
as such): ``<`` and ``>`` are written as ``‹`` and ``›``."""


def _srt(cues: Sequence[Cue]) -> str:
    captions = [
        webvtt.Caption(
            start=_timestamp(cue.start),
            end=_timestamp(cue.end),
            text=[line.translate(SRT_ANGLES) for line in cue.lines],
        )  # fmt: skip
        for cue in cues
    ]
    out = io.StringIO()
    webvtt.WebVTT(captions=captions).write(out, format="srt")
    return out.getvalue()


@dataclass(frozen=True)
class CaptionFormatSpec:
    media_type: str
    extension: str
    write: Callable[[Sequence[Cue]], str]


CAPTION_FORMATS: dict[str, CaptionFormatSpec] = {
    "vtt": CaptionFormatSpec("text/vtt; charset=utf-8", "vtt", _vtt),
    "srt": CaptionFormatSpec("application/x-subrip; charset=utf-8", "srt", _srt),
}


def captions_text(
    words: Sequence[TimedWord], fmt: CaptionFormat, policy: CuePolicy = CUE_POLICY
) -> str:
    """The captions of ``words`` (in order of their starts) in format ``fmt``."""
    return CAPTION_FORMATS[fmt].write(group_words(words, policy))
