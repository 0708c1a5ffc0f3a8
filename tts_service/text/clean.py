"""Input clean-up before splitting: characters no voice can say are removed, never crashed on."""

from __future__ import annotations

import re
import unicodedata

# C0/C1 controls other than tab and newline, lone surrogates, and the private-use points (the
# markup stage writes its marks with them: ``tts_service.text.marks``).
_UNSPEAKABLE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ue000-\uf8ff]")


def clean_text(text: str) -> str:
    """NFC-normalise, turn CR/CRLF into LF, and drop control characters, lone surrogates and
    private-use characters."""
    text = _UNSPEAKABLE.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))
    return unicodedata.normalize("NFC", text)
