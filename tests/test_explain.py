"""`corpus-monitor explain`: every sentence of a dev-set document with its fate, through the real CLI."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from helpers import DEV
from test_cli import cli

LABELS = {d["file"]: d for d in json.loads((DEV / "labels.json").read_text("utf-8"))["documents"]}
QA = "digipulse-20240731-qa.html"


def explain(work: Path, path: Path) -> list[dict]:
    res = cli("explain", str(path), "--format", "json", cwd=work)
    assert res.returncode == 0, res.stderr
    return [json.loads(line) for line in res.stdout.splitlines()]


def labelled(label: str) -> list[str]:
    return [s["text"] for s in LABELS[QA]["sentences"] if s["label"] == label]


def test_explain_gives_each_sentence_of_a_dev_document_its_fate(work: Path) -> None:
    assert cli("digest", cwd=work).returncode == 0  # the seeds are the known coverage
    fates = explain(work, DEV / QA)
    by_text = {f["text"]: f for f in fates}

    conflict = next(s for s in labelled("conflict"))
    assert by_text[conflict]["fate"] == "conflict"
    assert "10 美元" in by_text[conflict]["claim_text"] and "003_" in by_text[conflict]["source"]

    (byline,) = [s for s in labelled("boilerplate") if "編輯部" in s]
    assert by_text[byline]["fate"] == "dropped" and by_text[byline]["rule"] == "byline"

    verbatim = labelled("known_verbatim")
    assert verbatim and all(by_text[s]["fate"] == "known" for s in verbatim)
    assert all(by_text[s]["source"].endswith(".txt") and by_text[s]["claim"] for s in verbatim)

    novel = labelled("novel")
    assert novel and all(by_text[s]["fate"] == "new" and by_text[s]["claim"] is None for s in novel)

    paraphrases = [by_text[s] for s in labelled("known_paraphrase")]
    assert any(p["fate"] == "paraphrase" and 0.3 <= p["score"] < 1 for p in paraphrases)
    # every labelled sentence is accounted for, in document order
    order = [f["text"] for f in fates]
    assert [s for s in order if s in {x["text"] for x in LABELS[QA]["sentences"]}] == list(
        dict.fromkeys(x["text"] for x in LABELS[QA]["sentences"])
    )


def test_explain_keeps_nothing_and_names_a_repeat_within_the_document(work: Path) -> None:
    assert cli("digest", cwd=work).returncode == 0
    store = work / "var" / "monitor.sqlite3"
    before = sqlite3.connect(store).execute("SELECT count(*) FROM claims").fetchone()
    novel = labelled("novel")[0]
    doc = work / "repeat.txt"
    doc.write_text(f"重複\n\n{novel}\n\n{novel}\n", encoding="utf-8")
    fates = explain(work, doc)
    assert [f["fate"] for f in fates if f["text"] == novel] == ["new", "repeat"]
    assert sqlite3.connect(store).execute("SELECT count(*) FROM claims").fetchone() == before
    text = cli("explain", str(doc), cwd=work)
    assert text.returncode == 0 and "[new]" in text.stdout and "[repeat]" in text.stdout


def test_explain_of_a_missing_file_names_it(work: Path) -> None:
    res = cli("explain", str(work / "nope.html"), cwd=work)
    assert res.returncode == 1 and "nope.html" in res.stderr
