"""misaki's English G2P built from a spaCy pipeline we load (imported only when misaki is used:
``tts_service.text.g2p.Misaki``)."""

from __future__ import annotations

from typing import Any

from misaki import en, espeak


class _G2P(en.G2P):  # type: ignore[misc]
    """misaki's G2P given its spaCy pipeline: its own constructor would download one."""

    def __init__(self, nlp: Any, *, british: bool) -> None:
        self.version = None  # Kokoro v1.0's phoneme set
        self.british = british
        self.nlp = nlp
        self.lexicon = en.Lexicon(british)
        # Words misaki does not know: espeak-ng (kokoro-onnx's espeakng-loader library and data,
        # set by misaki.espeak on import), its phonemes mapped to Kokoro's set.
        self.fallback = espeak.EspeakFallback(british=british)
        self.unk = ""


def english_g2p(nlp: Any, *, british: bool) -> Any:
    """A callable ``text → (phonemes, tokens)``."""
    return _G2P(nlp, british=british)
