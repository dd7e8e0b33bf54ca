"""Paths to the real inputs the tests use, all inside the repository: the seeds and the evaluation sets
in ``eval/`` (see ``eval/README.md`` for their origin and licences)."""

from __future__ import annotations

import functools
import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SEEDS = ROOT / "seeds"
EVAL = ROOT / "eval"
DEV = EVAL / "dev"
EXTRACTION = EVAL / "extraction"


def seed(prefix: str) -> Path:
    """The seed file whose name starts with ``prefix`` (e.g. "000")."""
    (path,) = SEEDS.glob(f"{prefix}_*")
    return path


def eval_script(name: str) -> ModuleType:
    """One of the scorers in ``eval/`` (e.g. "score"), imported as a module."""
    module_name = f"eval_{name}"
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, EVAL / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


def settled(*paths: Path) -> None:
    """Date files an hour back: complete files that have been there a while, which a folder source reads at
    once (a file modified less than ``settle_seconds`` ago waits, as one still being written)."""
    import os
    import time

    past = time.time() - 3600
    for path in paths:
        os.utime(path, (past, past))


def drop(path: Path, text: str) -> Path:
    """Deliver a complete document into a watched folder the way careful writers do: written under a hidden
    temporary name, dated as settled, then renamed into place in one step."""
    import os

    partial = path.with_name(f".{path.name}.part")
    partial.write_text(text, encoding="utf-8")
    settled(partial)
    os.replace(partial, path)
    return path


@functools.cache
def seed_claims() -> int:
    """How many distinct claims the seeds hold, as the library finds them: the seeds ingested into a fresh store
    (so tests of the CLI, the digest and delivery compare their counts with the pipeline's, not a number that
    moves whenever claim splitting or matching improves)."""
    import hashlib
    import tempfile

    from monitor import config
    from monitor.extract import extract
    from monitor.models import Fetched
    from monitor.pipeline import Deps, ingest
    from monitor.store import Store

    settings = config.load(None, cwd=Path("/nonexistent"))
    with tempfile.TemporaryDirectory() as tmp, Store(Path(tmp) / "s.sqlite3") as store:
        deps = Deps(store)
        found = []
        for path in sorted(SEEDS.iterdir()):
            data = path.read_bytes()
            fetched = Fetched(str(path), data, hashlib.sha256(data).hexdigest(), source="seeds", kind="text")
            found.append((fetched, extract(fetched)))
        found.sort(key=lambda pair: (pair[1].published or "9999", pair[0].locator))  # as a scan orders them
        for fetched, document in found:
            ingest(fetched, document, deps, settings)
        return store.status().claims


def fate_after(tmp_path: Path, known: str, new: str) -> Any:
    """The fate (``monitor.explain``) of the one sentence ``new`` in a store that holds only ``known``: the whole
    path of a claim, from the text files through the index, the comparison and the record."""
    import hashlib
    from datetime import UTC, datetime

    from monitor import config
    from monitor.explain import explain
    from monitor.extract import extract
    from monitor.models import Fetched
    from monitor.pipeline import Deps, ingest
    from monitor.store import Store

    def fetched(path: Path, text: str) -> Fetched:
        path.write_text(f"报道\n\n{text}\n", encoding="utf-8")
        data = path.read_bytes()
        return Fetched(str(path), data, hashlib.sha256(data).hexdigest(), source="test", kind="text")

    settings = config.load(None, cwd=Path("/nonexistent"))
    with Store(tmp_path / "s.sqlite3") as store:
        deps = Deps.of(store, settings, clock=lambda: datetime(2024, 7, 30, tzinfo=UTC))
        first = fetched(tmp_path / "known.txt", known)
        assert ingest(first, extract(first), deps, settings) == 1
        second = fetched(tmp_path / "new.txt", new)
        (fate,) = explain(second, extract(second), deps, settings)
    return fate
