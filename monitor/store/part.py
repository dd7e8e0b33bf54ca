"""What the parts of the store (its web tables, its delivery queue) need from it, and the face a backend's
connection shows them: sqlite3's ``execute`` and ``executemany``, ``?`` placeholders."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol


class Cursor(Protocol):
    @property
    def rowcount(self) -> int:
        ...

    def fetchone(self) -> Any:
        ...

    def fetchall(self) -> list[Any]:
        ...

    def __iter__(self) -> Iterator[Any]:
        ...


class Connection(Protocol):
    def execute(self, sql: str, parameters: Sequence[Any] = ..., /) -> Cursor:
        ...

    def executemany(self, sql: str, parameters: Iterable[Sequence[Any]], /) -> Cursor:
        ...


class StorePart:
    """The connection, the guard turning database errors into ``StoreError``, and transactions: the store's own."""

    _db: Connection

    def _guard(self) -> AbstractContextManager[None]:  # pragma: no cover - the store's wins
        raise NotImplementedError

    def transaction(self) -> AbstractContextManager[None]:  # pragma: no cover - the store's wins
        raise NotImplementedError
