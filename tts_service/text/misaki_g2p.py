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


def chinese_g2p() -> Any:
    """misaki's Mandarin G2P as Kokoro v1.0 was trained on it (its first version: jieba's words,
    pypinyin's readings, cn2an's numbers, their data in their packages): a callable ``text →
    (phonemes, None)``."""
    import logging

    import jieba
    from misaki import zh

    jieba.setLogLevel(logging.WARNING)  # it logs its loading to stderr at DEBUG level
    jieba.initialize()  # its dictionary now rather than on the first sentence (cached in /tmp)
    return zh.ZHG2P(version=None)


def japanese_g2p() -> Any:
    """misaki's Japanese G2P as Kokoro v1.0 was trained on it (its ``cutlet`` version: MeCab's
    readings through fugashi): a callable ``text → (phonemes, None)``.

    Built from ``misaki.cutlet`` alone (``misaki.ja`` imports pyopenjtalk, which only its other
    version uses and which downloads its dictionary on first use), with unidic-lite's dictionary,
    which ships in its package (the full ``unidic`` package is downloaded after install)."""
    import os

    import unidic_lite
    from fugashi import Tagger
    from misaki import cutlet

    class _Cutlet(cutlet.Cutlet):  # type: ignore[misc]
        def __init__(self) -> None:
            rc = os.path.join(unidic_lite.DICDIR, "mecabrc")
            self.tagger = Tagger(f'-r "{rc}" -d "{unidic_lite.DICDIR}"')
            self.table = dict(cutlet.HEPBURN)
            self.exceptions: dict[str, str] = {}

    return _Cutlet()
