"""What both backends run: the store's logic over SQL that SQLite and PostgreSQL both accept.

:class:`SqlStore` holds everything the store does (documents, claims and their index, occurrences, digests, with
its web tables and delivery queue mixed in) over a connection ``_db`` with sqlite3's ``execute`` and
``executemany`` and ``?`` placeholders (the PostgreSQL backend's adapter gives it the same face). A backend adds
opening, its schema's migrations, its transactions' statements, its errors, and what only it can do (leases over
``FOR UPDATE SKIP LOCKED``, advisory locks). The SQL here keeps to what both accept: ``ON CONFLICT`` clauses,
``RETURNING``, parameters cast where their type is not plain from the query.
"""

from __future__ import annotations

import os
import socket
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from operator import itemgetter
from typing import Self

from monitor.errors import StoreError
from monitor.models import (
    Claim,
    Digest,
    DigestClaim,
    DigestConflict,
    DigestCorroboration,
    DigestDocument,
    Document,
    Fetched,
    Match,
    Sketch,
)
from monitor.store.outbox import DeliveryTables
from monitor.store.part import Connection
from monitor.store.records import DocState, Origin, Status, Worker
from monitor.store.web import WebTables

#: a claim is listed in the index under this many of its shingles: those fewest stored claims had when it was
#: added. A near-duplicate at the threshold shares about half its shingles with the claim it repeats, so one of
#: them is almost always among these, while a common shingle's list stays short (few claims list it)
LISTED_SHINGLES = 12
#: a lookup reads the posting lists of the claim's rarest shingles first (those fewest stored claims have: the
#: ones a claim is listed under, so a paraphrase's rarest are most likely its source's), at most about this many
#: entries in all
READ_BUDGET = 400
#: a list keeps (and a lookup reads) only its first this many entries, the oldest claims listed under it
#: (migration 8 of monitor.store.sqlite.schema has the same number)
LIST_READ = 256
#: at most this many candidates, those on the most of the lists read, get the exact comparison
MAX_CANDIDATES = 8
#: a fixed odd multiplier that orders shingles of equal counts pseudo-randomly (not by code point)
_MIX = 0x9E3779B97F4A7C15
#: a rebuild of the index writes its rows every this many claims (its memory stays that of the counts)
REBUILD_CHUNK = 10_000


@dataclass(slots=True)
class _Posting:
    """A shingle's row of the index (the ``postings`` table), or what the open transaction adds to it."""

    #: claims having the shingle
    claims: int = 0
    #: claims listed under it
    listed: int = 0
    #: the ids of the first LIST_READ of them, oldest first, as decimal text joined by commas
    head: str = ""

    def add(self, claims: int, listed: int, head: str) -> None:
        self.claims += claims
        self.listed += listed
        if head:
            self.head = f"{self.head},{head}" if self.head else head


def _ts(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError("naive datetime given to the store")
    return moment.isoformat()


class SqlStore(WebTables, DeliveryTables):
    """The store's logic; a backend subclasses it with its connection, transactions and migrations."""

    #: the backend's database errors, turned into StoreError by :meth:`_guard`
    _errors: tuple[type[Exception], ...] = ()
    #: shown in messages: the file, or the server's URL without its password
    where: str

    def _start_buffers(self) -> None:
        """The state a store keeps between its statements; a backend's ``__init__`` calls it."""
        #: when this process opened the store: a worker's ``started_at``
        self._opened = datetime.now(UTC)
        self._depth = 0
        #: index rows read in the open transaction, with its own claims added: code -> its row (a document's
        #: lookups read the rows of all its shingles at once; dropped when the transaction ends)
        self._known_counts: dict[int, _Posting] = {}
        #: what the claims of the open transaction add to the index rows, not yet written: code -> the addition
        #: (written once as the transaction ends: one statement a shingle for a batch of documents)
        self._new_counts: dict[int, _Posting] = {}
        #: per open savepoint, the (codes, listed codes, claim id, codes whose head got the id) of the claims added
        #: in it: a rolled-back one's are taken back, an ended one's join the savepoint around it
        self._added: list[list[tuple[Sequence[int], Sequence[int], int, Sequence[int]]]] = []
        #: canonical rows of the open transaction's claims, not yet written: (claim id, canonical text) (written
        #: when it ends, or before the index is next read: one statement a document, not one a claim)
        self._new_canonical: list[tuple[int, str]] = []
        #: the open transaction's new claims, not yet written (their ids given out here, from the largest stored)
        self._new_claims: list[tuple[int, int, str, str, str | None, int, int, str]] = []
        self._next_claim_id: int | None = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:  # pragma: no cover - each backend's wins
        raise NotImplementedError

    def check_file(self) -> None:
        """Nothing to check where the store is no file (a backend with a file checks it is still there)."""

    # -- a backend's statements --------------------------------------------------------------------

    def _begin(self, depth: int) -> None:
        """Open a transaction (depth 0) or a savepoint inside it."""
        self._db.execute(f"SAVEPOINT sp{depth}")

    def _commit(self, depth: int) -> None:
        self._db.execute(f"RELEASE sp{depth}")

    def _rollback(self, depth: int) -> None:
        self._db.execute(f"ROLLBACK TO sp{depth}")
        self._db.execute(f"RELEASE sp{depth}")

    def _live_leases(self) -> list[tuple[str, str]]:
        """(holder, source) of the leases that have not expired (on this process's clock; a backend with many
        machines reads its own)."""
        return self._db.execute(
            "SELECT holder, source FROM leases WHERE holder IS NOT NULL AND expires_at > ?",
            (_ts(datetime.now(UTC)),),
        ).fetchall()

    def lease_sources(self, due: Sequence[tuple[str, str | None]], holder: str, seconds: float) -> list[str]:
        """Lease those of these sources that are due and that no other worker holds, for ``seconds``; their
        names. ``due``: (source name, cutoff): a source is due if it was never polled, or last polled at or
        before its cutoff (an ISO time; None: due whenever it is free)."""
        raise NotImplementedError  # pragma: no cover - each backend's

    def release_sources(self, names: Sequence[str], holder: str) -> None:
        """Give back the leases this holder has on these sources (call it in the transaction that records their
        polls, so that no other worker finds them free and not yet polled)."""
        with self._guard():
            self._db.executemany(
                "UPDATE leases SET holder = NULL, leased_at = NULL, expires_at = NULL WHERE source = ? AND holder = ?",
                [(name, holder) for name in names],
            )

    def digest_lock(self) -> AbstractContextManager[bool]:
        """Held while this process builds and sends digests: true inside if it has it, false if another worker
        does (then it sends nothing). One process works on a store with no concurrent writers: always true."""
        return nullcontext(True)

    def _claim_lock(self) -> None:
        """Hold the lock under which claims are looked up and added until the open transaction ends, so that the
        near-duplicate decisions of concurrent writers and their inserts are one after the other. SQLite's write
        lock, taken by the transaction's first write, is that lock; a backend with concurrent writers takes its
        own."""

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """A transaction, or a savepoint inside the one already open (the store checked to be there first)."""
        depth = self._depth
        if depth == 0:
            self.check_file()
        try:
            self._write_rows()  # what is pending belongs to the savepoint around this one
            self._begin(depth)
        except self._errors as exc:
            raise self._error(exc) from exc
        self._depth += 1
        self._added.append([])
        try:
            yield
        except BaseException:
            self._depth -= 1
            new = self._new_counts
            for codes, listed, claim_id, headed in self._added.pop():
                for code in codes:
                    new[code].claims -= 1
                for code in listed:
                    new[code].listed -= 1
                for code in headed:
                    new[code].head = ",".join(i for i in new[code].head.split(",") if i != str(claim_id))
            self._new_canonical.clear()  # rows are written as a savepoint ends: those pending were this one's
            self._new_claims.clear()
            self._forget_reads()
            try:
                self._rollback(depth)
            except self._errors as exc:  # the connection is gone: the server rolls back what it had
                raise self._error(exc) from exc
            raise
        else:
            self._depth -= 1
            try:
                self._write_rows()
                added = self._added.pop()
                if self._added:
                    self._added[-1] += added
                else:
                    self._write_postings()
                self._commit(depth)
            except self._errors as exc:
                self._forget_reads()
                if depth == 0:
                    self._new_counts.clear()
                with suppress(*self._errors):  # already gone with its connection
                    self._rollback(depth)
                raise self._error(exc) from exc
            if self._depth == 0:
                self._forget_reads()  # other writers may count, and add claims, next

    def _error(self, exc: Exception) -> StoreError:
        """A database error, as the StoreError that leaves the store."""
        return StoreError(f"{self.where}: {exc}")

    def _forget_reads(self) -> None:
        """Forget what was read for the open transaction: the index rows, and the next claim id."""
        self._known_counts.clear()
        self._next_claim_id = None

    def _write_rows(self) -> None:
        """Write the claims added since they were last written, and their canonical forms (their index rows are
        written as the transaction ends)."""
        if self._new_claims:
            rows, self._new_claims = self._new_claims, []
            self._db.executemany(
                "INSERT INTO claims (id, fingerprint, normalized, text, speaker, document_id, position, first_seen)"
                " VALUES (?,?,?,?,?,?,?,?)",
                rows,
            )
        if self._new_canonical:
            self._db.executemany("INSERT INTO canonical (claim_id, text) VALUES (?, ?)", self._new_canonical)
            self._new_canonical.clear()

    def _write_postings(self) -> None:
        _add_postings(self._db, self._new_counts)
        self._new_counts.clear()

    @contextmanager
    def _guard(self, *, pending: bool = False) -> Iterator[None]:
        """Database errors as StoreError; the claims added but not yet written are written first, so whatever runs
        inside sees them (unless ``pending``: one more is being added)."""
        try:
            if self._new_claims and not pending:
                self._write_rows()
            yield
        except self._errors as exc:
            raise self._error(exc) from exc

    def ensure_index(self, parameters: str, sketch: Callable[[str], Sketch]) -> int:
        # sketch: a claim's normalized text -> its Sketch
        """Make the near-duplicate index match ``parameters``; rebuild it (returns claims re-indexed) if it was
        made with others, so changing the novelty settings or the aliases never silently breaks matching.
        Claims are listed again in the order they came, each under its rarest shingles at that point."""
        with self._guard():
            row = self._db.execute("SELECT value FROM meta WHERE key = 'index'").fetchone()
            if row and row[0] == parameters:
                return 0
            have: Counter[int] = Counter()
            listed: Counter[int] = Counter()
            count = 0
            with self.transaction():
                self._claim_lock()
                for table in ("postings", "canonical"):
                    self._db.execute(f"DELETE FROM {table}")  # noqa: S608 - fixed names
                claims = self._db.execute("SELECT id, normalized FROM claims ORDER BY id").fetchall()
                rows: dict[int, _Posting] = {}  # written every REBUILD_CHUNK claims
                for claim_id, normalized in claims:
                    made = sketch(normalized)
                    chosen = rarest(made.codes, have)
                    self._db.execute("INSERT INTO canonical (claim_id, text) VALUES (?, ?)", (claim_id, made.canonical))
                    for code in made.codes:
                        rows.setdefault(code, _Posting()).claims += 1
                    for code in chosen:
                        rows[code].add(0, 1, str(claim_id) if listed[code] < LIST_READ else "")
                    have.update(made.codes)
                    listed.update(chosen)
                    count += 1
                    if count % REBUILD_CHUNK == 0:
                        _add_postings(self._db, rows)
                        rows.clear()
                _add_postings(self._db, rows)
                self._db.execute("INSERT INTO meta (key, value) VALUES ('index', ?)"
                                 " ON CONFLICT (key) DO UPDATE SET value = excluded.value", (parameters,))
        return count

    def get_meta(self, key: str) -> str | None:
        with self._guard():
            row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return str(row[0]) if row else None

    def set_meta(self, key: str, value: str) -> None:
        with self._guard():
            self._db.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (key, value),
            )

    # -- documents -------------------------------------------------------------------------------

    def document_state(self, locator: str) -> DocState | None:
        with self._guard():
            row = self._db.execute(
                "SELECT id, content_hash, size, mtime_ns FROM documents WHERE locator = ?", (locator,)
            ).fetchone()
        return DocState(*row) if row else None

    def failed_file(self, locator: str) -> tuple[int, int] | None:
        """(size, mtime_ns) of the version of a file that could not be used, if one could not."""
        with self._guard():
            row = self._db.execute("SELECT size, mtime_ns FROM failed_files WHERE locator = ?", (locator,)).fetchone()
        return (int(row[0]), int(row[1])) if row else None

    def file_failed(self, locator: str, size: int, mtime_ns: int, error: str, now: datetime) -> None:
        """Remember that this version of a file could not be used (it is not tried, nor reported, again)."""
        with self._guard():
            self._db.execute(
                "INSERT INTO failed_files (locator, size, mtime_ns, error, failed_at) VALUES (?,?,?,?,?)"
                " ON CONFLICT (locator) DO UPDATE SET size = excluded.size, mtime_ns = excluded.mtime_ns,"
                " error = excluded.error, failed_at = excluded.failed_at",
                (locator, size, mtime_ns, error, _ts(now)),
            )

    def forget_failed_file(self, locator: str) -> None:
        with self._guard():
            self._db.execute("DELETE FROM failed_files WHERE locator = ?", (locator,))

    def touch_document(self, doc_id: int, size: int | None, mtime_ns: int | None) -> None:
        """Remember a new size and mtime for a document whose content did not change."""
        with self._guard():
            self._db.execute("UPDATE documents SET size = ?, mtime_ns = ? WHERE id = ?", (size, mtime_ns, doc_id))

    def save_document(self, fetched: Fetched, document: Document, now: datetime) -> int:
        """Insert or update a document's row; returns its id. In a transaction, the claim lock is taken first (the
        document's claims come next)."""
        if self._depth:
            self._claim_lock()
        with self._guard():
            row = self._db.execute(
                "INSERT INTO documents (source, content_hash, size, mtime_ns, title, site, url, published, encoding,"
                " last_changed, locator, first_seen) VALUES (?,?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT (locator) DO UPDATE"
                " SET source = excluded.source, content_hash = excluded.content_hash, size = excluded.size,"
                " mtime_ns = excluded.mtime_ns, title = excluded.title, site = excluded.site, url = excluded.url,"
                " published = excluded.published, encoding = excluded.encoding, last_changed = excluded.last_changed"
                " RETURNING id",
                (fetched.source, fetched.content_hash, fetched.size, fetched.mtime_ns, document.title, document.site,
                 document.url, document.published, document.encoding, _ts(now), fetched.locator, _ts(now)),
            ).fetchone()
        return int(row[0])

    # -- claims ----------------------------------------------------------------------------------

    def find_exact_many(self, fingerprints: Sequence[int]) -> dict[int, int]:
        """fingerprint -> claim id for those of ``fingerprints`` already stored, in one query."""
        found: dict[int, int] = {}
        if self._depth:
            self._claim_lock()
        with self._guard():
            for chunk in _chunks(list(dict.fromkeys(fingerprints)), 500):
                marks = ",".join("?" * len(chunk))
                query = f"SELECT fingerprint, id FROM claims WHERE fingerprint IN ({marks})"
                found.update(self._db.execute(query, chunk))
        return found

    def candidates(self, codes: Sequence[int]) -> list[tuple[int, str]]:
        """Stored claims listed under a claim's shingles, as (id, canonical text), those sharing the most first.

        The lists of the shingles fewest claims have are read first, at most ``LIST_READ`` entries from one (a
        list's head) and about ``READ_BUDGET`` in all; ``MAX_CANDIDATES`` claims are returned."""
        return self.candidates_many([codes])[0]

    def candidates_many(self, claims: Sequence[Sequence[int]]) -> list[list[tuple[int, str]]]:
        """:meth:`candidates` of each of several claims (each given by its shingle codes, ascending, as
        ``novelty.codes`` gives them), read together: the index rows of all their shingles in one query (each row
        a shingle's counts and its list's head), the candidates' texts in one. Claims added after this call are
        not among the candidates it returned."""
        if self._depth:
            self._claim_lock()
        with self._guard():  # which writes the claims not yet written: they are read as any others
            rows = self._counts([code for codes in claims for code in codes])
            ranked: list[list[int]] = []
            for codes in claims:
                heads: list[str] = []
                read = 0
                # codes come sorted: a stable sort by claims leaves equals in code order
                for code in sorted([c for c in codes if rows[c].listed], key=lambda c: rows[c].claims):
                    if read >= READ_BUDGET:
                        break
                    heads.append(rows[code].head)
                    read += min(rows[code].listed, LIST_READ)
                ranked.append(_most_shared(heads))
            texts = self._canonical({i for ids in ranked for i in ids})
            if self._depth == 0:
                self._forget_reads()  # outside a transaction, other writers may count next
        return [[(i, texts[i]) for i in ids if i in texts] for ids in ranked]

    def _canonical(self, ids: set[int]) -> dict[int, str]:
        """claim id -> canonical text, for these ids."""
        texts: dict[int, str] = {}
        for chunk in _chunks(sorted(ids), 500):
            query = f"SELECT claim_id, text FROM canonical WHERE claim_id IN ({','.join('?' * len(chunk))})"  # noqa: S608
            texts.update(self._db.execute(query, chunk))
        return texts

    def _counts(self, codes: Sequence[int]) -> dict[int, _Posting]:
        """code -> its index row (counts and list head), for (at least) each of ``codes``, the open transaction's
        own claims included; read from the file once per transaction."""
        known = self._known_counts
        missing = set(codes).difference(known)
        if not missing:
            return known
        for chunk in _chunks(sorted(missing), 900):
            rows = self._db.execute(_postings_sql(len(chunk)), chunk).fetchall()
            known.update({row[0]: _Posting(row[1], row[2], row[3]) for row in rows})
        for code in missing.difference(known):
            known[code] = _Posting()
        for code in missing.intersection(self._new_counts):
            new = self._new_counts[code]
            known[code].add(new.claims, new.listed, new.head)
        return known

    def hinted_documents(self, claim_ids: Sequence[int], least: int, most: int) -> list[int]:
        """The documents carrying at least ``least`` of these claims, at most ``most`` of them, most first."""
        if not claim_ids:
            return []
        found: Counter[int] = Counter()
        with self._guard():
            for chunk in _chunks(sorted(set(claim_ids)), 500):
                marks = ",".join("?" * len(chunk))
                query = (
                    f"SELECT document_id, count(*) FROM occurrences WHERE claim_id IN ({marks}) GROUP BY document_id"
                )
                for document_id, n in self._db.execute(query, chunk):
                    found[int(document_id)] += int(n)
        return [d for d, n in found.most_common(most) if n >= least]

    def document_canonical(self, document_id: int, limit: int) -> list[tuple[int, str]]:
        """(id, canonical text) of the claims a document carries, in its order, at most ``limit``."""
        with self._guard():
            rows = self._db.execute(
                "SELECT o.claim_id, c.text FROM occurrences AS o JOIN canonical AS c ON c.claim_id = o.claim_id"
                " WHERE o.document_id = ? ORDER BY o.position LIMIT ?",
                (document_id, limit),
            )
            return [(int(i), t) for i, t in rows]

    def own_claims(self, document_id: int) -> list[tuple[int, str]]:
        """(id, normalized text) of the claims first seen in this document that no other document carries."""
        with self._guard():
            rows = self._db.execute(  # through the occurrences' (document_id, claim_id) index: nothing for a new one
                "SELECT c.id, c.normalized FROM occurrences AS mine JOIN claims AS c ON c.id = mine.claim_id"
                " WHERE mine.document_id = ? AND c.document_id = ? AND NOT EXISTS"
                " (SELECT 1 FROM occurrences AS o WHERE o.claim_id = c.id AND o.document_id != ?)",
                (document_id, document_id, document_id),
            )
            return [(int(i), n) for i, n in rows]

    def withdraw_occurrences(self, document_id: int, claim_ids: Sequence[int]) -> None:
        """The document no longer carries these claims (its new version replaced them)."""
        with self._guard():
            self._db.executemany(
                "DELETE FROM occurrences WHERE document_id = ? AND claim_id = ?", [(document_id, i) for i in claim_ids]
            )

    def add_claim(
        self, claim: Claim, fingerprint: int, sketch: Sketch, document_id: int, now: datetime
    ) -> int:
        """Store a new claim and list it in the index under its rarest shingles. Inside a transaction the claim is
        written with the document's others (its id given out here) once anything else reads the store, or the
        savepoint ends; call it after the transaction has written (the document's row), as the pipeline does, so
        no other writer can take the id meanwhile."""
        if self._depth:
            self._claim_lock()
        with self._guard(pending=True):
            if self._next_claim_id is None:  # the transaction's first: the store's ids go on from the largest
                (largest,) = self._db.execute("SELECT coalesce(max(id), 0) FROM claims").fetchone()
                self._next_claim_id = int(largest) + 1
            claim_id, self._next_claim_id = self._next_claim_id, self._next_claim_id + 1
            self._new_claims.append(
                (claim_id, fingerprint, claim.normalized, claim.text, claim.speaker, document_id, claim.position,
                 _ts(now))
            )
            self._new_canonical.append((claim_id, sketch.canonical))
            rows = self._counts(sketch.codes)
            chosen = _rarest(sketch.codes, rows)
            pending = self._new_counts
            for code in sketch.codes:
                added = pending.get(code)
                if added is None:
                    added = pending[code] = _Posting()
                added.claims += 1
                rows[code].claims += 1
            headed = [code for code in chosen if rows[code].listed < LIST_READ]  # a list keeps its first entries
            for code in chosen:
                pending[code].listed += 1
                rows[code].listed += 1
            for code in headed:
                pending[code].add(0, 0, str(claim_id))
                rows[code].add(0, 0, str(claim_id))
            if self._added:
                self._added[-1].append((sketch.codes, chosen, claim_id, headed))
            if self._depth == 0:
                self._write_rows()
                self._write_postings()
                self._forget_reads()
        return claim_id

    def claim_origins(self, ids: Sequence[int]) -> dict[int, Origin]:
        """For stored claims: their wording as first seen and the document they were first seen in."""
        found: dict[int, Origin] = {}
        with self._guard():
            for chunk in _chunks(list(dict.fromkeys(ids)), 500):
                marks = ",".join("?" * len(chunk))
                for claim_id, text, doc_id, title, locator in self._db.execute(
                    f"SELECT c.id, c.text, d.id, d.title, d.locator FROM claims AS c"
                    f" JOIN documents AS d ON d.id = c.document_id WHERE c.id IN ({marks})",
                    chunk,
                ):
                    found[claim_id] = Origin(text, doc_id, title, locator)
        return found

    def add_conflict(self, claim_id: int, known_claim_id: int) -> None:
        """Record that a new claim contradicts a known one in a figure."""
        with self._guard():
            self._db.execute(
                "INSERT INTO conflicts (claim_id, known_claim_id) VALUES (?, ?) ON CONFLICT DO NOTHING",
                (claim_id, known_claim_id),
            )

    def add_occurrences(self, document_id: int, found: Sequence[tuple[int, Claim, Match]], now: datetime) -> None:
        """Record that a document carries these claims (claim id, claim, verdict); repeats are ignored."""
        stamp = _ts(now)
        with self._guard():
            self._db.executemany(
                "INSERT INTO occurrences (claim_id, document_id, text, position, match, score, first_seen)"
                " VALUES (?,?,?,?,?,?,?) ON CONFLICT DO NOTHING",
                [(cid, document_id, c.text, c.position, m.kind, m.score, stamp) for cid, c, m in found],
            )

    # -- digests ---------------------------------------------------------------------------------

    def unreported(self, generated_at: datetime, *, corroborated: bool = False) -> Digest:
        """Every claim in no digest yet (neither delivered nor waiting to be), grouped by first document,
        in order of the documents' dates. With ``corroborated``, also the claims of earlier digests that
        gained sources since the last delivered digest (see :meth:`_corroborations`)."""
        with self._guard():
            rows = self._db.execute(
                "SELECT c.id, c.text, c.normalized, c.document_id, c.speaker FROM claims AS c"
                " JOIN documents AS d ON d.id = c.document_id WHERE c.digest_id IS NULL AND c.delivery_id IS NULL"
                " AND EXISTS (SELECT 1 FROM occurrences AS o WHERE o.claim_id = c.id)"  # still carried by some document
                " ORDER BY coalesce(d.published, '9999'), d.first_seen, d.id, c.position"
            ).fetchall()
            ids = [r[0] for r in rows]
            sources: dict[int, list[int]] = {i: [] for i in ids}
            for chunk in _chunks(ids, 500):
                marks = ",".join("?" * len(chunk))
                for claim_id, doc_id in self._db.execute(
                    f"SELECT claim_id, document_id FROM occurrences WHERE claim_id IN ({marks})"
                    " ORDER BY first_seen, document_id",
                    chunk,
                ):
                    sources[claim_id].append(doc_id)
            conflicts = self._conflicts_of(ids)
            claims = []
            for claim_id, text, normalized, doc_id, speaker in rows:
                others = [d for d in sources[claim_id] if d != doc_id]
                claims.append(DigestClaim(claim_id, text, normalized, doc_id, (doc_id, *others), speaker,
                                          conflicts.get(claim_id, ())))
            corroborations = self._corroborations() if corroborated else ()
            doc_ids = list(dict.fromkeys(
                [c.document for c in claims] + [d for c in claims for d in (*c.sources, *_conflict_sources(c))]
                + [d for c in corroborations for d in c.new_sources]
            ))
            counts: dict[int, int] = {}
            for c in claims:
                counts[c.document] = counts.get(c.document, 0) + 1
            documents = []
            when: dict[int, tuple[str, str, int]] = {}
            for chunk in _chunks(doc_ids, 500):
                marks = ",".join("?" * len(chunk))
                for doc_id, locator, title, site, url, published, first_seen in self._db.execute(
                    f"SELECT id, locator, title, site, url, published, first_seen FROM documents WHERE id IN ({marks})",
                    chunk,
                ):
                    path = None if "://" in locator else locator
                    documents.append(DigestDocument(doc_id, title, site, url, path, published, counts.get(doc_id, 0)))
                    when[doc_id] = (published or "9999", first_seen, doc_id)
        # in order of date, as the claims are (undated last, then in the order they were first seen)
        documents.sort(key=lambda d: when[d.id])
        return Digest(generated_at, tuple(documents), tuple(claims), corroborations)

    def _corroborations(self) -> tuple[DigestCorroboration, ...]:
        """The claims of earlier digests (reported: ``digest_id`` set) that documents other than their first
        came to carry after the last delivered digest went out, each with those documents and how many carry
        it in all; in the order of their first documents' dates. None before a first digest is delivered.

        A digest with no new claims is never sent, so these wait for the next one that is: none is lost.
        Timestamps are UTC ISO 8601 strings, compared as text."""
        (since,) = self._db.execute("SELECT max(delivered_at) FROM digests").fetchone()
        if since is None:
            return ()
        rows = self._db.execute(
            "SELECT c.id, c.text, o.document_id FROM occurrences AS o JOIN claims AS c ON c.id = o.claim_id"
            " JOIN documents AS d ON d.id = c.document_id"
            " WHERE o.first_seen > ? AND o.document_id != c.document_id AND c.digest_id IS NOT NULL"
            " ORDER BY coalesce(d.published, '9999'), d.first_seen, d.id, c.position, o.first_seen, o.document_id",
            (since,),
        ).fetchall()
        new: dict[int, tuple[str, list[int]]] = {}
        for claim_id, text, doc_id in rows:
            new.setdefault(claim_id, (text, []))[1].append(doc_id)
        totals: dict[int, int] = {}
        for chunk in _chunks(list(new), 500):
            marks = ",".join("?" * len(chunk))
            totals.update(self._db.execute(
                f"SELECT claim_id, count(*) FROM occurrences WHERE claim_id IN ({marks}) GROUP BY claim_id", chunk
            ))
        return tuple(
            DigestCorroboration(claim_id, text, tuple(docs), totals[claim_id]) for claim_id, (text, docs) in new.items()
        )

    def _conflicts_of(self, ids: Sequence[int]) -> dict[int, tuple[DigestConflict, ...]]:
        """For each of these (new) claims, the known claims it contradicts, with the documents carrying them."""
        found: dict[int, list[DigestConflict]] = {}
        for chunk in _chunks(list(ids), 500):
            marks = ",".join("?" * len(chunk))
            pairs = self._db.execute(
                f"SELECT f.claim_id, k.id, k.text, k.normalized FROM conflicts AS f"
                f" JOIN claims AS k ON k.id = f.known_claim_id"
                f" WHERE f.claim_id IN ({marks}) ORDER BY f.claim_id, k.id",
                chunk,
            ).fetchall()
            for claim_id, known_id, text, normalized in pairs:
                carriers = self._db.execute(
                    "SELECT document_id FROM occurrences WHERE claim_id = ? ORDER BY first_seen, document_id",
                    (known_id,),
                ).fetchall()
                conflict = DigestConflict(known_id, text, tuple(d for (d,) in carriers), normalized)
                found.setdefault(claim_id, []).append(conflict)
        return {claim_id: tuple(items) for claim_id, items in found.items()}

    def status(self) -> Status:
        with self._guard():
            (documents,) = self._db.execute("SELECT count(*) FROM documents").fetchone()
            (claims,) = self._db.execute("SELECT count(*) FROM claims").fetchone()
            (unreported,) = self._db.execute(
                "SELECT count(*) FROM claims AS c WHERE digest_id IS NULL"
                " AND EXISTS (SELECT 1 FROM occurrences AS o WHERE o.claim_id = c.id)"
            ).fetchone()
            last = self._db.execute(
                "SELECT delivered_at, destination, claim_count FROM digests ORDER BY id DESC LIMIT 1"
            ).fetchone()
            pending = self._db.execute(
                "SELECT count(*), (SELECT last_error FROM deliveries WHERE state = 'pending' ORDER BY id LIMIT 1)"
                " FROM deliveries WHERE state = 'pending'"
            ).fetchone()
            refused = self._db.execute(
                "SELECT count(*), (SELECT last_error FROM deliveries WHERE state = 'refused' ORDER BY id DESC"
                " LIMIT 1) FROM deliveries WHERE state = 'refused'"
            ).fetchone()
            (delivered,) = self._db.execute(
                "SELECT count(*) FROM digests WHERE destination != 'baseline'"
            ).fetchone()
        last_at, last_to, last_claims = last or (None, None, None)
        return Status(documents, claims, unreported, last_at, last_to, last_claims, pending_digests=pending[0],
                      pending_error=pending[1], refused_digests=refused[0], refused_error=refused[1],
                      delivered_digests=delivered)

    # -- workers and their leases ------------------------------------------------------------------

    def worker_seen(self, name: str, now: datetime) -> None:
        """A worker (this process, under ``name``) is alive: remember it, with its host and pid."""
        with self._guard():
            self._db.execute(
                "INSERT INTO workers (name, host, pid, started_at, last_seen) VALUES (?, ?, ?, ?, ?)"
                " ON CONFLICT (name) DO UPDATE SET host = excluded.host, pid = excluded.pid, started_at = CASE"
                " WHEN workers.pid = excluded.pid AND workers.host = excluded.host THEN workers.started_at"
                " ELSE excluded.started_at END, last_seen = excluded.last_seen",
                (name, socket.gethostname(), os.getpid(), _ts(self._opened), _ts(now)),
            )

    def workers(self, since: datetime) -> list[Worker]:
        """The workers seen since ``since``, or holding a lease that has not expired, most recently seen first."""
        with self._guard():
            held: dict[str, list[str]] = {}
            for holder, source in self._live_leases():
                held.setdefault(holder, []).append(source)
            rows = self._db.execute(
                "SELECT name, host, pid, started_at, last_seen FROM workers ORDER BY last_seen DESC, name"
            ).fetchall()
        return [Worker(name, host, int(pid), started, seen, tuple(sorted(held.get(name, ()))))
                for name, host, pid, started, seen in rows if seen >= _ts(since) or name in held]

def due_by(last_attempt: str | None, cutoff: str | None) -> bool:
    """Whether a source last polled at ``last_attempt`` (None: never) is due by ``cutoff`` (None: whenever)."""
    if cutoff is None or last_attempt is None:
        return True
    return datetime.fromisoformat(last_attempt) <= datetime.fromisoformat(cutoff)


def _rarest(codes: Sequence[int], rows: Mapping[int, _Posting]) -> list[int]:
    """:func:`rarest`, from the index rows as :meth:`Store._counts` keeps them."""
    return sorted(codes, key=lambda c: (rows[c].claims << 64) | ((c * _MIX) & 0xFFFFFFFFFFFFFFFF))[:LISTED_SHINGLES]


def rarest(codes: Sequence[int], have: Mapping[int, int]) -> list[int]:
    """The ``LISTED_SHINGLES`` codes fewest stored claims have (``have``: code -> claims), ties in a fixed
    pseudo-random order: the shingles a claim is listed under in the index."""
    get = have.get
    return sorted(codes, key=lambda c: (get(c, 0) << 64) | ((c * _MIX) & 0xFFFFFFFFFFFFFFFF))[:LISTED_SHINGLES]


def _most_shared(heads: Sequence[str]) -> list[int]:
    """The ``MAX_CANDIDATES`` claims listed in the most of these list heads (ids as decimal text joined by commas);
    of equals, those met first (the lists are read rarest first: a claim met in a rarer list first). One split and
    one count, in C: a lookup at a million claims counts some 400 entries."""
    if not heads:
        return []
    entries = ",".join(heads).split(",")
    hits = Counter(entries)
    if len(hits) == len(entries):  # each met once: the first met
        return [int(i) for i in entries[:MAX_CANDIDATES]]
    return [int(i) for i, _ in sorted(hits.items(), key=itemgetter(1), reverse=True)[:MAX_CANDIDATES]]


def _add_postings(db: Connection, rows: Mapping[int, _Posting]) -> None:
    """Add to the index rows: each shingle's counts grow, and its list's head gets the ids (the caller gives
    only those under LIST_READ)."""
    db.executemany(
        "INSERT INTO postings (shingle, claims, listed, head) VALUES (?, ?, ?, ?) ON CONFLICT (shingle) DO UPDATE SET"
        " claims = postings.claims + excluded.claims, listed = postings.listed + excluded.listed, head = CASE"
        " WHEN excluded.head = '' THEN postings.head WHEN postings.head = '' THEN excluded.head"
        " ELSE postings.head || ',' || excluded.head END",
        [(code, row.claims, row.listed, row.head) for code, row in rows.items() if row.claims or row.listed],
    )


@cache
def _postings_sql(n: int) -> str:
    return f"SELECT shingle, claims, listed, head FROM postings WHERE shingle IN ({','.join('?' * n)})"  # noqa: S608


def _conflict_sources(claim: DigestClaim) -> list[int]:
    return [d for conflict in claim.conflicts for d in conflict.sources]


def _chunks(items: list[int], size: int) -> Iterator[list[int]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]
