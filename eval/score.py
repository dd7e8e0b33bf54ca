#!/usr/bin/env python3
"""Score corpus-monitor's novelty detection on a labeled set of coverage documents.

For every labeled document, in one temporary workspace:
  1. the seeds folder is copied in and digested once for real (the baseline: all of it becomes known);
  2. the document alone is added to the folder and `digest --dry-run --format json` is run, then removed,
     so each document is judged against the seeds only, never against the other labeled documents;
  3. the claims it reports are matched against the document's labeled sentences by character 4-grams
     (OpenCC t2s, NFKC, lower case, letters and digits only).

A labeled sentence counts as reported when at least half of its 4-grams were reported. A reported claim
is a true report when at least half of its 4-grams belong to sentences labeled novel or conflict, a false
report of something known when half belong to known sentences, and noise otherwise (site chrome,
boilerplate, text that is in no labeled sentence).

    recall      novel and conflict sentences reported / all of them
    precision   true reports / claims reported
    false_new   known sentences (verbatim or paraphrase) reported / all of them
    noise       noise reports / claims reported
    conflicts   conflict sentences reported with a non-empty "conflicts" list / all of them

This follows the metric of the scorer the development set was first published with, so figures stay
comparable. The program under test must offer `digest` with --folder, --store, --outbox, --dry-run and
--format json, printing {"documents": [...], "claims": [{"text": ..., "conflicts": [...]}, ...]}.

Usage:
  python eval/score.py eval/dev/labels.json --cli ".venv/bin/corpus-monitor" [-v]
         [--docs DIR] [--seeds DIR] [--min-recall R] [--min-precision P] [--max-false-new F]
         [--max-noise N] [--min-conflicts-flagged C]

The last line printed is the summary; the exit status is 0 when every threshold given holds, 1 when one
does not or the program under test fails.
"""

from __future__ import annotations

import argparse
import json
import shlex
import shutil
import subprocess
import sys
import tempfile
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import opencc

HERE = Path(__file__).resolve().parent
NOVEL = frozenset({"novel", "conflict"})
KNOWN = frozenset({"known_verbatim", "known_paraphrase"})
GRAM = 4
COVERED = 0.5  # a sentence, or a claim, belongs where at least half of its 4-grams are

_T2S = opencc.OpenCC("t2s")


def norm(text: str) -> str:
    """The text as the metric compares it: Simplified script, NFKC, lower case, letters and digits."""
    text = unicodedata.normalize("NFKC", _T2S.convert(text)).lower()
    return "".join(ch for ch in text if unicodedata.category(ch)[0] in "LN")


def grams(text: str) -> set[str]:
    """The character 4-grams of the normalized text (the whole text when it is shorter)."""
    t = norm(text)
    if len(t) <= GRAM:
        return {t} if t else set()
    return {t[i : i + GRAM] for i in range(len(t) - GRAM + 1)}


def share(part: set[str], whole: set[str]) -> float:
    """How much of ``part`` lies in ``whole`` (0 for an empty ``part``)."""
    return len(part & whole) / len(part) if part else 0.0


@dataclass
class Tally:
    """Counts for one document, or summed over a set."""

    novel: int = 0  #: sentences labeled novel or conflict
    novel_hit: int = 0  #: ... of them reported
    known: int = 0  #: sentences labeled known_verbatim or known_paraphrase
    known_hit: int = 0  #: ... of them reported (false news)
    para: int = 0  #: sentences labeled known_paraphrase
    para_hit: int = 0  #: ... of them reported
    conflicts: int = 0  #: sentences labeled conflict
    flagged: int = 0  #: ... of them reported with a non-empty "conflicts" list
    reported: int = 0  #: claims the program reported
    tp: int = 0  #: reported claims that are mostly novel text
    fp_known: int = 0  #: reported claims that are mostly known text
    noise: int = 0  #: reported claims that are neither

    def __iadd__(self, other: Tally) -> Tally:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))
        return self

    @staticmethod
    def ratio(x: int, y: int) -> float:
        return x / y if y else 0.0

    @property
    def recall(self) -> float:
        return self.ratio(self.novel_hit, self.novel)

    @property
    def precision(self) -> float:
        return self.ratio(self.tp, self.reported)

    @property
    def false_new(self) -> float:
        return self.ratio(self.known_hit, self.known)

    @property
    def noise_rate(self) -> float:
        return self.ratio(self.noise, self.reported)

    @property
    def flagged_rate(self) -> float:
        return self.ratio(self.flagged, self.conflicts)

    def summary(self) -> str:
        return (f"recall={self.recall:.3f} precision={self.precision:.3f} false_new={self.false_new:.3f} "
                f"(paraphrases reported {self.para_hit}/{self.para}) noise={self.noise_rate:.3f} "
                f"conflicts_flagged={self.flagged}/{self.conflicts} "
                f"reported={self.reported} novel={self.novel} known={self.known}")


@dataclass
class DocumentScore:
    """One document's counts, with what went wrong in it (for -v)."""

    tally: Tally
    missed: list[str] = field(default_factory=list)  #: novel or conflict sentences not reported
    wrongly_reported: list[tuple[str, str]] = field(default_factory=list)  #: (label, text) of known ones reported
    noise: list[str] = field(default_factory=list)  #: reported claims that are in no labeled claim


def score_document(sentences: Sequence[dict[str, Any]], claims: Iterable[dict[str, Any]]) -> DocumentScore:
    """Score the claims reported for one document against its labeled sentences."""
    labeled = [(s["label"], s["text"], grams(s["text"])) for s in sentences if s["label"] != "boilerplate"]
    claims = list(claims)
    reported: set[str] = set()
    flagged: set[str] = set()
    for claim in claims:
        g = grams(claim["text"])
        reported |= g
        if claim.get("conflicts"):
            flagged |= g
    novel_text: set[str] = set()
    known_text: set[str] = set()
    t = Tally(reported=len(claims))
    score = DocumentScore(t)
    for label, text, g in labeled:
        hit = share(g, reported) >= COVERED
        if label in NOVEL:
            novel_text |= g
            t.novel += 1
            t.novel_hit += hit
            if not hit:
                score.missed.append(text)
            if label == "conflict":
                t.conflicts += 1
                t.flagged += share(g, flagged) >= COVERED
        elif label in KNOWN:
            known_text |= g
            t.known += 1
            t.known_hit += hit
            if label == "known_paraphrase":
                t.para += 1
                t.para_hit += hit
            if hit:
                score.wrongly_reported.append((label, text))
    for claim in claims:
        g = grams(claim["text"])
        if not g:
            continue
        if share(g, novel_text) >= COVERED:
            t.tp += 1
        elif share(g, known_text) >= COVERED:
            t.fp_known += 1
        else:
            t.noise += 1
            score.noise.append(claim["text"])
    return score


class ProgramFailed(Exception):
    """The program under test exited non-zero or printed something that is not the JSON expected."""


def program(cli: str) -> list[str]:
    """The command line of the program under test; a relative path to it is taken from here, since the
    program runs in the temporary workspace."""
    words = shlex.split(cli)
    if words and "/" in words[0] and Path(words[0]).exists():
        words[0] = str(Path(words[0]).absolute())  # not resolve(): a venv's python is a symlink
    return words


def _run(cli: list[str], args: list[str], cwd: Path) -> str:
    try:
        res = subprocess.run([*cli, *args], cwd=cwd, capture_output=True, text=True, timeout=600)
    except OSError as exc:
        raise ProgramFailed(f"cannot run {shlex.join(cli)}: {exc.strerror or exc}") from exc
    if res.returncode != 0:
        print(res.stdout[-2000:], res.stderr[-2000:], sep="\n", file=sys.stderr)
        raise ProgramFailed(f"{shlex.join(args[:1])} failed with exit status {res.returncode}")
    return res.stdout


def score_set(labels: dict[str, Any], docs: Path, seeds: Path, cli: list[str], verbose: bool) -> Tally:
    """Run the program on each labeled document beside the seeds; print a line per document."""
    total = Tally()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        corpus = work / "corpus"
        shutil.copytree(seeds, corpus)
        paths = ["--folder", str(corpus), "--store", str(work / "store.sqlite3"), "--outbox", str(work / "outbox")]
        _run(cli, ["digest", *paths], work)
        for doc in labels["documents"]:
            target = corpus / doc["file"]
            shutil.copyfile(docs / doc["file"], target)
            try:
                out = _run(cli, ["digest", "--dry-run", "--format", "json", *paths], work)
            finally:
                target.unlink()
            try:
                claims = json.loads(out).get("claims", [])
            except json.JSONDecodeError as exc:
                print(out[:2000], file=sys.stderr)
                raise ProgramFailed(f"{doc['file']}: stdout is not JSON ({exc})") from exc
            score = score_document(doc["sentences"], claims)
            t = score.tally
            total += t
            print(f"{doc['file']}: novel {t.novel_hit}/{t.novel} reported, known {t.known_hit}/{t.known} wrongly "
                  f"reported, {t.reported} claims reported ({t.noise} noise)")
            if verbose:
                for text in score.missed:
                    print(f"   missed novel: {text}")
                for label, text in score.wrongly_reported:
                    print(f"   reported known ({label}): {text}")
                for text in score.noise:
                    print(f"   noise: {text}")
    return total


def meets(t: Tally, a: argparse.Namespace) -> bool:
    """Whether every threshold given on the command line holds."""
    return all([
        a.min_recall is None or t.recall >= a.min_recall,
        a.min_precision is None or t.precision >= a.min_precision,
        a.max_false_new is None or t.false_new <= a.max_false_new,
        a.max_noise is None or t.noise_rate <= a.max_noise,
        a.min_conflicts_flagged is None or t.flagged_rate >= a.min_conflicts_flagged,
    ])


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("labels", type=Path, help="labels.json of the set")
    ap.add_argument("--docs", type=Path, help="folder of the documents (default: beside labels.json)")
    ap.add_argument("--seeds", type=Path, default=HERE.parent / "seeds", help="the known coverage (default: seeds/)")
    ap.add_argument("--cli", default="corpus-monitor", help="how to call the program (default: %(default)s)")
    ap.add_argument("--min-recall", type=float)
    ap.add_argument("--min-precision", type=float)
    ap.add_argument("--max-false-new", type=float)
    ap.add_argument("--max-noise", type=float)
    ap.add_argument("--min-conflicts-flagged", type=float,
                    help="share of conflict sentences reported with a non-empty 'conflicts' list")
    ap.add_argument("-v", "--verbose", action="store_true", help="list every miss, false report and noise")
    a = ap.parse_args(argv)

    labels = json.loads(a.labels.read_text(encoding="utf-8"))
    docs = a.docs or a.labels.parent
    try:
        total = score_set(labels, docs, a.seeds, program(a.cli), a.verbose)
    except ProgramFailed as exc:
        print(exc)
        return 1
    print(total.summary())
    return 0 if meets(total, a) else 1


if __name__ == "__main__":
    sys.exit(main())
