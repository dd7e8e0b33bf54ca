"""Novelty decisions and the SQLite store, on claims from the real seeds."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest
from helpers import SEEDS, seed

from monitor import config
from monitor.claims import split
from monitor.digest import environment
from monitor.errors import StoreError
from monitor.extract import extract
from monitor.models import Candidate, Fetched
from monitor.normalize import Normalizer, key_of
from monitor.novelty import (
    Signer,
    decide,
    estimate,
    figures,
    jaccard,
    plausible,
    shingles,
)
from monitor.pipeline import Deps, ingest
from monitor.schema import MIGRATIONS
from monitor.store import Store

NORM = Normalizer("t2s")
NOW = datetime(2024, 7, 30, 12, 0, tzinfo=UTC)
SETTINGS = config.load(None, cwd=Path("/nonexistent"))
SIGNER = Signer(shingle=SETTINGS.novelty.shingle, bands=SETTINGS.novelty.bands, rows=SETTINGS.novelty.rows)


def _ingest(store: Store, path: Path) -> int:
    """The pipeline's own ingest of one seed into ``store``; returns how many claims were new."""
    data = path.read_bytes()
    fetched = Fetched(str(path), data, hashlib.sha256(data).hexdigest(), source="seeds", kind="text")
    deps = Deps(store=store, normalizer=NORM, signer=SIGNER, templates=environment())
    return ingest(fetched, extract(fetched), deps, SETTINGS)


def test_store_is_a_wal_sqlite_file_with_migrations(tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite3"
    Store(path).close()
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA user_version").fetchone() == (len(MIGRATIONS),)
    assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"documents", "claims", "occurrences", "digests", "lsh_buckets"} <= tables


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite3"
    Store(path).close()
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    db.close()
    with pytest.raises(StoreError, match="newer"):
        Store(path)


def test_a_file_that_is_not_sqlite_gives_a_store_error(tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite3"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreError, match=str(path)):
        Store(path)


def test_traditional_and_simplified_seed_sentence_is_one_claim_with_two_sources(tmp_path: Path) -> None:
    with Store(tmp_path / "s.sqlite3") as store:
        for path in sorted(SEEDS.iterdir()):
            _ingest(store, path)
        digest = store.unreported(NOW)
    (claim,) = [c for c in digest.claims if "30岁才成为英伟达的联合创始人" in c.normalized]
    assert len(claim.sources) == 2
    docs = {d.id: d for d in digest.documents}
    assert {Path(docs[s].path or "").name[:3] for s in claim.sources} == {"000", "004"}


def test_reingesting_a_seed_finds_every_claim_known(tmp_path: Path) -> None:
    with Store(tmp_path / "s.sqlite3") as store:
        assert _ingest(store, seed("002")) > 20
        assert _ingest(store, seed("002")) == 0
        copy = tmp_path / "copy.txt"
        copy.write_bytes(seed("002").read_bytes())
        assert _ingest(store, copy) == 0
        claims = store.status().claims
    db = sqlite3.connect(tmp_path / "s.sqlite3")
    kinds = dict(db.execute("SELECT match, count(*) FROM occurrences o JOIN documents d ON d.id = o.document_id"
                            " WHERE d.locator = ? GROUP BY match", (str(copy),)).fetchall())
    assert kinds.get("exact", 0) + kinds.get("near", 0) == claims and "new" not in kinds


def test_near_duplicate_found_through_the_index_and_figures_guard() -> None:
    original = "扎克伯格表示,科學家可以利用SAM2研究珊瑚礁和自然棲息地以及景觀的演變等,並且在視頻中做到這一點。"
    reworded = "小扎称，科学家能够利用SAM2研究珊瑚礁、自然栖息地以及景观的演变等，而且可以在视频中做到这一点。"
    a, b = NORM.normalize(original), NORM.normalize(reworded)
    ka, kb = NORM.key(original), NORM.key(reworded)
    assert ka != kb and jaccard(shingles(ka, 2), shingles(kb, 2)) >= 0.3
    sa, sb = SIGNER.sketch(ka), SIGNER.sketch(kb)
    assert set(sa.buckets) & set(sb.buckets), "similar claims should share an LSH bucket"
    (est,) = estimate(sb.signature, [sa.signature])
    assert abs(est - jaccard(shingles(ka, 2), shingles(kb, 2))) < 0.2
    assert plausible(sb.signature, [(7, sa.signature)], 0.3) == [7]
    stored = [Candidate(7, a, ka)]
    verdict = decide(kb, b, stored, shingle=2, threshold=0.3)
    assert verdict.kind == "near" and verdict.claim_id == 7
    changed = b.replace("SAM2", "SAM3")
    assert figures(changed) != figures(a)
    assert decide(NORM.key(changed), changed, stored, shingle=2, threshold=0.3).kind == "new"


def test_unrelated_claims_do_not_match() -> None:
    a = NORM.normalize("雷朋智能眼鏡最近增加了一個視覺AI助手,可以識別物體和翻譯語言。")
    b = NORM.normalize("英伟达股价在对谈次日收跌约7%,市场对AI板块估值过高的担忧仍未消散。")
    sa, sb = SIGNER.sketch(NORM.key(a)), SIGNER.sketch(NORM.key(b))
    assert plausible(sb.signature, [(1, sa.signature)], 0.3) == []
    assert decide(NORM.key(b), b, [Candidate(1, a, key_of(a))], shingle=2, threshold=0.3).kind == "new"


def test_savepoints_roll_back_only_the_failed_part(tmp_path: Path) -> None:
    with Store(tmp_path / "s.sqlite3") as store:
        with store.transaction():
            _ingest(store, seed("002"))
            with pytest.raises(RuntimeError), store.transaction():
                _ingest(store, seed("001"))
                raise RuntimeError("boom")
        assert store.status().documents == 1
        with store.rolled_back():
            _ingest(store, seed("001"))
            assert store.status().documents == 2
        assert store.status().documents == 1


def test_changing_lsh_parameters_rebuilds_the_index(tmp_path: Path) -> None:
    other = Signer(shingle=3, bands=8, rows=2)
    with Store(tmp_path / "s.sqlite3") as store:
        canon = Deps(store).canon  # ingest indexes claims in the canonical form, under both parameter sets
        sketch_of = lambda text: SIGNER.sketch(key_of(canon(text)))  # noqa: E731
        _ingest(store, seed("002"))
        assert store.ensure_index(f"{SIGNER.parameters} {canon.parameters}", sketch_of) == 0
        count = store.status().claims
        assert store.ensure_index(other.parameters, lambda text: other.sketch(key_of(text))) == count
        claim = split(seed("002").read_text("utf-8"), NORM.normalize_many, key_of)[0][5]
        sketch = other.sketch(claim.key)
        assert sketch.signature in [sig for _, sig in store.candidates(sketch.buckets)], "signatures rebuilt too"


CONFLICT_CASES = json.loads((Path(__file__).parent / "data" / "conflicts.json").read_text("utf-8"))["cases"]


@pytest.mark.parametrize("case", CONFLICT_CASES, ids=[c["why"] for c in CONFLICT_CASES])
def test_conflicting_figures_table(case: dict[str, str]) -> None:
    known, new = NORM.normalize(case["known"]), NORM.normalize(case["new"])
    verdict = decide(key_of(new), new, [Candidate(7, known, key_of(known))], shingle=2, threshold=0.3)
    got = "conflict" if verdict.conflict == 7 else verdict.kind
    assert got == case["verdict"], (case["why"], verdict)
    assert verdict.conflict is None or verdict.claim_id is None  # a conflict is always a new claim


def test_a_conflict_reaches_the_digest_with_the_known_claim_and_its_sources(tmp_path: Path) -> None:
    with Store(tmp_path / "s.sqlite3") as store:
        _ingest(store, seed("000"))
        text = "扎克伯格今年早些时候曾表示，为了构建自己的AGI，Meta会在年底前采购约50万块英伟达H100 GPU。"
        path = tmp_path / "later.txt"
        path.write_text(f"後續報道\n\n{text}\n", encoding="utf-8")
        seed_ids = {d.id for d in store.unreported(NOW).documents}
        assert _ingest(store, path) == 1
        (claim,) = [c for c in store.unreported(NOW).claims if c.text == text]
        (conflict,) = claim.conflicts
        assert "35萬塊" in conflict.text and set(conflict.sources) <= seed_ids and conflict.sources
        others = [c for c in store.unreported(NOW).claims if c.text != text]
        assert all(not c.conflicts for c in others)
