"""Novelty decisions and the SQLite store, on claims from the real seeds."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest
from helpers import SEEDS, seed
from hypothesis import given
from hypothesis import strategies as st

from monitor import config
from monitor.claims import split
from monitor.digest import environment
from monitor.errors import StoreError, StoreGoneError
from monitor.extract import extract
from monitor.figures import read as figures
from monitor.models import Candidate, Claim, Document, Fetched, Sketch
from monitor.normalize import Normalizer, key_of
from monitor.novelty import codes, decide, jaccard, shingles
from monitor.pipeline import Deps, ingest
from monitor.store import Store
from monitor.store import sql as store_module
from monitor.store.sql import LIST_READ, LISTED_SHINGLES, MAX_CANDIDATES
from monitor.store.sqlite.schema import MIGRATIONS

NORM = Normalizer("t2s")
NOW = datetime(2024, 7, 30, 12, 0, tzinfo=UTC)
SETTINGS = config.load(None, cwd=Path("/nonexistent"))


def _ingest(store: Store, path: Path) -> int:
    """The pipeline's own ingest of one seed into ``store``; returns how many claims were new."""
    data = path.read_bytes()
    fetched = Fetched(str(path), data, hashlib.sha256(data).hexdigest(), source="seeds", kind="text")
    deps = Deps(store=store, normalizer=NORM, templates=environment())
    return ingest(fetched, extract(fetched), deps, SETTINGS)


def test_store_is_a_wal_sqlite_file_with_migrations(tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite3"
    Store(path).close()
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA user_version").fetchone() == (len(MIGRATIONS),)
    assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"documents", "claims", "occurrences", "digests", "postings", "canonical"} <= tables
    assert not {"lsh_buckets", "sketches"} & tables


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite3"
    Store(path).close()
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    db.close()
    with pytest.raises(StoreError, match="newer"):
        Store(path)


@pytest.mark.parametrize("how", ["deleted", "replaced"])
def test_a_store_whose_file_goes_while_open_writes_nothing_more(tmp_path: Path, how: str) -> None:
    """Deleted, or another file renamed into its place: the next transaction is refused, naming the store."""
    path = tmp_path / "store.sqlite3"
    with Store(path) as store:
        store.check_file()
        with store.transaction():
            store.set_meta("before", "1")
        if how == "deleted":
            path.unlink()
        else:
            Store(tmp_path / "other.sqlite3").close()
            (tmp_path / "other.sqlite3").replace(path)
        with pytest.raises(StoreGoneError, match=f"^{path}: the store file was deleted or replaced"), \
                store.transaction():
            store.set_meta("after", "1")
    if how == "replaced":
        with Store(path) as other:
            assert other.get_meta("after") is None


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


def test_near_duplicate_found_through_the_index_and_figures_guard(tmp_path: Path) -> None:
    original = "扎克伯格表示,科學家可以利用SAM2研究珊瑚礁和自然棲息地以及景觀的演變等,並且在視頻中做到這一點。"
    reworded = "小扎称，科学家能够利用SAM2研究珊瑚礁、自然栖息地以及景观的演变等，而且可以在视频中做到这一点。"
    a, b = NORM.normalize(original), NORM.normalize(reworded)
    ka, kb = NORM.key(original), NORM.key(reworded)
    assert ka != kb and jaccard(shingles(ka, 2), shingles(kb, 2)) >= 0.3
    with Store(tmp_path / "s.sqlite3") as store:
        deps = Deps(store, normalizer=NORM)
        deps.ensure_index()
        (claim,), _ = split(original, NORM.normalize_many, key_of)
        stored_id = store.add_claim(claim, 1, deps.sketch(claim.normalized), store.save_document(
            Fetched("doc", b"", "0" * 64, "t"), extract(Fetched("doc", original.encode(), "0" * 64, "t", kind="text")),
            NOW), NOW)
        offered = store.candidates(deps.sketch(b).codes)
    assert [i for i, _ in offered] == [stored_id], "a near-duplicate shares its rarest shingles with the claim"
    assert offered[0][1] == deps.canon(a), "the index keeps the canonical form"
    stored = [Candidate(7, a, ka)]
    verdict = decide(kb, b, stored, shingle=2, threshold=0.3)
    assert verdict.kind == "near" and verdict.claim_id == 7
    changed = b.replace("研究", "用3年研究")
    assert figures(changed) != figures(a)
    assert decide(NORM.key(changed), changed, stored, shingle=2, threshold=0.3).kind == "new"


def test_unrelated_claims_do_not_match() -> None:
    a = NORM.normalize("雷朋智能眼鏡最近增加了一個視覺AI助手,可以識別物體和翻譯語言。")
    b = NORM.normalize("英伟达股价在对谈次日收跌约7%,市场对AI板块估值过高的担忧仍未消散。")
    assert jaccard(shingles(key_of(a), 2), shingles(key_of(b), 2)) < 0.1
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


def test_changing_the_shingle_size_rebuilds_the_index(tmp_path: Path) -> None:
    with Store(tmp_path / "s.sqlite3") as store:
        _ingest(store, seed("002"))
        deps = Deps(store, normalizer=NORM)
        deps.ensure_index()
        assert store.get_meta("index") and "shingle=2" in (store.get_meta("index") or "")
        count = store.status().claims
        wider = Deps(store, normalizer=NORM, novelty=config.NoveltySettings(shingle=3))
        wider.ensure_index()
        assert "shingle=3" in (store.get_meta("index") or "")
        db = sqlite3.connect(tmp_path / "s.sqlite3")
        assert db.execute("SELECT count(*) FROM canonical").fetchone() == (count,)
        claim = split(seed("002").read_text("utf-8"), NORM.normalize_many, key_of)[0][5]
        sketch = wider.sketch(claim.normalized)
        assert sketch.codes == codes(key_of(sketch.canonical), 3)
        assert sketch.canonical in [text for _, text in store.candidates(sketch.codes)], "three-character lists"


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


def test_a_document_that_repeats_a_known_one_gets_its_claims_as_candidates(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Reprints come in clusters: once a new document repeats two claims of a known one, the known one's other
    claims are compared with its sentences even when the index offers nothing (here: made to offer nothing)."""
    known = [
        "黄仁勋与扎克伯格在丹佛举行的SIGGRAPH大会上进行了一场公开对谈。",
        "扎克伯格表示，Meta将继续开源Llama模型，因为这对整个行业都有好处。",
        "黄仁勋说，机器人需要三台计算机，分别用于训练、仿真和部署。",
    ]
    paraphrase = "小扎称，Meta会继续把Llama模型开源，因为这样对整个行业都有好处。"
    with Store(tmp_path / "s.sqlite3") as store:
        deps = Deps(store, normalizer=NORM)
        first = tmp_path / "known.txt"
        first.write_text("报道\n\n" + "\n".join(known) + "\n", encoding="utf-8")
        data = first.read_bytes()
        fetched = Fetched(str(first), data, hashlib.sha256(data).hexdigest(), source="t", kind="text")
        assert ingest(fetched, extract(fetched), deps, SETTINGS) == 3
        monkeypatch.setattr(store, "candidates_many", lambda claims: [[] for _ in claims])
        for name, lines, found in (
            ("alone.txt", [paraphrase], 1),  # nothing repeated: no hint, and the index offers nothing
            ("reprint.txt", [known[0], paraphrase, known[2]], 0),  # two repeated: the paraphrase is found
        ):
            path = tmp_path / name
            path.write_text("报道\n\n" + "\n".join(lines) + "\n", encoding="utf-8")
            data = path.read_bytes()
            fetched = Fetched(str(path), data, hashlib.sha256(data).hexdigest(), source="t", kind="text")
            with store.rolled_back():
                assert ingest(fetched, extract(fetched), deps, SETTINGS) == found, name


def test_a_hinted_document_offers_its_claims_wherever_the_rewording_stands(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A rewrite that repeats two sentences of a known article verbatim and rewords one far from them (its last,
    moved to the top) still finds it, with the index made to offer nothing: the hinted article's claims are compared
    wherever they stand, and one that shares too little with the sentence is not (nothing else is matched)."""
    known = [line for line in seed("002").read_text("utf-8").splitlines()[2:] if len(line) > 25][:14]
    assert len(known) == 14
    reworded = "小扎称，Meta会继续把Llama模型开源，因为这样对整个行业都有好处。"
    original = "扎克伯格表示，Meta将继续开源Llama模型，因为这对整个行业都有好处。"
    with Store(tmp_path / "s.sqlite3") as store:
        deps = Deps(store, normalizer=NORM)
        article = tmp_path / "known.txt"
        article.write_text("报道\n\n" + "\n".join([*known, original]) + "\n", encoding="utf-8")
        data = article.read_bytes()
        fetched = Fetched(str(article), data, hashlib.sha256(data).hexdigest(), source="t", kind="text")
        stored = ingest(fetched, extract(fetched), deps, SETTINGS)
        monkeypatch.setattr(store, "candidates_many", lambda claims: [[] for _ in claims])
        rewrite = tmp_path / "rewrite.txt"
        unrelated = "今年的SIGGRAPH大会在丹佛会议中心举行，吸引了数千名图形学研究者。"
        rewrite.write_text(f"报道\n\n{reworded}\n{unrelated}\n{known[0]}\n{known[1]}\n", encoding="utf-8")
        data = rewrite.read_bytes()
        fetched = Fetched(str(rewrite), data, hashlib.sha256(data).hexdigest(), source="t", kind="text")
        assert ingest(fetched, extract(fetched), deps, SETTINGS) == 1  # the unrelated sentence only
        assert store.status().claims == stored + 1


def test_hinted_claims_read_before_a_rollback_are_not_offered_after_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A dry run (rolled back) hints a document to another; the document's id is given again after the rollback,
    to a document saying other things: a reprint hinted to that one is compared with what it says now."""
    with Store(tmp_path / "s.sqlite3") as store:
        deps = Deps(store, normalizer=NORM)
        monkeypatch.setattr(store, "candidates_many", lambda claims: [[] for _ in claims])

        def new_claims(name: str, lines: list[str]) -> int:
            path = tmp_path / name
            path.write_text("报道\n\n" + "\n".join(lines) + "\n", encoding="utf-8")
            data = path.read_bytes()
            fetched = Fetched(str(path), data, hashlib.sha256(data).hexdigest(), source="t", kind="text")
            return ingest(fetched, extract(fetched), deps, SETTINGS)

        gone = ["黄仁勋与扎克伯格在丹佛举行的SIGGRAPH大会上进行了一场公开对谈。",
                "黄仁勋说，机器人需要三台计算机，分别用于训练、仿真和部署。",
                "英伟达发布了新的NIM微服务，开发者可以在Hugging Face上直接调用。"]
        kept = ["扎克伯格表示，Meta将继续开源Llama模型，因为这对整个行业都有好处。",
                "Meta的AI Studio让创作者可以训练属于自己的AI角色，并在社交平台上与粉丝互动。",
                "两人还互换了外套，黄仁勋穿上了扎克伯格送的羊毛皮夹克。"]
        with store.rolled_back():
            assert new_claims("dry.txt", gone) == 3
            # it repeats two claims of dry.txt, which is hinted to its third sentence
            assert new_claims("dry-reprint.txt", [*gone[:2], "今年的大会吸引了数千名图形学研究者前往丹佛。"]) == 1
        assert new_claims("kept.txt", kept) == 3  # the same document id as dry.txt had
        reworded = "小扎称，Meta会继续把Llama模型开源，因为这样对整个行业都有好处。"
        assert new_claims("reprint.txt", [kept[1], kept[2], reworded]) == 0


def test_a_store_from_before_the_shingle_index_migrates_and_matches(tmp_path: Path) -> None:
    """A schema-6 store (MinHash LSH tables) opens, drops them, and rebuilds the shingle index on first use."""
    path = tmp_path / "old.sqlite3"
    db = sqlite3.connect(path)
    from monitor.store.sqlite.store import _statements

    for number, script in enumerate(MIGRATIONS[:6], start=1):
        for statement in _statements(script):
            db.execute(statement)
        db.execute(f"PRAGMA user_version = {number}")
    claim = "扎克伯格表示，Meta将继续开源Llama模型，因为这对整个行业都有好处。"
    db.execute(
        "INSERT INTO documents (id, locator, source, content_hash, first_seen, last_changed)"
        " VALUES (1, 'old.txt', 'seeds', 'x', '2024-07-30', '2024-07-30')"
    )
    db.execute(
        "INSERT INTO claims (id, fingerprint, normalized, text, document_id, position, first_seen)"
        " VALUES (1, 1, ?, ?, 1, 0, '2024-07-30')",
        (claim, claim),
    )
    db.execute("INSERT INTO lsh_buckets (bucket, claim_id) VALUES (5, 1)")
    db.commit()
    db.close()
    with Store(path) as store:
        deps = Deps(store, normalizer=NORM)
        deps.ensure_index()
        reworded = NORM.normalize("小扎称，Meta会继续开源Llama模型，因为这对整个行业都有好处。")
        assert [i for i, _ in store.candidates(deps.sketch(reworded).codes)] == [1]
    tables = {r[0] for r in sqlite3.connect(path).execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert "lsh_buckets" not in tables and "postings" in tables and "shingles" not in tables


def test_a_store_with_one_row_per_listed_claim_migrates_to_list_heads(tmp_path: Path) -> None:
    """A schema-7 store (a row per (shingle, claim) and a counts table) keeps its index through migration 8: each
    shingle's counts and the first LIST_READ claims listed under it, oldest first, in one row; lookups find the
    same claims, and no rebuild is needed."""
    path = tmp_path / "old.sqlite3"
    with Store(path) as store:
        deps = Deps(store, normalizer=NORM)
        deps.ensure_index()
        _ingest(store, seed("002"))
        _ingest(store, seed("003"))
        claims = dict(store._db.execute("SELECT id, normalized FROM claims"))
        heads = dict(store._db.execute("SELECT shingle, head FROM postings"))
        counts = store._db.execute("SELECT shingle, claims, listed FROM postings ORDER BY shingle").fetchall()
    # the same store as schema 7 kept it: one row per listed claim, and a long list (past LIST_READ) on one code
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE shingles (shingle INTEGER NOT NULL, claim_id INTEGER NOT NULL,"
               " PRIMARY KEY (shingle, claim_id)) WITHOUT ROWID")
    db.execute("CREATE TABLE shingle_counts (shingle INTEGER PRIMARY KEY, claims INTEGER NOT NULL,"
               " listed INTEGER NOT NULL)")
    db.executemany("INSERT INTO shingles VALUES (?, ?)",
                   [(code, int(i)) for code, head in heads.items() for i in head.split(",") if i])
    long_code = -7  # no real code: not among any claim's
    db.executemany("INSERT INTO shingles VALUES (?, ?)", [(long_code, i) for i in range(LIST_READ + 40, 0, -1)])
    long_row = (long_code, LIST_READ + 40, LIST_READ + 40)
    db.executemany("INSERT INTO shingle_counts VALUES (?, ?, ?)", [*counts, long_row])
    db.execute("DROP TABLE postings")
    for table in ("workers", "leases"):  # of migration 10
        db.execute(f"DROP TABLE {table}")
    db.execute("PRAGMA user_version = 7")
    db.commit()
    db.close()
    with Store(path) as store:
        deps = Deps(store, normalizer=NORM)
        parameters = store.get_meta("index")
        assert parameters and store.ensure_index(parameters, deps.sketch) == 0  # kept, not rebuilt
        rows = store._db.execute("SELECT shingle, claims, listed FROM postings ORDER BY shingle").fetchall()
        assert rows == sorted([*counts, long_row])
        (head,) = store._db.execute("SELECT head FROM postings WHERE shingle = ?", (long_code,)).fetchone()
        assert head == ",".join(str(i) for i in range(1, LIST_READ + 1))
        for claim_id, text in claims.items():
            found = [i for i, _ in store.candidates(deps.sketch(text).codes)]
            assert claim_id in found, text
    tables = {r[0] for r in sqlite3.connect(path).execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert "postings" in tables and not tables & {"shingles", "shingle_counts"}


def test_shingle_counts_match_the_index_after_commits_and_rollbacks(tmp_path: Path) -> None:
    """Counts are written once a transaction ends (a document's join the batch's), and dropped with a rolled-back
    savepoint: they always agree with the posting lists and the claims' own shingles."""
    with Store(tmp_path / "s.sqlite3") as store:
        _ingest(store, seed("002"))
        with pytest.raises(RuntimeError), store.transaction():
            _ingest(store, seed("001"))
            raise RuntimeError("boom")
        with store.transaction():  # a batch of documents: one kept, one rolled back inside it
            _ingest(store, seed("003"))
            with pytest.raises(RuntimeError), store.transaction():
                _ingest(store, seed("004"))
                raise RuntimeError("boom")
        deps = Deps(store, normalizer=NORM)
    db = sqlite3.connect(tmp_path / "s.sqlite3")
    claims = dict(db.execute("SELECT id, normalized FROM claims"))
    have: dict[int, int] = {}
    for text in claims.values():
        for code in deps.sketch(text).codes:
            have[code] = have.get(code, 0) + 1
    assert have == dict(db.execute("SELECT shingle, claims FROM postings"))
    # every list is whole here (none reaches LIST_READ): its head holds each claim listed under it once, oldest
    # first, and each claim is listed under its LISTED_SHINGLES rarest shingles (all of them, if it has fewer)
    on: dict[int, int] = {}
    for listed, head in db.execute("SELECT listed, head FROM postings"):
        ids = [int(i) for i in head.split(",")] if head else []
        assert len(ids) == listed and ids == sorted(set(ids))
        for i in ids:
            on[i] = on.get(i, 0) + 1
    assert on == {i: min(len(deps.sketch(text).codes), LISTED_SHINGLES) for i, text in claims.items()}
    # the claims of the rolled-back document gave their ids back: the store's ids go on without a gap, and every
    # claim has its canonical form (written with it, in one statement a document)
    ids = [i for (i,) in db.execute("SELECT id FROM claims ORDER BY id")]
    assert ids == list(range(1, len(ids) + 1))
    assert ids == [i for (i,) in db.execute("SELECT claim_id FROM canonical ORDER BY claim_id")]


def test_a_document_that_rewords_its_own_sentence_is_matched_as_a_reprint_would_be(tmp_path: Path) -> None:
    """A document's later sentence that rewords an earlier one of its own is that claim (the index was read before
    the document's claims were added: its own are compared apart, as the index offers claims); a reprint of the
    document then finds every sentence known, the reworded one too."""
    first = "扎克伯格表示，Meta将继续开源Llama模型，因为这对整个行业都有好处。"
    reworded = "扎克伯格还表示，Meta会继续开源Llama模型，因为这对整个行业都有好处。"
    text = f"报道\n\n{first}\n黄仁勋说，机器人需要三台计算机，分别用于训练、仿真和部署。\n{reworded}\n"
    with Store(tmp_path / "s.sqlite3") as store:
        deps = Deps(store, normalizer=NORM)
        for name, new in (("page.txt", 2), ("reprint.txt", 0)):
            path = tmp_path / name
            path.write_text(text, encoding="utf-8")
            data = path.read_bytes()
            fetched = Fetched(str(path), data, hashlib.sha256(data).hexdigest(), source="t", kind="text")
            assert ingest(fetched, extract(fetched), deps, SETTINGS) == new, name
        assert store.status().claims == 2


def test_a_lookup_reads_the_lists_of_its_rarest_shingles_first(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Claims are listed under their rarest shingles, so a lookup reads the lists of the shingles fewest claims
    have first, not the shortest lists: here a common shingle (20 claims have it) has the shortest list (one
    claim is listed under it), and with room for one list only, the claim listed under the rare one is found."""
    common, rare = 1 << 40, (1 << 40) + 1
    now = datetime(2024, 7, 30, tzinfo=UTC)
    with Store(tmp_path / "s.sqlite3") as store:
        with store.transaction():
            doc = store.save_document(Fetched("/x/d.txt", b"", "h", "s"), Document("/x/d.txt", "t", "t"), now)

        def add(number: int, codes_: list[int]) -> int:
            claim = Claim(f"claim {number}", f"claim {number}", f"claim{number}", number)
            return store.add_claim(claim, number, Sketch(f"claim {number}", sorted(codes_)), doc, now)

        for n in range(19):  # listed under their own rarer shingles, not under the common one
            add(n, [common, *range(100 * n + 1, 100 * n + 1 + LISTED_SHINGLES)])
        add(19, [common])  # the one claim listed under the common shingle
        source = add(20, [rare])
        add(21, [rare])
        monkeypatch.setattr(store_module, "READ_BUDGET", 1)
        assert source in [i for i, _ in store.candidates([common, rare])]


@given(st.lists(st.lists(st.integers(1, 300), min_size=1, max_size=40, unique=True), max_size=30))
def test_the_index_offers_the_claims_sharing_most_lists_those_of_rarer_lists_first(lists: list[list[int]]) -> None:
    """The candidates a lookup offers: the MAX_CANDIDATES claims listed on the most of the lists it read; of equals,
    the one met first (the lists come rarest first)."""
    met = list(dict.fromkeys(i for ids in lists for i in ids))
    shared = {i: sum(i in ids for ids in lists) for i in met}
    heads = [",".join(map(str, ids)) for ids in lists]
    assert store_module._most_shared(heads) == sorted(met, key=lambda i: -shared[i])[:MAX_CANDIDATES]
