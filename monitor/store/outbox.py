"""The store's delivery queue (part of :class:`monitor.store.Store`): a digest is recorded before it is sent.

A digest becomes a ``deliveries`` row holding the message exactly as built (with its Message-ID), and
its claims point at that row, in one transaction, before anything is sent. A claim is then in one of
three states: *unassigned* (``delivery_id`` and ``digest_id`` NULL: it goes into the next digest),
*pending* (``delivery_id`` set: its digest awaits delivery, and no other digest takes it), *reported*
(``digest_id`` set: the server accepted the message). When a send succeeds, the ``digests`` row is
written and the claims marked reported in one transaction; when it fails, the row keeps its message
and is tried again, byte for byte the same, so a resend after a crash between the server's "250" and
our commit carries the same Message-ID.

Once delivered, a digest's message is no longer needed: it is kept as long as ``keep`` says (``[digest]
keep_sent_messages``; by default it goes in the transaction that records the delivery), while the digest's
rows, its Message-ID, recipients, times and claims stay. A digest not delivered always keeps its message.

A digest the server refuses for good (a 5xx, or over its size limit) becomes *refused*, and one the user
drops *dropped*: either gives its claims back (unassigned again, so the next digest, built anew, carries
them) and keeps their ids, so that a refused digest can still be sent as it was if none of them has gone
into another digest since. Nothing ever waits on such a row.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timedelta

from monitor.models import Digest, PendingDelivery, QueuedDigest
from monitor.store.part import StorePart

#: keep no delivered message
_NONE = timedelta(0)


class DeliveryTables(StorePart):
    """Methods over ``deliveries``; mixed into the store, which provides the connection and the guard."""

    def queue_digest(
        self, digest: Digest, *, subject: str, message_id: str, message: bytes, sender: str,
        recipients: Sequence[str], now: datetime,
    ) -> int:
        """Record a digest as a pending delivery and assign its claims to it; returns the delivery id."""
        with self.transaction(), self._guard():
            cur = self._db.execute(
                "INSERT INTO deliveries (message_id, subject, message, sender, recipients, claim_count, created_at,"
                " state, next_attempt_at, claims) VALUES (?,?,?,?,?,?,?,'pending',?,?) RETURNING id",
                (message_id, subject, message, sender, json.dumps(list(recipients), ensure_ascii=False),
                 len(digest.claims), digest.generated_at.isoformat(), now.isoformat(),
                 json.dumps([c.id for c in digest.claims])),
            )
            delivery_id = int(cur.fetchone()[0])
            self._db.executemany(
                "UPDATE claims SET delivery_id = ? WHERE id = ? AND delivery_id IS NULL AND digest_id IS NULL",
                [(delivery_id, c.id) for c in digest.claims],
            )
        return delivery_id

    def pending_deliveries(self, due: datetime | None = None) -> list[PendingDelivery]:
        """Deliveries not yet accepted, oldest first; with ``due``, only those whose next attempt is due."""
        query = (
            "SELECT id, message_id, subject, message, claim_count, attempts, last_error, created_at FROM deliveries"
            " WHERE state = 'pending'"
        )
        params: list[str] = []
        if due is not None:
            query += " AND next_attempt_at <= ?"
            params.append(due.isoformat())
        with self._guard():
            rows = self._db.execute(query + " ORDER BY id", params).fetchall()
        return [PendingDelivery(*row) for row in rows]

    def pending_count(self) -> int:
        """How many digests wait to be delivered (without reading their messages)."""
        with self._guard():
            (count,) = self._db.execute("SELECT count(*) FROM deliveries WHERE state = 'pending'").fetchone()
        return int(count)

    def delivery_sent(self, delivery_id: int, destination: str, now: datetime, *, keep: timedelta = _NONE) -> int:
        """The server accepted the message: record the digest and mark its claims reported, in one transaction.
        The messages of digests delivered ``keep`` or longer ago (this one's too, with ``keep`` 0) go in it."""
        with self.transaction(), self._guard():
            cur = self._db.execute(
                "INSERT INTO digests (created_at, delivered_at, subject, message_id, sender, recipients, destination,"
                " claim_count) SELECT created_at, ?, subject, message_id, sender, recipients, ?, claim_count"
                " FROM deliveries WHERE id = ? AND state = 'pending' RETURNING id",
                (now.isoformat(), destination, delivery_id),
            )
            row = cur.fetchone()
            if row is None:
                return 0  # already recorded (a second attempt of the same delivery)
            digest_id = int(row[0])
            self._db.execute(
                "UPDATE claims SET digest_id = ? WHERE delivery_id = ? AND digest_id IS NULL", (digest_id, delivery_id)
            )
            self._db.execute(
                "UPDATE deliveries SET state = 'sent', digest_id = ?, attempts = attempts + 1, last_error = NULL"
                " WHERE id = ?",
                (digest_id, delivery_id),
            )
            self._db.execute(
                "UPDATE deliveries SET message = NULL WHERE state = 'sent' AND message IS NOT NULL"
                " AND digest_id IN (SELECT id FROM digests WHERE delivered_at <= ?)", ((now - keep).isoformat(),),
            )
        return digest_id

    def delivery_failed(self, delivery_id: int, error: str, retry_at: datetime) -> None:
        """An attempt failed: keep the delivery pending, to be tried again from ``retry_at``."""
        with self._guard():
            self._db.execute(
                "UPDATE deliveries SET attempts = attempts + 1, last_error = ?, next_attempt_at = ? WHERE id = ?",
                (error, retry_at.isoformat(), delivery_id),
            )

    def delivery_refused(self, delivery_id: int, error: str, now: datetime) -> None:
        """The server refused the message for good: the digest is *refused* and gives its claims back, so that
        the next digest carries them."""
        self._close(delivery_id, "refused", now, error)

    def drop_delivery(self, delivery_id: int, now: datetime) -> str | None:
        """The user gives up on a pending or refused digest: it is *dropped*, its claims go into the next
        digest. Returns its state before, or None when there is no such digest waiting or refused."""
        with self._guard():
            row = self._db.execute("SELECT state FROM deliveries WHERE id = ?", (delivery_id,)).fetchone()
        if row is None or row[0] not in ("pending", "refused"):
            return None
        self._close(delivery_id, "dropped", now, None)
        return str(row[0])

    def _close(self, delivery_id: int, state: str, now: datetime, error: str | None) -> None:
        with self.transaction(), self._guard():
            self._db.execute(
                "UPDATE deliveries SET state = ?, closed_at = ?, last_error = coalesce(?, last_error),"
                " attempts = attempts + ? WHERE id = ? AND state IN ('pending', 'refused')",
                (state, now.isoformat(), error, int(error is not None), delivery_id),
            )
            self._db.execute(
                "UPDATE claims SET delivery_id = NULL WHERE delivery_id = ? AND digest_id IS NULL", (delivery_id,)
            )

    def requeue_delivery(self, delivery_id: int, now: datetime) -> str:
        """Make a digest due now: a pending one skips its backoff; a refused or dropped one is pending again,
        as it was built, if every claim it held is still in no other digest. Returns what was done:
        "pending", "requeued", or why not ("unknown", "sent", "claims moved")."""
        with self.transaction(), self._guard():
            row = self._db.execute("SELECT state, claims FROM deliveries WHERE id = ?", (delivery_id,)).fetchone()
            if row is None:
                return "unknown"
            state, claims = row
            if state == "sent":
                return "sent"
            if state == "pending":
                self._db.execute(
                    "UPDATE deliveries SET next_attempt_at = ? WHERE id = ?", (now.isoformat(), delivery_id)
                )
                return "pending"
            ids = json.loads(claims or "[]")
            free = 0
            for start in range(0, len(ids), 500):
                chunk = ids[start : start + 500]
                (n,) = self._db.execute(
                    f"SELECT count(*) FROM claims WHERE id IN ({','.join('?' * len(chunk))})"
                    " AND delivery_id IS NULL AND digest_id IS NULL", chunk,
                ).fetchone()
                free += n
            if free != len(ids):
                return "claims moved"
            self._db.executemany("UPDATE claims SET delivery_id = ? WHERE id = ?", [(delivery_id, i) for i in ids])
            self._db.execute(
                "UPDATE deliveries SET state = 'pending', closed_at = NULL, next_attempt_at = ? WHERE id = ?",
                (now.isoformat(), delivery_id),
            )
            return "requeued"

    def queued_digests(self, states: Sequence[str] = ("pending", "refused")) -> list[QueuedDigest]:
        """The digests in these states, oldest first, without their messages."""
        if not states:
            return []  # ``IN ()``: SQLite takes it, PostgreSQL does not
        marks = ",".join("?" * len(states))
        with self._guard():
            rows = self._db.execute(
                "SELECT id, state, message_id, subject, created_at, claim_count, attempts, last_error, closed_at,"
                f" coalesce(length(message), 0) FROM deliveries WHERE state IN ({marks}) ORDER BY id", list(states),
            ).fetchall()
        return [QueuedDigest(*row) for row in rows]

    def record_baseline(self, now: datetime) -> int:
        """Record every claim in no digest as known without mailing it (``digest --baseline``): one ``digests``
        row with the destination "baseline" takes them. Returns how many claims it took."""
        with self.transaction(), self._guard():
            (count,) = self._db.execute(
                "SELECT count(*) FROM claims WHERE digest_id IS NULL AND delivery_id IS NULL"
            ).fetchone()
            if not count:
                return 0
            cur = self._db.execute(
                "INSERT INTO digests (created_at, delivered_at, subject, message_id, sender, recipients, destination,"
                " claim_count) VALUES (?, ?, 'baseline: recorded as known, not mailed', ?, '', '[]', 'baseline', ?)"
                " RETURNING id",
                (now.isoformat(), now.isoformat(), f"<baseline-{now:%Y%m%dT%H%M%S%f}@corpus-monitor.invalid>", count),
            )
            self._db.execute(
                "UPDATE claims SET digest_id = ? WHERE digest_id IS NULL AND delivery_id IS NULL", (cur.fetchone()[0],)
            )
        return int(count)

    def is_empty(self) -> bool:
        """No claim and no digest yet: a first run."""
        with self._guard():
            (empty,) = self._db.execute(
                "SELECT NOT EXISTS (SELECT 1 FROM claims) AND NOT EXISTS (SELECT 1 FROM digests)"
            ).fetchone()
        return bool(empty)
