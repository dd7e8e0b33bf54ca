"""Worker processes that can be stopped one at a time: a task past its time budget, or abandoned, stops the worker
doing it, and a worker that dies (killed, out of memory) is replaced, whatever the moment.

Why not a library pool: ``concurrent.futures.ProcessPoolExecutor`` cannot stop one task, and any death breaks the
whole pool; pebble's pool stops one task, but its workers share a pipe behind a lock that an idle worker holds
while it waits, so killing an idle worker from outside (the kernel's OOM killer, an operator) left the pool hung
for good (seen in this project's tests). Here each worker has a pipe of its own and shares no lock with the
others: one thread of the parent process hands tasks to idle workers, waits on their pipes, their process
sentinels and the next deadline, and settles each task's future.

A task is ``function(argument)`` run in a ``spawn``ed worker (a service's threads are never forked). The worker runs
``warm(warm_argument)`` first, and only then takes tasks: the budget counts the task's own time, not the worker's
imports. A task whose worker dies is run once more in a new worker; if that one dies too, the task's result is
:class:`Died`. Results are whatever ``function`` returns (it should not raise: a task's error is a value).
"""

from __future__ import annotations

import contextlib
import queue
import signal
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, InvalidStateError
from dataclasses import dataclass
from multiprocessing import get_context
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from typing import Any

#: a worker that dies before it is ready this many times in a row: the pool gives up, failing what waits
START_FAILURES = 3
#: how long a worker asked to leave (its pipe closed) has before it is killed
LEAVE_SECONDS = 2.0


@dataclass(frozen=True)
class Stopped:
    """A task's result when it was stopped: past its budget (``seconds``), or abandoned (``seconds`` None)."""

    seconds: float | None


@dataclass(frozen=True)
class Died:
    """A task's result when the workers running it died: how the last one ended (a signal's name, or an exit code)."""

    how: str


@dataclass(eq=False)
class _Task:
    argument: Any
    future: Future[Any]
    tries: int = 0


@dataclass(eq=False)
class _Worker:
    process: BaseProcess
    connection: Connection
    ready: bool = False
    task: _Task | None = None
    #: when its task is past the budget (monotonic seconds)
    deadline: float = 0.0


def _serve(connection: Connection, function: Callable[[Any], Any], warm: Callable[[Any], None] | None,
           warm_argument: Any) -> None:
    """A worker: warm up, say it is ready, then run each task sent until the pipe closes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's: it stops the workers
    if warm is not None:
        with contextlib.suppress(Exception):
            warm(warm_argument)
    connection.send(None)
    while True:
        try:
            argument = connection.recv()
        except (EOFError, OSError):
            return
        result = function(argument)
        try:
            connection.send(result)
        except Exception as exc:  # noqa: BLE001 - a result that cannot be sent is the task's error, not the worker's
            connection.send(f"unexpected {type(exc).__name__}: {exc}")


class Pool:
    """``size`` workers running ``function``, at most ``budget`` seconds a task. Close it to stop them."""

    def __init__(self, size: int, function: Callable[[Any], Any], budget: float,
                 warm: Callable[[Any], None] | None = None, warm_argument: Any = None) -> None:
        self._size, self._function, self._budget = max(1, size), function, budget
        self._warm, self._warm_argument = warm, warm_argument
        self._context = get_context("spawn")
        self._incoming: queue.SimpleQueue[_Task] = queue.SimpleQueue()
        self._wake_read, self._wake_write = socket.socketpair()  # closed, a socket refuses; a bare fd could be reused
        self._wake_write.setblocking(False)  # a full buffer already wakes the thread
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="extraction workers", daemon=True)
        self._thread.start()

    def submit(self, argument: Any) -> Future[Any]:
        """Run ``function(argument)`` in a worker; its future's result (never an exception) is what it returned,
        or :class:`Stopped`, or :class:`Died`. Cancelling the future gives the task up, even while it runs: its
        worker is stopped."""
        future: Future[Any] = Future()
        self._incoming.put(_Task(argument, future))
        future.add_done_callback(lambda _: self._wake())  # cancelled: the thread stops its worker
        self._wake()
        return future

    def close(self) -> None:
        """Stop every worker; tasks not done are settled as abandoned."""
        if not self._closed:
            self._closed = True
            self._wake()
            self._thread.join()
            self._wake_read.close()
            self._wake_write.close()

    def _wake(self) -> None:
        with contextlib.suppress(OSError):
            self._wake_write.send(b".")

    # --- the thread ---------------------------------------------------------------------------------------------

    def _run(self) -> None:
        workers: list[_Worker] = []
        waiting: deque[_Task] = deque()
        start_failures = 0
        try:
            while not self._closed:
                while True:  # what came in
                    try:
                        waiting.append(self._incoming.get_nowait())
                    except queue.Empty:
                        break
                for task in [t for t in waiting if t.future.cancelled()]:
                    waiting.remove(task)
                for worker in [w for w in workers if w.task is not None and w.task.future.cancelled()]:
                    self._stop(worker, workers)  # given up while it ran
                if start_failures >= START_FAILURES:
                    while waiting:
                        _settle(waiting.popleft(), Died(f"the workers cannot start ({START_FAILURES} died starting)"))
                busy = sum(1 for w in workers if w.task is not None)
                while waiting and len(workers) < min(self._size, busy + len(waiting)):
                    workers.append(self._start())
                for worker in list(workers):  # hand out tasks (a worker found dead on the way is dropped)
                    if worker.ready and worker.task is None and waiting:
                        self._hand(worker, waiting.popleft(), workers, waiting)
                now = time.monotonic()
                deadlines = [w.deadline for w in workers if w.task is not None]
                timeout = max(0.0, min(deadlines) - now) if deadlines else None
                watched: list[Any] = [self._wake_read]
                for worker in workers:
                    watched += [worker.connection, worker.process.sentinel]
                ready = set(wait(watched, timeout))
                if self._wake_read in ready:
                    self._wake_read.recv(4096)
                now = time.monotonic()
                for worker in list(workers):
                    if worker.connection in ready:
                        try:
                            message = worker.connection.recv()
                        except (EOFError, OSError):
                            start_failures += self._died(worker, workers, waiting)
                            continue
                        if not worker.ready:
                            worker.ready, start_failures = True, 0
                        elif worker.task is not None:
                            task, worker.task = worker.task, None
                            _settle(task, message)
                    elif worker.process.sentinel in ready:
                        start_failures += self._died(worker, workers, waiting)
                    elif worker.task is not None and now >= worker.deadline:
                        _settle(worker.task, Stopped(self._budget))
                        self._stop(worker, workers)
        finally:
            for worker in list(workers):
                if worker.task is not None:
                    _settle(worker.task, Stopped(None))
                self._stop(worker, workers, leave=True)
            while waiting:
                _settle(waiting.popleft(), Stopped(None))
            while True:
                try:
                    _settle(self._incoming.get_nowait(), Stopped(None))
                except queue.Empty:
                    break

    def _start(self) -> _Worker:
        parent, child = self._context.Pipe()
        process = self._context.Process(
            target=_serve, args=(child, self._function, self._warm, self._warm_argument), daemon=True,
            name="corpus-monitor extraction",
        )
        process.start()
        child.close()
        return _Worker(process, parent)

    def _hand(self, worker: _Worker, task: _Task, workers: list[_Worker], waiting: deque[_Task]) -> None:
        task.tries += 1
        worker.task, worker.deadline = task, time.monotonic() + self._budget
        try:
            worker.connection.send(task.argument)
        except OSError:  # the worker died just now: the task is tried as if it died in it
            self._died(worker, workers, waiting)

    def _died(self, worker: _Worker, workers: list[_Worker], waiting: deque[_Task]) -> int:
        """A worker died: its task is run again (once), or settled. 1 if it died before it was ready."""
        self._stop(worker, workers)
        task = worker.task
        if task is not None:
            if task.tries < 2:
                waiting.appendleft(task)
            else:
                _settle(task, Died(_how(worker.process)))
        return 0 if worker.ready else 1

    def _stop(self, worker: _Worker, workers: list[_Worker], leave: bool = False) -> None:
        """Stop a worker (kill it; with ``leave``, let it finish its loop first) and forget it."""
        if worker in workers:
            workers.remove(worker)
        worker.connection.close()
        if leave and worker.task is None:
            worker.process.join(LEAVE_SECONDS)
        if worker.process.is_alive():
            worker.process.kill()
        worker.process.join()


def _settle(task: _Task, result: Any) -> None:
    with contextlib.suppress(InvalidStateError):  # cancelled meanwhile: it stays so
        task.future.set_result(result)


def _how(process: BaseProcess) -> str:
    """How a worker ended: a signal by name (SIGKILL: often the kernel, out of memory), or its exit code."""
    code = process.exitcode
    if code is not None and code < 0:
        with contextlib.suppress(ValueError):
            return signal.Signals(-code).name
    return f"exit code {code}"
