"""Feeds: the bytes of an RSS or Atom feed -> the articles its entries link to.

feedparser does the parsing, always from bytes (given a string that looks like a URL it would fetch
it). It is safe against entity expansion: it strips a document type declaration before parsing, so
neither "billion laughs" entities nor external entities (``SYSTEM "file:///..."``) are expanded
(``tests/test_feeds.py`` checks both). Relative links resolve against the feed's own URL.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import feedparser

from monitor.errors import SourceError
from monitor.models import FeedEntry


def _iso_date(parsed: Any) -> str | None:
    if not isinstance(parsed, time.struct_time):
        return None
    return time.strftime("%Y-%m-%d", parsed)


def _link(entry: Mapping[str, Any]) -> str | None:
    """The article an entry is about: its link, else a permalink guid."""
    for candidate in (entry.get("link"), entry.get("id")):
        if isinstance(candidate, str) and candidate.strip().lower().startswith(("http://", "https://")):
            return candidate.strip()
    return None


def parse(data: bytes, url: str, content_type: str | None = None) -> tuple[FeedEntry, ...]:
    """The entries of a feed that link to an article, in feed order, each link once.

    Raises SourceError (naming ``url``) when the bytes are not a feed at all."""
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
        title = entry.get("title")
        published = _iso_date(entry.get("published_parsed") or entry.get("updated_parsed"))
        entries[link] = FeedEntry(link, title.strip() if isinstance(title, str) and title.strip() else None, published)
    return tuple(entries.values())
