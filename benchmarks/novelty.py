#!/usr/bin/env python
"""Benchmark: the novelty lookup's cost per claim as the store grows, and the process's peak memory.

What it measures
----------------
For stores of 10^3, 10^5 and 10^6 claims (``--sizes``), the time of the per-claim novelty path
exactly as ``monitor.pipeline.ingest_verdicts`` runs it, starting from a claim's normalized text and
matching key. ``--matcher canon`` (the default) is the path as it is now: near-duplicates are
looked for in the canonical form (``monitor.canon``: aliases from ``monitor/data/aliases.toml``,
numbers in one form; one ``Canon(load_aliases())`` built once, like ``Deps.canon``)::

    fingerprint(key) -> store.find_exact_many                        (the claim's own key, as before)
        -> canonical = canon(text); ckey = key_of(canonical)
        -> signer.sketch(ckey) -> store.candidates(sketch.buckets)
        -> novelty.plausible (signature screen) -> store.claim_texts -> canon(each stored text)
        -> novelty.decide(ckey, canonical, canonical candidates)

``--matcher plain`` is the path before the canonical form (up to commit 1821bd2): the sketch of the
claim's own key, the candidates' stored texts as they are, ``decide(key, text, ...)``. An exact hit
stops after find_exact, as in the pipeline. The timed steps are fingerprint, find_exact, canon,
sketch, candidates and screen+decide; "canon" holds everything the canonical form adds: canon() and
key_of() of the query and canon() of each candidate's stored text (the candidates' key_of() is in
screen+decide for both matchers, as it was before), so with ``plain`` it is only the clock's own
cost. cn2an (which canon imports on the first Chinese numeral with 万 or 亿) is imported before the
warm-up: a once-per-process cost, not a per-claim one. The lookups run over M query claims (``--queries``):
half are near-duplicates of stored claims (one to three CJK characters deleted, swapped, replaced
or inserted; figures untouched, also in canon's number form, so 35万 never loses its 万), half are
novel sentences from the same generator; the same queries for both matchers. Nothing is
written during the lookups. It prints, per size:
microseconds per claim (mean, median, p95, and each step's share), peak memory of the process
(``resource.getrusage(RUSAGE_SELF).ru_maxrss``), the store file's size, the recall of the
near-duplicates (the fraction found as "near" to the very claim they were made from) and the
false-positive rate of the novel ones, plus how many candidates and LSH index rows a lookup
touches. Then the two targets: µs/claim at 10^6 at most 2x that at 10^3, and peak memory at 10^6
under 500 MB.

Each size is built and measured in fresh subprocesses (``--child build`` / ``--child measure``),
so the peak memory printed is that of a process that only opened the store and ran the lookups.

The synthetic store
-------------------
Claims are Chinese sentences of 20 to 80 characters made of "words" drawn with a Zipf-Mandelbrot
distribution (exponent 1.05) from a vocabulary cut from the normalized seed texts (``seeds/``:
runs of CJK characters chopped into pieces of 1-4 characters, plus the Latin tokens such as
"Llama", "GPU"), with commas sprinkled in and a figure ("35万", "3.1", "2024年", "60%") in about
half of them. They are stored as normalized (Simplified) text, as the pipeline stores them. The
vocabulary is small (the seeds are 65 KB), so common "words" and bigrams recur more often than in
a real corpus of a million sentences: if anything, LSH buckets are more crowded than real ones.

Rows go into the real schema (``monitor.schema``, created by opening a ``monitor.store.Store``)
with the same ``novelty.fingerprint`` and ``novelty.Signer.sketch`` (the default
``NoveltySettings``: shingle 2, 16 bands x 3 rows) the pipeline uses -- the fingerprint of the
claim's own key, the sketch of ``key_of(canon(text))`` with ``--matcher canon`` (what
``Deps.ensure_index`` indexes) or of the key with ``plain`` -- : one document row per 40
claims, one claims row, one sketches row (the 96-byte b-bit MinHash signature), one occurrences row
and 16 lsh_buckets rows per claim. The default bulk path computes sketches on every core and
inserts with ``executemany`` in one transaction, the index rows sorted by bucket (so its B-tree
pages end up fuller than after the pipeline's one-claim-at-a-time inserts; the file is somewhat
smaller than a grown one would be). ``--build add_claim`` goes through ``Store.add_claim`` /
``Store.add_occurrences`` (one call per document) instead, for comparison (slow at 10^6). No
ANALYZE is run: the query plans are those of a real store.

Built stores are cached in ``benchmarks/.cache/`` (created with a ``.gitignore`` of ``*``, so
git ignores it even before the project's .gitignore lists it); reruns only measure. A canon store's
name ends in ``Canon.parameters`` (``-canon-v1-<digest of the alias table>``), so a changed table
or canonical form builds a new one; the two matchers' stores hold the same claims, and both
matchers are measured with the same queries. Building 10^6 takes a minute or two per matcher and
about 1 GB of disk; ``--rebuild`` forces a new build.

Run
---
::

    .venv/bin/python benchmarks/novelty.py                       # 10^3, 10^5, 10^6; 4000 queries
    .venv/bin/python benchmarks/novelty.py --sizes 1000,100000   # quicker
    .venv/bin/python benchmarks/novelty.py --queries 10000 --rebuild
    .venv/bin/python benchmarks/novelty.py --sizes 100000,1000000 --matcher plain   # before canon

Options: ``--matcher canon|plain``; ``--sizes`` comma-separated store sizes; ``--queries`` M (half near, half novel);
``--warmup`` untimed queries run first (default 200); ``--seed``; ``--build bulk|add_claim``;
``--rebuild``; ``--cache DIR``; ``--workers`` processes for computing sketches (default: cores).
This is an on-demand measurement (``make bench``), not a test: it asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import resource
import sqlite3
import statistics
import subprocess
import sys
import time
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from monitor.canon import Canon, load_aliases, numbers
from monitor.config import NoveltySettings
from monitor.models import Candidate, Claim, Document, Fetched, Match, Sketch
from monitor.normalize import Normalizer, key_of
from monitor.novelty import Signer, decide, figures, fingerprint, plausible
from monitor.store import MAX_CANDIDATES, Store

ROOT = Path(__file__).resolve().parents[1]
SEEDS = ROOT / "seeds"
DEFAULT_CACHE = ROOT / "benchmarks" / ".cache"
#: bump when the generator, the build or the schema changes, so cached stores are not reused
#: (2: claims carry the MinHash signature, Signer.sketch; 3: signatures in the sketches table;
#: 4: occurrences a rowid table; 5: 31-bit bucket ids)
GENERATOR_VERSION = 5
CLAIMS_PER_DOCUMENT = 40
MIN_CHARS, MAX_CHARS = 20, 80
ZIPF_EXPONENT, ZIPF_SHIFT = 1.05, 2.7
NOW = datetime(2024, 7, 30, 12, 0, tzinfo=UTC)
#: a novel query's generator seed is the store's plus this
NOVEL_SEED_OFFSET = 1_000_003

_CJK = re.compile(r"[\u4e00-\u9fff]+")
_LATIN = re.compile(r"[A-Za-z][A-Za-z0-9.\-]*[A-Za-z0-9]|[A-Za-z]")
_FIGURES = (
    lambda r: f"{r.randint(2, 999)}",
    lambda r: f"{r.randint(1, 99)}.{r.randint(1, 9)}",
    lambda r: f"{r.randint(1, 99)}%",
    lambda r: f"{r.randint(2, 500)}万",
    lambda r: f"{r.randint(1, 900)}亿美元",
    lambda r: f"{r.randint(1990, 2030)}年",
    lambda r: f"{r.randint(1, 12)}月{r.randint(1, 28)}日",
    lambda r: f"{r.randint(2, 100)}倍",
)


# -- the synthetic claims --------------------------------------------------------------------------


class Generator:
    """Zipf-distributed words from the seeds' vocabulary, assembled into sentences of 20-80 chars."""

    def __init__(self, words: list[str], seed: int) -> None:
        self.words = words
        ranks = np.arange(len(words), dtype=np.float64)
        weights = 1.0 / (ranks + ZIPF_SHIFT) ** ZIPF_EXPONENT
        self._p = weights / weights.sum()
        self._np = np.random.default_rng(seed)
        self._r = random.Random(seed)
        self._pool: list[int] = []

    def _word(self) -> str:
        if not self._pool:
            self._pool = self._np.choice(len(self.words), size=200_000, p=self._p).tolist()
        return self.words[self._pool.pop()]

    def char(self) -> str:
        """One CJK character, drawn like the words' characters are."""
        while True:
            word = self._word()
            if _CJK.fullmatch(word):
                return self._r.choice(word)

    def sentence(self) -> str:
        r = self._r
        target = r.randint(MIN_CHARS, MAX_CHARS)
        parts: list[str] = []
        length = 0
        while True:
            word = self._word()
            if length + len(word) > target:
                if length >= MIN_CHARS:
                    break
                continue
            parts.append(word)
            length += len(word)
            if r.random() < 0.08 and length < target - 4:
                parts.append("，")
        shown = r.random()
        for _ in range(2 if shown < 0.1 else 1 if shown < 0.5 else 0):
            parts.insert(r.randint(0, len(parts)), r.choice(_FIGURES)(r))
        return "".join(parts).strip("，") + "。"


def vocabulary(seed: int) -> list[str]:
    """Words from the normalized seeds, most frequent first: CJK runs chopped into 1-4 characters."""
    normalizer = Normalizer("t2s")
    r = random.Random(seed)
    counts: dict[str, int] = {}
    for path in sorted(SEEDS.glob("*.txt")):
        text = normalizer.normalize(path.read_text("utf-8"))
        for run in _CJK.findall(text):
            i = 0
            while i < len(run):
                size = r.choices((1, 2, 3, 4), weights=(30, 50, 12, 8))[0]
                word = run[i : i + size]
                counts[word] = counts.get(word, 0) + 1
                i += size
        for token in _LATIN.findall(text):
            counts[token] = counts.get(token, 0) + 1
    return sorted(counts, key=lambda w: (-counts[w], w))


def cached_vocabulary(cache: Path, seed: int) -> list[str]:
    """vocabulary(seed), kept as JSON in the cache (the measuring process need not build OpenCC)."""
    path = cache / f"vocabulary-seed{seed}-v{GENERATOR_VERSION}.json"
    if not path.exists():
        path.write_text(json.dumps(vocabulary(seed), ensure_ascii=False), "utf-8")
    words: list[str] = json.loads(path.read_text("utf-8"))
    return words


def near_duplicate(normalized: str, gen: Generator, r: random.Random) -> str:
    """normalized with 1-3 CJK characters deleted, swapped, replaced or inserted (figures untouched, also as
    canon.numbers reads them: deleting the 万 of 35万 changes a figure, and makes a conflict, not a near-duplicate)."""
    key = key_of(normalized)
    stated = figures(numbers(normalized))
    for _ in range(20):
        chars = list(normalized)
        for _ in range(r.randint(1, 3)):
            spots = [i for i, ch in enumerate(chars) if _CJK.fullmatch(ch)]
            if len(spots) < 2:
                break
            i = r.choice(spots)
            op = r.choice(("delete", "swap", "replace", "insert"))
            if op == "delete":
                del chars[i]
            elif op == "swap":
                j = i + 1 if i + 1 < len(chars) and _CJK.fullmatch(chars[i + 1]) else i - 1
                if j >= 0 and _CJK.fullmatch(chars[j]):
                    chars[i], chars[j] = chars[j], chars[i]
            elif op == "replace":
                chars[i] = gen.char()
            else:
                chars.insert(i, gen.char())
        out = "".join(chars)
        if key_of(out) != key and figures(out) == figures(normalized) and figures(numbers(out)) == stated:
            return out
    return normalized + "另外"  # a short tail: still a near-duplicate, never an exact one


# -- building a store ------------------------------------------------------------------------------

MATCHERS = ("canon", "plain")
_signer: Signer | None = None
_canon: Canon | None = None


def _init_worker(settings: dict[str, int], matcher: str) -> None:
    global _signer, _canon
    _signer = Signer(shingle=settings["shingle"], bands=settings["bands"], rows=settings["rows"])
    _canon = Canon(load_aliases()) if matcher == "canon" else None


def _sign(texts: list[str]) -> tuple[list[int], np.ndarray, np.ndarray]:
    """Fingerprints of the keys, buckets (one row of int64 per text) and signatures (one row of uint16 per
    text): sketches of key_of(canon(text)) with the canon matcher (as Deps.ensure_index), of the key without."""
    assert _signer is not None
    keys = [key_of(t) for t in texts]
    sketched = keys if _canon is None else [key_of(_canon(t)) for t in texts]
    sketches = [_signer.sketch(k) for k in sketched]
    buckets = np.array([s.buckets for s in sketches], dtype=np.int64)
    signatures = np.frombuffer(b"".join(s.signature for s in sketches), dtype=np.uint16).reshape(len(texts), -1)
    return [fingerprint(k) for k in keys], buckets, signatures


def _store_name(n: int, novelty: NoveltySettings, seed: int, how: str, matcher: str) -> str:
    # plain stores keep their old names (and caches); canon ones name what their sketches depend on
    suffix = f"-{Canon(load_aliases()).parameters}" if matcher == "canon" else ""
    return (f"novelty-n{n}-s{novelty.shingle}b{novelty.bands}r{novelty.rows}-seed{seed}-{how}{suffix}"
            f"-v{GENERATOR_VERSION}")


def _claims(words: list[str], n: int, seed: int) -> tuple[list[str], list[str]]:
    """n distinct-keyed normalized sentences and their keys."""
    gen = Generator(words, seed)
    seen: set[str] = set()
    texts: list[str] = []
    keys: list[str] = []
    while len(texts) < n:
        text = gen.sentence()
        key = key_of(text)
        if key in seen:
            continue
        seen.add(key)
        texts.append(text)
        keys.append(key)
    return texts, keys


def build(
    path: Path, n: int, novelty: NoveltySettings, seed: int, how: str, workers: int, matcher: str
) -> dict[str, object]:
    """Build a store of n synthetic claims at path (sketched for matcher); returns what the build took."""
    started = time.perf_counter()
    texts, keys = _claims(cached_vocabulary(path.parent, seed), n, seed)
    generated = time.perf_counter()
    settings = {"shingle": novelty.shingle, "bands": novelty.bands, "rows": novelty.rows}
    chunk = 5_000
    pieces = [texts[i : i + chunk] for i in range(0, n, chunk)]
    if workers > 1 and n > chunk:
        import multiprocessing

        with multiprocessing.get_context("fork").Pool(workers, _init_worker, (settings, matcher)) as pool:
            signed = pool.map(_sign, pieces)
    else:
        _init_worker(settings, matcher)
        signed = [_sign(piece) for piece in pieces]
    perms = novelty.bands * novelty.rows
    fps = [fp for fps_, _, _ in signed for fp in fps_]
    buckets = np.concatenate([b for _, b, _ in signed]) if signed else np.zeros((0, novelty.bands), np.int64)
    signatures = np.concatenate([s for _, _, s in signed]) if signed else np.zeros((0, perms), np.uint16)
    del signed
    if len(set(fps)) != n:
        raise SystemExit("fingerprint collision among generated claims; change --seed")
    signed_at = time.perf_counter()

    tmp = path.with_suffix(".building")
    for leftover in (tmp, Path(f"{tmp}-wal"), Path(f"{tmp}-shm")):
        leftover.unlink(missing_ok=True)
    Store(tmp).close()  # the real schema, migrations and WAL mode
    if how == "add_claim":
        _insert_via_store(tmp, texts, keys, fps, buckets, signatures)
    else:
        _insert_bulk(tmp, texts, fps, buckets, signatures)
    inserted = time.perf_counter()
    stats = _bucket_stats(tmp)
    tmp.rename(path)
    return {
        "n": n,
        "how": how,
        "matcher": matcher,
        "seconds_generate": round(generated - started, 1),
        "seconds_sign": round(signed_at - generated, 1),
        "seconds_insert": round(inserted - signed_at, 1),
        "seconds_total": round(time.perf_counter() - started, 1),
        "build_peak_rss_mb": round(_peak_rss_mb(), 1),
        "file_bytes": path.stat().st_size,
        **stats,
    }


def _document_rows(count: int) -> list[tuple[object, ...]]:
    stamp = NOW.isoformat()
    return [
        (i, f"bench://doc/{i}", "bench", f"{i:064x}", None, None, f"文档{i}", "bench", None, "2024-07-30",
         "utf-8", stamp, stamp)
        for i in range(1, count + 1)
    ]


def _insert_bulk(path: Path, texts: list[str], fps: list[int], buckets: np.ndarray, signatures: np.ndarray) -> None:
    """Same rows as Store.add_claim + add_occurrences, in one transaction with executemany."""
    n = len(texts)
    stamp = NOW.isoformat()
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=OFF")
    db.execute("PRAGMA synchronous=OFF")
    db.execute("PRAGMA cache_size=-1000000")  # 1 GB, for the build only
    db.execute("BEGIN")
    db.executemany(
        "INSERT INTO documents (id, locator, source, content_hash, size, mtime_ns, title, site, url, published,"
        " encoding, first_seen, last_changed) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
        _document_rows((n + CLAIMS_PER_DOCUMENT - 1) // CLAIMS_PER_DOCUMENT),
    )
    db.executemany(
        "INSERT INTO claims (id, fingerprint, normalized, text, speaker, document_id, position,"
        " first_seen) VALUES (?,?,?,?,NULL,?,?,?)",
        (
            (i + 1, fps[i], texts[i], texts[i], i // CLAIMS_PER_DOCUMENT + 1, i % CLAIMS_PER_DOCUMENT, stamp)
            for i in range(n)
        ),
    )
    db.executemany(
        "INSERT INTO sketches (claim_id, signature) VALUES (?, ?)",
        ((i + 1, signatures[i].tobytes()) for i in range(n)),
    )
    db.executemany(
        "INSERT INTO occurrences (claim_id, document_id, text, position, match, score, first_seen)"
        " VALUES (?,?,?,?,'new',1.0,?)",
        ((i + 1, i // CLAIMS_PER_DOCUMENT + 1, texts[i], i % CLAIMS_PER_DOCUMENT, stamp) for i in range(n)),
    )
    bands = buckets.shape[1] if n else 0
    flat = buckets.reshape(-1)
    ids = np.repeat(np.arange(1, n + 1, dtype=np.int64), bands)
    order = np.lexsort((ids, flat))
    step = 1_000_000
    for start in range(0, len(order), step):
        part = order[start : start + step]
        db.executemany(
            "INSERT OR IGNORE INTO lsh_buckets (bucket, claim_id) VALUES (?, ?)",
            zip(flat[part].tolist(), ids[part].tolist(), strict=True),
        )
    db.execute("COMMIT")
    db.execute("PRAGMA journal_mode=WAL")
    db.close()


def _insert_via_store(
    path: Path, texts: list[str], keys: list[str], fps: list[int], buckets: np.ndarray, signatures: np.ndarray
) -> None:
    """The pipeline's own writes: Store.save_document, add_claim per claim and add_occurrences per document,
    10^4 claims (250 documents) a transaction."""
    per_transaction = 250 * CLAIMS_PER_DOCUMENT
    with Store(path) as store:
        for start in range(0, len(texts), per_transaction):
            with store.transaction():
                for first in range(start, min(start + per_transaction, len(texts)), CLAIMS_PER_DOCUMENT):
                    number = first // CLAIMS_PER_DOCUMENT + 1
                    locator = f"bench://doc/{number}"
                    fetched = Fetched(locator, b"", f"{number:064x}", "bench")
                    doc_id = store.save_document(fetched, Document(locator, "", f"文档{number}"), NOW)
                    occurrences: list[tuple[int, Claim, Match]] = []
                    for i in range(first, min(first + CLAIMS_PER_DOCUMENT, len(texts))):
                        claim = Claim(texts[i], texts[i], keys[i], i % CLAIMS_PER_DOCUMENT)
                        sketch = Sketch(signatures[i].tobytes(), buckets[i].tolist())
                        claim_id = store.add_claim(claim, fps[i], sketch, doc_id, NOW)
                        occurrences.append((claim_id, claim, Match(claim_id, "new", 1.0)))
                    store.add_occurrences(doc_id, occurrences, NOW)


def _bucket_stats(path: Path) -> dict[str, object]:
    """How crowded the LSH buckets are: the posting-list length distribution of lsh_buckets."""
    db = sqlite3.connect(path)
    hist = db.execute(
        "SELECT cnt, count(*) FROM (SELECT count(*) AS cnt FROM lsh_buckets GROUP BY bucket) GROUP BY cnt"
    ).fetchall()
    db.close()
    buckets = sum(k for _, k in hist)
    rows = sum(c * k for c, k in hist)
    return {
        "index_rows": rows,
        "distinct_buckets": buckets,
        "singleton_buckets": sum(k for c, k in hist if c == 1),
        "max_posting": max((c for c, _ in hist), default=0),
        # the mean posting-list length seen from a stored row: what a lookup reads per band, on average
        "row_weighted_posting": round(sum(c * c * k for c, k in hist) / rows, 2) if rows else 0.0,
    }


# -- measuring -------------------------------------------------------------------------------------


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _queries(store_path: Path, n: int, count: int, seed: int) -> list[tuple[str, str, int | None]]:
    """count queries (normalized text, kind, source claim id): half near-duplicates, half novel."""
    gen = Generator(cached_vocabulary(store_path.parent, seed), seed + NOVEL_SEED_OFFSET)
    r = random.Random(seed + 7)
    ids = r.sample(range(1, n + 1), min(n, count // 2))
    db = sqlite3.connect(f"file:{store_path}?mode=ro", uri=True)
    texts: dict[int, str] = {}
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        marks = ",".join("?" * len(chunk))
        texts.update(db.execute(f"SELECT id, normalized FROM claims WHERE id IN ({marks})", chunk).fetchall())
    db.close()
    out: list[tuple[str, str, int | None]] = [(near_duplicate(texts[i], gen, r), "near", i) for i in ids]
    out += [(gen.sentence(), "novel", None) for _ in range(count - len(out))]
    r.shuffle(out)
    return out


STEPS = ("fingerprint", "find_exact", "canon", "sketch", "candidates", "screen+decide")


def measure(
    path: Path, n: int, count: int, warmup: int, seed: int, novelty: NoveltySettings, matcher: str
) -> dict[str, object]:
    """Time the novelty path (of matcher) for count queries against the store at path (run in a fresh process)."""
    rss_start = _peak_rss_mb()
    queries = _queries(path, n, count + warmup, seed)
    warm, timed = queries[:warmup], queries[warmup:]
    signer = Signer(shingle=novelty.shingle, bands=novelty.bands, rows=novelty.rows)
    canon = Canon(load_aliases()) if matcher == "canon" else None  # built once, like Deps.canon
    if canon is not None:
        import cn2an  # noqa: F401  # canon imports it on first use: once per process, not per claim
    # keys are computed by claims.split before novelty sees a claim: not part of the timed path
    prepared = [(key_of(text), text, kind, source) for text, kind, source in timed]
    rss_ready = _peak_rss_mb()
    clock = time.perf_counter
    shingle, threshold = novelty.shingle, novelty.threshold
    with Store(path) as store:
        for text, _kind, _source in warm:
            key = key_of(text)
            exact = store.find_exact_many([fingerprint(key)]).get(fingerprint(key))
            if exact is None:
                ctext = text if canon is None else canon(text)
                ckey = key if canon is None else key_of(ctext)
                sketch = signer.sketch(ckey)
                ids = plausible(sketch.signature, store.candidates(sketch.buckets), threshold)
                stored = store.claim_texts(ids)
                if canon is not None:
                    stored = [(i, canon(c)) for i, c in stored]
                offered = [Candidate(i, c, key_of(c)) for i, c in stored]
                decide(ckey, ctext, offered, shingle=shingle, threshold=threshold)
        totals = dict.fromkeys(STEPS, 0.0)
        per_claim: list[float] = []
        results = []
        for key, text, kind, source in prepared:
            # monitor.pipeline.ingest_verdicts' per-claim path, step by step (an exact hit skips the rest)
            t0 = clock()
            fp = fingerprint(key)
            t1 = clock()
            exact = store.find_exact_many([fp]).get(fp)
            t2 = clock()
            if exact is not None:
                match = Match(exact, "exact", 1.0)
                t3 = t4 = t5 = t6 = t7 = t8 = clock()
                cands, buckets = [], []
            else:
                if canon is None:
                    ctext, ckey = text, key
                else:
                    ctext = canon(text)
                    ckey = key_of(ctext)
                t3 = clock()
                sketch = signer.sketch(ckey)
                t4 = clock()
                cands = store.candidates(sketch.buckets)
                t5 = clock()
                ids = plausible(sketch.signature, cands, threshold)
                stored = store.claim_texts(ids)
                t6 = clock()
                if canon is not None:
                    stored = [(i, canon(c)) for i, c in stored]
                t7 = clock()
                texts = [Candidate(i, c, key_of(c)) for i, c in stored]
                match = decide(ckey, ctext, texts, shingle=shingle, threshold=threshold)
                t8 = clock()
                buckets = sketch.buckets
            took = (t1 - t0, t2 - t1, (t3 - t2) + (t7 - t6), t4 - t3, t5 - t4, (t6 - t5) + (t8 - t7))
            for step, part in zip(STEPS, took, strict=True):
                totals[step] += part
            per_claim.append(t8 - t0)
            results.append((kind, source, match, len(cands), buckets))
        rss_after = _peak_rss_mb()
        # how many index rows the candidates query reads (outside the timed loop)
    sample = [buckets for *_, buckets in results[:: max(1, len(results) // 500)] if buckets]
    posting = []
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    for buckets in sample:
        marks = ",".join("?" * len(buckets))
        (rows,) = db.execute(f"SELECT count(*) FROM lsh_buckets WHERE bucket IN ({marks})", buckets).fetchone()
        posting.append(rows)
    db.close()
    near = [(src, m) for kind, src, m, _, _ in results if kind == "near"]
    novel = [m for kind, _, m, _, _ in results if kind == "novel"]
    us = sorted(t * 1e6 for t in per_claim)
    total = sum(per_claim)
    by_kind = {
        kind: statistics.fmean(t * 1e6 for t, res in zip(per_claim, results, strict=True) if res[0] == kind)
        for kind in ("near", "novel")
    }
    return {
        "n": n,
        "matcher": matcher,
        "queries": len(results),
        "us_mean": statistics.fmean(us),
        "us_median": statistics.median(us),
        "us_p95": us[int(0.95 * (len(us) - 1))],
        "us_near": by_kind["near"],
        "us_novel": by_kind["novel"],
        "step_us": {step: totals[step] / len(results) * 1e6 for step in STEPS},
        "step_share": {step: totals[step] / total for step in STEPS},
        "recall_near_same": sum(1 for src, m in near if m.kind == "near" and m.claim_id == src) / max(len(near), 1),
        "recall_near_any": sum(1 for _, m in near if m.kind != "new") / max(len(near), 1),
        "false_positive_novel": sum(1 for m in novel if m.kind != "new") / max(len(novel), 1),
        "candidates_mean": statistics.fmean(r[3] for r in results),
        "candidates_capped": sum(1 for r in results if r[3] >= MAX_CANDIDATES) / len(results),
        "posting_rows_mean": statistics.fmean(posting) if posting else 0.0,
        "posting_rows_max": max(posting, default=0),
        "rss_start_mb": rss_start,
        "rss_ready_mb": rss_ready,
        "peak_rss_mb": rss_after,
        "file_bytes": path.stat().st_size + sum(
            p.stat().st_size for p in (Path(f"{path}-wal"), Path(f"{path}-shm")) if p.exists()
        ),
    }


# -- the driver ------------------------------------------------------------------------------------


def _child(args: argparse.Namespace) -> None:
    novelty = NoveltySettings()
    path = Path(args.store)
    if args.child == "build":
        info = build(path, args.n, novelty, args.seed, args.build, args.workers, args.matcher)
        Path(f"{path}.build.json").write_text(json.dumps(info), "utf-8")
        print(json.dumps(info))
    else:
        print(json.dumps(measure(path, args.n, args.queries, args.warmup, args.seed, novelty, args.matcher)))


def _run_child(argv: list[str]) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), *argv], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        sys.stderr.write(done.stderr)
        raise SystemExit(f"child {' '.join(argv)} failed with status {done.returncode}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _prepare_cache(cache: Path) -> None:
    cache.mkdir(parents=True, exist_ok=True)
    ignore = cache / ".gitignore"
    if not ignore.exists():
        ignore.write_text("# benchmark stores, rebuilt on demand by benchmarks/novelty.py\n*\n", "utf-8")


def _mb(n: float) -> str:
    return f"{n / 1e6:,.1f} MB"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--sizes", default="1000,100000,1000000", help="stored claims, comma-separated")
    parser.add_argument("--queries", type=int, default=4000, help="timed query claims, half near-duplicates")
    parser.add_argument("--warmup", type=int, default=200, help="untimed queries run first")
    parser.add_argument("--seed", type=int, default=20240730)
    parser.add_argument("--build", choices=("bulk", "add_claim"), default="bulk", help="how to fill the store")
    parser.add_argument("--matcher", choices=MATCHERS, default="canon",
                        help="canon: near-duplicates in the canonical form (the pipeline now); plain: before it")
    parser.add_argument("--rebuild", action="store_true", help="build the stores even if cached")
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="where built stores are kept")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="processes computing sketches")
    parser.add_argument("--child", choices=("build", "measure"), help=argparse.SUPPRESS)
    parser.add_argument("--store", help=argparse.SUPPRESS)
    parser.add_argument("--n", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args)
        return

    novelty = NoveltySettings()
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    _prepare_cache(args.cache)
    matcher = args.matcher if args.matcher == "plain" else f"canon ({Canon(load_aliases()).parameters})"
    print(f"novelty lookup benchmark, matcher {matcher}: {asdict(novelty)}, MAX_CANDIDATES={MAX_CANDIDATES}, "
          f"{args.queries} queries (half near-duplicates), {args.warmup} warm-up; python {sys.version.split()[0]}, "
          f"sqlite {sqlite3.sqlite_version}, {os.cpu_count()} cores")
    results: dict[int, dict[str, Any]] = {}
    for n in sizes:
        path = args.cache / f"{_store_name(n, novelty, args.seed, args.build, args.matcher)}.sqlite3"
        common = ["--store", str(path), "--n", str(n), "--seed", str(args.seed), "--matcher", args.matcher]
        if args.rebuild or not path.exists():
            for stale in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
                stale.unlink(missing_ok=True)
            print(f"\n[{n:,} claims] building {path.name} ({args.build}) ...", flush=True)
            info = _run_child(["--child", "build", "--build", args.build, "--workers", str(args.workers), *common])
            print(f"  built in {info['seconds_total']} s (generate {info['seconds_generate']} s, sketches "
                  f"{info['seconds_sign']} s, insert {info['seconds_insert']} s), build peak RSS "
                  f"{info['build_peak_rss_mb']} MB")
        else:
            info_path = Path(f"{path}.build.json")
            info = json.loads(info_path.read_text("utf-8")) if info_path.exists() else {}
            print(f"\n[{n:,} claims] cached {path.name} (built in {info.get('seconds_total', '?')} s)")
        res = _run_child(["--child", "measure", "--queries", str(args.queries), "--warmup", str(args.warmup), *common])
        results[n] = res
        steps = res["step_us"]
        assert isinstance(steps, dict)
        print(f"  lookup: {res['us_mean']:.1f} µs/claim mean, {res['us_median']:.1f} median, "
              f"{res['us_p95']:.1f} p95 (near-dup queries {res['us_near']:.1f}, novel {res['us_novel']:.1f})")
        print("  steps (µs/claim): " + ", ".join(f"{s} {steps[s]:.1f}" for s in STEPS))
        print(f"  candidates per lookup: {res['candidates_mean']:.1f} mean, {res['candidates_capped']:.1%} at the "
              f"cap of {MAX_CANDIDATES}; index rows read by candidates(): {res['posting_rows_mean']:.1f} mean, "
              f"{res['posting_rows_max']} max")
        if info:
            print(f"  index: {info['index_rows']:,} lsh rows in {info['distinct_buckets']:,} buckets, longest "
                  f"posting list {info['max_posting']:,}, row-weighted mean posting length "
                  f"{info['row_weighted_posting']}")
        print(f"  recall of near-duplicates: {res['recall_near_same']:.1%} (to their own source; "
              f"{res['recall_near_any']:.1%} matched at all); novel queries matched: {res['false_positive_novel']:.1%}")
        print(f"  peak RSS {res['peak_rss_mb']:.1f} MB (after imports {res['rss_start_mb']:.1f} MB, with queries "
              f"prepared {res['rss_ready_mb']:.1f} MB); store file {_mb(res['file_bytes'])}")

    print("\nsummary")
    header = ("claims", "µs/claim", "median", "p95", "peak RSS", "store file", "recall")
    print("  " + " ".join(f"{h:>{w}}" for h, w in zip(header, (10, 9, 8, 8, 10, 12, 7), strict=True)))
    for n, res in results.items():
        print(f"  {n:>10,} {res['us_mean']:>9.1f} {res['us_median']:>8.1f} {res['us_p95']:>8.1f} "
              f"{res['peak_rss_mb']:>7.1f} MB {_mb(res['file_bytes']):>12} {res['recall_near_same']:>7.1%}")
    small, big = min(results), max(results)
    if small != big:
        ratio = results[big]["us_mean"] / results[small]["us_mean"]
        verdict = "met" if ratio <= 2 else "NOT met"
        print(f"  µs/claim at {big:,} / at {small:,}: {ratio:.2f}x (target <= 2x: {verdict})")
    peak = results[big]["peak_rss_mb"]
    print(f"  peak RSS at {big:,}: {peak:.1f} MB (target < 500 MB: {'met' if peak < 500 else 'NOT met'})")


if __name__ == "__main__":
    main()
