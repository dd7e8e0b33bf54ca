"""Feeds: the bytes of an RSS or Atom feed -> the articles its entries link to.

feedparser does the parsing, always from bytes (given a string that looks like a URL it would fetch
it). It is safe against entity expansion: it strips a document type declaration before parsing, so
neither "billion laughs" entities nor external entities (``SYSTEM "file:///..."``) are expanded
(``tests/test_feeds_urls.py`` checks both). Relative links resolve against the feed's own URL.

A charset the server or the XML declaration names counts only if the WHATWG Encoding Standard knows it, as
browsers read it (``webencodings``), and is given to feedparser as the codec the standard means: feedparser
decodes with any name Python's codec registry knows, and some of those are no charset (``undefined`` and
``punycode`` raised past it, ``unicode_escape`` made mojibake). UTF-16 is told by its byte order mark, not a
label (a declaration readable as ASCII cannot be in it), and after a byte order mark the mark says the charset.
"""

from __future__ import annotations

import codecs
import email.utils
import html
import re
import time
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

import webencodings

from monitor.errors import SourceError
from monitor.models import FeedEntry

#: the Encoding Standard's names for no text
_NOT_TEXT = frozenset({"replacement", "x-user-defined"})
#: the standard's gbk decoder is its gb18030 decoder
_DECODER = {"gbk": "gb18030"}
_BOMS = (codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE, codecs.BOM_UTF8, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
_BOM_CODECS = ("utf-32-le", "utf-32-be", "utf-8", "utf-16-le", "utf-16-be")
#: the encoding of an XML declaration at the start of the document
_XML_ENCODING = re.compile(r"""\A(\s*<\?xml\b[^>]*?)\s+encoding\s*=\s*(["'])([^"'>]*)\2""")
_CHARSET = re.compile(r"""\s*;\s*charset\s*=\s*(["']?)([^"';]*)\1""", re.IGNORECASE)


def _charset(label: str) -> str | None:
    """The codec the Encoding Standard reads a charset label as, or None for a label it does not know, one that
    names no text, or UTF-16 (told by its byte order mark, which feedparser reads: as in extraction, a UTF-16 label
    beside a declaration readable as ASCII is a mistake)."""
    found = webencodings.lookup(label.strip())
    if found is None or found.name in _NOT_TEXT or found.name.startswith("utf-16"):
        return None
    return _DECODER.get(found.name, codecs.lookup(found.codec_info.name).name)


def _content_type(content_type: str) -> str:
    """The Content-Type with its charset as the codec it means, or without one that names no charset."""
    match = _CHARSET.search(content_type)
    if match is None:
        return content_type
    codec = _charset(match[2])
    rest = content_type[: match.start()] + content_type[match.end() :]
    return rest if codec is None else f"{rest}; charset={codec}"


def _declared(data: bytes) -> bytes:
    """data with its XML declaration's encoding as the codec it means, or without it when it names no charset or a
    byte order mark says the charset."""
    bom = next((i for i, mark in enumerate(_BOMS) if data.startswith(mark)), None)
    start = len(_BOMS[bom]) if bom is not None else 0
    # latin-1 reads each byte as one character: an ASCII declaration is found, and the rest put back as it was
    codec = _BOM_CODECS[bom] if bom is not None else "latin-1"
    head = data[start : start + 1024].decode(codec, errors="replace")
    match = _XML_ENCODING.match(head)
    if match is None or not match[0].isascii():
        return data
    charset = _charset(match[3]) if bom is None else None
    declaration = match[1] + (f' encoding="{charset}"' if charset else "")
    return data[:start] + declaration.encode(codec) + data[start + len(match[0].encode(codec)) :]


def _written_date(raw: Any) -> date | None:
    """The calendar date of an RFC 822 or ISO 8601 date-time as written, in its own time zone."""
    if not isinstance(raw, str) or not raw.strip():
        return None
    try:
        return email.utils.parsedate_to_datetime(raw.strip()).date()
    except (TypeError, ValueError, IndexError):
        pass
    try:
        return datetime.fromisoformat(raw.strip()).date()
    except ValueError:
        return None


def _own(entry: Mapping[str, Any], key: str) -> Any:
    """The entry's own value for key: feedparser answers a missing "updated" with "published" (and a
    DeprecationWarning), which an entry whose publication date did not parse would ask for."""
    return dict.get(entry, key) if isinstance(entry, dict) else entry.get(key)


def _iso_date(entry: Mapping[str, Any]) -> str | None:
    """The entry's publication (else update) date as the feed writes it. feedparser's struct_time is in
    UTC, a day early for an article of 07:00 in Beijing; the date in the feed's own zone is the one its
    page shows. That zone is at most a day from UTC, which guards against a raw date misread here."""
    for key in ("published", "updated"):
        parsed = _own(entry, f"{key}_parsed")
        if isinstance(parsed, time.struct_time):
            try:
                utc = date(parsed.tm_year, parsed.tm_mon, parsed.tm_mday)
            except ValueError:  # the year 0, or 10000 once in UTC: no date
                return None
            written = _written_date(_own(entry, key))
            return (written if written is not None and abs((written - utc).days) <= 1 else utc).isoformat()
    return None


def _link(entry: Mapping[str, Any]) -> str | None:
    """The article an entry is about: its link (feedparser makes a permalink guid the link; a guid
    marked ``isPermaLink="false"`` is only an identifier, and is not followed)."""
    link = entry.get("link")
    if isinstance(link, str) and link.strip().lower().startswith(("http://", "https://")):
        return link.strip()
    return None


_TAG = re.compile(r"<[^>]*>")


def _title(raw: Any) -> str | None:
    """An entry title as text: an Atom ``type="html"`` title keeps its markup in feedparser."""
    if not isinstance(raw, str):
        return None
    text = " ".join(html.unescape(_TAG.sub("", raw)).split())
    return text or None


def parse(data: bytes, url: str, content_type: str | None = None) -> tuple[FeedEntry, ...]:
    """The entries of a feed that link to an article, in feed order, each link once.

    Raises SourceError (naming ``url``) when the bytes are not a feed at all."""
    from xml.sax import SAXException

    import feedparser  # 20 ms to import; a poll where no feed changed never needs it

    headers = {"content-location": url, "content-type": _content_type(content_type or "application/xml")}
    parsed = feedparser.parse(_declared(data), response_headers=headers, sanitize_html=False)
    if not parsed.get("version") and not parsed.entries:
        problem = parsed.get("bozo_exception")
        detail = f" ({problem})" if problem else ""
        raise SourceError(url, f"not an RSS or Atom feed{detail}")
    entries: dict[str, FeedEntry] = {}
    for entry in parsed.entries:
        link = _link(entry)
        if link is None or link in entries:
            continue
        entries[link] = FeedEntry(link, _title(entry.get("title")), _iso_date(entry))
    if not entries and isinstance(parsed.get("bozo_exception"), SAXException):
        # broken markup that left nothing readable: a failing feed, not a healthy empty one
        raise SourceError(url, f"not a well-formed feed ({parsed['bozo_exception']}): no entry could be read")
    return tuple(entries.values())
