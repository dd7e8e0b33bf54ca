"""The SQLite backend, the embedded default: one file, no server. :class:`Store` over the parts beside it (its
web tables, its delivery queue), its schema as numbered migrations."""

from monitor.store.interface import StoreInterface
from monitor.store.sqlite.store import Store, copy_store

__all__ = ["Store", "copy_store"]


def _conforms(store: Store) -> StoreInterface:
    """mypy checks here that the SQLite store is a StoreInterface."""
    return store
