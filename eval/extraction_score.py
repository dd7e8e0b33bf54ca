#!/usr/bin/env python3
"""Score corpus-monitor's main-text extraction on pages with reference text.

A data set is a folder with html/NAME.html (the raw bytes, as served) and gold/NAME.txt (UTF-8). The
program is asked once for all pages of all sets given:

    CLI extract --format json html/A.html html/B.html ...

and must print one JSON object per line, each with at least "path" (as given) and "text" (the extracted
main text, empty when nothing was found).

Each page is scored on characters as a multiset (letters and digits after NFKC and lower case; punctuation
and white space dropped): precision, recall and F1, then their means over the pages. A page with no output
scores 0 recall and 0 F1, and does not count in the mean precision. A page is garbled when more than 1% of
its characters are U+FFFD or Latin-1 letters (the marks of a wrong decoding of Chinese bytes).

This follows the metric of the scorer the extraction sets were first published with, so figures stay
comparable.

Usage:
  python eval/extraction_score.py eval/extraction/cwced_zh [DATASET ...] --cli ".venv/bin/corpus-monitor"
         [--min-f1 F] [-v]

The last line printed is the summary; the exit status is 0 when --min-f1 (if given) holds.
"""

from __future__ import annotations

import argparse
import json
import re
import shlex
import subprocess
import sys
import time
import unicodedata
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

MOJIBAKE = re.compile(r"[\ufffd\u00c0-\u00ff]")


def chars(text: str) -> Counter[str]:
    """The text's letters and digits after NFKC and lower case, as a multiset."""
    text = unicodedata.normalize("NFKC", text).lower()
    return Counter(ch for ch in text if unicodedata.category(ch)[0] in "LN")


@dataclass(frozen=True)
class PageScore:
    precision: float
    recall: float
    f1: float
    empty: bool  #: the program found no text
    garbled: bool  #: the text it found looks wrongly decoded


def score_page(got: str, gold: str) -> PageScore:
    g, r = chars(got), chars(gold)
    common = sum((g & r).values())
    p = common / g.total() if g else 0.0
    rec = common / r.total() if r else 0.0
    f = 2 * p * rec / (p + rec) if p + rec else 0.0
    empty = not got.strip()
    garbled = not empty and len(MOJIBAKE.findall(got)) > 0.01 * max(1, len(got))
    return PageScore(p, rec, f, empty, garbled)


def pages(datasets: Sequence[Path]) -> list[tuple[Path, str]]:
    """Every page that has a reference text, with that text."""
    found = []
    for ds in datasets:
        for html in sorted((ds / "html").glob("*.html")):
            gold = ds / "gold" / f"{html.stem}.txt"
            if gold.exists():
                found.append((html, gold.read_text(encoding="utf-8", errors="replace")))
    return found


def mean(xs: Sequence[float]) -> float:
    return sum(xs) / len(xs) if xs else 0.0


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("datasets", nargs="+", type=Path, help="folders with html/ and gold/")
    ap.add_argument("--cli", default="corpus-monitor", help="how to call the program (default: %(default)s)")
    ap.add_argument("--min-f1", type=float)
    ap.add_argument("-v", "--verbose", action="store_true", help="print every page's scores")
    a = ap.parse_args(argv)

    todo = pages(a.datasets)
    if not todo:
        print("no pages found")
        return 1
    cmd = [*shlex.split(a.cli), "extract", "--format", "json", *(str(p) for p, _ in todo)]
    start = time.perf_counter()
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    elapsed = time.perf_counter() - start
    if res.returncode != 0:
        print(res.stderr[-2000:], file=sys.stderr)
        print(f"extract failed with exit status {res.returncode}")
        return 1
    got: dict[str, str] = {}
    for line in res.stdout.splitlines():
        if line.strip():
            obj = json.loads(line)
            got[str(Path(obj["path"]))] = obj.get("text") or ""

    scores = []
    for html, gold in todo:
        s = score_page(got.get(str(html), ""), gold)
        scores.append(s)
        if a.verbose:
            print(f"{html.parent.parent.name}/{html.name}: P={s.precision:.3f} R={s.recall:.3f} F1={s.f1:.3f}")
    f1 = mean([s.f1 for s in scores])
    print(f"pages={len(scores)} P={mean([s.precision for s in scores if not s.empty]):.3f} "
          f"R={mean([s.recall for s in scores]):.3f} F1={f1:.3f} empty={sum(s.empty for s in scores)} "
          f"garbled={sum(s.garbled for s in scores)} seconds={elapsed:.1f} "
          f"({len(scores) / elapsed:.1f} pages/s, process start included)")
    return 0 if a.min_f1 is None or f1 >= a.min_f1 else 1


if __name__ == "__main__":
    sys.exit(main())
