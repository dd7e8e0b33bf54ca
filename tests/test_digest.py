"""Rendering digests built from real seed sentences (Traditional 000, Simplified 004)."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import jinja2
import pytest

from monitor.digest import environment, render, render_whole, templates_dir, to_json, view_model
from monitor.models import Digest, DigestClaim, DigestConflict, DigestCorroboration, DigestDocument, Layout

SEEDS = Path(__file__).parents[1] / "seeds"
GENERATED = datetime(2024, 7, 30, 6, 28, 18, tzinfo=UTC)


def seed_lines(prefix: str) -> list[str]:
    """The non-empty lines of the seed file whose name starts with prefix."""
    (path,) = SEEDS.glob(f"{prefix}_*.txt")
    return [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def first_sentence(lines: list[str], containing: str) -> str:
    """The first sentence (up to 。) of the first line containing the given text."""
    line = next(line for line in lines if containing in line)
    head, mark, _ = line.partition("。")
    return head + mark


TRADITIONAL = seed_lines("000")
SIMPLIFIED = seed_lines("004")
#: the same sentence in both seeds: Huang co-founded NVIDIA at 30
HUANG_AT_30_TRAD = first_sentence(TRADITIONAL, "30歲")
HUANG_AT_30_SIMP = first_sentence(SIMPLIFIED, "30岁")
ZUCK_SAM2 = first_sentence(TRADITIONAL, "扎克伯格在現場也展示了SAM2")  # starts with 扎克伯格
H100_PLAN = first_sentence(SIMPLIFIED, "35万块")
APPLE_LINE = first_sentence(SIMPLIFIED, "苹果iOS")

DOC_JIAZI = DigestDocument(
    id=1,
    title=TRADITIONAL[0],
    site="甲子光年",
    url=None,
    path=str(SEEDS / "000_510e30ede04e4d59.txt"),
    published="2024-07-30",
    new_claims=3,
)
DOC_TMT = DigestDocument(
    id=4,
    title=SIMPLIFIED[1],
    site="钛媒体",
    url="https://www.tmtpost.com/7190000.html",
    path=None,
    published="2024-07-30",
    new_claims=2,
)
DOC_REPEAT = DigestDocument(
    id=7, title=None, site=None, url="https://example.org/repost", path=None, published=None, new_claims=0
)


def sample_digest() -> Digest:
    """Three documents; claims first seen in 1 and 4; document 7 only repeats claims."""
    claims = (
        DigestClaim(id=11, text=HUANG_AT_30_TRAD, normalized=HUANG_AT_30_SIMP, document=1, sources=(1, 4, 7)),
        DigestClaim(id=12, text=ZUCK_SAM2, normalized=ZUCK_SAM2, document=1, sources=(1,), speaker="扎克伯格"),
        DigestClaim(
            id=13,
            text="我頭髮一直是卷的，只是之前非常短！",
            normalized="我头发一直是卷的，只是之前非常短！",
            document=1,
            sources=(1,),
            speaker="扎克伯格",
        ),
        DigestClaim(id=21, text=H100_PLAN, normalized=H100_PLAN, document=4, sources=(4, 7)),
        DigestClaim(id=22, text=APPLE_LINE, normalized=APPLE_LINE, document=4, sources=(4,)),
    )
    return Digest(generated_at=GENERATED, documents=(DOC_JIAZI, DOC_TMT, DOC_REPEAT), claims=claims)


@pytest.fixture(scope="module")
def env() -> jinja2.Environment:
    return environment()


def test_seed_sentences_are_real() -> None:
    assert HUANG_AT_30_TRAD.startswith("相比於大學本科期間") and HUANG_AT_30_TRAD.endswith("聯合創始人。")
    assert HUANG_AT_30_SIMP.startswith("相比于大学本科期间") and HUANG_AT_30_SIMP.endswith("联合创始人。")
    assert ZUCK_SAM2.startswith("扎克伯格")


def test_templates_dir_holds_the_templates() -> None:
    names = {path.name for path in templates_dir().iterdir()}
    assert {"subject.txt.j2", "digest.txt.j2", "digest.html.j2"} <= names


def test_groups_follow_document_order_and_skip_documents_without_new_claims() -> None:
    model = view_model(sample_digest())
    assert [group["document"]["id"] for group in model["groups"]] == [1, 4]
    assert [[claim["id"] for claim in group["claims"]] for group in model["groups"]] == [[11, 12, 13], [21, 22]]
    assert model["claim_count"] == 5 and model["document_count"] == 2


def test_also_in_lists_the_other_documents() -> None:
    claims = {claim["id"]: claim for group in view_model(sample_digest())["groups"] for claim in group["claims"]}
    assert [doc["id"] for doc in claims[11]["also"]] == [4, 7]
    assert [doc["id"] for doc in claims[21]["also"]] == [7]
    assert claims[12]["also"] == [] and claims[22]["also"] == []
    # A document without title or path is named by its URL.
    assert claims[21]["also"][0]["title"] == "https://example.org/repost"


def test_plain_text(env: jinja2.Environment) -> None:
    text = render(sample_digest(), env).text
    # the story (the headline of the document with the most new claims), then the numbers
    assert text.startswith(f"{TRADITIONAL[0]}\ncorpus-monitor digest · 2024-07-30 06:28 UTC\n")
    assert "new claims: 5 · documents: 2 · conflicting figures: 0 · newly corroborated: 0" in text
    # a table of contents: each document with its count of new claims
    assert f"    3  {TRADITIONAL[0]} (甲子光年)\n    2  {SIMPLIFIED[1]} (钛媒体)\n" in text
    assert f"== {TRADITIONAL[0]} ==" in text and f"== {SIMPLIFIED[1]} ==" in text
    assert "甲子光年 · 2024-07-30 · 3 new claims" in text
    assert DOC_JIAZI.path is not None and DOC_JIAZI.path in text
    assert "https://www.tmtpost.com/7190000.html" in text
    assert (f"  * {HUANG_AT_30_TRAD}\n    carried by 3 documents; also in: {SIMPLIFIED[1]} (钛媒体);"
            " https://example.org/repost\n") in text
    assert f"  * {H100_PLAN}\n    carried by 2 documents; also in: https://example.org/repost\n" in text
    # a claim only its own document carries says nothing of the kind
    assert text.count("carried by") == 2
    # the footer says why the reader gets this and how to stop it
    assert "You get this digest because" in text and "stop the service" in text
    # The speaker is added once: not before a sentence already starting with it.
    assert "  * 扎克伯格：我頭髮一直是卷的，只是之前非常短！\n" in text
    assert f"  * {ZUCK_SAM2}\n" in text and "扎克伯格：扎克伯格" not in text
    # Groups in document order, claims under their group.
    assert text.index(HUANG_AT_30_TRAD) < text.index(f"== {SIMPLIFIED[1]} ==") < text.index(H100_PLAN)
    assert text.endswith("\n") and not text.endswith("\n\n")


def test_html(env: jinja2.Environment) -> None:
    html = render(sample_digest(), env).html
    assert html.lstrip().startswith("<!DOCTYPE html>")
    assert '<a href="https://www.tmtpost.com/7190000.html"' in html
    assert HUANG_AT_30_TRAD in html and H100_PLAN in html
    assert "<strong>扎克伯格：</strong>我頭髮一直是卷的" in html
    assert html.count("carried by 3 documents; also in:") == 1 and html.count("carried by 2 documents;") == 1
    assert "Newly corroborated" not in html
    assert "<script" not in html and "<link" not in html and "<style" not in html


@pytest.mark.parametrize(
    ("claims", "documents", "subject"),
    [
        (1, 1, f"{SIMPLIFIED[1]} 0 — 1 new claim from 1 document"),
        (2, 1, f"{SIMPLIFIED[1]} 0 — 2 new claims from 1 document"),
        (3, 3, f"{SIMPLIFIED[1]} 0 — 3 new claims from 3 documents"),
        (0, 0, "corpus-monitor: no new claims"),
    ],
)
def test_subject_pluralisation(env: jinja2.Environment, claims: int, documents: int, subject: str) -> None:
    docs = tuple(
        DigestDocument(
            id=n, title=f"{SIMPLIFIED[1]} {n}", site="钛媒体", url=None, path=None, published=None, new_claims=0
        )
        for n in range(documents)
    )
    digest_claims = tuple(
        DigestClaim(
            id=100 + n,
            text=f"{H100_PLAN} ({n})",
            normalized=H100_PLAN,
            document=n % documents,
            sources=(n % documents,),
        )
        for n in range(claims)
    )
    rendered = render(Digest(generated_at=GENERATED, documents=docs, claims=digest_claims), env)
    assert rendered.subject == subject
    assert "\n" not in rendered.subject


def test_empty_digest_renders(env: jinja2.Environment) -> None:
    rendered = render(Digest(generated_at=GENERATED, documents=(), claims=()), env)
    assert rendered.subject == "corpus-monitor: no new claims"
    assert rendered.text.startswith("No new claims\n") and "Nothing new since the last digest." in rendered.text
    assert "No new claims</h1>" in rendered.html


def test_script_is_escaped_in_html_and_verbatim_in_text(env: jinja2.Environment) -> None:
    evil = "<script>alert(1)</script>"
    document = DigestDocument(
        id=1, title="<b>標題</b>", site="甲子光年", url="javascript:alert(2)", path=None, published=None, new_claims=1
    )
    claim = DigestClaim(id=1, text=f"{HUANG_AT_30_TRAD}{evil}", normalized=HUANG_AT_30_SIMP, document=1, sources=(1,))
    rendered = render(Digest(generated_at=GENERATED, documents=(document,), claims=(claim,)), env)
    assert "<script>" not in rendered.html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in rendered.html
    assert "&lt;b&gt;標題&lt;/b&gt;" in rendered.html
    assert 'href="javascript:' not in rendered.html
    assert f"{HUANG_AT_30_TRAD}{evil}" in rendered.text
    assert "== <b>標題</b> ==" in rendered.text


def test_claim_of_an_unlisted_document_still_appears(env: jinja2.Environment) -> None:
    claim = DigestClaim(id=1, text=H100_PLAN, normalized=H100_PLAN, document=99, sources=(99, 98))
    text = render(Digest(generated_at=GENERATED, documents=(), claims=(claim,)), env).text
    assert "== document 99 ==" in text and "also in: document 98" in text


def test_strict_undefined(tmp_path: Path) -> None:
    (tmp_path / "broken.txt.j2").write_text("Hello {{ missing }}\n", encoding="utf-8")
    with pytest.raises(jinja2.UndefinedError):
        environment(tmp_path).get_template("broken.txt.j2").render()


def test_autoescape_only_for_html_templates(tmp_path: Path) -> None:
    (tmp_path / "x.html.j2").write_text("{{ value }}", encoding="utf-8")
    (tmp_path / "x.txt.j2").write_text("{{ value }}", encoding="utf-8")
    local = environment(tmp_path)
    assert local.get_template("x.html.j2").render(value="<i>") == "&lt;i&gt;"
    assert local.get_template("x.txt.j2").render(value="<i>") == "<i>"


def test_to_json_round_trips_with_exactly_the_documented_keys() -> None:
    digest = sample_digest()
    data = to_json(digest)
    dumped = json.dumps(data, ensure_ascii=False)
    assert HUANG_AT_30_TRAD in dumped
    assert json.loads(dumped) == data
    assert set(data) == {"generated_at", "documents", "claims", "corroborated"}
    assert data["corroborated"] == []
    assert data["generated_at"] == "2024-07-30T06:28:18+00:00"
    assert datetime.fromisoformat(data["generated_at"]) == GENERATED
    for document in data["documents"]:
        assert set(document) == {"id", "title", "site", "url", "path", "published", "new_claims"}
    for claim in data["claims"]:
        assert set(claim) == {"id", "text", "normalized", "document", "sources", "speaker", "conflicts"}
    assert data["claims"][0]["sources"] == [1, 4, 7]
    assert data["claims"][0]["speaker"] is None and data["claims"][1]["speaker"] == "扎克伯格"
    assert [doc["id"] for doc in data["documents"]] == [1, 4, 7]


def test_to_json_converts_to_utc() -> None:
    beijing = timezone(timedelta(hours=8))
    digest = Digest(generated_at=datetime(2024, 7, 30, 14, 28, 18, tzinfo=beijing), documents=(), claims=())
    assert to_json(digest)["generated_at"] == "2024-07-30T06:28:18+00:00"


def test_naive_time_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        to_json(Digest(generated_at=datetime(2024, 7, 30, 6, 28), documents=(), claims=()))  # noqa: DTZ001


def corroborated_digest() -> Digest:
    """The sample digest, and two claims of an earlier digest that documents 4 and 7 now carry too."""
    return replace(sample_digest(), corroborated=(
        DigestCorroboration(claim=3, text=APPLE_LINE, new_sources=(7,), sources_total=2),
        DigestCorroboration(claim=5, text=ZUCK_SAM2, new_sources=(4, 7), sources_total=3),
    ))


def test_newly_corroborated_in_text_after_the_new_claims(env: jinja2.Environment) -> None:
    rendered = render(corroborated_digest(), env)
    text = rendered.text
    assert "Newly corroborated" not in render(sample_digest(), env).text
    section = text[text.index("== Newly corroborated ==\n"):]
    assert text.index(APPLE_LINE) > text.index(H100_PLAN), "after every new claim"
    assert f"  + {APPLE_LINE}\n    carried by 2 documents; new: https://example.org/repost\n" in section
    new = f"{SIMPLIFIED[1]} (钛媒体); https://example.org/repost"
    assert f"  + {ZUCK_SAM2}\n    carried by 3 documents; new: {new}\n" in section
    assert rendered.subject == f"{TRADITIONAL[0]} — 5 new claims from 2 documents", "new claims only"
    assert text.endswith("\n") and not text.endswith("\n\n")


def test_newly_corroborated_in_html_and_json(env: jinja2.Environment) -> None:
    html = render(corroborated_digest(), env).html
    section = html[html.index("Newly corroborated"):]
    assert html.index(H100_PLAN) < html.index("Newly corroborated")
    assert APPLE_LINE in section and ZUCK_SAM2 in section and "carried by 3 documents; new:" in section
    assert '<a href="https://www.tmtpost.com/7190000.html"' in section
    data = to_json(corroborated_digest())
    assert data["corroborated"] == [
        {"claim": 3, "text": APPLE_LINE, "new_sources": [7], "sources_total": 2},
        {"claim": 5, "text": ZUCK_SAM2, "new_sources": [4, 7], "sources_total": 3},
    ]
    assert [claim["id"] for claim in data["claims"]] == [11, 12, 13, 21, 22]


# --- a digest a reader keeps opening: bounded, with highlights, contents and marked conflicts ----------------

def many_documents(documents: int, claims_each: int, sources_each: int) -> Digest:
    """A digest far larger than any email should be: long real sentences, many documents, long "also in" lists."""
    sentences = [line for line in TRADITIONAL + SIMPLIFIED if len(line) > 40]
    docs = tuple(
        DigestDocument(id=n, title=f"{SIMPLIFIED[1]} ({n})", site=f"site {n % 7}", url=f"https://news{n}.example/a/{n}",
                       path=None, published=f"2024-07-{1 + n % 28:02d}", new_claims=claims_each if n < documents else 0)
        for n in range(documents + sources_each)
    )
    claims = tuple(
        DigestClaim(id=n * 1000 + k, text=sentences[(n + k) % len(sentences)] * 3,
                    normalized=sentences[(n + k) % len(sentences)], document=n,
                    sources=(n, *range(documents, documents + sources_each)))
        for n in range(documents) for k in range(claims_each)
    )
    return Digest(generated_at=GENERATED, documents=docs, claims=claims)


@pytest.mark.parametrize(("documents", "claims_each", "sources_each"), [(5, 120, 200), (400, 30, 3), (3000, 2, 1)])
def test_every_size_is_bounded(env: jinja2.Environment, documents: int, claims_each: int, sources_each: int) -> None:
    digest = many_documents(documents, claims_each, sources_each)
    rendered = render(digest, env)
    assert len(rendered.html.encode()) < 100_000 and len(rendered.text.encode()) < 100_000
    # what is left out is counted, never silently dropped
    assert "more" in rendered.text and rendered.html.count("and ") >= 1
    # the summary counts everything, shown or not
    assert f"new claims: {documents * claims_each} · documents: {documents}" in rendered.text
    whole = render_whole(digest, env)
    assert all(claim.text in whole.html for claim in digest.claims[:50])


def test_per_document_and_also_in_caps_say_how_many_more(env: jinja2.Environment) -> None:
    digest = many_documents(2, 12, 6)
    model = view_model(digest, Layout(max_claims_per_document=8, max_also=3))
    first = model["groups"][0]
    assert len(first["claims"]) == 8 and first["more"] == 4 and first["count"] == 12
    claim = first["claims"][0]
    assert len(claim["also"]) == 3 and claim["also_more"] == 3
    assert len({doc["id"] for doc in claim["also"]}) == 3, "distinct documents only"
    text = render(digest, env).text
    assert "    and 4 more\n" in text and "and 3 more" in text


def test_highlights_speak_for_the_whole_story(env: jinja2.Environment) -> None:
    model = view_model(many_documents(6, 10, 1))
    highlights = model["highlights"]
    assert len(highlights) == 5
    assert len({item["document"]["id"] for item in highlights}) == 5, "one per document while documents last"
    text = render(many_documents(6, 10, 1), env).text
    assert text.index("== Highlights ==") < text.index("== Documents ==") < text.index(f"== {SIMPLIFIED[1]} (0) ==")


def test_a_conflict_marks_the_differing_figures_in_both_versions(env: jinja2.Environment) -> None:
    known = DigestConflict(claim=9, text=H100_PLAN, sources=(4,), normalized=H100_PLAN)
    changed = H100_PLAN.replace("35万", "50万")
    claim = DigestClaim(id=30, text=changed, normalized=changed, document=1, sources=(1,), conflicts=(known,))
    digest = Digest(generated_at=GENERATED, documents=(DOC_JIAZI, DOC_TMT), claims=(claim,))
    rendered = render(digest, env)
    mark = '<mark style="background:#ffd966; color:#000000; font-weight:600; padding:0 2px;">'
    assert f"{mark}50万块</mark>" in rendered.html and f"{mark}35万块</mark>" in rendered.html  # with the unit
    # the figures both versions share (60万, 70亿) are not marked
    assert f"{mark}60万" not in rendered.html and f"{mark}70亿" not in rendered.html
    assert "*50万块*" in rendered.text and "*35万块*" in rendered.text
    # both versions link to their documents
    section = rendered.html[rendered.html.index("Conflicting figures"):]
    assert '<a href="https://www.tmtpost.com/7190000.html"' in section.split("</table>")[0]
    assert "1 conflicting figure" in rendered.subject


def test_a_conflict_in_words_and_another_script_marks_only_what_differs(env: jinja2.Environment) -> None:
    """Figures are compared as novelty compares them: 一小时 is 60分钟 (not marked), 两个小时 is another figure;
    a Traditional text is read through its normalized form."""
    known_text = "黃仁勳與扎克伯格在7月30日進行了一場約一小時的對談。"
    simplified = "黄仁勋与扎克伯格在7月30日进行了一场约一小时的对谈。"
    known = DigestConflict(claim=9, text=known_text, sources=(4,), normalized=simplified)
    text = "黄仁勋与扎克伯格在7月30日的对谈持续了将近两个小时。"
    claim = DigestClaim(id=30, text=text, normalized=text, document=1, sources=(1,), conflicts=(known,))
    rendered = render(Digest(generated_at=GENERATED, documents=(DOC_JIAZI, DOC_TMT), claims=(claim,)), env)
    assert "*两个小时*" in rendered.text and "*一小時*" in rendered.text
    assert "*7月*" not in rendered.text and "*30日*" not in rendered.text


def test_times_in_the_configured_time_zone(env: jinja2.Environment) -> None:
    text = render(sample_digest(), env, Layout(timezone="Asia/Shanghai")).text
    assert "2024-07-30 14:28 Asia/Shanghai" in text


def test_the_footer_names_the_archive_the_sources_and_the_config(env: jinja2.Environment) -> None:
    layout = Layout(archive="https://digests.example/20240730T062818Z-abc.html", sources=("folder /srv/inbox",),
                    config="/etc/corpus-monitor/corpus-monitor.toml")
    rendered = render(sample_digest(), env, layout)
    assert '<a href="https://digests.example/20240730T062818Z-abc.html"' in rendered.html
    for part in (rendered.text, rendered.html):
        assert "Monitored: folder /srv/inbox" in part and "/etc/corpus-monitor/corpus-monitor.toml" in part
    local = render(sample_digest(), env, replace(layout, archive="/var/lib/corpus-monitor/archive/x.html"))
    assert "/var/lib/corpus-monitor/archive/x.html" in local.text and 'href="/var' not in local.html


def test_a_speaker_is_named_once_whatever_the_script(env: jinja2.Environment) -> None:
    turn = "黃仁勳：讓我們假設一下，我們正在用於芯片設計的 AI 每小時可能只需 20 美元成本。"
    claim = DigestClaim(id=1, text=turn, normalized=turn.replace("黃仁勳", "黄仁勋"), document=1, sources=(1,),
                        speaker="黄仁勋")
    text = render(Digest(generated_at=GENERATED, documents=(DOC_JIAZI,), claims=(claim,)), env).text
    assert f"  * {turn}\n" in text and "黄仁勋：黃仁勳" not in text


# --- labels in the readers' language ---------------------------------------------------------------------------

def test_every_label_has_its_translation_in_each_chinese_catalogue() -> None:
    """The messages of the templates, as Babel extracts them, against the catalogues in monitor/locale."""
    from babel.messages.extract import extract_from_dir
    from babel.messages.pofile import read_po

    root = Path(__file__).parents[1]
    method_map = [("templates/**.j2", "jinja2")]
    options = {"templates/**.j2": {"extensions": "jinja2.ext.i18n", "trim_blocks": "True", "lstrip_blocks": "True"}}
    extracted = {m[2] if isinstance(m[2], str) else m[2][0]
                 for m in extract_from_dir(str(root), method_map, options)}
    assert {"Highlights", "Conflicting figures", "%(num)d new claim"} <= extracted
    for locale in ("zh_Hans", "zh_Hant"):
        with (root / "monitor" / "locale" / locale / "LC_MESSAGES" / "messages.po").open("rb") as handle:
            catalogue = read_po(handle, locale=locale)
        translated = {(m.id if isinstance(m.id, str) else m.id[0]): m for m in catalogue if m.id}
        assert extracted <= set(translated), (locale, extracted - set(translated))
        for key in extracted:
            message = translated[key]
            strings = message.string if isinstance(message.string, tuple) else (message.string,)
            assert all(strings) and not message.fuzzy, (locale, key)
            assert list(message.check(catalogue)) == [], (locale, key)  # placeholders such as %(num)d kept


def test_a_digest_in_traditional_chinese(tmp_path: Path) -> None:
    env = environment(language="zh-Hant")
    known = DigestConflict(claim=9, text=H100_PLAN, sources=(4,))
    changed = H100_PLAN.replace("35万", "50万")
    conflict = DigestClaim(id=30, text=changed, normalized=changed, document=4, sources=(4,), conflicts=(known,))
    digest = replace(sample_digest(), claims=(*sample_digest().claims, conflict))
    rendered = render(digest, env, Layout(timezone="Asia/Taipei", highlights=2))
    assert rendered.subject.endswith("— 6 條新說法 來自 2 篇文件，1 處數字衝突")
    assert "新說法：6 · 文件：2 · 數字衝突：1" in rendered.text
    for label in ("要點", "文件", "數字衝突", "此前：", "收件人"):
        assert label in rendered.text, label
    assert '<html lang="zh-Hant">' in rendered.html and "2024-07-30 14:28 Asia/Taipei" in rendered.html
    assert "Highlights" not in rendered.text and "new claims" not in rendered.text


def test_the_whole_digest_names_every_source(env: jinja2.Environment) -> None:
    reprints = tuple(DigestDocument(id=100 + n, title=SIMPLIFIED[1], site="钛媒体", url=None, path=f"/r/{n}.txt",
                                    published=None, new_claims=0) for n in range(12))
    claim = DigestClaim(id=1, text=H100_PLAN, normalized=H100_PLAN, document=1,
                        sources=(1, *(d.id for d in reprints)))
    digest = Digest(generated_at=GENERATED, documents=(DOC_JIAZI, *reprints), claims=(claim,))
    email_view = view_model(digest)["groups"][0]["claims"][0]
    assert len(email_view["also"]) == 1 and email_view["carried_by"] == 13  # one title, named once
    whole = view_model(digest, Layout(max_also=100), whole=True)
    assert len(whole["groups"][0]["claims"][0]["also"]) == 12  # the archive names every document
