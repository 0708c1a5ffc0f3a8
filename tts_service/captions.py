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


def _breaks_before(cue: list[TimedWord], texts: list[str], word: TimedWord, text: str,
                   policy: CuePolicy) -> bool:  # fmt: skip
    """Whether ``word`` starts a new cue after ``cue`` (whose words' texts are ``texts``)."""
    last = cue[-1]
    return (
        _ends_sentence(texts[-1], policy)
        or word.start - last.end >= policy.pause_seconds
        or word.end - cue[0].start > policy.max_seconds
        or len(_greedy_lines([*texts, text], policy.max_line_chars)) > policy.max_lines
    )


def _timeless(words: Sequence[TimedWord]) -> bool:
    return max(word.end for word in words) <= words[0].start


def group_words(words: Sequence[TimedWord], policy: CuePolicy = CUE_POLICY) -> list[Cue]:
    """The cues of ``words``, which are in order of their starts. A cue that would last no
    time at all (words merged away when spoken) joins the cue before it (or after it, first)."""
    groups: list[tuple[list[TimedWord], list[str]]] = []
    for word in words:
        text = _text(word)
        if groups and not _breaks_before(*groups[-1], word, text, policy):
            groups[-1][0].append(word)
            groups[-1][1].append(text)
        else:
            groups.append(([word], [text]))
    merged: list[tuple[list[TimedWord], list[str]]] = []
    for group in groups:
        if merged and (_timeless(merged[-1][0]) or _timeless(group[0])):
            merged[-1] = (merged[-1][0] + group[0], merged[-1][1] + group[1])
        else:
            merged.append(group)
    cues = []
    for index, (cue_words, texts) in enumerate(merged):
        end = max(word.end for word in cue_words)
        if index + 1 < len(merged):
            end = min(end, merged[index + 1][0][0].start)  # never over the next cue
        cues.append(Cue(cue_words[0].start, end, _layout(texts, policy)))
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
