"""Polling web sources: pages and feeds -> documents for the pipeline to ingest.

One poll runs every due web source at once in an event loop (uvloop where available), under the
fetcher's limits. A page is fetched conditionally; a 304 or an unchanged body ends there. A feed is
fetched conditionally too; its new entries are stored as *pending* before anything else, and every
pending entry of the feed (new now, or left over from a failed attempt) has its article fetched. The
pipeline ingests what comes back, as it comes: fetched articles are handed to it in batches while the poll
goes on, and at most ``[http] concurrency`` articles are held at once (being fetched, waiting, or being
ingested), so a feed of many large articles costs the memory of a few, not of all of them. Validators and entry
states are written in the transaction that ingests the document, so a crash in between means a fetch again,
never a lost article.

Errors are values: each becomes a message of its source's :class:`~monitor.models.SourceOutcome`.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import sys
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Sequence, Set
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar

import httpx

from monitor.config import FeedSource, PageSource, WebSource
from monitor.errors import FetchError, SourceError, StoreError
from monitor.models import Fetched, HttpPolicy, SourceOutcome, Validators, WebResponse
from monitor.sources import feeds, web
from monitor.sources.urls import BadUrl
from monitor.sources.urls import normalize as normalize_url
from monitor.store import StoreInterface

#: robots.txt files are kept this long (RFC 9309 asks for no more than 24 hours)
ROBOTS_TTL = timedelta(hours=24)
#: media types read as HTML or as plain text; anything else is not an article
_HTML_TYPES = {"text/html", "application/xhtml+xml", "application/xml", "text/xml"}
_TEXT_TYPES = {"text/plain", "text/markdown"}
#: a feed entry whose article fails in this many polls in a row (each with its own retries) is given up
MAX_ENTRY_POLLS = 5
T = TypeVar("T")


@dataclass(frozen=True)
class WebItem:
    """A fetched article the pipeline should extract and ingest."""

    fetched: Fetched
    #: validators to store for the URL once the document is ingested (pages), else None
    validators: Validators | None
    #: the feed entry (normalized URL) to settle once ingested, else None
    entry: str | None
    topic_filter: bool


@dataclass
class _Tally:
    """What one source did so far in this poll."""

    scanned: int = 0
    unchanged: int = 0
    errors: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def outcome(self, name: str) -> SourceOutcome:
        return SourceOutcome(name, self.scanned, 0, self.unchanged, tuple(self.errors), tuple(self.skipped),
                             tuple(self.warnings))


#: what takes fetched articles from the poll (extracts and ingests them); awaited, one batch at a time
Consume = Callable[[list[WebItem]], Awaitable[None]]
#: at most this many articles are handed over at once
HAND_OVER = 16


class _Stream:
    """Fetched articles on their way to ``consume``: a fetch that may bring one takes a slot first, and the slot is
    given back once the article is consumed (or when the fetch brings none), so at most ``limit`` articles are
    held at once. The articles waiting are handed over in batches, the next once the last is consumed."""

    def __init__(self, limit: int, consume: Consume) -> None:
        self._slots = asyncio.Semaphore(limit)
        self._ready: list[WebItem] = []
        self._wake = asyncio.Event()
        self._closed = False
        self._consume = consume

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[Callable[[WebItem], None]]:
        """A slot for one fetch; the function given keeps it for the article fetched, until it is consumed."""
        await self._slots.acquire()
        kept = False

        def put(item: WebItem) -> None:
            nonlocal kept
            kept = True
            self._ready.append(item)
            self._wake.set()

        try:
            yield put
        finally:
            if not kept:
                self._slots.release()

    def close(self) -> None:
        """No more articles will come."""
        self._closed = True
        self._wake.set()

    async def drain(self) -> None:
        """Consume the articles as they come, until closed and none is left."""
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._ready:
                batch, self._ready = self._ready[:HAND_OVER], self._ready[HAND_OVER:]
                try:
                    await self._consume(batch)
                finally:
                    for _ in batch:
                        self._slots.release()
            if self._closed:
                return


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion in a new event loop (uvloop's, where it is installed)."""
    if sys.platform != "win32":
        import uvloop

        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            return runner.run(coroutine)
    return asyncio.run(coroutine)  # pragma: no cover - uvloop is a dependency everywhere but Windows


def poll(
    sources: Sequence[WebSource],
    policy: HttpPolicy,
    store: StoreInterface,
    now: datetime,
    consume: Consume,
    transport: Callable[[], httpx.AsyncBaseTransport] | None = None,
    stop: threading.Event | None = None,
) -> dict[str, SourceOutcome]:
    """Poll the web sources, handing the articles fetched to ``consume`` as they come; an outcome per source.
    ``transport`` builds the HTTP transport (default: aiohttp's, and for URLs learnt from feeds and redirects one
    that reaches only public addresses; an injected one carries both). Once ``stop`` is set the poll is abandoned:
    its requests are cancelled, and the articles not yet consumed are dropped (nothing was stored for them, so the
    next poll fetches them again)."""
    return run(_poll(sources, policy, store, now, consume, transport, stop))


async def _poll(
    sources: Sequence[WebSource],
    policy: HttpPolicy,
    store: StoreInterface,
    now: datetime,
    consume: Consume,
    transport: Callable[[], httpx.AsyncBaseTransport] | None,
    stop: threading.Event | None,
) -> dict[str, SourceOutcome]:
    robots = store.robots_since(now - ROBOTS_TTL) if policy.respect_robots else {}
    async with contextlib.AsyncExitStack() as stack:
        http = await stack.enter_async_context(transport() if transport else web.transport(policy))
        # URLs learnt from feeds and redirects: a transport (and pool) of their own that reaches only public
        # addresses, unless they may reach any; an injected transport (tests) carries everything
        guarded = not (transport or policy.allow_private_addresses)
        learnt = await stack.enter_async_context(web.transport(policy, learnt=True)) if guarded else http
        fetcher = web.Fetcher(http, policy, learnt=learnt, robots=robots)
        pages = [s for s in sources if isinstance(s, PageSource)]
        stream = _Stream(policy.concurrency, consume)
        poller = _Poller(fetcher, store, now, stream, {s.url for s in pages})
        validators = store.validators_many([s.url for s in pages])
        tallies = {source.name: _Tally() for source in sources}
        jobs = [_bounded(poller.page(s, validators.get(s.url), tallies[s.name]), tallies[s.name], s.url) for s in pages]
        jobs += [
            _bounded(poller.feed(s, tallies[s.name]), tallies[s.name], s.url)
            for s in sources
            if isinstance(s, FeedSource)
        ]
        if not await _until_stopped(asyncio.ensure_future(_streamed(jobs, stream)), stop):
            for tally in tallies.values():
                tally.warnings.append("poll abandoned: the service is stopping")
    if fetcher.robots_fetched:
        store.save_robots(list(fetcher.robots_fetched.values()), now)
    return {name: tally.outcome(name) for name, tally in tallies.items()}


async def _streamed(jobs: Sequence[Coroutine[Any, Any, None]], stream: _Stream) -> None:
    """Run the fetching jobs while the stream hands their articles over; the first error ends both (a store
    failure ends the poll)."""

    async def fetching() -> None:
        try:
            await asyncio.gather(*jobs)
        finally:
            stream.close()

    try:
        async with asyncio.TaskGroup() as group:
            group.create_task(fetching())
            group.create_task(stream.drain())
    except BaseExceptionGroup as failed:
        raise failed.exceptions[0] from None


async def _until_stopped(work: asyncio.Future[Any], stop: threading.Event | None) -> bool:
    """Await ``work``; False (and ``work`` cancelled) if ``stop`` is set first."""
    if stop is None:
        await work
        return True

    async def stopped() -> None:
        while not stop.is_set():
            await asyncio.sleep(0.1)

    watcher = asyncio.ensure_future(stopped())
    try:
        done, _ = await asyncio.wait({work, watcher}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        watcher.cancel()
    if work in done:
        work.result()
        return True
    work.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await work
    return False


async def _bounded(job: Coroutine[Any, Any, None], tally: _Tally, where: str, *, item: bool = False) -> None:
    """The per-source (and per-entry, ``item``) error boundary: an error nobody foresaw becomes one message
    naming the URL, and the other sources go on. A store failure still ends the run."""
    try:
        await job
    except StoreError:
        raise
    except Exception as exc:  # noqa: BLE001 - the boundary itself
        (tally.skipped if item else tally.errors).append(f"{where}: unexpected {type(exc).__name__}: {exc}")


class _Poller:
    def __init__(self, fetcher: web.Fetcher, store: StoreInterface, now: datetime, stream: _Stream,
                 pages: Set[str] = frozenset()) -> None:
        self.fetcher, self.store, self.now, self.stream = fetcher, store, now, stream
        #: the URLs of the page sources in this poll
        self.pages = pages

    async def page(self, source: PageSource, known: Validators | None, tally: _Tally) -> None:
        tally.scanned += 1
        async with self.stream.slot() as put:
            try:
                response = await self.fetcher.fetch(source.url, known, headers=source.headers)
                item = self._article(response, source.name, known, tally)
            except (FetchError, SourceError) as exc:
                tally.errors.append(str(exc))
                return
            if item is None:
                tally.unchanged += 1
            else:
                put(WebItem(item[0], item[1], None, source.topic_filter))

    async def feed(self, source: FeedSource, tally: _Tally) -> None:
        known = self.store.validators_many([source.url]).get(source.url)
        try:
            response = await self.fetcher.fetch(source.url, known, accept=web.ACCEPT_FEED, headers=source.headers)
            validators = _validators(response, known)
            if response.status != 304 and validators.content_hash != (known.content_hash if known else None):
                self._entries(source, response, tally)
            self.store.save_validators(source.url, validators, self.now)
        except (FetchError, SourceError) as exc:
            tally.errors.append(str(exc))  # entries pending from earlier polls are still fetched below
        pending = self.store.pending_entries([source.name])
        await asyncio.gather(
            *(_bounded(self._entry(source, entry.url, entry.attempts, tally), tally, entry.url, item=True)
              for entry in pending)
        )

    def _entries(self, source: FeedSource, response: WebResponse, tally: _Tally) -> None:
        if response.truncated:
            tally.warnings.append(f"{source.url}: feed cut off at {len(response.data):,} bytes (http.max_bytes)")
        found = []
        for entry in feeds.parse(response.data, response.final_url, response.media_type):
            try:
                found.append((normalize_url(entry.url), entry))
            except BadUrl as exc:
                tally.warnings.append(f"{source.url}: entry {entry.url!r} skipped: {exc}")
        self.store.add_entries(source.name, found, self.now)

    async def _entry(self, source: FeedSource, url: str, attempts: int, tally: _Tally) -> None:
        known = self.store.document_state(url) is not None
        if url in self.pages and not known:
            return  # a page source is fetching it in this poll: one request; the entry settles next poll
        tally.scanned += 1
        if known:  # already a document (another source has it)
            self.store.settle_entry(url, "ingested", self.now)
            tally.unchanged += 1
            return
        async with self.stream.slot() as put:
            try:
                response = await self.fetcher.fetch(url, None, headers=source.headers, learnt=True)
                item = self._article(response, source.name, None, tally)
            except (FetchError, SourceError) as exc:
                tally.skipped.append(str(exc))  # one dead article: the feed itself is fine
                if isinstance(exc, FetchError) and not exc.permanent and attempts + 1 < MAX_ENTRY_POLLS:
                    self.store.entry_attempt_failed(url, exc.reason)
                else:
                    self.store.settle_entry(url, "failed", self.now, exc.reason)
                return
            if item is not None:
                put(WebItem(item[0], None, url, source.topic_filter))

    def _article(
        self, response: WebResponse, source: str, known: Validators | None, tally: _Tally
    ) -> tuple[Fetched, Validators] | None:
        """The article to ingest, or None when it has not changed since ``known``."""
        if response.status == 304:
            return None
        content_hash = hashlib.sha256(response.data).hexdigest()
        validators = _validators(response, known, content_hash)
        if known is not None and known.content_hash == content_hash:
            if validators != known:
                self.store.save_validators(response.url, validators, self.now)
            return None
        media = response.media_type or "text/html"
        if media not in _HTML_TYPES and media not in _TEXT_TYPES:
            raise FetchError(response.url, f"not a web page (content type {media})", permanent=True)
        if response.truncated:
            tally.warnings.append(f"{response.url}: body cut off at {len(response.data):,} bytes (http.max_bytes)")
        fetched = Fetched(
            locator=response.url, data=response.data, content_hash=content_hash, source=source,
            charset_hint=response.charset, kind="text" if media in _TEXT_TYPES else "html",
        )
        return fetched, validators


def _validators(response: WebResponse, known: Validators | None, content_hash: str | None = None) -> Validators:
    """The validators to keep after ``response``: a 304 may omit them, and then the old ones stay."""
    if response.status == 304 and known is not None:
        return Validators(response.etag or known.etag, response.last_modified or known.last_modified,
                          known.content_hash)
    digest = content_hash or hashlib.sha256(response.data).hexdigest()
    return Validators(response.etag, response.last_modified, digest)
