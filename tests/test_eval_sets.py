"""The labeled sets in ``eval/``, scored through the real CLI by the project's scorers; and the scorers
themselves, shown to fail on output that is wrong."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import opencc
import pytest
from helpers import DEV, EVAL, EXTRACTION, eval_script

CLI = f"{sys.executable} -m monitor"
NOVELTY = eval_script("score")
EXTRACT = eval_script("extraction_score")
DOCUMENTS: list[dict[str, Any]] = json.loads((DEV / "labels.json").read_text("utf-8"))["documents"]


def _score(script: str, *args: str) -> tuple[int, str]:
    res = subprocess.run([sys.executable, str(EVAL / script), *args, "--cli", CLI],
                         capture_output=True, text=True, timeout=900)
    lines = res.stdout.strip().splitlines()
    assert lines, res.stderr
    return res.returncode, "\n".join([res.stderr[-2000:], lines[-1]]) if res.returncode else lines[-1]


def test_dev_set_novelty_meets_the_targets_and_flags_every_conflict() -> None:
    status, summary = _score(
        "score.py", str(DEV / "labels.json"),
        "--min-recall", "0.95", "--max-false-new", "0.05", "--max-noise", "0.05", "--min-conflicts-flagged", "1.0",
    )
    assert status == 0, summary


@pytest.mark.parametrize(("dataset", "min_f1"), [("cwced_zh", 0.85), ("modern_zh", 0.97)])
def test_extraction_quality_on_real_chinese_pages(dataset: str, min_f1: float) -> None:
    status, summary = _score("extraction_score.py", str(EXTRACTION / dataset), "--min-f1", str(min_f1))
    assert status == 0, summary
    garbled = re.search(r"garbled=(\d+)", summary)
    assert garbled and garbled.group(1) == "0", summary


# --- the scorers can fail ------------------------------------------------------------------------

def _claims(doc: dict[str, Any], labels: set[str], flag: bool = True) -> list[dict[str, Any]]:
    return [{"text": s["text"], "conflicts": [{"claim": 1}] if flag and s["label"] == "conflict" else []}
            for s in doc["sentences"] if s["label"] in labels]


@pytest.mark.parametrize("doc", DOCUMENTS, ids=lambda d: d["file"][:12])
def test_novelty_scorer_on_perfect_and_wrong_reports(doc: dict[str, Any]) -> None:
    perfect = NOVELTY.score_document(doc["sentences"], _claims(doc, {"novel", "conflict"})).tally
    assert perfect.novel > 0 and perfect.known > 0
    assert perfect.recall == 1.0 and perfect.precision == 1.0 and perfect.false_new == 0.0
    assert perfect.noise == 0 and perfect.flagged == perfect.conflicts

    unflagged = NOVELTY.score_document(doc["sentences"], _claims(doc, {"novel", "conflict"}, flag=False)).tally
    assert unflagged.flagged == 0 and unflagged.recall == 1.0

    everything = NOVELTY.score_document(doc["sentences"], _claims(doc, {s["label"] for s in doc["sentences"]}))
    t = everything.tally
    assert t.false_new == 1.0 and t.fp_known == t.known and t.precision < 1.0
    # boilerplate (bylines, captions) is in no claim: reporting it is noise
    boilerplate = [s["text"] for s in doc["sentences"] if s["label"] == "boilerplate"]
    assert t.noise == len(everything.noise) and set(everything.noise) <= set(boilerplate)

    nothing = NOVELTY.score_document(doc["sentences"], []).tally
    assert nothing.recall == 0.0 and nothing.reported == 0 and nothing.precision == 0.0


def test_novelty_scorer_matches_across_scripts_and_punctuation() -> None:
    doc = DOCUMENTS[0]
    novel = [s for s in doc["sentences"] if s["label"] == "novel"]
    traditional = opencc.OpenCC("s2t")
    reported = [{"text": traditional.convert(s["text"]).replace("，", ", ").replace("。", ".")} for s in novel]
    t = NOVELTY.score_document(doc["sentences"], reported).tally
    assert t.recall == len(novel) / t.novel and t.tp == len(novel) and t.noise == 0


def test_extraction_scorer_on_a_real_page_and_its_reference() -> None:
    gold_path = next((EXTRACTION / "cwced_zh" / "gold").glob("*.txt"))
    gold = gold_path.read_text("utf-8")
    assert EXTRACT.score_page(gold, gold).f1 == 1.0
    half = EXTRACT.score_page(gold[: len(gold) // 2], gold)
    assert half.precision == 1.0 and 0.3 < half.recall < 0.7
    # the reference text read with the wrong codec: the mojibake every wrong GBK decoding shows
    wrong = gold.encode("gb18030").decode("latin-1")
    scored = EXTRACT.score_page(wrong, gold)
    assert scored.garbled and scored.f1 < 0.5  # only its digits and Latin letters survive
    empty = EXTRACT.score_page("  \n", gold)
    assert empty.empty and empty.f1 == 0.0 and not empty.garbled


def test_novelty_scorer_keeps_a_relative_program_path_and_its_symlink(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    # the program runs in a temporary workspace, so a relative path is made absolute; a venv's python is a
    # symlink to the base interpreter and must stay the venv's, or the project is not importable
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "python").symlink_to(sys.executable)
    monkeypatch.chdir(tmp_path)
    assert NOVELTY.program("bin/python -m monitor") == [str(tmp_path / "bin" / "python"), "-m", "monitor"]
    assert NOVELTY.program("corpus-monitor --x 'a b'") == ["corpus-monitor", "--x", "a b"]
