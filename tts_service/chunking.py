"""Turn sentences into model-sized chunks of phonemes, lazily, in reading order.

Rules: the first chunk is the first speakable sentence on its own (never merged with the next),
so first audio comes as early as the text allows. Later sentences are grouped up to
``group_phonemes`` for throughput, never across a paragraph break, and never past the model's
510-token limit; a single over-long sentence is split at clause punctuation, then at words.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from kokoro_onnx.chunker import split_phonemes

from tts_service.text import Boundary, Sentence
from tts_service.text.phonemes import MAX_TOKENS, Phonemizer, is_speakable

_CLAUSE_MARKS = frozenset(",;:—")


@dataclass(frozen=True)
class Pauses:
    sentence: float
    clause: float
    paragraph: float

    def after(self, boundary: Boundary) -> float:
        return {
            Boundary.SENTENCE: self.sentence,
            Boundary.CLAUSE: self.clause,
            Boundary.PARAGRAPH: self.paragraph,
            Boundary.NONE: 0.0,
        }[boundary]


@dataclass(frozen=True)
class Piece:
    """Phonemes of one sentence, or of one part of an over-long sentence."""

    text: str
    phonemes: str
    boundary: Boundary


@dataclass(frozen=True)
class Chunk:
    """One unit of inference: at most ``MAX_TOKENS`` phonemes and the pause to add after it."""

    index: int
    text: str
    phonemes: str
    pause: float


def pieces(sentences: Iterable[Sentence], phonemizer: Phonemizer, lang: str) -> Iterator[Piece]:
    """Phonemize sentence by sentence; drop unspeakable ones; split any over the model's limit."""
    for sentence in sentences:
        phonemes = phonemizer.phonemize(sentence.text, lang)
        if not is_speakable(phonemes):
            continue
        if len(phonemes) <= MAX_TOKENS:
            yield Piece(sentence.text, phonemes, sentence.boundary)
            continue
        parts = split_phonemes(phonemes, MAX_TOKENS)
        for n, part in enumerate(parts):
            last = n == len(parts) - 1
            inner = Boundary.CLAUSE if part.rstrip()[-1:] in _CLAUSE_MARKS else Boundary.NONE
            yield Piece(sentence.text if last else "", part, sentence.boundary if last else inner)


def plan_chunks(
    sentences: Iterable[Sentence],
    phonemizer: Phonemizer,
    lang: str,
    *,
    group_phonemes: int,
    pauses: Pauses,
) -> Iterator[Chunk]:
    """Group pieces into chunks; a generator, so phonemization happens only as chunks are needed."""
    limit = min(group_phonemes, MAX_TOKENS)
    group: list[Piece] = []
    index = 0

    def emit() -> Chunk:
        nonlocal index
        chunk = Chunk(
            index=index,
            text=" ".join(p.text for p in group if p.text),
            phonemes=" ".join(p.phonemes for p in group),
            pause=pauses.after(group[-1].boundary),
        )
        index += 1
        group.clear()
        return chunk

    for piece in pieces(sentences, phonemizer, lang):
        if group:
            size = sum(len(p.phonemes) + 1 for p in group) + len(piece.phonemes)
            if index == 0 or size > limit or group[-1].boundary is Boundary.PARAGRAPH:
                yield emit()
        group.append(piece)
    if group:
        yield emit()
