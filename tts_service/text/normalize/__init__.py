"""Normalization: text as a listener should hear it ("$12.50" → "twelve dollars and fifty
cents"), sentence by sentence, with each spoken word linked to the words that were written
(see ``align``), so word timestamps name what the user wrote.

Modules: ``languages`` (which rules each language gets), ``english`` and ``romance`` (the
rules), ``numerals`` (number words from ``num2words``), ``web`` (addresses), ``say_as`` (say-as
marks), ``align`` (the bookkeeping). Marks (``tts_service.text.marks``) pass through: a say-as
mark is expanded (also when normalization is off); pronounce, pause and rate marks are left
exactly as they are, for the stages after this one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from tts_service.text import marks
from tts_service.text.normalize.align import Rule, Word, rewrite, spoken, words
from tts_service.text.normalize.languages import rules
from tts_service.text.normalize.say_as import expand

__all__ = ["Normalized", "Word", "normalize"]

_KEPT_MARK = re.compile(
    "[\ue000\ue005\ue008][^\ue000-\ue009]*(?:\ue001|\ue006[^\ue000-\ue009]*\ue007|\ue009)"
)
_SAY_AS_MARK = re.compile("\ue002[^\ue000-\ue009]*\ue003[^\ue000-\ue009]*\ue004")


@dataclass(frozen=True)
class Normalized:
    words: tuple[Word, ...]
    """Each written word (or words read as one) with what is said for it."""

    @property
    def spoken(self) -> str:
        """The sentence as it is said: what the phonemizer is given."""
        return spoken(self.words)


def _mark_rules(lang: str) -> list[Rule]:
    def say(match: re.Match[str]) -> str:
        mark = next(marks.parts(match.group()))
        return expand(mark.kind, mark.text, lang) if isinstance(mark, marks.SayAs) else ""

    return [(_KEPT_MARK, lambda m: m.group()), (_SAY_AS_MARK, say)]


def normalize(text: str, lang: str, *, enabled: bool = True) -> Normalized:
    """``text`` (one sentence, marks allowed) as it should be said in ``lang``; ``enabled=False``
    only expands say-as marks."""
    applied = _mark_rules(lang) + (rules(lang) if enabled else [])
    return Normalized(tuple(words(text, rewrite(text, applied), marks.plain)))
