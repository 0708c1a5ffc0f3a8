"""Numbers as words, in the words of a language (``num2words``), bounded: a number too long to
read as one is read digit by digit, so no input makes the work grow faster than its length."""

from __future__ import annotations

from num2words import num2words

MAX_DIGITS = 15
"""Longer whole numbers (past the trillions) are read digit by digit."""

_DIGIT_WORDS = {
    "en": "zero one two three four five six seven eight nine",
    "es": "cero uno dos tres cuatro cinco seis siete ocho nueve",
    "fr": "zéro un deux trois quatre cinq six sept huit neuf",
    "it": "zero uno due tre quattro cinque sei sette otto nove",
    "pt_BR": "zero um dois três quatro cinco seis sete oito nove",
}


def digits(text: str, code: str) -> str:
    """Each digit of ``text`` as a word (other characters left out)."""
    names = _DIGIT_WORDS.get(code, _DIGIT_WORDS["en"]).split()
    return " ".join(names[int(d)] for d in text if d.isascii() and d.isdigit())


def _clean(words: str, code: str, *, american: bool) -> str:
    words = words.replace(",", "")
    if code == "en" and american:  # "one hundred twenty-three", as Americans say it
        words = words.replace(" and ", " ")
    return " ".join(words.split())


def cardinal(number: str, code: str, *, american: bool = False) -> str:
    """A whole number written in ASCII digits (an optional leading minus) as words."""
    negative = number.startswith("-")
    number = number.lstrip("-").lstrip("0") or "0"
    if len(number) > MAX_DIGITS:
        words = digits(number, code)
    else:
        words = _clean(num2words(int(number), lang=code), code, american=american)
    if negative and number != "0":
        words = f"{_MINUS.get(code, 'minus')} {words}"
    return words


def ordinal(number: str, code: str, *, american: bool = False) -> str:
    number = number.lstrip("0") or "0"
    if len(number) > MAX_DIGITS:
        return digits(number, code)
    return _clean(num2words(int(number), lang=code, to="ordinal"), code, american=american)


def decimal(whole: str, fraction: str, code: str, *, american: bool = False) -> str:
    """``whole`` point ``fraction``, the fraction read digit by digit (three point one four)."""
    point = _POINT.get(code, "point")
    head = cardinal(whole, code, american=american)
    return f"{head} {point} {digits(fraction, code)}" if fraction else head


def year(number: str, code: str, *, american: bool = False) -> str:
    """A year as it is said: nineteen ninety-nine, two thousand five, twenty twenty-four."""
    if code != "en":
        return cardinal(number, code)
    words = num2words(int(number), lang="en", to="year")
    return _clean(words.replace("-", " ") if "oh-" in words else words, code, american=american)


_POINT = {"en": "point", "es": "coma", "fr": "virgule", "it": "virgola", "pt_BR": "vírgula"}
_MINUS = {"en": "minus", "es": "menos", "fr": "moins", "it": "meno", "pt_BR": "menos"}
