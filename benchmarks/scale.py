#!/usr/bin/env python
"""Benchmark: many workers on one PostgreSQL store (issue 13): polls and ingests per second with 1, 2 and 4 worker
processes against one process on SQLite, what the database costs per poll, novelty lookups at 10^6 claims on
either backend, and how long a dead worker's sources wait.

What it measures
----------------
Everything in one run, on servers the script starts itself: a PostgreSQL 15 server (Debian's binaries, ``initdb``
into a temporary folder as ``tests/pgserver.py`` does, as the ``postgres`` user when run as root, listening on
127.0.0.1 at a free port; ``fsync=off`` as in the tests unless ``--fsync``; ``pg_stat_statements`` loaded) and a
local keep-alive HTTP server (aiohttp, in a process of its own) serving ``--sources`` pages ``/p0`` ...

1. **Polls and ingests** (``--only poll`` / ``--only ingest``). A config declares one ``page`` source per URL
   (``every = 3600``), with politeness off as ``benchmarks/poll.py`` has it (``concurrency = 20``,
   ``per_host_concurrency = 20``, ``per_host_delay_seconds = 0``). Each page is a small Chinese article: five
   sentences no other page has (synthetic claims from ``benchmarks/novelty.py``'s generator) and two reprinted
   from a pool of 100, under a strong ETag; the server answers 304 to a request carrying that ETag. Each
   *configuration* is a fresh database (or SQLite file) and its worker processes: each a process of this script
   (``--child worker``) that loads the config, opens the store (``monitor.backends.open_store``), builds its
   ``Deps`` as the service does (its own worker name), says it is ready, and on the word calls
   ``pipeline.scan`` in a loop, pausing ``--idle-pause`` after a round of scans that polled nothing. Two rounds:

   - **ingest**: every page is new (200): extraction (in each worker's extraction processes, as the product
     does), claims, novelty lookup and inserts, in documents per second;
   - **unchanged poll**: the same sources an hour and a half later (the workers' clock runs ahead by that much,
     so every source is due again), every request a 304, in URLs per second; ``--poll-rounds`` times (default 3,
     each another hour and a half on), new worker processes each time, the median round printed (a round is
     a few seconds: one is at the mercy of whatever else the machine does).

   The time is from the word to the moment the workers have reported every source polled (each reports after
   each scan, once its polls are recorded); worker start-up (imports, a config of 10,000 sources, the store) is
   not in it. Each round checks that every source was polled exactly once across the workers (the server's
   count per path, the workers' lists of polled sources and ``source_health``), that no poll had an error, and
   after the ingest, that the documents and claims stored are those of every other configuration (and the
   number the pages were made with).

   Configurations: PostgreSQL with 1, 2 and 4 workers (``--workers``) *as shipped* (each scan leases every due
   source it can: see the results), PostgreSQL with 2 and 4 workers whose scans take the sources
   ``--slice`` at a time (the worker gives ``pipeline.scan`` settings holding one slice of the sources, walking
   the slices from its own starting point: what a cap on the sources a scan leases would do; the leases still
   decide who polls what), and SQLite with 1 worker.

   What the database costs, per round on PostgreSQL: the server's CPU time (``/proc/<pid>/stat`` of the
   postmaster and all its processes, those that ended included: the postmaster's reaped children), the
   statements executed (``pg_stat_statements``; ``executemany`` sends its statements pipelined, so round trips
   are fewer than statements), transactions committed, rows inserted, updated and deleted
   (``pg_stat_database``, read after the workers disconnected, so every backend's counts are in), WAL written
   (``pg_current_wal_lsn``), the database's size (``pg_database_size``) and bytes per source and per claim
   (``pg_total_relation_size``). In the workers: their CPU time (with their extraction processes'), and the
   claim lock: how long each ingest transaction held it, and how long taking it took (waiting for another
   worker), timed around ``PgStore._claim_lock`` and the transaction's end.

2. **Novelty lookups** (``--only novelty``) at ``--claims`` stored claims (default 10^6): the synthetic store of
   ``benchmarks/novelty.py`` (its builder, and its cached SQLite file under ``benchmarks/.cache/`` when there is
   one: built otherwise, about 2 minutes at 10^6), copied into PostgreSQL with ``monitor.store.postgres.copy_into``
   (timed), then ``VACUUM ANALYZE`` (autovacuum's work on a store in use). Queries are ``novelty.py``'s:
   paraphrases of stored claims in its four similarity bands and novel sentences (``--per-band`` each). Each
   lookup is the pipeline's path for claims with no exact match: ``find_exact_many`` of the fingerprints, then
   ``Deps.sketch`` (canonical form and shingle codes), ``candidates_many`` and ``novelty.decide``; timed per
   claim (one claim a call, as ``novelty.py`` times it) and per document (``--batch`` claims a call inside one
   store transaction, as ``ingest_verdicts`` does: on PostgreSQL that transaction takes the claim lock). Each
   (backend, batch) is measured in a fresh process, ``--rounds`` times in turn; the median round is printed: µs
   per claim in all and in the store's two calls, the process's peak RSS (VmHWM) and, on PostgreSQL, the CPU
   time and memory of the server process that answered (its RSS: private, and the pages of ``shared_buffers``
   it touched). Both backends must return the same candidates and verdicts for every query (checked).

3. **Lease takeover** (``--only takeover``): ``--takeover-sources`` sources (``/h0`` ...) in a fresh database, with
   ``[store] lease_seconds = 5``. While the server holds every such request unanswered, a worker starts a scan:
   it leases all the sources and has 20 requests in flight. A second later it is SIGKILLed (its process group)
   and the server starts answering; a second worker, looping ``pipeline.scan`` with a 0.1 s pause, has been
   running since just before the kill. Printed: the lease time left at the kill (on the database's clock), the
   seconds from the kill until the second worker held the leases, and until it had polled every source. In a
   service the second worker scans every ``poll_every``, which adds up to one such interval.

Measured here
-------------
Two cores, PostgreSQL 15 with fsync off, three full runs (the poll the median of 3 rounds in the last; other
engineers' tests ran meanwhile). Ingest, documents/s: PostgreSQL 1 worker 69-79; 2 workers as shipped 65-82,
4 as shipped 56-72 (one worker's scan leased all 10,000 sources; the others polled none); 2 workers sliced 74-84,
4 sliced 69-97; SQLite 1 worker 140-142. Unchanged poll, URLs/s: PostgreSQL 1 worker 3,400-3,800; 2 as shipped
2,500-3,500, 4 as shipped 2,300-3,100; 2 sliced 3,300-4,700, 4 sliced 3,500-4,400; SQLite 3,300-4,100.

- Polls: the database's part is small, 0.03-0.06 ms of server CPU, 2 statements (the lease given back and the
  health row, one statement each per source; the lease taken is one statement per scan), 3 rows updated and
  1.0 KB of WAL per poll; the worker's own CPU is about 0.3 ms a poll, the HTTP server's 0.08 ms. On two cores
  busy with all of it more workers add little; what a second one adds it adds only when its scans take a share
  of the sources (sliced), since as shipped the first scan leases every due source.
- Ingest does not scale with workers: the claim lock is held 81-85 % of the wall time with one worker and 97-98 %
  with 2 or 4 sliced ones, 10-15 ms per document (its ~250 statements, 213 of them upserts of posting rows, and
  the novelty decisions between them); the fleet's documents per second are bounded by 1 / (lock time per
  document), whatever the number of workers. Per document: 5.3-9.2 ms of server CPU, about 250 rows written (63
  inserted, 186 updated), 50 KB of WAL. SQLite, one process, no lock held across statements: 140 a second.
- Sizes: about 1.0 KB per source after one poll (leases, source_health, http_cache with their indexes), 1.2-1.7 KB
  after four (dead rows not yet vacuumed); 2.15 KB per claim of these pages (documents, claims, occurrences,
  canonical, postings), 127-133 MB for the 10,000 pages against 66 MB in SQLite; the synthetic 10^6-claim store
  1,338 MB against SQLite's 965 MB (copy_into: 4.9 million rows in 35 s).
- Lookups at 10^6 claims, µs per claim: SQLite 625-660 one a call, 491-562 twenty a call; PostgreSQL 1,191-1,511
  and 805-849, of which 490-590 and 330-350 µs of server CPU. Peak RSS of the measuring process 231-233 MB on
  PostgreSQL (370-376 MB on SQLite, whose file pages it maps); the server process answering 145 MB, 132 MB of it
  pages of shared_buffers (128 MB: all of them).
- Takeover (lease_seconds 5): killed 3.8 s before its leases expired, the sources leased again 3.9 s after the
  kill and all polled 6.4-7.0 s after it.

Run
---
::

    .venv/bin/python benchmarks/scale.py                             # everything, full size (~15 min; the first
                                                                     # time 2 more to build the 10^6 store)
    .venv/bin/python benchmarks/scale.py --sources 1000 --claims 100000   # quicker
    .venv/bin/python benchmarks/scale.py --only ingest --workers 1,2
    .venv/bin/python benchmarks/scale.py --only novelty --claims 100000
    .venv/bin/python benchmarks/scale.py --only takeover

Options: ``--only poll|ingest|novelty|takeover`` (repeatable; poll alone primes each store's validators through
the store instead of ingesting), ``--sources N`` (default 10,000), ``--workers 1,2,4``, ``--slice N`` (default
1000), ``--no-sliced``, ``--no-sqlite``, ``--idle-pause`` (default 1 s), ``--claims N`` (default 10^6),
``--per-band``, ``--batch``, ``--rounds``, ``--takeover-sources``, ``--fsync``.

The figures are noisy: the machine has 2 cores shared by the workers, their extraction processes, the HTTP
server, PostgreSQL and this script (and by whatever else runs); the CPU times printed say who used them. This is
an on-demand measurement, not a test: it asserts nothing but the sanity of what it measured.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import queue
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "benchmarks"
sys.path[:0] = [str(ROOT / "tests")]
import pgserver  # noqa: E402 - after the path is set: the tests' throw-away PostgreSQL server

CACHE = BENCH / ".cache"
#: the seed of benchmarks/novelty.py (its vocabulary and cached stores are shared)
NOVELTY_SEED = 20240730
#: a page's own sentences, and the ones it reprints from a pool of REPRINT_POOL
NEW_PER_PAGE, REPRINTS_PER_PAGE, REPRINT_POOL = 5, 2, 100
#: how far ahead the workers' clock runs in the unchanged poll (sources have every = 3600)
POLL_AHEAD = timedelta(minutes=90)
EVERY = 3600
#: a round that has not finished after this long is a failure
ROUND_TIMEOUT = 3600.0
TAKEOVER_LEASE = 5
CLK_TCK = os.sysconf("SC_CLK_TCK")


# -- PostgreSQL: the tests' throw-away server (tests/pgserver.py), with pg_stat_statements ----------------------


@dataclass(frozen=True)
class PgServer:
    """A running server (tests/pgserver.py's), with what the benchmark reads of it."""

    server: pgserver.Server

    def url(self, database: str = "postgres") -> str:
        return str(self.server.url(database))

    def create_database(self, name: str) -> str:
        import psycopg

        url = str(self.server.create_database(name))
        with psycopg.connect(url, autocommit=True) as db:
            db.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        return url

    def postmaster(self) -> int:
        assert self.server.data is not None
        return int((self.server.data / "postmaster.pid").read_text().split("\n", 1)[0])

    def cpu_seconds(self) -> float:
        """CPU time of the server so far: the postmaster's own and its reaped children's, and its live children's."""
        root = self.postmaster()
        total = 0.0
        for stat in _all_stats():
            if stat.pid == root or stat.ppid == root:
                total += stat.cpu(children=True)
        return total


@dataclass(frozen=True)
class _Stat:
    pid: int
    ppid: int
    ticks: tuple[int, int, int, int]  # utime, stime, cutime, cstime

    def cpu(self, children: bool = False) -> float:
        return sum(self.ticks if children else self.ticks[:2]) / CLK_TCK


def _stat(pid: int) -> _Stat | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw[raw.rindex(")") + 2 :].split()  # after "pid (comm) ": state is fields[0]
    return _Stat(pid, int(fields[1]), (int(fields[11]), int(fields[12]), int(fields[13]), int(fields[14])))


def _all_stats() -> Iterator[_Stat]:
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (stat := _stat(int(entry.name))) is not None:
            yield stat


def _memory_mb(pid: int) -> dict[str, float]:
    """VmRSS, RssAnon, RssShmem and VmHWM of a process, in MB."""
    found: dict[str, float] = {}
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "RssAnon", "RssShmem", "VmHWM"):
                found[key] = int(value.split()[0]) / 1024
    return found


@contextlib.contextmanager
def pg_server(fsync: bool) -> Iterator[PgServer]:
    """The tests' throw-away server with pg_stat_statements loaded; fsync off as there unless asked."""
    if pgserver.binaries() is None:
        raise SystemExit(f"no PostgreSQL server under {pgserver.DEBIAN} (make postgres, or apt-get install postgresql)")
    settings = "-c shared_preload_libraries=pg_stat_statements -c pg_stat_statements.max=1000"
    with pgserver.running(settings, fsync=fsync) as server:
        yield PgServer(server)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- the pages and their server ---------------------------------------------------------------------------------------


def _novelty_module() -> Any:
    """benchmarks/novelty.py, for its generator of synthetic claims and its store builder."""
    if str(BENCH) not in sys.path:
        sys.path.insert(0, str(BENCH))
    import novelty

    return novelty


def make_pages(n: int, workdir: Path) -> tuple[Path, list[list[str]]]:
    """The pages' sentences: a JSON file the server reads, and the list."""
    nov = _novelty_module()
    nov._prepare_cache(CACHE)
    words = nov.cached_vocabulary(CACHE, NOVELTY_SEED)
    texts, _ = nov._claims(words, REPRINT_POOL + n * NEW_PER_PAGE, NOVELTY_SEED + 13)
    pool, own = texts[:REPRINT_POOL], texts[REPRINT_POOL:]
    r = random.Random(NOVELTY_SEED)
    pages = []
    for i in range(n):
        mine = own[i * NEW_PER_PAGE : (i + 1) * NEW_PER_PAGE]
        again = r.sample(pool, REPRINTS_PER_PAGE)
        pages.append([*mine[:3], again[0], *mine[3:], again[1]])
    path = workdir / "pages.json"
    path.write_text(json.dumps(pages, ensure_ascii=False), "utf-8")
    return path, pages


def serve(port: int, pages_path: Path) -> None:
    """The benchmark's HTTP server (run in its own process): /p<i> (200, or 304 to its ETag), /h<i> (held while
    /_hold is on), /robots.txt, and /_stats, /_reset, /_hold/on|off for the benchmark."""
    import asyncio
    from collections import Counter

    from aiohttp import web

    pages: list[list[str]] = json.loads(pages_path.read_text("utf-8"))
    counts: Counter[str] = Counter()
    statuses: Counter[int] = Counter()
    held = {"on": False, "now": 0}

    def article(i: int) -> str:
        sentences = pages[i % len(pages)]
        return (f"<html><head><meta charset='utf-8'><title>第{i}号测试文章</title></head><body><article>"
                f"<h1>第{i}号测试文章</h1><p>{''.join(sentences[:4])}</p><p>{''.join(sentences[4:])}</p>"
                "</article></body></html>")

    async def page(request: web.Request) -> web.Response:
        path, i = request.path, int(request.match_info["i"])
        counts[path] += 1
        etag = f'"v1-{i}"'
        if request.headers.get("If-None-Match") == etag:
            statuses[304] += 1
            return web.Response(status=304, headers={"ETag": etag})
        statuses[200] += 1
        return web.Response(text=article(i), content_type="text/html", charset="utf-8", headers={"ETag": etag})

    async def hold(request: web.Request) -> web.Response:
        counts[request.path] += 1
        if held["on"]:
            held["now"] += 1
            try:
                while held["on"]:
                    await asyncio.sleep(0.05)
            finally:
                held["now"] -= 1
        statuses[200] += 1
        return web.Response(text=article(int(request.match_info["i"])), content_type="text/html", charset="utf-8")

    async def robots(request: web.Request) -> web.Response:
        return web.Response(text="User-agent: *\nAllow: /\n", content_type="text/plain")

    async def stats(request: web.Request) -> web.Response:
        per = list(counts.values())
        return web.json_response({"paths": len(per), "requests": sum(per), "most": max(per, default=0),
                                  "least": min(per, default=0), "200": statuses[200], "304": statuses[304],
                                  "held": held["now"], "per_path": dict(counts)})

    async def reset(request: web.Request) -> web.Response:
        counts.clear()
        statuses.clear()
        return web.json_response({})

    async def set_hold(request: web.Request) -> web.Response:
        held["on"] = request.match_info["state"] == "on"
        return web.json_response({})

    app = web.Application()
    app.router.add_get("/robots.txt", robots)
    app.router.add_get("/_stats", stats)
    app.router.add_get("/_reset", reset)
    app.router.add_get("/_hold/{state}", set_hold)
    app.router.add_get(r"/p{i:\d+}", page)
    app.router.add_get(r"/h{i:\d+}", hold)
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None, handle_signals=True)


@dataclass
class WebServer:
    port: int
    pid: int

    def ask(self, what: str) -> dict[str, Any]:
        import urllib.request

        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/{what}", timeout=30) as response:
            answer: dict[str, Any] = json.load(response)
        return answer

    def cpu_seconds(self) -> float:
        stat = _stat(self.pid)
        return stat.cpu() if stat else 0.0


@contextlib.contextmanager
def web_server(pages_path: Path) -> Iterator[WebServer]:
    port = _free_port()
    proc = subprocess.Popen([sys.executable, __file__, "--serve", str(port), "--pages", str(pages_path)])
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
                break
            time.sleep(0.05)
        else:
            raise SystemExit("benchmark HTTP server did not start")
        yield WebServer(port, proc.pid)
    finally:
        proc.terminate()
        proc.wait(10)


def write_config(path: Path, port: int, n: int, *, url: str | None = None, sqlite: Path | None = None,
                 prefix: str = "p", lease_seconds: float | None = None) -> Path:
    store = f'url = "{url}"' if url else f'path = "{sqlite}"'
    if lease_seconds is not None:
        store += f"\nlease_seconds = {lease_seconds}"
    lines = [f"[store]\n{store}\n", "[http]\nconcurrency = 20\nper_host_concurrency = 20\nper_host_delay_seconds = 0\n"]
    lines += [f'[[sources]]\nkind = "page"\nurl = "http://127.0.0.1:{port}/{prefix}{i}"\nevery = {EVERY}\n'
              for i in range(n)]
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


# -- a worker process --------------------------------------------------------------------------------------------------


class _LockTimer:
    """Times the claim lock of a PgStore: from the moment ``_claim_lock`` has it to the end of its transaction
    (held), and the ``_claim_lock`` calls that took it (taking: a round trip, and any wait for another worker)."""

    def __init__(self, store: Any) -> None:
        self.held = self.taking = 0.0
        self.transactions = 0
        self._since: float | None = None
        take, commit, rollback = store._claim_lock, store._commit, store._rollback

        def claim_lock() -> None:
            before = store._locked
            t0 = time.perf_counter()
            take()
            if store._locked and not before:
                self._since = time.perf_counter()
                self.taking += self._since - t0

        def ended(end: Any) -> Any:
            def wrapper(depth: int) -> None:
                try:
                    end(depth)
                finally:
                    if depth == 0 and self._since is not None:
                        self.held += time.perf_counter() - self._since
                        self.transactions += 1
                        self._since = None
            return wrapper

        store._claim_lock, store._commit, store._rollback = claim_lock, ended(commit), ended(rollback)


def worker(args: argparse.Namespace) -> None:
    """A worker: pipeline.scan in a loop once told "go", until told "stop"; a line of JSON after each scan that
    polled something, and one with its totals at the end."""
    from dataclasses import replace

    from monitor import backends, config, pipeline
    from monitor.extracting import settle_collector

    config_path = Path(args.config)
    settings = config.load(config_path, cwd=config_path.parent)
    store = backends.open_store(settings)
    ahead = timedelta(minutes=args.ahead_minutes)
    deps = pipeline.Deps.of(store, settings, worker=args.name, clock=lambda: datetime.now(UTC) + ahead)
    deps.ensure_index()
    _ = deps.normalizer  # built before the word, as a running service has it
    lock = _LockTimer(store) if store.shared else None
    if args.slice:
        sources = settings.sources
        parts = [replace(settings, sources=sources[i : i + args.slice]) for i in range(0, len(sources), args.slice)]
        start = len(parts) * args.index // args.of
        parts = parts[start:] + parts[:start]
    else:
        parts = [settings]
    settle_collector()
    print("ready", flush=True)
    if sys.stdin.readline().strip() != "go":
        return
    stop = threading.Event()

    def listen() -> None:
        sys.stdin.readline()  # "stop", or the driver gone
        stop.set()

    threading.Thread(target=listen, daemon=True).start()
    polled: list[str] = []
    ingested = unchanged = scans = new_claims = 0
    errors: list[str] = []
    busy_seconds = 0.0
    while not stop.is_set():
        busy = False
        for part in parts:
            if stop.is_set():
                break
            t0 = time.perf_counter()
            outcomes, new = pipeline.scan(part, deps)
            scans += 1
            mine = [o for o in outcomes if o.polled]
            if mine:
                busy = True
                busy_seconds += time.perf_counter() - t0
                polled += [o.source for o in mine]
                ingested += sum(o.ingested for o in mine)
                unchanged += sum(o.unchanged for o in mine)
                new_claims += new
                errors += [e for o in mine for e in o.errors][:5]
                print(json.dumps({"polled": len(mine), "ingested": sum(o.ingested for o in mine)}), flush=True)
        if not busy:
            stop.wait(args.idle_pause)
    times = os.times()
    print(json.dumps({
        "done": True, "name": args.name, "polled": polled, "ingested": ingested, "unchanged": unchanged,
        "new_claims": new_claims, "scans": scans, "errors": errors, "busy_seconds": busy_seconds,
        "cpu": times.user + times.system, "cpu_children": times.children_user + times.children_system,
        "lock_held": lock.held if lock else None, "lock_taking": lock.taking if lock else None,
        "lock_transactions": lock.transactions if lock else None,
    }), flush=True)
    store.close()


class Worker:
    """A worker process of this script, seen from the driver: its lines of output, tagged, on a shared queue."""

    def __init__(self, lines: queue.Queue[tuple[Worker, str | None]], config: Path, name: str, *, index: int = 0,
                 of: int = 1, slice_size: int = 0, ahead: timedelta = timedelta(0), idle_pause: float = 1.0,
                 session: bool = False) -> None:
        self.name = name
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--child", "worker", "--config", str(config), "--name", name,
             "--index", str(index), "--of", str(of), "--slice", str(slice_size),
             "--ahead-minutes", str(ahead.total_seconds() / 60), "--idle-pause", str(idle_pause)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=config.parent, start_new_session=session,
        )
        self.polled = 0
        self.ready = False
        self.result: dict[str, Any] | None = None
        assert self.proc.stdout is not None
        out = self.proc.stdout

        def read() -> None:
            for line in out:
                lines.put((self, line.strip()))
            lines.put((self, None))

        threading.Thread(target=read, daemon=True).start()

    def take(self, line: str | None) -> None:
        """A line of its output: ready, a scan's progress, its totals; None when it ended."""
        if line is None:
            if self.result is None:
                raise SystemExit(f"worker {self.name} ended (status {self.proc.wait()}) before it was done")
        elif line == "ready":
            self.ready = True
        elif line.startswith("{"):
            data = json.loads(line)
            if data.get("done"):
                self.result = data
            else:
                self.polled += int(data["polled"])

    def send(self, word: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(word + "\n")
        self.proc.stdin.flush()

    def end(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()


class Workers:
    """Worker processes started together, told "go" together, and stopped once they polled what was expected."""

    def __init__(self) -> None:
        self.lines: queue.Queue[tuple[Worker, str | None]] = queue.Queue()
        self.all: list[Worker] = []

    def start(self, config: Path, name: str, **options: Any) -> Worker:
        one = Worker(self.lines, config, name, **options)
        self.all.append(one)
        return one

    def pump(self, timeout: float) -> None:
        """Take the workers' lines for at most ``timeout`` seconds (returns at the first)."""
        with contextlib.suppress(queue.Empty):
            who, line = self.lines.get(timeout=timeout)
            who.take(line)
            while True:
                who, line = self.lines.get_nowait()
                who.take(line)

    def wait_ready(self, timeout: float = 600) -> None:
        deadline = time.monotonic() + timeout
        while not all(w.ready for w in self.all):
            if time.monotonic() > deadline:
                raise SystemExit("workers did not start in time")
            self.pump(0.5)

    def finish(self, timeout: float = 300) -> list[dict[str, Any]]:
        for w in self.all:
            if w.proc.poll() is None and w.result is None:
                w.send("stop")
        deadline = time.monotonic() + timeout
        while any(w.result is None for w in self.all):
            if time.monotonic() > deadline:
                raise SystemExit("workers did not stop in time")
            self.pump(0.5)
        for w in self.all:
            w.proc.wait(60)
        return [w.result for w in self.all if w.result is not None]

    def close(self) -> None:
        for w in self.all:
            w.end()


# -- the database's side -----------------------------------------------------------------------------------------------

#: the driver's own statements, left out of the statement counts
_OURS = ("pg_stat", "pg_current_wal_lsn", "pg_database_size", "pg_total_relation_size", "pg_backend_pid")


@dataclass
class DbSnapshot:
    cpu: float
    counters: dict[str, int]
    wal: str
    size: int


def db_snapshot(pg: PgServer, url: str) -> DbSnapshot:
    import psycopg

    with psycopg.connect(url, autocommit=True) as db:
        names = ("xact_commit", "xact_rollback", "tup_inserted", "tup_updated", "tup_deleted", "tup_fetched",
                 "tup_returned", "blks_hit", "blks_read")
        row = db.execute(f"SELECT {', '.join(names)} FROM pg_stat_database WHERE datname = current_database()"
                         ).fetchone()
        (wal,) = db.execute("SELECT pg_current_wal_lsn()::text").fetchone() or ("0/0",)
        (size,) = db.execute("SELECT pg_database_size(current_database())").fetchone() or (0,)
    return DbSnapshot(pg.cpu_seconds(), dict(zip(names, map(int, row or ()), strict=True)), str(wal), int(size))


def wait_disconnected(url: str, timeout: float = 30) -> None:
    """Until no worker is connected: a backend's statistics are all counted once it has ended."""
    import psycopg

    deadline = time.monotonic() + timeout
    with psycopg.connect(url, autocommit=True) as db:
        while time.monotonic() < deadline:
            row = db.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'corpus-monitor'"
                             ).fetchone()
            if row and row[0] == 0:
                break
            time.sleep(0.1)
    time.sleep(0.3)  # the postmaster reaps them (their CPU time joins its children's)


def reset_statements(url: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as db:
        db.execute("SELECT pg_stat_statements_reset()")


def statements(url: str) -> list[tuple[str, int, int, float]]:
    """(query, calls, rows, total ms) of this database's statements since the reset, the driver's own left out."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as db:
        rows = db.execute(
            "SELECT query, calls, rows, total_exec_time FROM pg_stat_statements"
            " WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) ORDER BY calls DESC"
        ).fetchall()
    return [(str(q), int(c), int(r), float(t)) for q, c, r, t in rows if not any(o in str(q) for o in _OURS)]


def wal_bytes(url: str, before: str, after: str) -> int:
    import psycopg

    with psycopg.connect(url, autocommit=True) as db:
        row = db.execute("SELECT pg_wal_lsn_diff(%s::pg_lsn, %s::pg_lsn)", (after, before)).fetchone()
    return int(row[0]) if row else 0


def store_counts(*, url: str | None = None, sqlite: Path | None = None, since: str = "") -> dict[str, int]:
    """Rows in the store: documents, claims, occurrences, sources with health, sources polled at ``since`` or
    later."""
    queries = {
        "documents": "SELECT count(*) FROM documents",
        "claims": "SELECT count(*) FROM claims",
        "occurrences": "SELECT count(*) FROM occurrences",
        "health": "SELECT count(*) FROM source_health",
        "failing": "SELECT count(*) FROM source_health WHERE failures > 0",
        "new": "SELECT count(*) FROM occurrences WHERE match = 'new'",
        "near": "SELECT count(DISTINCT text) FROM occurrences WHERE match = 'near'",
    }
    found: dict[str, int] = {}
    if url is not None:
        import psycopg

        with psycopg.connect(url, autocommit=True) as db:
            for name, sql in queries.items():
                found[name] = int((db.execute(sql).fetchone() or (0,))[0])
            row = db.execute("SELECT count(*) FROM source_health WHERE last_attempt >= %s", (since,)).fetchone()
    else:
        import sqlite3

        with contextlib.closing(sqlite3.connect(f"file:{sqlite}?mode=ro", uri=True)) as db:
            for name, sql in queries.items():
                found[name] = int(db.execute(sql).fetchone()[0])
            row = db.execute("SELECT count(*) FROM source_health WHERE last_attempt >= ?", (since,)).fetchone()
    found["polled_since"] = int(row[0]) if row else 0
    return found


def near_pairs(*, url: str | None = None, sqlite: Path | None = None) -> set[tuple[str, str, float]]:
    """(sentence, the claim it was found a near-duplicate of, score) of every near-duplicate decision stored."""
    query = ("SELECT DISTINCT o.text, c.text, o.score FROM occurrences AS o JOIN claims AS c ON c.id = o.claim_id"
             " WHERE o.match = 'near'")
    if url is not None:
        import psycopg

        with psycopg.connect(url, autocommit=True) as db:
            return {(str(a), str(b), round(float(x), 3)) for a, b, x in db.execute(query)}
    import sqlite3

    with contextlib.closing(sqlite3.connect(f"file:{sqlite}?mode=ro", uri=True)) as db:
        return {(str(a), str(b), round(float(x), 3)) for a, b, x in db.execute(query)}


def relation_bytes(url: str, tables: Sequence[str]) -> int:
    import psycopg

    with psycopg.connect(url, autocommit=True) as db:
        return sum(int((db.execute("SELECT pg_total_relation_size(%s)", (t,)).fetchone() or (0,))[0]) for t in tables)


# -- a round: every source polled once --------------------------------------------------------------------------------


@dataclass
class Round:
    kind: str
    seconds: float
    n: int
    per_worker: list[int]
    worker_cpu: float
    web_cpu: float
    counts: dict[str, int]
    db: dict[str, float] = field(default_factory=dict)
    top: list[tuple[str, int, int, float]] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.n / self.seconds


def run_round(kind: str, config: Path, n: int, workers: int, web: WebServer, *, slice_size: int, ahead: timedelta,
              idle_pause: float, pg: PgServer | None, url: str | None, sqlite: Path | None) -> Round:
    """Start the workers, say go, wait until they have polled every source once, stop them; check and measure."""
    web.ask("_reset")
    since = (datetime.now(UTC) + ahead - timedelta(minutes=1)).isoformat()
    group = Workers()
    try:
        for k in range(workers):
            group.start(config, f"w{k}", index=k, of=workers, slice_size=slice_size, ahead=ahead,
                        idle_pause=idle_pause)
        group.wait_ready()
        before = db_snapshot(pg, url) if pg and url else None
        if url:
            reset_statements(url)
        web_cpu = web.cpu_seconds()
        t0 = time.perf_counter()
        for w in group.all:
            w.send("go")
        while sum(w.polled for w in group.all) < n:
            if time.perf_counter() - t0 > ROUND_TIMEOUT:
                raise SystemExit(f"{kind} round: not every source polled after {ROUND_TIMEOUT:.0f} s")
            group.pump(0.5)
        seconds = time.perf_counter() - t0
        web_cpu = web.cpu_seconds() - web_cpu
        results = group.finish()
    finally:
        group.close()
    served = web.ask("_stats")
    result = Round(kind, seconds, n, [len(r["polled"]) for r in results],
                   sum(r["cpu"] + r["cpu_children"] for r in results), web_cpu, {})
    if pg and url and before:
        wait_disconnected(url)
        after = db_snapshot(pg, url)
        delta = {k: after.counters[k] - before.counters[k] for k in after.counters}
        found = statements(url)
        result.top = found
        held = [r["lock_held"] for r in results if r["lock_held"] is not None]
        result.db = {
            "server_cpu": after.cpu - before.cpu,
            "statements": sum(c for _, c, _, _ in found),
            "statement_ms": sum(t for q, _, _, t in found if "pg_advisory_xact_lock" not in q),
            "lock_wait_ms": sum(t for q, _, _, t in found if "pg_advisory_xact_lock" in q),
            "commits": delta["xact_commit"],
            "rows_written": delta["tup_inserted"] + delta["tup_updated"] + delta["tup_deleted"],
            "inserted": delta["tup_inserted"], "updated": delta["tup_updated"], "deleted": delta["tup_deleted"],
            "wal": wal_bytes(url, before.wal, after.wal),
            "size": after.size,
            "lock_held": sum(held),
            "lock_taking": sum(r["lock_taking"] or 0.0 for r in results),
            "lock_transactions": sum(r["lock_transactions"] or 0 for r in results),
        }
    result.counts = store_counts(url=url, sqlite=sqlite, since=since)  # after the statistics: not counted in them
    _check_round(result, results, served)
    return result


def _check_round(result: Round, results: list[dict[str, Any]], served: dict[str, Any]) -> None:
    """That every source was polled exactly once, without an error, as the round's kind expects."""
    n, kind = result.n, result.kind
    names = [name for r in results for name in r["polled"]]
    problems = []
    if len(names) != n or len(set(names)) != n:
        problems.append(f"the workers polled {len(names)} sources, {len(set(names))} distinct (expected {n} once)")
    if (served["paths"], served["most"], served["least"]) != (n, 1, 1):
        problems.append(f"the server saw {served['paths']} paths requested {served['least']}-{served['most']} times")
    status = "200" if kind == "ingest" else "304"
    if served[status] != n:
        problems.append(f"the server answered {served[status]} x {status}, not {n}")
    if result.counts["polled_since"] != n or result.counts["failing"]:
        problems.append(f"source_health: {result.counts['polled_since']} sources polled in this round, "
                        f"{result.counts['failing']} failing")
    errors = [e for r in results for e in r["errors"]]
    if errors:
        problems.append(f"{len(errors)} errors, e.g. {errors[0]}")
    ingested = sum(r["ingested"] for r in results)
    unchanged = sum(r["unchanged"] for r in results)
    expected = (n, 0) if kind == "ingest" else (0, n)
    if (ingested, unchanged) != expected:
        problems.append(f"ingested/unchanged {ingested}/{unchanged}, expected {expected[0]}/{expected[1]}")
    if problems:
        raise SystemExit(f"{kind} round went wrong: " + "; ".join(problems))


def prime(config: Path) -> None:
    """For a poll round without an ingest before it: the pages' validators, saved through the store."""
    from monitor import backends
    from monitor import config as config_mod
    from monitor.config import PageSource
    from monitor.models import Validators

    settings = config_mod.load(config, cwd=config.parent)
    now = datetime.now(UTC)
    with backends.open_store(settings) as store:
        for source in settings.sources:
            assert isinstance(source, PageSource)
            store.save_validators(source.url, Validators(f'"v1-{source.url.rsplit("/p", 1)[1]}"'), now)


# -- 1. polls and ingests, per configuration -------------------------------------------------------------------------


@dataclass
class Setup:
    backend: str
    workers: int
    slice_size: int
    rounds: dict[str, Round] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    near: set[tuple[str, str, float]] = field(default_factory=set)
    size: int = 0
    per_source: float = 0.0
    per_claim: float = 0.0

    @property
    def label(self) -> str:
        how = f"sliced {self.slice_size}" if self.slice_size else "as shipped"
        return f"{'PostgreSQL' if self.backend == 'postgres' else 'SQLite'}, {self.workers} worker" + \
            ("s" if self.workers > 1 else "") + (f", {how}" if self.backend == "postgres" else "")


def run_setup(setup: Setup, args: argparse.Namespace, parts: set[str], web: WebServer, pg: PgServer | None,
              workdir: Path, expected_claims: int) -> None:
    name = f"{setup.backend}_w{setup.workers}" + (f"_s{setup.slice_size}" if setup.slice_size else "")
    url = pg.create_database(name) if setup.backend == "postgres" and pg else None
    sqlite = workdir / f"{name}.sqlite3" if url is None else None
    config = write_config(workdir / f"{name}.toml", web.port, args.sources, url=url, sqlite=sqlite)
    print(f"\n[{setup.label}]", flush=True)
    common = {"slice_size": setup.slice_size, "idle_pause": args.idle_pause, "pg": pg, "url": url, "sqlite": sqlite}
    if "ingest" in parts:
        one = setup.rounds["ingest"] = run_round("ingest", config, args.sources, setup.workers, web,
                                                 ahead=timedelta(0), **common)
        setup.counts = {k: one.counts[k] for k in ("documents", "claims", "occurrences", "new", "near")}
        setup.near = near_pairs(url=url, sqlite=sqlite)
        print(_round_line(one, "documents"), flush=True)
        c = setup.counts
        print(f"    stored {c['documents']:,} documents, {c['occurrences']:,} occurrences, {c['claims']:,} claims: "
              f"with the {c['near']} sentences found near-duplicates of one, the {expected_claims:,} distinct "
              "sentences of the pages")
        problems = []
        if c["documents"] != args.sources or c["occurrences"] != args.sources * (NEW_PER_PAGE + REPRINTS_PER_PAGE):
            problems.append("not every page and sentence is stored")
        if c["new"] != c["claims"] or c["claims"] + c["near"] != expected_claims:
            problems.append(f"{c['new']} occurrences are 'new' and {c['claims']} + {c['near']} sentences are claims "
                            f"or near-duplicates of one, not {expected_claims}")
        if problems:
            raise SystemExit("the ingest stored the wrong rows: " + "; ".join(problems))
    else:
        prime(config)
    if "poll" in parts:  # short rounds: several, the median one printed
        polls = [run_round("poll", config, args.sources, setup.workers, web, ahead=POLL_AHEAD * (k + 1), **common)
                 for k in range(args.poll_rounds)]
        one = setup.rounds["poll"] = sorted(polls, key=lambda r: r.seconds)[(len(polls) - 1) // 2]
        print(_round_line(one, "URLs").replace("(all 304):", f"(all 304), the median of {len(polls)} rounds ("
                                                + ", ".join(f"{r.rate:,.0f}" for r in polls) + " URLs/s):"),
              flush=True)
    if url:
        import psycopg

        with psycopg.connect(url, autocommit=True) as db:
            setup.size = int((db.execute("SELECT pg_database_size(current_database())").fetchone() or (0,))[0])
        setup.per_source = relation_bytes(url, ("leases", "source_health", "http_cache")) / args.sources
        claims = setup.counts.get("claims", 0)
        if claims:
            setup.per_claim = relation_bytes(url, ("documents", "claims", "occurrences", "canonical",
                                                   "postings")) / claims
    elif sqlite:
        setup.size = sum(p.stat().st_size for p in (sqlite, Path(f"{sqlite}-wal")) if p.exists())
    print(f"    store size {setup.size / 1e6:,.1f} MB" + (
        f"; per source (leases, source_health, http_cache) {setup.per_source:,.0f} bytes" if url else "")
        + (f"; per claim (documents, claims, occurrences, canonical, postings) {setup.per_claim:,.0f} bytes"
           if setup.per_claim else ""))


def _round_line(one: Round, unit: str) -> str:
    what = "new-document ingest" if one.kind == "ingest" else "unchanged poll (all 304)"
    spread = "/".join(f"{k:,}" for k in one.per_worker)
    text = (f"  {what}: {one.n:,} in {one.seconds:.1f} s = {one.rate:,.0f} {unit}/s; polled per worker {spread}; "
            f"CPU: workers {one.worker_cpu:.1f} s, HTTP server {one.web_cpu:.1f} s")
    db = one.db
    if db:
        text += (
            f", PostgreSQL {db['server_cpu']:.1f} s\n"
            f"    database per source: {db['server_cpu'] / one.n * 1e3:.2f} ms server CPU, "
            f"{db['statements'] / one.n:.1f} statements ({db['statement_ms'] / one.n:.2f} ms executing, and "
            f"{db['lock_wait_ms'] / one.n:.2f} ms in pg_advisory_xact_lock), "
            f"{db['commits'] / one.n:.2f} commits, {db['rows_written'] / one.n:.1f} rows written "
            f"({db['inserted'] / one.n:.1f} inserted, {db['updated'] / one.n:.1f} updated, "
            f"{db['deleted'] / one.n:.1f} deleted), {db['wal'] / one.n / 1024:.1f} KB WAL\n"
            f"    database per second: {db['rows_written'] / one.seconds:,.0f} rows written, "
            f"{db['commits'] / one.seconds:,.0f} commits, {db['wal'] / one.seconds / 1e6:.2f} MB WAL"
        )
        if db["lock_transactions"]:
            text += (f"\n    claim lock: held {db['lock_held']:.1f} s in all ({db['lock_held'] / one.seconds:.0%} of "
                     f"the wall time) over {db['lock_transactions']:,} transactions, "
                     f"{db['lock_held'] / one.n * 1e3:.1f} ms a document; taking it took "
                     f"{db['lock_taking'] / one.n * 1e3:.2f} ms a document (waits for another worker included)")
    return text


def print_statements(one: Round, limit: int = 8) -> None:
    total = sum(t for *_, t in one.top) or 1.0
    print(f"    statements per source in the {one.kind} round, by executing time:")
    for query, calls, rows, ms in sorted(one.top, key=lambda s: -s[3])[:limit]:
        shown = " ".join(query.split())
        shown = shown if len(shown) <= 90 else shown[:87] + "..."
        print(f"      {calls / one.n:6.2f} x {ms / calls * 1e3 if calls else 0:7.1f} µs {ms / total:4.0%}  "
              f"{rows / max(calls, 1):7.1f} rows  {shown}")


def compare_setups(setups: Sequence[Setup]) -> None:
    """Whether every configuration stored the same claims; where they differ, the near-duplicate decisions that do
    (a sentence near the border of the threshold can be called near or new depending on what was stored before
    it, which the order of ingestion decides, and the workers' order differs from run to run)."""
    if not setups:
        return
    if len({json.dumps(s.counts, sort_keys=True) for s in setups}) == 1:
        print(f"\nevery configuration stored the same rows: {setups[0].counts}")
        return
    print("\nthe configurations' near-duplicate decisions differ (every sentence is stored in each, as a claim or "
          "as a near-duplicate of one):")
    every = set.intersection(*(s.near for s in setups))
    for s in setups:
        print(f"  {s.label}: {s.counts['claims']:,} claims, {s.counts['near']} near-duplicates; decisions of its "
              "own: " + ("; ".join(f"{a} ~ {b} ({x})" for a, b, x in sorted(s.near - every)) or "none"))


# -- 2. novelty lookups on either backend ----------------------------------------------------------------------------


def novelty_phase(args: argparse.Namespace, pg: PgServer) -> dict[str, Any]:
    """The synthetic store (benchmarks/novelty.py's), copied into PostgreSQL; lookups timed on both."""
    import psycopg

    from monitor.config import NoveltySettings
    from monitor.store.postgres import copy_into

    nov = _novelty_module()
    n = args.claims
    print(f"\n[novelty lookups at {n:,} claims]", flush=True)
    nov._prepare_cache(CACHE)
    deps, _ = nov._deps(NoveltySettings())
    words = nov.cached_vocabulary(CACHE, NOVELTY_SEED)
    canonical = [deps.canon(t) for t in nov._claims(words, nov.BACKGROUND_PAIRS, NOVELTY_SEED)[0]]
    canon = f"{deps.canon.parameters}-{hashlib.sha256(chr(10).join(canonical).encode()).hexdigest()[:8]}"
    options = argparse.Namespace(cache=CACHE, seed=NOVELTY_SEED, rebuild=False, workers=os.cpu_count() or 1)
    path, _ = nov._ensure_store(options, n, "bulk", canon, "{}")
    url = pg.create_database(f"novelty_{n}")
    t0 = time.perf_counter()
    copied = copy_into(path, url)
    copy_seconds = time.perf_counter() - t0
    t0 = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as db:
        db.execute("VACUUM ANALYZE")
        pg_size = int((db.execute("SELECT pg_database_size(current_database())").fetchone() or (0,))[0])
        buffers = str((db.execute("SHOW shared_buffers").fetchone() or ("?",))[0])
    vacuum_seconds = time.perf_counter() - t0
    sqlite_size = sum(p.stat().st_size for p in (path, Path(f"{path}-wal")) if p.exists())
    rows = sum(copied.values())
    print(f"  copy_into PostgreSQL: {rows:,} rows in {copy_seconds:.1f} s ({rows / copy_seconds:,.0f} rows/s), "
          f"VACUUM ANALYZE {vacuum_seconds:.1f} s; size: SQLite file {sqlite_size / 1e6:,.0f} MB, PostgreSQL "
          f"database {pg_size / 1e6:,.0f} MB; shared_buffers {buffers}", flush=True)
    kinds = [(backend, batch) for backend in ("sqlite", "postgres") for batch in (1, args.batch)]
    runs: dict[tuple[str, int], list[dict[str, Any]]] = {kind: [] for kind in kinds}
    for turn in range(args.rounds):
        for backend, batch in kinds if turn % 2 == 0 else kinds[::-1]:
            runs[backend, batch].append(_json_child([
                "--child", "lookup", "--backend", backend, "--store", str(path), "--url", url, "--claims", str(n),
                "--per-band", str(args.per_band), "--batch", str(batch)]))
    chosen = {kind: sorted(found, key=lambda r: float(r["us"]))[(len(found) - 1) // 2] for kind, found in runs.items()}
    digests = {r["digest"] for found in runs.values() for r in found}
    for (backend, batch), one in chosen.items():
        extra = ""
        if backend == "postgres":
            mem = one["backend_memory"]
            extra = (f"; server CPU {one['server_cpu_us']:.0f} µs/claim; the server process answering: RSS "
                     f"{mem.get('VmRSS', 0):.0f} MB ({mem.get('RssAnon', 0):.0f} MB private, "
                     f"{mem.get('RssShmem', 0):.0f} MB of shared buffers touched), peak {mem.get('VmHWM', 0):.0f} MB")
        print(f"  {backend:<10} {batch:>2} a call: {one['us']:.0f} µs/claim (rounds "
              + ", ".join(f"{r['us']:.0f}" for r in runs[backend, batch])
              + f"), of which store {one['store_us']:.0f} (find_exact_many {one['exact_us']:.0f}, candidates_many "
              f"{one['candidates_us']:.0f}); CPU {one['cpu_us']:.0f} µs/claim; peak RSS {one['peak_rss_mb']:.0f} MB"
              + extra)
    recall = {round(r["recall"], 4) for found in runs.values() for r in found}
    print(f"  {chosen[kinds[0]]['queries']:,} queries; candidate recall of the paraphrases "
          + ", ".join(f"{r:.1%}" for r in sorted(recall))
          + ("; every run returned the same candidates and verdicts" if len(digests) == 1 else
             f"; the runs DIFFER: {len(digests)} different sets of candidates and verdicts"))
    if len(digests) != 1:
        raise SystemExit("the backends returned different candidates for the same queries")
    return {"chosen": chosen, "copy_seconds": copy_seconds, "rows": rows, "pg_size": pg_size,
            "sqlite_size": sqlite_size, "n": n}


def lookup(args: argparse.Namespace) -> None:
    """A measuring process: the pipeline's lookups for novelty.py's queries against one backend."""
    from monitor.config import NoveltySettings
    from monitor.extracting import settle_collector
    from monitor.keys import key_of
    from monitor.models import Candidate
    from monitor.novelty import decide, fingerprint
    from monitor.store import Store
    from monitor.store.postgres import PgStore

    nov = _novelty_module()
    novelty = NoveltySettings()
    deps, _ = nov._deps(novelty)
    words = nov.cached_vocabulary(CACHE, NOVELTY_SEED)
    path = Path(args.store)
    queries, _ = nov.make_queries(path, args.claims, args.per_band, args.per_band, NOVELTY_SEED, deps.canon,
                                  novelty.shingle, words)
    warm = nov.Generator(words, NOVELTY_SEED + 2 * nov.NOVEL_SEED_OFFSET)
    warm_texts = [warm.sentence() for _ in range(200)]
    store: Any = PgStore(args.url) if args.backend == "postgres" else Store(path)
    backend_pid = int(store._db.execute("SELECT pg_backend_pid()").fetchone()[0]) if args.backend == "postgres" else 0
    settle_collector()
    clock = time.perf_counter
    spent = {"exact": 0.0, "candidates": 0.0}

    def run(batch: Sequence[tuple[str, str]]) -> list[tuple[list[int], str, int | None]]:
        out: list[tuple[list[int], str, int | None]] = []
        with store.transaction() if len(batch) > 1 else contextlib.nullcontext():
            prints = [fingerprint(key) for _, key in batch]
            t0 = clock()
            known = store.find_exact_many(prints)
            spent["exact"] += clock() - t0
            looked = [text for (text, _), fp in zip(batch, prints, strict=True) if fp not in known]
            sketches = [deps.sketch(text) for text in looked]
            t0 = clock()
            found = store.candidates_many([s.codes for s in sketches])
            spent["candidates"] += clock() - t0
            for sketch, offered in zip(sketches, found, strict=True):
                candidates = [Candidate(i, t, key_of(t)) for i, t in offered]
                try:
                    match = decide(key_of(sketch.canonical), sketch.canonical, candidates, shingle=novelty.shingle,
                                   threshold=novelty.threshold)
                    out.append(([i for i, _ in offered], match.kind, match.claim_id))
                except ValueError:  # monitor.figures on some ranges of Chinese numerals: see novelty.py
                    out.append(([i for i, _ in offered], "error", None))
        return out

    for start in range(0, len(warm_texts), args.batch):
        run([(t, key_of(t)) for t in warm_texts[start : start + args.batch]])
    spent.update(exact=0.0, candidates=0.0)
    before = _stat(backend_pid) if backend_pid else None
    cpu0, t0 = time.process_time(), clock()
    results: list[tuple[list[int], str, int | None]] = []
    for start in range(0, len(queries), args.batch):
        results += run([(q.text, q.key) for q in queries[start : start + args.batch]])
    seconds, cpu = clock() - t0, time.process_time() - cpu0
    after = _stat(backend_pid) if backend_pid else None
    n = len(queries)
    paraphrases = [(q, r) for q, r in zip(queries, results, strict=True) if q.source is not None]
    print(json.dumps({
        "queries": n,
        "us": seconds / n * 1e6,
        "store_us": (spent["exact"] + spent["candidates"]) / n * 1e6,
        "exact_us": spent["exact"] / n * 1e6,
        "candidates_us": spent["candidates"] / n * 1e6,
        "cpu_us": cpu / n * 1e6,
        "server_cpu_us": (after.cpu() - before.cpu()) / n * 1e6 if before and after else 0.0,
        "peak_rss_mb": nov._peak_rss_mb(),
        "backend_memory": _memory_mb(backend_pid) if backend_pid else {},
        "recall": sum(q.source in ids for q, (ids, _, _) in paraphrases) / max(len(paraphrases), 1),
        "digest": hashlib.sha256(json.dumps(results).encode()).hexdigest(),
    }))
    store.close()


def _json_child(argv: list[str]) -> dict[str, Any]:
    done = subprocess.run([sys.executable, __file__, *argv], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.stderr.write(done.stderr)
        raise SystemExit(f"child {' '.join(argv)} failed with status {done.returncode}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


# -- 3. a worker dies; another takes its sources over ----------------------------------------------------------------


def takeover_phase(args: argparse.Namespace, pg: PgServer, web: WebServer, workdir: Path) -> dict[str, float]:
    import psycopg

    k = args.takeover_sources
    print(f"\n[lease takeover: {k} sources, lease_seconds = {TAKEOVER_LEASE}]", flush=True)
    url = pg.create_database("takeover")
    config = write_config(workdir / "takeover.toml", web.port, k, url=url, prefix="h", lease_seconds=TAKEOVER_LEASE)
    web.ask("_reset")
    web.ask("_hold/on")
    group = Workers()
    try:
        victim = group.start(config, "victim", idle_pause=0.1, session=True)
        rescuer = group.start(config, "rescuer", idle_pause=0.1)
        group.wait_ready()
        victim.send("go")
        with psycopg.connect(url, autocommit=True) as db:
            deadline = time.monotonic() + 60
            while True:  # a scan leases a batch at a time (pipeline.LEASE_BATCH): the victim holds its first
                held = [name for (name,) in db.execute("SELECT source FROM leases WHERE holder = 'victim'"
                                                       " AND expires_at > clock_timestamp()")]
                if held and web.ask("_stats")["held"] > 0:
                    break
                if time.monotonic() > deadline:
                    raise SystemExit("the first worker did not lease its sources and start polling")
                time.sleep(0.05)
            time.sleep(1.0)  # mid-poll: its requests have been in flight for a second
            in_flight = web.ask("_stats")["held"]
            rescuer.send("go")
            row = db.execute("SELECT clock_timestamp(), max(expires_at) FROM leases WHERE holder = 'victim'").fetchone()
            os.killpg(victim.proc.pid, signal.SIGKILL)
            killed = time.perf_counter()
            victim.result = {}  # its end is expected
            web.ask("_hold/off")
            assert row is not None
            left = (row[1] - row[0]).total_seconds()
            taken: float | None = None
            done: float | None = None
            while rescuer.polled < k or done is None:
                if taken is None:
                    got = db.execute("SELECT count(*) FROM leases WHERE holder = 'rescuer' AND source = ANY(%s)",
                                     (held,)).fetchone()
                    if got and got[0]:
                        taken = time.perf_counter() - killed
                if done is None:
                    got = db.execute("SELECT count(*) FROM source_health WHERE source = ANY(%s)", (held,)).fetchone()
                    if got and got[0] == len(held):
                        done = time.perf_counter() - killed
                if time.perf_counter() - killed > 120:
                    raise SystemExit("the second worker did not poll the dead worker's sources in 2 minutes")
                group.pump(0.05)
        victim.proc.wait(10)
        (result,) = [r for r in group.finish() if r]
    finally:
        web.ask("_hold/off")
        group.close()
    served = web.ask("_stats")
    counts = store_counts(url=url, since="")
    names = result["polled"]
    problems = []
    if len(names) != k or len(set(names)) != k or result["errors"]:
        problems.append(f"the second worker polled {len(names)} ({len(set(names))} distinct), errors "
                        f"{result['errors'][:1]}")
    if counts["health"] != k or served["paths"] != k or served["most"] > 2:
        problems.append(f"{counts['health']} sources with health; server: {served['paths']} paths, at most "
                        f"{served['most']} requests each")
    if problems:
        raise SystemExit("takeover went wrong: " + "; ".join(problems))
    print(f"  the first worker held {len(held)} of the {k} leases (its first batch) with {in_flight} requests in "
          f"flight when SIGKILLed, {left:.2f} s before its leases expired; the second worker leased them "
          f"{taken if taken is not None else done:.2f} s after the kill and had polled them {done:.2f} s after it "
          f"(and all {k} sources, once each); its requests the only ones answered", flush=True)
    return {"left": left, "taken": taken if taken is not None else done, "done": done, "scan": result["busy_seconds"]}


# -- the driver ------------------------------------------------------------------------------------------------------


def summary(setups: Sequence[Setup], novelty: dict[str, Any] | None, takeover: dict[str, float] | None,
            args: argparse.Namespace) -> None:
    print(f"\nsummary ({args.sources:,} sources; PostgreSQL 15 on 127.0.0.1, fsync {'on' if args.fsync else 'off'}; "
          f"{os.cpu_count()} cores shared by everything: noisy)")
    if setups:
        head = (f"  {'store, workers, scans':<34} {'ingest':>9} {'poll':>8} {'PG CPU':>8} {'PG CPU':>8} {'stmts':>6} "
                f"{'stmts':>6} {'rows':>6} {'rows':>6} {'rows/s':>7} {'rows/s':>7} {'WAL':>6} {'lock':>5}")
        print(head)
        print(f"  {'':<34} {'docs/s':>9} {'URLs/s':>8} {'ms/doc':>8} {'ms/poll':>8} {'/doc':>6} {'/poll':>6} "
              f"{'/doc':>6} {'/poll':>6} {'ingest':>7} {'poll':>7} {'KB/doc':>6} {'held':>5}")
        for s in setups:
            ing, pol = s.rounds.get("ingest"), s.rounds.get("poll")

            def cell(r: Round | None, what: str, width: int, fmt: str) -> str:
                if r is None or (what != "rate" and not r.db):
                    return f"{'-':>{width}}"
                value = {
                    "rate": r.rate if r else 0.0,
                    "cpu": r.db.get("server_cpu", 0) / r.n * 1e3,
                    "stmts": r.db.get("statements", 0) / r.n,
                    "rows": r.db.get("rows_written", 0) / r.n,
                    "rows_s": r.db.get("rows_written", 0) / r.seconds,
                    "wal": r.db.get("wal", 0) / r.n / 1024,
                    "lock": r.db.get("lock_held", 0) / r.seconds,
                }[what]
                return f"{value:>{width}{fmt}}"

            print(f"  {s.label:<34} {cell(ing, 'rate', 9, ',.0f')} {cell(pol, 'rate', 8, ',.0f')} "
                  f"{cell(ing, 'cpu', 8, '.2f')} {cell(pol, 'cpu', 8, '.2f')} {cell(ing, 'stmts', 6, '.1f')} "
                  f"{cell(pol, 'stmts', 6, '.1f')} {cell(ing, 'rows', 6, '.1f')} {cell(pol, 'rows', 6, '.1f')} "
                  f"{cell(ing, 'rows_s', 7, ',.0f')} {cell(pol, 'rows_s', 7, ',.0f')} {cell(ing, 'wal', 6, '.1f')} "
                  f"{cell(ing, 'lock', 5, '.0%')}")
        for s in setups:
            spread = "; ".join(f"{kind} " + "/".join(f"{k:,}" for k in r.per_worker) for kind, r in s.rounds.items())
            print(f"  {s.label:<34} store {s.size / 1e6:,.1f} MB; sources polled per worker: {spread}")
    if novelty:
        n = novelty["n"]
        print(f"  novelty lookup at {n:,} claims (µs per claim, all / store's calls / server CPU; peak RSS): "
              + "; ".join(f"{b} {k}/call {r['us']:.0f}/{r['store_us']:.0f}/{r['server_cpu_us']:.0f} µs "
                          f"{r['peak_rss_mb']:.0f} MB" for (b, k), r in novelty["chosen"].items()))
        print(f"    sizes at {n:,} claims: SQLite {novelty['sqlite_size'] / 1e6:,.0f} MB, PostgreSQL "
              f"{novelty['pg_size'] / 1e6:,.0f} MB; copy_into {novelty['copy_seconds']:.0f} s")
    if takeover:
        print(f"  lease takeover (lease_seconds {TAKEOVER_LEASE}): killed {takeover['left']:.2f} s before its leases "
              f"expired; leases taken over after {takeover['taken']:.2f} s, every source polled after "
              f"{takeover['done']:.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--only", action="append", choices=("poll", "ingest", "novelty", "takeover"),
                        help="run this part (repeatable); default all")
    parser.add_argument("--sources", type=int, default=10_000, help="page sources (default 10000)")
    parser.add_argument("--workers", default="1,2,4", help="worker processes on PostgreSQL (default 1,2,4)")
    parser.add_argument("--slice", type=int, default=1000, help="sources a sliced worker's scan takes (default 1000)")
    parser.add_argument("--no-sliced", action="store_true", help="skip the sliced configurations")
    parser.add_argument("--no-sqlite", action="store_true", help="skip the SQLite configuration")
    parser.add_argument("--idle-pause", type=float, default=1.0, help="seconds a worker waits after scans that "
                        "polled nothing (default 1)")
    parser.add_argument("--poll-rounds", type=int, default=3, help="unchanged polls of every configuration, the "
                        "median printed (default 3)")
    parser.add_argument("--claims", type=int, default=1_000_000, help="stored claims for the lookups (default 10^6)")
    parser.add_argument("--per-band", type=int, default=500, help="paraphrase queries per band, and novel ones")
    parser.add_argument("--batch", type=int, default=20, help="claims a call in the per-document lookups")
    parser.add_argument("--rounds", type=int, default=3, help="measurements of each lookup kind")
    parser.add_argument("--takeover-sources", type=int, default=200)
    parser.add_argument("--fsync", action="store_true", help="run PostgreSQL with fsync on")
    parser.add_argument("--serve", type=int, metavar="PORT", help=argparse.SUPPRESS)
    parser.add_argument("--pages", help=argparse.SUPPRESS)
    parser.add_argument("--child", choices=("worker", "lookup"), help=argparse.SUPPRESS)
    for hidden in ("--config", "--name", "--backend", "--store", "--url"):
        parser.add_argument(hidden, help=argparse.SUPPRESS)
    for hidden in ("--index", "--of"):
        parser.add_argument(hidden, type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--ahead-minutes", type=float, default=0.0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, Path(args.pages))
        return
    sys.path.insert(0, str(ROOT))
    if args.child == "worker":
        worker(args)
        return
    if args.child == "lookup":
        lookup(args)
        return
    parts = set(args.only or ("poll", "ingest", "novelty", "takeover"))
    workers = [int(w) for w in args.workers.split(",") if w.strip()]
    print(f"scale benchmark: {', '.join(sorted(parts))}; {args.sources:,} sources, workers {workers}; python "
          f"{sys.version.split()[0]}, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}", flush=True)
    setups: list[Setup] = []
    novelty: dict[str, Any] | None = None
    takeover: dict[str, float] | None = None
    with tempfile.TemporaryDirectory(prefix="corpus-monitor-scale-") as tmp, pg_server(args.fsync) as pg:
        workdir = Path(tmp)
        pages, sentences = make_pages(max(args.sources, args.takeover_sources), workdir)
        expected = len({text for page in sentences[: args.sources] for text in page})
        with web_server(pages) as web:
            if parts & {"poll", "ingest"}:
                setups = [Setup("postgres", w, 0) for w in workers]
                if not args.no_sliced:
                    setups += [Setup("postgres", w, args.slice) for w in workers if w > 1]
                if not args.no_sqlite:
                    setups.append(Setup("sqlite", 1, 0))
                for setup in setups:
                    run_setup(setup, args, parts, web, pg, workdir, expected)
                    if setup is setups[0] and setup.rounds:
                        for one in setup.rounds.values():
                            print_statements(one)
                compare_setups([s for s in setups if s.counts])
            if "takeover" in parts:
                takeover = takeover_phase(args, pg, web, workdir)
        if "novelty" in parts:
            novelty = novelty_phase(args, pg)
    summary(setups, novelty, takeover, args)


if __name__ == "__main__":
    main()
