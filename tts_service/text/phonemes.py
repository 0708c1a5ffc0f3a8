"""Grapheme-to-phoneme conversion with espeak-ng (through kokoro-onnx's tokenizer) and the
Kokoro vocabulary that maps phonemes to model tokens."""

from __future__ import annotations

from kokoro_onnx.config import MAX_PHONEME_LENGTH
from kokoro_onnx.tokenizer import Tokenizer

# Phoneme-string characters that carry no sound of their own.
_SILENT = frozenset(" ;:,.!?¡¿—…\"«»“”()-'")

MAX_TOKENS = MAX_PHONEME_LENGTH
"""The model's input limit: at most 510 phoneme tokens per inference."""


class Phonemizer:
    """Text → phonemes → tokens. espeak-ng is process-global; kokoro-onnx serialises calls to it."""

    def __init__(self) -> None:
        self._tokenizer = Tokenizer()

    def phonemize(self, text: str, lang: str) -> str:
        """Phonemes the model knows (unknown symbols dropped), whitespace collapsed."""
        return " ".join(self._tokenizer.phonemize(text, lang).split())

    def tokenize(self, phonemes: str) -> list[int]:
        return self._tokenizer.tokenize(phonemes, limit=None)


def is_speakable(phonemes: str) -> bool:
    return any(map(is_sounding, phonemes))


def is_sounding(phoneme: str) -> bool:
    """Whether this phoneme-string character is a sound (not a space or punctuation)."""
    return phoneme not in _SILENT
