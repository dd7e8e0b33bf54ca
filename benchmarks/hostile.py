#!/usr/bin/env python
"""Benchmark: every hostile case of the fault suite (issue 12), at the sizes the issue measured.

What it measures
----------------
Each case of ``tests/hostile.py`` (the same builders the fault suite runs at a size CI can afford): a copy of the
seeds (the control documents) and one hostile thing beside them, in a watched folder or on a local web server on
127.0.0.1 with a control page. At ``--scale full`` (the default): a 36 MB one-line file, a page of 550,000 tiny
paragraphs, a feed of 100 articles of 5 MB, a gzip bomb of 1 GB, a server dripping a byte every 0.2 s; the time
budget and the request deadline are the defaults (30 s each).

Each case runs ``corpus-monitor scan`` once, as a user runs it, in a subprocess limited to 1 GiB of address space
per process (``resource.setrlimit``). Printed for each: wall time from start to exit, the peak resident memory of
the scan and its worker processes together (sampled from /proc every 50 ms), the exit status, the warning the
case must give (or what was ingested), and whatever broke the suite's rules (a traceback, the control documents
not ingested, text from outside the folder stored, a missing warning). The issue's targets: each case within 60 s,
under 1 GB, the control ingested, no traceback.

Run
---
::

    .venv/bin/python benchmarks/hostile.py               # every case, full size (~3 min)
    .venv/bin/python benchmarks/hostile.py --scale ci    # the sizes the test suite uses
    .venv/bin/python benchmarks/hostile.py --case drip --case big_feed
    .venv/bin/python benchmarks/hostile.py --case big_feed --entries 400   # the issue's 7.17 GB feed

An on-demand measurement (``make bench``), not a test: it asserts nothing about time or memory (the fault suite,
``tests/test_faults.py``, checks the outcomes).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests"), str(ROOT)]

from hostile import CASES, CI, FULL, Outcome, run  # noqa: E402 - after the path is set
from webserver import serving  # noqa: E402


def _said(outcome: Outcome) -> str:
    """The case's own line of stderr (its warning), else the summary."""
    warnings = [line for line in outcome.stderr.splitlines() if "warning:" in line or "error:" in line]
    line = warnings[0].split("warning: ", 1)[-1] if warnings else outcome.summary
    line = line.replace(str(Path(tempfile.gettempdir())), "…")
    return line if len(line) <= 90 else line[:89] + "…"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", choices=("full", "ci"), default="full")
    parser.add_argument("--case", action="append", default=[], help="a case's builder name (default: all)")
    parser.add_argument("--entries", type=int, help="articles in the big feed (default: the scale's)")
    args = parser.parse_args()
    scale = FULL if args.scale == "full" else CI
    if args.entries is not None:
        scale = dataclasses.replace(scale, entries=args.entries)
    cases = [c for c in CASES if not args.case or c.build.__name__ in args.case]
    if not cases:
        parser.error(f"no such case; known: {', '.join(c.build.__name__ for c in CASES)}")
    print(f"scale {scale.name}: {len(cases)} cases, each `corpus-monitor scan` under a 1 GiB address-space limit")
    print(f"{'case':40} {'item':>4} {'wall s':>7} {'peak RSS':>9} {'exit':>4}  outcome")
    failures = 0
    for case in cases:
        with tempfile.TemporaryDirectory(prefix="hostile-") as work, serving() as server:
            outcome = run(Path(work), server, case, scale, timeout=600)
        failures += bool(outcome.problems)
        verdict = "ok" if not outcome.problems else "FAILED: " + "; ".join(outcome.problems)
        print(f"{case.name:40} {case.item:>4} {outcome.seconds:7.1f} {outcome.peak_rss / 2**20:7.0f}MB "
              f"{outcome.exit_status:>4}  {verdict}: {_said(outcome)}", flush=True)
    print(f"{len(cases) - failures} of {len(cases)} cases met the suite's rules")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
