"""One writer per store: an advisory lock on ``<store>.lock``, held while a command may write.

``run``, ``digest`` and ``scan`` take it; ``status`` and ``digest --dry-run`` (which works on a copy of
the store) do not, so they work beside a running service. The lock is ``flock``'d, so it goes when
its process does, however that ends; the file holds the holder's pid, for the message.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from monitor.errors import StoreError


class StoreBusyError(StoreError):
    """Another process holds the store's lock."""


@contextlib.contextmanager
def store_lock(store_path: Path) -> Iterator[None]:
    """Hold the store's lock for the block; raise StoreBusyError at once if another process has it."""
    path = store_path.with_name(store_path.name + ".lock")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise StoreError(f"{path}: cannot open the lock file: {exc.strerror or exc}") from exc
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(descriptor, 32, 0).decode("ascii", "replace").strip() or "unknown"
            raise StoreBusyError(
                f"{store_path}: another corpus-monitor (pid {holder}) is working on this store; "
                "stop it first (`corpus-monitor status` and `digest --dry-run` work beside it)"
            ) from None
        os.ftruncate(descriptor, 0)
        os.pwrite(descriptor, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(descriptor)  # closing the descriptor releases the lock
