"""What the SSML subset's attribute values mean, and the plain-text pause form.

Values are read leniently and never raise: a break whose length cannot be read is a medium
break, a rate that cannot be read changes nothing, a say-as kind we do not know reads the text
as it is, a pronunciation with no sound in Kokoro's phoneme set is not used. Lengths and rates
are kept within ``tts_service.text.timing``'s bounds.

The pause form, for clients that cannot send SSML: ``[pause]`` (a medium break), ``[pause 1.5s]``,
``[pause 500ms]``, ``[pause:2s]`` (Kokoro-FastAPI's spelling) or ``[pause 2]`` (seconds).
"""

from __future__ import annotations

import re

from kokoro_onnx.config import DEFAULT_VOCAB

from tts_service.text import marks
from tts_service.text.phonemes import is_speakable
from tts_service.text.timing import clamp_pause, clamp_rate

BREAK_STRENGTHS = {
    "none": 0.0,
    "x-weak": 0.1,
    "weak": 0.25,
    "medium": 0.5,
    "strong": 0.8,
    "x-strong": 1.2,
}
"""Seconds of silence of a ``<break strength="...">``."""
DEFAULT_BREAK = BREAK_STRENGTHS["medium"]
"""A ``<break/>`` without attributes, one whose values cannot be read, and ``[pause]``."""
RATES = {"x-slow": 0.5, "slow": 0.75, "medium": 1.0, "default": 1.0, "fast": 1.25, "x-fast": 1.5}
"""Factors of the request's speed of ``<prosody rate="...">``'s keywords."""
SAY_AS_KINDS = {
    "characters": "characters",
    "spell-out": "characters",
    "verbatim": "characters",
    "digits": "characters",
    "cardinal": "cardinal",
    "number": "cardinal",
    "ordinal": "ordinal",
    "date": "date",
    "telephone": "telephone",
}
"""``interpret-as`` values and the say-as mark kind each becomes."""

_NUMBER = r"(\d{1,12}(?:\.\d{0,6})?|\.\d{1,6})"
_DURATION = re.compile(rf"\s*{_NUMBER}\s*(ms|s)\s*", re.IGNORECASE)
_PERCENT = re.compile(rf"\s*([+-]?){_NUMBER}\s*%\s*")
_FACTOR = re.compile(rf"\s*{_NUMBER}\s*")
PAUSE_FORM = re.compile(rf"\[pause(?:(?::\s*|\s+){_NUMBER}\s*(ms|s)?)?\s*\]", re.IGNORECASE)
_PHONEMES = frozenset(DEFAULT_VOCAB) | {" "}


def _seconds(number: str, unit: str | None) -> float:
    value = float(number)
    return value / 1000 if unit and unit.lower() == "ms" else value


def break_seconds(time: str | None, strength: str | None) -> float:
    """The silence of a ``<break>``: its ``time`` ("500ms", "2s"), else its ``strength``."""
    if time is not None and (match := _DURATION.fullmatch(time)):
        return clamp_pause(_seconds(match.group(1), match.group(2)))
    if strength is not None:
        return BREAK_STRENGTHS.get(strength.strip().lower(), DEFAULT_BREAK)
    return DEFAULT_BREAK


def prosody_rate(rate: str | None) -> float | None:
    """The factor of a ``<prosody rate="...">`` (a keyword, "80%", "+20%", "1.2"), or None when
    it sets none we can read."""
    if rate is None:
        return None
    if (keyword := RATES.get(rate.strip().lower())) is not None:
        return keyword
    if match := _PERCENT.fullmatch(rate):
        sign, value = match.group(1), float(match.group(2)) / 100
        factor = 1 + value if sign == "+" else 1 - value if sign == "-" else value
    elif match := _FACTOR.fullmatch(rate):
        factor = float(match.group(1))
    else:
        return None
    return clamp_rate(factor) if factor > 0 else None


def say_as_kind(interpret_as: str | None) -> str | None:
    """The say-as mark kind of an ``interpret-as`` value, or None when we have none for it."""
    return SAY_AS_KINDS.get((interpret_as or "").strip().lower())


def pronunciation(ph: str | None, alphabet: str | None) -> str | None:
    """The phonemes of a ``<phoneme ph="..." alphabet="ipa">`` in Kokoro's phoneme set (other
    symbols dropped), or None when that leaves no sound or the alphabet is not IPA."""
    if ph is None or (alphabet is not None and alphabet.strip().lower() != "ipa"):
        return None
    phonemes = " ".join("".join(c for c in ph if c in _PHONEMES).split())
    return phonemes if is_speakable(phonemes) else None


def pause_form(text: str) -> str:
    """``text`` with each ``[pause ...]`` replaced by a pause mark."""
    if "[" not in text:
        return text

    def mark(match: re.Match[str]) -> str:
        number, unit = match.group(1), match.group(2)
        seconds = DEFAULT_BREAK if number is None else clamp_pause(_seconds(number, unit))
        return marks.pause(seconds)

    return PAUSE_FORM.sub(mark, text)
