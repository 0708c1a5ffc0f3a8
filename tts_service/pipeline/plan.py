"""The chunk plans a stream takes its chunks from, shared safely by the threads that plan them:
the plan of a whole text (``ChunkPlan``) and the plan of a turn whose text is still arriving
(``FedPlan``). A stream asks either for chunk ``n`` with ``await plan.take_async(n)``."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Protocol

from tts_service import policy
from tts_service.chunking import Chunk, ChunkPlanner
from tts_service.text import Sentence


class Plan(Protocol):
    """What a stream needs of its plan."""

    waits_for_text: bool
    """Whether its text arrives while it is spoken (a chunk may then wait for it)."""

    async def take_async(self, n: int) -> Chunk | None: ...

    @property
    def done(self) -> bool: ...

    @property
    def planned_phonemes(self) -> int: ...

    @property
    def expected_phonemes(self) -> int: ...

    def phonemes(self, n: int) -> int | None: ...

    def close(self) -> None: ...


class _Planned:
    """The bookkeeping both plans share: the planned chunks not yet taken, each one's phonemes,
    and where planning stands."""

    def __init__(self) -> None:
        self._planned: dict[int, Chunk] = {}
        self._phonemes: dict[int, int] = {}
        self._next = 0
        self._planned_total = 0
        self._done = False
        self._closed = False

    def _record(self, chunk: Chunk) -> None:
        self._planned[chunk.index] = chunk
        self._phonemes[chunk.index] = len(chunk.phonemes)
        self._planned_total += len(chunk.phonemes)
        self._next = chunk.index + 1

    @property
    def done(self) -> bool:
        """Whether every chunk is planned: ``planned_phonemes`` is the whole text's."""
        return self._done

    @property
    def planned_phonemes(self) -> int:
        """Phonemes of the chunks planned so far."""
        return self._planned_total

    def phonemes(self, n: int) -> int | None:
        """How many phonemes chunk ``n`` has, or None while it is not planned."""
        return self._phonemes.get(n)


class ChunkPlan(_Planned):
    """Chunks planned (phonemized) only as they are asked for, by whichever thread asks first.

    Chunk ``n`` is handed out once; the plan remembers how many phonemes each planned chunk has,
    for guessing how long its audio is. Closing stops planning: ``take`` then gives None."""

    waits_for_text = False

    def __init__(self, chunks: Iterator[Chunk], expected_phonemes: int = 0) -> None:
        super().__init__()
        self._chunks = chunks
        self._lock = threading.Lock()
        self._expected = expected_phonemes

    def take(self, n: int) -> Chunk | None:
        """The ``n``-th chunk, or None past the end or once closed (blocking: it phonemizes)."""
        with self._lock:
            if self._closed:
                return None
            while self._next <= n and not self._done:
                chunk = next(self._chunks, None)
                if chunk is None:
                    self._done = True
                else:
                    self._record(chunk)
            return self._planned.pop(n, None)

    async def take_async(self, n: int) -> Chunk | None:
        """``take``, on a thread (never on the event loop)."""
        return await asyncio.to_thread(self.take, n)

    @property
    def expected_phonemes(self) -> int:
        """The whole text's phonemes: a guess until every chunk is planned."""
        return self._planned_total if self._done else max(self._planned_total, self._expected)

    def close(self) -> None:
        """Plan nothing more. Never waits for a thread planning now (a plain flag, read under
        the lock by ``take``), so it may be called from the event loop."""
        self._closed = True


class FedPlan(_Planned):
    """A turn's chunks, planned from sentences as they arrive (``push``, on the event loop)
    while the earlier chunks are synthesized. Asked for a chunk, it waits (on the event loop,
    holding no thread) until sentences have arrived, then plans all that have (on a thread) as
    the planner groups them: while synthesis is behind, sentences pile up and go in larger
    chunks; while it keeps up, each goes as soon as it is there. ``end`` says no more will
    come. ``prepare`` turns a sentence's text into what is spoken (markup removed), on the
    planning thread."""

    waits_for_text = True

    def __init__(self, planner: ChunkPlanner, prepare: Callable[[str], str] = str) -> None:
        super().__init__()
        self._planner = planner
        self._prepare = prepare
        self._inbox: list[Sentence] = []
        self._arrived = asyncio.Event()
        self._order = asyncio.Lock()  # chunks are planned in order, one batch at a time
        self._ended = False
        self.waiting_chars = 0
        """Characters of text taken but not yet planned: in the inbox, or still held by the
        caller's sentence buffer (which the caller adds)."""

    def push(self, sentences: Iterable[Sentence]) -> None:
        """Sentences whose text is complete, in order (on the event loop)."""
        added = list(sentences)
        if added and not self._ended:
            self._inbox.extend(added)
            self._arrived.set()

    def end(self) -> None:
        """No more sentences will come."""
        self._ended = True
        self._arrived.set()

    @property
    def ended(self) -> bool:
        return self._ended

    @property
    def inbox_chars(self) -> int:
        """Characters of the sentences pushed and not yet planned."""
        return sum(len(s.text) for s in self._inbox)

    async def take_async(self, n: int) -> Chunk | None:
        """The ``n``-th chunk once its text is there, or None past the end or once closed."""
        async with self._order:
            while self._next <= n and not self._done and not self._closed:
                while not self._inbox and not self._ended and not self._closed:
                    self._arrived.clear()
                    await self._arrived.wait()
                if self._closed:
                    break
                if not self._inbox:  # ended, and everything is planned
                    self._done = True
                    break
                batch, self._inbox = self._inbox, []
                await asyncio.to_thread(self._plan, batch)
            if self._closed:
                return None
            return self._planned.pop(n, None)

    def _plan(self, batch: list[Sentence]) -> None:
        """Plan ``batch`` (on a thread); recorded here, so a cancelled caller loses nothing."""
        spoken = [Sentence(self._prepare(s.text), s.boundary, s.end) for s in batch]
        for chunk in self._planner.chunks(spoken):
            if self._closed:
                return
            self._record(chunk)

    @property
    def expected_phonemes(self) -> int:
        """The phonemes planned, and a guess at those of the text still waiting."""
        waiting = self.inbox_chars + self.waiting_chars
        return self._planned_total + round(waiting * policy.PHONEMES_PER_CHAR)

    def close(self) -> None:
        """Plan nothing more; a stream waiting for text gets None."""
        self._closed = True
        self._inbox.clear()
        self._arrived.set()
