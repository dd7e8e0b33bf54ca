"""The ``[[sources]]`` of the configuration: one frozen dataclass per kind, and the registry of kinds.

``SOURCE_KINDS`` declares, for each kind, the dataclass it builds and the options of its table; an
option not declared there is rejected when the config loads. Adding a kind is one entry.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from monitor.checks import Checker, Invalid, Option, duration, flag, number, show, text
from monitor.sources.urls import BadUrl
from monitor.sources.urls import normalize as normalize_url

#: how long a file must stay unmodified before it is read: a writer that pauses (an editor saving in parts, a
#: slow copy) leaves no half-written file to be read as a document
DEFAULT_SETTLE_SECONDS = 5.0


@dataclass(frozen=True)
class FolderSource:
    """A local folder whose text and HTML files are the corpus."""

    kind: ClassVar[str] = "folder"
    #: unique name of the source; default ``folder:<path as written>``
    name: str
    #: the folder, absolute and resolved
    path: Path
    #: a file modified more recently than this is still being written: skipped until it has settled
    settle_seconds: float = DEFAULT_SETTLE_SECONDS
    #: seconds between two polls of this source; None: every run
    every: float | None = None
    #: follow symbolic links (to files and to folders, inside the folder or out of it); by default only regular
    #: files inside the folder are read
    follow_symlinks: bool = False


@dataclass(frozen=True)
class _Web:
    """What page and feed sources share."""

    name: str
    #: the URL, normalized (its identity as a document)
    url: str
    #: seconds between two polls of this source; None: every run
    every: float | None = None
    #: extra request headers for this source
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class PageSource(_Web):
    """One article URL, fetched (conditionally) on every poll."""

    kind: ClassVar[str] = "page"
    #: leave the page out unless its text mentions a [topic] keyword
    topic_filter: bool = False


@dataclass(frozen=True)
class FeedSource(_Web):
    """An RSS or Atom feed: each entry's article is fetched once and ingested."""

    kind: ClassVar[str] = "feed"
    #: leave an entry's article out unless its text mentions a [topic] keyword
    topic_filter: bool = True


#: any configured source
Source = FolderSource | PageSource | FeedSource
WebSource = PageSource | FeedSource


@dataclass(frozen=True)
class SourceKind:
    """A kind of source: the dataclass it builds and the options of its ``[[sources]]`` table."""

    factory: type[FolderSource] | type[PageSource] | type[FeedSource]
    options: Mapping[str, Option]
    #: the option whose value as written makes the default name ``<kind>:<value>``
    names_by: str


def _url(value: Any) -> str:
    if not isinstance(value, str):
        raise Invalid("an http or https URL")
    try:
        return normalize_url(value)
    except BadUrl as exc:
        raise Invalid(f"an http or https URL ({exc})") from None


#: headers a source may not set: the fetcher owns them
_OWN_HEADERS = {"host", "if-none-match", "if-modified-since", "content-length", "transfer-encoding", "connection"}
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")


def _headers(value: Any) -> Mapping[str, str]:
    if not isinstance(value, dict):
        raise Invalid("a table of header names and string values")
    for name, written in value.items():
        if not _TOKEN.fullmatch(name) or name.lower() in _OWN_HEADERS:
            raise Invalid("a header name that is a token and not one the fetcher sets", at=f".{name}", got=name)
        if not isinstance(written, str) or any(c in written for c in "\r\n\0"):
            raise Invalid("a string on one line", at=f".{name}", got=written)
    return dict(value)


_EVERY = Option(duration, None)
SOURCE_KINDS: dict[str, SourceKind] = {
    "folder": SourceKind(
        factory=FolderSource,
        options={"path": Option(text, path=True), "settle_seconds": Option(number(0, 86400), DEFAULT_SETTLE_SECONDS),
                 "every": _EVERY, "follow_symlinks": Option(flag, False)},
        names_by="path",
    ),
    "page": SourceKind(
        factory=PageSource,
        options={"url": Option(_url), "every": _EVERY, "headers": Option(_headers, {}),
                 "topic_filter": Option(flag, False)},
        names_by="url",
    ),
    "feed": SourceKind(
        factory=FeedSource,
        options={"url": Option(_url), "every": _EVERY, "headers": Option(_headers, {}),
                 "topic_filter": Option(flag, True)},
        names_by="url",
    ),
}
#: every [[sources]] table has these besides its kind's options
_COMMON = {"name": Option(text, None)}
#: the sources when a config has no [[sources]]
DEFAULT_SOURCES = [{"kind": "folder", "path": "seeds"}]

def sources(checker: Checker, raw: Any) -> list[Source]:
    """Check the [[sources]] array of tables, each against its kind's options; names are unique."""
    if not isinstance(raw, list) or not all(isinstance(item, dict) for item in raw):
        checker.problems.append(("sources", f"expected an array of tables ([[sources]]), got {show(raw)}"))
        return []
    built: list[Source] = []
    seen: dict[str, str] = {}
    for index, item in enumerate(raw):
        where = f"sources[{index}]"
        kind = SOURCE_KINDS.get(item["kind"]) if isinstance(item.get("kind"), str) else None
        if kind is None:
            got = f"unknown source kind {item['kind']!r}" if "kind" in item else "required key is missing"
            checker.problems.append((f"{where}.kind", f"{got} (known: {', '.join(SOURCE_KINDS)})"))
            continue
        schema = {**_COMMON, **kind.options}
        values = checker.table(item, where, schema, extra=("kind",))
        if "name" not in values:  # a bad name, already reported
            continue
        name = values["name"] or f"{item['kind']}:{item.get(kind.names_by)}"
        if name in seen:
            checker.problems.append((f"{where}.name", f"duplicate source name {name!r} (also {seen[name]})"))
        seen.setdefault(name, where)
        if len(values) == len(schema):
            built.append(kind.factory(**{**values, "name": name}))
    return built
