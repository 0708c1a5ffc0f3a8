"""Turn sentences into model-sized chunks of phonemes, lazily, in reading order.

Rules: the first chunk is the first speakable sentence on its own (never merged with the next),
so first audio comes as early as the text allows; if that sentence is longer than
``first_chunk_phonemes``, only its first clause (or first words) is. Where nobody listens before
the whole reply is made (``first_alone=False``: a whole file, ``stream: false``), the first chunk
is grouped like any other, so a short reply is one inference: what finishes soonest. Each later
chunk may be at most ``growth`` times longer than the one before it, up to ``group_phonemes``: sentences are
grouped into it, and a sentence longer than that is cut after a clause (or between words).
Synthesis then stays ahead of playback from the first chunk on, as long as the model runs faster
than ``growth`` × real time: chunk k is synthesized while the chunks before it play. Chunks never
span a paragraph break or pass ``max_phonemes``, which is at most the model's 510-token limit and
less where the request is spoken slowly (the longest audio one inference may make bounds its
memory: ``tts_service.policy.chunk_phonemes``).

Marks (:mod:`tts_service.text.timing`): a pause mark ends the chunk before it, whose pause is then
that mark's (instead of its boundary's); a pause before any speech is silence before the first
chunk. A rate mark sets the rate the chunks after it are spoken at (a factor of the request's
speed, carried from sentence to sentence and from call to call); no chunk spans a rate change,
and ``max_phonemes`` may depend on the rate.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace

from tts_service.pieces import MaxPhonemes, Piece, cut_head, pieces
from tts_service.text import Boundary, Sentence
from tts_service.text.phonemes import MAX_TOKENS, Phonemizer
from tts_service.text.timing import clamp_pause
from tts_service.text.words import SpokenWord, shift, sounding

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
    rate: float = 1.0
    """The factor of the request's speed it is spoken at (``tts_service.text.timing``)."""
    lead: float = 0.0
    """Silence before it (a pause mark before any speech)."""


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
        max_phonemes: MaxPhonemes = MAX_TOKENS,
        normalize: bool = True,
        first_alone: bool = True,
    ) -> None:
        self.phonemizer = phonemizer
        self.lang = lang
        self.pauses = pauses
        self.words = words
        self.normalize = normalize
        self._grow = growth if callable(growth) else lambda: growth
        self._max_phonemes = max_phonemes
        self._group_phonemes = group_phonemes
        self._first_chunk_phonemes = first_chunk_phonemes
        self._first_alone = first_alone
        # The first chunk is grouped only when not alone; then the limit only grows.
        self._limit = 0 if first_alone else min(group_phonemes, MAX_TOKENS)
        self._group: list[Piece] = []
        self._index = 0
        self._started = False
        self._rate = 1.0  # the rate in force, from the last rate mark
        self._lead = 0.0  # silence from pause marks before the next chunk
        self._last_pause = 0.0  # the pause after the last chunk made

    def _largest(self, rate: float) -> int:
        """The most phonemes of a chunk spoken at ``rate`` (the model's limit at most)."""
        most = self._max_phonemes
        return max(1, min(most(rate) if callable(most) else most, MAX_TOKENS))

    def chunks(self, sentences: Iterable[Sentence]) -> Iterator[Chunk]:
        """Phonemize ``sentences`` and group them into chunks (lazily: a generator)."""
        stream = pieces(
            sentences, self.phonemizer, self.lang, words=self.words,
            max_phonemes=self._largest, rate=self._rate, normalize=self.normalize,
        )  # fmt: skip
        for piece in stream:
            if piece.is_mark:
                self._mark(piece)
            elif self._started:
                yield from self._place(piece)
            else:
                self._started = True
                first = self._first_chunk_phonemes if self._first_alone else MAX_TOKENS
                first_limit = min(first, self._largest(piece.rate))
                for part in cut_head(piece, first_limit):
                    yield from self._place(part)
        if self._group:
            yield self._emit()

    def _mark(self, mark: Piece) -> None:
        """A pause mark gives the piece before it its pause (the chunk ends there), or, with
        none before it, silence before the next chunk; a rate mark sets the rate."""
        self._rate = mark.rate
        group = self._group
        if group:
            last = group[-1]
            pause = last.pause
            if mark.pause is not None:
                pause = clamp_pause((pause or 0.0) + mark.pause)
            group[-1] = replace(last, pause=pause, end=last.end if mark.end is None else mark.end)
        elif mark.pause is not None:
            self._lead = clamp_pause(self._lead + mark.pause)

    @property
    def _grouping(self) -> bool:
        """Whether the next chunk groups sentences (the first one alone does not)."""
        return self._index > 0 or not self._first_alone

    def _place(self, piece: Piece) -> Iterator[Chunk]:
        group = self._group
        if group:
            size = sum(len(p.phonemes) + 1 for p in group) + len(piece.phonemes)
            limit = min(self._limit, self._largest(piece.rate))
            last = group[-1]
            if (
                not self._grouping or size > limit
                or last.boundary is Boundary.PARAGRAPH
                or last.pause is not None or last.rate != piece.rate
            ):  # fmt: skip
                yield self._emit()
        # A sentence longer than this chunk may grow to is cut at a clause (or between words),
        # so synthesis keeps ahead of playback from the first chunk on.
        while not group and self._grouping and len(piece.phonemes) > self._limit:
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
        last = group[-1]
        # Silence asked for before the first chunk is all its own; after an earlier chunk, that
        # chunk's pause already gave part of it.
        lead = self._lead if self._index == 0 else max(0.0, self._lead - self._last_pause)
        chunk = Chunk(
            index=self._index,
            text=" ".join(p.text for p in group if p.text),
            phonemes=" ".join(p.phonemes for p in group),
            pause=self.pauses.after(last.boundary) if last.pause is None else last.pause,
            words=tuple(_joined_words(group)),
            end=max(ends) if ends else None,
            rate=last.rate,
            lead=lead,
        )
        self._lead, self._last_pause = 0.0, chunk.pause
        ceiling = min(self._group_phonemes, self._largest(1.0))
        self._limit = min(
            ceiling, max(self._limit, MIN_CHUNK_PHONEMES, int(len(chunk.phonemes) * self._grow()))
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
    max_phonemes: MaxPhonemes = MAX_TOKENS,
    first_alone: bool = True,
) -> Iterator[Chunk]:
    """Group pieces into chunks; a generator, so phonemization happens only as chunks are needed.
    ``growth`` may be a function, asked after each chunk (the model's speed as measured so far).
    ``words``: each chunk also says where its words are (for word timestamps). No chunk has more
    than ``max_phonemes`` phonemes (nor the model's ``MAX_TOKENS``). ``first_alone=False`` groups
    the first chunk's sentences too."""
    planner = ChunkPlanner(
        phonemizer, lang, group_phonemes=group_phonemes, pauses=pauses,
        first_chunk_phonemes=first_chunk_phonemes, growth=growth, words=words,
        max_phonemes=max_phonemes, first_alone=first_alone,
    )  # fmt: skip
    return planner.chunks(sentences)


def _joined_words(group: list[Piece]) -> Iterator[SpokenWord]:
    offset = 0
    for piece in group:
        yield from shift(piece.words, offset)
        offset += len(sounding(piece.phonemes))
