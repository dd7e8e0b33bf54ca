#!/usr/bin/env python
"""Benchmark: a whole ``corpus-monitor scan`` of real news pages against ``trafilatura.extract`` alone.

What it measures
----------------
The 76 real pages of ``eval/extraction/{cwced_zh,modern_zh}/html`` (GBK, GB2312, Big5 and UTF-8 bytes, 2 to
470 KB), each copied ``--copies`` times (3 by default: 228 documents) into a temporary folder; every copy is
made distinct by an HTML comment naming it, appended to the page's bytes (ASCII, so valid in every charset
the pages use), so each copy is a document of its own and is extracted, split and compared with the store.
Then, in alternating whole processes (``--runs`` of each, 5 by default), wall-clock time from start to exit:

* **scan**: ``corpus-monitor scan --config bench.toml`` as a user runs it, with a config whose one folder
  source is that folder (``settle_seconds = 0``: the copies are complete) and whose store is a fresh file for
  every run: decoding, trafilatura, our metadata and clean-up, claims, normalization, novelty against
  what the run has stored so far, the SQLite writes, the command's own start-up and summary;
* **trafilatura.extract**: ``python -c`` a script that imports trafilatura and calls
  ``trafilatura.extract(data)`` (default options; the bytes as read, trafilatura decoding them itself) on
  every file of the same folder, in the same order.

Both counts include the interpreter's start, the imports and reading the files: each side is one whole
process, counted the same way. Pages per second = documents / seconds; the ratio is scan pages/s over
trafilatura pages/s for each pair of runs, and the figure reported is the median over the runs (the
issue's target: at least 1.0). The runs alternate (scan, trafilatura, scan, ...) so that drift of the
machine falls on both. The same figures are printed from each process's CPU time (user + system, from
``os.wait4``), which other work on a shared machine disturbs far less than the wall clock. Each scan run
is checked to have ingested every copy.

``--profile`` also runs one scan under cProfile (``python -m cProfile``) and prints its 30 costliest
functions by cumulative time, and ``-X importtime``'s ten slowest imports of the scan process.

Run
---
::

    .venv/bin/python benchmarks/scan_speed.py              # 76 pages x 3 copies, 5 runs each (~1 min)
    .venv/bin/python benchmarks/scan_speed.py --runs 9 --copies 5
    .venv/bin/python benchmarks/scan_speed.py --profile

An on-demand measurement (``make bench``), not a test: it asserts nothing about speed.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAGES = sorted((ROOT / "eval" / "extraction").glob("*/html/*.html"))
CLI = ROOT / ".venv" / "bin" / "corpus-monitor"

#: the baseline: trafilatura.extract on every file of the folder, one process
BASELINE = """
import sys
from pathlib import Path

import trafilatura

for path in sorted(Path(sys.argv[1]).iterdir()):
    trafilatura.extract(path.read_bytes())
"""


def make_copies(folder: Path, copies: int) -> int:
    """copies distinct copies of every page in folder; returns how many files."""
    for copy in range(copies):
        for page in PAGES:
            name = f"{copy:02d}-{page.parent.parent.name}-{page.name}"
            (folder / name).write_bytes(page.read_bytes() + f"\n<!-- benchmark copy {copy} -->\n".encode("ascii"))
    return copies * len(PAGES)


def write_config(workdir: Path, folder: Path, store: Path) -> Path:
    path = workdir / "bench.toml"
    path.write_text(f'[store]\npath = "{store}"\n\n[[sources]]\nkind = "folder"\npath = "{folder}"\n'
                    "settle_seconds = 0\n", encoding="utf-8")
    return path


@contextlib.contextmanager
def fresh_store(workdir: Path, run: int) -> Iterator[Path]:
    """The config of a scan into a new, empty store."""
    store = workdir / f"store-{run}.sqlite3"
    yield write_config(workdir, workdir / "pages", store)
    for leftover in workdir.glob(f"store-{run}.sqlite3*"):
        leftover.unlink()


@dataclass(frozen=True)
class Timing:
    wall: float  #: seconds from start to exit
    cpu: float  #: the process's user + system CPU seconds


def timed(command: list[str], cwd: Path) -> tuple[Timing, str, int]:
    """Run command to its end: its timing, its output (stdout and stderr) and its exit status."""
    with tempfile.TemporaryFile() as out:
        started = time.perf_counter()
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, cwd=cwd)
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        return Timing(wall, usage.ru_utime + usage.ru_stime), out.read().decode("utf-8", "replace"), process.returncode


def run_scan(config_path: Path, documents: int) -> Timing:
    timing, output, status = timed([str(CLI), "scan", "--config", str(config_path)], config_path.parent)
    if status != 0 or not re.search(rf"\b{documents} new or changed\b", output):
        raise SystemExit(f"scan did not ingest {documents} documents:\n{output}")
    return timing


def run_baseline(folder: Path) -> Timing:
    timing, output, status = timed([sys.executable, "-c", BASELINE, str(folder)], folder)
    if status != 0:
        raise SystemExit(f"the trafilatura.extract process failed:\n{output}")
    return timing


def profile(workdir: Path, documents: int) -> None:
    with fresh_store(workdir, 10**6) as config_path:
        out = workdir / "scan.prof"
        command = [sys.executable, "-m", "cProfile", "-o", str(out), "-m", "monitor", "scan", "--config",
                   str(config_path)]
        subprocess.run(command, check=True, capture_output=True, cwd=workdir)
    import pstats

    print("\ncProfile of one scan (cumulative, top 30):")
    pstats.Stats(str(out)).sort_stats("cumulative").print_stats(30)
    with fresh_store(workdir, 10**6 + 1) as config_path:
        done = subprocess.run([sys.executable, "-X", "importtime", "-m", "monitor", "scan", "--config",
                               str(config_path)], check=True, capture_output=True, text=True, cwd=workdir)
    rows = []
    for line in done.stderr.splitlines():
        if match := re.match(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)", line):
            rows.append((int(match[2]), match[4]))
    print("slowest imports of the scan process (cumulative µs, -X importtime):")
    for micros, name in sorted(rows, reverse=True)[:10]:
        print(f"  {micros / 1e3:8.1f} ms  {name}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="whole processes of each kind, alternated (default 5)")
    parser.add_argument("--copies", type=int, default=3, help="copies of each page (default 3)")
    parser.add_argument("--profile", action="store_true", help="cProfile one scan and list its slowest imports")
    args = parser.parse_args()
    if not CLI.exists():
        raise SystemExit(f"{CLI} is missing: run make setup")

    with tempfile.TemporaryDirectory(prefix="bench-scan-") as tmp:
        workdir = Path(tmp)
        folder = workdir / "pages"
        folder.mkdir()
        documents = make_copies(folder, args.copies)
        size = sum(path.stat().st_size for path in folder.iterdir())
        print(f"scan speed: {len(PAGES)} real pages x {args.copies} copies = {documents} documents "
              f"({size / 1e6:.1f} MB), {args.runs} alternated runs of each whole process")
        run_baseline(folder)  # untimed: the page cache and the .pyc files, for both sides
        scans, baselines = [], []
        for run in range(args.runs):
            with fresh_store(workdir, run) as config_path:
                scans.append(run_scan(config_path, documents))
            baselines.append(run_baseline(folder))
            scan, base = scans[-1], baselines[-1]
            print(f"  run {run + 1}: scan {documents / scan.wall:6.1f} pages/s ({scan.wall:5.2f} s, "
                  f"cpu {scan.cpu:5.2f} s), trafilatura.extract {documents / base.wall:6.1f} pages/s "
                  f"({base.wall:5.2f} s, cpu {base.cpu:5.2f} s), ratio {base.wall / scan.wall:.2f}", flush=True)
        print(f"\nmedian of {args.runs} alternated runs ({documents} documents):")
        for label, kind in (("wall-clock", "wall"), ("CPU time", "cpu")):
            scan_s = statistics.median(getattr(t, kind) for t in scans)
            base_s = statistics.median(getattr(t, kind) for t in baselines)
            pairs = zip(scans, baselines, strict=True)
            ratio = statistics.median(getattr(b, kind) / getattr(s, kind) for s, b in pairs)
            verdict = "met" if ratio >= 1.0 else "NOT met"
            note = (f"target >= 1.0: {verdict}" if kind == "wall" else
                    f"the work done, for comparison: the scan spreads it over {os.cpu_count()} cores")
            print(f"  {label:10}  corpus-monitor scan {documents / scan_s:6.1f} pages/s, trafilatura.extract "
                  f"{documents / base_s:6.1f} pages/s; ratio {ratio:.2f} ({note})")
        if args.profile:
            profile(workdir, documents)


if __name__ == "__main__":
    main()
