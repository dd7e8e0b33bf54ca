"""Bytes -> Document: decode the bytes, then take the main text and metadata.

HTML goes through trafilatura, fed the string we decoded ourselves (its own guessing is what
garbles legacy Chinese pages); plain text passes through with its first short line as the title.
Pure: no file, no network, no output.
"""

from __future__ import annotations

import codecs
import datetime
import re

import charset_normalizer
import trafilatura

from monitor.errors import ExtractError
from monitor.models import Document, Fetched

#: byte order marks, longest first (UTF-32 LE starts with the UTF-16 LE mark)
_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)

#: a declared charset decoded as its superset, so pages using characters outside the
#: declared set still decode (codec names as codecs.lookup spells them)
_SUPERSETS: dict[str, tuple[str, ...]] = {
    "gb2312": ("gb18030",),
    "gbk": ("gb18030",),
    "big5": ("big5hkscs", "cp950"),
    "cp950": ("cp950", "big5hkscs"),
    "shift_jis": ("cp932",),
    "euc_kr": ("cp949",),
    "ascii": ("cp1252",),
    "iso8859-1": ("cp1252",),
}

_DECLARED = re.compile(rb"""(?:charset|encoding)\s*=\s*["']?\s*([A-Za-z][A-Za-z0-9_.:-]{1,40})""", re.IGNORECASE)
_DECLARED_WINDOW = 2048
#: runs of Latin-1 letters: what legacy CJK bytes look like when read as a Western charset;
#: accented Western words rarely have three in a row, so such runs stay a small share
_MOJIBAKE_RUN = re.compile(r"[\u0080-\u00ff]{3,}")
_MOJIBAKE_SHARE = 0.3
_CONTROL_OK = frozenset(b"\t\n\r\f\x1b")


#: labels browsers know (WHATWG Encoding) that Python's codec registry does not
_ALIASES: dict[str, str] = {
    "x-gbk": "gbk",
    "csgb2312": "gb2312",
    "gb_2312-80": "gb2312",
    "x-x-big5": "big5",
    "x-sjis": "shift_jis",
    "windows-949": "cp949",
}


def _codecs_for(name: str) -> tuple[str, ...]:
    """The codec names to try for a charset label, supersets first; () for an unknown label."""
    label = name.strip().lower()
    try:
        canonical = codecs.lookup(_ALIASES.get(label, label)).name
    except LookupError:
        return ()
    return _SUPERSETS.get(canonical, (canonical,))


def _strict(data: bytes, codec: str) -> str | None:
    """data decoded with codec, or None if any byte sequence is invalid in it."""
    try:
        return data.decode(codec)
    except (UnicodeDecodeError, LookupError):
        return None


def _looks_garbled(text: str) -> bool:
    """True when text reads like multibyte bytes decoded as a single-byte Western charset."""
    in_runs = sum(len(run) for run in _MOJIBAKE_RUN.findall(text))
    non_ascii = sum(1 for ch in text if ord(ch) > 0x7F)
    return in_runs > _MOJIBAKE_SHARE * non_ascii


def _is_binary(data: bytes) -> bool:
    """True for data with NUL bytes or mostly control characters (images, archives, executables)."""
    head = data[:8192]
    if b"\x00" in head:
        return True
    controls = sum(1 for byte in head if byte < 0x20 and byte not in _CONTROL_OK)
    return controls > 0.1 * max(len(head), 1)


#: at most this share of characters may be undecodable bytes in a near-clean decode
_LOSSY_MAX = 0.002


def _decode_lossy(data: bytes, codecs_: list[str] | tuple[str, ...]) -> tuple[str, str] | None:
    """The codec among codecs_ with the fewest invalid byte sequences, those dropped, if they
    are rare (a page cut mid-character here and there) and the text does not look garbled."""
    best: tuple[int, str, str] | None = None
    for codec in codecs_:
        text = data.decode(codec, errors="replace")
        bad = text.count("\ufffd")
        if best is None or bad < best[0]:
            best = (bad, text, codec)
    if best is None or best[0] > _LOSSY_MAX * len(best[1]) or _looks_garbled(best[1]):
        return None
    return best[1].replace("\ufffd", ""), best[2]


def decode(data: bytes, *, hint: str | None = None, html: bool = True) -> tuple[str, str]:
    """Bytes -> (text, encoding name).

    Order: a byte order mark; valid UTF-8 with non-ASCII bytes (legacy CJK encodings are never
    valid UTF-8, so this beats a wrong declaration); the hint (an HTTP header charset); for
    HTML, a charset/encoding declaration in the first 2 KB; plain ASCII; a declared charset
    with a few invalid sequences (dropped); charset-normalizer's guess. Declared charsets are
    decoded with their supersets (gb2312/gbk as gb18030, big5 as big5hkscs or cp950). Raises
    ExtractError with an empty locator (the caller knows it) for binary data or when nothing
    decodes cleanly; never falls back to Latin-1.
    """
    for bom, codec in _BOMS:
        if data.startswith(bom):
            text = _strict(data, codec)
            if text is None:
                raise ExtractError("", f"invalid {codec} after its byte order mark")
            return text.lstrip("\ufeff"), "utf-8" if codec == "utf-8-sig" else codec
    if _is_binary(data):
        raise ExtractError("", "binary data, not a document")
    if not data.isascii() and (text := _strict(data, "utf-8")) is not None:
        return text, "utf-8"
    labels = [hint] if hint else []
    if html:
        labels += [m.group(1).decode("ascii") for m in _DECLARED.finditer(data[:_DECLARED_WINDOW])]
    # a declaration inside ASCII-compatible bytes cannot be UTF-16/32
    declared = [c for label in labels for c in _codecs_for(label) if not c.startswith(("utf-16", "utf-32"))]
    for codec in declared:
        if (text := _strict(data, codec)) is not None and not _looks_garbled(text):
            return text, codec
    if data.isascii():
        return data.decode("ascii"), "ascii"
    if (found := _decode_lossy(data, declared)) is not None:
        return found
    guessed = [c for match in charset_normalizer.from_bytes(data) for c in _codecs_for(match.encoding)]
    for codec in guessed:
        if (text := _strict(data, codec)) is not None and not _looks_garbled(text):
            return text, codec
    if (found := _decode_lossy(data, [*guessed, "utf-8"])) is not None:
        return found
    raise ExtractError("", "no character encoding decodes the bytes cleanly")


_LINE_ENDINGS = re.compile(r"\r\n?|[\u2028\u2029\x85]")
_SENTENCE_END = tuple("。！？.!?…")
_TITLE_MAX = 80
_DATE = re.compile(
    r"(?<!\d)(20\d\d|19\d\d)\s*(?:[-/.]|年)\s*(\d{1,2})\s*(?:[-/.]|月)\s*(\d{1,2})(?!\d)"
)
_DATE_LINES = 5


def _find_date(lines: list[str]) -> str | None:
    """The first plausible date (2024-07-30, 2024/07/30, 2024年7月30日) in lines, as YYYY-MM-DD."""
    for line in lines:
        for match in _DATE.finditer(line):
            try:
                return datetime.date(*(int(group) for group in match.groups())).isoformat()
            except ValueError:
                continue
    return None


def _clean_lines(text: str) -> list[str]:
    """text split into lines, each stripped, blank lines dropped."""
    lines = (line.strip() for line in _LINE_ENDINGS.sub("\n", text).split("\n"))
    return [line for line in lines if line]


def _extract_text(fetched: Fetched, text: str, encoding: str) -> Document:
    """A plain text document: a first short line that is not a sentence is its title."""
    lines = _clean_lines(text)
    title = None
    if len(lines) > 1 and len(lines[0]) <= _TITLE_MAX and not lines[0].endswith(_SENTENCE_END):
        # a Markdown heading keeps its words, not its markers
        title, lines = lines[0].lstrip("#").strip() or None, lines[1:]
    return Document(
        locator=fetched.locator,
        text="\n".join(lines),
        title=title,
        published=_find_date(lines[:_DATE_LINES]),
        encoding=encoding,
    )


_HTML_START = re.compile(r"<(?:!doctype\s+html|html)\b", re.IGNORECASE)
#: a line trafilatura rendered from a table row, and the rule under a data table's header row
_TABLE_ROW = re.compile(r"^\|.*\|$")
_TABLE_RULE = re.compile(r"^\|(?:\s*:?-{3,}:?\s*\|)+$")
_CELL_BORDER = re.compile(r"(?<!\\)\|")
_PROSE_PUNCTUATION = re.compile(r"[。！？；，、,;!?]|[.:](?=\s)")
#: a table cell is prose with this many letters and a punctuation mark per hundred of them
_PROSE_MIN_LETTERS = 20
_PROSE_PUNCTUATION_SHARE = 0.01
_TITLE_LINES = 2
_TITLE_PREFIX_MIN = 8
#: site names that are really copyright lines
_NOT_A_SITE = re.compile(r"copyright|©|all rights reserved|版权所有|版權所有", re.IGNORECASE)


def _is_prose(cell: str) -> bool:
    """True for a table cell that reads as running text, not a menu entry or a label."""
    letters = sum(1 for ch in cell if ch.isalnum())
    punctuation = len(_PROSE_PUNCTUATION.findall(cell))
    return letters >= _PROSE_MIN_LETTERS and punctuation >= _PROSE_PUNCTUATION_SHARE * letters


def _unlayout(lines: list[str]) -> list[str]:
    """lines with layout tables reduced to their prose cells.

    trafilatura renders every table as Markdown rows, so a page laid out with tables comes out
    as rows of menus and link lists around the one cell holding the article. A table with a
    header rule is data and stays; in any other, each prose cell becomes a paragraph and the
    rest is dropped.
    """
    out: list[str] = []
    i = 0
    while i < len(lines):
        if not _TABLE_ROW.match(lines[i]):
            out.append(lines[i])
            i += 1
            continue
        end = i
        while end < len(lines) and _TABLE_ROW.match(lines[end]):
            end += 1
        rows = lines[i:end]
        if any(_TABLE_RULE.match(row) for row in rows):
            out.extend(rows)
        else:
            for row in rows:
                cells = (cell.strip().replace("\\|", "|") for cell in _CELL_BORDER.split(row[1:-1]))
                out.extend(cell for cell in cells if _is_prose(cell))
        i = end
    return out


def _squash(text: str) -> str:
    """text without white space, for comparing a headline with a line."""
    return "".join(text.split())


def _drop_headline(lines: list[str], title: str | None) -> list[str]:
    """lines without the headline when one of the first lines repeats the title (or starts it,
    the title carrying the site's name after it)."""
    if not title:
        return lines
    squashed = _squash(title)
    for i, line in enumerate(lines[:_TITLE_LINES]):
        head = _squash(line)
        if head == squashed or (len(head) >= _TITLE_PREFIX_MIN and squashed.startswith(head)):
            return lines[:i] + lines[i + 1 :]
    return lines


def _day_date(date: str | None, markup: str) -> str | None:
    """date unless it is htmldate's year-only guess (YYYY-01-01 from a copyright line) that the
    page never states as a day."""
    if not date or not date.endswith("-01-01"):
        return date or None
    year = date[:4]
    stated = re.search(rf"{year}\s*(?:[-/.]|年)\s*0?1\s*(?:[-/.]|月)\s*0?1(?!\d)", markup)
    return date if stated else None


def _extract_html(fetched: Fetched, markup: str, encoding: str) -> Document:
    """An HTML document through trafilatura: main text without comments, plus metadata."""
    start = _HTML_START.search(markup, 0, _DECLARED_WINDOW)
    if start:
        # junk before the root (an XML declaration, server warnings, a wrapper tag) would push
        # <head> into the body, where the title is not looked for
        markup = markup[start.start() :]
    else:
        # a fragment: trafilatura rejects a small tree unless "html" starts the markup
        markup = "<!DOCTYPE html>\n" + markup
    result = trafilatura.bare_extraction(markup, with_metadata=True, include_comments=False)
    if result is None or isinstance(result, dict):
        raise ExtractError(fetched.locator, "no main text found")
    title = result.title or None
    lines = _drop_headline(_unlayout(_clean_lines(result.text or "")), title)
    site = result.sitename if result.sitename and not _NOT_A_SITE.search(result.sitename) else None
    return Document(
        locator=fetched.locator,
        text="\n".join(lines),
        title=title,
        published=_day_date(result.date, markup),
        site=site,
        url=result.url or None,
        encoding=encoding,
    )


def extract(fetched: Fetched) -> Document:
    """Fetched -> Document. Raises ExtractError(locator, reason) for binary, undecodable or
    empty documents."""
    try:
        text, encoding = decode(fetched.data, hint=fetched.charset_hint, html=fetched.kind == "html")
    except ExtractError as exc:
        raise ExtractError(fetched.locator, exc.reason) from exc
    if fetched.kind == "html":
        document = _extract_html(fetched, text, encoding)
    else:
        document = _extract_text(fetched, text, encoding)
    if not document.text.strip():
        raise ExtractError(fetched.locator, "no text in the document")
    return document
