#!/usr/bin/env python
"""Benchmark: documents per second through the whole ingest pipeline, against trafilatura alone.

What it measures
----------------
A set of HTML pages (``--pages``: the dev set's, ``eval/dev/*.html``, by default; ``extraction`` for the
76 real news pages of ``eval/extraction/*/html/``, GBK, Big5 and UTF-8, 2 to 470 KB) is copied ``--repeat``
times; every
copy is a distinct document with its own locator: an HTML comment names the copy, ``--new``
sentences of the article are rewritten (their CJK characters shuffled, so they become new claims
with the page's own character mix) and ``--near`` sentences are reworded (two neighbouring
characters swapped, so they are found as near-duplicates); the other sentences are reprints
(exact matches). So every copy takes real store work: a document row, an exact lookup and an
occurrence per claim, the LSH lookup and the comparisons for the changed ones, and new claims
with their index rows. Each copy is then run through

* **pipeline**: ``monitor.extract.extract(Fetched)`` then ``monitor.pipeline.ingest`` (claims
  split + normalization + novelty lookup + store writes, one transaction per ``pipeline.BATCH``
  documents as ``pipeline.scan`` does) into a real SQLite store in a temporary directory, with
  ``Settings``/``Deps`` built as ``monitor/cli.py`` builds them (default settings, the store path
  overridden). The OpenCC converter and the store are built once, before timing, as a run builds
  them once per process.
* **trafilatura.extract(str)**: the baseline, default options, on the same markup as a str (the
  text ``monitor.extract.decode`` makes of the page's bytes, which is what ``extract`` hands on);
* **trafilatura.extract(bytes)**: the same on the copy's bytes (in the page's own charset;
  trafilatura decodes them itself);
* for reference, **trafilatura.bare_extraction(str, with_metadata=False, include_comments=False,
  fast=True)**, the main-text call ``monitor.extract`` makes (it adds only the metadata steps it uses).

Each round runs every pass over all copies (a fresh store per round); the figures printed are the
median round's. The overhead ratio is (pipeline time - trafilatura.extract(str) time) /
trafilatura.extract(str) time; the issue's target is at most 25%.

The breakdown splits the pipeline's time into extract (decoding, trafilatura and our clean-up),
split + normalize (``claims.split`` with ``Normalizer.normalize``, timed in a pass of its own) and
novelty + store (the rest of ``ingest``). A last, instrumented pass (``--no-detail`` skips it)
wraps the store's methods and ``Deps.sketch`` and, for that pass only, patches ``monitor.novelty``'s
``fingerprint`` and ``decide`` (which ``pipeline.ingest_verdicts`` imports at call time), ``Deps.canon``
(the canonical form) and ``monitor.claims.split`` with timing wrappers (each only where the code
has it), to show where novelty + store spends its time; wrapping adds about a
microsecond a call, so its total is a little above the uninstrumented one.

Run
---
::

    .venv/bin/python benchmarks/ingest.py                 # 3 pages x 200 copies, 3 rounds (~1 min)
    .venv/bin/python benchmarks/ingest.py --repeat 1000 --rounds 5
    .venv/bin/python benchmarks/ingest.py --profile       # plus a cProfile of one pipeline pass
    .venv/bin/python benchmarks/ingest.py --pages extraction   # 76 real news pages x 3 copies (~1 min)
    .venv/bin/python benchmarks/ingest.py --repeat 30 \
        --pages 'eval/extraction/modern_zh/html/*.html'   # a glob of pages, from the working directory

The dev pages are small (7 KB of HTML, about 21 claims each) with an easy date: trafilatura's time
grows with the markup, ours with the claims, so the overhead ratio is smaller on full-size news pages,
and only real pages show what finding their dates costs. These passes are in one warmed process: the
whole ``corpus-monitor scan`` process on the real pages, imports included, against a process running
``trafilatura.extract``, is ``benchmarks/scan_speed.py``.

Options: ``--repeat`` copies of each page (default 200 for the dev set, 3 for ``extraction``);
``--rounds``; ``--new`` / ``--near`` sentences changed per copy; ``--pages`` ``dev``, ``extraction`` or a
glob of HTML files; ``--profile`` prints the 25 costliest functions of one pipeline pass; ``--no-detail``.
This is an on-demand measurement (``make bench``), not a test: it asserts nothing.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import glob
import hashlib
import io
import pstats
import random
import re
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import trafilatura

from monitor import claims as claims_mod
from monitor import config, digest, pipeline
from monitor import novelty as novelty_mod
from monitor.extract import decode, extract
from monitor.models import Document, Fetched
from monitor.normalize import Normalizer, key_of
from monitor.store import Store

ROOT = Path(__file__).resolve().parents[1]
#: the named sets of pages --pages takes, as globs under the project root
PAGE_SETS = {"dev": "eval/dev/*.html", "extraction": "eval/extraction/*/html/*.html"}
DEFAULT_REPEAT = {"dev": 200, "extraction": 3}
_BODY = re.compile(r"<body\b[^>]*>", re.IGNORECASE)
#: text between tags, outside script and style
_TEXT_NODE = re.compile(r"(<script\b.*?</script>|<style\b.*?</style>)|>([^<>]+)<", re.IGNORECASE | re.DOTALL)
_SENTENCE = re.compile(r"[^。！？!?]+[。！？!?]")
_CJK = re.compile(r"[\u4e00-\u9fff]")
_MIN_CJK = 10


# -- the documents ---------------------------------------------------------------------------------


def sentence_spans(markup: str) -> list[tuple[int, int]]:
    """(start, end) of each sentence with at least 10 CJK characters in the body's text nodes."""
    body = _BODY.search(markup)
    spans = []
    for match in _TEXT_NODE.finditer(markup, body.end() if body else 0):
        if match.group(2) is None:
            continue
        base = match.start(2)
        for sentence in _SENTENCE.finditer(match.group(2)):
            if len(_CJK.findall(sentence.group())) >= _MIN_CJK:
                spans.append((base + sentence.start(), base + sentence.end()))
    return spans


def _shuffled(sentence: str, r: random.Random) -> str:
    """sentence with its CJK characters shuffled among their own places (a new claim)."""
    places = [i for i, ch in enumerate(sentence) if _CJK.match(ch)]
    chars = list(sentence)
    picked = [chars[i] for i in places]
    r.shuffle(picked)
    for i, ch in zip(places, picked, strict=True):
        chars[i] = ch
    return "".join(chars)


def _reworded(sentence: str, r: random.Random) -> str:
    """sentence with two neighbouring CJK characters swapped (a near-duplicate)."""
    pairs = [i for i in range(len(sentence) - 1) if _CJK.match(sentence[i]) and _CJK.match(sentence[i + 1])
             and sentence[i] != sentence[i + 1]]
    if not pairs:
        return sentence
    i = r.choice(pairs)
    return sentence[:i] + sentence[i + 1] + sentence[i] + sentence[i + 2 :]


def variant(markup: str, spans: Sequence[tuple[int, int]], copy: int, new: int, near: int) -> str:
    """Copy number ``copy`` of a page: a comment naming it, ``new`` sentences rewritten, ``near`` reworded."""
    r = random.Random(copy)
    chosen = r.sample(range(len(spans)), min(len(spans), new + near))
    edits = {spans[i]: (_shuffled if k < new else _reworded) for k, i in enumerate(chosen)}
    out = markup
    for (start, end), edit in sorted(edits.items(), reverse=True):
        out = out[:start] + edit(out[start:end], r) + out[end:]
    body = _BODY.search(out)
    at = body.end() if body else 0
    return f"{out[:at]}\n<!-- benchmark copy {copy} -->{out[at:]}"


@dataclass(frozen=True)
class Copy:
    fetched: Fetched
    markup: str


def copies(pages: Sequence[Path], repeat: int, new: int, near: int, tag: str, first: int = 0) -> list[Copy]:
    """repeat distinct copies of each page, numbered from first, interleaved (page 1, page 2, ..., page 1, ...)."""
    sources = [(page, *decode(page.read_bytes(), html=True)) for page in pages]
    spans = {page: sentence_spans(markup) for page, markup, _ in sources}
    out = []
    for copy in range(first, first + repeat):
        for page, markup, encoding in sources:
            text = variant(markup, spans[page], copy, new, near)
            data = text.encode(encoding)  # bytes like the original's: the same charset
            locator = f"https://bench.invalid/{tag}/{copy}/{page.name}"
            fetched = Fetched(locator, data, hashlib.sha256(data).hexdigest(), "bench", kind="html")
            out.append(Copy(fetched, text))
    return out


# -- the passes ------------------------------------------------------------------------------------


@contextlib.contextmanager
def pipeline_deps(workdir: Path) -> Iterator[tuple[config.Settings, pipeline.Deps]]:
    """Settings and Deps as monitor/cli.py builds them, with the store in workdir."""
    settings = config.load(None, cwd=workdir, overrides=config.Overrides(store=Path("store.sqlite3")))
    with Store(settings.store_path) as store:
        deps = pipeline.Deps.of(store, settings, normalizer=Normalizer(settings.opencc),
                                templates=digest.environment())
        deps.ensure_index()  # builds the canonical form (alias tables) before timing, as a run's first document does
        yield settings, deps


@dataclass
class PipelineRun:
    seconds: float
    extract: float
    ingest: float
    new_claims: int
    documents: list[Document]


def run_pipeline(docs: Sequence[Copy], settings: config.Settings, deps: pipeline.Deps) -> PipelineRun:
    clock = time.perf_counter
    t_extract = t_ingest = 0.0
    new = 0
    documents = []
    started = clock()
    for start in range(0, len(docs), pipeline.BATCH):
        # as pipeline.scan does: one transaction (one commit) per batch of documents
        batch = deps.store.transaction()
        t0 = clock()
        batch.__enter__()
        t_ingest += clock() - t0
        for doc in docs[start : start + pipeline.BATCH]:
            t0 = clock()
            document = extract(doc.fetched)
            t1 = clock()
            new += pipeline.ingest(doc.fetched, document, deps, settings)
            t2 = clock()
            t_extract += t1 - t0
            t_ingest += t2 - t1
            documents.append(document)
        t0 = clock()
        batch.__exit__(None, None, None)
        t_ingest += clock() - t0
    return PipelineRun(clock() - started, t_extract, t_ingest, new, documents)


def timed(work: Callable[[Sequence[Copy]], None], docs: Sequence[Copy]) -> float:
    started = time.perf_counter()
    work(docs)
    return time.perf_counter() - started


def baseline_str(docs: Sequence[Copy]) -> None:
    for doc in docs:
        trafilatura.extract(doc.markup)


def baseline_bytes(docs: Sequence[Copy]) -> None:
    for doc in docs:
        trafilatura.extract(doc.fetched.data)


def bare_as_extract_calls(docs: Sequence[Copy]) -> None:
    for doc in docs:
        trafilatura.bare_extraction(doc.markup, with_metadata=False, include_comments=False, fast=True)


def split_pass(documents: Sequence[Document], normalizer: Normalizer) -> float:
    started = time.perf_counter()
    for document in documents:
        claims_mod.split(document.text, normalizer.normalize_many, key_of)
    return time.perf_counter() - started


def _occurrences(path: Path) -> int:
    with contextlib.closing(sqlite3.connect(path)) as db:
        (count,) = db.execute("SELECT count(*) FROM occurrences").fetchone()
    return int(count)


# -- the instrumented pass -------------------------------------------------------------------------


class _Timer:
    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.calls: dict[str, int] = {}

    def wrap(self, name: str, func: Callable[..., Any]) -> Callable[..., Any]:
        def timed_call(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return func(*args, **kwargs)
            finally:
                self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - started
                self.calls[name] = self.calls.get(name, 0) + 1

        return timed_call


def detail_pass(docs: Sequence[Copy], workdir: Path) -> tuple[_Timer, float, float]:
    """ingest with every step it calls wrapped in a timer; returns the timer, ingest and extract seconds."""
    timer = _Timer()
    with pipeline_deps(workdir) as (settings, deps), contextlib.ExitStack() as patches:
        store = deps.store
        for name in ("save_document", "find_exact_many", "candidates_many", "hinted_documents", "document_canonical",
                     "own_claims", "withdraw_occurrences", "add_claim", "add_conflict",
                     "add_occurrences"):
            if hasattr(store, name):
                patches.enter_context(_patched(store, name, timer.wrap(f"store.{name}", getattr(store, name))))
        patches.enter_context(_patched(store, "transaction", _timed_transaction(timer, store.transaction)))
        if hasattr(deps, "sketch"):
            patches.enter_context(_patched(deps, "sketch", timer.wrap("deps.sketch", deps.sketch)))
        # pipeline.ingest_verdicts imports these from monitor.novelty at call time: patch them there
        for name in ("fingerprint", "decide", "plausible"):
            if hasattr(novelty_mod, name):
                patches.enter_context(_patched(novelty_mod, name, timer.wrap(f"novelty.{name}",
                                                                              getattr(novelty_mod, name))))
        if hasattr(type(deps), "canon"):  # the canonical form, since commit 801f147 (a cached property)
            patches.enter_context(_patched(deps, "canon", _TimedCanon(timer, deps.canon)))
        patches.enter_context(_patched(claims_mod, "split", timer.wrap("claims.split", claims_mod.split)))
        run = run_pipeline(docs, settings, deps)
    return timer, run.ingest, run.extract


class _TimedCanon:
    """Deps.canon with its calls timed (and its parameters, which Deps.ensure_index reads)."""

    def __init__(self, timer: _Timer, canon: Any) -> None:
        self.parameters = canon.parameters
        self._call = timer.wrap("canon", canon)

    def __call__(self, normalized: str) -> str:
        return str(self._call(normalized))


def _timed_transaction(timer: _Timer, transaction: Callable[[], Any]) -> Callable[[], Any]:
    """store.transaction with its opening (SAVEPOINT) and its end (RELEASE: the commit) timed."""

    @contextlib.contextmanager
    def timed() -> Iterator[None]:
        manager = transaction()
        timer.wrap("store.transaction", manager.__enter__)()
        try:
            yield
        except BaseException:
            if not timer.wrap("store.transaction", manager.__exit__)(*sys.exc_info()):
                raise
        else:
            timer.calls["store.transaction"] -= 1  # one call: begin and commit together
            timer.wrap("store.transaction", manager.__exit__)(None, None, None)

    return timed


@contextlib.contextmanager
def _patched(owner: object, name: str, value: object) -> Iterator[None]:
    """owner.name = value for the duration (an instance attribute shadows a method)."""
    saved = owner.__dict__.get(name, _MISSING) if hasattr(owner, "__dict__") else _MISSING
    setattr(owner, name, value)
    try:
        yield
    finally:
        if saved is _MISSING:
            delattr(owner, name)
        else:
            setattr(owner, name, saved)


_MISSING = object()


# -- the driver ------------------------------------------------------------------------------------


def _rate(count: int, seconds: float) -> str:
    return f"{count / seconds:8.1f} docs/s  ({seconds / count * 1e3:6.2f} ms/doc)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, help="copies of each page (default 200 for dev, 3 for extraction, "
                        "else 200)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds; the median one is reported (default 3)")
    parser.add_argument("--new", type=int, default=4, help="sentences rewritten per copy: new claims (default 4)")
    parser.add_argument("--near", type=int, default=2, help="sentences reworded per copy: near-duplicates (default 2)")
    parser.add_argument("--pages", default="dev", help="dev (default), extraction, or a glob of HTML pages")
    parser.add_argument("--profile", action="store_true", help="cProfile one pipeline pass; print the top 25")
    parser.add_argument("--no-detail", dest="detail", action="store_false", help="skip the instrumented pass")
    args = parser.parse_args()

    pattern = str(ROOT / PAGE_SETS[args.pages]) if args.pages in PAGE_SETS else args.pages
    pages = sorted(Path(path) for path in glob.glob(pattern))
    if not pages:
        raise SystemExit(f"no pages match {args.pages}")
    if args.repeat is None:
        args.repeat = DEFAULT_REPEAT.get(args.pages, 200)
    # every copy of every round is distinct, so no library cache sees the same markup twice in a pass
    warm = copies(pages, 3, args.new, args.near, "warmup", first=10**6)
    rounds = [
        copies(pages, args.repeat, args.new, args.near, f"round{i}", first=i * args.repeat) for i in range(args.rounds)
    ]
    count = len(rounds[0])
    sizes = [len(c.fetched.data) for c in rounds[0]]
    print(f"ingest benchmark: {len(pages)} pages x {args.repeat} copies = {count} documents a round "
          f"(mean {statistics.fmean(sizes) / 1024:.1f} KB of HTML), {args.new} sentences new and {args.near} "
          f"near per copy, {args.rounds} rounds; trafilatura {trafilatura.__version__}, python "
          f"{sys.version.split()[0]}")

    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
        root = Path(tmp)
        with pipeline_deps(root / "warm") as (settings, deps):
            run_pipeline(warm, settings, deps)  # imports, lazy tables, caches of the libraries
            baseline_str(warm)
            baseline_bytes(warm)
        for i, docs in enumerate(rounds):
            row: dict[str, Any] = {
                "traf_str": timed(baseline_str, docs),
                "traf_bytes": timed(baseline_bytes, docs),
                "bare": timed(bare_as_extract_calls, docs),
            }
            with pipeline_deps(root / f"round{i}") as (settings, deps):
                run = run_pipeline(docs, settings, deps)
                row["split"] = split_pass(run.documents, deps.normalizer)
                status = deps.store.status()
                occurrences = _occurrences(root / f"round{i}" / "store.sqlite3")
            row |= {"pipeline": run.seconds, "extract": run.extract, "ingest": run.ingest,
                    "new_claims": run.new_claims, "claims": status.claims, "occurrences": occurrences,
                    "store_bytes": (root / f"round{i}" / "store.sqlite3").stat().st_size}
            row["overhead"] = (row["pipeline"] - row["traf_str"]) / row["traf_str"]
            results.append(row)
            print(f"  round {i + 1}: pipeline {count / row['pipeline']:.1f} docs/s, trafilatura.extract(str) "
                  f"{count / row['traf_str']:.1f} docs/s, overhead {row['overhead']:+.1%}", flush=True)

        median = sorted(results, key=lambda r: r["overhead"])[len(results) // 2]
        claims_per_doc = median["occurrences"] / count
        print(f"\nmedian round ({count} documents, about {claims_per_doc:.0f} claims each; store ended with "
              f"{median['claims']:,} claims and {median['occurrences']:,} occurrences, "
              f"{median['store_bytes'] / 1e6:.1f} MB):")
        print(f"  trafilatura.extract(str)                     {_rate(count, median['traf_str'])}")
        print(f"  trafilatura.extract(bytes)                   {_rate(count, median['traf_bytes'])}")
        print(f"  bare_extraction(fast, without metadata)      {_rate(count, median['bare'])}")
        print(f"  whole pipeline (extract + ingest)            {_rate(count, median['pipeline'])}")
        overhead = median["overhead"]
        verdict = "met" if overhead <= 0.25 else "NOT met"
        print(f"  overhead beyond trafilatura.extract(str): {overhead:+.1%} (target <= 25%: {verdict})")

        extract_s, split_s = median["extract"], median["split"]
        store_s = median["ingest"] - split_s
        total = median["pipeline"]
        print("\nwhere the pipeline's time goes (median round, ms/doc and share):")
        for name, seconds in (
            ("extract (decode + trafilatura with metadata + clean-up)", extract_s),
            ("  of which trafilatura.bare_extraction, timed alone", median["bare"]),
            ("  of which the rest: decoding and our clean-up", extract_s - median["bare"]),
            ("split + normalize (claims.split, timed alone)", split_s),
            ("novelty + store (ingest minus split)", store_s),
            ("loop and timing", total - median["extract"] - median["ingest"]),
        ):
            print(f"  {name:56} {seconds / count * 1e3:7.3f} ms  {seconds / total:6.1%}")
        print(f"  beyond trafilatura.extract(str): metadata/option difference "
              f"{(median['bare'] - median['traf_str']) / count * 1e3:+.3f} ms/doc, our own extract code "
              f"{(extract_s - median['bare']) / count * 1e3:+.3f}, split+normalize {split_s / count * 1e3:+.3f}, "
              f"novelty+store {store_s / count * 1e3:+.3f}")

        if args.detail:
            timer, t_ingest, _ = detail_pass(rounds[len(results) // 2], root / "detail")
            print(f"\ningest in detail (instrumented pass: ingest {t_ingest / count * 1e3:.3f} ms/doc):")
            accounted = 0.0
            for name, seconds in sorted(timer.seconds.items(), key=lambda kv: -kv[1]):
                calls = timer.calls[name]
                accounted += seconds
                print(f"  {name:22} {seconds / count * 1e3:7.3f} ms/doc  {calls / count:6.1f} calls/doc  "
                      f"{seconds / calls * 1e6:8.1f} µs/call  {seconds / t_ingest:6.1%}")
            rest = t_ingest - accounted
            print(f"  {'the rest (loop, values)':22} {rest / count * 1e3:7.3f} ms/doc  {'':17}  {'':17}"
                  f"{rest / t_ingest:6.1%}")

        if args.profile:
            profiler = cProfile.Profile()
            with pipeline_deps(root / "profile") as (settings, deps):
                profiler.enable()
                run_pipeline(rounds[0], settings, deps)
                profiler.disable()
            out = io.StringIO()
            pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(25)
            print("\ncProfile of one pipeline pass (cumulative):")
            print(out.getvalue())


if __name__ == "__main__":
    main()
