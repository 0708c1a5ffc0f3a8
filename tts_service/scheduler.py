"""Which worker thread synthesizes which chunk: a queue and a pool of workers.

Every chunk of every stream is a task; a free worker takes the one with the lowest key, as
:mod:`tts_service.policy` orders them. The keys are computed when a worker chooses (a chunk's
urgency changes while it waits), outside the queue's lock.

Urgent workers run at normal priority and take only first chunks; background workers run at a
lower OS priority (``nice``) and take everything else (first chunks too, while every urgent
worker is busy). So a first chunk starts at once even while a long-form chunk is running, and
the operating system gives it the CPU: a chunk cannot be interrupted once the model runs, but
its thread can be out-prioritized. All workers share one model session (what this costs a first
chunk is measured in docs/performance.md, Under load).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from itertools import count
from typing import Any

from tts_service.policy import Key, first_chunk_key

logger = logging.getLogger(__name__)

Urgency = Callable[[float], Key]
"""Given ``time.monotonic()``, a task's priority (AT_RISK, LATE, SPARE) and its order within it."""


@dataclass(eq=False)
class Task:
    run: Callable[[], Any]
    urgency: Urgency | None
    """None for a first chunk; otherwise asked each time a worker chooses."""
    seq: int
    future: Future[Any] = field(default_factory=Future)

    def key(self, now: float) -> tuple[Key, int]:
        return (first_chunk_key() if self.urgency is None else self.urgency(now), self.seq)


def _lower_priority(nice: int) -> None:
    """Lower the calling thread's OS priority (Linux schedules threads individually)."""
    if nice and hasattr(os, "setpriority"):
        try:
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), nice)
        except OSError as exc:  # not allowed here: run at normal priority
            logger.warning(
                "Could not lower the priority of %s: %s", threading.current_thread().name, exc
            )


class Scheduler:
    """A pool of worker threads that always runs the most urgent queued task next."""

    def __init__(
        self,
        workers: int,
        urgent_workers: int = 1,
        background_nice: int = 10,
    ) -> None:
        self._tasks: list[Task] = []
        self._cond = threading.Condition()
        self._seq = count()
        self._closed = False
        self._idle_urgent = 0
        self.seconds_per_phoneme = 0.02
        """Running estimate of inference time per phoneme, for deadlines (updated by observe)."""
        self._threads = [
            threading.Thread(
                target=self._serve,
                args=(False, background_nice),
                name=f"inference-{n}",
                daemon=True,
            )
            for n in range(workers)
        ] + [
            threading.Thread(
                target=self._serve, args=(True, 0), name=f"inference-first-{n}", daemon=True
            )
            for n in range(urgent_workers)
        ]
        for thread in self._threads:
            thread.start()

    @property
    def queued(self) -> int:
        with self._cond:
            return sum(not task.future.cancelled() for task in self._tasks)

    def submit(self, run: Callable[[], Any], urgency: Urgency | None = None) -> Future[Any]:
        """Queue ``run``; ``urgency=None`` marks a first chunk, which goes ahead of everything."""
        task = Task(run, urgency, next(self._seq))
        with self._cond:
            if self._closed:
                raise RuntimeError("scheduler is shut down")
            self._tasks.append(task)
            self._cond.notify_all()
        return task.future

    def observe(self, phonemes: int, seconds: float) -> None:
        """Learn how long inference takes per phoneme (exponential moving average)."""
        if phonemes > 0:
            self.seconds_per_phoneme += 0.2 * (seconds / phonemes - self.seconds_per_phoneme)

    def _candidates(self, first_only: bool) -> list[Task]:
        self._tasks = [task for task in self._tasks if not task.future.cancelled()]
        if first_only:
            return [t for t in self._tasks if t.urgency is None]
        if self._idle_urgent:  # first chunks are left to the idle urgent workers
            return [t for t in self._tasks if t.urgency is not None]
        return list(self._tasks)

    def _next(self, first_only: bool) -> Task | None:
        while True:
            with self._cond:
                while True:
                    if self._closed:
                        return None
                    if candidates := self._candidates(first_only):
                        break
                    self._idle_urgent += first_only
                    self._cond.wait()
                    self._idle_urgent -= first_only
            now = time.monotonic()  # the urgencies are asked without holding the lock
            task = min(candidates, key=lambda t: t.key(now))
            with self._cond:
                if self._closed:
                    return None
                if task not in self._tasks:  # another worker took it meanwhile: choose again
                    continue
                self._tasks.remove(task)
            if task.future.set_running_or_notify_cancel():
                return task

    def _serve(self, first_only: bool, nice: int) -> None:
        if not first_only:
            _lower_priority(nice)
        while (task := self._next(first_only)) is not None:
            try:
                result = task.run()
            except BaseException as exc:  # noqa: BLE001 - handed to whoever awaits the task
                task.future.set_exception(exc)
            else:
                task.future.set_result(result)

    def shutdown(self, wait: float | None = 0.0) -> None:
        """Stop taking tasks and cancel the queued ones; running ones finish, and ``wait`` is
        how many seconds to wait for them (None: until they end; the process must not exit
        while one runs: onnxruntime aborts the process when the interpreter is torn down under a
        running inference)."""
        with self._cond:
            self._closed = True
            for task in self._tasks:
                task.future.cancel()
            self._tasks.clear()
            self._cond.notify_all()
        if wait is None:
            for thread in self._threads:
                thread.join()
            return
        deadline = time.monotonic() + wait
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
            if thread.is_alive() and wait:
                logger.warning("%s still running at shutdown", thread.name)
