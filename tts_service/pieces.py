"""Sentences → pieces: each sentence normalized (:mod:`tts_service.text.normalize`), phonemized
(:class:`~tts_service.text.phonemes.Phonemizer`) and cut where marks say or where it is too long
for one inference. One place for every front-end: HTTP, SSE, the WebSocket and Wyoming all reach
the model through here (the chunk planner, :mod:`tts_service.chunking`, groups the pieces).

Marks (:mod:`tts_service.text.timing`): a pause or rate mark cuts its sentence and comes as a
piece of its own, with no phonemes; the planner acts on it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace

from kokoro_onnx.chunker import split_phonemes

from tts_service.text import Boundary, Sentence, marks
from tts_service.text.normalize import normalize as normalized
from tts_service.text.phonemes import MAX_TOKENS, Phonemizer, is_speakable
from tts_service.text.timing import runs
from tts_service.text.words import SpokenWord, located_words, sounding, split_words

_CLAUSE_MARKS = frozenset(",;:—")
_CLAUSE_END = re.compile(r"[,;:—]\s")
MIN_HEAD_PHONEMES = 20
"""A cut first chunk keeps at least this many phonemes (a couple of words)."""


@dataclass(frozen=True)
class Piece:
    """Phonemes of one sentence, or of one part of an over-long sentence."""

    text: str
    phonemes: str
    boundary: Boundary
    words: tuple[SpokenWord, ...] = ()
    """Its words, when asked for (word timestamps); positions count sounding phonemes."""
    end: int | None = None
    """Where its sentence ends in the text it came from, on the sentence's last piece (when the
    sentence says: text streamed in)."""
    pause: float | None = None
    """The silence after it, set by a pause mark (instead of its boundary's pause)."""
    rate: float = 1.0
    """The factor of the request's speed it is spoken at."""

    @property
    def is_mark(self) -> bool:
        """A pause or rate mark only, nothing to speak (no phonemes)."""
        return not self.phonemes


MaxPhonemes = int | Callable[[float], int]
"""The most phonemes a piece may have: a number, or one for each rate."""


def pieces(
    sentences: Iterable[Sentence],
    phonemizer: Phonemizer,
    lang: str,
    *,
    words: bool = False,
    max_phonemes: MaxPhonemes = MAX_TOKENS,
    rate: float = 1.0,
    normalize: bool = True,
) -> Iterator[Piece]:
    """Normalize and phonemize sentence by sentence; drop unspeakable ones; split any over
    ``max_phonemes`` into even parts. ``words``: locate each word's phonemes too (see
    ``tts_service.text.words``), named as written. ``normalize=False``: only say-as marks are
    expanded (see ``tts_service.text.normalize``).
    Pause and rate marks cut a sentence, and each comes as a piece of its own with no phonemes
    (``is_mark``); ``rate``: the rate in force before the first."""
    largest = max_phonemes if callable(max_phonemes) else lambda _: max_phonemes
    for sentence in sentences:
        spoken: list[Piece] = []
        for run in runs(sentence.text):
            if isinstance(run, marks.Pause):
                spoken.append(Piece("", "", Boundary.NONE, pause=run.seconds, rate=rate))
                continue
            if isinstance(run, marks.Rate):
                rate = run.factor
                spoken.append(Piece("", "", Boundary.NONE, rate=rate))
                continue
            text = marks.plain(run).strip()  # what a reader sees
            said = normalized(run, lang, enabled=normalize)
            # Pronounce marks leave the normalizer as they came; the phonemizer says them.
            phonemes = phonemizer.phonemize(said.spoken, lang)
            if is_speakable(phonemes):
                pairs = [(word.written, word.spoken) for word in said.words]
                located = tuple(located_words(pairs, phonemes, phonemizer, lang)) if words else ()
                spoken.append(Piece(text, phonemes, Boundary.NONE, located, rate=rate))
        if not spoken:
            continue
        speech = [n for n, piece in enumerate(spoken) if not piece.is_mark]
        if speech:  # the sentence's last speech ends it; the last piece says where
            spoken[speech[-1]] = replace(spoken[speech[-1]], boundary=sentence.boundary)
        spoken[-1] = replace(spoken[-1], end=sentence.end)
        for n, piece in enumerate(spoken):
            if speech and n < speech[-1] and not piece.is_mark:
                piece = replace(piece, boundary=_inner(piece.phonemes))
            yield from _fitted(piece, largest(piece.rate))


def _inner(phonemes: str) -> Boundary:
    return Boundary.CLAUSE if phonemes.rstrip()[-1:] in _CLAUSE_MARKS else Boundary.NONE


def _fitted(piece: Piece, max_phonemes: int) -> Iterator[Piece]:
    """``piece``, or its even parts when it has more than ``max_phonemes``."""
    if len(piece.phonemes) <= max_phonemes:
        yield piece
        return
    parts = split_phonemes(piece.phonemes, max_phonemes)
    located = piece.words
    for n, part in enumerate(parts):
        last = n == len(parts) - 1
        own, located = split_words(located, len(sounding(part)))
        yield replace(
            piece, text=piece.text if last else "", phonemes=part, words=own,
            boundary=piece.boundary if last else _inner(part), end=piece.end if last else None,
        )  # fmt: skip


def cut_head(piece: Piece, limit: int, *, longest: bool = False) -> list[Piece]:
    """Split a piece longer than ``limit`` phonemes after its first clause within the limit (or,
    ``longest``, its last one), else after its last whole word within the limit, else at the
    limit itself."""
    phonemes = piece.phonemes
    if len(phonemes) <= limit:
        return [piece]
    ends = [
        m.end() for m in _CLAUSE_END.finditer(phonemes) if MIN_HEAD_PHONEMES <= m.end() <= limit
    ]
    cut = (ends[-1] if longest else ends[0]) if ends else None
    if cut is None:
        space = phonemes.rfind(" ", MIN_HEAD_PHONEMES, limit)
        # One endless "word" (a hash, "aaaa..."): cut it anyway, or its first audio would wait
        # for a whole 510-token inference.
        cut = space + 1 if space >= 0 else limit
    head, tail = phonemes[:cut].strip(), phonemes[cut:].strip()
    head_words, tail_words = split_words(piece.words, len(sounding(head)))
    return [
        replace(
            piece, text="", phonemes=head, boundary=_inner(head), words=head_words, end=None,
            pause=None,
        ),
        replace(piece, phonemes=tail, words=tail_words),
    ]  # fmt: skip
