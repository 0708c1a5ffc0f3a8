"""Calls of one shape from several threads merged into one model call (``Batcher``)."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import pytest

from tts_service.backends.batching import Batcher


class Model:
    """``run_many`` that records each batch; the first one blocks until released."""

    def __init__(self, fail_on: int | None = None) -> None:
        self.calls: list[list[int]] = []
        self.running = threading.Event()
        self.release = threading.Event()
        self.fail_on = fail_on

    def __call__(self, items: Sequence[int]) -> list[int]:
        self.calls.append(list(items))
        if len(self.calls) == 1:
            self.running.set()
            assert self.release.wait(5)
        if self.fail_on in items:
            raise RuntimeError(f"failed on {self.fail_on}")
        return [item * 10 for item in items]


def queued(batcher: Batcher, key: object, count: int) -> None:
    deadline = time.monotonic() + 5
    while len(batcher._queued.get(key, [])) < count:
        assert time.monotonic() < deadline
        time.sleep(0.005)


def test_a_lone_call_runs_at_once_by_itself() -> None:
    model = Model()
    model.release.set()
    batcher = Batcher(model, max_batch=4)
    assert batcher("k", 1) == 10
    assert batcher("k", 2) == 20
    assert model.calls == [[1], [2]]


def four_calls_three_queued_behind_the_first(max_batch: int) -> tuple[Model, Batcher, list[int]]:
    """Call 1 runs alone; 2, 3 and 4 arrive while it runs. The model, the batcher, the results."""
    model = Model()
    batcher = Batcher(model, max_batch=max_batch)
    with ThreadPoolExecutor(4) as pool:
        first = pool.submit(batcher, "k", 1)
        assert model.running.wait(5)
        rest = [pool.submit(batcher, "k", n) for n in (2, 3, 4)]
        queued(batcher, "k", 3)
        model.release.set()
        return model, batcher, [f.result(5) for f in (first, *rest)]


def test_calls_that_arrive_while_one_runs_go_together_in_the_next_call() -> None:
    model, batcher, results = four_calls_three_queued_behind_the_first(max_batch=4)
    assert results == [10, 20, 30, 40]
    assert model.calls == [[1], [2, 3, 4]]
    assert batcher.batches == [1, 3]


def test_a_batch_holds_at_most_max_batch_calls() -> None:
    model, batcher, results = four_calls_three_queued_behind_the_first(max_batch=2)
    assert results == [10, 20, 30, 40]
    assert batcher.batches == [1, 2, 1]
    assert sorted(n for call in model.calls for n in call) == [1, 2, 3, 4]


def test_calls_of_another_shape_do_not_wait_for_a_running_batch() -> None:
    model = Model()
    batcher = Batcher(model, max_batch=4)
    with ThreadPoolExecutor(2) as pool:
        first = pool.submit(batcher, "long", 1)
        assert model.running.wait(5)
        assert pool.submit(batcher, "short", 2).result(5) == 20  # while "long" still runs
        model.release.set()
        assert first.result(5) == 10


def test_a_failed_batch_raises_in_each_of_its_callers_and_the_next_batch_runs() -> None:
    model = Model(fail_on=3)
    batcher = Batcher(model, max_batch=2)
    with ThreadPoolExecutor(4) as pool:
        first = pool.submit(batcher, "k", 1)
        assert model.running.wait(5)
        second = pool.submit(batcher, "k", 2)
        queued(batcher, "k", 1)
        third = pool.submit(batcher, "k", 3)
        queued(batcher, "k", 2)
        fourth = pool.submit(batcher, "k", 4)
        queued(batcher, "k", 3)
        model.release.set()
        assert first.result(5) == 10
        for failed in (second, third):
            with pytest.raises(RuntimeError, match="failed on 3"):
                failed.result(5)
        assert fourth.result(5) == 40
    assert model.calls == [[1], [2, 3], [4]]
