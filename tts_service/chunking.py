"""Turn sentences into model-sized chunks of phonemes, lazily, in reading order.

Rules: the first chunk is the first speakable sentence on its own (never merged with the next),
so first audio comes as early as the text allows; if that sentence is longer than
``first_chunk_phonemes``, only its first clause (or first words) is. Each later chunk may be at
most ``growth`` times longer than the one before it, up to ``group_phonemes``: sentences are
grouped into it, and a sentence longer than that is cut after a clause (or between words).
Synthesis then stays ahead of playback from the first chunk on, as long as the model runs faster
than ``growth`` × real time: chunk k is synthesized while the chunks before it play. Chunks never
span a paragraph break or pass ``max_phonemes``, which is at most the model's 510-token limit and
less where the request is spoken slowly (the longest audio one inference may make bounds its
memory: ``tts_service.policy.chunk_phonemes``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from kokoro_onnx.chunker import split_phonemes

from tts_service.text import Boundary, Sentence
from tts_service.text.normalize import normalize as normalized
from tts_service.text.phonemes import MAX_TOKENS, Phonemizer, is_speakable
from tts_service.text.words import SpokenWord, located_words, shift, sounding, split_words

_CLAUSE_MARKS = frozenset(",;:—")
_CLAUSE_END = re.compile(r"[,;:—]\s")
MIN_HEAD_PHONEMES = 20
"""A cut first chunk keeps at least this many phonemes (a couple of words)."""
MIN_CHUNK_PHONEMES = 40
"""Later chunks may always be this long (a few words), however short the one before."""


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
    words: tuple[SpokenWord, ...] = ()
    """Its words, when asked for (word timestamps); positions count sounding phonemes."""
    end: int | None = None
    """Where its sentence ends in the text it came from, on the sentence's last piece (when the
    sentence says: text streamed in)."""


@dataclass(frozen=True)
class Chunk:
    """One unit of inference: at most ``MAX_TOKENS`` phonemes (fewer when spoken slowly, see
    ``plan_chunks``) and the pause to add after it."""

    index: int
    text: str
    phonemes: str
    pause: float
    words: tuple[SpokenWord, ...] = ()
    """Its words when the plan was asked for them; positions count sounding phonemes."""
    end: int | None = None
    """Where the last sentence it completes ends in the text it came from (None when it
    completes none, or the sentences do not say)."""


def pieces(
    sentences: Iterable[Sentence],
    phonemizer: Phonemizer,
    lang: str,
    *,
    words: bool = False,
    max_phonemes: int = MAX_TOKENS,
    normalize: bool = True,
) -> Iterator[Piece]:
    """Normalize and phonemize sentence by sentence; drop unspeakable ones; split any over
    ``max_phonemes`` into even parts. ``words``: locate each word's phonemes too (see
    ``tts_service.text.words``), named as written. ``normalize=False``: only say-as marks are
    expanded (see ``tts_service.text.normalize``)."""
    for sentence in sentences:
        said = normalized(sentence.text, lang, enabled=normalize)
        phonemes = phonemizer.phonemize(said.spoken, lang)
        if not is_speakable(phonemes):
            continue
        pairs = [(word.written, word.spoken) for word in said.words]
        located = tuple(located_words(pairs, phonemes, phonemizer, lang)) if words else ()
        if len(phonemes) <= max_phonemes:
            yield Piece(sentence.text, phonemes, sentence.boundary, located, sentence.end)
            continue
        parts = split_phonemes(phonemes, max_phonemes)
        for n, part in enumerate(parts):
            last = n == len(parts) - 1
            inner = Boundary.CLAUSE if part.rstrip()[-1:] in _CLAUSE_MARKS else Boundary.NONE
            own, located = split_words(located, len(sounding(part)))
            yield Piece(
                sentence.text if last else "", part, sentence.boundary if last else inner, own,
                sentence.end if last else None,
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
    boundary = Boundary.CLAUSE if head[-1] in _CLAUSE_MARKS else Boundary.NONE
    head_words, tail_words = split_words(piece.words, len(sounding(head)))
    return [
        Piece("", head, boundary, head_words),
        Piece(piece.text, tail, piece.boundary, tail_words, piece.end),
    ]


class ChunkPlanner:
    """The rules above, applied to sentences as they come: ``chunks`` may be called again with
    the sentences that arrived since (text streamed in), and the chunks go on from where the
    last call left them (their index, the growth of their length). Each call ends with the
    chunk of what it was given: a planner never waits for text to fill a chunk."""

    def __init__(
        self,
        phonemizer: Phonemizer,
        lang: str,
        *,
        group_phonemes: int,
        pauses: Pauses,
        first_chunk_phonemes: int = MAX_TOKENS,
        growth: float | Callable[[], float] = 1.5,
        words: bool = False,
        max_phonemes: int = MAX_TOKENS,
        normalize: bool = True,
    ) -> None:
        self.phonemizer = phonemizer
        self.lang = lang
        self.pauses = pauses
        self.words = words
        self.normalize = normalize
        self._grow = growth if callable(growth) else lambda: growth
        self._largest = max(1, min(max_phonemes, MAX_TOKENS))
        self._ceiling = min(group_phonemes, self._largest)
        self._first_limit = min(first_chunk_phonemes, self._largest)
        self._limit = 0  # the first chunk is never grouped; then the limit only grows
        self._group: list[Piece] = []
        self._index = 0
        self._started = False

    def chunks(self, sentences: Iterable[Sentence]) -> Iterator[Chunk]:
        """Phonemize ``sentences`` and group them into chunks (lazily: a generator)."""
        stream = pieces(
            sentences, self.phonemizer, self.lang, words=self.words, max_phonemes=self._largest,
            normalize=self.normalize,
        )  # fmt: skip
        for piece in stream:
            if self._started:
                yield from self._place(piece)
                continue
            self._started = True
            for part in cut_head(piece, self._first_limit):
                yield from self._place(part)
        if self._group:
            yield self._emit()

    def _place(self, piece: Piece) -> Iterator[Chunk]:
        group = self._group
        if group:
            size = sum(len(p.phonemes) + 1 for p in group) + len(piece.phonemes)
            if self._index == 0 or size > self._limit or group[-1].boundary is Boundary.PARAGRAPH:
                yield self._emit()
        # A sentence longer than this chunk may grow to is cut at a clause (or between words),
        # so synthesis keeps ahead of playback from the first chunk on.
        while not group and self._index > 0 and len(piece.phonemes) > self._limit:
            parts = cut_head(piece, self._limit, longest=True)
            if len(parts) == 1:
                break
            head, piece = parts
            group.append(head)
            yield self._emit()
        group.append(piece)

    def _emit(self) -> Chunk:
        group = self._group
        ends = [p.end for p in group if p.end is not None]
        chunk = Chunk(
            index=self._index,
            text=" ".join(p.text for p in group if p.text),
            phonemes=" ".join(p.phonemes for p in group),
            pause=self.pauses.after(group[-1].boundary),
            words=tuple(_joined_words(group)),
            end=max(ends) if ends else None,
        )
        self._limit = min(
            self._ceiling,
            max(self._limit, MIN_CHUNK_PHONEMES, int(len(chunk.phonemes) * self._grow())),
        )
        self._index += 1
        group.clear()
        return chunk


def plan_chunks(
    sentences: Iterable[Sentence],
    phonemizer: Phonemizer,
    lang: str,
    *,
    group_phonemes: int,
    pauses: Pauses,
    first_chunk_phonemes: int = MAX_TOKENS,
    growth: float | Callable[[], float] = 1.5,
    words: bool = False,
    max_phonemes: int = MAX_TOKENS,
) -> Iterator[Chunk]:
    """Group pieces into chunks; a generator, so phonemization happens only as chunks are needed.
    ``growth`` may be a function, asked after each chunk (the model's speed as measured so far).
    ``words``: each chunk also says where its words are (for word timestamps). No chunk has more
    than ``max_phonemes`` phonemes (nor the model's ``MAX_TOKENS``)."""
    planner = ChunkPlanner(
        phonemizer, lang, group_phonemes=group_phonemes, pauses=pauses,
        first_chunk_phonemes=first_chunk_phonemes, growth=growth, words=words,
        max_phonemes=max_phonemes,
    )  # fmt: skip
    return planner.chunks(sentences)


def _joined_words(group: list[Piece]) -> Iterator[SpokenWord]:
    offset = 0
    for piece in group:
        yield from shift(piece.words, offset)
        offset += len(sounding(piece.phonemes))
