"""misaki's Mandarin and Japanese G2Ps (imported only when one is used:
``tts_service.text.g2p.Misaki``; apart from its English one, which imports spaCy)."""

from __future__ import annotations

import logging
import os
from typing import Any


def chinese_g2p() -> Any:
    """misaki's Mandarin G2P as Kokoro v1.0 was trained on it (its first version: jieba's words,
    pypinyin's readings, cn2an's numbers, their data in their packages): a callable ``text →
    (phonemes, None)``."""
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
