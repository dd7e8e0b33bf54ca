"""The PostgreSQL backend: one database that many workers share (``[store] url``). :class:`PgStore` over the
logic it shares with SQLite (:mod:`monitor.store.sql`), its schema as numbered migrations step for step SQLite's,
and :func:`copy_into` to move a SQLite store up into it."""

from monitor.store.interface import StoreInterface
from monitor.store.postgres.copy import copy_into
from monitor.store.postgres.store import PgStore, shown

__all__ = ["PgStore", "copy_into", "shown"]


def _conforms(store: PgStore) -> StoreInterface:
    """mypy checks here that the PostgreSQL store is a StoreInterface."""
    return store
