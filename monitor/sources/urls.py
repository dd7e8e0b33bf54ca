"""URL identity: one article reached by two spellings of its URL is one document.

yarl (aiohttp's URL library) does the RFC 3986 work: scheme and host case, IDNA, default ports, dot
segments, percent-encoding. On top of it the fragment is dropped, an empty path becomes "/", and
query parameters that only track where a reader came from (``utm_*``, ``fbclid``, ``spm`` and the
like) are dropped. Other parameters keep their order: on many news sites ``?id=`` names the
article. Only ``http`` and ``https`` are accepted.
"""

from __future__ import annotations

import functools
import re
from urllib.parse import urlsplit, urlunsplit

from yarl import URL

#: query parameters that never change what a page is: campaign tags, click ids, share tokens
_TRACKING = re.compile(
    r"^(utm_\w+|fbclid|gclid|gclsrc|dclid|msclkid|yclid|twclid|igshid|mc_cid|mc_eid|_hsenc|_hsmi|mkt_tok"
    r"|spm|scm|share_token|shareid|sharer_\w+|isappinstalled|wxshare_count|from_wecom|ref_src)$",
    re.IGNORECASE,
)


_SPACE = re.compile(r"\s")


class BadUrl(ValueError):
    """Not an absolute http(s) URL."""


def normalize(url: str) -> str:
    """The identity of ``url``; raises :class:`BadUrl` unless it is an absolute http or https URL."""
    text = url.strip()
    if _SPACE.search(text.replace(" ", "")):  # tabs, line breaks (urlsplit would silently drop them)
        raise BadUrl("not a valid URL (white space)")
    try:
        parts = urlsplit(text)
        port = parts.port  # raises ValueError for a port that is not a number
    except ValueError as exc:
        raise BadUrl(f"not a valid URL ({exc})") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise BadUrl("not an http or https URL" if parts.scheme else "not an absolute URL (no http:// or https://)")
    if not parts.hostname or " " in parts.netloc or (port is not None and not 0 < port < 65536):
        raise BadUrl("not a valid URL (no host, a bad port or white space)")
    # sloppy feeds leave spaces in paths and queries, which browsers encode
    path, query = parts.path.replace(" ", "%20"), parts.query.replace(" ", "%20")
    query = "&".join(p for p in query.split("&") if p and not _TRACKING.match(p.split("=", 1)[0]))
    try:
        normalized = str(URL(urlunsplit((parts.scheme, parts.netloc, path or "/", query, ""))))
    except ValueError as exc:  # e.g. a host that is not valid IDNA
        raise BadUrl(f"not a valid URL ({exc})") from None
    return normalized


@functools.lru_cache(maxsize=65536)
def origin(url: str) -> str:
    """``scheme://host[:port]`` of a normalized URL: the unit of robots.txt and of politeness."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rsplit('@', 1)[-1]}"
