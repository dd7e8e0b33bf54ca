"""The PostgreSQL store: one database that many workers, on one machine or many, share.

Through psycopg 3 and its connection pool. The store's logic is :class:`monitor.store.sql.SqlStore`'s, shared
with SQLite: its SQL reaches the server through :class:`_Db`, which takes sqlite3's ``?`` placeholders. What
concurrent workers need on top:

- **the claim lock** (``pg_advisory_xact_lock``): a transaction that looks claims up or adds them (saving a
  document, finding exact or near duplicates, adding a claim, rebuilding the index) takes it first and holds it
  to its end, so that two workers ingesting two reprints of one new sentence at once end with one claim and two
  occurrences. Only the store's part of an ingest runs under it: fetching, extracting and splitting do not;
- **leases** on sources (:meth:`PgStore.lease_sources`: ``FOR UPDATE SKIP LOCKED``, an expiry on the database's
  clock), so that a source is polled by one worker at a time, and a worker that dies loses its leases as they
  expire;
- **the digest lock** (``pg_try_advisory_lock``, held on a connection of its own while digests are built and
  sent), so that one worker at a time sends them;
- **reconnection**: a connection that breaks (the server restarted, the network dropped) is given back to the
  pool, which makes new ones; the statement that failed, and the transaction it was in, end in a StoreError
  (the server rolls the transaction back: nothing half-written stays), and the next statement runs on a new
  connection. A transaction never goes on over a new connection.

Every ``psycopg.Error`` leaves as :class:`~monitor.errors.StoreError`, naming the server without its password.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from functools import cache
from pathlib import Path
from typing import Any

import psycopg
from psycopg import conninfo
from psycopg_pool import ConnectionPool

from monitor.errors import StoreError
from monitor.store.postgres.schema import MIGRATIONS
from monitor.store.sql import SqlStore, due_by

#: advisory lock keys (one 64-bit space per database): the claim lock, the digest lock, the migration lock
CLAIM_LOCK = 0x636D_0001
DIGEST_LOCK = 0x636D_0002
MIGRATE_LOCK = 0x636D_0003
#: connections a worker may hold: its store's, the digest lock's, and one spare while a broken one is replaced
POOL_SIZE = 3
#: seconds to wait for a connection (the server restarting) before a statement fails
CONNECT_WAIT = 30.0
#: a worker cut off from the server without a word (a network partition: no reset, no FIN) is found out by TCP
#: keepalives on both sides within about a minute, so its session, and the claim lock its transaction may hold,
#: goes; and a transaction left idle longer than this is ended by the server (an ingest transaction never waits
#: between its statements on anything but this process's CPU; a dry run's, which waits on fetches, is exempt)
KEEPALIVE = {"keepalives": 1, "keepalives_idle": 30, "keepalives_interval": 10, "keepalives_count": 3}
SERVER_SETTINGS = ("-c tcp_keepalives_idle=30 -c tcp_keepalives_interval=10 -c tcp_keepalives_count=3"
                   " -c idle_in_transaction_session_timeout=300s")


def shown(url: str) -> str:
    """A connection URL as messages show it: without a password."""
    try:
        parts = conninfo.conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        return "postgresql://(invalid URL)"
    parts.pop("password", None)
    user = f"{parts['user']}@" if parts.get("user") else ""
    port = f":{parts['port']}" if parts.get("port") else ""
    return f"postgresql://{user}{parts.get('host', '')}{port}/{parts.get('dbname', '')}"


@cache
def _pg(sql: str) -> str:
    """SQL written for sqlite3 (``?`` placeholders) as psycopg takes it (``%s``; a literal ``%`` doubled)."""
    out: list[str] = []
    quoted = False
    for char in sql:
        if char == "'":
            quoted = not quoted
        if char == "?" and not quoted:
            out.append("%s")
        elif char == "%":
            out.append("%%")
        else:
            out.append(char)
    return "".join(out)


class _Db:
    """The connection as :class:`SqlStore` sees it: ``execute`` and ``executemany`` with ``?`` placeholders. One
    connection at a time, from the pool; a broken one goes back (the pool discards it) and the next statement
    takes a new one, but never inside the transaction the broken one had open: its statements fail until it
    ends."""

    def __init__(self, pool: ConnectionPool) -> None:
        self._pool = pool
        self._conn: psycopg.Connection[Any] | None = None
        #: how many connections broke: a transaction begun under one generation ends with it
        self.generation = 0
        #: the generation of the open transaction, None outside one
        self.transaction: int | None = None

    def connection(self) -> psycopg.Connection[Any]:
        if self.transaction is not None and self.transaction != self.generation:
            raise psycopg.OperationalError(
                "the connection to the store was lost in the middle of a transaction; the server rolled it back"
            )
        if self._conn is None:
            self._conn = self._pool.getconn(timeout=CONNECT_WAIT)
        return self._conn

    def execute(self, sql: str, parameters: Sequence[Any] = (), /) -> psycopg.Cursor[Any]:
        conn = self.connection()
        try:
            return conn.execute(_pg(sql), parameters)
        except psycopg.Error:
            self.check()
            raise

    def executemany(self, sql: str, parameters: Iterable[Sequence[Any]], /) -> psycopg.Cursor[Any]:
        conn = self.connection()
        try:
            cursor = conn.cursor()
            cursor.executemany(_pg(sql), parameters)
            return cursor
        except psycopg.Error:
            self.check()
            raise

    def check(self) -> None:
        """After an error: a broken connection goes back to the pool (which closes it and makes another)."""
        if self._conn is not None and (self._conn.broken or self._conn.closed):
            conn, self._conn = self._conn, None
            self.generation += 1
            self._pool.putconn(conn)

    def close(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            self._pool.putconn(conn)


class PgStore(SqlStore):
    """A store in a PostgreSQL database; use as a context manager or call :meth:`close`."""

    _db: _Db
    _errors = (psycopg.Error,)
    _ENTRY_ORDER = "seq"
    #: many workers may work on it at once
    shared = True
    #: no file a worker process could read
    local_file: Path | None = None

    def __init__(self, url: str, *, password: str | None = None, pool_size: int = POOL_SIZE) -> None:
        """Connect (the database must exist; its tables are made, or migrated, here). ``password``: from the
        config's ``password_env`` or ``password_file``; else libpq's own (``PGPASSWORD``, ``~/.pgpass``)."""
        self.where = shown(url)
        options: dict[str, Any] = {"autocommit": True, "application_name": "corpus-monitor", **KEEPALIVE,
                                   "options": SERVER_SETTINGS}
        if password is not None:
            options["password"] = password
        try:  # one connection first, for a clear message if it cannot be made (the pool only logs why)
            psycopg.connect(url, connect_timeout=10, **options).close()
        except psycopg.Error as exc:
            raise StoreError(f"{self.where}: cannot connect to the store: {_first_line(exc)}") from exc
        self._pool = ConnectionPool(
            url, kwargs=options, min_size=1, max_size=pool_size, open=False, name="corpus-monitor",
            check=ConnectionPool.check_connection, timeout=CONNECT_WAIT,
        )
        self._pool.open(wait=False)
        self._db = _Db(self._pool)
        self._start_buffers()
        #: the open transaction holds the claim lock
        self._locked = False
        #: inside :meth:`rolled_back`: transactions are savepoints of its own
        self._rolled_back = False
        #: this store holds the digest lock
        self._digest_held = False
        try:
            self._migrate()
        except psycopg.Error as exc:
            self.close()
            raise StoreError(f"{self.where}: cannot prepare the store: {_first_line(exc)}") from exc
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        self._db.close()
        self._pool.close()

    def _error(self, exc: Exception) -> StoreError:
        self._db.check()
        return StoreError(f"{self.where}: {_first_line(exc)}")

    def _migrate(self) -> None:
        """Apply the migrations this database has not had, each in its own transaction, under the migration lock
        (workers starting together wait for the first to finish)."""
        conn = self._db.connection()
        conn.execute("SELECT pg_advisory_lock(%s)", (MIGRATE_LOCK,))
        try:
            conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version integer NOT NULL)")
            row = conn.execute("SELECT version FROM schema_version").fetchone()
            if row is None:
                conn.execute("INSERT INTO schema_version (version) VALUES (0)")
            version = int(row[0]) if row else 0
            if version > len(MIGRATIONS):
                raise StoreError(f"{self.where}: store schema version {version} is newer than this program")
            for number in range(version + 1, len(MIGRATIONS) + 1):
                with conn.transaction():
                    conn.execute(MIGRATIONS[number - 1])
                    conn.execute("UPDATE schema_version SET version = %s", (number,))
        finally:
            if not conn.broken:
                conn.execute("SELECT pg_advisory_unlock(%s)", (MIGRATE_LOCK,))

    # -- transactions ------------------------------------------------------------------------------

    def _begin(self, depth: int) -> None:
        if depth == 0 and not self._rolled_back:
            self._db.transaction = None  # a new transaction may take a new connection
            self._locked = False
            try:
                self._db.execute("BEGIN")
            except psycopg.OperationalError:
                if self._db.transaction is not None or self._db.generation == 0:
                    raise
                self._db.execute("BEGIN")  # the connection held broke while idle: nothing was done, begin anew
            self._db.transaction = self._db.generation
        else:
            self._db.execute(f"SAVEPOINT sp{depth}")

    def _commit(self, depth: int) -> None:
        if depth == 0 and not self._rolled_back:
            self._db.execute("COMMIT")
            self._db.transaction = None
            self._locked = False
        else:
            self._db.execute(f"RELEASE sp{depth}")

    def _rollback(self, depth: int) -> None:
        if self._db.transaction is not None and self._db.transaction != self._db.generation:
            if depth == 0 and not self._rolled_back:  # its connection went with it: nothing to roll back
                self._db.transaction = None
                self._locked = False
            return
        if depth == 0 and not self._rolled_back:
            self._db.transaction = None
            self._locked = False
            self._db.execute("ROLLBACK")
        else:
            self._db.execute(f"ROLLBACK TO sp{depth}")
            self._db.execute(f"RELEASE sp{depth}")

    @contextmanager
    def rolled_back(self) -> Iterator[None]:
        """Everything done inside is undone at the end (for dry runs): one transaction, rolled back. It takes the
        claim lock as soon as it looks claims up, as any ingest does, and holds it to the end. Inside another, it is
        that one's part."""
        if self._rolled_back:
            yield
            return
        with self._guard():
            self._begin(0)
            self._db.execute("SET LOCAL idle_in_transaction_session_timeout = 0")  # it waits on fetches
        self._rolled_back = True
        try:
            yield
        finally:
            self._rolled_back = False
            with suppress(psycopg.Error):
                self._rollback(0)
            self._db.transaction = None
            self._locked = False
            self._forget_reads()

    def _claim_lock(self) -> None:
        """Take the claim lock, held until the open transaction ends (see the module's docstring)."""
        if self._locked or (self._depth == 0 and not self._rolled_back):
            return
        with self._guard():
            self._db.execute("SELECT pg_advisory_xact_lock(?)", (CLAIM_LOCK,))
        self._locked = True

    # -- many workers ------------------------------------------------------------------------------

    def lease_sources(self, due: Sequence[tuple[str, str | None]], holder: str, seconds: float) -> list[str]:
        """Lease those of these sources that are due and that no other worker holds (or whose lease expired, on
        the database's clock), for ``seconds``; their names. The lease rows are locked ``FOR UPDATE SKIP
        LOCKED``: a source another worker is leasing, or giving back, this moment is not waited for but left."""
        if not due:
            return []
        names = [name for name, _ in due]
        with self.transaction(), self._guard():
            self._db.execute("INSERT INTO leases (source) SELECT unnest(CAST(? AS text[])) ON CONFLICT DO NOTHING",
                             (names,))
            free = dict(self._db.execute(
                "SELECT l.source, h.last_attempt FROM leases AS l LEFT JOIN source_health AS h ON h.source = l.source"
                " WHERE l.source = ANY(CAST(? AS text[])) AND (l.holder IS NULL OR l.holder = ?"
                " OR l.expires_at <= clock_timestamp()) FOR UPDATE OF l SKIP LOCKED",
                (names, holder),
            ).fetchall())
            chosen = [name for name, cutoff in due if name in free and due_by(free[name], cutoff)]
            if chosen:
                self._db.execute(
                    "UPDATE leases SET holder = ?, leased_at = clock_timestamp(),"
                    " expires_at = clock_timestamp() + make_interval(secs => ?) WHERE source = ANY(CAST(? AS text[]))",
                    (holder, float(seconds), chosen),
                )
        return chosen

    def _live_leases(self) -> list[tuple[str, str]]:
        return self._db.execute(
            "SELECT holder, source FROM leases WHERE holder IS NOT NULL AND expires_at > clock_timestamp()"
        ).fetchall()

    @contextmanager
    def digest_lock(self) -> Iterator[bool]:
        """The digest lock, on a connection of its own for as long as digests are built and sent: true inside if
        this worker has it, false if another does. Should that connection break, the server lets the lock go
        (another worker may then send what this one had not: a digest recorded before it is sent is sent with
        its one Message-ID either way). Held already by this store, it is held again."""
        if self._digest_held:
            yield True
            return
        try:
            conn = self._pool.getconn(timeout=CONNECT_WAIT)
        except psycopg.Error as exc:
            raise self._error(exc) from exc
        got = False
        try:
            try:
                row = conn.execute("SELECT pg_try_advisory_lock(%s)", (DIGEST_LOCK,)).fetchone()
                got = bool(row and row[0])
            except psycopg.Error as exc:
                raise self._error(exc) from exc
            self._digest_held = got
            yield got
        finally:
            self._digest_held = False
            if got and not conn.broken:
                with suppress(psycopg.Error):
                    conn.execute("SELECT pg_advisory_unlock(%s)", (DIGEST_LOCK,))
            self._pool.putconn(conn)


def _first_line(exc: Exception) -> str:
    return str(exc).strip().split("\n", 1)[0] or type(exc).__name__
