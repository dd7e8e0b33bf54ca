"""The worker pool behind extraction (monitor/workers.py): a task past its budget stops its worker, a worker killed
at any moment (idle or busy) is replaced and its task run once more, a task given up stops its worker, and closing
the pool settles what was left. Real spawned processes, killed with real signals."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from monitor.workers import Died, Pool, Stopped


def task(argument: tuple[Any, ...]) -> Any:
    """What the tests ask of a worker."""
    kind = argument[0]
    if kind == "pid":
        return os.getpid()
    if kind == "sleep":
        time.sleep(argument[1])
        return "slept"
    if kind == "die":
        os.kill(os.getpid(), signal.SIGKILL)
    return argument[1]


@contextmanager
def pool(size: int, budget: float = 60.0) -> Iterator[Pool]:
    workers = Pool(size, task, budget)
    try:
        yield workers
    finally:
        workers.close()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_a_killed_idle_worker_is_replaced_and_the_pool_goes_on() -> None:
    """The pebble pool this replaced hung for good when an idle worker was killed (it held a shared lock)."""
    with pool(2) as workers:
        pids = {workers.submit(("pid",)).result(timeout=60) for _ in range(6)}
        for pid in pids:
            os.kill(pid, signal.SIGKILL)
        results = [workers.submit(("echo", n)) for n in range(8)]
        assert [f.result(timeout=60) for f in results] == list(range(8))
        assert not pids & {workers.submit(("pid",)).result(timeout=60) for _ in range(4)}


def test_a_worker_killed_while_it_works_costs_its_task_one_more_try() -> None:
    with pool(1) as workers:
        pid = workers.submit(("pid",)).result(timeout=60)
        running = workers.submit(("sleep", 1.0))
        time.sleep(0.3)
        os.kill(pid, signal.SIGKILL)
        assert running.result(timeout=60) == "slept"


def test_a_task_that_kills_every_worker_it_runs_in_is_reported_dead_and_the_rest_done() -> None:
    with pool(2) as workers:
        deadly = workers.submit(("die",))
        others = [workers.submit(("echo", n)) for n in range(4)]
        assert deadly.result(timeout=60) == Died("SIGKILL")
        assert [f.result(timeout=60) for f in others] == list(range(4))


def test_a_task_past_its_budget_is_stopped_with_its_worker() -> None:
    with pool(1, budget=1.0) as workers:
        pid = workers.submit(("pid",)).result(timeout=60)
        assert workers.submit(("sleep", 30)).result(timeout=60) == Stopped(1.0)
        assert workers.submit(("echo", "next")).result(timeout=60) == "next"
        assert not _alive(pid)


def test_a_task_given_up_while_it_runs_stops_its_worker() -> None:
    with pool(1) as workers:
        pid = workers.submit(("pid",)).result(timeout=60)
        running = workers.submit(("sleep", 30))
        time.sleep(0.5)
        assert running.cancel()
        for _ in range(100):
            if not _alive(pid):
                break
            time.sleep(0.05)
        assert not _alive(pid)
        assert workers.submit(("echo", 1)).result(timeout=60) == 1


def test_closing_settles_what_was_left() -> None:
    workers = Pool(1, task, 60.0)
    first = workers.submit(("sleep", 30))
    second = workers.submit(("echo", 2))
    time.sleep(0.5)
    workers.close()
    assert first.result(timeout=1) == Stopped(None)
    assert second.result(timeout=1) == Stopped(None)
