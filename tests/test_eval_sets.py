"""The shared labeled sets, scored through the real CLI by the shared scoring scripts."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
from helpers import SHARED

EVAL = SHARED / "eval"
CLI = f"{sys.executable} -m monitor"


def _score(*args: str) -> tuple[int, str]:
    res = subprocess.run([sys.executable, *args, "--cli", CLI], capture_output=True, text=True, timeout=900)
    lines = res.stdout.strip().splitlines()
    assert lines, res.stderr
    return res.returncode, lines[-1]


def test_dev_set_novelty_meets_the_targets_and_flags_every_conflict() -> None:
    status, summary = _score(
        str(EVAL / "score.py"), str(EVAL / "dev" / "labels.json"),
        "--min-recall", "0.95", "--max-false-new", "0.05", "--max-noise", "0.05", "--min-conflicts-flagged", "1.0",
    )
    assert status == 0, summary


@pytest.mark.parametrize(("dataset", "min_f1"), [("cwced_zh", 0.85), ("modern_zh", 0.97)])
def test_extraction_quality_on_real_chinese_pages(dataset: str, min_f1: float) -> None:
    status, summary = _score(str(EVAL / "extraction_score.py"), str(EVAL / "extraction" / dataset),
                             "--min-f1", str(min_f1))
    assert status == 0, summary
    garbled = re.search(r"garbled=(\d+)", summary)
    assert garbled and garbled.group(1) == "0", summary
