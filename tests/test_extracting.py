"""Extraction on every core: many documents go to worker processes; the results are those of extraction in the
process itself, in order; a bad document is one reason; a dead worker loses nothing."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import EXTRACTION, settled

from monitor.extract import extract
from monitor.extracting import PARALLEL_FROM, Extractor, extract_one
from monitor.models import Document, Fetched

PAGES = sorted(EXTRACTION.glob("*/html/*.html"))[:12]


def _fetched(path: Path) -> Fetched:
    data = path.read_bytes()
    return Fetched(str(path), data, hashlib.sha256(data).hexdigest(), source="t", kind="html")


def test_workers_extract_what_the_process_itself_would_in_order() -> None:
    batch = [_fetched(p) for p in PAGES]
    batch.insert(5, Fetched("/junk.bin", b"\x00\x01\x02" * 400, "0" * 64, source="t", kind="html"))
    assert len(batch) >= PARALLEL_FROM
    with Extractor(workers=2) as extractor:
        got = extractor.run(batch)
        assert extractor._pool is not None, "a batch this large goes to the workers"
    assert isinstance(got[5], str) and "binary" in got[5]  # the bad one is its reason, naming nothing else
    alone = [extract(f).text for f in batch if f.locator != "/junk.bin"]
    assert [g.text for g in got if isinstance(g, Document)] == alone


def test_a_worker_that_dies_loses_no_document() -> None:
    batch = [_fetched(p) for p in PAGES]
    with Extractor(workers=2) as extractor:
        collect = extractor.start(batch)
        assert extractor._pool is not None
        for pid in list(extractor._pool._processes):  # kill the workers while they work
            os.kill(pid, signal.SIGKILL)
        got = collect()
    assert [g.text if isinstance(g, Document) else g for g in got] == [
        d.text if isinstance(d, Document) else d for d in map(extract_one, batch)
    ]


def test_a_scan_of_many_files_through_the_cli(tmp_path: Path) -> None:
    """``python -m monitor scan`` on more files than a batch extracted in-process: every page ingested, the
    binary file one warning, and a second scan finds nothing new."""
    folder = tmp_path / "pages"
    folder.mkdir()
    for page in PAGES:
        (folder / page.name).write_bytes(page.read_bytes())
    (folder / "junk.html").write_bytes(b"\x00\x01\x02" * 400)
    settled(*folder.iterdir())
    config = tmp_path / "c.toml"
    config.write_text(f'[[sources]]\nkind = "folder"\npath = "{folder}"\nsettle_seconds = 0\n', encoding="utf-8")
    run = [sys.executable, "-m", "monitor", "scan", "--config", str(config)]
    first = subprocess.run(run, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert first.returncode == 0, first.stderr
    assert f"{len(PAGES)} new or changed, 0 unchanged, 1 failed with a warning" in first.stdout, first.stdout
    assert "new claims" in first.stdout
    assert first.stderr.count("junk.html") == 1 and "binary" in first.stderr
    again = subprocess.run(run, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0 and "0 new or changed" in again.stdout, again.stdout + again.stderr
    assert "junk.html" not in again.stderr  # reported once for this version of the file


@pytest.mark.parametrize("workers", [1, 2])
def test_a_small_batch_stays_in_the_process(workers: int) -> None:
    with Extractor(workers=workers) as extractor:
        got = extractor.run([_fetched(p) for p in PAGES[: PARALLEL_FROM - 1]])
        assert extractor._pool is None
    assert all(isinstance(g, Document) for g in got)
