"""Extraction on every core: many documents go to worker processes; the results are those of extraction in the
process itself, in order; a bad document is one reason; a dead worker loses nothing."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import multiprocessing
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import EXTRACTION, settled

from monitor import config, pipeline
from monitor.canon import Canon, load_aliases
from monitor.claims import split
from monitor.extract import extract
from monitor.extracting import INLINE_BYTES, PARALLEL_FROM, Extractor, Prepared, Recipe, extract_one, prepare
from monitor.models import Document, Fetched
from monitor.normalize import Normalizer, key_of
from monitor.store import Store

PAGES = sorted(EXTRACTION.glob("*/html/*.html"))[:12]


def _fetched(path: Path) -> Fetched:
    data = path.read_bytes()
    return Fetched(str(path), data, hashlib.sha256(data).hexdigest(), source="t", kind="html")


def _pages(tmp_path: Path, junk: bool = False) -> Path:
    """A folder of the pages (and a binary file), settled."""
    folder = tmp_path / "pages"
    folder.mkdir()
    for page in PAGES:
        (folder / page.name).write_bytes(page.read_bytes())
    if junk:
        (folder / "junk.html").write_bytes(b"\x00\x01\x02" * 400)
    settled(*folder.iterdir())
    return folder


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
    """Workers killed from outside while they work: each document they held is tried once more in a new worker."""
    batch = [_fetched(p) for p in PAGES]
    with Extractor(workers=2) as extractor:
        collect = extractor.start(batch)
        assert extractor._pool is not None
        time.sleep(1.0)  # the workers have started, and are extracting
        killed = [child.pid for child in multiprocessing.active_children()]
        assert killed
        for pid in killed:
            os.kill(pid, signal.SIGKILL)
        got = collect()
    assert [g.text if isinstance(g, Document) else g for g in got] == [
        d.text if isinstance(d, Document) else d for d in map(extract_one, batch)
    ]


def test_a_scan_of_many_files_through_the_cli(tmp_path: Path) -> None:
    """``python -m monitor scan`` on more files than a batch extracted in-process: every page ingested, the
    binary file one warning, and a second scan finds nothing new."""
    folder = _pages(tmp_path, junk=True)
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
        small = [f for f in map(_fetched, PAGES) if len(f.data) <= INLINE_BYTES][: PARALLEL_FROM - 1]
        got = extractor.run(small)
        assert extractor._pool is None
    assert all(isinstance(g, Document) for g in got)


def test_workers_split_and_sketch_documents_as_the_main_process_would() -> None:
    """Given the main process's recipe, a worker returns each document with its claims, dropped sentences and
    sketches: exactly what the main process would make of the document itself."""
    batch = [_fetched(p) for p in PAGES]
    with Extractor(workers=2, recipe=Recipe("t2s", None, 2)) as extractor:
        got = extractor.run(batch)
        assert extractor._pool is not None
    normalizer, canon = Normalizer("t2s"), Canon(load_aliases())
    for fetched, prepared in zip(batch, got, strict=True):
        assert isinstance(prepared, Prepared)
        document = extract(fetched)
        claims, dropped = split(document.text, normalizer.normalize_many, key_of)
        assert prepared.document == document and prepared.parameters == canon.parameters
        assert (list(prepared.claims), list(prepared.dropped)) == (claims, dropped)
        assert [s.canonical for s in prepared.sketches] == [canon(c.normalized) for c in claims]


def test_a_worker_leaves_out_the_sketches_of_claims_the_store_holds_word_for_word(tmp_path: Path) -> None:
    """Given the store, a worker sketches only the claims the store does not hold word for word (reprints need no
    comparison beyond the exact one); the main process then records a reworded reprint and a new page exactly as
    from documents it prepares itself."""
    first = extract(_fetched(PAGES[0]))
    claims = split(first.text, Normalizer("t2s").normalize_many, key_of)[0]
    changed = claims[len(claims) // 2].text
    reworded = Document("/x/reworded.html", first.text.replace(changed, changed + "据报道"), first.title)
    second = extract(_fetched(PAGES[1]))
    recorded = []
    for name, prepared_by_worker in (("main", False), ("worker", True)):
        path = tmp_path / f"{name}.sqlite3"
        settings = config.load(None, cwd=tmp_path, overrides=config.Overrides(store=path), environ={})
        with Store(path) as store:
            deps = pipeline.Deps.of(store, settings, workers=1)
            pipeline.ingest(_fetched(PAGES[0]), first, deps, settings)
            stored = {key_of(text) for (text,) in store._db.execute("SELECT normalized FROM claims")}
            recipe = deps.recipe
            assert recipe is not None and recipe.store == str(path)
            canon = Canon(load_aliases())
            for document in (reworded, second):
                prepared = prepare(document, recipe) if prepared_by_worker else None
                if prepared is not None:
                    sketched = {c.key: made for c, made in zip(prepared.claims, prepared.sketches, strict=True)}
                    assert {k for k, made in sketched.items() if made is None} == stored & sketched.keys()
                    assert all(made.canonical == canon(c.normalized) for c in prepared.claims
                               if (made := sketched[c.key]) is not None)
                fetched = Fetched(document.locator, document.text.encode(), document.locator, "s")
                pipeline.ingest(fetched, document, deps, settings, prepared)
            recorded.append(store._db.execute(
                "SELECT o.text, o.match, o.claim_id FROM occurrences AS o ORDER BY o.document_id, o.position"
            ).fetchall())
    assert recorded[0] == recorded[1]
    assert {match for _, match, _ in recorded[1]} >= {"new", "exact"}


def test_a_scan_extracting_many_batches_ahead_stores_what_one_pass_in_the_process_stores(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Batches extracted by the workers ahead of the store (here batches of 3, two ahead) lose nothing and store
    nothing twice: every sentence of every page is recorded once, as when one process does it all; the binary file
    is one skipped message."""
    folder = _pages(tmp_path, junk=True)

    def scan(name: str, workers: int) -> tuple[list[tuple[str, str]], tuple[str, ...]]:
        overrides = config.Overrides(folder=folder, store=tmp_path / f"{name}.sqlite3", outbox=tmp_path / "outbox")
        settings = config.load(None, cwd=tmp_path, overrides=overrides, environ={})
        with Store(tmp_path / f"{name}.sqlite3") as store:
            deps = pipeline.Deps.of(store, settings, workers=workers)
            outcomes, _ = pipeline.scan(settings, deps, wait_to_settle=True)
            recorded = store._db.execute(
                "SELECT d.locator, o.text FROM occurrences AS o JOIN documents AS d ON d.id = o.document_id"
                " ORDER BY d.locator, o.position"
            ).fetchall()
        return recorded, outcomes[0].skipped

    monkeypatch.setattr(pipeline, "EXTRACT_BATCH", 3)
    monkeypatch.setattr(pipeline, "EXTRACT_AHEAD", 2)
    ahead, skipped = scan("ahead", workers=2)
    monkeypatch.setattr(pipeline, "EXTRACT_BATCH", 1000)
    alone, _ = scan("alone", workers=1)
    assert ahead == alone and len({locator for locator, _ in ahead}) == len(PAGES)
    assert len(skipped) == 1 and "junk.html" in skipped[0]


def test_once_the_workers_run_even_a_small_batch_goes_to_them(monkeypatch: pytest.MonkeyPatch) -> None:
    """A scan's last few files go to the workers already running (nothing is extracted in this process), with the
    same results as in the process."""
    import monitor.extract

    in_process: list[str] = []
    real = monitor.extract.extract

    def counted(fetched: Fetched) -> Document:
        in_process.append(fetched.locator)
        return real(fetched)

    small = [_fetched(p) for p in PAGES[:2]]
    expected = [real(f).text for f in small]
    monkeypatch.setattr(monitor.extract, "extract", counted)  # this process only: the workers have their own
    with Extractor(workers=2) as extractor:
        extractor.run([_fetched(p) for p in PAGES[:PARALLEL_FROM]])
        got = extractor.run(small)
    assert in_process == []
    assert [g.text for g in got if isinstance(g, Document)] == expected


def _paragraphs(count: int) -> Fetched:
    """A page of ``count`` tiny paragraphs: trafilatura's time grows faster than their number (the issue measured
    712 s for 550,000)."""
    data = ("<html><body>" + "<p>ab</p>" * count + "</body></html>").encode()
    return Fetched(f"/paragraphs-{count}.html", data, hashlib.sha256(data).hexdigest(), source="t", kind="html")


def test_a_page_past_the_time_budget_is_stopped_and_the_rest_extracted() -> None:
    """The worker extracting a page that takes longer than the budget is stopped; the page is one reason naming
    the setting, and the documents around it (before and after, on the same single worker) come out as in the
    process itself."""
    slow = _paragraphs(45_000)  # 400 KB, under the tag limit: seconds of trafilatura
    batch = [_fetched(PAGES[0]), slow, _fetched(PAGES[1])]
    with Extractor(workers=1, budget=0.5) as extractor:
        got = extractor.run(batch)
        assert extractor._pool is not None, "a large document goes to a worker even when there is only one"
    assert isinstance(got[1], str)
    assert "longer than 0.5 s" in got[1] and "[extract] time_budget_seconds" in got[1]
    assert [g.text for g in got if isinstance(g, Document)] == [extract(batch[0]).text, extract(batch[2]).text]


def test_only_small_documents_are_extracted_in_the_process() -> None:
    """A batch of small documents stays in the process; one over INLINE_BYTES takes the batch to a worker, where
    the budget can stop it."""
    small = [f for f in map(_fetched, PAGES) if len(f.data) <= INLINE_BYTES][:2]
    assert len(small) == 2
    with Extractor(workers=1) as extractor:
        extractor.run(small)
        assert extractor._pool is None
        big = _paragraphs(INLINE_BYTES // 9 + 1)
        assert len(big.data) > INLINE_BYTES
        got = extractor.run([*small, big])
        assert extractor._pool is not None
    assert all(isinstance(g, Document) for g in got)


def test_extraction_awaited_gives_what_it_gives_called() -> None:
    """The poll's way (awaited in its event loop) gives the same results, in order, as a scan's."""
    batch = [_fetched(p) for p in PAGES[:PARALLEL_FROM]]
    with Extractor(workers=2) as extractor:
        awaited = asyncio.run(extractor.extract(batch))
        called = extractor.run(batch)
    assert [g.text if isinstance(g, Document) else g for g in awaited] == [
        g.text if isinstance(g, Document) else g for g in called
    ]


def test_an_abandoned_extraction_stops_its_worker() -> None:
    """A poll abandoned (the service stopping) while a worker extracts a slow page: the worker is stopped, not left
    to finish the page."""
    with Extractor(workers=1, budget=300) as extractor:

        async def abandoned() -> set[int]:
            task = asyncio.ensure_future(extractor.extract([_paragraphs(45_000)]))
            await asyncio.sleep(1.5)  # the worker has started on it
            working = {child.pid for child in multiprocessing.active_children()}
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            return working

        working = asyncio.run(abandoned())
        assert working
        for _ in range(100):
            if not working & {child.pid for child in multiprocessing.active_children()}:
                break
            time.sleep(0.05)
        assert not working & {child.pid for child in multiprocessing.active_children()}
