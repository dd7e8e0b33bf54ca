"""Moving up: a SQLite store copied into an empty PostgreSQL store (``corpus-monitor store copy --to URL``).

Every table the store keeps is copied as it is, ids and all, with PostgreSQL's ``COPY``, in one transaction: a
copy that fails leaves the PostgreSQL store as empty as it was. Both stores are then at the same schema version
(the migrations have the same steps) and ``status`` shows the same counts on either. The workers and their leases
are not copied: they are the state of processes working on the SQLite file, which are to stop before the copy.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import psycopg

from monitor.errors import StoreError
from monitor.store.postgres.store import PgStore, shown
from monitor.store.sqlite import Store

#: (table, its columns, SQLite's order of its rows), in the order of their references
TABLES: tuple[tuple[str, str, str], ...] = (
    ("documents", "id, locator, source, content_hash, size, mtime_ns, title, site, url, published, encoding,"
     " first_seen, last_changed", "id"),
    ("digests", "id, created_at, delivered_at, subject, message_id, sender, recipients, destination, claim_count",
     "id"),
    ("deliveries", "id, message_id, subject, message, sender, recipients, claim_count, created_at, state, attempts,"
     " next_attempt_at, last_error, digest_id, claims, closed_at", "id"),
    ("claims", "id, fingerprint, normalized, text, speaker, document_id, position, first_seen, digest_id,"
     " delivery_id", "id"),
    ("occurrences", "id, claim_id, document_id, text, position, match, score, first_seen", "id"),
    ("conflicts", "claim_id, known_claim_id", "claim_id, known_claim_id"),
    ("canonical", "claim_id, text", "claim_id"),
    ("postings", "shingle, claims, listed, head", "shingle"),
    ("meta", "key, value", "key"),
    ("http_cache", "url, etag, last_modified, content_hash, checked_at", "url"),
    # in the order they were listed: seq is given as they come (SQLite's rowid order)
    ("feed_entries", "url, feed, title, published, state, attempts, last_error, first_seen, settled_at", "rowid"),
    ("robots", "origin, status, body, fetched_at", "origin"),
    ("source_health", "source, last_attempt, last_success, last_error, last_error_at, failures", "source"),
    ("failed_files", "locator, size, mtime_ns, error, failed_at", "locator"),
)
#: tables whose ids PostgreSQL gives (identity columns): their sequences go on after the largest id copied
_IDENTITIES = (("documents", "id"), ("digests", "id"), ("deliveries", "id"), ("occurrences", "id"),
               ("feed_entries", "seq"))
#: rows written between two reports of progress
_REPORT_EVERY = 10_000


def copy_into(
    source: Path, url: str, *, password: str | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> dict[str, int]:
    """Copy the SQLite store at ``source`` into the PostgreSQL store at ``url`` (its tables are made if it has
    none), which must hold nothing; rows copied, by table. Raises StoreError, naming the store at fault."""
    with Store(source, read_only=True) as sqlite, PgStore(url, password=password) as target:
        counts = {table: int(sqlite._db.execute(f"SELECT count(*) FROM {table}").fetchone()[0])  # noqa: S608
                  for table, _, _ in TABLES}
        conn = target._db.connection()
        try:
            with conn.transaction():
                there = {table: _one(conn, f"SELECT count(*) FROM {table}") for table, _, _ in TABLES}
                held = {table: n for table, n in there.items() if n}
                if held:
                    what = ", ".join(f"{n:,} row{'s' * (n != 1)} in {table}" for table, n in held.items())
                    raise StoreError(f"{shown(url)}: the PostgreSQL store is not empty ({what}); copy into an empty"
                                     " one (a new database)")
                for table, columns, order in TABLES:
                    _copy_table(sqlite, conn, table, columns, order, counts[table], progress)
                for table, column in _IDENTITIES:
                    conn.execute(
                        f"SELECT setval(pg_get_serial_sequence('{table}', '{column}'),"  # noqa: S608 - fixed names
                        f" coalesce((SELECT max({column}) FROM {table}), 0) + 1, false)"
                    )
        except psycopg.Error as exc:
            raise StoreError(f"{shown(url)}: the copy failed, nothing was copied: {str(exc).strip()}") from exc
    return counts


def _copy_table(
    sqlite: Store, conn: psycopg.Connection[tuple[object, ...]], table: str, columns: str, order: str, total: int,
    progress: Callable[[str, int, int], None] | None,
) -> None:
    rows = sqlite._db.execute(f"SELECT {columns} FROM {table} ORDER BY {order}")  # noqa: S608 - fixed names
    done = 0
    with conn.cursor() as cursor, cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)
            done += 1
            if progress is not None and done % _REPORT_EVERY == 0:
                progress(f"copying {table}", done, total)
    if progress is not None and total:
        progress(f"copying {table}", total, total)


def _one(conn: psycopg.Connection[tuple[object, ...]], query: str) -> int:
    row = conn.execute(query).fetchone()  # noqa: S608 - fixed names
    return int(str(row[0])) if row else 0
