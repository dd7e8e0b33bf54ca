"""The canonical form near-duplicates are compared in, and claim pairs matched through the real ingest."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import fate_after

from monitor import config
from monitor.canon import Canon, load_aliases, numbers
from monitor.normalize import Normalizer

DATA = json.loads((Path(__file__).parent / "data" / "matching.json").read_text("utf-8"))
NORM = Normalizer("t2s")
CANON = Canon(load_aliases())
SETTINGS = config.load(None, cwd=Path("/nonexistent"))


@pytest.mark.parametrize(("written", "canonical"), DATA["numbers"])
def test_numbers_take_one_form(written: str, canonical: str) -> None:
    assert numbers(written) == canonical


@pytest.mark.parametrize(("written", "canonical"), DATA["aliases"])
def test_names_take_one_form(written: str, canonical: str) -> None:
    assert CANON(NORM.normalize(written)) == NORM.normalize(canonical)


def test_a_user_alias_file_adds_names_and_changes_the_index_parameters(tmp_path: Path) -> None:
    extra = tmp_path / "aliases.toml"
    extra.write_text('[[alias]]\ncanonical = "雷朋"\nnames = ["ray-ban", "rayban"]\n', encoding="utf-8")
    mine = Canon(load_aliases(extra))
    assert mine(NORM.normalize("Ray-Ban智能眼镜")) == "雷朋智能眼镜"
    assert mine.parameters != CANON.parameters


@pytest.mark.parametrize("pair", DATA["pairs"], ids=[p["why"] for p in DATA["pairs"]])
def test_claim_pairs_through_the_ingest(tmp_path: Path, pair: dict) -> None:
    fate = fate_after(tmp_path, pair["known"], pair["new"])
    found = fate.fate in ("known", "paraphrase")
    assert found == pair["match"], (pair["why"], fate)
