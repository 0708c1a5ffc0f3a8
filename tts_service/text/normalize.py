"""Input clean-up before splitting: characters no voice can say are removed, never crashed on."""

from __future__ import annotations

import re
import unicodedata

# C0/C1 controls other than tab and newline, lone surrogates, private-use and unassigned points.
_UNSPEAKABLE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")


def clean_text(text: str) -> str:
    """NFC-normalise, turn CR/CRLF into LF, and drop control characters and lone surrogates."""
    text = _UNSPEAKABLE.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))
    return unicodedata.normalize("NFC", text)
