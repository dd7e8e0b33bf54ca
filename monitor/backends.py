"""The store a configuration names, opened: the SQLite file ``[store] path`` (the default, one process on it), or
the PostgreSQL database ``[store] url`` that many workers share; and what each needs around it."""

from __future__ import annotations

import contextlib
from contextlib import AbstractContextManager

from monitor.config import Settings, store_shown
from monitor.lock import store_lock
from monitor.store import StoreInterface


def open_store(settings: Settings, *, read_only: bool = False, any_thread: bool = False) -> StoreInterface:
    """Open the configured store (made, or migrated, as it opens). ``read_only`` and ``any_thread`` are SQLite's
    (see :class:`monitor.store.sqlite.Store`); a PostgreSQL store is a server's, used from any thread."""
    if settings.store_url is not None:
        from monitor.store.postgres import PgStore  # psycopg: loaded only for a PostgreSQL store

        password = settings.store_password.reveal() if settings.store_password else None
        return PgStore(settings.store_url, password=password)
    from monitor.store.sqlite import Store

    return Store(settings.store_path, read_only=read_only, any_thread=any_thread)


def exclusive(settings: Settings) -> AbstractContextManager[None]:
    """What a command that writes holds while it works: the SQLite file's lock (one process on a file); nothing
    for a PostgreSQL store, where workers share the work through leases and locks of the database's own."""
    if settings.store_url is not None:
        return contextlib.nullcontext()
    return store_lock(settings.store_path)


def store_exists(settings: Settings) -> bool:
    """Whether there is a store yet: the SQLite file exists (a server's database is made by its administrator)."""
    return settings.store_url is not None or settings.store_path.exists()


__all__ = ["exclusive", "open_store", "store_exists", "store_shown"]
