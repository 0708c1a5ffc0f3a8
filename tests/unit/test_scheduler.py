"""The inference scheduler: most urgent task first, first chunks never wait behind others."""

from __future__ import annotations

import os
import threading
import time
from concurrent.futures import CancelledError, Future

import pytest

from tts_service.policy import Priority
from tts_service.scheduler import Metered, Scheduler


class Gate:
    """A task body that blocks its worker until released, recording that it started."""

    def __init__(self) -> None:
        self.started = threading.Event()
        self.release = threading.Event()

    def __call__(self) -> str:
        self.started.set()
        assert self.release.wait(5)
        return "gate"


@pytest.fixture
def scheduler_factory():
    made: list[Scheduler] = []

    def make(*args: object, **kwargs: object) -> Scheduler:
        scheduler = Scheduler(*args, **kwargs)  # type: ignore[arg-type]
        made.append(scheduler)
        return scheduler

    yield make
    for scheduler in made:
        scheduler.shutdown()


def fixed(kind: Priority, order: float):  # noqa: ANN201
    return lambda now: (kind, order)


def occupy(scheduler: Scheduler) -> Gate:
    """Keep one background worker busy until the returned gate is released."""
    gate = Gate()
    scheduler.submit(gate, fixed(Priority.SPARE, 0))
    assert gate.started.wait(5)
    return gate


def test_a_free_worker_takes_first_chunks_then_at_risk_then_late_then_spare(
    scheduler_factory,
) -> None:
    scheduler = scheduler_factory(workers=1, urgent_workers=0)
    gate = occupy(scheduler)  # the only worker is now busy; queue the rest behind it
    order: list[str] = []
    tasks = [
        ("spare-late-deadline", fixed(Priority.SPARE, 9.0)),
        ("spare", fixed(Priority.SPARE, 1.0)),
        ("late", fixed(Priority.LATE, 5.0)),
        ("late-earlier", fixed(Priority.LATE, 2.0)),
        ("at-risk", fixed(Priority.AT_RISK, 3.0)),
        ("at-risk-less-slack", fixed(Priority.AT_RISK, 0.5)),
        ("first", None),
    ]
    futures = [
        scheduler.submit(lambda name=name: order.append(name), urgency) for name, urgency in tasks
    ]
    gate.release.set()
    for future in futures:
        future.result(5)
    assert order == [
        "first",
        "at-risk-less-slack",
        "at-risk",
        "late-earlier",
        "late",
        "spare",
        "spare-late-deadline",
    ]


def test_urgency_is_asked_when_a_worker_chooses_not_when_the_task_is_queued(
    scheduler_factory,
) -> None:
    scheduler = scheduler_factory(workers=1, urgent_workers=0)
    gate = occupy(scheduler)
    order: list[str] = []
    becomes_urgent = {"kind": Priority.SPARE}
    a = scheduler.submit(lambda: order.append("a"), fixed(Priority.SPARE, 1.0))
    b = scheduler.submit(lambda: order.append("b"), lambda now: (becomes_urgent["kind"], 0.0))
    becomes_urgent["kind"] = Priority.AT_RISK  # e.g. its listener's buffer ran low while it waited
    gate.release.set()
    a.result(5), b.result(5)
    assert order == ["b", "a"]


def test_a_first_chunk_starts_at_once_when_every_background_worker_is_busy(
    scheduler_factory,
) -> None:
    scheduler = scheduler_factory(workers=2, urgent_workers=1)
    gates = [Gate(), Gate()]
    for gate in gates:
        scheduler.submit(gate, fixed(Priority.SPARE, 0))
    assert all(gate.started.wait(5) for gate in gates)
    try:
        first = scheduler.submit(lambda: threading.current_thread().name)
        assert first.result(5).startswith("inference-first")
        # A later chunk is not taken by the urgent worker: it waits for a background worker.
        later = scheduler.submit(lambda: "later", fixed(Priority.AT_RISK, 0))
        time.sleep(0.1)
        assert not later.done()
    finally:
        for gate in gates:
            gate.release.set()
    assert later.result(5) == "later"


def test_background_workers_start_nothing_else_while_a_first_chunk_runs(
    scheduler_factory,
) -> None:
    """First audio runs alone: a later chunk queued while a first chunk runs waits for it
    (what runs already, a window at most, goes on), then starts."""
    scheduler = scheduler_factory(workers=1, urgent_workers=1)
    first = Gate()
    scheduler.submit(first)
    assert first.started.wait(5)
    try:
        later = scheduler.submit(lambda: "later", fixed(Priority.AT_RISK, 0))
        time.sleep(0.2)
        assert not later.done()
        second_first = scheduler.submit(lambda: threading.current_thread().name)
        # The urgent worker is busy: the background worker takes the next first chunk.
        assert second_first.result(5) == "inference-0"
        assert not later.done()
    finally:
        first.release.set()
    assert later.result(5) == "later"


class Stoppable:
    """A window's body: its first run blocks until stopped (``preempt`` on its thread) and
    raises; later runs return at once. Records the threads it ran on."""

    def __init__(self) -> None:
        self.started = threading.Event()
        self.stopped: set[int] = set()
        self.runs: list[int] = []
        self.lock = threading.Lock()

    def preempt(self, thread: int) -> bool:
        with self.lock:
            self.stopped.add(thread)
        return True

    def __call__(self) -> str:
        thread = threading.get_ident()
        self.runs.append(thread)
        if len(self.runs) == 1:
            self.started.set()
            deadline = time.monotonic() + 5
            while thread not in self.stopped and time.monotonic() < deadline:
                time.sleep(0.005)
            raise RuntimeError("stopped")
        return "window"


def window_then_first(scheduler_factory, window: Stoppable) -> tuple[Scheduler, Future, Gate]:  # noqa: ANN001
    """A scheduler whose background worker renders ``window`` when a first chunk (the gate,
    held until released) starts on the urgent worker; the window's future."""
    scheduler = scheduler_factory(workers=1, urgent_workers=1, preempt=window.preempt)
    result = scheduler.submit(window, fixed(Priority.SPARE, 0), preemptible=True)
    assert window.started.wait(5)
    first = Gate()
    scheduler.submit(first)
    assert first.started.wait(5)
    return scheduler, result, first


def test_a_first_chunk_stops_a_running_window_which_runs_again_after_it(scheduler_factory) -> None:
    window = Stoppable()
    _, result, first = window_then_first(scheduler_factory, window)
    time.sleep(0.2)
    # Stopped, and queued again: not run while the first chunk runs, not failed.
    assert len(window.runs) == 1 and not result.done()
    first.release.set()
    assert result.result(5) == "window"
    assert len(window.runs) == 2 and len(window.stopped) == 1


def test_work_not_marked_preemptible_runs_on_beside_a_first_chunk(scheduler_factory) -> None:
    calls: list[int] = []
    scheduler = scheduler_factory(workers=1, urgent_workers=1, preempt=lambda t: calls.append(t))
    chunk = Gate()
    scheduler.submit(chunk, fixed(Priority.SPARE, 0))
    assert chunk.started.wait(5)
    assert scheduler.submit(lambda: "first").result(5) == "first"
    chunk.release.set()
    assert calls == []


def stopped_and_queued_again(scheduler: Scheduler) -> None:
    deadline = time.monotonic() + 5
    while scheduler.queued == 0:
        assert time.monotonic() < deadline
        time.sleep(0.01)


def test_shutdown_cancels_a_stopped_window_queued_again_rather_than_leave_it_waiting(
    scheduler_factory,
) -> None:
    scheduler, result, first = window_then_first(scheduler_factory, Stoppable())
    stopped_and_queued_again(scheduler)
    scheduler.shutdown()
    first.release.set()
    with pytest.raises(CancelledError):
        result.result(5)


def test_a_stopped_window_whose_stream_cancels_it_is_not_rendered_again(
    scheduler_factory,
) -> None:
    window = Stoppable()
    scheduler, result, first = window_then_first(scheduler_factory, window)
    stopped_and_queued_again(scheduler)
    assert result.cancel()  # the stream closed: its windows are cancelled
    first.release.set()
    assert scheduler.submit(lambda: "next", fixed(Priority.SPARE, 0)).result(5) == "next"
    assert len(window.runs) == 1 and scheduler.queued == 0


@pytest.mark.skipif(not hasattr(os, "getpriority"), reason="no per-thread priorities here")
def test_background_workers_run_at_lower_os_priority_than_first_chunk_workers(
    scheduler_factory,
) -> None:
    scheduler = scheduler_factory(workers=1, urgent_workers=1, background_nice=7)

    def niceness() -> int:
        return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    base = os.getpriority(os.PRIO_PROCESS, 0)
    gate = occupy(scheduler)  # keeps the background worker busy
    assert scheduler.submit(niceness).result(5) == base  # ran on the urgent worker
    gate.release.set()
    assert scheduler.submit(niceness, fixed(Priority.SPARE, 0)).result(5) == min(base + 7, 19)


def test_cancelled_tasks_never_run_and_failures_reach_the_caller(scheduler_factory) -> None:
    scheduler = scheduler_factory(workers=1, urgent_workers=0)
    gate = occupy(scheduler)
    ran: list[str] = []
    cancelled = scheduler.submit(lambda: ran.append("cancelled"), fixed(Priority.AT_RISK, 0))
    assert cancelled.cancel()
    assert scheduler.queued == 0

    def boom() -> None:
        raise ValueError("model failed")

    failing = scheduler.submit(boom, fixed(Priority.SPARE, 0))
    gate.release.set()
    with pytest.raises(ValueError, match="model failed"):
        failing.result(5)
    with pytest.raises(CancelledError):
        cancelled.result(0)
    assert ran == []


def test_shutdown_cancels_queued_tasks_and_refuses_new_ones(scheduler_factory) -> None:
    scheduler = scheduler_factory(workers=1, urgent_workers=0)
    gate = occupy(scheduler)
    queued = scheduler.submit(lambda: "never", fixed(Priority.SPARE, 0))
    scheduler.shutdown()
    gate.release.set()
    assert queued.cancelled()
    with pytest.raises(RuntimeError):
        scheduler.submit(lambda: "late")


def test_observe_learns_seconds_per_phoneme() -> None:
    scheduler = Scheduler(workers=1, urgent_workers=0)
    try:
        for _ in range(40):
            scheduler.observe(100, 3.0)
        assert scheduler.seconds_per_phoneme == pytest.approx(0.03, rel=0.01)
    finally:
        scheduler.shutdown()


def test_an_idle_urgent_worker_takes_first_chunks_even_when_background_workers_are_idle(
    scheduler_factory,
) -> None:
    """The background worker runs at a lower OS priority, so a first chunk there would lose the
    CPU to whatever else starts running; it is left to the urgent worker."""
    scheduler = scheduler_factory(workers=1, urgent_workers=1)
    deadline = time.monotonic() + 5
    while scheduler._idle_urgent == 0 and time.monotonic() < deadline:
        time.sleep(0.01)  # the urgent worker has not reached its idle wait yet
    names = {scheduler.submit(lambda: threading.current_thread().name).result(5) for _ in range(5)}
    assert names == {"inference-first-0"}


def metered_sleep(scheduler: Scheduler, seconds: float, started: threading.Event | None = None):  # noqa: ANN201
    """A task that sleeps ``seconds`` under ``scheduler.metered`` and returns its figures."""

    def run():  # noqa: ANN202
        with scheduler.metered() as figures:
            if started is not None:
                started.set()
            time.sleep(seconds)
        return figures[0]

    return run


@pytest.mark.parametrize("parallel", [1, 2])
def test_tasks_sharing_the_pool_are_charged_their_share_of_its_time(
    scheduler_factory, parallel: int
) -> None:
    """Admission needs what the pool can do, not how long each chunk took: two chunks that ran
    together on a pool of one each took twice as long, yet the pool was busy only once."""
    scheduler = scheduler_factory(workers=1, urgent_workers=1, parallel=parallel)
    alone = scheduler.submit(metered_sleep(scheduler, 0.2)).result(5)
    started = threading.Event()
    long = scheduler.submit(metered_sleep(scheduler, 0.6, started), fixed(Priority.SPARE, 0))
    assert started.wait(5)
    short = scheduler.submit(metered_sleep(scheduler, 0.3)).result(5)  # runs beside it
    long_figures = long.result(5)
    assert alone.alone and not short.alone and not long_figures.alone
    assert alone.pool_seconds == pytest.approx(alone.elapsed, rel=0.05)
    share = min(1.0, parallel / 2)  # two ran at once
    assert short.pool_seconds == pytest.approx(short.elapsed * share, rel=0.1)
    # Summed, the pool's busy time: one inference while the long one ran alone, min(2,
    # parallel) while both ran.
    busy = long_figures.pool_seconds + short.pool_seconds
    overlap = short.elapsed * (min(2, parallel) - 1)
    assert busy == pytest.approx(long_figures.elapsed + overlap, rel=0.1)


def test_observe_learns_the_pool_time_per_phoneme_and_an_idle_first_chunk() -> None:
    scheduler = Scheduler(workers=1, urgent_workers=0)
    try:
        assert scheduler.pool_seconds_per_phoneme is None and scheduler.first_chunk_seconds is None
        scheduler.observe(100, 3.0, Metered(elapsed=3.0, pool_seconds=1.5, alone=False))
        assert scheduler.pool_seconds_per_phoneme == pytest.approx(0.015)  # the first sample
        scheduler.observe_first(Metered(elapsed=3.0, pool_seconds=1.5, alone=False))
        assert scheduler.first_chunk_seconds is None  # slowed by another: not an idle figure
        scheduler.observe_first(Metered(elapsed=0.5, pool_seconds=0.5, alone=True))
        assert scheduler.first_chunk_seconds == pytest.approx(0.5)
    finally:
        scheduler.shutdown()
