"""The digest archive: each delivered digest written whole (every claim, every source) as HTML and JSON.

The email shows a bounded digest; the archive keeps all of it, one pair of files per digest named after
its time and its claims (``20240730T062818Z-1a2b3c4d.html`` and ``.json``). Files are written atomically
(a temporary file, then a rename), so a reader, or a web server serving the folder, never sees half a file.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from monitor.files import write_atomically


def name(generated_at: datetime, claim_ids: Iterable[int]) -> str:
    """The archive name of a digest: its UTC time and a short hash of its claims."""
    digest = hashlib.sha256(",".join(map(str, claim_ids)).encode()).hexdigest()[:8]
    return f"{generated_at.astimezone(UTC):%Y%m%dT%H%M%SZ}-{digest}"


def write(directory: Path, stem: str, html: str, payload: dict[str, Any]) -> Path:
    """Write ``stem.json`` then ``stem.html`` into ``directory`` (made if missing); returns the HTML's path.
    Raises OSError."""
    directory.mkdir(parents=True, exist_ok=True)
    write_atomically(directory / f"{stem}.json", json.dumps(payload, ensure_ascii=False, indent=1).encode(),
                     mode=0o644)
    target = directory / f"{stem}.html"
    write_atomically(target, html.encode(), mode=0o644)  # for a web server to publish
    return target
