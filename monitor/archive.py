"""The digest archive: each delivered digest written whole (every claim, every source) as HTML and JSON.

The email shows a bounded digest; the archive keeps all of it, one pair of files per digest named after
its time and its claims (``20240730T062818Z-1a2b3c4d.html`` and ``.json``). Files are written atomically
(a temporary file, then a rename), so a reader, or a web server serving the folder, never sees half a file.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


def name(generated_at: datetime, claim_ids: Iterable[int]) -> str:
    """The archive name of a digest: its UTC time and a short hash of its claims."""
    digest = hashlib.sha256(",".join(map(str, claim_ids)).encode()).hexdigest()[:8]
    return f"{generated_at.astimezone(UTC):%Y%m%dT%H%M%SZ}-{digest}"


def write(directory: Path, stem: str, html: str, payload: dict[str, Any]) -> Path:
    """Write ``stem.json`` then ``stem.html`` into ``directory`` (made if missing); returns the HTML's path.
    Raises OSError."""
    directory.mkdir(parents=True, exist_ok=True)
    _atomic(directory / f"{stem}.json", json.dumps(payload, ensure_ascii=False, indent=1).encode())
    target = directory / f"{stem}.html"
    _atomic(target, html.encode())
    return target


def _atomic(target: Path, data: bytes) -> None:
    descriptor, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, 0o644)
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
