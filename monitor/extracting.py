"""Extraction of many documents at once, on every core: a pool of worker processes.

trafilatura is pure Python and holds the interpreter's lock, so one process extracts one page at a time. A scan
that finds many new or changed documents hands them to worker processes (``spawn``ed: a service's threads are
never forked), as many as the machine has cores (at most ``MAX_WORKERS``), while the main process keeps the store;
a handful of documents are extracted in the process itself, which costs no start-up. Each document comes back
as its :class:`~monitor.models.Document` or as the reason it could not be used, in the order given: one bad
document is one reason, never the batch. If a worker dies (killed, out of memory), the documents it had not
returned are extracted in the process itself, as before there were workers.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from multiprocessing import get_context

from monitor.errors import LocatedError
from monitor.models import Document, Fetched

#: a batch of fewer documents than this is extracted in the process itself (a worker takes ~0.5 s to start)
PARALLEL_FROM = 8
#: at most this many worker processes
MAX_WORKERS = 4


def cores() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def extract_one(fetched: Fetched) -> Document | str:
    """A document, or why it cannot be used (a reason naming no locator: the caller knows it)."""
    from monitor.extract import extract  # trafilatura is slow to import; only documents need it

    try:
        return extract(fetched)
    except LocatedError as exc:
        return exc.reason
    except Exception as exc:  # noqa: BLE001 - the per-document boundary: one page never stops the run
        return f"unexpected {type(exc).__name__}: {exc}"


class Extractor:
    """Extracts batches of documents, in worker processes when a batch is large enough. Close it (or use it as a
    context manager) to stop the workers."""

    def __init__(self, workers: int | None = None) -> None:
        self.workers = min(MAX_WORKERS, workers if workers is not None else cores())
        self._pool: ProcessPoolExecutor | None = None

    def __enter__(self) -> Extractor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def run(self, batch: Sequence[Fetched]) -> list[Document | str]:
        """Each document of the batch extracted, or the reason it could not be, in order."""
        return self.start(batch)()

    def start(self, batch: Sequence[Fetched]) -> Callable[[], list[Document | str]]:
        """Start extracting a batch; the function returned waits for its results (each document, or the reason it
        could not be used, in order). A large batch is extracted by the workers while the caller goes on (with
        the results of the batch before, say); a small one is extracted by that function, in this process."""
        batch = list(batch)
        if len(batch) < PARALLEL_FROM or self.workers < 2:
            return lambda: [extract_one(fetched) for fetched in batch]
        if self._pool is None:
            self._pool = ProcessPoolExecutor(max_workers=self.workers, mp_context=get_context("spawn"))
        pool = self._pool
        try:
            futures = [pool.submit(extract_one, fetched) for fetched in batch]
        except BrokenProcessPool:
            self._pool = None
            return lambda: [extract_one(fetched) for fetched in batch]

        def collect() -> list[Document | str]:
            results: list[Document | str] = []
            for future in futures:
                try:
                    results.append(future.result())
                except BrokenProcessPool:  # a worker died: the rest here, as without workers; a new pool next time
                    if self._pool is pool:
                        self._pool = None
                    return results + [extract_one(fetched) for fetched in batch[len(results) :]]
            return results

        return collect
