"""The folder source: documents are files under a directory, found recursively.

A file is identified by its absolute path and content hash. An unchanged file costs one ``stat``
(same size and mtime as last time); a touched file costs a read and a hash. Hidden files, editor
temporaries and partial downloads are not documents; a file whose size or mtime changes while it is
read, or that was modified less than ``settle_seconds`` ago, is still being written and waits for the
next run. Reading errors become :class:`~monitor.errors.SourceError` for the caller to report.

Only regular files inside the folder are read. A symbolic link, to a file or to a folder, is not followed unless
the source says ``follow_symlinks`` (then a loop of links is passed over, and what a link leads to must still be
a regular file); a FIFO, a socket or a device is never read (a FIFO would block the run, ``/dev/zero`` fill its
memory); a file name that is not UTF-8 cannot be recorded, and is reported in an escaped form.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
from pathlib import Path

from monitor.errors import SourceError
from monitor.logs import printable
from monitor.models import Fetched

#: file name endings that are documents, and how to read them
KINDS = {".html": "html", ".htm": "html", ".txt": "text", ".md": "text"}
#: names of editor temporaries, partial downloads and other files that are not documents
_TEMPORARY = re.compile(
    r"(^\.|^~\$|^#.*#$|~$|\.(swp|swo|swx|tmp|temp|part|partial|crdownload|download|bak|orig)$)", re.IGNORECASE
)


def candidates(root: Path, *, follow_symlinks: bool = False) -> tuple[list[Path], list[str]]:
    """Document files under ``root``, recursively, in sorted order (hidden directories are skipped), and one
    message per subdirectory that cannot be read. Links to folders are followed only with ``follow_symlinks``,
    each real folder once (a loop of links ends there)."""
    if not root.is_dir():
        raise SourceError(str(root), "folder does not exist or is not a directory")
    found: list[Path] = []
    problems: list[str] = []
    seen: set[tuple[int, int]] = set()

    def unreadable(exc: OSError) -> None:
        problems.append(f"{shown(exc.filename or root)}: folder skipped: cannot read: {exc.strerror or exc}")

    for dirpath, dirnames, filenames in os.walk(root, onerror=unreadable, followlinks=follow_symlinks):
        if follow_symlinks:
            here = os.stat(dirpath)
            if (here.st_dev, here.st_ino) in seen:
                dirnames[:] = []
                continue
            seen.add((here.st_dev, here.st_ino))
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            path = Path(dirpath, name)
            if path.suffix.lower() in KINDS and not _TEMPORARY.search(name):
                found.append(path)
    return found, problems


def shown(path: Path | str) -> str:
    """A path as text that can be printed, logged and stored: control characters and bytes that are not UTF-8
    escaped (a file name with a newline cannot forge a line of the log)."""
    return printable(os.fsencode(path).decode("utf-8", "backslashreplace"))


def check(path: Path, *, follow_symlinks: bool) -> os.stat_result:
    """The stat of the file at path (one system call for a regular file: an unchanged file costs no more), or
    SourceError when the entry cannot be a document: a name that is not UTF-8, a link not to be followed (or a
    loop of them), anything but a regular file."""
    try:
        os.fsencode(path).decode("utf-8")
    except UnicodeDecodeError:
        raise SourceError(shown(path), "the file name is not UTF-8; rename it to read it") from None
    try:
        st = path.lstat()
        if stat.S_ISLNK(st.st_mode):
            if not follow_symlinks:
                raise SourceError(shown(path), "a symbolic link, not followed (follow_symlinks = true follows them)")
            st = path.stat()
    except OSError as exc:
        raise SourceError(shown(path), f"cannot stat: {exc.strerror or exc}") from exc
    if not stat.S_ISREG(st.st_mode):
        raise SourceError(shown(path), "not a regular file (a FIFO, a socket or a device is never read)")
    return st


def read(path: Path, source: str, before: os.stat_result, *, settle_seconds: float, now_ns: int) -> Fetched | None:
    """Read a file into a Fetched; None when it is still being written."""
    if settle_seconds and now_ns - before.st_mtime_ns < settle_seconds * 1e9:
        return None
    try:
        # never blocks on a FIFO put in the file's place since it was checked; read only a regular file
        with os.fdopen(os.open(path, os.O_RDONLY | os.O_NONBLOCK), "rb") as handle:
            after = os.fstat(handle.fileno())
            if not stat.S_ISREG(after.st_mode):
                raise SourceError(shown(path), "not a regular file (a FIFO, a socket or a device is never read)")
            data = handle.read()
            after = os.fstat(handle.fileno())
    except OSError as exc:
        raise SourceError(shown(path), f"cannot read: {exc.strerror or exc}") from exc
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
