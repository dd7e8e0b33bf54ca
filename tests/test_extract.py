"""Extraction on real inputs: the seeds, the labeled dev pages, legacy GBK pages with hand-copied
text, and the seeds re-encoded as Big5 / GBK / UTF-8 with a BOM."""

from __future__ import annotations

import hashlib
import html
import json
import re
import subprocess
import sys
import unicodedata
from pathlib import Path
from typing import Any

import lxml.html
import pytest
from helpers import DEV, EXTRACTION, SEEDS, eval_script, seed

from monitor.errors import ExtractError
from monitor.extract import MAX_TAGS, _dateline, decode, extract
from monitor.models import Document, Fetched

CWCED = EXTRACTION / "cwced_zh"
SCORER = eval_script("extraction_score")
LABELS: list[dict[str, Any]] = json.loads((DEV / "labels.json").read_text("utf-8"))["documents"]


def fetched(data: bytes, kind: str, locator: str = "mem://doc", hint: str | None = None) -> Fetched:
    return Fetched(locator=locator, data=data, content_hash=hashlib.sha256(data).hexdigest(),
                   source="test", kind=kind, charset_hint=hint)


def extract_file(path: Path) -> Document:
    kind = "html" if path.suffix in (".html", ".htm") else "text"
    return extract(fetched(path.read_bytes(), kind, str(path)))


def squash(text: str) -> str:
    return "".join(text.split())


def f1(got: str, gold: str) -> float:
    """Character-multiset F1 over letters and digits, by the extraction scorer in ``eval/``."""
    f: float = SCORER.score_page(got, gold).f1
    return f


def as_page(title: str, paragraphs: list[str]) -> str:
    """A bare article page with no charset declaration anywhere."""
    body = "\n".join(f"<p>{p}</p>" for p in paragraphs)
    head = f"<!DOCTYPE html>\n<html><head><title>{title}</title></head>"
    return f"{head}<body><article>\n{body}\n</article></body></html>"


# --- plain text: the seeds -----------------------------------------------------------------------

@pytest.mark.parametrize("path", sorted(SEEDS.glob("*.txt")), ids=lambda p: p.name[:3])
def test_seed_text_passes_through_with_its_first_line_as_title(path: Path) -> None:
    lines = [line.strip() for line in path.read_text("utf-8").splitlines() if line.strip()]
    doc = extract_file(path)
    assert doc.encoding == "utf-8"
    # a first line that is only the site's name (seed 004: 深圳热线) is the site, and the headline under it the title
    head = 1 if doc.site is None else 2
    assert doc.site in (None, lines[0])
    assert doc.title == lines[head - 1]
    assert doc.text.splitlines() == lines[head:]


def test_a_site_name_over_the_headline_gives_way_to_it() -> None:
    lines = [line.strip() for line in seed("004").read_text("utf-8").splitlines() if line.strip()]
    doc = extract_file(seed("004"))
    assert (doc.site, doc.title) == ("深圳热线", lines[1]) and lines[1].startswith("黄仁勋小扎世纪对谈")
    assert doc.title not in doc.text  # the headline is the title, not also the first claim
    # the same page as HTML: <title> the site's name, the headline the first line of the body
    page = extract(fetched(as_page(lines[0], lines[1:]).encode("utf-8"), "html"))
    assert page.title == lines[1] and page.title not in page.text.splitlines()
    # a short title that is itself a headline stays, and so does a first line that says what the text says
    for first in ("黄仁勋与扎克伯格", "开源AI将赢下新时代"):
        doc = extract(fetched("\n".join([first, *lines[1:]]).encode("utf-8"), "text"))
        assert doc.title == first and doc.site is None


@pytest.mark.parametrize(("title", "h1", "expected"), [
    # the site's half of the <title> taken for the title (a lone <h1>): the other half is the headline
    ("土豆不“土” 土豆无“土” 松花江网", "松花江网", "土豆不“土” 土豆无“土”"),
    ("Joel on Software - 给计算机系学生的建议", None, "给计算机系学生的建议"),
    ("书记市长这一周 | 奋马扬鞭争春色，“虎”力全开向未来", None, "奋马扬鞭争春色，“虎”力全开向未来"),
    # a headline in <h1> stays, whatever the <title> adds: a chain of names is no headline
    ("英伟达发布NIM_新锐科技网_科技频道", "英伟达发布NIM", "英伟达发布NIM"),
    ("黄仁勋对谈扎克伯格 - 新锐科技网", "黄仁勋对谈扎克伯格", "黄仁勋对谈扎克伯格"),
])
def test_a_title_that_is_the_site_half_of_the_page_title_gives_way(title: str, h1: str | None, expected: str) -> None:
    body = ["英伟达和Meta的两位创始人在丹佛的SIGGRAPH大会上对谈了一个小时，谈到了开源模型和AI眼镜。",
            "黄仁勋说，英伟达发布的NIM让开发者可以在任何地方部署模型，土豆和计算机系的学生都能受益。"]
    markup = as_page(title, body).replace("<article>", f"<h1>{h1}</h1><article>" if h1 else "<article>")
    doc = extract(fetched(markup.encode("utf-8"), "html"))
    assert doc.title == expected


@pytest.mark.parametrize(("name", "title"), [
    ("3e1af229-5b3e-4cfc-82b2-481f37d7adf7", "土豆不“土” 土豆无“土”"),  # <h1> 松花江网
    ("35687fb1-3d1f-46ac-a1c1-30ae027b2ae4", "播客热潮迅速蔓延 挑逗传统传媒业"),  # 多维博客 » …
    ("d02c66a2-2288-4641-a70e-01c908dcc6e6", "给计算机系学生的建议"),  # Joel on Software - …
    ("36efbc69-53dd-4d58-9e67-0353e2a1a7ec", "奋马扬鞭争春色，“虎”力全开向未来"),  # 书记市长这一周 | …
    ("ab65832c-15b6-4c9e-b64f-3bc575332499", "拆房屡出命案 管理形同虚设"),  # bjreader的博客, then the headline
    ("c2d9f85c-f454-4bd5-8f4e-986580c1113a", "网易娱乐"),  # the site's name and nothing better anywhere
])
def test_extraction_pages_are_titled_by_their_headline(name: str, title: str) -> None:
    (path,) = EXTRACTION.glob(f"*/html/{name}*")
    doc = extract_file(path)
    assert doc.title == title and doc.title != doc.site


def test_no_title_is_also_the_first_line_of_its_text() -> None:
    paths = [*SEEDS.glob("*.txt"), *DEV.glob("*.htm*"), *EXTRACTION.glob("*/html/*")]
    for path in paths:
        doc = extract_file(path)
        assert doc.title is None or squash(doc.title) not in map(squash, doc.text.splitlines()[:2]), path.name
        assert doc.title is None or doc.site is None or squash(doc.title) != squash(doc.site), path.name


def test_text_dates_are_read_from_the_first_lines() -> None:
    byline = next(line for line in seed("001").read_text("utf-8").splitlines() if "发布于" in line)
    assert "2024-01-22" in byline
    assert extract_file(seed("001")).published == "2024-01-22"
    assert extract_file(seed("004")).published == "2024-07-30"  # "2024-07-30 14:28:18 来源:钛媒体"
    assert extract_file(seed("000")).published is None  # only "7月30日", no year


def test_chinese_dates_and_a_sentence_first_line() -> None:
    body = seed("002").read_text("utf-8").splitlines()[1:]
    text = "\n".join([body[0], "发布时间：2024年7月30日 09:12", *body[1:]])
    doc = extract(fetched(text.encode("utf-8"), "text"))
    assert body[0].endswith("。")
    assert doc.title is None  # a first line that is a sentence is body, not a title
    assert doc.text.splitlines()[0] == body[0]
    assert doc.published == "2024-07-30"


def test_line_endings_are_normalized() -> None:
    raw = seed("002").read_text("utf-8")
    lf = extract(fetched(raw.encode("utf-8"), "text"))
    for ending in ("\r\n", "\r"):
        other = extract(fetched(raw.replace("\n", ending).encode("utf-8"), "text"))
        assert (other.title, other.text) == (lf.title, lf.text)
    assert "\r" not in lf.text


def test_utf8_with_bom_and_utf16() -> None:
    raw = seed("003").read_text("utf-8")
    plain = extract(fetched(raw.encode("utf-8"), "text"))
    for data in (raw.encode("utf-8-sig"), raw.encode("utf-16")):
        doc = extract(fetched(data, "text"))
        assert (doc.title, doc.text) == (plain.title, plain.text)
        assert not doc.title.startswith("\ufeff")


# --- HTML: the labeled dev pages -----------------------------------------------------------------

@pytest.mark.parametrize("label", LABELS, ids=lambda d: d["file"].split("-")[0])
def test_dev_documents_give_their_body_and_metadata(label: dict[str, Any]) -> None:
    doc = extract_file(DEV / label["file"])
    assert doc.title == label["title"]
    assert doc.published == label["published"]
    assert doc.encoding == "utf-8"
    text = squash(doc.text)
    for sentence in label["sentences"]:
        if sentence["label"] != "boilerplate":
            assert squash(sentence["text"]) in text
    # nothing but labeled sentences: no chrome, and the headline only in title
    residue = doc.text
    for sentence in sorted(label["sentences"], key=lambda s: -len(s["text"])):
        residue = residue.replace(sentence["text"], "")
    assert not any(ch.isalnum() for ch in residue), residue


@pytest.mark.parametrize("name", [d["file"] for d in LABELS if d["file"].endswith(".html")])
def test_dev_pages_leave_out_comments_related_links_and_footer(name: str) -> None:
    page = lxml.html.fromstring((DEV / name).read_bytes())
    article = page.xpath("//h1")[0].getparent()
    chrome = [el.text_content().strip() for el in page.iter("li", "p", "footer", "h2", "h3", "h4")
              if not any(a is article for a in el.iterancestors())]
    chrome = [text for text in chrome if text and text not in article.text_content()]
    assert len(chrome) > 10  # menus, related headlines, comments, footer lines
    doc = extract_file(DEV / name)
    assert doc.site and doc.site in page.xpath("//meta[@property='og:site_name']/@content")
    assert not [text for text in chrome if text in doc.text]
    assert doc.title not in doc.text.splitlines()


# --- HTML: legacy GBK pages against hand-copied text ---------------------------------------------

@pytest.mark.parametrize("name", [
    "33a95b71-b49b-42c1-9c0a-ab8e3feba3cf",  # declares gb2312, uses characters outside it
    "7c6d2080-5ab9-4385-9c0e-e1c8ed06efd3",  # the same, and a wrapper line before <html>
    "e3f3b532-95de-433e-a4b5-ad51bb981c96",
    "b70f455d-50d6-4c8c-a450-07d8e5ca2e06",  # a dozen broken byte sequences in 38 KB
    "8cb7b39d-4a06-4cad-bc50-0f63304267f3",  # laid out with tables
])
def test_gbk_pages_decode_and_match_their_reference_text(name: str) -> None:
    path = CWCED / "html" / f"{name}.html"
    doc = extract_file(path)
    gold = (CWCED / "gold" / f"{name}.txt").read_text("utf-8")
    assert doc.encoding == "gb18030"
    # each broken sequence is a replacement character where the page lost a character (b70f455d: a character cut
    # before each of twelve &quot;), never dropped without a trace
    assert doc.text.count("\ufffd") == (12 if name.startswith("b70f455d") else 0)
    assert f1(doc.text, gold) > 0.9
    page = html.unescape(path.read_bytes().decode("gb18030", "replace"))
    # the title as the page writes it, less user-defined (private use) characters
    assert doc.title and squash(doc.title) in "".join(ch for ch in squash(page) if unicodedata.category(ch) != "Co")
    assert not any(line.startswith("|") for line in doc.text.splitlines())  # no layout-table rows


def test_declared_gb2312_is_read_as_its_superset() -> None:
    data = (CWCED / "html" / "33a95b71-b49b-42c1-9c0a-ab8e3feba3cf.html").read_bytes()
    with pytest.raises(UnicodeDecodeError):
        data.decode("gb2312")
    text, encoding = decode(data)
    assert encoding == "gb18030" and text == data.decode("gb18030")


# --- HTML and text re-encoded on the fly ---------------------------------------------------------

@pytest.mark.parametrize(("prefix", "codec", "family"), [("000", "big5", ("big5hkscs", "cp950")),
                                                        ("004", "gbk", ("gb18030",))])
@pytest.mark.parametrize("kind", ["html", "text"])
def test_undeclared_legacy_encodings_are_detected(prefix: str, codec: str, family: tuple[str, ...],
                                                  kind: str) -> None:
    raw = seed(prefix).read_text("utf-8").encode(codec, errors="ignore").decode(codec)
    lines = [line.strip() for line in raw.splitlines() if line.strip()]
    source = as_page(lines[0], lines[1:]) if kind == "html" else raw
    doc = extract(fetched(source.encode(codec), kind))
    assert doc.encoding in family
    # the title as the seed read from UTF-8 gives it (004's first line is its site's name, over the headline)
    head = 1 if extract_file(seed(prefix)).site is None else 2
    assert doc.title == lines[head - 1]
    assert "\ufffd" not in doc.text
    assert f1(doc.text, "\n".join(lines[head:])) > 0.97
    assert squash(lines[head]) in squash(doc.text)


def test_a_charset_hint_wins_when_it_decodes_and_is_skipped_when_not() -> None:
    raw = seed("004").read_text("utf-8")
    gbk = raw.encode("gbk", errors="ignore")
    assert decode(gbk, hint="gbk", html=False) == (gbk.decode("gb18030"), "gb18030")
    assert decode(gbk, hint="utf-8", html=False)[1] == "gb18030"  # a wrong hint falls through


@pytest.mark.parametrize("label", ["rot13", "zlib", "base64", "hex", "bz2", "uu", "quopri", "undefined",
                                   "unicode_escape", "idna", "no-such-charset",
                                   # labels of the standard that name no text (x-user-defined: a LookupError before)
                                   "x-user-defined", "replacement"])
def test_a_charset_label_that_names_no_charset_is_an_unknown_label(label: str) -> None:
    """Python's codec registry knows codecs that are no charset (rot13, zlib, ...): a page or a server naming one,
    in <meta> or in Content-Type, is read as if it declared nothing: its real charset is found, never an error."""
    data = (CWCED / "html" / "33a95b71-b49b-42c1-9c0a-ab8e3feba3cf.html").read_bytes()
    declared = re.sub(rb"charset\s*=\s*[\w-]+", b"charset=" + label.encode(), data, count=1, flags=re.IGNORECASE)
    assert declared != data
    for page, hint in ((declared, None), (data, label), (declared, label)):
        doc = extract(fetched(page, "html", hint=hint))
        assert doc.encoding == "gb18030" and "\ufffd" not in doc.text
    utf8 = as_page("标题", ["英伟达今天宣布了新的合作。"]).replace("<head>", f'<head><meta charset="{label}">')
    assert decode(utf8.encode("utf-8"), hint=label) == (utf8, "utf-8")
    assert decode(utf8.encode("ascii", "xmlcharrefreplace"), hint=label)[1] == "ascii"


def test_big5_declared_page_with_hkscs_characters() -> None:
    lines = [line for line in seed("000").read_text("utf-8").splitlines() if line.strip()]
    page = as_page(lines[0], [*lines[1:4], "粵語的「嘅」同「㗎」係香港增補字符集入面嘅字。"])
    data = page.replace("<head>", '<head><meta charset="big5">').encode("big5hkscs", errors="ignore")
    with pytest.raises(UnicodeDecodeError):
        data.decode("big5")
    text, encoding = decode(data)
    assert encoding == "big5hkscs" and "㗎" in text


def test_a_wrong_latin1_declaration_does_not_give_mojibake() -> None:
    lines = [line for line in seed("004").read_text("utf-8").splitlines() if line.strip()]
    page = as_page(lines[0], lines[1:]).replace("<head>", '<head><meta charset="iso-8859-1">')
    doc = extract(fetched(page.encode("gbk", errors="ignore"), "html"))
    assert doc.encoding == "gb18030"
    assert not any("\u00c0" <= ch <= "\u00ff" for ch in doc.text)


def test_utf8_bytes_beat_a_stale_declaration() -> None:
    lines = [line for line in seed("004").read_text("utf-8").splitlines() if line.strip()]
    page = as_page(lines[0], lines[1:]).replace("<head>", '<head><meta charset="gb2312">')
    assert decode(page.encode("utf-8")) == (page, "utf-8")


# --- publication dates: htmldate without its extensive search, then the page's own dateline ----------

SEED_DATES = {"000": None, "001": "2024-01-22", "002": None, "003": None, "004": "2024-07-30"}


@pytest.mark.parametrize("kind", ["text", "html"])
@pytest.mark.parametrize(("prefix", "published"), SEED_DATES.items())
def test_seed_dates_as_text_and_as_a_page(prefix: str, published: str | None, kind: str) -> None:
    raw = seed(prefix).read_text("utf-8")
    lines = [line.strip() for line in raw.splitlines() if line.strip()]
    data = (raw if kind == "text" else as_page(lines[0], lines[1:])).encode("utf-8")
    assert extract(fetched(data, kind)).published == published


@pytest.mark.parametrize("label", LABELS, ids=lambda d: d["file"].split("-")[0])
def test_dev_dates_are_found_without_the_extensive_search(label: dict[str, Any]) -> None:
    path = DEV / label["file"]
    doc = extract_file(path)
    assert doc.published == label["published"]
    if path.suffix == ".html":  # the dateline finder alone finds it too, whatever htmldate does
        assert _dateline(lxml.html.fromstring(path.read_bytes()), doc.title) == label["published"]


def test_extraction_never_reaches_dateparser() -> None:
    """dateparser's language detection is what the extensive search fell through to: seconds per scan."""
    pages = [CWCED / "html" / f"{name}.html" for name in (
        "386d70f8-19dc-495b-aa14-18cc057e1544",  # no date at all: the extensive search read a skin's name
        "c3a80850-3246-416e-af1e-2ab747c4615c",  # a date only in a script comment
        "05e98007-d810-4036-b154-2ef2fe68c2af",  # 发布日期： 7/5/2005 9:23:57 PM
    )] + sorted(DEV.glob("*.html"))
    script = ("import hashlib, pathlib, sys\nfrom monitor.extract import extract\nfrom monitor.models import Fetched\n"
              "for p in sys.argv[1:]:\n    d = pathlib.Path(p).read_bytes()\n"
              "    extract(Fetched(p, d, hashlib.sha256(d).hexdigest(), 't', kind='html'))\n"
              "print('dateparser' in sys.modules)\n")
    done = subprocess.run([sys.executable, "-c", script, *map(str, pages)], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


def dated_page(*lines: str, headline: str = "黄仁勋对谈扎克伯格") -> lxml.html.HtmlElement:
    """A page with a menu, the headline, then each of lines in an element of its own, then the body."""
    nodes = "".join(f"<div>{line}</div>" for line in lines)
    return lxml.html.fromstring(
        f"<html><head><title>{headline}_某某网</title></head><body><div>首页 | 科技</div><h1>{headline}</h1>"
        f"{nodes}<p>北京时间7月30日，英伟达创始人黄仁勋与Meta创始人扎克伯格完成了一场公开对话。</p></body></html>")


@pytest.mark.parametrize(("lines", "published"), [
    # a time of day after the date
    (["2024-07-30 10:21"], "2024-07-30"),
    (["2024/7/30 10:21:05"], "2024-07-30"),
    (["2024.07.30 10:21"], "2024-07-30"),
    (["2024年7月30日 10:21"], "2024-07-30"),
    (["AUTO.SOHU.COM  2024年07月30日10:21"], "2024-07-30"),
    (["本贴由大卫于2024年7月30日16:12:21在〖论坛〗发表"], "2024-07-30"),
    # a label before it, on its line or the line before
    (["发布时间：2024-07-30"], "2024-07-30"),
    (["發佈時間：2024-07-31 08:45"], "2024-07-31"),
    (["作者:admin 发布于:2024-01-22"], "2024-01-22"),
    (["日期: 2024/07/30"], "2024-07-30"),
    (["时间：", "2024年7月30日"], "2024-07-30"),
    # a source after it
    (["2024年7月30日　来源：钛媒体"], "2024-07-30"),
    (["【新华社2024年7月30日报道】英伟达创始人黄仁勋……"], "2024-07-30"),
    # alone on its line next to the headline
    (["2024-07-30"], "2024-07-30"),
    (["数位脉动编辑部", "2024年7月30日"], "2024-07-30"),
    # the first dateline wins
    (["2024-07-30 10:21", "发布时间：2024-07-29"], "2024-07-30"),
    # not datelines
    (["Copyright © 2024-07-30 10:21 某某网 版权所有"], None),
    (["版權所有 2024-07-30 10:21"], None),
    (["今天是2024年7月30日 10:21"], None),
    (["今日头条 2024-07-30 10:21"], "2024-07-30"),  # a source's name, not "today is"
    (["2024年7月30日 星期二"], None),  # a calendar, not a dateline
    (["相关新闻：黄仁勋谈开源 (2024-07-29 18:03)"], None),  # a list's item
    (["(", "2024-07-29 18:03", ")"], None),
    (["2024年7月30日，黄仁勋与扎克伯格在丹佛对谈。"], None),  # a date in a sentence
    (["12/01/2004 - 01/01/2005"], None),  # a range of month-first dates, never 2004-01-01
    (["出道日期：2005年9月1日"], None),  # a label, but not of publication
    (["发布时间：2099-07-30 10:21"], None),  # after tomorrow
    (["2024-13-45 10:21"], None),  # no such day
    (["一", "二", "三", "四", "2024-07-30"], None),  # alone, but far from the headline: an infobox's
])
def test_the_dateline_finder(lines: list[str], published: str | None) -> None:
    assert _dateline(dated_page(*lines), "黄仁勋对谈扎克伯格_某某网") == published


def test_a_copyright_year_is_no_date() -> None:
    lines = [line.strip() for line in seed("002").read_text("utf-8").splitlines() if line.strip()]
    footer = "<footer>Copyright © 1997-2024 Sohu.com Inc. All Rights Reserved. 搜狐公司 版权所有</footer>"
    page = as_page(lines[0], lines[1:]).replace("</body>", footer + "</body>")
    assert extract(fetched(page.encode("utf-8"), "html")).published is None


@pytest.mark.parametrize(("first_lines", "published"), [
    (["2024-07-30"], "2024-07-30"),
    (["2024/07/30 09:12"], "2024-07-30"),
    (["2024.7.30"], "2024-07-30"),
    (["发布时间：2024年7月30日 09:12"], "2024-07-30"),
    (["© 2024-07-30 某某网 版权所有", "作者：某某"], None),
    (["12/01/2004 - 01/01/2005"], None),
    (["2024-02-30", "2024-07-31"], "2024-07-31"),  # the first date that exists
])
def test_text_date_forms(first_lines: list[str], published: str | None) -> None:
    text = "\n".join(["黄仁勋对谈扎克伯格", *first_lines, "英伟达创始人黄仁勋与Meta创始人扎克伯格完成了一场公开对话。"])
    assert extract(fetched(text.encode("utf-8"), "text")).published == published


# --- what is not a document ------------------------------------------------------------------------

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x10\x00\x00\x00\x10\x08\x06\x00\x00\x00" + b"\x00" * 64


@pytest.mark.parametrize("kind", ["html", "text"])
@pytest.mark.parametrize("data", [PNG, bytes(range(1, 32)) * 40, b"", b" \n\r\n\t "],
                         ids=["png", "controls", "empty", "blank"])
def test_binary_and_empty_documents_are_refused(kind: str, data: bytes) -> None:
    with pytest.raises(ExtractError) as caught:
        extract(fetched(data, kind, locator="/srv/corpus/bad.bin"))
    assert caught.value.locator == "/srv/corpus/bad.bin"
    assert "/srv/corpus/bad.bin" in str(caught.value)


def test_a_page_without_text_is_refused() -> None:
    with pytest.raises(ExtractError, match="no text"):
        extract(fetched(b"<html><head><title>t</title></head><body><script>x()</script></body></html>", "html"))


def test_data_tables_keep_their_rows() -> None:
    lines = [line for line in seed("004").read_text("utf-8").splitlines() if line.strip()]
    table = "<table><tr><th>型号</th><th>显存</th></tr><tr><td>H100</td><td>80GB</td></tr></table>"
    page = as_page(lines[0], lines[1:6]).replace("</article>", table + "</article>")
    text = extract(fetched(page.encode("utf-8"), "html")).text
    assert "H100" in text and "80GB" in text


def test_a_page_of_more_tags_than_an_article_has_is_refused_before_trafilatura() -> None:
    """Half a million tiny paragraphs took trafilatura 712 s: a page over MAX_TAGS is one reason naming the count.
    Every real page the project holds is far under it, the largest included, and extracts."""
    real = max(EXTRACTION.glob("*/html/*.html"), key=lambda p: p.read_bytes().count(b"<"))
    assert real.read_bytes().count(b"<") < MAX_TAGS / 5
    data = real.read_bytes()
    assert extract(Fetched(str(real), data, hashlib.sha256(data).hexdigest(), source="t", kind="html")).text
    data = b"<html><body>" + b"<p>ab</p>" * 550_000 + b"</body></html>"
    with pytest.raises(ExtractError, match=r"/p\.html: 1,100,00\d tags, too many for an article"):
        extract(Fetched("/p.html", data, hashlib.sha256(data).hexdigest(), source="t", kind="html"))
    text = Fetched("/p.txt", data, hashlib.sha256(data).hexdigest(), source="t", kind="text")
    assert extract(text).text  # a text file's "<" are characters, not tags
