"""Feeds: the bytes of an RSS or Atom feed -> the articles its entries link to.

feedparser does the parsing, always from bytes (given a string that looks like a URL it would fetch
it). It is safe against entity expansion: it strips a document type declaration before parsing, so
neither "billion laughs" entities nor external entities (``SYSTEM "file:///..."``) are expanded
(``tests/test_feeds_urls.py`` checks both). Relative links resolve against the feed's own URL.
"""

from __future__ import annotations

import email.utils
import html
import re
import time
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from monitor.errors import SourceError
from monitor.models import FeedEntry


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


def _iso_date(entry: Mapping[str, Any]) -> str | None:
    """The entry's publication (else update) date as the feed writes it. feedparser's struct_time is in
    UTC, a day early for an article of 07:00 in Beijing; the date in the feed's own zone is the one its
    page shows. That zone is at most a day from UTC, which guards against a raw date misread here."""
    for key in ("published", "updated"):
        parsed = entry.get(f"{key}_parsed")
        if isinstance(parsed, time.struct_time):
            utc = date(parsed.tm_year, parsed.tm_mon, parsed.tm_mday)
            written = _written_date(entry.get(key))
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

    headers = {"content-location": url, "content-type": content_type or "application/xml"}
    parsed = feedparser.parse(data, response_headers=headers, sanitize_html=False)
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
