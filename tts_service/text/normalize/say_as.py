"""Say-as marks (SSML ``<say-as interpret-as="…">``): the text read as the kind says, with the
same readers the normalizer uses. Expanded even when normalization is off: they were asked for."""

from __future__ import annotations

import re

from tts_service.text.normalize import english, numerals, romance
from tts_service.text.normalize.align import Rule, rewrite, spoken, words
from tts_service.text.normalize.languages import language, rules

SPELLED = frozenset({"characters", "spell-out", "verbatim", "letters"})
KINDS = frozenset({"cardinal", "number", "ordinal", "digits", "date", "telephone"}) | SPELLED


def spell(text: str, lang: str) -> str:
    """Letters by name, digits as words (English letters joined by hyphens: "A-B-C", which every
    reader says letter by letter, where a lone "A" may be read as the article)."""
    code = language(lang).numerals
    said: list[str] = []
    for run in re.findall(r"[^\W\d_]+|\d+", text):
        if run.isdigit():
            said.append(numerals.digits(run, code) if code else " ".join(run))
        else:
            said.append(("-" if code == "en" else " ").join(run.upper()))
    return " ".join(said)


def _number(text: str, lang: str, *, ordinal: bool) -> str | None:
    code = language(lang).numerals
    digits = re.sub(r"[^\d.,\-−]", "", text)
    if code is None or not re.search(r"\d", digits):
        return None
    if ordinal:
        return numerals.ordinal(re.sub(r"\D", "", digits), code)
    if code == "en":
        return english.say_number(digits, american=lang.lower() != "en-gb")
    return romance.say_number(digits, code)


def _phone(text: str, lang: str) -> str:
    code = language(lang).numerals
    groups = re.findall(r"\d+", text)
    said = ", ".join(numerals.digits(g, code) if code else " ".join(g) for g in groups)
    return f"plus {said}" if text.lstrip().startswith("+") and code == "en" else said


def _normal(text: str, lang: str, extra: list[Rule] | None = None) -> str:
    return spoken(words(text, rewrite(text, [*(extra or []), *rules(lang)])))


def expand(kind: str, text: str, lang: str) -> str:
    """What ``text`` marked as ``kind`` is said as (an unknown kind: the text normalized)."""
    kind = kind.lower().strip()
    said: str | None = None
    if kind in SPELLED:
        said = spell(text, lang)
    elif kind in ("cardinal", "number", "ordinal"):
        said = _number(text, lang, ordinal=kind == "ordinal")
    elif kind == "digits":
        code = language(lang).numerals
        said = " ".join(numerals.digits(d, code) if code else d for d in re.findall(r"\d", text))
    elif kind == "telephone":
        said = _phone(text, lang)
    return said if said else _normal(text, lang)
