"""What the parts of :class:`monitor.store.Store` (its web tables, its delivery queue) need from it."""

from __future__ import annotations

import sqlite3
from contextlib import AbstractContextManager


class StorePart:
    """The connection, the guard turning ``sqlite3.Error`` into ``StoreError``, and transactions: Store's own."""

    _db: sqlite3.Connection

    def _guard(self) -> AbstractContextManager[None]:  # pragma: no cover - Store's wins
        raise NotImplementedError

    def transaction(self) -> AbstractContextManager[None]:  # pragma: no cover - Store's wins
        raise NotImplementedError
