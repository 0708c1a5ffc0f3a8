"""Web addresses and e-mail addresses, read out: "jane.doe@example.org" → "jane dot doe at
example dot org". A long address is read up to its host: nobody listens to a query string."""

from __future__ import annotations

import re

from tts_service.text.normalize import numerals
from tts_service.text.normalize.align import Rule

LONG_URL = 80
"""Addresses longer than this many characters are read up to their host only."""

_WORDS = {
    "en": {".": "dot", "@": "at", "/": "slash", "-": "dash", "_": "underscore", ":": "colon",
           "?": "question mark", "=": "equals", "&": "and", "#": "hash", "+": "plus",
           "~": "tilde", "%": "percent"},
    "es": {".": "punto", "@": "arroba", "/": "barra", "-": "guion", "_": "guion bajo"},
    "fr": {".": "point", "@": "arobase", "/": "slash", "-": "tiret", "_": "tiret bas"},
    "it": {".": "punto", "@": "chiocciola", "/": "barra", "-": "trattino", "_": "trattino basso"},
    "pt_BR": {".": "ponto", "@": "arroba", "/": "barra", "-": "hífen", "_": "sublinhado"},
}  # fmt: skip
_TLD = r"(?:com|org|net|edu|gov|io|dev|app|ai|co|uk|us|de|fr|es|it|br|jp|cn|in|info|eu)"
EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
URL = re.compile(
    r"(?<![\w@])(?:(?:https?|ftp)://|www\.)[^\s<>\"']*[^\s<>\"'.,;:!?)\]]"
    rf"|(?<![\w@./-])(?:[A-Za-z0-9-]+\.)+{_TLD}\b(?![.@-]\w)(?:/[^\s<>\"']*[^\s<>\"'.,;:!?)\]])?"
)


def read_address(address: str, code: str) -> str:
    """Each run of letters as a word, digits one by one, symbols by name."""
    words = _WORDS.get(code, _WORDS["en"])
    address = re.sub(r"^(?:(?:https?|ftp)://)", "", address)
    if len(address) > LONG_URL:
        address = re.split(r"[/?#]", address, maxsplit=1)[0][:LONG_URL]
    said = []
    for run in re.findall(r"[^\W\d_]+|\d+|.", address):
        if run.isdigit():
            said.append(numerals.digits(run, code))
        elif run[0].isalpha():
            said.append(run if len(run) > 1 or code != "en" else run.upper())
        elif run in words:
            said.append(words[run])
    return " ".join(said)


def web_rules(code: str) -> list[Rule]:
    return [
        (EMAIL, lambda m: read_address(m.group(), code)),
        (URL, lambda m: read_address(m.group(), code)),
    ]
