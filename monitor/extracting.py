"""Extraction of many documents at once, on every core: a pool of worker processes.

trafilatura is pure Python and holds the interpreter's lock, so one process extracts one page at a time. A scan
that finds many new or changed documents hands them to worker processes (``spawn``ed: a service's threads are
never forked), as many as the machine has cores (at most ``MAX_WORKERS``), while the main process keeps the store;
a handful of small documents are extracted in the process itself, which costs no start-up (unless the workers are
already running: a scan's last few files go to them, and the process never loads trafilatura). Each document comes back
as its :class:`~monitor.models.Document` or as the reason it could not be used, in the order given: one bad
document is one reason, never the batch. Workers are run by :class:`monitor.workers.Pool`, which stops the one
worker whose document takes longer than the time budget (no page holds a scan, or the service, longer than that),
and replaces a worker that dies, whenever it dies.

Given a :class:`Recipe` (the main process's normalization settings), a worker also takes each document on to its
claims and their sketches (:class:`Prepared`): splitting, OpenCC and the canonical form are pure work on the
text, and done there they leave the main process only the comparison with the store. A claim the store already
holds word for word (its fingerprint is there, as a read-only look at the store shows) gets no sketch: reprints
are most of what a scan reads, and only the claims with no exact match are compared further. A document extracted in
the process itself is left to the main process's own tools, as before there were workers.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import sqlite3
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from functools import lru_cache, partial
from pathlib import Path
from typing import TYPE_CHECKING

from monitor.errors import LocatedError
from monitor.models import Claim, Document, Dropped, Fetched, Sketch
from monitor.workers import Died, Pool, Stopped

if TYPE_CHECKING:
    from monitor.canon import Canon
    from monitor.normalize import Normalizer

#: a batch of fewer documents than this is extracted in the process itself (a worker takes ~0.5 s to start)
PARALLEL_FROM = 8
#: at most this many worker processes
MAX_WORKERS = 4
#: no document takes longer than this to extract, by default (``[extract] time_budget_seconds``)
BUDGET = 30.0
#: a document no larger than this may be extracted in the process itself, which nothing stops: its worst shapes
#: (tens of thousands of tiny paragraphs, table cells, line breaks) take trafilatura about a second at this size
INLINE_BYTES = 128 * 1024
#: the cycle collector runs after this many new container objects (see settle_collector)
GC_YOUNG = 10_000


def cores() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


@dataclass(frozen=True)
class Recipe:
    """How the main process normalizes claims and sketches them: what a worker needs to do the same."""

    #: the OpenCC configuration
    opencc: str
    #: the user's alias file, if any (the canonical form's names)
    aliases: str | None
    #: the shingle size of the near-duplicate index
    shingle: int
    #: the store, read to leave out the sketches of claims it holds word for word (None: sketch every claim)
    store: str | None = None


@dataclass(frozen=True)
class Prepared:
    """A document taken on to its claims: what ``claims.split`` gives, and each claim's sketch, in order."""

    document: Document
    #: what it was made with
    recipe: Recipe
    #: the canonical form's parameters the sketches were made in (the main process checks they are its own)
    parameters: str
    claims: tuple[Claim, ...]
    dropped: tuple[Dropped, ...]
    #: None for a claim the store held word for word when the worker looked (the main process makes the sketch
    #: of any such claim it finds new after all)
    sketches: tuple[Sketch | None, ...]


@lru_cache(maxsize=4)
def _tools(recipe: Recipe) -> tuple[Normalizer, Canon]:
    from monitor.canon import Canon, load_aliases
    from monitor.normalize import Normalizer

    return Normalizer(recipe.opencc), Canon(load_aliases(Path(recipe.aliases) if recipe.aliases else None))


def prepare(document: Document, recipe: Recipe) -> Prepared:
    """A document's claims, dropped sentences and sketches, made as the main process makes them."""
    from monitor import claims
    from monitor.keys import key_of
    from monitor.novelty import sketch

    normalizer, canon = _tools(recipe)
    found, dropped = claims.split(document.text, normalizer.normalize_many, key_of)
    stored = _stored(recipe.store, [claim.key for claim in found]) if recipe.store else set()
    sketches = tuple(
        None if claim.key in stored else sketch(canon(claim.normalized), recipe.shingle) for claim in found
    )
    return Prepared(document, recipe, canon.parameters, tuple(found), tuple(dropped), sketches)


def _stored(store: str, keys: Sequence[str]) -> set[str]:
    """Those of these matching keys the store holds (by fingerprint); none if it cannot be read."""
    from monitor.novelty import fingerprint

    prints = {fingerprint(key): key for key in keys}
    connection = _reader(store)
    if connection is None or not prints:
        return set()
    try:
        marks = ",".join("?" * len(prints))
        rows = connection.execute(f"SELECT fingerprint FROM claims WHERE fingerprint IN ({marks})", list(prints))  # noqa: S608
        return {prints[fp] for (fp,) in rows}
    except sqlite3.Error:
        return set()


@lru_cache(maxsize=1)
def _reader(store: str) -> sqlite3.Connection | None:
    """A read-only connection to the store, one per worker (None if it cannot be opened: every claim is
    sketched, as without it)."""
    try:
        return sqlite3.connect(f"{Path(store).resolve().as_uri()}?mode=ro", uri=True, check_same_thread=False)
    except (sqlite3.Error, ValueError, OSError):
        return None


def settle_collector() -> None:
    """What a process has made by now (its imports, its settings) lives as long as it: the collector of reference
    cycles need not go over it again (it would, each time extraction or a scan has made many objects). And it
    runs after every ``GC_YOUNG`` new objects, not the default 700: a document's claims, sketches and index rows
    are tens of thousands of short-lived objects, almost none in a cycle, which the default went over again and
    again (a sixth of a scan's ingest time)."""
    gc.freeze()
    gc.set_threshold(GC_YOUNG, *gc.get_threshold()[1:])


@lru_cache(maxsize=1)
def _settle_imports() -> None:
    """Once a worker has imported trafilatura: see :func:`settle_collector`."""
    settle_collector()


def _warm(recipe: Recipe | None) -> None:
    """A new worker imports trafilatura and makes its tools before it takes a document: the time budget is the
    document's own, not the worker's start-up (a second or more on a busy machine)."""
    import monitor.extract  # noqa: F401 - imported for what it loads

    _settle_imports()
    if recipe is not None:
        with contextlib.suppress(Exception):  # a recipe that cannot be followed is reported by the main process
            _tools(recipe)


def extract_one(fetched: Fetched, recipe: Recipe | None = None) -> Document | Prepared | str:
    """A document (prepared, given a recipe), or why it cannot be used (a reason naming no locator: the caller
    knows it). A recipe that cannot be followed (an alias file gone bad) leaves the document unprepared: the
    main process prepares it, and reports what is wrong."""
    from monitor.extract import extract  # trafilatura is slow to import; only documents need it

    _settle_imports()
    try:
        document = extract(fetched)
    except LocatedError as exc:
        return exc.reason
    except Exception as exc:  # noqa: BLE001 - the per-document boundary: one page never stops the run
        return f"unexpected {type(exc).__name__}: {exc}"
    if recipe is None:
        return document
    try:
        return prepare(document, recipe)
    except Exception:  # noqa: BLE001 - the main process does it again, and says what is wrong
        return document


class Extractor:
    """Extracts batches of documents, in worker processes when a batch is large enough or holds a large document.
    Close it (or use it as a context manager) to stop the workers.

    No document takes more than ``budget`` seconds of a worker: past it the worker is stopped (and replaced), and
    the document is one reason (trafilatura's time grows faster than a page's size: half a million tiny
    paragraphs, 4.4 MB, take it minutes). A document no larger than ``INLINE_BYTES`` may be extracted in the
    process itself, where nothing can stop it: at that size no page shape takes more than a few seconds. A worker
    that dies (killed, out of memory) costs the document it was extracting one more try in a new worker; if that one
    dies too, the document is the reason and is reported."""

    def __init__(self, workers: int | None = None, recipe: Recipe | None = None, budget: float = BUDGET) -> None:
        self.workers = min(MAX_WORKERS, workers if workers is not None else cores())
        self.recipe, self.budget = recipe, budget
        self._pool: Pool | None = None

    def __enter__(self) -> Extractor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
            self._pool = None

    def run(self, batch: Sequence[Fetched]) -> list[Document | Prepared | str]:
        """Each document of the batch extracted, or the reason it could not be, in order."""
        return self.start(batch)()

    def start(self, batch: Sequence[Fetched]) -> Callable[[], list[Document | Prepared | str]]:
        """Start extracting a batch; the function returned waits for its results (each document, or the reason it
        could not be used, in order). A large batch is extracted by the workers while the caller goes on (with
        the results of the batch before, say); a small one of small documents is extracted by that function, in
        this process."""
        batch = list(batch)
        if self._inline(batch):
            return lambda: [extract_one(fetched) for fetched in batch]
        futures = [self._submit(fetched) for fetched in batch]
        return lambda: [self._reason(future.result()) for future in futures]

    async def extract(self, batch: Sequence[Fetched]) -> list[Document | Prepared | str]:
        """As :meth:`run`, awaited: the event loop goes on (a poll fetching) while the documents are extracted, in
        the workers or, small ones, in a thread. Cancelled, it stops the workers' extraction of the batch."""
        batch = list(batch)
        if self._inline(batch):
            return await asyncio.to_thread(lambda: [extract_one(fetched) for fetched in batch])
        futures = [self._submit(fetched) for fetched in batch]
        try:
            return [self._reason(await asyncio.wrap_future(future)) for future in futures]
        finally:
            for future in futures:
                future.cancel()  # those not done: the poll is being abandoned, their workers are stopped

    def _inline(self, batch: Sequence[Fetched]) -> bool:
        """Whether the batch is extracted in this process: a few small documents, while no worker runs."""
        small = all(len(fetched.data) <= INLINE_BYTES for fetched in batch)
        return small and self._pool is None and (self.workers < 2 or len(batch) < PARALLEL_FROM)

    def _submit(self, fetched: Fetched) -> Future[Document | Prepared | str | Stopped | Died]:
        if self._pool is None:
            self._pool = Pool(self.workers, partial(extract_one, recipe=self.recipe), self.budget, _warm, self.recipe)
        return self._pool.submit(fetched)

    def _reason(self, result: Document | Prepared | str | Stopped | Died) -> Document | Prepared | str:
        """A worker's result, with what the pool says of a stopped or dead one as the document's reason."""
        if isinstance(result, Stopped):
            how = f"longer than {result.seconds:g} s ([extract] time_budget_seconds)" if result.seconds else "abandoned"
            return f"extraction took {how}, and was stopped"
        if isinstance(result, Died):
            return f"the extraction process died twice on it ({result.how})"
        return result
