"""The SQLite store: one file (WAL) holding documents, claims, occurrences, the near-duplicate index and digests.

Every ``sqlite3.Error`` leaves as :class:`~monitor.errors.StoreError`. The schema lives in
:mod:`monitor.store.sqlite.schema` as numbered migrations under ``PRAGMA user_version``. Transactions nest as
savepoints, so a dry run can wrap a whole run in one transaction and roll it back at the end. The store's logic
is :class:`monitor.store.sql.SqlStore`'s, shared with the PostgreSQL backend.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

from monitor.errors import StoreError, StoreGoneError
from monitor.store.sql import SqlStore, due_by
from monitor.store.sqlite.schema import MIGRATIONS

#: how much of the store file SQLite may read through mmap (resident pages of it count in the process's
#: memory: at a million claims the lookups' working set stays under 300 MB)
MMAP_BYTES = 384 * 1024 * 1024


class Store(SqlStore):
    """A connection to one store file; use as a context manager or call :meth:`close`."""

    _db: sqlite3.Connection
    _errors = (sqlite3.Error,)
    #: one process works on the file (``monitor.lock``): nothing is shared with other workers
    shared = False

    def __init__(self, path: Path, *, any_thread: bool = False, read_only: bool = False) -> None:
        """Open (creating or migrating) the store. ``any_thread``: the connection may be used from another
        thread than this one (the service opens it in its main thread, its one worker thread uses it).

        ``read_only``, for commands that only read (``status``, the copy a dry run works on): the store must
        exist, and nothing is written to its folder, so a store on a read-only file system, or in a folder
        this user may not write, opens. One of an older schema is migrated first, which needs write access."""
        self.path = path
        self.where = str(path)
        #: a worker process may read the store from the file, as ``monitor.extracting`` does
        self.local_file: Path | None = path
        try:
            if read_only:
                self._db = _open_read_only(path, any_thread)
                (version,) = self._db.execute("PRAGMA user_version").fetchone()
                if version > len(MIGRATIONS):
                    self._db.close()
                    raise StoreError(f"{path}: store schema version {version} is newer than this program")
                if version < len(MIGRATIONS):
                    self._db.close()
                    self._open_to_migrate(version, any_thread)
            else:
                self._open(any_thread)
        except (sqlite3.Error, OSError) as exc:
            raise StoreError(f"{path}: cannot open the store: {exc}") from exc
        #: the open file, as (device, inode): the path must still lead to it (see :meth:`check_file`)
        self._file = _identity(path)
        self._start_buffers()

    def lease_sources(self, due: Sequence[tuple[str, str | None]], holder: str, seconds: float) -> list[str]:
        """Lease the due sources for ``seconds``; their names. One process works on a store file (``monitor.lock``):
        every due source is free, a lease left by a process that ended is taken over at once."""
        now = datetime.now(UTC)
        with self.transaction(), self._guard():
            health = dict(self._db.execute("SELECT source, last_attempt FROM source_health").fetchall())
            chosen = [name for name, cutoff in due if due_by(health.get(name), cutoff)]
            self._db.executemany(
                "INSERT INTO leases (source, holder, leased_at, expires_at) VALUES (?, ?, ?, ?) ON CONFLICT (source)"
                " DO UPDATE SET holder = excluded.holder, leased_at = excluded.leased_at,"
                " expires_at = excluded.expires_at",
                [(name, holder, now.isoformat(), (now + timedelta(seconds=seconds)).isoformat()) for name in chosen],
            )
        return chosen

    def _open(self, any_thread: bool) -> None:
        """Open for writing: the folder and the file are made if missing; the schema is brought up to date."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, isolation_level=None, timeout=30, check_same_thread=not any_thread)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(f"PRAGMA mmap_size={MMAP_BYTES}")  # index lookups read mapped pages, no copies
        self._migrate()

    def _open_to_migrate(self, version: int, any_thread: bool) -> None:
        """A store to be read that has an older schema: opened for writing, and migrated."""
        try:
            self._open(any_thread)
        except (sqlite3.Error, OSError) as exc:
            raise StoreError(
                f"{self.path}: cannot open the store: its schema (version {version}) must first be migrated to"
                f" version {len(MIGRATIONS)}, which needs write access to the store and its folder: {exc}"
            ) from exc

    def close(self) -> None:
        self._db.close()

    def _migrate(self) -> None:
        (version,) = self._db.execute("PRAGMA user_version").fetchone()
        if version > len(MIGRATIONS):
            raise StoreError(f"{self.path}: store schema version {version} is newer than this program")
        # a migration may rebuild a table others refer to: foreign keys are off while it runs (SQLite's own
        # procedure), and checked before it commits
        self._db.execute("PRAGMA foreign_keys=OFF")
        try:
            for number in range(version + 1, len(MIGRATIONS) + 1):
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    for statement in _statements(MIGRATIONS[number - 1]):
                        self._db.execute(statement)
                    broken = self._db.execute("PRAGMA foreign_key_check").fetchall()
                    if broken:
                        raise StoreError(f"{self.path}: migration {number} would break references: {broken[:3]}")
                    self._db.execute(f"PRAGMA user_version = {number}")
                    self._db.execute("COMMIT")
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise
        finally:
            self._db.execute("PRAGMA foreign_keys=ON")

    def check_file(self) -> None:
        """Raise StoreGoneError unless the store's path still leads to the file opened: a store deleted (or
        replaced) under a running process would take its writes into a file no one reads again. Checked as
        each transaction begins, and by the service as each job does."""
        if _identity(self.path) != self._file:
            raise StoreGoneError(
                f"{self.path}: the store file was deleted or replaced while this process had it open; nothing"
                " more is written to it (what was committed before is in the file that was deleted)"
            )

    @contextmanager
    def rolled_back(self) -> Iterator[None]:
        """Everything done inside is undone at the end (for dry runs)."""
        self.check_file()
        with self._guard():
            self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            self._db.execute("ROLLBACK")

def _identity(path: Path) -> tuple[int, int] | None:
    """(device, inode) of the file at ``path``; None when there is none."""
    try:
        found = os.stat(path)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise StoreError(f"{path}: cannot look at the store file: {exc.strerror or exc}") from exc
    return found.st_dev, found.st_ino


def copy_store(source: Path, target: Path) -> None:
    """Copy a store, consistently, to ``target`` (SQLite's backup: writers are not held up), only reading it: a
    store that cannot be written is copied the same, whatever its schema (open the copy to migrate it)."""
    try:
        with contextlib.closing(_open_read_only(source, False)) as db, \
                contextlib.closing(sqlite3.connect(target)) as copy:
            db.backup(copy)
    except (sqlite3.Error, OSError) as exc:
        raise StoreError(f"{source}: cannot copy the store: {exc}") from exc


def _open_read_only(path: Path, any_thread: bool) -> sqlite3.Connection:
    """A connection that writes nothing, to an existing store.

    A reader of a WAL database needs its shared-memory index (``-shm``), which SQLite makes beside the file when
    none is there (as any reader does, where the folder can be written). Where the folder cannot be written
    (a read-only file system: SQLITE_CANTOPEN; no permission: SQLITE_READONLY_DIRECTORY) opening fails; if
    there is no ``-wal`` file either, no process has the store open and everything is in the file itself,
    which is then read as immutable (SQLite takes no locks and reads no log). A writer that started while
    such a reader reads would not be seen: the reader lives as long as one command that only reads."""
    if not path.is_file():
        raise StoreError(f"{path}: cannot open the store: no such file")
    uri = f"file:{quote(str(path.absolute()))}?mode=ro"
    db = sqlite3.connect(uri, uri=True, isolation_level=None, timeout=30, check_same_thread=not any_thread)
    try:
        db.execute("PRAGMA user_version").fetchone()
    except sqlite3.OperationalError as exc:
        db.close()
        log = path.with_name(path.name + "-wal")
        unwritable = exc.sqlite_errorcode in (sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_READONLY_DIRECTORY)
        if not unwritable or (log.exists() and log.stat().st_size):
            raise
        db = sqlite3.connect(f"{uri}&immutable=1", uri=True, isolation_level=None, check_same_thread=not any_thread)
    db.execute("PRAGMA foreign_keys=ON")
    db.execute(f"PRAGMA mmap_size={MMAP_BYTES}")
    return db


def _statements(script: str) -> list[str]:
    """Split a migration script into statements (no semicolons inside our schema's literals)."""
    out, buf = [], []
    for line in script.splitlines():
        buf.append(line.split("--", 1)[0])
        if sqlite3.complete_statement("\n".join(buf)):
            out.append("\n".join(buf).strip())
            buf = []
    return [s for s in out if s.strip(" ;\n")]

