"""The store's delivery queue (part of :class:`monitor.store.Store`): a digest is recorded before it is sent.

A digest becomes a ``deliveries`` row holding the message exactly as built (with its Message-ID), and
its claims point at that row, in one transaction, before anything is sent. A claim is then in one of
three states: *unassigned* (``delivery_id`` and ``digest_id`` NULL: it goes into the next digest),
*pending* (``delivery_id`` set: its digest awaits delivery, and no other digest takes it), *reported*
(``digest_id`` set: the server accepted the message). When a send succeeds, the ``digests`` row is
written and the claims marked reported in one transaction; when it fails, the row keeps its message
and is tried again, byte for byte the same, so a resend after a crash between the server's "250" and
our commit carries the same Message-ID.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime

from monitor.models import Digest, PendingDelivery
from monitor.store_part import StorePart


class DeliveryTables(StorePart):
    """Methods over ``deliveries``; mixed into Store, which provides the connection and the guard."""


    def queue_digest(
        self, digest: Digest, *, subject: str, message_id: str, message: bytes, sender: str,
        recipients: Sequence[str], now: datetime,
    ) -> int:
        """Record a digest as a pending delivery and assign its claims to it; returns the delivery id."""
        with self.transaction(), self._guard():
            cur = self._db.execute(
                "INSERT INTO deliveries (message_id, subject, message, sender, recipients, claim_count, created_at,"
                " state, next_attempt_at) VALUES (?,?,?,?,?,?,?,'pending',?)",
                (message_id, subject, message, sender, json.dumps(list(recipients), ensure_ascii=False),
                 len(digest.claims), digest.generated_at.isoformat(), now.isoformat()),
            )
            delivery_id = int(cur.lastrowid or 0)
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

    def delivery_sent(self, delivery_id: int, destination: str, now: datetime) -> int:
        """The server accepted the message: record the digest and mark its claims reported, in one transaction."""
        with self.transaction(), self._guard():
            cur = self._db.execute(
                "INSERT INTO digests (created_at, delivered_at, subject, message_id, sender, recipients, destination,"
                " claim_count) SELECT created_at, ?, subject, message_id, sender, recipients, ?, claim_count"
                " FROM deliveries WHERE id = ? AND state = 'pending'",
                (now.isoformat(), destination, delivery_id),
            )
            digest_id = int(cur.lastrowid or 0)
            if not cur.rowcount:
                return 0  # already recorded (a second attempt of the same delivery)
            self._db.execute(
                "UPDATE claims SET digest_id = ? WHERE delivery_id = ? AND digest_id IS NULL", (digest_id, delivery_id)
            )
            self._db.execute(
                "UPDATE deliveries SET state = 'sent', digest_id = ?, attempts = attempts + 1, last_error = NULL"
                " WHERE id = ?",
                (digest_id, delivery_id),
            )
        return digest_id

    def delivery_failed(self, delivery_id: int, error: str, retry_at: datetime) -> None:
        """An attempt failed: keep the delivery pending, to be tried again from ``retry_at``."""
        with self._guard():
            self._db.execute(
                "UPDATE deliveries SET attempts = attempts + 1, last_error = ?, next_attempt_at = ? WHERE id = ?",
                (error, retry_at.isoformat(), delivery_id),
            )
