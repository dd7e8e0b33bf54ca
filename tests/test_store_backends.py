"""The store's contract (``monitor.store.interface``), method by method, on both backends: each test runs on an SQLite
file and on a PostgreSQL database of its own (``spot``), with the real seeds ingested by the pipeline's own
``ingest``. Where the backends differ by design (one process owns an SQLite file; workers share a PostgreSQL store)
the test says so. Internals are read through the store's own connection (``store._db``: ``?`` placeholders on
both)."""

from __future__ import annotations

import hashlib
import json
import os
import re
import socket
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from conftest import StoreSpot
from helpers import seed

from monitor import config
from monitor.errors import StoreError
from monitor.extract import extract
from monitor.models import Claim, Digest, Document, FeedEntry, Fetched, Match, PendingDelivery, RobotsFile, Validators
from monitor.normalize import Normalizer, key_of
from monitor.novelty import fingerprint
from monitor.pipeline import Deps, ingest
from monitor.store import StoreInterface
from monitor.store.postgres import PgStore
from monitor.store.records import DocState, Origin, PendingEntry, SourceHealth, Worker

NORM = Normalizer("t2s")
SETTINGS = config.load(None, cwd=Path("/nonexistent"))
NOW = datetime(2024, 7, 30, 12, 0, tzinfo=UTC)
#: the sentence seeds 000 (in Traditional Chinese) and 004 (in Simplified) both carry
SHARED = "30岁才成为英伟达的联合创始人"


def ingest_seed(store: StoreInterface, prefix: str, at: datetime = NOW) -> int:
    """The pipeline's own ingest of one seed, at ``at``; how many claims were new."""
    path = seed(prefix)
    data = path.read_bytes()
    fetched = Fetched(str(path), data, hashlib.sha256(data).hexdigest(), source="seeds", kind="text")
    deps = Deps(store, normalizer=NORM, clock=lambda: at)
    return ingest(fetched, extract(fetched), deps, SETTINGS)


@pytest.fixture
def store(spot: StoreSpot) -> Iterator[StoreInterface]:
    with spot.open() as opened:
        yield opened


def queue(store: StoreInterface, digest: Digest, name: str, now: datetime = NOW) -> int:
    """Queue ``digest`` with a message of its own (bytes a text column would not keep: NUL, invalid UTF-8)."""
    return store.queue_digest(
        digest, subject=f"digest {name}", message_id=f"<{name}@example.org>", message=message(name),
        sender="monitor@example.org", recipients=["a@example.org", "読者@example.org"], now=now,
    )


def message(name: str) -> bytes:
    return f"Subject: digest {name}\r\n\r\n".encode() + b"\x00\xff\xfe body \xe4\xb8" + name.encode()


def test_a_store_says_where_it_is_and_whether_workers_share_it(spot: StoreSpot) -> None:
    with spot.open() as store:
        store.check_file()  # still there
        if spot.backend == "sqlite":
            assert (store.where, store.local_file, store.shared) == (spot.target, Path(spot.target), False)
        else:
            assert store.where == spot.target and store.local_file is None and store.shared  # no password to hide


# -- the delivery queue ---------------------------------------------------------------------------------------


def test_a_queued_digest_waits_with_its_message_and_holds_its_claims(store: StoreInterface) -> None:
    assert store.is_empty() and store.pending_count() == 0 and store.pending_deliveries() == []
    new = ingest_seed(store, "002")
    assert new > 20 and not store.is_empty()
    digest = store.unreported(NOW)
    assert len(digest.claims) == new
    delivery = queue(store, digest, "first", NOW)
    assert store.pending_count() == 1
    (pending,) = store.pending_deliveries()
    assert pending == PendingDelivery(delivery, "<first@example.org>", "digest first", message("first"), new, 0, None,
                                      NOW.isoformat())
    assert type(pending.message) is bytes  # not a memoryview
    # its next attempt is due at once, not before
    assert store.pending_deliveries(due=NOW - timedelta(seconds=1)) == []
    assert store.pending_deliveries(due=NOW) == [pending]
    # its claims are in no other digest: the next one has none of them
    assert store.unreported(NOW + timedelta(minutes=1)).claims == ()
    assert store.record_baseline(NOW) == 0
    status = store.status()
    assert (status.claims, status.unreported, status.pending_digests, status.delivered_digests) == (new, new, 1, 0)
    (listed,) = store.queued_digests()
    assert (listed.id, listed.state, listed.message_id, listed.claim_count, listed.attempts, listed.size) == (
        delivery, "pending", "<first@example.org>", new, 0, len(message("first")))
    assert listed.subject == "digest first" and listed.created_at == NOW.isoformat() and listed.closed_at is None
    assert store.queued_digests(("sent", "refused")) == []


def test_a_failed_attempt_keeps_the_digest_pending_until_its_retry_time(store: StoreInterface) -> None:
    ingest_seed(store, "002")
    delivery = queue(store, store.unreported(NOW), "first")
    retry = NOW + timedelta(minutes=5)
    store.delivery_failed(delivery, "SMTP 127.0.0.1:25: connection refused", retry)
    store.delivery_failed(delivery, "SMTP 127.0.0.1:25: 451 try again later", retry)
    assert store.pending_deliveries(due=retry - timedelta(seconds=1)) == []
    (pending,) = store.pending_deliveries(due=retry)
    assert (pending.attempts, pending.last_error) == (2, "SMTP 127.0.0.1:25: 451 try again later")
    assert pending.message == message("first")
    status = store.status()
    assert status.pending_digests == 1 and status.pending_error == "SMTP 127.0.0.1:25: 451 try again later"
    # a pending digest made due now skips its backoff
    later = NOW + timedelta(minutes=1)
    assert store.requeue_delivery(delivery, later) == "pending"
    assert [p.id for p in store.pending_deliveries(due=later)] == [delivery]


def test_a_sent_digest_reports_its_claims_once_and_lets_its_message_go(store: StoreInterface) -> None:
    new = ingest_seed(store, "002")
    delivery = queue(store, store.unreported(NOW), "first")
    store.delivery_failed(delivery, "451 busy", NOW)
    sent_at = NOW + timedelta(minutes=1)
    digest_id = store.delivery_sent(delivery, "smtp://127.0.0.1:25", sent_at)
    assert digest_id > 0
    assert store.delivery_sent(delivery, "smtp://127.0.0.1:25", sent_at) == 0  # a second attempt records nothing
    assert store.pending_count() == 0 and store.pending_deliveries() == []
    status = store.status()
    assert (status.claims, status.unreported, status.pending_digests, status.delivered_digests) == (new, 0, 0, 1)
    assert (status.last_digest_at, status.last_digest_to, status.last_digest_claims) == (
        sent_at.isoformat(), "smtp://127.0.0.1:25", new)
    (sent,) = store.queued_digests(("sent",))
    assert (sent.id, sent.attempts, sent.last_error, sent.size) == (delivery, 2, None, 0)  # no message kept
    assert store.unreported(sent_at).claims == ()
    assert store.record_baseline(sent_at) == 0
    assert store.requeue_delivery(delivery, sent_at) == "sent" and store.drop_delivery(delivery, sent_at) is None


def test_keep_holds_a_delivered_message_that_long_then_the_next_delivery_lets_it_go(store: StoreInterface) -> None:
    ingest_seed(store, "002")
    first = queue(store, store.unreported(NOW), "first")
    store.delivery_sent(first, "outbox", NOW, keep=timedelta(days=30))
    assert [d.size for d in store.queued_digests(("sent",))] == [len(message("first"))]
    ingest_seed(store, "001", NOW + timedelta(days=31))
    second = queue(store, store.unreported(NOW + timedelta(days=31)), "second", NOW + timedelta(days=31))
    store.delivery_sent(second, "outbox", NOW + timedelta(days=31), keep=timedelta(days=30))
    assert [(d.id, d.size) for d in store.queued_digests(("sent",))] == [(first, 0), (second, len(message("second")))]


def test_a_refused_digest_gives_its_claims_back_and_can_be_requeued_while_they_wait(store: StoreInterface) -> None:
    new = ingest_seed(store, "002")
    digest = store.unreported(NOW)
    delivery = queue(store, digest, "first")
    later = NOW + timedelta(minutes=2)
    store.delivery_refused(delivery, "554 5.6.0 message content rejected", later)
    assert store.pending_count() == 0
    status = store.status()
    assert (status.refused_digests, status.refused_error, status.pending_digests) == (
        1, "554 5.6.0 message content rejected", 0)
    assert [c.id for c in store.unreported(later).claims] == [c.id for c in digest.claims]  # back: not lost
    (refused,) = store.queued_digests()
    assert (refused.state, refused.attempts, refused.closed_at) == ("refused", 1, later.isoformat())
    assert refused.size == len(message("first"))  # a digest not delivered keeps its message
    # sent as it was: its claims are its own again
    assert store.requeue_delivery(delivery, later) == "requeued"
    assert store.unreported(later).claims == ()
    (pending,) = store.pending_deliveries(due=later)
    assert (pending.id, pending.message, pending.claim_count) == (delivery, message("first"), new)
    assert store.queued_digests()[0].closed_at is None
    assert store.requeue_delivery(delivery + 1000, later) == "unknown"


def test_a_refused_digest_whose_claims_went_into_another_is_not_requeued(store: StoreInterface) -> None:
    ingest_seed(store, "002")
    refused = queue(store, store.unreported(NOW), "first")
    store.delivery_refused(refused, "550 5.1.1 mailbox unavailable", NOW)
    second = queue(store, store.unreported(NOW), "second")
    assert store.requeue_delivery(refused, NOW) == "claims moved"
    assert [p.id for p in store.pending_deliveries()] == [second]
    assert [d.state for d in store.queued_digests(("pending", "refused"))] == ["refused", "pending"]  # oldest first


def test_dropping_a_digest_gives_its_claims_to_the_next(store: StoreInterface) -> None:
    new = ingest_seed(store, "002")
    pending = queue(store, store.unreported(NOW), "first")
    assert store.drop_delivery(pending, NOW) == "pending"
    assert store.drop_delivery(pending, NOW) is None  # no longer waiting
    assert store.drop_delivery(pending + 1000, NOW) is None
    assert store.pending_count() == 0 and len(store.unreported(NOW).claims) == new
    refused = queue(store, store.unreported(NOW), "second")
    store.delivery_refused(refused, "554 no", NOW)
    assert store.drop_delivery(refused, NOW) == "refused"
    dropped = store.queued_digests(("dropped",))
    assert [(d.id, d.state, d.last_error) for d in dropped] == [(pending, "dropped", None),
                                                               (refused, "dropped", "554 no")]
    assert store.record_baseline(NOW) == new  # the claims of neither: in no digest


def test_a_baseline_takes_the_claims_in_no_digest_and_is_no_delivered_digest(store: StoreInterface) -> None:
    first = ingest_seed(store, "002")
    waiting = queue(store, store.unreported(NOW), "first")
    second = ingest_seed(store, "001")
    assert second > 0
    assert store.record_baseline(NOW) == second  # not those waiting in a pending digest
    assert store.record_baseline(NOW) == 0
    status = store.status()
    assert (status.last_digest_to, status.last_digest_claims, status.delivered_digests) == ("baseline", second, 0)
    assert status.unreported == first  # the pending digest's, until it is delivered
    assert [p.id for p in store.pending_deliveries()] == [waiting]
    assert not store.is_empty()


def test_a_store_with_only_a_baseline_digest_is_not_empty(spot: StoreSpot) -> None:
    with spot.open() as store:
        ingest_seed(store, "002")
        store.record_baseline(NOW)
        with store.transaction():
            store._db.execute("UPDATE claims SET digest_id = NULL")
            store._db.execute("DELETE FROM canonical")
            store._db.execute("DELETE FROM occurrences")
            store._db.execute("DELETE FROM claims")
        assert store.status().claims == 0 and not store.is_empty()


def test_a_driver_error_is_a_store_error_and_the_store_goes_on(store: StoreInterface) -> None:
    """A statement the database refuses (here: a second digest under one Message-ID, a conflict between claims that
    do not exist) leaves as a StoreError naming the store; what its transaction did is undone, the rest stays, and
    the store takes the next statement (PostgreSQL: no transaction is left aborted)."""
    ingest_seed(store, "002")
    queue(store, store.unreported(NOW), "first")
    ingest_seed(store, "001")
    with pytest.raises(StoreError, match=re.escape(store.where)):
        queue(store, store.unreported(NOW), "first")  # its own transaction
    with pytest.raises(StoreError, match=re.escape(store.where)):
        store.add_conflict(10_000, 10_001)  # outside any transaction
    assert store.pending_count() == 1 and store.unreported(NOW).claims
    with store.transaction():
        store.set_meta("before", "1")
        with pytest.raises(StoreError, match=re.escape(store.where)), store.transaction():
            queue(store, store.unreported(NOW), "first")  # the same Message-ID again
        store.set_meta("after", "1")
    assert (store.get_meta("before"), store.get_meta("after")) == ("1", "1")
    assert store.pending_count() == 1 and store.unreported(NOW).claims  # the second digest left nothing


# -- web tables -----------------------------------------------------------------------------------------------


def test_validators_are_kept_per_url_and_replaced(store: StoreInterface) -> None:
    page, feed = "https://example.org/news/1.html", "https://example.org/feed.xml"
    assert store.validators_many([page, feed]) == {}
    store.save_validators(page, Validators('"v1"', "Tue, 30 Jul 2024 08:00:00 GMT", "a" * 64), NOW)
    store.save_validators(feed, Validators(None, None, "b" * 64), NOW)
    store.save_validators(page, Validators('W/"v2"', None, "c" * 64), NOW + timedelta(hours=1))
    assert store.validators_many([page, feed, "https://example.org/other"]) == {
        page: Validators('W/"v2"', None, "c" * 64), feed: Validators(None, None, "b" * 64)}
    many = [f"https://example.org/{n}" for n in range(1200)]  # more than one query's worth
    for url in many[::100]:
        store.save_validators(url, Validators(f'"{url}"'), NOW)
    assert set(store.validators_many(many)) == set(many[::100])


def test_feed_entries_count_the_new_ones_and_wait_in_the_order_they_came(store: StoreInterface) -> None:
    def entries(*names: str) -> list[tuple[str, FeedEntry]]:
        return [(f"https://example.org/{n}", FeedEntry(f"https://example.org/{n}", f"标题 {n}", "2024-07-30")) for n in
                names]

    assert store.add_entries("tech", entries("c", "a", "b"), NOW) == 3
    assert store.add_entries("tech", entries("b", "d", "a"), NOW + timedelta(minutes=1)) == 1  # d only
    assert store.add_entries("tech", [], NOW) == 0
    assert store.add_entries("other", entries("e"), NOW - timedelta(minutes=1)) == 1
    assert store.add_entries("other", entries("a"), NOW) == 0  # one entry per URL, whichever feed lists it
    pending = store.pending_entries(["tech"])
    # first seen first, those of one moment as the feed listed them (not by URL)
    assert [e.url.rsplit("/", 1)[1] for e in pending] == ["c", "a", "b", "d"]
    assert pending[0] == PendingEntry("https://example.org/c", "tech", "标题 c", "2024-07-30", 0)
    assert [e.url for e in store.pending_entries(["other", "tech"])][:2] == ["https://example.org/e",
                                                                               "https://example.org/c"]
    assert store.pending_entries(["nothing"]) == []
    store.entry_attempt_failed("https://example.org/a", "HTTP 503")
    store.entry_attempt_failed("https://example.org/a", "HTTP 502")
    store.settle_entry("https://example.org/c", "ingested", NOW)
    store.settle_entry("https://example.org/b", "failed", NOW, "HTTP 404")
    store.settle_entry("https://example.org/d", "off-topic", NOW)
    assert store.pending_entries(["tech"]) == [PendingEntry("https://example.org/a", "tech", "标题 a", "2024-07-30", 2)]
    errors = dict(store._db.execute(
        "SELECT url, last_error FROM feed_entries WHERE state != ?", ("pending",)).fetchall())
    assert errors == {"https://example.org/c": None, "https://example.org/b": "HTTP 404",
                      "https://example.org/d": None}


def test_entries_and_digests_of_no_feed_and_no_state_are_none(store: StoreInterface) -> None:
    """An empty list asks for nothing (PostgreSQL refuses the ``IN ()`` SQLite takes)."""
    store.add_entries("tech", [("https://example.org/a", FeedEntry("https://example.org/a"))], NOW)
    ingest_seed(store, "002")
    queue(store, store.unreported(NOW), "first")
    assert store.pending_entries([]) == [] and store.queued_digests(()) == []
    assert len(store.pending_entries(["tech"])) == len(store.queued_digests()) == 1


def test_robots_files_are_read_back_while_fresh(store: StoreInterface) -> None:
    assert store.robots_since(NOW - timedelta(days=1)) == {}
    files = [RobotsFile("https://example.org", 200, "User-agent: *\nDisallow: /private/\n"),
             RobotsFile("https://example.net", 404)]
    store.save_robots(files, NOW)
    assert store.robots_since(NOW - timedelta(seconds=1)) == {f.origin: f for f in files}
    assert store.robots_since(NOW) == {}  # fetched after ``since`` only
    renewed = RobotsFile("https://example.net", 200, "User-agent: *\nAllow: /\n")
    store.save_robots([renewed], NOW + timedelta(hours=1))
    assert store.robots_since(NOW) == {renewed.origin: renewed}


def test_health_counts_failures_in_a_row_and_keeps_the_last_success_and_error(store: StoreInterface) -> None:
    assert store.health() == {}
    t = [NOW + timedelta(minutes=n) for n in range(4)]
    store.record_polls([("seeds", None), ("tech", "HTTP 500")], t[0])
    store.record_polls([("tech", "timed out")], t[1])
    health = store.health()
    assert health["seeds"] == SourceHealth("seeds", t[0].isoformat(), t[0].isoformat(), None, None, 0)
    assert health["tech"] == SourceHealth("tech", t[1].isoformat(), None, "timed out", t[1].isoformat(), 2)
    store.record_polls([("tech", None)], t[2])
    assert store.health()["tech"] == SourceHealth("tech", t[2].isoformat(), t[2].isoformat(), "timed out",
                                                  t[1].isoformat(), 0)
    store.record_polls([("tech", "HTTP 503")], t[3])
    assert store.health()["tech"].failures == 1 and store.health()["tech"].last_success == t[2].isoformat()


# -- documents, claims, meta ----------------------------------------------------------------------------------


def test_a_saved_document_keeps_its_id_and_first_seen_through_updates(store: StoreInterface) -> None:
    locator = "/corpus/报道.txt"
    assert store.document_state(locator) is None
    first = Fetched(locator, b"a", "1" * 64, "seeds", size=10, mtime_ns=1_722_300_000_123_456_789)
    doc = Document(locator, "text", "标题", "2024-07-30", "site", "https://example.org/a", "utf-8")
    doc_id = store.save_document(first, doc, NOW)
    assert store.document_state(locator) == DocState(doc_id, "1" * 64, 10, 1_722_300_000_123_456_789)
    later = NOW + timedelta(days=1)
    changed = Fetched(locator, b"b", "2" * 64, "seeds", size=None, mtime_ns=None)
    assert store.save_document(changed, Document(locator, "text", "新标题"), later) == doc_id
    assert store.document_state(locator) == DocState(doc_id, "2" * 64, None, None)
    row = store._db.execute(
        "SELECT first_seen, last_changed, title, published FROM documents WHERE id = ?", (doc_id,)).fetchone()
    assert tuple(row) == (NOW.isoformat(), later.isoformat(), "新标题", None)
    store.touch_document(doc_id, 12, 1_722_400_000_000_000_001)
    assert store.document_state(locator) == DocState(doc_id, "2" * 64, 12, 1_722_400_000_000_000_001)
    other = store.save_document(Fetched("/corpus/b.txt", b"", "3" * 64, "seeds"), Document("/corpus/b.txt", ""), NOW)
    assert other != doc_id and store.status().documents == 2


def test_a_failed_file_is_remembered_by_version_until_forgotten(store: StoreInterface) -> None:
    locator = "/corpus/broken.html"
    assert store.failed_file(locator) is None
    store.file_failed(locator, 2056, 1_722_300_000_123_456_789, "not a text file", NOW)
    assert store.failed_file(locator) == (2056, 1_722_300_000_123_456_789)
    store.file_failed(locator, 64, 1_722_300_001_000_000_000, "empty", NOW)
    assert store.failed_file(locator) == (64, 1_722_300_001_000_000_000)
    store.forget_failed_file(locator)
    store.forget_failed_file(locator)  # nothing to forget: no error
    assert store.failed_file(locator) is None


def test_meta_values_are_kept_and_replaced(store: StoreInterface) -> None:
    assert store.get_meta("heartbeat") is None
    store.set_meta("heartbeat", json.dumps({"pid": 1, "last_poll": NOW.isoformat()}))
    store.set_meta("heartbeat", "第二次")
    store.set_meta("other", "")
    assert (store.get_meta("heartbeat"), store.get_meta("other")) == ("第二次", "")


def test_claims_of_two_seeds_their_origins_occurrences_and_lookups(store: StoreInterface) -> None:
    first = ingest_seed(store, "000")
    second = ingest_seed(store, "004", NOW + timedelta(hours=1))
    digest = store.unreported(NOW)
    assert len(digest.claims) == first + second
    docs = {Path(d.path or "").name[:3]: d.id for d in digest.documents}
    (shared,) = [c for c in digest.claims if SHARED in c.normalized]
    assert shared.document == docs["000"] and shared.sources == (docs["000"], docs["004"])
    title = next(d.title for d in digest.documents if d.id == docs["000"])
    assert title and store.claim_origins([shared.id, shared.id]) == {
        shared.id: Origin(shared.text, docs["000"], title, str(seed("000")))}
    assert store.claim_origins([]) == {}
    # exact lookups by fingerprint
    prints = {fingerprint(key_of(c.normalized)): c.id for c in digest.claims[:5]}
    assert store.find_exact_many([*prints, 12345]) == prints
    # 004's own claims: first seen there and carried by no other document
    own = dict(store.own_claims(docs["004"]))
    assert shared.id not in own and len(own) == second
    assert all(c.id in own for c in digest.claims if c.document == docs["004"])
    # the documents carrying the shared claim, most first
    assert set(store.hinted_documents([shared.id], 1, 5)) == {docs["000"], docs["004"]}
    assert store.hinted_documents([shared.id], 2, 5) == [] and store.hinted_documents([], 1, 5) == []
    mine = [c.id for c in digest.claims if c.document == docs["000"]]
    assert store.hinted_documents(mine[:3], 3, 5) == [docs["000"]]
    in_order = store.document_canonical(docs["000"], 3)
    assert [i for i, _ in in_order] == mine[:3] and all(text for _, text in in_order)
    # a repeated occurrence is ignored; a withdrawn one is gone from the claim's sources
    claim = next(c for c in digest.claims if c.id == mine[0])
    store.add_occurrences(docs["000"], [(claim.id, _claim(claim.text), Match(claim.id, "new", 1.0))], NOW)
    store.withdraw_occurrences(docs["004"], [shared.id])
    (again,) = [c for c in store.unreported(NOW).claims if c.id == shared.id]
    assert again.sources == (docs["000"],)
    assert store.status().claims == first + second


def _claim(text: str) -> Claim:
    return Claim(text, text, text, 0)


def test_a_conflict_is_recorded_once(store: StoreInterface) -> None:
    ingest_seed(store, "002")
    a, b = (c.id for c in store.unreported(NOW).claims[:2])
    store.add_conflict(b, a)
    store.add_conflict(b, a)
    (claim,) = [c for c in store.unreported(NOW).claims if c.id == b]
    assert [k.claim for k in claim.conflicts] == [a]


def test_claims_that_gain_sources_after_a_delivery_come_back_as_corroborated(store: StoreInterface) -> None:
    ingest_seed(store, "000")
    delivery = queue(store, store.unreported(NOW), "first")
    store.delivery_sent(delivery, "outbox", NOW + timedelta(minutes=1))
    assert store.unreported(NOW, corroborated=True).corroborated == ()
    new = ingest_seed(store, "004", NOW + timedelta(hours=1))
    digest = store.unreported(NOW + timedelta(hours=1), corroborated=True)
    assert len(digest.claims) == new
    (doc_004,) = [d.id for d in digest.documents if Path(d.path or "").name.startswith("004")]
    corroborated = {c.text: c for c in digest.corroborated}
    (shared,) = [c for text, c in corroborated.items() if SHARED in NORM.normalize(text)]
    assert shared.new_sources == (doc_004,) and shared.sources_total == 2
    assert store.unreported(NOW + timedelta(hours=1)).corroborated == ()


def test_status_counts_on_an_empty_store(store: StoreInterface) -> None:
    status = store.status()
    assert (status.documents, status.claims, status.unreported, status.last_digest_at, status.pending_digests,
            status.refused_digests, status.delivered_digests) == (0, 0, 0, None, 0, 0, 0)


# -- transactions -----------------------------------------------------------------------------------------------


def test_a_failed_inner_transaction_undoes_its_own_writes_and_claims_only(store: StoreInterface) -> None:
    with store.transaction():
        kept = ingest_seed(store, "002")
        store.set_meta("outer", "1")
        with pytest.raises(RuntimeError, match="boom"), store.transaction():
            undone = ingest_seed(store, "001")
            store.set_meta("inner", "1")
            store.add_entries("tech", [("https://example.org/a", FeedEntry("https://example.org/a"))], NOW)
            store.record_polls([("tech", None)], NOW)
            assert store.status().claims == kept + undone
            raise RuntimeError("boom")
        assert store.status().claims == kept  # inside the outer one, already
        store.set_meta("after", "1")
    assert undone > 0
    assert (store.get_meta("outer"), store.get_meta("inner"), store.get_meta("after")) == ("1", None, "1")
    assert store.pending_entries(["tech"]) == [] and store.health() == {}
    status = store.status()
    assert (status.documents, status.claims) == (1, kept)
    # the undone claims are not known: their document is all new again, their ids given again without a gap
    assert ingest_seed(store, "001") == undone
    assert sorted(c.id for c in store.unreported(NOW).claims) == list(range(1, kept + undone + 1))


def test_an_outer_transaction_that_fails_undoes_the_inner_ones_that_ended(store: StoreInterface) -> None:
    with pytest.raises(RuntimeError), store.transaction():
        with store.transaction():
            ingest_seed(store, "002")
            store.set_meta("inner", "1")
        raise RuntimeError("boom")
    assert store.is_empty() and store.get_meta("inner") is None and store.status().documents == 0
    assert ingest_seed(store, "002") > 0


def test_rolled_back_undoes_everything_done_inside(store: StoreInterface) -> None:
    ingest_seed(store, "002")
    before = store.status()
    with store.rolled_back():
        assert ingest_seed(store, "001") > 0
        with store.transaction():  # a transaction that ends inside is undone all the same
            store.set_meta("inside", "1")
            delivery = queue(store, store.unreported(NOW), "dry")
        store.delivery_sent(delivery, "outbox", NOW)
        store.record_polls([("seeds", None)], NOW)
        store.add_entries("tech", [("https://example.org/a", FeedEntry("https://example.org/a"))], NOW)
        store.save_validators("https://example.org/a", Validators('"x"'), NOW)
        store.save_robots([RobotsFile("https://example.org", 200)], NOW)
        store.file_failed("/corpus/x", 1, 2, "bad", NOW)
        store.worker_seen("dry-run", NOW)
        assert store.status().delivered_digests == 1 and store.get_meta("inside") == "1"
    assert store.status() == before
    assert store.get_meta("inside") is None and store.queued_digests(("sent", "pending")) == []
    assert store.health() == {} and store.pending_entries(["tech"]) == []
    assert store.validators_many(["https://example.org/a"]) == {} and store.robots_since(NOW - timedelta(days=1)) == {}
    assert store.failed_file("/corpus/x") is None and store.workers(NOW - timedelta(days=1)) == []
    assert ingest_seed(store, "001") > 0  # the claims of the dry run were not kept


# -- many workers: leases, workers, the digest lock -------------------------------------------------------------


def test_due_sources_are_leased_by_their_cutoff(store: StoreInterface) -> None:
    polled = datetime.now(UTC) - timedelta(minutes=10)
    store.record_polls([("polled", None)], polled)
    just_before = (polled - timedelta(seconds=1)).isoformat()
    assert store.lease_sources([("polled", just_before)], "w1", 60) == []  # polled since its cutoff: not due
    assert store.lease_sources([], "w1", 60) == []
    got = store.lease_sources([("never", just_before), ("polled", polled.isoformat()), ("any", None)], "w1", 60)
    assert got == ["never", "polled", "any"]  # never polled, polled at its cutoff, no cutoff
    assert store.lease_sources([("polled", None)], "w1", 60) == ["polled"]  # the holder's own: renewed


def test_a_lease_belongs_to_its_holder_until_released(spot: StoreSpot) -> None:
    with spot.open() as one, spot.open() as other:
        due = [("a", None), ("b", None)]
        assert one.lease_sources(due, "w1", 60) == ["a", "b"]
        taken = other.lease_sources(due, "w2", 60)
        if spot.backend == "postgresql":
            assert taken == []  # workers share the store: another's lease is left to it
            other.release_sources(["a"], "w2")  # not w2's to give back
            assert other.lease_sources(due, "w2", 60) == []
            one.release_sources(["a"], "w1")
            assert other.lease_sources(due, "w2", 60) == ["a"]
        else:
            assert taken == ["a", "b"]  # one process owns an SQLite file: a lease left behind is taken over


@pytest.mark.parametrize("spot", ["postgresql"], indirect=True)
def test_an_expired_lease_is_free_again(spot: StoreSpot) -> None:
    with spot.open() as one, spot.open() as other:
        assert one.lease_sources([("a", None)], "w1", 0.3) == ["a"]
        assert other.lease_sources([("a", None)], "w2", 60) == []
        time.sleep(0.4)
        assert other.lease_sources([("a", None)], "w2", 60) == ["a"]
        assert one.lease_sources([("a", None)], "w1", 60) == []


def test_workers_are_listed_with_their_live_leases(store: StoreInterface) -> None:
    now = datetime.now(UTC)
    store.worker_seen("w1", now - timedelta(minutes=30))
    store.worker_seen("w2", now - timedelta(minutes=1))
    store.worker_seen("w1", now - timedelta(minutes=20))
    assert store.lease_sources([("a", None), ("b", None)], "w1", 600) == ["a", "b"]
    store.release_sources(["b"], "w2")  # not w2's: w1 keeps it
    host, pid = socket.gethostname(), os.getpid()
    (w1,) = [w for w in store.workers(now - timedelta(minutes=5)) if w.name == "w1"]
    assert w1 == Worker("w1", host, pid, w1.started_at, (now - timedelta(minutes=20)).isoformat(), ("a", "b"))
    assert [w.name for w in store.workers(now - timedelta(hours=1))] == ["w2", "w1"]  # most recently seen first
    assert [w.name for w in store.workers(now - timedelta(minutes=5))] == ["w2", "w1"]  # w1 holds leases
    store.release_sources(["a", "b"], "w1")
    assert [w.name for w in store.workers(now - timedelta(minutes=5))] == ["w2"]
    (w2,) = store.workers(now - timedelta(minutes=5))
    assert w2.leases == () and w2.started_at == w1.started_at  # this process's start, kept as it is seen again


def test_the_digest_lock_is_one_workers_at_a_time(spot: StoreSpot) -> None:
    with spot.open() as one, spot.open() as other:
        with one.digest_lock() as got:
            assert got
            with one.digest_lock() as again:
                assert again  # its holder has it still
            with other.digest_lock() as theirs:
                # PostgreSQL: another worker is told to send nothing; SQLite: one process owns the file
                assert theirs is (spot.backend == "sqlite")
            with one.digest_lock() as still:
                assert still
        with other.digest_lock() as theirs:
            assert theirs
            with one.digest_lock() as mine:
                assert mine is (spot.backend == "sqlite")
        with one.digest_lock() as got:
            assert got


@pytest.mark.parametrize("spot", ["postgresql"], indirect=True)
def test_a_partitioned_worker_cannot_hold_the_claim_lock_for_long(spot: StoreSpot) -> None:
    """A worker cut off without a word is found out by keepalives on both ends, and a transaction left idle is
    ended by the server: the claim lock it may hold does not stall every other worker for the hours TCP's own
    defaults take. A dry run's transaction, which waits on fetches, is not ended."""
    with spot.open() as store:
        assert isinstance(store, PgStore)
        show = {name: store._db.execute(f"SHOW {name}").fetchone()[0] for name in (
            "tcp_keepalives_idle", "tcp_keepalives_interval", "tcp_keepalives_count",
            "idle_in_transaction_session_timeout")}
        assert show == {"tcp_keepalives_idle": "30", "tcp_keepalives_interval": "10", "tcp_keepalives_count": "3",
                        "idle_in_transaction_session_timeout": "5min"}
        assert store._db.connection().info.get_parameters()["keepalives_idle"] == "30"
        with store.rolled_back():
            assert store._db.execute("SHOW idle_in_transaction_session_timeout").fetchone()[0] == "0"
        assert store._db.execute("SHOW idle_in_transaction_session_timeout").fetchone()[0] == "5min"
