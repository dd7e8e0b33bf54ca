"""Ranking: within a document, the digest lists claims with figures, quotes or announcements first.

A table of real sentences (tests/data/ranking.json) with the cues each must carry, and a digest built from a
real seed whose JSON and text list its claims in that order, the rest keeping the document's order.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path

import pytest
from helpers import seed

from monitor import config
from monitor.digest import environment, render_whole, to_json
from monitor.extract import extract
from monitor.models import DigestClaim, Fetched
from monitor.normalize import Normalizer
from monitor.pipeline import Deps, ingest
from monitor.ranking import ANNOUNCEMENT, compile_table, cues, rank, ranked
from monitor.store import Store

NORM = Normalizer("t2s")
NOW = datetime(2024, 7, 30, 12, 0, tzinfo=UTC)
SETTINGS = config.load(None, cwd=Path("/nonexistent"))
CASES = json.loads((Path(__file__).parent / "data" / "ranking.json").read_text("utf-8"))["cases"]
TABLE = resources.files("monitor.data").joinpath("ranking.toml").read_text("utf-8")


@pytest.mark.parametrize("case", CASES, ids=[c["why"] for c in CASES])
def test_rank_class_table(case: dict[str, str]) -> None:
    normalized = NORM.normalize(case["text"])
    assert sorted(cues(normalized, case.get("speaker"))) == sorted(case["cues"]), case["why"]
    assert rank(normalized, case.get("speaker")) == (0 if case["cues"] else 1)


def test_the_table_covers_every_cue_and_claims_without_any() -> None:
    found = {cue for case in CASES for cue in case["cues"]}
    assert found == {"figure", "quote", "announcement"}
    assert sum(1 for case in CASES if not case["cues"]) >= 4


def test_the_cue_words_are_data_with_their_rule_in_a_header() -> None:
    header = [line for line in TABLE.splitlines() if line.startswith("#")]
    assert TABLE.startswith("# Ranking:") and len(header) > 10
    assert all(word in TABLE for word in ("宣布", "发布", "推出", "上线", "开源", "announc", "launch", "releas"))
    # the words are read from the file: a table without 开源 no longer sees an announcement in it
    (case,) = [c for c in CASES if c["why"] == "开源, in a quote"]
    normalized = NORM.normalize(case["text"])
    assert ANNOUNCEMENT in cues(normalized, table=compile_table(TABLE))
    assert ANNOUNCEMENT not in cues(normalized, table=compile_table(TABLE.replace('"开源", ', "")))


def _seed_digest(tmp_path: Path, prefix: str) -> tuple[list[int], dict[str, object]]:
    """One seed ingested by the pipeline into a fresh store: the claim ids in the store's order (document,
    then position), and the digest's JSON."""
    path = seed(prefix)
    data = path.read_bytes()
    fetched = Fetched(str(path), data, hashlib.sha256(data).hexdigest(), source="seeds", kind="text")
    with Store(tmp_path / "s.sqlite3") as store:
        ingest(fetched, extract(fetched), Deps(store=store, normalizer=NORM), SETTINGS)
        digest = store.unreported(NOW)
    return [c.id for c in digest.claims], to_json(digest) | {"_text": render_whole(digest, environment()).text}


def test_a_seed_digest_lists_figures_quotes_and_announcements_first(tmp_path: Path) -> None:
    by_position, payload = _seed_digest(tmp_path, "004")
    claims = payload["claims"]
    assert isinstance(claims, list)
    listed = [c["id"] for c in claims]
    assert sorted(listed) == sorted(by_position), "ranking changes the order only"
    ranks = [rank(c["normalized"], c["speaker"]) for c in claims]
    first = ranks.count(0)
    assert 10 <= first <= len(ranks) - 10, "both parts are well filled in this seed"
    assert ranks == [0] * first + [1] * (len(ranks) - first), "every claim with a cue before every other"
    position = {claim_id: index for index, claim_id in enumerate(by_position)}
    for part in (listed[:first], listed[first:]):
        assert [position[i] for i in part] == sorted(position[i] for i in part), "each part in document order"
    assert listed != by_position
    # two real sentences: the one without a cue comes first in the article, the one with figures first in the digest
    plain = "扎克伯格再度炮轰苹果封闭生态对于Meta公司的打击。"
    figures = "早前扎克伯格承诺,到今年年底,Meta将拥有35万块英伟达H100 GPU"
    texts = [c["text"] for c in claims]
    (plain_at,) = [i for i, t in enumerate(texts) if t == plain]
    (figures_at,) = [i for i, t in enumerate(texts) if t.startswith(figures)]
    assert position[listed[plain_at]] < position[listed[figures_at]] and figures_at < plain_at
    text = payload["_text"]
    assert isinstance(text, str) and text.index(figures) < text.index(plain)


def test_ranked_keeps_each_document_together_and_in_place() -> None:
    why = {c["why"]: NORM.normalize(c["text"]) for c in CASES}
    plain, quote = why["no figure, quote or announcement"], why["a quote in “”"]
    claims = [
        DigestClaim(1, plain, plain, document=5, sources=(5,)),
        DigestClaim(2, quote, quote, document=5, sources=(5,)),
        DigestClaim(3, plain, plain, document=2, sources=(2,)),
        DigestClaim(4, quote, quote, document=2, sources=(2,)),
        DigestClaim(5, plain, plain, document=2, sources=(2,)),
    ]
    assert [c.id for c in ranked(claims)] == [2, 1, 4, 3, 5]
