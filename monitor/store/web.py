"""The store's tables for web sources and source health (part of :class:`monitor.store.sqlite.Store`).

``http_cache`` holds each URL's validators, ``feed_entries`` every article a feed linked to and what
became of it, ``robots`` the robots.txt files of a day, ``source_health`` each source's last poll.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime

from monitor.models import FeedEntry, RobotsFile, Validators
from monitor.store.part import StorePart
from monitor.store.records import PendingEntry, SourceHealth


class WebTables(StorePart):
    """Methods over the web tables; mixed into the store, which provides the connection and the guard."""

    #: the column that orders feed entries first seen at the same moment as they were listed
    _ENTRY_ORDER = "rowid"

    # -- conditional requests ----------------------------------------------------------------------

    def validators_many(self, urls: Sequence[str]) -> dict[str, Validators]:
        """url -> stored validators, for those of ``urls`` fetched before."""
        found: dict[str, Validators] = {}
        with self._guard():
            for chunk in _chunks(list(urls), 500):
                marks = ",".join("?" * len(chunk))
                for url, etag, modified, content_hash in self._db.execute(
                    f"SELECT url, etag, last_modified, content_hash FROM http_cache WHERE url IN ({marks})", chunk
                ):
                    found[url] = Validators(etag, modified, content_hash)
        return found

    def save_validators(self, url: str, validators: Validators, now: datetime) -> None:
        with self._guard():
            self._db.execute(
                "INSERT INTO http_cache (url, etag, last_modified, content_hash, checked_at) VALUES (?,?,?,?,?)"
                " ON CONFLICT (url) DO UPDATE SET etag=excluded.etag, last_modified=excluded.last_modified,"
                " content_hash=excluded.content_hash, checked_at=excluded.checked_at",
                (url, validators.etag, validators.last_modified, validators.content_hash, now.isoformat()),
            )

    # -- robots.txt --------------------------------------------------------------------------------

    def robots_since(self, since: datetime) -> dict[str, RobotsFile]:
        """robots.txt files fetched after ``since``, by origin."""
        with self._guard():
            rows = self._db.execute(
                "SELECT origin, status, body FROM robots WHERE fetched_at > ?", (since.isoformat(),)
            ).fetchall()
        return {origin: RobotsFile(origin, status, body) for origin, status, body in rows}

    def save_robots(self, files: Sequence[RobotsFile], now: datetime) -> None:
        with self.transaction(), self._guard():
            self._db.executemany(
                "INSERT INTO robots (origin, status, body, fetched_at) VALUES (?,?,?,?) ON CONFLICT (origin) DO UPDATE"
                " SET status = excluded.status, body = excluded.body, fetched_at = excluded.fetched_at",
                [(f.origin, f.status, f.body, now.isoformat()) for f in files],
            )

    # -- feed entries ------------------------------------------------------------------------------

    def add_entries(self, feed: str, entries: Sequence[tuple[str, FeedEntry]], now: datetime) -> int:
        """Remember (normalized url, entry) pairs not seen before, as pending; returns how many were new."""
        with self.transaction(), self._guard():
            if not entries:
                return 0
            cur = self._db.executemany(
                "INSERT INTO feed_entries (url, feed, title, published, state, first_seen)"
                " VALUES (?,?,?,?,'pending',?) ON CONFLICT DO NOTHING",
                [(url, feed, e.title, e.published, now.isoformat()) for url, e in entries],
            )
            return max(cur.rowcount, 0)  # rows inserted, over all of them

    def pending_entries(self, feeds: Sequence[str]) -> list[PendingEntry]:
        """Entries of these feeds still to be fetched, oldest first."""
        if not feeds:
            return []  # ``IN ()``: SQLite takes it, PostgreSQL does not
        marks = ",".join("?" * len(feeds))
        with self._guard():
            rows = self._db.execute(
                "SELECT url, feed, title, published, attempts FROM feed_entries"
                f" WHERE state = 'pending' AND feed IN ({marks}) ORDER BY first_seen, {self._ENTRY_ORDER}",
                list(feeds),
            ).fetchall()
        return [PendingEntry(*row) for row in rows]

    def settle_entry(self, url: str, state: str, now: datetime, error: str | None = None) -> None:
        """An entry is done with: 'ingested', 'off-topic' or 'failed' (with the error)."""
        with self._guard():
            self._db.execute(
                "UPDATE feed_entries SET state = ?, settled_at = ?, last_error = coalesce(?, last_error)"
                " WHERE url = ?",
                (state, now.isoformat(), error, url),
            )

    def entry_attempt_failed(self, url: str, error: str) -> None:
        """An entry's fetch failed in a way worth trying again: it stays pending."""
        with self._guard():
            self._db.execute(
                "UPDATE feed_entries SET attempts = attempts + 1, last_error = ? WHERE url = ?", (error, url)
            )

    # -- source health -----------------------------------------------------------------------------

    def record_polls(self, polls: Sequence[tuple[str, str | None]], now: datetime) -> None:
        """Record polls as (source name, error or None for success), in one transaction."""
        stamp = now.isoformat()
        with self.transaction(), self._guard():
            self._db.executemany(
                "INSERT INTO source_health (source, last_attempt, last_success, last_error, last_error_at, failures)"
                " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (source) DO UPDATE SET last_attempt = excluded.last_attempt,"
                " last_success = coalesce(excluded.last_success, source_health.last_success),"
                " last_error = coalesce(excluded.last_error, source_health.last_error),"
                " last_error_at = coalesce(excluded.last_error_at, source_health.last_error_at),"
                " failures = CASE WHEN excluded.failures = 0 THEN 0 ELSE source_health.failures + 1 END",
                [(name, stamp, None if error else stamp, error, stamp if error else None, 1 if error else 0)
                 for name, error in polls],
            )

    def health(self) -> dict[str, SourceHealth]:
        with self._guard():
            rows = self._db.execute(
                "SELECT source, last_attempt, last_success, last_error, last_error_at, failures FROM source_health"
            ).fetchall()
        return {row[0]: SourceHealth(*row) for row in rows}


def _chunks(items: list[str], size: int) -> Iterator[list[str]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]
