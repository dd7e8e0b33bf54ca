"""Properties of hostile input (issue 12: "arbitrary bytes give a document or a located error, nothing else").

For any bytes, ``extract`` gives a Document or raises the document's LocatedError (ExtractError), and ``feeds.parse``
gives entries or raises its SourceError: never another exception, which would stop a scan. Strategies reach past
the first checks: the repository's real pages with bytes broken, cut, inserted or spliced; every sort of charset
label (Python codecs that are no charset, WHATWG labels, nonsense) in ``<meta>``, in the server's Content-Type and
in a feed's XML declaration; feeds built from random elements, links and dates; and for ``claims.split`` any text,
and text made of the pieces its rules look for. The examples are the same on every run (the profile in conftest);
a failure found on the way is kept as an ``@example``.
"""

from __future__ import annotations

import datetime
import hashlib
import unicodedata

from helpers import DEV, EXTRACTION, SEEDS
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from monitor import claims
from monitor.errors import ExtractError, LocatedError, SourceError
from monitor.extract import extract
from monitor.keys import key_of
from monitor.models import Document, FeedEntry, Fetched
from monitor.normalize import Normalizer
from monitor.sources import feeds

NORM = Normalizer("t2s")
LOCATOR = "/srv/corpus/hostile.html"
FEED_URL = "https://news.example.cn/rss/ai.xml"
#: small real documents of each kind: the seeds (text), the dev pages (UTF-8), extraction pages in GBK and UTF-8
PAGES = [
    *(path.read_bytes() for path in sorted(SEEDS.glob("*.txt"))[:2]),
    *(path.read_bytes() for path in sorted(DEV.glob("*.html"))),
    *((EXTRACTION / "cwced_zh" / "html" / f"{name}.html").read_bytes()
      for name in ("f70d9c97-9d64-415e-a7e4-840c9258eaf5", "9890f458-7af7-4e96-a507-6eb1b359d675")),
]
#: charset labels: Python codecs that are no charset, a few that are (or whose labels are WHATWG's), and nonsense
LABELS = st.one_of(
    st.sampled_from([
        "rot13", "zlib", "base64", "hex", "bz2", "uu", "quopri", "undefined", "unicode_escape",
        "raw_unicode_escape", "idna", "punycode", "utf-7", "utf-16", "utf-16le", "utf-32", "x-user-defined",
        "replacement", "iso-2022-kr", "hz-gb-2312", "utf-8", "utf8", "gb2312", "gbk", "gb18030", "big5",
        "big5-hkscs", "shift_jis", "euc-jp", "iso-2022-jp", "euc-kr", "koi8-r", "iso-8859-1", "latin1",
        "windows-1252", "us-ascii", "mbcs", "oem", "cp65001", "", " ", "utf-8\x00", "../../etc/passwd",
    ]),
    st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_.:", max_size=20),
)


def fetched(data: bytes, kind: str, hint: str | None = None) -> Fetched:
    return Fetched(locator=LOCATOR, data=data, content_hash=hashlib.sha256(data).hexdigest(), source="hostile",
                   kind=kind, charset_hint=hint)


def document_or_located_error(item: Fetched) -> Document | None:
    """extract(item): a Document that can be stored and shown, or None for its LocatedError; anything else fails."""
    try:
        document = extract(item)
    except LocatedError as exc:
        assert isinstance(exc, ExtractError)
        assert exc.locator == item.locator and exc.reason and str(exc).startswith(f"{item.locator}: ")
        return None
    assert isinstance(document, Document) and document.locator == item.locator
    # what the store and the JSON output take: text with no lone surrogate
    for field in (document.text, document.title, document.site, document.url, document.encoding):
        assert field is None or field.encode("utf-8")
    # the main text: lines, each stripped and not blank
    assert document.text and all(line and line == line.strip() for line in document.text.split("\n"))
    assert document.published is None or datetime.date.fromisoformat(document.published)
    return document


# --- extraction ----------------------------------------------------------------------------------------------------

@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=3000), kind=st.sampled_from(["html", "text"]), hint=st.none() | LABELS)
# found: x-user-defined is a label of the Encoding Standard that no Python codec knows (a LookupError)
@example(data=b"", kind="html", hint="x-user-defined")
@example(data=b"\xef\xbb\xbf" + b"\xff" * 50, kind="text", hint=None)  # a byte order mark, then nothing valid
@example(data=b"\xff\xfe" + b"\x00\xd8" * 3, kind="text", hint=None)  # UTF-16 of lone surrogates
def test_any_bytes_are_a_document_or_a_located_error(data: bytes, kind: str, hint: str | None) -> None:
    document_or_located_error(fetched(data, kind, hint))


#: ways text comes encoded: as it should, a legacy charset (what it cannot hold dropped or replaced), with a BOM
ENCODINGS = st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "utf-32", "gb18030", "gbk", "big5", "big5hkscs",
                             "shift_jis", "euc-kr", "cp1252", "koi8-r", "utf-7"])


@settings(max_examples=200, deadline=None)
@given(text=st.text(max_size=400), codec=ENCODINGS, kind=st.sampled_from(["html", "text"]), label=st.none() | LABELS,
       hint=st.none() | LABELS)
def test_any_text_in_any_encoding_is_a_document_or_a_located_error(
    text: str, codec: str, kind: str, label: str | None, hint: str | None
) -> None:
    if kind == "html":
        meta = f'<meta charset="{label}">' if label is not None else ""
        text = f"<html><head>{meta}<title>{text[:20]}</title></head><body><p>{text}</p></body></html>"
    document_or_located_error(fetched(text.encode(codec, errors="replace"), kind, hint))


@st.composite
def mutated_pages(draw: st.DrawFn) -> bytes:
    """A real page or text with a few bytes broken, cut out, put in, or a stretch of it moved elsewhere."""
    data = bytearray(draw(st.sampled_from(PAGES)))
    for _ in range(draw(st.integers(0, 6))):
        at = draw(st.integers(0, len(data)))
        how = draw(st.sampled_from(["flip", "cut", "insert", "splice", "truncate"]))
        if how == "flip" and at < len(data):
            data[at] ^= draw(st.integers(1, 255))
        elif how == "cut":
            del data[at : at + draw(st.integers(1, 200))]
        elif how == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=40) | st.sampled_from(
                [b"<", b"</p>", b"<script>", b"<!--", b"]]>", b"&#xD800;", b"&#0;", b"\x00", b"\xef\xbb\xbf",
                 b"<meta charset=utf-7>", b"<html>", b"</body></html>"]))
        elif how == "splice" and data:
            start = draw(st.integers(0, len(data) - 1))
            data[at:at] = data[start : start + draw(st.integers(1, 2000))]
        elif how == "truncate":
            del data[at:]
    return bytes(data)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=mutated_pages(), kind=st.sampled_from(["html", "text"]), hint=st.none() | LABELS)
def test_broken_real_pages_are_a_document_or_a_located_error(data: bytes, kind: str, hint: str | None) -> None:
    document_or_located_error(fetched(data, kind, hint))


UTF8_PAGE = (DEV / "xinrui-20240730-88231.html").read_bytes()
GBK_PAGE = (EXTRACTION / "cwced_zh" / "html" / "f70d9c97-9d64-415e-a7e4-840c9258eaf5.html").read_bytes()


def declaring(page: bytes, label: str) -> bytes:
    """The page with a <meta charset> naming label as its first declaration."""
    return page.replace(b"<head>", b'<head><meta charset="' + label.encode("utf-8", "replace") + b'">', 1)


@settings(max_examples=80, deadline=None)
@given(label=LABELS, hint=st.none() | LABELS)
@example(label="x-user-defined", hint="x-user-defined")  # found: it stopped extraction with a LookupError
def test_a_real_page_naming_any_charset_is_still_read(label: str, hint: str | None) -> None:
    """Whatever the page or the server names, a UTF-8 page is read as UTF-8, with the same text, and a GBK page is
    read as a document (in GB18030 unless the label is another double-byte charset it passes for: see
    test_damaged_bytes)."""
    assume("\x00" not in label)  # a NUL byte in the page makes it binary data
    assert b"<head>" in UTF8_PAGE and b"<head>" in GBK_PAGE
    plain = extract(fetched(UTF8_PAGE, "html"))
    document = document_or_located_error(fetched(declaring(UTF8_PAGE, label), "html", hint))
    assert document is not None and document.encoding == "utf-8" and document.text == plain.text
    assert document_or_located_error(fetched(declaring(GBK_PAGE, label), "html", hint)) is not None


# --- feeds ---------------------------------------------------------------------------------------------------------

def entries_or_located_error(data: bytes, content_type: str | None) -> tuple[FeedEntry, ...] | None:
    """feeds.parse: entries a scan can follow, or None for its SourceError naming the feed; anything else fails."""
    try:
        entries = feeds.parse(data, FEED_URL, content_type)
    except LocatedError as exc:
        assert isinstance(exc, SourceError) and exc.locator == FEED_URL and exc.reason
        return None
    assert isinstance(entries, tuple)
    assert len({entry.url for entry in entries}) == len(entries)
    for entry in entries:
        assert entry.url.lower().startswith(("http://", "https://")) and entry.url == entry.url.strip()
        assert entry.title is None or (entry.title and entry.title == " ".join(entry.title.split()))
        assert entry.published is None or datetime.date.fromisoformat(entry.published)
    return entries


CONTENT_TYPES = st.none() | st.sampled_from(["application/rss+xml", "application/xml", "text/xml", "text/html",
                                             "application/octet-stream"]) | LABELS.map(
    lambda label: f"application/xml; charset={label}")


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=2000), content_type=CONTENT_TYPES)
# found: feedparser decodes with any codec Python knows; "undefined" raised UnicodeError past it, a NUL ValueError
@example(data=b"<rss/>", content_type="application/xml; charset=undefined")
@example(data=b"<rss/>", content_type="application/xml; charset=utf-8\x00")
def test_any_bytes_are_feed_entries_or_a_located_error(data: bytes, content_type: str | None) -> None:
    entries_or_located_error(data, content_type)


#: what a feed's dates look like, and what they should never be
DATES = st.one_of(
    # any moment from the year 1 to 9999, in any zone or none (the zone may move it past either end)
    st.datetimes(timezones=st.timezones() | st.none()).map(lambda moment: moment.isoformat()),
    st.datetimes().map(lambda moment: moment.strftime("%a, %d %b %Y %H:%M:%S +0800")),
    st.sampled_from(["0000-01-01T00:00:00Z", "9999-12-31T23:59:59-12:00", "Fri, 31 Dec 9999 23:59:59 -1200",
                     "Sat, 01 Jan 0001 00:00:00 +1400", "2024-02-30", "Tue, 30 Jul 2024 99:99:99 +9999", "",
                     "2024-07-30T10:00:00+25:00", "昨天", "-1-01-01"]),
    st.text(max_size=30),
)
TEXTS = st.text(max_size=60) | st.sampled_from(["<b>粗体</b> 标题", "&lt;script&gt;", "&amp;amp;", "]]>", "&#0;"])
LINKS = st.one_of(
    st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789/-._~%?#=&", max_size=30).map(
        lambda path: f"https://news.example.cn/{path}"),
    st.sampled_from(["javascript:alert(1)", "/relative/1.html", "  HTTPS://NEWS.EXAMPLE.CN/UPPER  ", "mailto:x@y",
                     "data:text/html,<b>", "http://", "ftp://files.example/1"]),
    st.text(max_size=30),
)


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


@st.composite
def feed_documents(draw: st.DrawFn) -> bytes:
    """An RSS 2.0 or Atom feed of random entries, its text escaped or not, under a random XML declaration."""
    atom = draw(st.booleans())
    raw = draw(st.booleans())  # text put in unescaped: broken markup
    put = (lambda text: text) if raw else _escape
    items = []
    for _ in range(draw(st.integers(0, 5))):
        link, title, date = draw(LINKS), draw(TEXTS), draw(DATES)
        if atom:
            items.append(f'<entry><title type="{draw(st.sampled_from(["text", "html"]))}">{put(title)}</title>'
                         f'<link rel="alternate" href="{put(link)}"/><published>{put(date)}</published>'
                         f"<updated>{put(draw(DATES))}</updated></entry>")
        else:
            permalink = draw(st.sampled_from(["", ' isPermaLink="false"', ' isPermaLink="true"']))
            items.append(f"<item><title>{put(title)}</title><link>{put(link)}</link>"
                         f"<guid{permalink}>{put(draw(LINKS))}</guid><pubDate>{put(date)}</pubDate></item>")
    body = "".join(items)
    if atom:
        document = f'<feed xmlns="http://www.w3.org/2005/Atom"><title>t</title>{body}</feed>'
    else:
        document = f'<rss version="2.0"><channel><title>t</title>{body}</channel></rss>'
    label = draw(st.none() | LABELS)
    declaration = f'<?xml version="1.0" encoding="{label}"?>\n' if label is not None else ""
    return (declaration + document).encode(draw(st.sampled_from(["utf-8", "gb18030", "utf-16"])), errors="replace")


@settings(max_examples=300, deadline=None)
@given(data=feed_documents(), content_type=CONTENT_TYPES)
# found: an XML declaration naming a codec that is no charset (UnicodeError; unicode_escape: a DeprecationWarning
# and mojibake), and a date in the year 0 (ValueError)
@example(data=b'<?xml version="1.0" encoding="punycode"?><rss version="2.0"><channel><title>t</title><item>'
              b"<link>https://news.example.cn/1</link></item></channel></rss>", content_type=None)
@example(data=b'<?xml version="1.0" encoding="unicode_escape"?>\n<feed xmlns="http://www.w3.org/2005/Atom">'
              b'<title>t</title><entry><link rel="alternate" href="\\8"/></entry></feed>', content_type=None)
@example(data=b'<rss version="2.0"><channel><title>t</title><item><link>https://news.example.cn/</link>'
              b"<pubDate>0000-01-01T00:00:00Z</pubDate></item></channel></rss>", content_type=None)
def test_random_feeds_are_entries_or_a_located_error(data: bytes, content_type: str | None) -> None:
    entries_or_located_error(data, content_type)


# --- claims --------------------------------------------------------------------------------------------------------

#: the pieces claim splitting looks for: sentence marks and closers, quotes, book titles, speaker labels, markers
#: glued to a sentence, boilerplate, numbers, and letters of both scripts
PIECES = st.one_of(
    st.sampled_from(list("。！？!?…；;.，、：:“”「」『』《》（）()【】[]\"' \n\t\u3000")),
    st.sampled_from(["扎克伯格：", "黄仁勋说：“", "主持人: ", "\n扎克伯格：我们会开源。", "\n主持人：请谈谈这个模型。",
                     "Mr. ", "U.S. ", "(接上期)", "（记者 张三）", "编者按：", "本文转载自公众号", "版权所有",
                     "点赞", "相关阅读", "1.5", "2024年7月30日", "三十五万", "...", "\r\n", "\u2028", "\x1c",
                     "\x85"]),
    st.text(alphabet=st.characters(min_codepoint=0x4E00, max_codepoint=0x4FFF), min_size=1, max_size=12),
    st.text(alphabet="abcdefghij ABCDEF", min_size=1, max_size=12),
    st.text(max_size=4),
)
SENTENCE_TEXTS = st.lists(PIECES, max_size=60).map("".join)


def _visible(text: str) -> str:
    return "".join(text.split())


@settings(max_examples=500, deadline=None)
@given(text=st.text(max_size=600) | SENTENCE_TEXTS)
def test_claims_of_any_text_keep_their_invariants(text: str) -> None:
    found, dropped = claims.split(text, NORM.normalize_many, key_of)
    rules = {rule.name for rule in (*claims.boilerplate_rules(), *claims.marker_rules())}
    for position, claim in enumerate(found):
        assert claim.position == position
        assert claim.text and claim.text == claim.text.strip() and len(claim.text) <= claims.MAX_CLAIM_CHARS
        assert claim.text in text  # a verbatim piece of the document
        assert claim.normalized == unicodedata.normalize("NFKC", claim.normalized)
        assert claim.normalized == claim.normalized.strip() and "\n" not in claim.normalized
        assert claim.key == key_of(claim.normalized) and len(claim.key) >= claims.MIN_KEY_CHARS
        assert claim.speaker is None or (claim.speaker and claim.speaker in text)
    for item in dropped:
        assert item.text and item.text == item.text.strip()
        assert item.rule in rules | {"too-short", "too-long", "heading"}
    assert [item.before for item in dropped] == sorted(item.before for item in dropped)
    assert all(0 <= item.before <= len(found) for item in dropped)
    # nothing lost or made up: the pieces in document order are the text, less its white space
    pieces: list[str] = []
    pending = list(dropped)
    for claim in found:
        while pending and pending[0].before <= claim.position:
            pieces.append(pending.pop(0).text)
        pieces.append(claim.text)
    pieces += [item.text for item in pending]
    assert _visible("".join(pieces)) == _visible(text)
