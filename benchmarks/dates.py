#!/usr/bin/env python
"""Benchmark: how many documents get a publication date, before and after htmldate's extensive search was
dropped, and how long finding it takes.

What it measures
----------------
Every document of the seeds (``seeds/``), the development set (``eval/dev/``) and the extraction pages
(``eval/extraction/*/html/``) gets a date two ways:

* **before**: the code as it was up to commit 4efd7c1. HTML: ``htmldate.find_date(tree,
  **trafilatura.settings.set_date_params(True), url=...)`` (the extensive search, which falls through to
  dateparser's language detection on pages without a clear date), then ``monitor.extract._day_date`` (a
  year-only guess is dropped); plain text: the first date in the first five lines by that commit's regex.
  Reproduced here, so the figure stays comparable whatever ``monitor.extract`` becomes.
* **after**: ``monitor.extract.extract(...).published``, what a scan records now (htmldate without its
  extensive search, then our own dateline finder, ``monitor.extract._dateline``).

It prints, per set, how many documents have a date each way, how many dates agree, were gained, lost or
differ, and for the development set how many are correct against ``eval/dev/labels.json``
(``published``), and for the extraction pages whose date changed how many are right against the date read
off each page by hand (``HAND_CHECKED``); then the seconds spent finding the dates of the HTML pages, in
this one process, so the before figure includes dateparser's first use (its import and locale data, most
of its cost in a scan): the extensive search against htmldate without it plus ``_day_date`` and the
dateline finder, each on a tree of its own. ``-v`` lists every document whose date changed, with both
dates and the one read by hand.

Run
---
::

    .venv/bin/python benchmarks/dates.py        # about 10 s, most of it the extensive search
    .venv/bin/python benchmarks/dates.py -v

An on-demand measurement (``make bench``), not a test: it asserts nothing.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import hashlib
import json
import re
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from htmldate import find_date
from lxml.html import HtmlElement
from trafilatura.metadata import examine_meta, extract_meta_json, extract_url
from trafilatura.settings import set_date_params
from trafilatura.utils import load_html

from monitor.extract import _HTML_START, _dateline, _day_date, decode, extract
from monitor.models import Fetched

ROOT = Path(__file__).resolve().parents[1]
SEEDS = ROOT / "seeds"
DEV = ROOT / "eval" / "dev"
EXTRACTION = ROOT / "eval" / "extraction"

#: the plain-text date regex and the number of lines it looked at, as at commit 4efd7c1
_OLD_TEXT_DATE = re.compile(r"(?<!\d)((?:19|20)\d\d) ?(?:[-/.]|年) ?(\d{1,2}) ?(?:[-/.]|月) ?(\d{1,2})(?!\d)")
_OLD_TEXT_LINES = 5
_TITLE_MAX = 80
_SENTENCE_END = tuple("。！？.!?…")


#: the extraction pages whose date changed, with the publication date read off the page by hand (None: the
#: page shows none); checked on trafilatura 2.3.1 and htmldate 1.11.0
HAND_CHECKED: dict[str, str | None] = {
    "05e98007-d810-4036-b154-2ef2fe68c2af.html": "2005-07-05",  # 发布日期： 7/5/2005 9:23:57 PM (US order)
    "0d931936-d510-4904-a714-88bb267b62da.html": "2005-03-21",  # sina dateline 2005年03月21日 11:21
    "2168485b-0614-4e1e-b88e-289bde57e5f0.html": "2004-12-10",  # under the headline; 12-11 is a comment
    "2bac7fb2-efbd-4444-99c8-51c72acf5c7d.html": "2005-04-05",  # 2005-04-05 06:40更新 来源：…
    "3832838a-d7ea-4da5-86ac-90de11124ab6.html": "2005-04-27",  # 2005-04-27 14:32更新 来源：千龙新闻网
    "386d70f8-19dc-495b-aa14-18cc057e1544.html": None,  # a forum thread; 2005-10 is a skin's name
    "7c6d2080-5ab9-4385-9c0e-e1c8ed06efd3.html": "2004-07-16",  # sohu dateline 2004年7月16日08:19
    "8baa71e3-7cfa-4850-bb54-c6db4e0c3b70.html": "2005-05-13",  # sohu dateline 2005年05月13日14:15
    "93498c29-594f-4e98-a1e9-f34fa8706d7c.html": "2003-11-12",  # sohu dateline 2003年11月12日16:36
    "9b1e5dcb-3a68-408d-80c4-6878fade378b.html": "2005-08-12",  # 本贴由…于2005年8月12日16:12:21…发表
    "aefcf136-f592-4e95-b376-81cbd144684b.html": "2022-02-13",  # e-paper page: the date
    "bbdf5079-e7a9-45bd-9bba-20cf65c676f1.html": "2005-02-06",  # 2005-02-06 13:26更新
    "c25d25c2-6e22-44fb-b073-0ff2f1c23643.html": "2005-04-28",  # 2005-04-28 11:13更新
    "c268c1b4-6864-45a1-bcaa-ec0922eb10d1.html": "2005-01-06",  # 2005-01-06 08:13更新
    "c3a80850-3246-416e-af1e-2ab747c4615c.html": "2005-03-02",  # only in its URL; 2006-10-23 is an ad's comment
    "e3f3b532-95de-433e-a4b5-ad51bb981c96.html": "2004-10-13",  # only in a CMS comment; 09-06 is a link's
    "ebe9df29-f5ed-4b45-ab31-afad5cac3ad1.html": "2004-10-21",  # 时间：2004年10月21日14:18
}


@dataclass(frozen=True)
class Dated:
    path: Path
    before: str | None
    after: str | None
    truth: str | None = None


def _html_tree(data: bytes) -> tuple[HtmlElement, str, str | None]:
    """The tree, markup and URL monitor.extract works from (its junk-stripping and trafilatura's URL steps)."""
    text, _ = decode(data, html=True)
    start = _HTML_START.search(text, 0, 2048)
    markup = text[start.start() :] if start else "<!DOCTYPE html>\n" + text
    tree = load_html(markup)
    meta = examine_meta(tree)
    with contextlib.suppress(Exception):  # as monitor.extract: trafilatura's JSON-LD reader has bugs
        meta = extract_meta_json(tree, meta)
    return tree, markup, meta.url or extract_url(tree)


def after(path: Path, data: bytes) -> str | None:
    kind = "html" if path.suffix in (".html", ".htm") else "text"
    fetched = Fetched(str(path), data, hashlib.sha256(data).hexdigest(), "bench", kind=kind)
    return extract(fetched).published


class Clock:
    """Seconds spent finding the dates of HTML pages, before and after."""

    def __init__(self) -> None:
        self.before = self.after = 0.0
        self.pages = 0

    def before_html(self, data: bytes) -> str | None:
        tree, markup, url = _html_tree(data)
        started = time.perf_counter()
        found = _day_date(find_date(tree, **set_date_params(True), url=url), markup)
        self.before += time.perf_counter() - started
        self.pages += 1
        return found

    def after_html(self, data: bytes) -> None:
        """The date steps of monitor.extract alone, timed (their result is the document's published)."""
        tree, markup, url = _html_tree(data)
        started = time.perf_counter()
        _day_date(find_date(tree, **set_date_params(False), url=url), markup) or _dateline(tree, None)
        self.after += time.perf_counter() - started


def before_text(data: bytes) -> str | None:
    lines = [line for line in (raw.strip() for raw in decode(data, html=False)[0].splitlines()) if line]
    if len(lines) > 1 and len(lines[0]) <= _TITLE_MAX and not lines[0].endswith(_SENTENCE_END):
        lines = lines[1:]
    for match in _OLD_TEXT_DATE.finditer("\n".join(lines[:_OLD_TEXT_LINES])):
        try:
            return datetime.date(*(int(group) for group in match.groups())).isoformat()
        except ValueError:
            continue
    return None


def dated(paths: list[Path], clock: Clock, truth: dict[str, str] | None = None) -> list[Dated]:
    out = []
    for path in paths:
        data = path.read_bytes()
        if path.suffix in (".html", ".htm"):
            old = clock.before_html(data)
            clock.after_html(data)
        else:
            old = before_text(data)
        out.append(Dated(path, old, after(path, data), (truth or {}).get(path.name)))
    return out


def change(item: Dated) -> str:
    if item.before == item.after:
        return "same"
    if item.before is None:
        return "gained"
    return "lost" if item.after is None else "differ"


def report(name: str, items: list[Dated], verbose: bool) -> None:
    counts = Counter(change(item) for item in items)
    print(f"{name:18} {len(items):4} docs  dated before {sum(i.before is not None for i in items):3}  "
          f"after {sum(i.after is not None for i in items):3}  (same {counts['same']}, gained {counts['gained']}, "
          f"lost {counts['lost']}, differ {counts['differ']})")
    if any(item.truth for item in items):
        right: Callable[[Callable[[Dated], str | None]], int] = lambda pick: sum(  # noqa: E731
            pick(i) == i.truth for i in items if i.truth)
        labelled = sum(1 for i in items if i.truth)
        print(f"{'':18} correct against labels.json: before {right(lambda i: i.before)}/{labelled}, "
              f"after {right(lambda i: i.after)}/{labelled}")
    checked = [i for i in items if i.before != i.after and i.path.name in HAND_CHECKED]
    if checked:
        print(f"{'':18} changed dates right against the page read by hand: before "
              f"{sum(i.before == HAND_CHECKED[i.path.name] for i in checked)}/{len(checked)}, after "
              f"{sum(i.after == HAND_CHECKED[i.path.name] for i in checked)}/{len(checked)}")
    if unchecked := [i for i in items if i.before != i.after and i.path.name not in HAND_CHECKED and not i.truth]:
        print(f"{'':18} {len(unchecked)} changed dates not read by hand yet (-v lists them)")
    if verbose:
        for item in items:
            if item.before != item.after:
                print(f"    {change(item):6} before {item.before!s:10}  after {item.after!s:10}  "
                      f"by hand {HAND_CHECKED.get(item.path.name, '?')!s:10}  {item.path.relative_to(ROOT)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="list every document whose date changed")
    args = parser.parse_args()

    labels = json.loads((DEV / "labels.json").read_text("utf-8"))["documents"]
    truth = {label["file"]: label["published"] for label in labels}
    clock = Clock()
    sets = {
        "seeds": dated(sorted(SEEDS.glob("*.txt")), clock),
        "dev": dated(sorted(DEV / label["file"] for label in labels), clock, truth),
        **{f"extraction/{d.name}": dated(sorted((d / "html").glob("*.html")), clock)
           for d in sorted(EXTRACTION.iterdir()) if (d / "html").is_dir()},
    }
    print("publication dates, before (htmldate's extensive search, commit 4efd7c1) and after (htmldate fast, "
          "then our dateline finder):")
    for name, items in sets.items():
        report(name, items, args.verbose)
    print(f"\nseconds finding the dates of {clock.pages} HTML pages in this process: before {clock.before:.2f} s "
          f"(with dateparser's first use), after {clock.after:.2f} s")


if __name__ == "__main__":
    main()
