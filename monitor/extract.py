"""Bytes -> Document: decode the bytes, then take the main text and metadata.

HTML goes through trafilatura, fed the string decoded here: its own guessing is what garbles
legacy Chinese pages. Plain text passes through, its first short line taken as the title.
Pure: no files, no network, no output.
"""

from __future__ import annotations

import bisect
import codecs
import contextlib
import datetime
import itertools
import re
from dataclasses import dataclass

import charset_normalizer
import trafilatura
import webencodings
from htmldate import find_date
from lxml.etree import XPath
from lxml.html import HtmlElement
from trafilatura.metadata import (
    META_URL,
    examine_meta,
    examine_title_element,
    extract_meta_json,
    extract_sitename,
    extract_title,
    extract_url,
)
from trafilatura.settings import Document as TrafilaturaDocument
from trafilatura.settings import set_date_params
from trafilatura.utils import load_html

from monitor.errors import ExtractError
from monitor.models import Document, Fetched

# --- decoding ---------------------------------------------------------------------------------

#: byte order marks, UTF-32 first (its little-endian mark starts with UTF-16's)
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
#: a declared charset is decoded as its superset, so pages with characters outside the declared
#: set still decode; keys as codecs.lookup names them (the web reads gb2312 as gbk, ascii and latin-1 as cp1252)
_SUPERSETS = {
    "gb2312": ("gb18030",),
    "gbk": ("gb18030",),
    "big5": ("big5hkscs", "cp950"),
    "cp950": ("cp950", "big5hkscs"),
    "shift_jis": ("cp932",),
    "euc_kr": ("cp949",),
    "ascii": ("cp1252",),
    "iso8859-1": ("cp1252",),
}
#: <meta charset>, http-equiv Content-Type, <?xml encoding?> or any such declaration near the top
_DECLARED = re.compile(rb"""(?:charset|encoding)\s*=\s*["']?\s*([A-Za-z][\w.:-]{1,40})""", re.IGNORECASE)
_DECLARED_WINDOW = 2048
#: legacy CJK bytes read as a Western charset come out as runs of Latin-1 letters; accented
#: Western words seldom have three in a row, so there such runs stay a small share
_MOJIBAKE_RUN = re.compile(r"[\u0080-\u00ff]{3,}")
_MOJIBAKE_SHARE = 0.3
_CONTROLS = bytes(b for b in range(0x20) if b not in b"\t\n\r\f\x1b")
#: where a decoder met bytes it cannot decode: one U+FFFD for each maximal subpart of an invalid sequence
#: (as the WHATWG decoders write them), so one damaged byte can give up to three in a row; a run is one damaged place
_REPLACED = re.compile("\ufffd+")
#: a damaged UTF-8 file (its charset known from its byte order mark, or from its valid multi-byte sequences) is
#: decoded with replacement when it has at most one damaged place in this many characters: one bad byte a KB
#: of Chinese is one in 340 characters (one in 170 when the byte breaks a character in two places)
_LOSSY_CHARS = 100
#: ... and UTF-8 is the charset only when it decodes at least this many non-ASCII characters for each damaged
#: place: a legacy page read as UTF-8 has about as many damaged places as characters it decodes
_UTF8_EVIDENCE = 4
#: a legacy charset (declared or guessed) with invalid byte sequences is taken when they give at most one U+FFFD
#: in this many characters, as before damaged places were counted (and so is UTF-8 that does not look it, a
#: mostly English page with few non-ASCII characters to tell): there invalid sequences are weak evidence of
#: the charset (GBK bytes read as Big5 or Korean have as few as one in 1,250 characters), and counting damaged
#: places instead turned three real GBK pages with a stale big5 or euc-kr declaration into mojibake
_LEGACY_LOSSY_CHARS = 500


#: labels of the Encoding Standard that name no text: "replacement" (its name for "do not decode this") and
#: x-user-defined (bytes as private-use characters, for binary data; no Python codec knows it)
_NOT_TEXT = frozenset({"replacement", "x-user-defined"})


def _codecs_for(label: str) -> tuple[str, ...]:
    """The codecs to try for a declared charset label, supersets first: a label of the WHATWG Encoding Standard,
    read as browsers read it (``webencodings``); () for any other label. Python's codec registry also knows
    codecs that are no charset (rot13, base64, zlib, hex, undefined): a page naming one, or a label of the standard
    that names no text (``_NOT_TEXT``), is read as if it declared nothing."""
    found = webencodings.lookup(label)
    if found is None or found.name in _NOT_TEXT:
        return ()
    name = codecs.lookup(found.codec_info.name).name
    return _SUPERSETS.get(name, (name,))


def _guessed_codecs(name: str) -> tuple[str, ...]:
    """The codecs to try for a charset the detector guessed (a Python codec name), supersets first."""
    try:
        info = codecs.lookup(name)
    except LookupError:
        return ()
    if not getattr(info, "_is_text_encoding", True) or info.name == "undefined":
        return ()
    return _SUPERSETS.get(info.name, (info.name,))


def _strict(data: bytes, codec: str) -> str | None:
    """data decoded with codec, or None if a byte sequence is invalid in it."""
    try:
        return data.decode(codec)
    except UnicodeError:
        return None


def _looks_garbled(text: str) -> bool:
    """True when text reads like multibyte bytes decoded as a single-byte Western charset."""
    in_runs = sum(len(run) for run in _MOJIBAKE_RUN.findall(text))
    return in_runs > _MOJIBAKE_SHARE * (len(text) - len(text.encode("ascii", "ignore")))


def _is_binary(data: bytes) -> bool:
    """True for NUL bytes or mostly control characters (images, archives, executables)."""
    head = data[:8192]
    controls = len(head) - len(head.translate(None, _CONTROLS))
    return b"\x00" in head or controls > 0.1 * len(head)


def _clean(data: bytes, candidates: list[str]) -> tuple[str, str] | None:
    """The first candidate codec that decodes data strictly into text that is not mojibake."""
    for codec in candidates:
        if (text := _strict(data, codec)) is not None and not _looks_garbled(text):
            return text, codec
    return None


@dataclass(frozen=True)
class _Lossy:
    """Bytes decoded with one codec, each invalid byte sequence replaced."""

    codec: str
    #: the text, U+FFFD for each maximal subpart of an invalid sequence
    text: str
    #: the damaged places: maximal runs of bytes the codec cannot decode (a run of U+FFFD is one)
    damaged: int

    @property
    def replaced(self) -> int:
        """How many U+FFFD the decoder wrote."""
        return self.text.count("\ufffd")

    def describe(self) -> str:
        return f"{self.damaged} invalid byte sequences in {len(self.text)} characters"


def _lossy(data: bytes, codec: str) -> _Lossy:
    """data decoded with codec, invalid sequences replaced, and its damaged places counted."""
    text = data.decode(codec, errors="replace")
    return _Lossy(codec, text, sum(1 for _ in _REPLACED.finditer(text)))


def _tolerable(lossy: _Lossy) -> bool:
    """At most one damaged place in ``_LOSSY_CHARS`` characters (UTF-8, or a charset named by a byte order mark)."""
    return lossy.damaged * _LOSSY_CHARS <= len(lossy.text)


def _looks_utf8(lossy: _Lossy) -> bool:
    """True when a UTF-8 decode with invalid sequences is damaged UTF-8, not other bytes read as UTF-8: many
    valid multi-byte characters for each damaged place (legacy CJK or Western bytes seldom form one)."""
    wide = len(lossy.text) - len(lossy.text.encode("ascii", "ignore")) - lossy.replaced
    return lossy.damaged * _UTF8_EVIDENCE <= wide


def _near_clean(data: bytes, candidates: list[str]) -> tuple[str, str] | None:
    """The candidate with the fewest U+FFFD, each invalid sequence replaced, if they are at most one in
    ``_LEGACY_LOSSY_CHARS`` characters (a page cut mid-character here and there) and the rest is not mojibake.
    (UTF-8 with too few non-ASCII characters to tell it by them, a mostly English page, comes here too.)"""
    decodes = [_lossy(data, codec) for codec in candidates]
    if not decodes:
        return None
    best = min(decodes, key=lambda lossy: lossy.replaced)
    if best.replaced * _LEGACY_LOSSY_CHARS > len(best.text) or _looks_garbled(best.text):
        return None
    return best.text, best.codec


def decode(data: bytes, *, hint: str | None = None, html: bool = True) -> tuple[str, str]:
    """Bytes -> (text, encoding name).

    Order: a byte order mark; UTF-8 when there are non-ASCII bytes, strict or with a few damaged places
    (legacy CJK text is never valid UTF-8, nor nearly, so this also overrides a stale declaration); the hint
    (an HTTP header charset); for HTML a charset/encoding declaration in the first 2 KB; ASCII; a declared
    charset with a few invalid sequences; charset-normalizer's guesses. gb2312/gbk are decoded as gb18030,
    big5 as big5hkscs or cp950. Invalid byte sequences, where tolerated, come out as U+FFFD, one for each
    maximal subpart as browsers write them; the tolerance counts damaged places (runs of invalid bytes), not
    bytes. Never Latin-1 mojibake: raises ExtractError (empty locator; the caller adds it) for binary data or
    when nothing decodes cleanly enough.
    """
    for bom, codec in _BOMS:
        if data.startswith(bom):
            lossy = _lossy(data, codec)
            if not _tolerable(lossy):
                raise ExtractError("", f"invalid {codec} after its byte order mark: {lossy.describe()}, "
                                       f"more than one in {_LOSSY_CHARS}")
            return lossy.text.lstrip("\ufeff"), "utf-8" if codec == "utf-8-sig" else codec
    if _is_binary(data):
        raise ExtractError("", "binary data, not a document")
    if not data.isascii():
        if (text := _strict(data, "utf-8")) is not None:
            return text, "utf-8"
        if _looks_utf8(utf8 := _lossy(data, "utf-8")):
            # damaged UTF-8: any other charset would read its characters as mojibake
            if not _tolerable(utf8):
                raise ExtractError("", f"damaged UTF-8: {utf8.describe()}, more than one in {_LOSSY_CHARS}")
            return utf8.text, "utf-8"
    labels = [hint] if hint else []
    if html:
        labels += [m.group(1).decode("ascii") for m in _DECLARED.finditer(data[:_DECLARED_WINDOW])]
    # a declaration readable as ASCII cannot be in UTF-16/32
    declared = [c for label in labels for c in _codecs_for(label) if not c.startswith(("utf-16", "utf-32"))]
    if found := _clean(data, declared):
        return found
    if data.isascii():
        return data.decode("ascii"), "ascii"
    if found := _near_clean(data, declared):
        return found
    guessed = [c for match in charset_normalizer.from_bytes(data) for c in _guessed_codecs(match.encoding)]
    if found := _clean(data, guessed) or _near_clean(data, [*guessed, "utf-8"]):
        return found
    raise ExtractError("", "no character encoding decodes the bytes cleanly")


# --- plain text -------------------------------------------------------------------------------

_SENTENCE_END = tuple("。！？.!?…")
_TITLE_MAX = 80
#: a full date, year first: 2024-07-30, 2024/7/30, 2024.07.30 (one separator throughout: never the
#: "2004 - 01/01" of a range "12/01/2004 - 01/01/2005") or 2024年7月30日
_DATE = re.compile(
    r"(?<![\d.])(?:(?P<y>(?:19|20)\d\d)(?P<sep>[-/.])(?P<m>\d{1,2})(?P=sep)(?P<d>\d{1,2})(?![\d.])"
    r"|(?P<cy>(?:19|20)\d\d) ?年 ?(?P<cm>\d{1,2}) ?月 ?(?P<cd>\d{1,2})(?!\d) ?[日号]?)")
#: a line that is a copyright notice, or a calendar showing today's date, never gives the date
#: (今日 alone is no such sign: 今日头条, 美国今日)
_NOT_A_DATELINE = re.compile(r"©|\(c\)|copyright|版权|版權|今天是|今日是|现在是|現在是|当前时间|當前時間",
                             re.IGNORECASE)
_DATE_LINES = 5


def _lines(text: str) -> list[str]:
    """text as stripped lines (any line ending), blank ones dropped."""
    return [line for line in (raw.strip() for raw in text.splitlines()) if line]


def _iso_date(match: re.Match[str]) -> str | None:
    """A _DATE match as an ISO date, or None when no such day exists (2024-02-30)."""
    parts = (match["y"], match["m"], match["d"]) if match["y"] else (match["cy"], match["cm"], match["cd"])
    try:
        return datetime.date(*(int(part) for part in parts)).isoformat()
    except ValueError:
        return None


def _find_date(lines: list[str]) -> str | None:
    """The first valid date written 2024-07-30, 2024/07/30 or 2024年7月30日 in lines, ISO; a
    copyright line is passed over."""
    for line in lines:
        if not _NOT_A_DATELINE.search(line):
            for match in _DATE.finditer(line):
                if found := _iso_date(match):
                    return found
    return None


def _extract_text(fetched: Fetched, text: str, encoding: str) -> Document:
    """A plain text document; a short first line that is not a sentence is its title."""
    lines, title, site = _lines(text), None, None
    if len(lines) > 1 and _titlelike(lines[0]):
        # a Markdown heading keeps its words, not its markers
        title, lines = lines[0].lstrip("#").strip() or None, lines[1:]
        # a site's name over the headline ("深圳热线", then the headline): the headline is the title
        if (headline := _headline(title, None, None, lines)) != title:
            site, title, lines = title, headline, _drop_headline(lines, headline)
    return Document(locator=fetched.locator, text="\n".join(lines), title=title, site=site,
                    published=_find_date(lines[:_DATE_LINES]), encoding=encoding)


# --- HTML -------------------------------------------------------------------------------------

_HTML_START = re.compile(r"<(?:!doctype\s+html|html)\b", re.IGNORECASE)
#: trafilatura renders a table row as a Markdown row, a header row with a rule under it
#: (a data table has at least two columns; a one-cell header is a layout's headline)
_TABLE_ROW = re.compile(r"^\|.*\|$")
_TABLE_RULE = re.compile(r"^\|(?:\s*:?-{3,}:?\s*\|){2,}$")
_CELL_BORDER = re.compile(r"(?<!\\)\|")
#: a cell is prose with this many letters and at least one punctuation mark per hundred
_PROSE_PUNCTUATION = re.compile(r"[。！？；，、,;!?]|[.:](?=\s)")
_PROSE_MIN_LETTERS = 20
#: what is not a letter or digit (\w is str.isalnum() and "_"): what is left of a cell without it, it has
_NOT_LETTER = re.compile(r"[\W_]+")
_PROSE_PUNCTUATION_SHARE = 0.01
_HEADLINE_LINES = 2
_HEADLINE_PREFIX_MIN = 8
_NOT_A_SITE = re.compile(r"copyright|©|all rights reserved|版权所有|版權所有", re.IGNORECASE)


def _is_prose(cell: str) -> bool:
    """True for a table cell that reads as running text, not a menu entry or a label."""
    letters = len(_NOT_LETTER.sub("", cell))
    punctuation = len(_PROSE_PUNCTUATION.findall(cell))
    return letters >= _PROSE_MIN_LETTERS and punctuation >= _PROSE_PUNCTUATION_SHARE * letters


def _unlayout(lines: list[str]) -> list[str]:
    """lines with layout tables reduced to their prose cells.

    A page laid out with tables comes out of trafilatura as rows of menus, link lists and
    labels around the cell holding the article. A table with a header rule over two or more
    columns is data and stays whole; in any other, each prose cell becomes a paragraph and
    the rest is dropped.
    """
    out: list[str] = []
    i = 0
    while i < len(lines):
        end = i
        while end < len(lines) and _TABLE_ROW.match(lines[end]):
            end += 1
        if end == i:
            out.append(lines[i])
            i += 1
            continue
        rows, i = lines[i:end], end
        if any(_TABLE_RULE.match(row) for row in rows):
            out.extend(rows)
            continue
        for row in rows:
            cells = (cell.strip().replace("\\|", "|") for cell in _CELL_BORDER.split(row[1:-1]))
            out.extend(cell for cell in cells if _is_prose(cell))
    return out


def _drop_headline(lines: list[str], title: str | None) -> list[str]:
    """lines without the headline: one of the first lines that repeats the title, or starts
    it (the title going on with the site's name)."""
    squashed = "".join((title or "").split())
    for i, line in enumerate(lines[:_HEADLINE_LINES]):
        head = "".join(line.split())
        if squashed and (head == squashed or (len(head) >= _HEADLINE_PREFIX_MIN and squashed.startswith(head))):
            return lines[:i] + lines[i + 1 :]
    return lines


#: a title this short (Chinese characters, Latin words and numbers) may be only the site's name
_SITE_NAME_MAX = 8
_TITLE_WORD = re.compile(r"[\u3400-\u9fff]|[A-Za-z]+|\d+")
#: what joins a headline and the site's name in a page's <title>: 标题_站点, 标题 - 站点, 站点 | 标题, 标题 站点
_TITLE_JOIN = re.compile(r"[\s_|｜\-–—»«·•:：~<>*/\\]+")
_EDGE_JOIN = re.compile(rf"^{_TITLE_JOIN.pattern}|{_TITLE_JOIN.pattern}$")
#: a join other than a space inside the rest of a <title> makes it a chain of names (频道_站点), not a headline
_NAMES_JOIN = re.compile(r"\s[\-–—»«·•~<>*/\\]\s|[_|｜]|::")


def _titlelike(line: str) -> bool:
    """True for a line that can be a headline: short, and not a sentence."""
    return len(line) <= _TITLE_MAX and not line.endswith(_SENTENCE_END)


def _pairs(text: str) -> set[str]:
    """The character pairs of text's letters and digits, lower case."""
    letters = "".join(ch for ch in text.lower() if ch.isalnum())
    return {letters[i : i + 2] for i in range(len(letters) - 1)}


def _said_in(part: str, pairs: set[str]) -> float:
    """The share of part's character pairs that the text with these pairs also has."""
    own = _pairs(part)
    return len(own & pairs) / len(own) if own else 0.0


def _page_title_rest(title: str, page_title: str | None) -> str | None:
    """What the page's <title> says besides title, when title starts or ends it ("松花江网" of
    "土豆不“土” 土豆无“土” 松花江网", "Joel on Software" of "Joel on Software - 给计算机系学生的建议"),
    unless that is a chain of names itself."""
    if not page_title or page_title == title:
        return None
    rest = None
    if page_title.startswith(title) and _TITLE_JOIN.match(page_title, len(title)):
        rest = page_title[len(title) :]
    elif page_title.endswith(title) and _TITLE_JOIN.fullmatch(page_title[: -len(title)][-1:]):
        rest = page_title[: -len(title)]
    rest = _EDGE_JOIN.sub("", rest) if rest else None
    return rest if rest and not _NAMES_JOIN.search(rest) else None


def _headline(title: str | None, site: str | None, page_title: str | None, lines: list[str]) -> str | None:
    """title, or the headline when title is only the site's name.

    The headline is the rest of the page's <title> around it, or one of the first lines of the text
    that reads as a headline. It takes the title's place when it says more than the title and shares
    nothing with it, and either the title is the page's site name, or the title is short and the text
    says less of it than of the headline (a site's name is seldom in its article's text), or the
    headline is the other half of the <title> and says at least twice as much.
    """
    if not title:
        return title
    size = len(_TITLE_WORD.findall(title))
    is_site = site is not None and "".join(site.split()).casefold() == "".join(title.split()).casefold()
    if not is_site and size > _SITE_NAME_MAX:
        return title
    rest = _page_title_rest(title, page_title)
    candidates = [rest] if rest else []
    candidates += [line for line in lines[:_HEADLINE_LINES] if _titlelike(line)]
    for candidate in candidates:
        said = len(_TITLE_WORD.findall(candidate))
        if said <= size or _pairs(candidate) & _pairs(title):
            continue
        body = _pairs("\n".join(line for line in lines if line != candidate))
        if is_site or _said_in(candidate, body) > _said_in(title, body) or (candidate == rest and said >= 2 * size):
            return candidate
    return title


def _day_date(date: str | None, markup: str) -> str | None:
    """date, unless it is htmldate's year-only guess (YYYY-01-01, from a copyright line)
    and the page never writes that day."""
    if not date or not date.endswith("-01-01"):
        return date or None
    written = re.search(rf"{date[:4]}\s*(?:[-/.]|年)\s*0?1\s*(?:[-/.]|月)\s*0?1(?!\d)", markup)
    return date if written else None


#: the page's visible text, one text node a line
_VISIBLE_TEXT = XPath("//body//text()[not(ancestor::script or ancestor::style or ancestor::noscript"
                      " or ancestor::select or ancestor::textarea)]", smart_strings=False)
#: what makes a date in the text a dateline: a time of day after it (2024-07-30 10:21, 2024年7月30日10:21),
#: a label before it (发布时间：, 发表于, 日期:, 时间：, on its line or the line before), or a source after it
_TIME_AFTER = re.compile(r"\s*\d{1,2}[:：]\d\d(?!\d)")
_LABEL_BEFORE = re.compile(r"(?:^|[\s|｜/·〓])(?:(?:发布|發佈|发表|發表|更新|刊发|刊發|发稿|發稿|出版|上传|上傳)"
                           r"(?:日期|时间|時間|于|於)?|日期|时间|時間)\s*[:：]?\s*$")
_SOURCE_AFTER = re.compile(r"\s*(?:来源|來源|稿源|出处|出處|报道|報道|發佈|发布|发表|發表|更新)")
_BRACKETS = ("(（[［", ")）]］")  # a date in brackets dates an item of a list, or a comment
#: a date alone on its line dates the article only this many lines from its headline (not an infobox's)
_HEADLINE_NEAR = 3
_HEADLINE_MIN = 6
#: dates outside these years are not a web page's publication (htmldate's bounds); the latest is tomorrow
_EARLIEST_YEAR = 1995


def _dateline(tree: HtmlElement, title: str | None) -> str | None:
    """The date of the page's first visible dateline, ISO: a full date with a time after it, a label
    before it or a source after it, or alone on its line next to the headline; never in brackets (a list's
    or a comment's), never on a copyright or "today is" line, never a day after tomorrow (UTC)."""
    lines = [text for text in (node.strip() for node in _VISIBLE_TEXT(tree)) if text]
    # one pass of the date pattern over the whole text (it never crosses a line), then the line of each date
    text = "\n".join(lines)
    starts = list(itertools.accumulate((len(line) + 1 for line in lines[:-1]), initial=0))
    near: list[int] | None = None
    latest = datetime.datetime.now(datetime.UTC).date() + datetime.timedelta(days=1)
    for match in _DATE.finditer(text):
        i = bisect.bisect_right(starts, match.start()) - 1
        line = lines[i]
        before, after = line[: match.start() - starts[i]], line[match.end() - starts[i] :]
        if _NOT_A_DATELINE.search(line):
            continue
        opened = (before.rstrip() or (lines[i - 1] if i else ""))[-1:]
        closed = (after.lstrip() or (lines[i + 1] if i + 1 < len(lines) else ""))[:1]
        if (opened and opened in _BRACKETS[0]) or (closed and closed in _BRACKETS[1]):
            continue
        if not (_TIME_AFTER.match(after) or _LABEL_BEFORE.search(before) or _SOURCE_AFTER.match(after)
                or (not before.strip() and i and _LABEL_BEFORE.search(lines[i - 1]))):
            if before.strip() or after.strip():
                continue
            if near is None:
                near = _headline_lines(tree, lines, title)
            if not any(abs(i - h) <= _HEADLINE_NEAR for h in near):
                continue
        found = _iso_date(match)
        if found and int(found[:4]) >= _EARLIEST_YEAR and found <= latest.isoformat():
            return found
    return None


def _headline_lines(tree: HtmlElement, lines: list[str], title: str | None) -> list[int]:
    """The indexes of the lines that are the headline: an <h1>'s text, or the start of the title."""
    headlines = {"".join(h.text_content().split()) for h in tree.iter("h1")} - {""}
    squashed_title = "".join((title or "").split())
    return [i for i, line in enumerate(lines) if (squashed := "".join(line.split())) in headlines
            or (len(squashed) >= _HEADLINE_MIN and squashed_title.startswith(squashed))]


def _extract_html(fetched: Fetched, markup: str, encoding: str) -> Document:
    """An HTML document through trafilatura: main text without comments, and metadata."""
    if start := _HTML_START.search(markup, 0, _DECLARED_WINDOW):
        # junk before the root (an XML declaration, a server's warnings, a wrapper tag) would
        # put <head> in the body, where no title is looked for
        markup = markup[start.start() :]
    else:
        # a fragment: trafilatura drops a small tree unless "html" starts the markup
        markup = "<!DOCTYPE html>\n" + markup
    tree = load_html(markup)
    if tree is None:
        raise ExtractError(fetched.locator, "no text in the page")
    meta = _metadata(tree)
    published = _day_date(meta.date, markup) or _dateline(tree, meta.title)
    # fast: trafilatura's own extractor without its readability/jusText fallbacks, which cost a
    # quarter of the time and changed nothing measurable on the extraction sets
    result = trafilatura.bare_extraction(tree, with_metadata=False, include_comments=False, fast=True)
    if result is None or isinstance(result, dict):
        raise ExtractError(fetched.locator, "no text in the page")
    site = meta.sitename if meta.sitename and not _NOT_A_SITE.search(meta.sitename) else None
    lines = _unlayout(_lines(result.text or ""))
    # a title that is only the site's name (a lone <h1>, the site's half of the <title>) gives way to the headline
    page_title = examine_title_element(tree)[0] or None
    title = _headline(meta.title or None, site, page_title, lines)
    site = site or (meta.title if title != meta.title else None)
    return Document(
        locator=fetched.locator,
        text="\n".join(_drop_headline(lines, title)),
        title=title,
        published=published,
        site=site,
        url=meta.url or None,
        encoding=encoding,
    )


def _metadata(tree: HtmlElement) -> TrafilaturaDocument:
    """Title, date, site name and canonical URL, by trafilatura's metadata steps for those four.

    trafilatura's ``extract_metadata`` also looks for authors, categories, tags and a licence, which
    we do not use and which cost as much as the main-text extraction on a short page."""
    meta = examine_meta(tree)
    with contextlib.suppress(Exception):  # trafilatura itself tolerates bugs in its JSON-LD reader
        meta = extract_meta_json(tree, meta)
    meta.title = meta.title or extract_title(tree)
    meta.url = meta.url or extract_url(tree)
    # htmldate without its extensive search: that falls through to dateparser's language detection on
    # pages without a clear date (most of the time of a scan of real pages, and often a wrong date)
    meta.date = find_date(tree, **set_date_params(False), url=meta.url)
    meta.sitename = meta.sitename or extract_sitename(tree)
    if meta.sitename:
        meta.sitename = meta.sitename.lstrip("@")
    elif meta.url and (host := META_URL.match(meta.url)):
        meta.sitename = host[1]
    meta.clean_and_trim()
    return meta


#: a page with more tags than this is no article: it is refused before trafilatura, whose time and memory grow
#: faster than the count (550,000 tiny paragraphs: minutes, and most of a gigabyte; 50,000 elements, this many
#: tags: about 5 s and 130 MB). The largest real page among the project's test pages has about 15,000.
MAX_TAGS = 100_000


def extract(fetched: Fetched) -> Document:
    """Fetched -> Document. Raises ExtractError(locator, reason) for binary, undecodable or
    empty documents (empty: no text at all), and for pages of more than ``MAX_TAGS`` tags."""
    if fetched.kind == "html" and (tags := fetched.data.count(b"<")) > MAX_TAGS:
        raise ExtractError(fetched.locator, f"{tags:,} tags, too many for an article (at most {MAX_TAGS:,})")
    try:
        text, encoding = decode(fetched.data, hint=fetched.charset_hint, html=fetched.kind == "html")
    except ExtractError as exc:
        raise ExtractError(fetched.locator, exc.reason) from exc
    if fetched.kind == "html":
        document = _extract_html(fetched, text, encoding)
    else:
        document = _extract_text(fetched, text, encoding)
    if not document.text:
        raise ExtractError(fetched.locator, "no text in the document")
    return document
