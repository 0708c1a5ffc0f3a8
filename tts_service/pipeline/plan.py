"""The lazy chunk plan, shared by the worker threads that synthesize a stream's chunks."""

from __future__ import annotations

import threading
from collections.abc import Iterator

from tts_service.chunking import Chunk


class ChunkPlan:
    """Chunks planned (phonemized) only as they are asked for, by whichever thread asks first.

    Chunk ``n`` is handed out once; the plan remembers how many phonemes each planned chunk has,
    for guessing how long its audio is. Closing stops planning: ``take`` then gives None."""

    def __init__(self, chunks: Iterator[Chunk]) -> None:
        self._chunks = chunks
        self._lock = threading.Lock()
        self._planned: dict[int, Chunk] = {}
        self._phonemes: dict[int, int] = {}
        self._next = 0
        self._planned_total = 0
        self._done = False
        self._closed = False

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
                    self._planned[self._next] = chunk
                    self._phonemes[self._next] = len(chunk.phonemes)
                    self._planned_total += len(chunk.phonemes)
                    self._next += 1
            return self._planned.pop(n, None)

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

    def close(self) -> None:
        """Plan nothing more. Never waits for a thread planning now (a plain flag, read under
        the lock by ``take``), so it may be called from the event loop."""
        self._closed = True
