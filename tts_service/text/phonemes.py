"""Text → phonemes → model tokens: the user's lexicon and given pronunciations first, then a G2P
engine (``tts_service.text.g2p``), then Kokoro's vocabulary (symbols it lacks dropped)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from kokoro_onnx.config import MAX_PHONEME_LENGTH
from kokoro_onnx.tokenizer import Tokenizer

from tts_service.text import marks
from tts_service.text.g2p import ENGINES, Engine, G2PChoice, Given, Segment, engine_name
from tts_service.text.lexicon import Lexicon

# Phoneme-string characters that carry no sound of their own.
_SILENT = frozenset(" ;:,.!?¡¿—…\"«»“”()-'")
# A whitespace word: leading punctuation, the word, trailing punctuation.
_WORD = re.compile(r"(\S+)")
_EDGES = re.compile(r"^(\W*)(.*?)(\W*)$", re.DOTALL)

MAX_TOKENS = MAX_PHONEME_LENGTH
"""The model's input limit: at most 510 phoneme tokens per inference."""


class Phonemizer:
    """Text → phonemes → tokens. Thread-safe: each engine serialises its own calls (espeak-ng is
    process-global; kokoro-onnx holds a lock around it).

    ``g2p``: which engine speaks which language (``tts_service.text.g2p``); ``espeak`` unless
    told, so a bare ``Phonemizer()`` loads nothing. ``lexicon``: the user's words
    (``tts_service.text.lexicon``)."""

    def __init__(self, g2p: G2PChoice = "espeak", lexicon: Lexicon | None = None) -> None:
        self._tokenizer = Tokenizer()
        self.g2p: G2PChoice = g2p
        self.lexicon = lexicon or Lexicon(None)
        self._engines = {name: e.factory(self._tokenizer) for name, e in ENGINES.items()}

    @classmethod
    def from_settings(cls, g2p: G2PChoice, lexicon_dir: Path | None) -> Phonemizer:
        return cls(g2p, Lexicon(lexicon_dir))

    def engine(self, lang: str) -> Engine:
        return self._engines[engine_name(self.g2p, lang)]

    def engines(self, langs: list[str]) -> dict[str, str]:
        """The engine of each language (what ``/health`` shows)."""
        return {lang: engine_name(self.g2p, lang) for lang in langs}

    def prepare(self, lang: str) -> None:
        """Load ``lang``'s engine now rather than on its first sentence."""
        self.engine(lang).prepare(lang)

    def phonemize(self, text: str, lang: str) -> str:
        """Phonemes the model knows (unknown symbols dropped), whitespace collapsed. Pronounce
        marks are said as their phonemes, words in the lexicon as it says."""
        segments = list(self._segments(text, lang))
        if not segments:
            return ""
        phonemes = self.engine(lang).phonemize(segments, lang)
        return " ".join(self._tokenizer.known(phonemes).split())

    def tokenize(self, phonemes: str) -> list[int]:
        return self._tokenizer.tokenize(phonemes, limit=None)

    def _segments(self, text: str, lang: str) -> Iterator[Segment]:
        for part in marks.parts(text) if marks.has_marks(text) else [text]:
            if isinstance(part, marks.Pronounce):
                yield Given(part.text, part.phonemes)
            elif isinstance(part, marks.SayAs):  # the normalizer's to expand; else its text
                yield from self._looked_up(f" {part.text} ", lang)
            elif isinstance(part, str):
                yield from self._looked_up(part, lang)
            # pauses and rates are the chunk planner's, not sounds

    def _looked_up(self, text: str, lang: str) -> Iterator[Segment]:
        """``text`` with the lexicon's words replaced (plain runs joined)."""
        if self.lexicon.is_empty(lang):
            yield text
            return
        plain: list[str] = []
        position = 0
        for match in _WORD.finditer(text):
            edges = _EDGES.match(match.group(1))
            word = edges.group(2) if edges else ""
            entry = self.lexicon.lookup(word, lang) if word else None
            if entry is None or edges is None:
                continue
            plain.append(text[position : match.start()] + edges.group(1))
            if entry.phonemes is None:
                plain.append(entry.respelling)
            else:
                yield "".join(plain)
                plain = []
                yield Given(word, entry.phonemes)
            plain.append(edges.group(3))
            position = match.end()
        plain.append(text[position:])
        yield "".join(plain)


def is_speakable(phonemes: str) -> bool:
    return any(map(is_sounding, phonemes))


def is_sounding(phoneme: str) -> bool:
    """Whether this phoneme-string character is a sound (not a space or punctuation)."""
    return phoneme not in _SILENT
