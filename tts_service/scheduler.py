"""Which worker thread synthesizes which chunk: a queue and a pool of workers.

Every chunk of every stream is a task; a free worker takes the one with the lowest key, as
:mod:`tts_service.policy` orders them. The keys are computed when a worker chooses (a chunk's
urgency changes while it waits), outside the queue's lock.

A task is a chunk, or a chunk's text stage or one of its windows where chunks are rendered in
windows (``tts_service.pipeline.assembly``); "first" below is then a first chunk's text stage and
first window. Urgent workers run at normal priority and take only first chunks; background
workers may run at a lower OS priority (``nice``: where chunks are synthesized whole) and take
everything else (first chunks too, while every urgent worker is busy). So a first chunk starts
at once even while a long-form chunk is running. When a first chunk starts, the window a
background worker is rendering is stopped where the backend can (``preempt``) and queued again,
and while it runs, background workers start no other work: first audio has the cores to itself
(later chunks are rendered in windows while other streams are open:
``tts_service.pipeline.assembly``; a chunk rendered whole runs to its end). All workers share
one model session (docs/performance.md, Preemption at window granularity).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, InvalidStateError
from contextlib import contextmanager
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
    preemptible: bool = False
    """A window: stopped when a first chunk starts, and run again later (``Scheduler.preempt``).
    Its future stays pending while it runs, so that its stream can still cancel it."""
    preempted: bool = False
    """Stopped while running: what it raised is not its result."""

    def key(self, now: float) -> tuple[Key, int]:
        return (first_chunk_key() if self.urgency is None else self.urgency(now), self.seq)


def _settle(
    future: Future[Any], result: Any = None, exception: BaseException | None = None
) -> None:
    """Set a task's outcome, unless it was cancelled while it ran (a window, left pending)."""
    try:
        if exception is not None:
            future.set_exception(exception)
        else:
            future.set_result(result)
    except InvalidStateError:
        pass


def _average(average: float | None, sample: float, weight: float = 0.2) -> float:
    """An exponential moving average; the first sample stands alone."""
    return sample if average is None else average + weight * (sample - average)


def _lower_priority(nice: int) -> None:
    """Lower the calling thread's OS priority (Linux schedules threads individually)."""
    if nice and hasattr(os, "setpriority"):
        try:
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), nice)
        except OSError as exc:  # not allowed here: run at normal priority
            logger.warning(
                "Could not lower the priority of %s: %s", threading.current_thread().name, exc
            )


@dataclass(frozen=True)
class Metered:
    """One task's inference, as ``Scheduler.metered`` measured it."""

    elapsed: float
    """Wall seconds it took."""
    pool_seconds: float
    """Its share of the pool's time: ``elapsed`` while at most ``parallel`` tasks ran, less in
    proportion while more shared the pool. Summed over tasks, the time the pool was busy."""
    alone: bool
    """No other task ran at any moment of it: ``elapsed`` is what it costs on an idle server."""


class Scheduler:
    """A pool of worker threads that always runs the most urgent queued task next.

    It also measures the pool: ``parallel`` is how many inferences run at once without slowing
    each other (the cores over each inference's threads); while more run, they share it."""

    def __init__(
        self,
        workers: int,
        urgent_workers: int = 1,
        background_nice: int = 10,
        parallel: int = 1,
        preempt: Callable[[int], bool] | None = None,
    ) -> None:
        self._preempt = preempt
        """Stops the run on a thread (``Backend.preempt``); None: nothing is stopped."""
        self._running_tasks: dict[int, Task] = {}
        """The task each busy worker runs, by thread."""
        self._tasks: list[Task] = []
        self._cond = threading.Condition()
        self._seq = count()
        self._closed = False
        self._idle_urgent = 0
        self._first_running = 0
        self.parallel = max(1, parallel)
        self._running = 0
        self._starts = 0
        self._clock = 0.0
        """Pool seconds one task has had since the start (grows at min(1, parallel/running))."""
        self._clock_at = time.monotonic()
        self.seconds_per_phoneme = 0.02
        """Running estimate of inference time per phoneme, for deadlines (updated by observe)."""
        self.pool_seconds_per_phoneme: float | None = None
        """Running estimate of the pool's time per phoneme (None until measured): what a
        chunk costs the pool, however many shared it, for admission."""
        self.first_chunk_seconds: float | None = None
        """Running estimate of a first chunk's time on an idle server (None until one ran
        alone): what a listener waits for first audio when nothing is ahead of it."""
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

    def submit(
        self, run: Callable[[], Any], urgency: Urgency | None = None, preemptible: bool = False
    ) -> Future[Any]:
        """Queue ``run``; ``urgency=None`` marks a first chunk, which goes ahead of everything.
        ``preemptible``: ``run`` may be stopped when a first chunk starts (it raises) and is then
        queued again, to run from its start (a window, rendered again whole)."""
        task = Task(run, urgency, next(self._seq), preemptible=preemptible and urgency is not None)
        with self._cond:
            if self._closed:
                raise RuntimeError("scheduler is shut down")
            self._tasks.append(task)
            self._cond.notify_all()
        return task.future

    def observe(self, phonemes: int, seconds: float, metered: Metered | None = None) -> None:
        """Learn how long inference takes per phoneme (exponential moving averages); with a
        task's ``metered`` figures, also what it cost the pool, and, for a first chunk that ran
        alone, what first audio costs on an idle server (see ``observe_first``)."""
        if phonemes > 0:
            self.seconds_per_phoneme += 0.2 * (seconds / phonemes - self.seconds_per_phoneme)
            if metered is not None:
                self.pool_seconds_per_phoneme = _average(
                    self.pool_seconds_per_phoneme, metered.pool_seconds / phonemes
                )

    def observe_first(self, metered: Metered) -> None:
        """Learn a first chunk's time on an idle server from one that ran alone."""
        if metered.alone:
            self.first_chunk_seconds = _average(self.first_chunk_seconds, metered.elapsed)

    def _tick(self) -> None:
        """Advance the pool clock to now (call with the lock held)."""
        now = time.monotonic()
        if self._running:
            self._clock += (now - self._clock_at) * min(1.0, self.parallel / self._running)
        self._clock_at = now

    @contextmanager
    def metered(self) -> Iterator[list[Metered]]:
        """Measure the inference run inside (on a worker, as a task): yields a list that holds
        its ``Metered`` figures afterwards."""
        with self._cond:
            self._tick()
            clock, starts, alone = self._clock, self._starts, self._running <= 1
        started = time.perf_counter()
        result: list[Metered] = []
        yield result
        elapsed = time.perf_counter() - started
        with self._cond:
            self._tick()
            alone = alone and self._starts == starts
            result.append(Metered(elapsed, self._clock - clock, alone))

    def _candidates(self, first_only: bool) -> list[Task]:
        self._tasks = [task for task in self._tasks if not task.future.cancelled()]
        if first_only:
            return [t for t in self._tasks if t.urgency is None]
        if self._first_running:  # first audio runs alone: the rest waits (a window at most)
            return [] if self._idle_urgent else [t for t in self._tasks if t.urgency is None]
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
            if task.preemptible:  # left pending while it runs: cancellable even once stopped
                if not task.future.cancelled():
                    return task
            elif task.future.set_running_or_notify_cancel():
                return task

    def _serve(self, first_only: bool, nice: int) -> None:
        if not first_only:
            _lower_priority(nice)
        while (task := self._next(first_only)) is not None:
            first, thread = task.urgency is None, threading.get_ident()
            with self._cond:
                self._tick()
                self._running += 1
                self._starts += 1
                self._first_running += first
                self._running_tasks[thread] = task
                if first:
                    self._preempt_windows()
            try:
                result = task.run()
            except BaseException as exc:  # noqa: BLE001 - handed to whoever awaits the task
                if not self._stopped(task):
                    _settle(task.future, exception=exc)
            else:
                _settle(task.future, result)
            finally:
                with self._cond:
                    self._tick()
                    self._running -= 1
                    self._first_running -= first
                    del self._running_tasks[thread]
                    if first:
                        self._cond.notify_all()

    def _preempt_windows(self) -> None:
        """Stop the windows running on other workers (a first chunk has started; call with the
        lock held): each is queued again by the worker it ran on."""
        if self._preempt is None:
            return
        for thread, running in self._running_tasks.items():
            if running.preemptible and not running.preempted and self._preempt(thread):
                running.preempted = True

    def _stopped(self, task: Task) -> bool:
        """Whether ``task`` raised because it was stopped for a first chunk: it is then queued
        again (to be run from its start), or dropped if its stream has cancelled it meanwhile."""
        with self._cond:
            if not task.preempted or self._closed:
                return False
            task.preempted = False
            if not task.future.cancelled():
                self._tasks.append(task)
                self._cond.notify_all()
            return True

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
