"""Many workers on one PostgreSQL store (issue 13), against the real thing: ``corpus-monitor run --worker wN``
services as subprocesses, the suite's PostgreSQL server (tests/pgserver.py), a local site on 127.0.0.1 and a real
SMTP server (aiosmtpd).

- **Sharing**: three workers polling a site of pages and feeds, whose new sentences are reprinted in several
  documents (in Simplified and Traditional script, and reworded by a character), end with the claims, documents,
  source health and digests that one one-shot run on SQLite ends with: the same claims, each carried by the same
  documents, each in exactly one digest the mail server received. Claims a worker finds while another holds the
  digest lock are mailed too, once the lock is free.
- **The claim lock**: two stores ingesting two reprints of one new sentence at the same moment (a barrier) end,
  round after round, with one claim and two occurrences; without the lock they do not.
- **Faults**: a worker SIGKILLed while it holds leases loses nothing but time (another takes its sources over
  when the leases expire); workers outlive a restart of the server; a connection dropped in the middle of an
  ingest leaves nothing half-written.

The site is made of sentences of random characters (those of the seeds), so that no two stories are alike to
the near-duplicate index and the only reprints are those the test makes: a reprint's claim is then the same
whichever worker meets it first. A reworded reprint (one character changed) is the same claim as its story's other
forms, but which form is its first wording depends on which document was ingested first: such claims are
compared by their story.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import random
import signal
import socket
import sqlite3
import struct
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from functools import cache
from pathlib import Path
from typing import Any, TypeVar
from xml.sax.saxutils import escape

import psycopg
import pytest
from conftest import SmtpServer
from helpers import SEEDS
from pgserver import Server, running
from test_service import Running, wait_for
from webserver import WebServer, serving

from monitor import claims as claims_mod
from monitor import config
from monitor.errors import StoreError
from monitor.extract import extract
from monitor.models import Document, Fetched
from monitor.normalize import Normalizer, key_of
from monitor.pipeline import Deps, ingest
from monitor.store.postgres import PgStore

NORM = Normalizer("t2s")
log = logging.getLogger(__name__)
T = TypeVar("T")

# -- the site ----------------------------------------------------------------------------------------------------


@cache
def _s2t() -> Any:
    import opencc

    return opencc.OpenCC("s2t")


@cache
def _characters() -> tuple[str, ...]:
    """The Chinese characters of the seeds that are Simplified and come back from Traditional as they were."""
    seen = sorted({c for p in SEEDS.iterdir() for c in p.read_text("utf-8") if "\u4e00" <= c <= "\u9fff"})
    return tuple(c for c in seen if NORM.normalize(c) == c and NORM.normalize(_s2t().convert(c)) == c)


class Writer:
    """Sentences of random characters, each one claim, with a Traditional form that normalizes back to it."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)

    def _run(self, low: int, high: int) -> str:
        return "".join(self.rng.choices(_characters(), k=self.rng.randint(low, high)))

    def sentence(self) -> str:
        while True:
            text = f"{self._run(12, 16)}，{self._run(12, 16)}。"
            if self._usable(text):
                return text

    def title(self) -> str:
        return self._run(8, 12)  # a short line without a mark: a heading, no claim

    def reworded(self, text: str) -> str:
        """The sentence with one character changed: a near-duplicate of it."""
        while True:
            at = self.rng.choice([i for i, c in enumerate(text[:-1]) if c != "，" and i > 1])
            changed = text[:at] + self.rng.choice(_characters()) + text[at + 1 :]
            if changed != text and self._usable(changed):
                return changed

    def traditional(self, text: str) -> str:
        converted: str = _s2t().convert(text)
        return converted

    def _usable(self, text: str) -> bool:
        traditional = self.traditional(text)
        if traditional == text or NORM.normalize(traditional) != NORM.normalize(text):
            return False
        found, dropped = claims_mod.split(text, NORM.normalize_many, key_of)
        return len(found) == 1 and not dropped


@dataclass
class Doc:
    """One article of the site, at ``path``: its title and sentences, in their order (a page that changes gets
    more)."""

    path: str
    title: str
    sentences: list[str] = field(default_factory=list)

    def html(self) -> bytes:
        paragraphs = "".join(f"<p>{s}</p>" for s in self.sentences)
        return (f"<html><head><meta charset='utf-8'><title>{self.title}</title></head><body><article>"
                f"<h1>{self.title}</h1>{paragraphs}</article></body></html>").encode()


@dataclass
class Site:
    """Pages (each a page source) and feeds of articles (each feed a source), as served now, and the claims they
    should give."""

    pages: list[Doc]
    articles: list[Doc]
    #: feed path -> the paths of its articles
    feeds: dict[str, list[str]]
    #: normalized text of every form of a story -> the story's key (the normalized text of its first form)
    story_of: dict[str, str] = field(default_factory=dict)
    #: the claims the site should give: story key, or the normalized text of a sentence printed once -> the paths of
    #: the documents carrying it
    claims: dict[str, set[str]] = field(default_factory=dict)

    def key(self, normalized: str) -> str:
        return self.story_of.get(normalized, normalized)

    def publish(self, server: WebServer) -> None:
        """Serve the site as it is now."""
        for doc in [*self.pages, *self.articles]:
            server.set(doc.path, doc.html())
        for path, entries in self.feeds.items():
            server.set(path, rss(server, path, entries), content_type="application/rss+xml; charset=utf-8")

    def sources(self, server: WebServer) -> str:
        """The [[sources]] tables: one page source a page, one feed source a feed."""
        pages = "".join(f'[[sources]]\nkind = "page"\nname = "page{n}"\nurl = "{server.url(d.path)}"\n'
                        for n, d in enumerate(self.pages))
        feeds = "".join(f'[[sources]]\nkind = "feed"\nname = "feed{n}"\nurl = "{server.url(p)}"\ntopic_filter = false\n'
                        for n, p in enumerate(self.feeds))
        return pages + feeds

    def expected_claims(self, server: WebServer) -> dict[str, list[frozenset[str]]]:
        return {key: [frozenset(server.url(p) for p in paths)] for key, paths in self.claims.items()}

    def expected_documents(self, server: WebServer) -> dict[str, str]:
        """URL -> the hash of what it serves, for every article a source leads to."""
        served = {d.path: d for d in [*self.pages, *self.articles]}
        listed = {p for entries in self.feeds.values() for p in entries} | {d.path for d in self.pages}
        return {server.url(p): hashlib.sha256(served[p].html()).hexdigest() for p in listed}

    def sources_of(self, server: WebServer) -> dict[str, set[str]]:
        """URL -> the names of the sources that may have brought it (an article in two feeds: either)."""
        found: dict[str, set[str]] = {server.url(d.path): {f"page{n}"} for n, d in enumerate(self.pages)}
        for n, entries in enumerate(self.feeds.values()):
            for path in entries:
                found.setdefault(server.url(path), set()).add(f"feed{n}")
        return found


def rss(server: WebServer, path: str, entries: Sequence[str]) -> str:
    items = "".join(f"<item><title>{p}</title><link>{escape(server.url(p))}</link><guid>{escape(server.url(p))}"
                    "</guid></item>" for p in entries)
    return ('<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel><title>快讯</title>'
            f"<link>{server.url(path)}</link><description>test feed</description>{items}</channel></rss>")


class Builder:
    """Makes a site, phase by phase: documents of sentences printed once, and stories reprinted in several."""

    def __init__(self, seed: int) -> None:
        self.writer = Writer(seed)
        self.rng = self.writer.rng
        self.site = Site([], [], {})

    def page(self) -> Doc:
        doc = self._doc(f"/p/{len(self.site.pages)}.html")
        self.site.pages.append(doc)
        return doc

    def article(self, *feeds: str) -> Doc:
        doc = self._doc(f"/a/{len(self.site.articles)}.html")
        self.site.articles.append(doc)
        for feed in feeds:
            self.site.feeds.setdefault(feed, []).append(doc.path)
        return doc

    def _doc(self, path: str, sentences: int = 3) -> Doc:
        doc = Doc(path, self.writer.title())
        self.add_sentences(doc, sentences)
        return doc

    def add_sentences(self, doc: Doc, count: int) -> None:
        for _ in range(count):
            text = self.writer.sentence()
            doc.sentences.append(text)
            self.site.claims[NORM.normalize(text)] = {doc.path}

    def story(self, docs: Sequence[Doc]) -> None:
        """A new sentence reprinted in each of these documents: as written first, in Traditional script, or
        reworded (by one character, in either script), at a random place among their sentences."""
        base = self.writer.sentence()
        key = NORM.normalize(base)
        self.site.claims[key] = {d.path for d in docs}
        for n, doc in enumerate(docs):
            form = base
            if n:
                kind = self.rng.choice(["traditional", "reworded", "reworded traditional"])
                form = self.writer.reworded(base) if kind.startswith("reworded") else base
                form = self.writer.traditional(form) if kind.endswith("traditional") else form
            self.site.story_of[NORM.normalize(form)] = key
            doc.sentences.insert(self.rng.randint(0, len(doc.sentences)), form)


# -- the stores and what they hold -------------------------------------------------------------------------------


def query(target: str, sql: str, parameters: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    """Rows of a store: an SQLite file, or a postgresql:// URL (placeholders: ``?`` for one, ``%s`` for the other)."""
    if target.startswith("postgresql://"):
        with psycopg.connect(target, connect_timeout=5) as db:
            return db.execute(sql, parameters).fetchall()
    with contextlib.closing(sqlite3.connect(target)) as db:
        return db.execute(sql, parameters).fetchall()


def stored_claims(target: str, site: Site) -> dict[str, list[frozenset[str]]]:
    """Story key -> for each claim of that story (one, unless it was recorded twice), the documents carrying it."""
    carriers: dict[int, tuple[str, set[str]]] = {}
    for claim_id, normalized, locator in query(
        target, "SELECT c.id, c.normalized, d.locator FROM claims AS c LEFT JOIN occurrences AS o ON o.claim_id = c.id"
        " LEFT JOIN documents AS d ON d.id = o.document_id"
    ):
        carriers.setdefault(claim_id, (normalized, set()))[1].update([locator] if locator else [])
    found: dict[str, list[frozenset[str]]] = {}
    for normalized, locators in carriers.values():
        found.setdefault(site.key(normalized), []).append(frozenset(locators))
    return found


def stored_documents(target: str) -> dict[str, tuple[str, str]]:
    """URL -> (content hash, source) of every document."""
    return {locator: (content_hash, source)
            for locator, content_hash, source in query(target, "SELECT locator, content_hash, source FROM documents")}


def stored_health(target: str) -> dict[str, tuple[Any, ...]]:
    """Source -> (last error, failures, polled successfully): the health rows, without their times."""
    return {source: (error, int(failures), bool(success)) for source, error, failures, success in query(
        target, "SELECT source, last_error, failures, last_success IS NOT NULL FROM source_health")}


def unfinished(target: str) -> tuple[int, int]:
    """(claims in no delivered digest, digests waiting to be delivered)."""
    ((claims,),) = query(target, "SELECT count(*) FROM claims WHERE digest_id IS NULL")
    ((pending,),) = query(target, "SELECT count(*) FROM deliveries WHERE state = 'pending'")
    return int(claims), int(pending)


def reported(messages: Sequence[EmailMessage], site: Site) -> Counter[str]:
    """Story key -> how many times the digests reported it (each claim is a ``  * `` line of its document's part of
    the plain-text digest; the config asks for no highlights and no limits, so every claim is listed once)."""
    found: Counter[str] = Counter()
    for message in messages:
        body = message.get_body(("plain",))
        assert body is not None
        for line in str(body.get_content()).splitlines():
            if line.startswith("  * "):
                found[site.key(NORM.normalize(line[4:]))] += 1
    return found


def eml_messages(outbox: Path) -> list[EmailMessage]:
    import email
    import email.policy

    messages = []
    for path in sorted(outbox.glob("*.eml")):
        parsed = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        messages.append(parsed)
    return messages


# -- the workers -------------------------------------------------------------------------------------------------


def write_config(path: Path, server: WebServer, site: Site, *, store: str, smtp: SmtpServer | None = None) -> Path:
    """A config for ``site`` in ``path`` (its folder made): ``store`` is the [store] table's lines; digests go to
    ``smtp``, else to the outbox var/outbox. It polls every second, sends a digest as soon as half a second passes
    with nothing new, with no highlights and no limits (each claim is listed once), and has no politeness delay (one
    local server). Four requests at once: a worker on a shared store leases 8 due sources at a time
    (``monitor.pipeline.LEASE_BATCH``)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    delivery = (f'[smtp]\nhost = "127.0.0.1"\nport = {smtp.port}\nsecurity = "none"\ntimeout_seconds = 10\n'
                if smtp is not None else "")
    path.write_text(
        f"[store]\n{store}\n"
        '[schedule]\npoll_every = "1s"\ndigest = "as-it-happens"\nquiet = "0.5s"\nmin_interval = "0s"\n'
        '[log]\nformat = "json"\n'
        '[digest]\noutbox = "var/outbox"\nfrom = "monitor@example.org"\nto = ["reader@example.org"]\nhighlights = 0\n'
        f"max_claims_per_document = 1000\nmax_documents = 1000\narchive = {json.dumps(str(path.parent / 'archive'))}\n"
        "[http]\nconcurrency = 4\nper_host_concurrency = 4\nper_host_delay_seconds = 0\nbackoff_seconds = 0\n"
        "timeout_seconds = 10\n"
        f"allow_private_addresses = true\n{delivery}{site.sources(server)}",
        encoding="utf-8",
    )
    return path


@contextlib.contextmanager
def workers(config_file: Path, *names: str) -> Iterator[dict[str, Running]]:
    """``corpus-monitor run --worker NAME`` for each name, on one config; SIGKILLed on the way out if the test left
    them running."""
    started = {name: Running(subprocess.Popen(
        [sys.executable, "-m", "monitor", "run", "--worker", name, "--config", str(config_file)],
        cwd=config_file.parent, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        text=True, encoding="utf-8",
    )) for name in names}
    try:
        yield started
    finally:
        for running_worker in started.values():
            if running_worker.process.poll() is None:
                running_worker.process.kill()
            running_worker.process.wait(timeout=10)
            running_worker.reader.join(timeout=10)
            assert running_worker.process.stderr is not None
            running_worker.process.stderr.close()


def alive(started: dict[str, Running]) -> None:
    """Fail, with its log, if a worker has exited."""
    for name, worker in started.items():
        if worker.process.poll() is not None:
            worker.reader.join(timeout=5)
            raise AssertionError(f"worker {name} exited ({worker.process.returncode})\n{worker.log()}")


def stop_all(started: dict[str, Running]) -> None:
    """SIGTERM every worker at once: each exits 0 within the service's grace time."""
    for worker in started.values():
        worker.process.send_signal(signal.SIGTERM)
    for name, worker in started.items():
        try:
            status = worker.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"worker {name} still running 30 s after SIGTERM\n{worker.log()}") from None
        worker.reader.join(timeout=5)
        assert status == 0, f"worker {name} exited {status}\n{worker.log()}"


def within(timeout: float, predicate: Callable[[], T | None], what: str, started: dict[str, Running],
           state: Callable[[], object]) -> T:
    """Wait for ``predicate`` to return something true (returned); on a timeout, fail with ``state()`` and the workers'
    logs."""
    try:
        return wait_for(predicate, timeout, what)
    except AssertionError as exc:
        logs = "\n".join(f"--- {name} ---\n{w.log()}" for name, w in started.items())
        raise AssertionError(f"{exc}\n{state()}\n{logs}") from None


def errors_logged(worker: Running) -> list[dict[str, Any]]:
    return [e for e in worker.events() if e["level"] in ("error", "critical")]


def cli(config_file: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "monitor", *args, "--config", str(config_file)],
                          cwd=config_file.parent, capture_output=True, text=True, timeout=120)


# -- sharing -----------------------------------------------------------------------------------------------------


def test_three_workers_on_postgresql_end_with_what_one_worker_on_sqlite_ends_with(
    postgres: Server, smtp_server: SmtpServer, tmp_path: Path
) -> None:
    """Three workers start together on an empty database (they migrate it under its lock) and share a site of 20
    pages and 6 feeds of 24 articles (two in two feeds), ten stories reprinted in three documents each; while they
    work, six pages change and the feeds list twelve new articles, with six more stories. They end with the claims,
    documents, health and digests of one one-shot run on SQLite over the same site (before and after the change),
    and more than one of them ingested documents."""
    build = Builder(13)
    pages = [build.page() for _ in range(20)]
    articles = [build.article(f"/f/{n // 4}.xml") for n in range(24)]
    build.site.feeds["/f/1.xml"].append(articles[0].path)  # one article in two feeds
    build.site.feeds["/f/2.xml"].append(articles[4].path)
    for _ in range(10):
        build.story(build.rng.sample([*pages, *articles], 3))
    site = build.site

    with serving() as server:
        site.publish(server)
        first_documents = site.expected_documents(server)
        sqlite = write_config(tmp_path / "sqlite" / "corpus-monitor.toml", server, site,
                              store='path = "var/monitor.sqlite3"')
        one = cli(sqlite, "digest")
        assert one.returncode == 0, one.stderr
        url = postgres.create_database("scale_out")
        shared = write_config(tmp_path / "pg" / "corpus-monitor.toml", server, site,
                              store=f'url = "{url}"\nlease_seconds = 30', smtp=smtp_server)
        started_at = time.monotonic()
        with workers(shared, "w1", "w2", "w3") as started:

            def documents_are(expected: dict[str, str]) -> bool:
                alive(started)
                try:
                    return {u: h for u, (h, _) in stored_documents(url).items()} == expected
                except psycopg.errors.UndefinedTable:  # the workers have not made the tables yet
                    return False

            within(60, lambda: documents_are(first_documents), "the first phase's documents in the store", started,
                   lambda: set(first_documents.items()) ^ {(u, h) for u, (h, _) in stored_documents(url).items()})
            # while the workers go on: pages change, the feeds list new articles, new stories are reprinted
            for page in pages[:6]:
                build.add_sentences(page, 1)
            news = [build.article(f"/f/{n // 2}.xml") for n in range(12)]
            build.site.feeds["/f/3.xml"].append(news[0].path)
            for _ in range(6):
                build.story(build.rng.sample([*pages[:6], *news], 3))
            site.publish(server)
            documents = site.expected_documents(server)

            def done() -> bool:
                if not documents_are(documents) or unfinished(url) != (0, 0):
                    return False
                ((delivered,),) = query(url, "SELECT count(*) FROM digests")
                return len(smtp_server.messages) == delivered

            within(60, done, "every document in, every claim in a delivered digest", started,
                   lambda: (set(documents.items()) ^ {(u, h) for u, (h, _) in stored_documents(url).items()},
                            unfinished(url), len(smtp_server.messages)))
            time.sleep(1.5)  # a digest sent twice, or late, would come now
            alive(started)
            stop_all(started)
        log.info("three workers: %.1f s from start to the last digest", time.monotonic() - started_at)
        two = cli(sqlite, "digest")
        assert two.returncode == 0, two.stderr

        reference = str(sqlite.parent / "var" / "monitor.sqlite3")
        expected = site.expected_claims(server)
        assert stored_claims(reference, site) == expected  # the reference is what the site says
        assert stored_claims(url, site) == expected  # each claim once, with the same documents
        sources_of = site.sources_of(server)
        for target in (reference, url):
            stored = stored_documents(target)
            assert {u: h for u, (h, _) in stored.items()} == documents
            assert all(source in sources_of[u] for u, (_, source) in stored.items())
        healthy = {f"page{n}": (None, 0, True) for n in range(len(site.pages))}
        healthy |= {f"feed{n}": (None, 0, True) for n in range(len(site.feeds))}
        assert stored_health(reference) == stored_health(url) == healthy

        once = Counter(dict.fromkeys(expected, 1))
        assert reported(eml_messages(sqlite.parent / "var" / "outbox"), site) == once
        assert reported(smtp_server.messages, site) == once  # every claim in one digest received: none twice
        ids = [str(m["Message-ID"]) for m in smtp_server.messages]
        assert len(set(ids)) == len(ids)

    # the work was shared: more than one worker polled and ingested, and no worker logged an error
    for name, worker in started.items():
        assert errors_logged(worker) == [], f"{name}:\n{worker.log()}"
    ingesting = [n for n, w in started.items() if any(e.get("documents_new_or_changed") for e in w.named("poll"))]
    assert len(ingesting) >= 2, {n: w.named("poll") for n, w in started.items()}


def test_claims_found_while_another_worker_sends_a_digest_are_in_the_next_one(
    postgres: Server, smtp_server: SmtpServer, tmp_path: Path
) -> None:
    """A worker that finds new claims while another holds the digest lock (its mail server slow to answer) sends
    nothing then; but once the lock is free their digest goes out: no claim waits for news that may never come."""
    build = Builder(17)
    pages = [build.page() for _ in range(3)]
    site = build.site
    slow = threading.Event()

    def slow_answer() -> None:
        if not slow.is_set():  # the first digest: the server takes four seconds to answer
            slow.set()
            time.sleep(4)

    smtp_server.before_accept = slow_answer
    with serving() as server:
        site.publish(server)
        url = postgres.create_database("digest_lock")
        shared = write_config(tmp_path / "corpus-monitor.toml", server, site,
                              store=f'url = "{url}"\nlease_seconds = 30', smtp=smtp_server)
        with workers(shared, "w1", "w2") as started:
            within(30, slow.is_set, "the first digest at the mail server", started, lambda: unfinished(url))
            build.add_sentences(pages[1], 2)  # news, while the digest lock is held: found by the other worker
            site.publish(server)
            expected = site.expected_claims(server)
            within(20, lambda: unfinished(url) == (0, 0) and len(stored_claims(url, site)) == len(expected),
                   "the news in a delivered digest", started, lambda: unfinished(url))
            stop_all(started)
        assert stored_claims(url, site) == expected
        assert reported(smtp_server.messages, site) == Counter(dict.fromkeys(expected, 1))
    locked_out = [e for w in started.values() for e in w.events() if e["event"].startswith("digest: another worker")]
    assert locked_out, "the news was found while the first digest was being sent, by the other worker"


# -- the claim lock ----------------------------------------------------------------------------------------------


def text_document(locator: str, sentences: Sequence[str]) -> tuple[Fetched, Document]:
    """A plain-text document of these sentences (under a heading, which is no claim), as a folder source reads it."""
    data = ("新稿\n\n" + "\n".join(sentences) + "\n").encode()
    fetched = Fetched(locator, data, hashlib.sha256(data).hexdigest(), source="wire", kind="text")
    return fetched, extract(fetched)


@dataclass
class Race:
    """Rounds of two stores on one database ingesting two reprints of one new sentence at the same moment."""

    url: str
    rounds: int
    writer: Writer = field(default_factory=lambda: Writer(29))
    #: (round, which ingest) -> the error it ended with
    errors: dict[tuple[int, int], str] = field(default_factory=dict)
    #: normalized text of each reprint -> its round
    round_of: dict[str, int] = field(default_factory=dict)

    def run(self, tmp_path: Path) -> dict[int, list[int]]:
        """Round -> for each claim recorded for its sentence, how many documents carry it."""
        reprints = []
        for n in range(self.rounds):
            first = self.writer.sentence()
            # a Traditional reprint (the same claim by its fingerprint) or a reworded one (a near-duplicate)
            second = self.writer.traditional(first) if n % 2 else self.writer.reworded(first)
            reprints.append((first, second))
            self.round_of |= {NORM.normalize(first): n, NORM.normalize(second): n}
        settings = config.load(None, cwd=tmp_path)
        start = threading.Barrier(2, timeout=30)

        def worker(side: int) -> None:
            with PgStore(self.url) as store:
                deps = Deps.of(store, settings)
                deps.ensure_index()
                for n, pair in enumerate(reprints):
                    fetched, document = text_document(f"/wire/{n}/{side}.txt", [pair[side]])
                    start.wait()
                    try:
                        ingest(fetched, document, deps, settings)
                    except StoreError as exc:
                        self.errors[(n, side)] = str(exc)

        threads = [threading.Thread(target=worker, args=(side,)) for side in (0, 1)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        carried: dict[int, list[int]] = {n: [] for n in range(self.rounds)}
        for normalized, documents in query(
            self.url, "SELECT c.normalized, count(o.document_id) FROM claims AS c"
            " LEFT JOIN occurrences AS o ON o.claim_id = c.id GROUP BY c.id ORDER BY c.id"
        ):
            carried[self.round_of[normalized]].append(int(documents))
        return carried


def test_two_workers_ingesting_two_reprints_of_one_new_sentence_at_once_record_one_claim_and_two_sources(
    postgres: Server, store_template: str, tmp_path: Path
) -> None:
    race = Race(postgres.create_database("claim_lock", template=store_template), rounds=40)
    carried = race.run(tmp_path)
    assert race.errors == {}
    assert carried == {n: [2] for n in range(race.rounds)}  # one claim a round, carried by both reprints


def test_without_the_claim_lock_the_same_race_goes_wrong(
    postgres: Server, store_template: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the lock is for: without it, the two ingests of a round decide alone, and in some round one of them
    fails (both give the new claim the same id, or the same fingerprint) or both record the claim."""
    monkeypatch.setattr(PgStore, "_claim_lock", lambda self: None)
    race = Race(postgres.create_database("no_claim_lock", template=store_template), rounds=40)
    carried = race.run(tmp_path)
    wrong = {n for n, counts in carried.items() if counts != [2]} | {n for n, _ in race.errors}
    log.info("without the claim lock: %d of %d rounds went wrong (%d ingests failed, %d sentences recorded twice)",
             len(wrong), race.rounds, len(race.errors), sum(1 for c in carried.values() if len(c) > 1))
    assert wrong


# -- faults ------------------------------------------------------------------------------------------------------


class Proxy:
    """A TCP proxy on 127.0.0.1 in front of the server: :meth:`cut` drops every connection through it at once, both
    ways (a reset, as when the network between a worker and the server fails); connections made after go through."""

    def __init__(self, port: int) -> None:
        self._port = port
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._pairs: list[tuple[socket.socket, socket.socket]] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return  # closed
            server = socket.create_connection(("127.0.0.1", self._port))
            with self._lock:
                self._pairs.append((client, server))
            for source, target in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(source, target), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, target: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                target.sendall(data)
            target.shutdown(socket.SHUT_WR)  # one end closed: the other hears of it

    def cut(self) -> None:
        with self._lock:
            pairs, self._pairs = self._pairs, []
        for pair in pairs:
            for sock in pair:
                with contextlib.suppress(OSError):  # the other end may be gone already
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    sock.shutdown(socket.SHUT_RDWR)  # wakes the pump reading it (a close alone would not)
                sock.close()

    def close(self) -> None:
        self._listener.close()
        self.cut()


def kill_backend_in_transaction(url: str) -> None:
    """End, from another connection, the server process of the connection that is in the middle of a transaction."""
    ((pid,),) = query(url, "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
                      " AND state = 'idle in transaction'")
    query(url, "SELECT pg_terminate_backend(%s)", (pid,))


@pytest.mark.parametrize("how", ["terminated", "cut"])
def test_a_connection_dropped_in_the_middle_of_an_ingest_leaves_nothing_half_written(
    postgres: Server, store_template: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    """A worker's connection drops after its ingest wrote the document and its claims, before it wrote their
    occurrences and committed: the server ends the connection (``terminated``), or the network between them resets
    it (``cut``). The ingest fails with a StoreError; nothing of the document stays; the next ingest of it, on a new
    connection of the same store, records it whole."""
    url = postgres.create_database(f"dropped_{how}", template=store_template)
    proxy = Proxy(postgres.port)
    writer = Writer(31)
    sentences = [writer.sentence() for _ in range(5)]
    fetched, document = text_document("/wire/dropped.txt", sentences)
    settings = config.load(None, cwd=tmp_path)
    tables = ("documents", "claims", "canonical", "occurrences", "postings")
    try:
        with PgStore(url.replace(f":{postgres.port}/", f":{proxy.port}/") if how == "cut" else url) as store:
            deps = Deps.of(store, settings)
            deps.ensure_index()
            add_occurrences = store.add_occurrences

            def drop_then_add(*args: Any) -> None:
                store.get_meta("nothing")  # any statement: the document's claims, held back till now, are written
                assert [query(url, f"SELECT count(*) FROM {t}")[0][0] for t in tables] == [0] * 5  # not committed
                proxy.cut() if how == "cut" else kill_backend_in_transaction(url)
                add_occurrences(*args)

            monkeypatch.setattr(store, "add_occurrences", drop_then_add)
            with pytest.raises(StoreError):
                ingest(fetched, document, deps, settings)
            monkeypatch.undo()

            def gone() -> bool:  # the server ended the transaction, and nothing of it stays
                return not query(url, "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
                                      " AND state LIKE 'idle in transaction%%'")

            wait_for(gone, 10, "the server rolled the transaction back")
            assert [query(url, f"SELECT count(*) FROM {t}")[0][0] for t in tables] == [0] * 5
            assert ingest(fetched, document, deps, settings) == 5  # a new connection: the document, whole
    finally:
        proxy.close()
    assert query(url, "SELECT locator FROM documents") == [("/wire/dropped.txt",)]
    assert sorted(n for (n,) in query(url, "SELECT normalized FROM claims")) == sorted(map(NORM.normalize, sentences))
    assert query(url, "SELECT count(*) FROM occurrences") == [(5,)]


def test_a_worker_killed_while_it_holds_leases_loses_nothing_but_time(
    postgres: Server, smtp_server: SmtpServer, tmp_path: Path, record_property: Callable[[str, object], None]
) -> None:
    """Two workers with 3-second leases; one leases every source and is SIGKILLed in the middle of its poll (a
    page and a feed's article answer slowly), after it stored what answered fast. The other polls those sources
    once the leases expire, not before: in the end every claim is recorded once, with all its documents, and
    mailed once."""
    build = Builder(37)
    pages = [build.page() for _ in range(5)]
    articles = [build.article("/f/0.xml") for _ in range(3)]
    build.story([pages[0], pages[4], articles[1]])  # the fast, the slow page and the slow article reprint a story
    site = build.site
    slow = [pages[4].path, articles[1].path]
    with serving() as server:
        site.publish(server)
        for path in slow:  # answers after a minute: the worker polling them is killed before
            server.set(path, next(d for d in [*site.pages, *site.articles] if d.path == path).html(), delay=60)
        url = postgres.create_database("killed")
        shared = write_config(tmp_path / "corpus-monitor.toml", server, site,
                              store=f'url = "{url}"\nlease_seconds = 3', smtp=smtp_server)
        fast = {u: h for u, h in site.expected_documents(server).items() if not u.endswith(tuple(slow))}
        with workers(shared, "w1", "w2") as started:

            def holding() -> str | None:
                """The worker holding every source's lease, once the fast documents are in and the slow ones asked."""
                alive(started)
                try:
                    holders = query(url, "SELECT holder, count(*) FROM leases WHERE expires_at > now() GROUP BY holder")
                    stored = {u: h for u, (h, _) in stored_documents(url).items()}
                except psycopg.errors.UndefinedTable:
                    return None
                asked = all(server.gets(path) for path in slow)
                every = len(holders) == 1 and holders[0][1] == len(site.pages) + len(site.feeds)
                return holders[0][0] if every and stored == fast and asked else None

            victim = within(30, holding, "one worker holding the leases, in the middle of its poll", started,
                            lambda: query(url, "SELECT * FROM leases"))
            ((left,),) = query(url, "SELECT extract(epoch FROM max(expires_at) - clock_timestamp()) FROM leases")
            asked = len(server.gets(pages[4].path))
            started[victim].process.kill()
            killed = time.monotonic()
            started[victim].process.wait(timeout=10)
            for path in slow:  # now quick to answer
                server.set(path, next(d for d in [*site.pages, *site.articles] if d.path == path).html())
            survivor = {name: w for name, w in started.items() if name != victim}
            within(20, lambda: len(server.gets(pages[4].path)) > asked, "the other worker polling the slow page",
                   survivor, lambda: query(url, "SELECT * FROM leases"))
            takeover = time.monotonic() - killed
            expected = site.expected_claims(server)
            within(20, lambda: unfinished(url) == (0, 0) and len(stored_claims(url, site)) == len(expected),
                   "every claim in a delivered digest", survivor, lambda: unfinished(url))
            time.sleep(1.5)  # a claim mailed twice would be now
            stop_all(survivor)
        log.info("lease takeover: %.2f s after SIGKILL, the leases had %.2f s left", takeover, left)
        record_property("lease_takeover_seconds", round(takeover, 2))
        record_property("lease_left_at_kill_seconds", round(float(left), 2))
        assert float(left) - 0.3 <= takeover <= float(left) + 3  # not before the leases expired; soon after
        assert stored_claims(url, site) == expected
        assert {u: h for u, (h, _) in stored_documents(url).items()} == site.expected_documents(server)
        assert reported(smtp_server.messages, site) == Counter(dict.fromkeys(expected, 1))
        assert stored_health(url) == {**{f"page{n}": (None, 0, True) for n in range(5)}, "feed0": (None, 0, True)}
        assert query(url, "SELECT count(*) FROM leases WHERE holder IS NOT NULL") == [(0,)]


def test_workers_outlive_a_restart_of_the_server(smtp_server: SmtpServer, tmp_path: Path) -> None:
    """A server of its own, restarted under two running workers: each logs the error it met, connects again and goes
    on: what the site publishes after the restart is ingested and mailed, and both stop cleanly at the end."""
    build = Builder(41)
    pages = [build.page() for _ in range(4)]
    build.article("/f/0.xml")
    site = build.site
    with running() as server_of_its_own, serving() as server:
        site.publish(server)
        url = server_of_its_own.create_database("restarted")
        shared = write_config(tmp_path / "corpus-monitor.toml", server, site,
                              store=f'url = "{url}"\nlease_seconds = 30', smtp=smtp_server)
        with workers(shared, "w1", "w2") as started:

            def settled() -> bool:
                alive(started)
                try:
                    claims = stored_claims(url, site)
                except psycopg.Error:  # no tables yet; or the server restarting
                    return False
                return claims == site.expected_claims(server) and unfinished(url) == (0, 0)

            within(30, settled, "the site's claims mailed", started, lambda: unfinished(url))
            assert [e for w in started.values() for e in errors_logged(w)] == []
            before = {name: len(w.events()) for name, w in started.items()}  # what each logged before the restart
            server_of_its_own.restart()
            build.add_sentences(pages[2], 2)
            build.article("/f/0.xml")
            build.story([pages[3], site.articles[-1]])
            site.publish(server)
            within(30, settled, "what came after the restart, mailed", started, lambda: unfinished(url))

            def recovered(name: str) -> bool:
                """The worker logged an error of the store since the restart, and a poll after that."""
                events = started[name].events()[before[name] :]
                failed = [n for n, e in enumerate(events) if e["level"] == "error" and "postgresql://" in e["error"]]
                return bool(failed) and any(e["event"] == "poll" for e in events[failed[-1] + 1 :])

            within(20, lambda: all(map(recovered, started)), "each worker polling after its error",
                   started, lambda: "")
            alive(started)
            stop_all(started)
        assert reported(smtp_server.messages, site) == Counter(dict.fromkeys(site.expected_claims(server), 1))
