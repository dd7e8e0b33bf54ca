#!/usr/bin/env python
"""Benchmark: does the near-duplicate index surface the claim a paraphrase repeats, and at what cost per claim,
as the store grows?

What it measures
----------------
For stores of 10^3, 10^5 and 10^6 claims (``--sizes``), the per-claim novelty path exactly as
``monitor.pipeline.ingest_verdicts`` runs it for a claim with no exact match, from the claim's normalized text
and matching key (``claims.split`` computes the key before novelty sees a claim)::

    fingerprint(key) -> store.find_exact_many([fp])                    (the claim's own key)
        -> canonical = canon(text); ckey = key_of(canonical); codes(ckey, shingle)        (Deps.sketch)
        -> store.candidates(codes)                  (the index: the rarest shingles' lists first, at most
                                                     MAX_CANDIDATES (id, canonical text), see monitor.store)
        -> [Candidate(id, text, key_of(text)) ...]
        -> novelty.decide(key_of(canonical), canonical, candidates)   (Jaccard + figures, exact)

The canonical form is one ``Canon(load_aliases())``, built once like ``Deps.canon``. The pipeline also offers
the claims of documents the new one already repeats (its document hints): they are extra, not measured here,
so the recall below is the index's alone. The timed steps are fingerprint, find_exact, canon, key_of, codes,
candidates, candidate keys (key_of of each candidate's text) and decide (which includes the pipeline's second
key_of of the canonical text). Nothing is written during the lookups.

The queries are paraphrases of stored claims, bucketed by their similarity to the claim they were made from
(the Jaccard similarity of the character-bigram sets of the two canonical keys, as ``decide`` computes it) into
four bands, 0.3-0.4, 0.4-0.5, 0.5-0.7 and >= 0.7, an equal number in each (``--per-band``, default 1000), plus
as many novel sentences from the same generator. A paraphrase is a stored claim with 1 to 12 word-level edits:
a span of 1-3 characters deleted, or replaced by a vocabulary word; a vocabulary word inserted; a clause of 3-8
characters moved elsewhere. Edits never touch a figure, and an edit that changes the figures the text states
(``monitor.figures``, in the text and in its canonical form) is undone, so every paraphrase states its source's
figures and ``decide`` should call it near. A query whose fingerprint is stored (an exact hit) is dropped, so
every timed lookup runs the whole path. Per size it prints, per band:

- *candidate recall*: the fraction of queries whose source claim is among the candidates ``store.candidates``
  returns (what reaches the exact comparison);
- *verdict recall*: the fraction ``decide`` calls near to their very source;
- *errors*: lookups where ``decide`` raised (``monitor.figures.read`` raises ValueError on a range of Chinese
  numerals such as 一到一 or 十到一, which the generator makes about twice in 10^4 claims); counted as misses of
  the verdict, the example printed;
- for the candidate misses, why (computed after the timed loop): the source is in the kept head (the first
  ``LIST_READ`` entries) of none of the query's shingles' lists (the index line above says how many lists are
  longer than that: in the synthetic stores, none); the lists it is on were not read (beyond ``READ_BUDGET``);
  or it was read and cut by ``MAX_CANDIDATES`` (too few shared lists read to rank among the first);
- how many index entries must be read before the first list the source is listed on (p50/p90/p99/max, "never" if
  it is on none of the query's lists): what READ_BUDGET must at least cover; not enough on its own, since the
  source must then outrank the other claims read by the number of lists they share with the query;

and for all queries: microseconds per lookup (mean, median, p95; each step's mean; the process's CPU time per
lookup beside the wall-clock time), the index entries a lookup reads (the sum of min(listed, LIST_READ) over the
lists it reads, recomputed outside the timed loop), candidates per lookup, novel queries called near (or flagged
as conflicts), the peak RSS of the measuring process (VmHWM: ``ru_maxrss`` would carry over the peak of the
process that forked it) and the store file's size. Then the targets (issue 11): candidate recall >= 99% in every
band at every size, µs per lookup at 10^6 at most 2x that at 10^3, peak RSS at 10^6 under 500 MB.

Lookups are timed twice, in separate processes: with the caches of the novelty path as the run leaves them
(*warm*: the figures read from a text, ``monitor.figures.read``, and a stored claim's shingle set, both kept for
the last few ten thousand texts), and with those caches emptied before each lookup (*cold*, untimed:
``novelty.clear_caches``). They measure different things. At 10^3 the 4,000 paraphrases are made from 1,000
stored claims, so a lookup mostly meets candidates an earlier one already compared, and their figures and
shingle sets come from the caches; at 10^6 almost none do. The warm ratio of 10^6 to 10^3 therefore mixes the
store's size with how often the queries repeat their sources; the cold one compares what a lookup does at each
size for a claim whose candidates the process has not compared before, which is what the target is about (the
cost of the index as the store grows), and it is the one checked against 2x. Both are printed. The order of the
two processes alternates from round to round.

Each size is built and measured in fresh subprocesses (``--child build`` / ``--child measure``), so the peak
memory printed is that of a process that only opened the store, prepared its queries and ran the lookups. The
sizes are measured in turn, ``--rounds`` times (default 3), and each size's round with the median mean is
printed, so a machine busy for a while weighs on every size alike; the queries and recalls are the same in every
round.

(``--matcher plain``, which timed MinHash LSH over the raw keys, is gone with that index: the store no longer has
signatures or buckets, and the canonical form is the only matcher.)

The synthetic store
-------------------
Claims are Chinese sentences of 20 to 80 characters made of "words" drawn with a Zipf-Mandelbrot distribution
(exponent 1.05) from a vocabulary cut from the normalized seed texts (``seeds/``) and the reference texts of the
76 real extraction pages (``eval/extraction/*/gold/*``): runs of CJK characters chopped into pieces of 1-4
characters, plus Latin tokens such as "Llama", "GPU"; commas sprinkled in, and a figure ("35万", "3.1", "2024年",
"60%") in about half of them. They are stored as normalized (Simplified) text, as the pipeline stores them. The
seeds alone (65 KB, one story) made unrelated sentences far more alike than real ones; how alike the synthetic
claims are is measured and printed first, next to the real claims of the seeds and of the extraction pages
(``claims.split`` of each text): the mean and 99th percentile of the Jaccard similarity of 20,000 random pairs
of distinct claims (canonical keys, bigrams). The synthetic claims are longer on average (about 50 characters
against 35), which is printed too.

Rows go into the real schema (``monitor.store.sqlite.schema``, created by opening a ``monitor.store.Store``), made
by the pipeline's own functions: ``novelty.fingerprint`` of the key, ``Deps.sketch`` (canonical text and shingle codes,
default ``NoveltySettings``), ``store.rarest``. One document row per 40 claims, one claims, canonical and
occurrences row per claim, and the index exactly as the pipeline leaves it: claims in id order, each listed under
``rarest(codes, have)`` with ``have`` the shingle counts of the claims before it (as ``Store.add_claim`` and
``Store.ensure_index`` do), ``postings`` with each shingle's claims, listed claims and its list's head (the first
``LIST_READ`` listed, oldest first), and meta 'index' set to the parameters ``Deps.ensure_index`` writes (so the
pipeline opening the store would not rebuild it; the build checks that ``Store.ensure_index`` with those parameters
re-indexes nothing). The default bulk path computes sketches (``Deps.sketch``) on every core, five thousand claims a
chunk; this process takes the chunks in id order, inserts their rows with ``executemany`` (one transaction) and
chooses their listed shingles with NumPy, exactly as ``rarest`` would one claim after another (``_Listing``; every
97th claim is checked against ``store.rarest`` itself); the index rows go in last, one per shingle, sorted (so its
B-tree pages are fuller than after the pipeline's one-claim-at-a-time inserts: the file is somewhat smaller than a
grown one). ``--build add_claim`` goes through ``Deps.ensure_index``, ``Store.save_document``, ``Store.add_claim``
and ``Store.add_occurrences`` instead (slow at 10^6). At sizes up to 10^4 both are built and their index tables
(postings, canonical, claims, meta 'index') compared row for row; the result is printed. No ANALYZE is run: the
query plans are those of a real store.

Built stores are cached in ``benchmarks/.cache/`` (created with a ``.gitignore`` of ``*``); reruns only measure.
A store's name holds everything its rows depend on: size, seed, build path, shingle size, ``LISTED_SHINGLES``,
``Canon.parameters``, a digest of the canonical form of the first 20,000 claims (the canonical form has changed
once without ``canon.VERSION`` changing, which Canon.parameters cannot see), ``GENERATOR_VERSION`` and the schema
version (the index tables). Building
10^6 takes 1.5 to 2 minutes on two cores, with a peak of 1.6 GB of memory, and 1.1 GB of disk; ``--rebuild``
forces new builds.

What-ifs: ``--listed-shingles``, ``--read-budget`` and ``--max-candidates`` set the
constants of ``monitor.store`` in the building and measuring processes (a store built with another
``LISTED_SHINGLES`` is a store of its own), to see what a change would buy and cost; by default the store's own
values are used.

Measured here
-------------
Two cores, Python 3.11, SQLite 3.40; 1,000 paraphrases per band. Candidate recall per band (0.3-0.4 / 0.4-0.5 /
0.5-0.7 / >=0.7): 100 / 100 / 100 / 100 % at 10^3, 99.8 / 99.9 / 100 / 100 % at 10^5, 99.3 / 99.9 / 100 / 100 %
at 10^6 (the 8 misses at 10^6 were read and cut by MAX_CANDIDATES); verdict recall the same. Lookup, caches
cold: 400-430 µs at 10^3 (14 index entries read, 6.4 candidates), 650 µs at 10^5 (121 entries), 690-730 µs at
10^6 (417 entries in 16 lists, 8 candidates): 1.70-1.78x the figure at 10^3 in four runs of 3 to 5 rounds, and
2.06x in a fifth whose 10^6 rounds spread from 679 to 931 µs. Caches warm: 330-365 µs at 10^3, 790-840 µs at
10^6, 2.3-2.4x. Peak RSS at 10^6: 460 MB (the store file's pages the lookups touch through mmap count in it);
the file is 966 MB.

What changed the figures (issue 11, third session): the index went from a row per (shingle, claim) and a
counts table to one row per shingle with its counts and the head of its list (one seek a shingle, 11 % smaller
file); lookups read the lists of the query's rarest shingles first instead of the shortest lists (the ones a
claim is listed under: at 10^6, 400 entries read that way find what 600 read shortest-first did, and more);
MAX_CANDIDATES went from 16 to 8 (recall at 10^6 in the lowest band: 99.1 % before, 99.3 % after). Before:
1,400 µs at 10^6 against 406 µs at 10^3 (3.5x, caches warm), 600 entries read, 16 candidates.

Run
---
::

    .venv/bin/python benchmarks/novelty.py                       # 10^3, 10^5, 10^6; 1000 queries per band
    .venv/bin/python benchmarks/novelty.py --sizes 1000,100000   # quicker
    .venv/bin/python benchmarks/novelty.py --sizes 1000,1000000 --max-candidates 32   # a what-if

Options: ``--sizes`` comma-separated store sizes; ``--per-band`` paraphrase queries per band (and novel
queries); ``--warmup`` untimed lookups run first (default 200); ``--rounds``; ``--seed``; ``--build bulk|add_claim``;
``--rebuild``; ``--cache DIR``; ``--workers`` processes computing sketches (default: cores); the what-ifs above.
This is an on-demand measurement (``make bench``), not a test: it asserts nothing.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
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
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import numpy as np

from monitor import figures as figs
from monitor.canon import Canon
from monitor.config import NoveltySettings
from monitor.extracting import settle_collector
from monitor.keys import key_of
from monitor.models import Candidate, Claim, Document, Fetched, Match, Sketch
from monitor.normalize import Normalizer
from monitor.novelty import clear_caches, codes, decide, fingerprint, jaccard, shingles
from monitor.pipeline import Deps
from monitor.store import Store
from monitor.store import sql as store_mod
from monitor.store.sql import rarest
from monitor.store.sqlite.schema import MIGRATIONS

ROOT = Path(__file__).resolve().parents[1]
SEEDS = sorted((ROOT / "seeds").glob("*.txt"))
GOLD = sorted((ROOT / "eval" / "extraction").glob("*/gold/*"))
DEFAULT_CACHE = ROOT / "benchmarks" / ".cache"
#: bump when the generator, the build or the schema changes, so cached stores are not reused
#: (2: claims carry the MinHash signature; 3: signatures in the sketches table; 4: occurrences a rowid table;
#: 5: 31-bit bucket ids; 6: the shingle index of migration 7, vocabulary from the seeds and the extraction pages)
GENERATOR_VERSION = 6
CLAIMS_PER_DOCUMENT = 40
MIN_CHARS, MAX_CHARS = 20, 80
ZIPF_EXPONENT, ZIPF_SHIFT = 1.05, 2.7
NOW = datetime(2024, 7, 30, 12, 0, tzinfo=UTC)
#: a novel query's generator seed is the store's plus this
NOVEL_SEED_OFFSET = 1_000_003
#: the Jaccard bands of the paraphrase queries: [low, high)
BANDS = ((0.3, 0.4), (0.4, 0.5), (0.5, 0.7), (0.7, 1.01))
BAND_NAMES = ("0.3-0.4", "0.4-0.5", "0.5-0.7", ">=0.7")
#: paraphrases get 1 to this many edits
MAX_EDITS = 12
#: random pairs for the background similarity, and synthetic claims they are drawn from
BACKGROUND_PAIRS = 20_000
#: stores up to this size are built both ways and their index tables compared
CHECK_UPTO = 10_000
#: the bulk build checks its choice of a claim's listed shingles against store.rarest every this many claims
CHECK_EVERY = 97
#: the constants of monitor.store a run may set (the what-ifs)
KNOBS = ("LISTED_SHINGLES", "READ_BUDGET", "MAX_CANDIDATES")

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
    """Zipf-distributed words from the vocabulary, assembled into sentences of 20-80 chars."""

    def __init__(self, words: list[str], seed: int) -> None:
        self.words = words
        ranks = np.arange(len(words), dtype=np.float64)
        weights = 1.0 / (ranks + ZIPF_SHIFT) ** ZIPF_EXPONENT
        self._p = weights / weights.sum()
        self._np = np.random.default_rng(seed)
        self._r = random.Random(seed)
        self._pool: list[int] = []

    def word(self) -> str:
        if not self._pool:
            self._pool = self._np.choice(len(self.words), size=200_000, p=self._p).tolist()
        return self.words[self._pool.pop()]

    def sentence(self) -> str:
        r = self._r
        target = r.randint(MIN_CHARS, MAX_CHARS)
        parts: list[str] = []
        length = 0
        while True:
            word = self.word()
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
    """Words from the normalized seeds and extraction pages' reference texts, most frequent first: CJK runs
    chopped into 1-4 characters, and Latin tokens."""
    normalizer = Normalizer("t2s")
    r = random.Random(seed)
    counts: Counter[str] = Counter()
    for path in [*SEEDS, *GOLD]:
        text = normalizer.normalize(path.read_text("utf-8"))
        for run in _CJK.findall(text):
            i = 0
            while i < len(run):
                size = r.choices((1, 2, 3, 4), weights=(30, 50, 12, 8))[0]
                counts[run[i : i + size]] += 1
                i += size
        counts.update(_LATIN.findall(text))
    return sorted(counts, key=lambda w: (-counts[w], w))


def cached_vocabulary(cache: Path, seed: int) -> list[str]:
    """vocabulary(seed), kept as JSON in the cache (the measuring process need not build OpenCC)."""
    path = cache / f"vocabulary-seed{seed}-v{GENERATOR_VERSION}.json"
    if not path.exists():
        path.write_text(json.dumps(vocabulary(seed), ensure_ascii=False), "utf-8")
    words: list[str] = json.loads(path.read_text("utf-8"))
    return words


def _claims(words: list[str], n: int, seed: int) -> tuple[list[str], list[str]]:
    """n distinct-keyed normalized sentences and their keys (those of a smaller n are a prefix)."""
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


# -- how alike unrelated claims are ----------------------------------------------------------------


@dataclass(frozen=True)
class Background:
    claims: int
    mean_chars: float
    mean: float
    p99: float


def background(keys: Sequence[str], shingle: int, seed: int) -> Background:
    """Jaccard similarity of BACKGROUND_PAIRS random pairs of distinct claims (canonical keys)."""
    grams = [shingles(k, shingle) for k in keys]
    r = random.Random(seed)
    values = sorted(jaccard(*(grams[i] for i in r.sample(range(len(grams)), 2))) for _ in range(BACKGROUND_PAIRS))
    return Background(len(keys), statistics.fmean(map(len, keys)), statistics.fmean(values),
                      values[int(0.99 * (len(values) - 1))])


def real_keys(paths: Sequence[Path], canon: Canon) -> list[str]:
    """The canonical keys of the claims of real texts, as the pipeline splits them."""
    from monitor import claims as claims_mod

    normalizer = Normalizer("t2s")
    keys = []
    for path in paths:
        found, _ = claims_mod.split(path.read_text("utf-8"), normalizer.normalize_many, key_of)
        keys += [key_of(canon(claim.normalized)) for claim in found]
    return keys


# -- paraphrases -----------------------------------------------------------------------------------


def _figures(text: str, canon: Canon) -> tuple[Counter[figs.Figure], Counter[figs.Figure]] | None:
    """The figures of a text and of its canonical form; None if monitor.figures cannot read them (it raises
    ValueError on a range of Chinese numerals such as 一到一: see measure)."""
    try:
        return Counter(figs.read(text)), Counter(figs.read(canon(text)))
    except ValueError:
        return None


def paraphrase(text: str, edits: int, gen: Generator, r: random.Random, canon: Canon) -> str:
    """text with ``edits`` word-level edits (delete 1-3 chars, replace 1-3 chars with a word, insert a word, move
    a clause of 3-8 chars) on CJK characters outside its figures; an edit that changes the figures is undone.
    A text whose figures cannot be read comes back as it is."""
    stated = _figures(text, canon)
    if stated is None:
        return text
    chars = list(text)
    for _ in range(edits):
        for _attempt in range(10):
            held = {i for f in figs.read("".join(chars)) for i in range(*f.span)}
            free = [i for i, ch in enumerate(chars) if i not in held and _CJK.fullmatch(ch)]
            if len(free) < 4:
                return "".join(chars)
            op = r.choice(("delete", "replace", "insert", "move"))
            size = r.randint(3, 8) if op == "move" else r.randint(1, 3)
            start = r.choice(free)
            span = range(start, start + size)
            if op != "insert" and not all(i in free for i in span):
                continue
            edited = list(chars)
            if op == "delete":
                del edited[start : start + size]
            elif op == "replace":
                edited[start : start + size] = list(gen.word())
            elif op == "insert":
                edited[start:start] = list(gen.word())
            else:
                clause = edited[start : start + size]
                del edited[start : start + size]
                at = r.choice([i for i in range(len(edited) + 1) if i != start])
                edited[at:at] = clause
            if _figures("".join(edited), canon) == stated:
                chars = edited
                break
    return "".join(chars)


@dataclass(frozen=True)
class Query:
    text: str
    key: str
    #: a band's index, or -1 for a novel sentence
    band: int
    source: int | None
    similarity: float


def _band(similarity: float) -> int | None:
    for i, (low, high) in enumerate(BANDS):
        if low <= similarity < high:
            return i
    return None


def make_queries(path: Path, n: int, per_band: int, novel: int, seed: int, canon: Canon, shingle: int,
                 words: list[str]) -> tuple[list[Query], dict[str, int]]:
    """per_band paraphrases of stored claims in each band and ``novel`` new sentences, none an exact hit."""
    gen = Generator(words, seed + NOVEL_SEED_OFFSET)
    r = random.Random(seed + 7)
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    wanted = [per_band] * len(BANDS)
    out: list[Query] = []
    tried = 0
    while any(wanted):
        ids = [r.randint(1, n) for _ in range(500)]
        marks = ",".join("?" * len(ids))
        texts = dict(db.execute(f"SELECT id, normalized FROM claims WHERE id IN ({marks})", ids).fetchall())
        for source in ids:
            tried += 1
            text = paraphrase(texts[source], r.randint(1, MAX_EDITS), gen, r, canon)
            key = key_of(text)
            if key == key_of(texts[source]):
                continue
            similarity = jaccard(shingles(key_of(canon(text)), shingle),
                                 shingles(key_of(canon(texts[source])), shingle))
            band = _band(similarity)
            if band is None or not wanted[band]:
                continue
            wanted[band] -= 1
            out.append(Query(text, key, band, source, similarity))
    out += [Query(text, key_of(text), -1, None, 0.0) for text in (gen.sentence() for _ in range(novel))]
    stored = _stored_fingerprints(db, [fingerprint(q.key) for q in out])
    db.close()
    kept = [q for q in out if fingerprint(q.key) not in stored]
    dropped = len(out) - len(kept)
    r.shuffle(kept)
    return kept, {"paraphrases_tried": tried, "exact_hits_dropped": dropped}


def _stored_fingerprints(db: sqlite3.Connection, prints: list[int]) -> set[int]:
    found: set[int] = set()
    for start in range(0, len(prints), 500):
        chunk = prints[start : start + 500]
        marks = ",".join("?" * len(chunk))
        found.update(fp for (fp,) in db.execute(f"SELECT fingerprint FROM claims WHERE fingerprint IN ({marks})",
                                                 chunk))
    return found


# -- building a store ------------------------------------------------------------------------------


class _Parameters:
    """Stands in for the store when asking Deps what it indexes with: records the parameters it passes."""

    value = ""

    def ensure_index(self, parameters: str, sketch: Callable[[str], Sketch]) -> int:
        self.value = parameters
        return 0


def _deps(novelty: NoveltySettings) -> tuple[Deps, str]:
    """The pipeline's Deps (for Deps.canon and Deps.sketch), and the index parameters Deps.ensure_index writes."""
    recorder = _Parameters()
    deps = Deps(cast(Store, recorder), novelty=novelty)
    deps.ensure_index()
    return deps, recorder.value


_worker_deps: Deps | None = None


def _init_worker(shingle: int, knobs: dict[str, int]) -> None:
    global _worker_deps
    _set_knobs(knobs)
    _worker_deps = _deps(NoveltySettings(shingle=shingle))[0]


def _sketch(texts: list[str]) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Deps.sketch of each text: canonical texts, all codes in one array, and each text's number of codes."""
    assert _worker_deps is not None
    made = [_worker_deps.sketch(t) for t in texts]
    flat = np.fromiter((c for s in made for c in s.codes), dtype=np.int64)
    return [s.canonical for s in made], flat, np.array([len(s.codes) for s in made], dtype=np.int64)


def _store_name(n: int, shingle: int, seed: int, how: str, canon: str) -> str:
    """``canon``: Canon.parameters and a digest of the canonical form of the first claims (the canonical form
    has changed without Canon.VERSION changing)."""
    return (f"novelty-n{n}-shingle{shingle}-listed{store_mod.LISTED_SHINGLES}-seed{seed}-{how}-{canon}"
            f"-v{GENERATOR_VERSION}-schema{len(MIGRATIONS)}.sqlite3")


def build(path: Path, n: int, novelty: NoveltySettings, seed: int, how: str, workers: int,
          knobs: dict[str, int]) -> dict[str, object]:
    """Build a store of n synthetic claims at path; returns what the build took."""
    started = time.perf_counter()
    texts, keys = _claims(cached_vocabulary(path.parent, seed), n, seed)
    fps = [fingerprint(k) for k in keys]
    if how == "bulk":
        del keys[:]
    if len(set(fps)) != n:
        raise SystemExit("fingerprint collision among generated claims; change --seed")
    generated = time.perf_counter()
    deps, parameters = _deps(novelty)
    tmp = path.with_suffix(".building")
    for leftover in (tmp, Path(f"{tmp}-wal"), Path(f"{tmp}-shm")):
        leftover.unlink(missing_ok=True)
    Store(tmp).close()  # the real schema, migrations and WAL mode
    timing: dict[str, float] = {}
    if how == "add_claim":
        _insert_via_store(tmp, texts, keys, fps, novelty, deps)
    else:
        _insert_bulk(tmp, texts, fps, parameters, novelty.shingle, workers, knobs, timing)
    inserted = time.perf_counter()
    with Store(tmp) as store:  # what the pipeline does first: the index must already match its parameters
        reindexed = store.ensure_index(parameters, deps.sketch)
    stats = _index_stats(tmp)
    tmp.rename(path)
    for suffix in ("-wal", "-shm"):
        Path(f"{tmp}{suffix}").unlink(missing_ok=True)
    return {
        "n": n,
        "how": how,
        "parameters": parameters,
        "reindexed_on_open": reindexed,
        "seconds_generate": round(generated - started, 1),
        **({f"seconds_{k}": round(v, 1) for k, v in timing.items()} if timing else
           {"seconds_insert": round(inserted - generated, 1)}),
        "seconds_total": round(time.perf_counter() - started, 1),
        "build_peak_rss_mb": round(_peak_rss_mb(), 1),
        **stats,
    }


def _document_rows(count: int) -> list[tuple[object, ...]]:
    stamp = NOW.isoformat()
    return [
        (i, f"bench://doc/{i}", "bench", f"{i:064x}", None, None, f"文档{i}", "bench", None, "2024-07-30",
         "utf-8", stamp, stamp)
        for i in range(1, count + 1)
    ]


class _Listing:
    """The shingles each claim is listed under, chosen chunk after chunk of claims in id order, exactly as
    store.rarest chooses them (the LISTED_SHINGLES codes of a claim fewest claims before it have, ties in the order
    of (code * _MIX) mod 2^64), with NumPy: for every (claim, code) the claims before it having the code are the
    count of earlier chunks plus its earlier occurrences in this chunk, and one sort by (claim, that count, mix)
    orders every claim's codes at once. Every CHECK_EVERY-th claim is checked against store.rarest itself."""

    def __init__(self) -> None:
        #: every code seen so far, sorted, with its claims and listed rows (the shingle_counts table)
        self.codes = np.zeros(0, np.int64)
        self.claims = np.zeros(0, np.int64)
        self.listed = np.zeros(0, np.int64)
        #: the index rows (shingle, claim id), chunk by chunk
        self.rows_code: list[np.ndarray] = []
        self.rows_id: list[np.ndarray] = []

    def take(self, first: int, flat: np.ndarray, counts: np.ndarray) -> None:
        """The claims first + 1, first + 2, ... whose codes are ``flat``, ``counts`` of them each."""
        unique, inverse = np.unique(flat, return_inverse=True)
        at = np.searchsorted(self.codes, unique)
        known = at < len(self.codes)
        known[known] = self.codes[at[known]] == unique[known]
        before = np.zeros(len(unique), np.int64)
        before[known] = self.claims[at[known]]
        # earlier occurrences in this chunk: a claim's codes are distinct, so a stable sort by code keeps them
        # in claim order
        grouped = np.argsort(inverse, kind="stable")
        ordered = inverse[grouped]
        earlier = np.empty(len(flat), np.int64)
        earlier[grouped] = np.arange(len(flat)) - np.searchsorted(ordered, ordered, side="left")
        have = before[inverse] + earlier
        claim = np.repeat(np.arange(len(counts)), counts)
        mix = flat.view(np.uint64) * np.uint64(store_mod._MIX)  # wraps mod 2^64, as rarest's mask
        by_rank = np.lexsort((mix, have, claim))
        starts = np.cumsum(counts) - counts
        rank = np.arange(len(flat)) - starts[claim[by_rank]]
        chosen = by_rank[rank < store_mod.LISTED_SHINGLES]
        for j in range((-first - 1) % CHECK_EVERY, len(counts), CHECK_EVERY):
            mine = slice(starts[j], starts[j] + counts[j])
            expected = rarest(flat[mine].tolist(), dict(zip(flat[mine].tolist(), have[mine].tolist(), strict=True)))
            if flat[chosen[claim[chosen] == j]].tolist() != expected:
                raise SystemExit(f"claim {first + j + 1}: the bulk build's listed shingles differ from store.rarest")
        self.rows_code.append(flat[chosen])
        self.rows_id.append(claim[chosen] + first + 1)
        occurring = np.bincount(inverse, minlength=len(unique))
        listing = np.bincount(inverse[chosen], minlength=len(unique))
        self.claims[at[known]] += occurring[known]
        self.listed[at[known]] += listing[known]
        new = ~known
        self.codes = np.insert(self.codes, at[new], unique[new])
        self.claims = np.insert(self.claims, at[new], occurring[new])
        self.listed = np.insert(self.listed, at[new], listing[new])


def _insert_bulk(path: Path, texts: list[str], fps: list[int], parameters: str, shingle: int, workers: int,
                 knobs: dict[str, int], timing: dict[str, float]) -> None:
    """The rows Store.add_claim + add_occurrences leave, claim after claim, in one transaction with executemany.

    Worker processes make the sketches (Deps.sketch) of chunks of claims; this process takes the chunks in id
    order, inserts their rows and chooses each claim's listed shingles (store.rarest, with the shingle counts of
    the claims before it) while the next chunks are sketched; the index rows go in last, sorted."""
    n = len(texts)
    clock = time.perf_counter
    chunk = 5_000
    pieces = [texts[i : i + chunk] for i in range(0, n, chunk)]
    stamp = NOW.isoformat()
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=OFF")
    db.execute("PRAGMA synchronous=OFF")
    db.execute("PRAGMA cache_size=-262144")  # 256 MB, for the build only
    db.execute("BEGIN")
    db.executemany(
        "INSERT INTO documents (id, locator, source, content_hash, size, mtime_ns, title, site, url, published,"
        " encoding, first_seen, last_changed) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
        _document_rows((n + CLAIMS_PER_DOCUMENT - 1) // CLAIMS_PER_DOCUMENT),
    )
    index = _Listing()
    waited = chose = 0.0

    def take(first: int, canonical: list[str], flat: np.ndarray, counts: np.ndarray) -> None:
        nonlocal chose
        t0 = clock()
        index.take(first, flat, counts)
        chose += clock() - t0
        last = first + len(canonical)
        db.executemany(
            "INSERT INTO claims (id, fingerprint, normalized, text, speaker, document_id, position,"
            " first_seen) VALUES (?,?,?,?,NULL,?,?,?)",
            ((i + 1, fps[i], texts[i], texts[i], i // CLAIMS_PER_DOCUMENT + 1, i % CLAIMS_PER_DOCUMENT, stamp)
             for i in range(first, last)),
        )
        db.executemany("INSERT INTO canonical (claim_id, text) VALUES (?, ?)", enumerate(canonical, start=first + 1))
        db.executemany(
            "INSERT INTO occurrences (claim_id, document_id, text, position, match, score, first_seen)"
            " VALUES (?,?,?,?,'new',1.0,?)",
            ((i + 1, i // CLAIMS_PER_DOCUMENT + 1, texts[i], i % CLAIMS_PER_DOCUMENT, stamp)
             for i in range(first, last)),
        )

    started = clock()
    if workers > 1 and n > chunk:
        import multiprocessing

        with multiprocessing.get_context("fork").Pool(workers, _init_worker, (shingle, knobs)) as pool:
            before = clock()
            for number, (canonical, flat, counts) in enumerate(pool.imap(_sketch, pieces)):
                waited += clock() - before
                take(number * chunk, canonical, flat, counts)
                before = clock()
    else:
        _init_worker(shingle, knobs)
        for number, piece in enumerate(pieces):
            before = clock()
            canonical, flat, counts = _sketch(piece)
            waited += clock() - before
            take(number * chunk, canonical, flat, counts)
    timing["sketch_wait"] = waited
    timing["choose"] = chose
    timing["insert_claims"] = clock() - started - waited - chose
    started = clock()
    code_arr, id_arr = np.concatenate(index.rows_code), np.concatenate(index.rows_id)
    order = np.lexsort((id_arr, code_arr))
    code_arr, id_arr = code_arr[order], id_arr[order]
    # each list's head: its first LIST_READ ids, oldest first (index.codes is sorted, as code_arr now)
    starts = np.searchsorted(code_arr, index.codes, side="left")
    ends = np.minimum(np.searchsorted(code_arr, index.codes, side="right"), starts + store_mod.LIST_READ)
    ids = id_arr.astype(str).tolist()
    db.executemany(
        "INSERT INTO postings (shingle, claims, listed, head) VALUES (?, ?, ?, ?)",
        ((code, claims, listed, ",".join(ids[a:b])) for code, claims, listed, a, b in zip(
            index.codes.tolist(), index.claims.tolist(), index.listed.tolist(), starts.tolist(), ends.tolist(),
            strict=True)),
    )
    db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('index', ?)", (parameters,))
    db.execute("COMMIT")
    db.execute("PRAGMA journal_mode=WAL")
    db.close()
    timing["insert_index"] = clock() - started


def _insert_via_store(path: Path, texts: list[str], keys: list[str], fps: list[int], novelty: NoveltySettings,
                      deps: Deps) -> None:
    """The pipeline's own writes: Deps.ensure_index on the empty store, then Store.save_document, add_claim (with
    Deps.sketch) per claim and add_occurrences per document, 10^4 claims (250 documents) a transaction."""
    per_transaction = 250 * CLAIMS_PER_DOCUMENT
    with Store(path) as store:
        Deps(store, novelty=novelty).ensure_index()
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
                        claim_id = store.add_claim(claim, fps[i], deps.sketch(texts[i]), doc_id, NOW)
                        occurrences.append((claim_id, claim, Match(claim_id, "new", 1.0)))
                    store.add_occurrences(doc_id, occurrences, NOW)


def _index_stats(path: Path) -> dict[str, object]:
    """The posting lists' lengths (postings.listed)."""
    db = sqlite3.connect(path)
    rows, lists, longest, squares, over = db.execute(
        "SELECT sum(listed), count(*), max(listed), sum(listed * listed), sum(listed > ?)"
        " FROM postings WHERE listed > 0",
        (store_mod.LIST_READ,),
    ).fetchone()
    (shingles_,) = db.execute("SELECT count(*) FROM postings").fetchone()
    db.close()
    return {
        "index_rows": rows or 0,
        "shingles": shingles_,
        "lists": lists,
        "longest_list": longest or 0,
        "lists_over_list_read": over or 0,
        # the mean list length seen from a stored row
        "row_weighted_list": round(squares / rows, 1) if rows else 0.0,
    }


def _read_only(path: Path) -> contextlib.closing[sqlite3.Connection]:
    return contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True))


def compare_index(a: Path, b: Path) -> str:
    """Whether two stores' index tables hold the same rows: 'identical (...)' or what differs."""
    queries = {
        "postings": "SELECT shingle, claims, listed, head FROM postings ORDER BY shingle",
        "canonical": "SELECT claim_id, text FROM canonical ORDER BY claim_id",
        "claims": "SELECT id, fingerprint, normalized FROM claims ORDER BY id",
        "meta index": "SELECT value FROM meta WHERE key = 'index'",
    }
    found, differ = [], []
    with _read_only(a) as one, _read_only(b) as two:
        for name, sql in queries.items():
            left, right = one.execute(sql).fetchall(), two.execute(sql).fetchall()
            found.append(f"{len(left):,} {name} rows")
            if left != right:
                differ.append(f"{name}: {len(set(left) ^ set(right))} rows differ ({len(left)} vs {len(right)})")
    return ("DIFFERENT: " + "; ".join(differ)) if differ else "identical (" + ", ".join(found) + ")"


# -- measuring -------------------------------------------------------------------------------------


def _peak_rss_mb() -> float:
    """The process's peak resident memory since it was exec'd: VmHWM (ru_maxrss would carry over the peak of
    the parent that forked it)."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024  # kB
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


#: how lookups are timed: with the caches of the novelty path as the run leaves them, and emptied before each
#: lookup (see the module docstring)
MODES = ("warm", "cold")
STEPS = ("fingerprint", "find_exact", "canon", "key_of", "codes", "candidates", "candidate keys", "decide")
MISSES = ("not listed", "list not read", "cut by MAX_CANDIDATES")


def measure(path: Path, n: int, per_band: int, warmup: int, seed: int, novelty: NoveltySettings, *,
            cold: bool = False) -> dict[str, Any]:
    """Time the novelty path for the queries against the store at path (run in a fresh process); ``cold``: with
    the novelty path's caches emptied before each lookup (untimed)."""
    rss_start = _peak_rss_mb()
    deps, _ = _deps(novelty)
    canon = deps.canon  # built once, as Deps.canon

    words = cached_vocabulary(path.parent, seed)
    queries, made = make_queries(path, n, per_band, per_band, seed, canon, novelty.shingle, words)
    warm = Generator(words, seed + 2 * NOVEL_SEED_OFFSET)
    warm_texts = [warm.sentence() for _ in range(warmup)]
    del words, warm
    rss_ready = _peak_rss_mb()
    settle_collector()  # as the command line does once its settings are loaded
    clock, cpu = time.perf_counter, time.process_time
    shingle, threshold = novelty.shingle, novelty.threshold
    totals = dict.fromkeys(STEPS, 0.0)
    per_claim: list[float] = []
    cpu_total = 0.0
    failures: list[str] = []
    results: list[tuple[Query, Match, list[int], list[int]]] = []
    with Store(path) as store:
        for text in warm_texts:
            fp = fingerprint(key_of(text))
            if store.find_exact_many([fp]).get(fp) is None:
                canonical = canon(text)
                found = store.candidates(codes(key_of(canonical), shingle))
                with contextlib.suppress(ValueError):  # see below
                    decide(key_of(canonical), canonical, [Candidate(i, t, key_of(t)) for i, t in found],
                           shingle=shingle, threshold=threshold)
        for q in queries:
            if cold:
                clear_caches()
            # monitor.pipeline.ingest_verdicts' per-claim path, step by step
            c0 = cpu()
            t0 = clock()
            fp = fingerprint(q.key)
            t1 = clock()
            store.find_exact_many([fp]).get(fp)
            t2 = clock()
            canonical = canon(q.text)
            t3 = clock()
            ckey = key_of(canonical)
            t4 = clock()
            mine = codes(ckey, shingle)
            t5 = clock()
            offered = store.candidates(mine)
            t6 = clock()
            candidates = [Candidate(i, t, key_of(t)) for i, t in offered]
            t7 = clock()
            try:
                match = decide(key_of(canonical), canonical, candidates, shingle=shingle, threshold=threshold)
            except ValueError as exc:  # monitor.figures on some ranges of Chinese numerals (一到一): counted
                match = Match(None, "error", 0.0)
                failures.append(f"{exc}: {q.text} / " + " / ".join(c.normalized for c in candidates))
            t8 = clock()
            cpu_total += cpu() - c0
            stamps = (t0, t1, t2, t3, t4, t5, t6, t7, t8)
            for step, before, after in zip(STEPS, stamps, stamps[1:], strict=False):
                totals[step] += after - before
            per_claim.append(t8 - t0)
            results.append((q, match, mine, [i for i, _ in offered]))
    rss_after = _peak_rss_mb()
    reads, misses, needed = _explain(path, results)

    us = sorted(t * 1e6 for t in per_claim)
    bands: list[dict[str, Any]] = []
    for b in range(len(BANDS)):
        mine_ = [(q, m, ids) for q, m, _, ids in results if q.band == b]
        bands.append({
            "queries": len(mine_),
            "similarity_mean": statistics.fmean(q.similarity for q, _, _ in mine_),
            "candidate_recall": sum(q.source in ids for q, _, ids in mine_) / len(mine_),
            "verdict_recall": sum(m.kind == "near" and m.claim_id == q.source for q, m, _ in mine_) / len(mine_),
            "errors": sum(1 for _, m, _ in mine_ if m.kind == "error"),
            "misses": {reason: sum(1 for band, why in misses if band == b and why == reason) for reason in MISSES},
            "rows_needed": _percentiles([rows for band, rows in needed if band == b]),
        })
    novel = [m for q, m, _, _ in results if q.band < 0]
    counts = [len(ids) for *_, ids in results]
    rows = sorted(r for r, _ in reads)
    return {
        "n": n,
        "queries": len(results),
        **made,
        "us_mean": statistics.fmean(us),
        "us_median": statistics.median(us),
        "us_p95": us[int(0.95 * (len(us) - 1))],
        "cpu_us_mean": cpu_total / len(results) * 1e6,
        "step_us": {step: totals[step] / len(results) * 1e6 for step in STEPS},
        "bands": bands,
        "novel": len(novel),
        "novel_near": sum(1 for m in novel if m.kind == "near") / max(len(novel), 1),
        "novel_conflict": sum(1 for m in novel if m.conflict is not None) / max(len(novel), 1),
        "novel_errors": sum(1 for m in novel if m.kind == "error"),
        "decide_errors": len(failures),
        "decide_error_example": failures[0] if failures else None,
        "candidates_mean": statistics.fmean(counts),
        "candidates_capped": sum(1 for c in counts if c >= store_mod.MAX_CANDIDATES) / len(counts),
        "rows_read_mean": statistics.fmean(rows),
        "rows_read_p95": rows[int(0.95 * (len(rows) - 1))],
        "rows_read_max": rows[-1],
        "lists_read_mean": statistics.fmean(k for _, k in reads),
        "rss_start_mb": rss_start,
        "rss_ready_mb": rss_ready,
        "peak_rss_mb": rss_after,
        "file_bytes": sum(p.stat().st_size for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm")) if p.exists()),
    }


def _percentiles(values: list[int | None]) -> list[int | None]:
    """p50, p90, p99 and max of ``values``, None (never) counting as the largest."""
    ordered = sorted(values, key=lambda v: (v is None, v or 0))
    return [ordered[int(q * (len(ordered) - 1))] for q in (0.5, 0.9, 0.99, 1.0)] if ordered else []


def _plan(db: sqlite3.Connection, mine: Sequence[int], budget: int | None = None) -> list[tuple[int, int]]:
    """The (shingle, entries read) of the lists Store.candidates reads for these codes, in its order; with
    ``budget`` None, every list it would read were READ_BUDGET unlimited."""
    budget = store_mod.READ_BUDGET if budget is None else budget
    marks = ",".join("?" * len(mine))
    rows = {code: (claims, listed) for code, claims, listed in db.execute(
        f"SELECT shingle, claims, listed FROM postings WHERE shingle IN ({marks})", list(mine))}
    plan: list[tuple[int, int]] = []
    read = 0
    for code in sorted((c for c in rows if rows[c][1]), key=lambda c: (rows[c][0], c)):
        if read >= budget:
            break
        plan.append((code, min(rows[code][1], store_mod.LIST_READ)))
        read += plan[-1][1]
    return plan


def _explain(
    path: Path, results: list[tuple[Query, Match, list[int], list[int]]]
) -> tuple[list[tuple[int, int]], list[tuple[int, str]], list[tuple[int, int | None]]]:
    """Per lookup, the index rows and lists read; per candidate miss, (band, why): see MISSES; per paraphrase,
    (band, the rows read up to and including the first list the source is listed on, None if on none)."""
    reads: list[tuple[int, int]] = []
    misses: list[tuple[int, str]] = []
    needed: list[tuple[int, int | None]] = []
    with _read_only(path) as db:
        for q, _, mine, ids in results:
            plan = _plan(db, mine)
            reads.append((sum(k for _, k in plan), len(plan)))
            if q.source is None:
                continue
            marks = ",".join("?" * len(mine))
            source = str(q.source)
            shared = {c for c, head in db.execute(f"SELECT shingle, head FROM postings WHERE shingle IN ({marks})",
                                                  list(mine)) if source in head.split(",")}
            rows, first = 0, None
            for code, limit in _plan(db, mine, budget=1 << 62):
                rows += limit
                if code in shared:
                    first = rows
                    break
            needed.append((q.band, first))
            if q.source in ids:
                continue
            read = {code: limit for code, limit in plan if code in shared}
            if not shared:
                why = "not listed"
            elif not read:
                why = "list not read"
            else:
                why = "cut by MAX_CANDIDATES"
            misses.append((q.band, why))
    return reads, misses, needed


# -- the driver ------------------------------------------------------------------------------------


def _set_knobs(knobs: dict[str, int]) -> None:
    for name, value in knobs.items():
        setattr(store_mod, name, value)


def _child(args: argparse.Namespace) -> None:
    knobs = json.loads(args.knobs)
    _set_knobs(knobs)
    novelty = NoveltySettings()
    path = Path(args.store)
    if args.child == "build":
        info = build(path, args.n, novelty, args.seed, args.build, args.workers, knobs)
        Path(f"{path}.build.json").write_text(json.dumps(info), "utf-8")
        print(json.dumps(info))
    else:
        print(json.dumps(measure(path, args.n, args.per_band, args.warmup, args.seed, novelty, cold=args.cold)))


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


def _ensure_store(args: argparse.Namespace, n: int, how: str, canon: str, knobs: str) -> tuple[Path, dict[str, Any]]:
    """The cached store of n claims built the ``how`` way, built now if missing (or --rebuild)."""
    path = args.cache / _store_name(n, NoveltySettings().shingle, args.seed, how, canon)
    common = ["--store", str(path), "--n", str(n), "--seed", str(args.seed), "--knobs", knobs]
    if args.rebuild or not path.exists():
        for stale in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
            stale.unlink(missing_ok=True)
        print(f"  building {path.name} ({how}) ...", flush=True)
        info = _run_child(["--child", "build", "--build", how, "--workers", str(args.workers), *common])
        steps = ", ".join(f"{k[8:]} {v} s" for k, v in info.items() if k.startswith("seconds_") and k[8:] != "total")
        print(f"  built in {info['seconds_total']} s ({steps}), build peak RSS {info['build_peak_rss_mb']} MB; "
              f"opened as the pipeline would: {info['reindexed_on_open']} claims re-indexed")
    else:
        info_path = Path(f"{path}.build.json")
        info = json.loads(info_path.read_text("utf-8")) if info_path.exists() else {}
        print(f"  cached {path.name} (built in {info.get('seconds_total', '?')} s)")
    return path, info


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--sizes", default="1000,100000,1000000", help="stored claims, comma-separated")
    parser.add_argument("--per-band", type=int, default=1000, help="paraphrase queries per band (and novel ones)")
    parser.add_argument("--warmup", type=int, default=200, help="untimed lookups run first")
    parser.add_argument("--rounds", type=int, default=3, help="measurements of each size, sizes in turn")
    parser.add_argument("--seed", type=int, default=20240730)
    parser.add_argument("--build", choices=("bulk", "add_claim"), default="bulk", help="how to fill the store")
    parser.add_argument("--rebuild", action="store_true", help="build the stores even if cached")
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="where built stores are kept")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="processes computing sketches")
    for knob in KNOBS:
        parser.add_argument(f"--{knob.lower().replace('_', '-')}", type=int, dest=knob.lower(),
                            help=f"what if monitor.store.{knob} were this (default {getattr(store_mod, knob)})")
    parser.add_argument("--child", choices=("build", "measure"), help=argparse.SUPPRESS)
    parser.add_argument("--store", help=argparse.SUPPRESS)
    parser.add_argument("--n", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--knobs", default="{}", help=argparse.SUPPRESS)
    parser.add_argument("--cold", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args)
        return

    knobs = {k: getattr(args, k.lower()) for k in KNOBS if getattr(args, k.lower()) is not None}
    _set_knobs(knobs)
    knobs_json = json.dumps(knobs)
    novelty = NoveltySettings()
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    _prepare_cache(args.cache)
    deps, parameters = _deps(novelty)
    constants = ", ".join(f"{k}={getattr(store_mod, k)}{' (what-if)' if k in knobs else ''}" for k in KNOBS)
    print(f"novelty lookup benchmark: index '{parameters}', threshold {novelty.threshold}, {constants}; "
          f"{args.per_band} paraphrases per band + {args.per_band} novel queries, {args.warmup} warm-up; "
          f"python {sys.version.split()[0]}, sqlite {sqlite3.sqlite_version}, {os.cpu_count()} cores")

    words = cached_vocabulary(args.cache, args.seed)
    canonical = [deps.canon(t) for t in _claims(words, BACKGROUND_PAIRS, args.seed)[0]]
    synthetic = [key_of(t) for t in canonical]
    canon = f"{deps.canon.parameters}-{hashlib.sha256(chr(10).join(canonical).encode()).hexdigest()[:8]}"
    print(f"\nhow alike unrelated claims are: Jaccard of canonical {novelty.shingle}-gram sets, "
          f"{BACKGROUND_PAIRS:,} random pairs of distinct claims (vocabulary: {len(words):,} words)")
    print(f"  {'claims of':<34} {'claims':>7} {'chars':>6} {'mean':>7} {'p99':>7}")
    for label, keys in (
        (f"synthetic corpus (first {BACKGROUND_PAIRS:,})", synthetic),
        (f"seeds ({len(SEEDS)} texts)", real_keys(SEEDS, deps.canon)),
        (f"extraction gold ({len(GOLD)} pages)", real_keys(GOLD, deps.canon)),
    ):
        bg = background(keys, novelty.shingle, args.seed)
        print(f"  {label:<34} {bg.claims:>7,} {bg.mean_chars:>6.1f} {bg.mean:>7.4f} {bg.p99:>7.4f}")

    paths: dict[int, Path] = {}
    for n in sizes:
        print(f"\n[{n:,} claims]")
        path, info = _ensure_store(args, n, args.build, canon, knobs_json)
        paths[n] = path
        if n <= CHECK_UPTO:
            other, _ = _ensure_store(args, n, "add_claim" if args.build == "bulk" else "bulk", canon, knobs_json)
            print(f"  bulk and add_claim stores' index tables: {compare_index(path, other)}")
        if info:
            print(f"  index: {info['index_rows']:,} rows in {info['lists']:,} lists ({info['shingles']:,} shingles "
                  f"counted); longest list {info['longest_list']:,}, {info['lists_over_list_read']:,} longer than "
                  f"LIST_READ; row-weighted mean list length {info['row_weighted_list']}")

    # the sizes are measured in turn, round after round, so a busy machine weighs on all of them alike
    rounds: dict[tuple[int, str], list[dict[str, Any]]] = {(n, mode): [] for n in sizes for mode in MODES}
    for turn in range(args.rounds):
        print(f"\nmeasuring, round {turn + 1} of {args.rounds}: " + ", ".join(f"{n:,}" for n in sizes), flush=True)
        for n in sizes:
            for mode in MODES if turn % 2 == 0 else MODES[::-1]:  # neither always runs first
                rounds[n, mode].append(_run_child([
                    "--child", "measure", "--store", str(paths[n]), "--n", str(n), "--seed", str(args.seed),
                    "--per-band", str(args.per_band), "--warmup", str(args.warmup), "--knobs", knobs_json,
                    *(["--cold"] if mode == "cold" else []),
                ]))
    results: dict[int, dict[str, Any]] = {}
    timed: dict[tuple[int, str], dict[str, Any]] = {}
    for n in sizes:
        for mode in MODES:
            runs = sorted(rounds[n, mode], key=lambda res: float(res["us_mean"]))
            timed[n, mode] = runs[(len(runs) - 1) // 2]
        every = rounds[n, "warm"] + rounds[n, "cold"]
        res = results[n] = {**timed[n, "warm"], "peak_rss_mb": max(r["peak_rss_mb"] for r in every)}
        print(f"\n[{n:,} claims] {res['queries']:,} queries ({res['paraphrases_tried']:,} paraphrases made to fill "
              f"the bands, {res['exact_hits_dropped']} exact hits dropped)")
        for mode in MODES:
            one = timed[n, mode]
            print(f"  lookup, caches {mode} (the median round of {len(rounds[n, mode])}: "
                  + ", ".join(f"{r['us_mean']:.0f}" for r in rounds[n, mode])
                  + f" µs): {one['us_mean']:.1f} µs/claim mean, {one['us_median']:.1f} median, "
                  f"{one['us_p95']:.1f} p95; CPU {one['cpu_us_mean']:.1f} µs/claim")
            print("    steps (µs/claim): " + ", ".join(f"{s} {one['step_us'][s]:.1f}" for s in STEPS))
        print(f"  index rows read per lookup: {res['rows_read_mean']:.0f} mean, {res['rows_read_p95']} p95, "
              f"{res['rows_read_max']} max, in {res['lists_read_mean']:.1f} lists; candidates "
              f"{res['candidates_mean']:.1f} mean, {res['candidates_capped']:.1%} at the cap")
        print(f"  {'band':<8} {'queries':>7} {'mean J':>7} {'candidates':>10} {'verdict':>8} {'errors':>6}   "
              "candidate misses: " + ", ".join(MISSES) + "; rows read up to the source's first list: p50/p90/p99/max")
        for name, band in zip(BAND_NAMES, res["bands"], strict=True):
            why = " / ".join(str(band["misses"][m]) for m in MISSES)
            needed = "/".join("never" if v is None else str(v) for v in band["rows_needed"])
            print(f"  {name:<8} {band['queries']:>7} {band['similarity_mean']:>7.3f} {band['candidate_recall']:>10.1%} "
                  f"{band['verdict_recall']:>8.1%} {band['errors']:>6}   {why}; {needed}")
        print(f"  novel queries ({res['novel']}): {res['novel_near']:.1%} called near, "
              f"{res['novel_conflict']:.1%} flagged as conflicts, {res['novel_errors']} errors")
        if res["decide_errors"]:
            print(f"  decide() raised ValueError on {res['decide_errors']} lookups (monitor.figures.read on a stored "
                  f"or query text), e.g. {res['decide_error_example'][:300]}")
        print(f"  peak RSS {res['peak_rss_mb']:.1f} MB (after imports {res['rss_start_mb']:.1f} MB, with queries "
              f"prepared {res['rss_ready_mb']:.1f} MB); store file {_mb(res['file_bytes'])}")

    print("\nsummary (candidate recall per band; µs per lookup)")
    header = ("claims", *BAND_NAMES, "µs cold", "median", "p95", "µs warm", "rows read", "peak RSS", "store file")
    widths = (10, 8, 8, 8, 8, 8, 7, 7, 7, 9, 10, 11)
    print("  " + " ".join(f"{h:>{w}}" for h, w in zip(header, widths, strict=True)))
    for n, res in results.items():
        recall = " ".join(f"{b['candidate_recall']:>8.1%}" for b in res["bands"])
        cold = timed[n, "cold"]
        print(f"  {n:>10,} {recall} {cold['us_mean']:>8.1f} {cold['us_median']:>7.1f} {cold['us_p95']:>7.1f} "
              f"{res['us_mean']:>7.1f} {res['rows_read_mean']:>9.0f} {res['peak_rss_mb']:>7.1f} MB "
              f"{_mb(res['file_bytes']):>11}")
    worst = min((b["candidate_recall"], n, name) for n, res in results.items()
                for name, b in zip(BAND_NAMES, res["bands"], strict=True))
    print(f"  candidate recall >= 99% in every band at every size: {'met' if worst[0] >= 0.99 else 'NOT met'} "
          f"(lowest {worst[0]:.1%}, band {worst[2]} at {worst[1]:,})")
    small, big = min(results), max(results)
    if small != big:
        for mode in MODES:
            ratio = timed[big, mode]["us_mean"] / timed[small, mode]["us_mean"]
            cpu_ratio = timed[big, mode]["cpu_us_mean"] / timed[small, mode]["cpu_us_mean"]
            verdict = f"target <= 2x: {'met' if ratio <= 2 else 'NOT met'}; " if mode == "cold" else ""
            print(f"  µs/lookup at {big:,} / at {small:,}, caches {mode}: {ratio:.2f}x ({verdict}in CPU time "
                  f"{cpu_ratio:.2f}x)")
    peak = results[big]["peak_rss_mb"]
    print(f"  peak RSS at {big:,}: {peak:.1f} MB (target < 500 MB: {'met' if peak < 500 else 'NOT met'})")


if __name__ == "__main__":
    main()
