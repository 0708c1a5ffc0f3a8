"""Split text that arrives in pieces (a language model's reply, token by token) into sentences
as soon as each one's end is certain (pure: no threads, no clock; the caller passes the time).

The rules are the ones of ``tts_service.text.split``, applied to the text not yet released:

- A sentence is released once no text to come can change where or how it ends: the non-space
  text after its punctuation has arrived (a period at the end may still be "Dr." or "3.", the
  next word's case decides "the U.S. economy", a closing quote may follow, a semicolon needs the
  words of the clause after it), and the last sentence of a paragraph once text after the blank
  line has arrived. So, fed in any pieces and then flushed, a turn gives exactly the sentences
  of ``split_sentences`` on its whole text: nothing twice, nothing dropped, nothing reordered.
- ``flush`` releases everything buffered (the turn ended, or the client asked to speak what is
  there now); its last sentence ends with ``Boundary.NONE``.
- When text stops arriving mid-sentence for ``stall`` seconds, what is buffered is released up
  to its last clause boundary (a comma, semicolon or colon, or a dash, followed by a space; or
  sentence punctuation whose sentence is not yet certain), so a slow writer is heard as far as
  it got; the rest stays buffered.
- A turn's first sentence, while incomplete, is released up to its first clause boundary once
  that clause has ``first_clause_chars`` characters (off unless set), so the first audio need
  not wait for the end of a long opening sentence.
- A caller may release the text up to its last clause boundary at any time (``last_clause``,
  ``release_to``): one whose audio is about to run out before the sentence could end.
- No more than ``max_buffered`` characters stay buffered: beyond that, the text is released up
  to its last clause boundary, else its last space, else at the bound (one endless "word").

Each released piece says where it lies in the turn's whole text (``start``, ``end``), so a
front-end can report which text has been spoken. Only the text after the last released piece
is split again when a piece arrives, so feeding a long reply token by token costs about its
length times the length of one sentence.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from tts_service.text.split import PARAGRAPH_BREAK, Boundary, Sentence, sentence_spans

_CLOSERS = re.escape("\"'”’»)]}」』")
# A clause boundary: clause punctuation, or a dash standing between words, then a space.
_CLAUSE = re.compile(
    rf"(?:[,;:]|(?<=\s)[-–—]|[–—])[{_CLOSERS}]*(?=\s)|[，；：、][{_CLOSERS}]*+(?=\S)"
)
_LAST_SPACE = re.compile(r"\s+(?=\S*$)")
# Sentence punctuation whose sentence is not certain yet: released as one when text stalls.
_SENTENCE_END = re.compile(rf"(?:[.!?…]+|[。！？]+)[{_CLOSERS}]*(?=\s|$)")


@dataclass(frozen=True)
class Released:
    """A piece of the turn's text ready for synthesis: ``text[start:end]`` of the whole turn,
    as a sentence (its whitespace collapsed to single spaces)."""

    sentence: Sentence
    start: int
    end: int


class SentenceBuffer:
    """One turn's text, fed in pieces; each call returns the sentences it made ready."""

    def __init__(
        self,
        *,
        stall: float | None = None,
        max_buffered: int = 2000,
        first_clause_chars: int | None = None,
    ) -> None:
        if max_buffered < 1:
            raise ValueError("max_buffered must be positive")
        self.stall = stall
        self.max_buffered = max_buffered
        self.first_clause_chars = first_clause_chars
        self._text: list[str] = []  # the turn's whole text, in the pieces it came in
        self._pending = ""  # the text after the last released piece
        self._offset = 0  # where _pending starts in the whole text
        self._last_input: float | None = None
        self._released_any = False

    @property
    def text(self) -> str:
        """The turn's whole text so far."""
        return "".join(self._text)

    @property
    def buffered(self) -> str:
        """The text not yet released."""
        return self._pending

    @property
    def released_until(self) -> int:
        """Offset in the whole text up to which everything has been released."""
        return self._offset

    def feed(self, delta: str, now: float | None = None) -> list[Released]:
        """Add ``delta`` (``now``: when it arrived, for the stall rule) and return the sentences
        whose end it made certain."""
        if now is not None:
            self._last_input = now
        if not delta:
            return []
        self._text.append(delta)
        self._pending += delta
        released = self._release_certain()
        if self.first_clause_chars is not None and not self._released_any:
            released += self._release_first_clause(self.first_clause_chars)
        while len(self._pending) > self.max_buffered:
            released += self._release_over_bound()
            released += self._release_certain()
        return released

    def flush(self) -> list[Released]:
        """Release everything buffered; the last piece ends with ``Boundary.NONE``."""
        released: list[Released] = []
        for start, end in _paragraphs(self._pending):
            spans, _ = sentence_spans(self._pending[start:end])
            for a, b, kind in spans:
                released.append(self._piece(start + a, start + b, kind))
            if released and spans:
                last = released[-1]
                released[-1] = _with_boundary(last, Boundary.PARAGRAPH)
        if released:
            released[-1] = _with_boundary(released[-1], Boundary.NONE)
        self._advance(len(self._pending), released)
        return released

    def stall_deadline(self) -> float | None:
        """When the stall rule will release text (None: nothing to release, or no stall set)."""
        if self.stall is None or self._last_input is None or self._stall_cut() is None:
            return None
        return self._last_input + self.stall

    def release_stalled(self, now: float) -> list[Released]:
        """If text has not arrived for ``stall`` seconds, release up to the last clause."""
        deadline = self.stall_deadline()
        if deadline is None or now < deadline:
            return []
        cut = self._stall_cut()
        if cut is None:
            return []
        end, kind = cut
        return self._release_head(end, kind)

    def last_clause(self, min_chars: int = 1) -> int | None:
        """Characters of the buffered text up to its last clause boundary (``,`` ``;`` ``:`` or
        a dash, then a space), if the text before it has at least ``min_chars`` non-space
        characters; None otherwise. What ``release_to`` may release at once."""
        ends = [m.end() for m in _CLAUSE.finditer(self._pending)]
        if not ends or len(self._pending[: ends[-1]].strip()) < min_chars:
            return None
        return ends[-1]

    def release_to(self, end: int) -> list[Released]:
        """Release the buffered text up to ``end`` (a ``last_clause``) as one clause, before its
        sentence is complete: a caller whose audio is about to run out."""
        return self._release_head(end, Boundary.CLAUSE)

    # -- the rules --------------------------------------------------------------------------

    def _release_certain(self) -> list[Released]:
        released: list[Released] = []
        text = self._pending
        paragraphs = _paragraphs(text)
        consumed = 0
        for index, (start, end) in enumerate(paragraphs):
            # A paragraph is complete once text after its blank line has arrived (the last one
            # never is): then its last sentence is certain, and ends the paragraph.
            complete = any(text[a:b].strip() for a, b in paragraphs[index + 1 :])
            spans, undecided = sentence_spans(text[start:end], final=complete)
            released += [self._piece(start + a, start + b, kind) for a, b, kind in spans]
            if complete and spans:
                released[-1] = _with_boundary(released[-1], Boundary.PARAGRAPH)
            consumed = start + undecided
            if not complete:
                break
        self._advance(consumed, released)
        return released

    def _release_first_clause(self, chars: int) -> list[Released]:
        head = self._pending.lstrip()
        skipped = len(self._pending) - len(head)
        for m in _CLAUSE.finditer(head):
            if m.end() >= chars:
                return self._release_head(skipped + m.end(), Boundary.CLAUSE)
        return []

    def _release_over_bound(self) -> list[Released]:
        window = self._pending[: self.max_buffered]
        clauses = [m.end() for m in _CLAUSE.finditer(window)]
        if clauses:
            return self._release_head(clauses[-1], Boundary.CLAUSE)
        space = _LAST_SPACE.search(window.rstrip())
        if space and window[: space.start()].strip():
            return self._release_head(space.start(), Boundary.NONE)
        return self._release_head(self.max_buffered, Boundary.NONE)

    def _stall_cut(self) -> tuple[int, Boundary] | None:
        cuts = [(m.end(), Boundary.CLAUSE) for m in _CLAUSE.finditer(self._pending)]
        cuts += [(m.end(), Boundary.SENTENCE) for m in _SENTENCE_END.finditer(self._pending)]
        cuts = [cut for cut in cuts if self._pending[: cut[0]].strip()]
        return max(cuts, key=lambda cut: cut[0]) if cuts else None

    # -- bookkeeping ------------------------------------------------------------------------

    def _release_head(self, end: int, kind: Boundary) -> list[Released]:
        """Release the buffered text up to ``end`` as one piece, whatever its punctuation."""
        head = self._pending[:end]
        start = len(head) - len(head.lstrip())
        stop = len(head.rstrip())
        released = [self._piece(start, stop, kind)] if stop > start else []
        self._advance(end, released)
        return released

    def _piece(self, start: int, end: int, kind: Boundary) -> Released:
        text = " ".join(self._pending[start:end].split())
        return Released(Sentence(text, kind), self._offset + start, self._offset + end)

    def _advance(self, consumed: int, released: list[Released]) -> None:
        self._pending = self._pending[consumed:]
        self._offset += consumed
        self._released_any = self._released_any or bool(released)


def _paragraphs(text: str) -> list[tuple[int, int]]:
    """Start and end of each paragraph of ``text`` (blank lines between them)."""
    bounds: list[tuple[int, int]] = []
    start = 0
    for m in PARAGRAPH_BREAK.finditer(text):
        bounds.append((start, m.start()))
        start = m.end()
    bounds.append((start, len(text)))
    return bounds


def _with_boundary(piece: Released, kind: Boundary) -> Released:
    return Released(Sentence(piece.sentence.text, kind), piece.start, piece.end)
