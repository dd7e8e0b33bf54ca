"""The folder source: documents are files under a directory, found recursively.

A file is identified by its absolute path and content hash. An unchanged file costs one ``stat``
(same size and mtime as last time); a touched file costs a read and a hash. Hidden files, editor
temporaries and partial downloads are not documents; a file whose size or mtime changes while it is
read, or that was modified less than ``settle_seconds`` ago, is still being written and waits for the
next run. Reading errors become :class:`~monitor.errors.SourceError` for the caller to report.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterator
from pathlib import Path

from monitor.errors import SourceError
from monitor.models import Fetched

#: file name endings that are documents, and how to read them
KINDS = {".html": "html", ".htm": "html", ".txt": "text", ".md": "text"}
#: names of editor temporaries, partial downloads and other files that are not documents
_TEMPORARY = re.compile(
    r"(^\.|^~\$|^#.*#$|~$|\.(swp|swo|swx|tmp|temp|part|partial|crdownload|download|bak|orig)$)", re.IGNORECASE
)


def candidates(root: Path) -> Iterator[Path]:
    """Document files under ``root``, recursively, in sorted order; hidden directories are skipped."""
    if not root.is_dir():
        raise SourceError(str(root), "folder does not exist or is not a directory")
    for dirpath, dirnames, filenames in os.walk(root, onerror=None, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            path = Path(dirpath, name)
            if path.suffix.lower() in KINDS and not _TEMPORARY.search(name):
                yield path


def unchanged(path: Path, size: int | None, mtime_ns: int | None) -> tuple[bool, os.stat_result]:
    """Whether the file still has the given size and mtime (the cheap check), and its stat."""
    try:
        st = path.stat()
    except OSError as exc:
        raise SourceError(str(path), f"cannot stat: {exc.strerror or exc}") from exc
    return (st.st_size == size and st.st_mtime_ns == mtime_ns), st


def read(path: Path, source: str, before: os.stat_result, *, settle_seconds: float, now_ns: int) -> Fetched | None:
    """Read a file into a Fetched; None when it is still being written."""
    if settle_seconds and now_ns - before.st_mtime_ns < settle_seconds * 1e9:
        return None
    try:
        with path.open("rb") as handle:
            data = handle.read()
            after = os.fstat(handle.fileno())
    except OSError as exc:
        raise SourceError(str(path), f"cannot read: {exc.strerror or exc}") from exc
    if (after.st_size, after.st_mtime_ns) != (before.st_size, before.st_mtime_ns) or len(data) != after.st_size:
        return None
    return Fetched(
        locator=str(path),
        data=data,
        content_hash=hashlib.sha256(data).hexdigest(),
        source=source,
        size=after.st_size,
        mtime_ns=after.st_mtime_ns,
        kind=KINDS[path.suffix.lower()],
    )
