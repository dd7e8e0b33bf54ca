"""The store interface: what the pipeline, the service and the command line ask of a store, whichever backend holds
it. :class:`monitor.store.sqlite.Store` is one (mypy checks it, see ``monitor/store/sqlite/__init__.py``); so is
:class:`monitor.store.postgres.PgStore`. Each method's contract is the docstring here; a backend's own
docstrings say how it keeps it. Every backend's errors leave as :class:`~monitor.errors.StoreError`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Protocol

from monitor.models import (
    Claim,
    Digest,
    Document,
    FeedEntry,
    Fetched,
    Match,
    PendingDelivery,
    QueuedDigest,
    RobotsFile,
    Sketch,
    Validators,
)
from monitor.store.records import DocState, Origin, PendingEntry, SourceHealth, Status, Worker


class StoreInterface(Protocol):
    """A store, open; close it (or use it as a context manager) when done."""

    #: where it is, as messages show it: the file, or the server's URL without its password
    where: str
    #: the file a worker process may read the store from (SQLite's), None for a server
    local_file: Path | None
    #: other processes (workers on other machines) may work on it at the same time (PostgreSQL): sources are
    #: leased, claims looked up and added under the claim lock, digests sent under the digest lock
    shared: bool

    def __enter__(self) -> StoreInterface:
        ...

    def __exit__(self, *exc: object) -> None:
        ...

    def delivery_failed(self, delivery_id: int, error: str, retry_at: datetime) -> None:
        """An attempt failed: keep the delivery pending, to be tried again from ``retry_at``."""
        ...

    def delivery_refused(self, delivery_id: int, error: str, now: datetime) -> None:
        """The server refused the message for good: the digest is *refused* and gives its claims back, so that the next
        digest carries them."""
        ...

    def delivery_sent(self, delivery_id: int, destination: str, now: datetime, *, keep: timedelta = ...) -> int:
        """The server accepted the message: record the digest and mark its claims reported, in one transaction. The
        messages of digests delivered ``keep`` or longer ago (this one's too, with ``keep`` 0) go in it."""
        ...

    def drop_delivery(self, delivery_id: int, now: datetime) -> str | None:
        """The user gives up on a pending or refused digest: it is *dropped*, its claims go into the next digest.
        Returns its state before, or None when there is no such digest waiting or refused."""
        ...

    def is_empty(self) -> bool:
        """No claim and no digest yet: a first run."""
        ...

    def pending_count(self) -> int:
        """How many digests wait to be delivered (without reading their messages)."""
        ...

    def pending_deliveries(self, due: datetime | None = None) -> list[PendingDelivery]:
        """Deliveries not yet accepted, oldest first; with ``due``, only those whose next attempt is due."""
        ...

    def queue_digest(
        self, digest: Digest, *, subject: str, message_id: str, message: bytes, sender: str,
        recipients: Sequence[str], now: datetime,
    ) -> int:
        """Record a digest as a pending delivery and assign its claims to it; returns the delivery id."""
        ...

    def queued_digests(self, states: Sequence[str] = ("pending", "refused")) -> list[QueuedDigest]:
        """The digests in these states, oldest first, without their messages."""
        ...

    def record_baseline(self, now: datetime) -> int:
        """Record every claim in no digest as known without mailing it (``digest --baseline``): one ``digests`` row
        with the destination "baseline" takes them. Returns how many claims it took."""
        ...

    def requeue_delivery(self, delivery_id: int, now: datetime) -> str:
        """Make a digest due now: a pending one skips its backoff; a refused or dropped one is pending again, as it was
        built, if every claim it held is still in no other digest. Returns what was done: "pending", "requeued", or
        why not ("unknown", "sent", "claims moved")."""
        ...

    def add_claim(
        self, claim: Claim, fingerprint: int, sketch: Sketch, document_id: int, now: datetime
    ) -> int:
        """Store a new claim and list it in the index under its rarest shingles; its id. Call it inside the
        transaction that saved the document, after that write, as the pipeline does: no other writer may take the id
        meanwhile.

        The claim lock: inside a transaction, the first of save_document, find_exact_many, candidates_many,
        add_claim and ensure_index takes it, and it is held until the transaction ends, so the near-duplicate
        decisions of concurrent writers and their inserts come one after the other (SQLite: its write lock;
        PostgreSQL: an advisory transaction lock)."""
        ...

    def add_conflict(self, claim_id: int, known_claim_id: int) -> None:
        """Record that a new claim contradicts a known one in a figure."""
        ...

    def add_occurrences(self, document_id: int, found: Sequence[tuple[int, Claim, Match]], now: datetime) -> None:
        """Record that a document carries these claims (claim id, claim, verdict); repeats are ignored."""
        ...

    def candidates_many(self, claims: Sequence[Sequence[int]]) -> list[list[tuple[int, str]]]:
        """For each of several claims (each given by its shingle codes, ascending, as ``novelty.codes`` gives them),
        the stored claims the index offers as its near-duplicate candidates: (id, canonical text), those listed on
        the most of its rarest shingles' lists first. Claims added after this call are not among them."""
        ...

    def check_file(self) -> None:
        """Raise StoreGoneError unless the store's path still leads to the file opened: a store deleted (or replaced)
        under a running process would take its writes into a file no one reads again. Checked as each transaction
        begins, and by the service as each job does."""
        ...

    def claim_origins(self, ids: Sequence[int]) -> dict[int, Origin]:
        """For stored claims: their wording as first seen and the document they were first seen in."""
        ...

    def close(self) -> None:
        ...

    def document_canonical(self, document_id: int, limit: int) -> list[tuple[int, str]]:
        """(id, canonical text) of the claims a document carries, in its order, at most ``limit``."""
        ...

    def document_state(self, locator: str) -> DocState | None:
        ...

    def ensure_index(self, parameters: str, sketch: Callable[[str], Sketch]) -> int:
        """Make the near-duplicate index match ``parameters``; rebuild it (returns claims re-indexed) if it was made
        with others, so changing the novelty settings or the aliases never silently breaks matching. Claims are
        listed again in the order they came, each under its rarest shingles at that point."""
        ...

    def failed_file(self, locator: str) -> tuple[int, int] | None:
        """(size, mtime_ns) of the version of a file that could not be used, if one could not."""
        ...

    def file_failed(self, locator: str, size: int, mtime_ns: int, error: str, now: datetime) -> None:
        """Remember that this version of a file could not be used (it is not tried, nor reported, again)."""
        ...

    def find_exact_many(self, fingerprints: Sequence[int]) -> dict[int, int]:
        """fingerprint -> claim id for those of ``fingerprints`` already stored, in one query."""
        ...

    def forget_failed_file(self, locator: str) -> None:
        ...

    def get_meta(self, key: str) -> str | None:
        ...

    def hinted_documents(self, claim_ids: Sequence[int], least: int, most: int) -> list[int]:
        """The documents carrying at least ``least`` of these claims, at most ``most`` of them, most first."""
        ...

    def own_claims(self, document_id: int) -> list[tuple[int, str]]:
        """(id, normalized text) of the claims first seen in this document that no other document carries."""
        ...

    def rolled_back(self) -> AbstractContextManager[None]:
        """Everything done inside is undone at the end (for dry runs)."""
        ...

    def save_document(self, fetched: Fetched, document: Document, now: datetime) -> int:
        """Insert or update a document's row; returns its id."""
        ...

    def set_meta(self, key: str, value: str) -> None:
        ...

    def status(self) -> Status:
        ...

    def touch_document(self, doc_id: int, size: int | None, mtime_ns: int | None) -> None:
        """Remember a new size and mtime for a document whose content did not change."""
        ...

    def transaction(self) -> AbstractContextManager[None]:
        """A transaction, or a nested one inside the one already open (rolled back alone on error); the store is
        checked to be still there first."""
        ...

    def unreported(self, generated_at: datetime, *, corroborated: bool = False) -> Digest:
        """Every claim in no digest yet (neither delivered nor waiting to be), grouped by first document, in order of
        the documents' dates. With ``corroborated``, also the claims of earlier digests that gained sources since
        the last delivered digest."""
        ...

    def withdraw_occurrences(self, document_id: int, claim_ids: Sequence[int]) -> None:
        """The document no longer carries these claims (its new version replaced them)."""
        ...

    def add_entries(self, feed: str, entries: Sequence[tuple[str, FeedEntry]], now: datetime) -> int:
        """Remember (normalized url, entry) pairs not seen before, as pending; returns how many were new."""
        ...

    def entry_attempt_failed(self, url: str, error: str) -> None:
        """An entry's fetch failed in a way worth trying again: it stays pending."""
        ...

    def health(self) -> dict[str, SourceHealth]:
        ...

    def pending_entries(self, feeds: Sequence[str]) -> list[PendingEntry]:
        """Entries of these feeds still to be fetched, oldest first."""
        ...

    def record_polls(self, polls: Sequence[tuple[str, str | None]], now: datetime) -> None:
        """Record polls as (source name, error or None for success), in one transaction."""
        ...

    def robots_since(self, since: datetime) -> dict[str, RobotsFile]:
        """robots.txt files fetched after ``since``, by origin."""
        ...

    def save_robots(self, files: Sequence[RobotsFile], now: datetime) -> None:
        ...

    def save_validators(self, url: str, validators: Validators, now: datetime) -> None:
        ...

    def settle_entry(self, url: str, state: str, now: datetime, error: str | None = None) -> None:
        """An entry is done with: 'ingested', 'off-topic' or 'failed' (with the error)."""
        ...

    def validators_many(self, urls: Sequence[str]) -> dict[str, Validators]:
        """url -> stored validators, for those of ``urls`` fetched before."""
        ...

    # -- many workers --------------------------------------------------------------------------------

    def lease_sources(self, due: Sequence[tuple[str, str | None]], holder: str, seconds: float) -> list[str]:
        """Lease those of these sources that are due and that no other worker holds (or whose lease expired), for
        ``seconds``; their names. ``due``: (source name, cutoff): a source is due if it was never polled, or last
        polled at or before its cutoff (an ISO time; None: due whenever it is free). A lease already this
        holder's is renewed."""
        ...

    def release_sources(self, names: Sequence[str], holder: str) -> None:
        """Give back this holder's leases on these sources; in the transaction that records their polls, so that
        no other worker finds them free and not yet polled."""
        ...

    def worker_seen(self, name: str, now: datetime) -> None:
        """This process, working as ``name``, is alive (its host, pid and start are kept with it)."""
        ...

    def workers(self, since: datetime) -> list[Worker]:
        """The workers seen since ``since`` or holding a lease that has not expired, most recently seen first."""
        ...

    def digest_lock(self) -> AbstractContextManager[bool]:
        """Held while digests are built and sent: true inside if this process has it, false if another worker does
        (it then sends nothing: the other sends every digest due)."""
        ...

