"""Calls from several worker threads merged into one model call where their shapes allow.

A GPU runs one window of audio in about the time it runs several stacked along the batch
dimension, so the windows of several streams that reach the backend at the same time are
rendered together. Nothing waits for company: a call that finds no call of its shape running
runs at once, alone; calls of that shape that arrive while it runs queue, and the first of them
then runs them all in one call (at most ``max_batch``). So a lone stream pays nothing, and under
load every call after the first is batched with the others that came meanwhile.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

_Item = TypeVar("_Item")
_Result = TypeVar("_Result")


@dataclass(eq=False)
class _Call(Generic[_Item, _Result]):
    item: _Item
    woken: threading.Event = field(default_factory=threading.Event)
    leads: bool = False
    """Woken to run the next batch, not with a result."""
    result: _Result | None = None
    error: BaseException | None = None


class Batcher(Generic[_Item, _Result]):
    """``run_many(items)`` for the calls with the same key that queue while one runs."""

    def __init__(
        self, run_many: Callable[[Sequence[_Item]], Sequence[_Result]], max_batch: int
    ) -> None:
        self._run_many = run_many
        self.max_batch = max(1, max_batch)
        self._lock = threading.Lock()
        self._queued: dict[Hashable, list[_Call[_Item, _Result]]] = {}
        """Per key with a batch running: the calls waiting for the next one."""
        self.batches: list[int] = []
        """The size of each batch run, in order (for tests and benchmarks)."""

    def __call__(self, key: Hashable, item: _Item) -> _Result:
        call: _Call[_Item, _Result] = _Call(item)
        with self._lock:
            queued = self._queued.get(key)
            if queued is None:
                self._queued[key] = []
            else:
                queued.append(call)
        if queued is not None:
            call.woken.wait()
            if not call.leads:
                return self._outcome(call)
        self._lead(key, call)
        return self._outcome(call)

    def _lead(self, key: Hashable, call: _Call[_Item, _Result]) -> None:
        """Run ``call`` with the calls queued behind it, then hand the key to the next one."""
        with self._lock:
            queued = self._queued[key]
            batch = [call] + [c for c in queued if c is not call][: self.max_batch - 1]
            self._queued[key] = [c for c in queued if c not in batch]
            self.batches.append(len(batch))
        try:
            results = self._run_many([c.item for c in batch])
            for c, result in zip(batch, results, strict=True):
                c.result = result
        except BaseException as exc:  # noqa: BLE001 - each caller raises it
            for c in batch:
                c.error = exc
        with self._lock:
            waiting = self._queued[key]
            if waiting:
                waiting[0].leads = True
                waiting[0].woken.set()
            else:
                del self._queued[key]
        for c in batch[1:]:
            c.woken.set()

    @staticmethod
    def _outcome(call: _Call[_Item, _Result]) -> _Result:
        if call.error is not None:
            raise call.error
        return call.result  # type: ignore[return-value]
