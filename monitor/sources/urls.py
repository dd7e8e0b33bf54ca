"""URL identity: one article reached by two spellings of its URL is one document.

``url-normalize`` does the RFC 3986 work (scheme and host case, IDNA, default ports, dot segments,
percent-encoding case); on top of it the fragment is dropped, and so are query parameters that only
track where a reader came from (``utm_*``, ``fbclid``, ``spm`` and the like). Other parameters keep
their order: on many news sites ``?id=`` names the article. Only ``http`` and ``https`` are accepted.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

from url_normalize import url_normalize

#: query parameters that never change what a page is: campaign tags, click ids, share tokens
_TRACKING = re.compile(
    r"^(utm_\w+|fbclid|gclid|gclsrc|dclid|msclkid|yclid|twclid|igshid|mc_cid|mc_eid|_hsenc|_hsmi|mkt_tok"
    r"|spm|scm|share_token|shareid|sharer_\w+|isappinstalled|wxshare_count|from_wecom|ref_src)$",
    re.IGNORECASE,
)


class BadUrl(ValueError):
    """Not an absolute http(s) URL."""


def normalize(url: str) -> str:
    """The identity of ``url``; raises :class:`BadUrl` unless it is an absolute http or https URL."""
    text = url.strip()
    try:
        parts = urlsplit(text)
        port = parts.port  # raises ValueError for a port that is not a number
    except ValueError as exc:
        raise BadUrl(f"not a valid URL ({exc})") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise BadUrl("not an http or https URL" if parts.scheme else "not an absolute URL (no http:// or https://)")
    if not parts.hostname or any(c.isspace() for c in text) or (port is not None and not 0 < port < 65536):
        raise BadUrl("not a valid URL (no host, a bad port or white space)")
    query = "&".join(p for p in parts.query.split("&") if p and not _TRACKING.match(p.split("=", 1)[0]))
    normalized = url_normalize(urlunsplit((parts.scheme, parts.netloc, parts.path, query, "")))
    if normalized is None:  # pragma: no cover - only for an empty input, excluded above
        raise BadUrl("not a valid URL")
    return normalized


def origin(url: str) -> str:
    """``scheme://host[:port]`` of a normalized URL: the unit of robots.txt and of politeness."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rsplit('@', 1)[-1]}"
