"""Marks: what markup says beyond its words, carried inline from the markup stage to the stage
that acts on it.

The markup stage (SSML, the plain-text pause form) runs before sentences are split; what its
tags mean is acted on later, sentence by sentence: a say-as by the normalizer, a given
pronunciation by the phonemizer, a pause and a rate by the chunk planner. So the markup stage
writes each as a *mark* in the text: private-use characters that no user text can contain
(``clean_text`` removes them from input). Inside a mark, whitespace is written as ``SPACE``, so a
mark is one word to anything that splits at whitespace, and sentence punctuation inside it is
never followed by whitespace (the splitter never cuts a mark).

Forms (``⟨n⟩`` stands for private-use code point U+E00n):

- pause ``⟨0⟩seconds⟨1⟩``: this much silence here; the piece before it ends here.
- say-as ``⟨2⟩kind⟨3⟩text⟨4⟩``: ``text`` read as ``kind`` (characters, cardinal, ordinal, date,
  telephone).
- pronounce ``⟨5⟩phonemes⟨6⟩text⟨7⟩``: ``text`` said as ``phonemes`` (Kokoro's phoneme set).
- rate ``⟨8⟩factor⟨9⟩``: from here on, speak at ``factor`` × the request's speed (1 resets).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

SPACE = "\ue00a"
"""Whitespace inside a mark."""
PRIVATE_USE = re.compile("[\ue000-\uf8ff]")
"""Characters user text may not contain (the marks are made of them)."""

_PAUSE = re.compile("\ue000([^\ue000-\ue009]*)\ue001")
_SAY = re.compile("\ue002([^\ue000-\ue009]*)\ue003([^\ue000-\ue009]*)\ue004")
_PRONOUNCE = re.compile("\ue005([^\ue000-\ue009]*)\ue006([^\ue000-\ue009]*)\ue007")
_RATE = re.compile("\ue008([^\ue000-\ue009]*)\ue009")
_ANY = re.compile("|".join(f"(?:{p.pattern})" for p in (_PAUSE, _SAY, _PRONOUNCE, _RATE)))


def _pack(text: str) -> str:
    return re.sub(r"\s+", SPACE, text.strip())


def _unpack(text: str) -> str:
    return text.replace(SPACE, " ")


def pause(seconds: float) -> str:
    """A pause of ``seconds`` (a mark, surrounded by spaces)."""
    return f" \ue000{max(0.0, seconds):g}\ue001 "


def say_as(kind: str, text: str) -> str:
    """``text`` to be read as ``kind``."""
    return f"\ue002{_pack(kind)}\ue003{_pack(text)}\ue004"


def pronounce(text: str, phonemes: str) -> str:
    """``text`` to be said as ``phonemes``."""
    return f"\ue005{_pack(phonemes)}\ue006{_pack(text)}\ue007"


def rate(factor: float) -> str:
    """Speak what follows at ``factor`` × the request's speed (a mark, surrounded by spaces)."""
    return f" \ue008{factor:g}\ue009 "


@dataclass(frozen=True)
class Pause:
    seconds: float


@dataclass(frozen=True)
class SayAs:
    kind: str
    text: str


@dataclass(frozen=True)
class Pronounce:
    text: str
    phonemes: str


@dataclass(frozen=True)
class Rate:
    factor: float


Mark = Pause | SayAs | Pronounce | Rate


def _number(value: str, default: float) -> float:
    try:
        return float(value)
    except ValueError:
        return default


def _mark(match: re.Match[str]) -> Mark:
    whole = match.group(0)
    if whole[0] == "\ue000":
        return Pause(_number(match.group(1), 0.0))
    if whole[0] == "\ue002":
        return SayAs(_unpack(match.group(2)), _unpack(match.group(3)))
    if whole[0] == "\ue005":
        return Pronounce(_unpack(match.group(5)), _unpack(match.group(4)))
    return Rate(_number(match.group(6), 1.0))


def parts(text: str) -> Iterator[str | Mark]:
    """``text`` as plain pieces and marks, in order (empty pieces left out). A stray mark
    character that is not part of a whole mark is dropped."""
    position = 0
    for match in _ANY.finditer(text):
        if match.start() > position:
            plain = PRIVATE_USE.sub("", text[position : match.start()])
            if plain:
                yield plain
        yield _mark(match)
        position = match.end()
    rest = PRIVATE_USE.sub("", text[position:])
    if rest:
        yield rest


def has_marks(text: str) -> bool:
    return PRIVATE_USE.search(text) is not None


def plain(text: str) -> str:
    """``text`` as a reader sees it: say-as and pronounce marks become their text, pauses and
    rates nothing, whitespace collapsed."""
    if not has_marks(text):
        return text
    pieces = [part if isinstance(part, str) else getattr(part, "text", " ") for part in parts(text)]
    return " ".join("".join(pieces).split())
