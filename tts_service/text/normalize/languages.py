"""Which rules each language gets: the registry of languages (espeak-ng codes, as voices name
them). Languages ``num2words`` does not cover, or whose phonemizer reads digits better than
its words would be (Japanese: espeak-ng reads digits but not the kanji ``num2words`` writes),
get no rules: their numbers are left to the phonemizer."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache, partial

from tts_service.text.normalize import english, romance
from tts_service.text.normalize.align import Rule


@dataclass(frozen=True)
class Language:
    numerals: str | None
    """``num2words``' code for its number words (None: none)."""
    rules: Callable[[], list[Rule]]


def _none() -> list[Rule]:
    return []


LANGUAGES: dict[str, Language] = {
    "en-us": Language("en", partial(english.rules, american=True)),
    "en-gb": Language("en", partial(english.rules, american=False)),
    "es": Language("es", partial(romance.rules, "es")),
    "fr-fr": Language("fr", partial(romance.rules, "fr")),
    "it": Language("it", partial(romance.rules, "it")),
    "pt-br": Language("pt_BR", partial(romance.rules, "pt_BR")),
    "ja": Language(None, _none),
    "hi": Language(None, _none),
    "cmn": Language(None, _none),
}
"""Every language a voice may speak; any other code is treated as one with no rules."""
_ALIASES = {"en": "en-us", "fr": "fr-fr", "pt": "pt-br", "zh": "cmn"}


def _key(lang: str) -> str:
    lang = lang.lower()
    return _ALIASES.get(lang, lang)


def language(lang: str) -> Language:
    return LANGUAGES.get(_key(lang), Language(None, _none))


def rules(lang: str) -> list[Rule]:
    """The rules of ``lang``, compiled once per known language on first use."""
    key = _key(lang)
    return _compiled(key) if key in LANGUAGES else []


@cache
def _compiled(key: str) -> list[Rule]:
    return LANGUAGES[key].rules()
