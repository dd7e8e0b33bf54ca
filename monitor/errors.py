"""The one exception root of corpus-monitor.

::

    MonitorError                 anything this program raises on purpose
    ├── ConfigError              bad config file, key or value; bad usage  -> exit status 2
    ├── LocatedError(locator)    about one document                        -> a warning, run goes on
    │   ├── SourceError          a document could not be read or decoded
    │   │   └── FetchError(url)  a URL could not be fetched (dead, refused, disallowed)
    │   │       └── PrivateAddressError  a URL from a feed or a redirect leads to an address that is not public
    │   └── ExtractError         bytes that are not a document we can use
    ├── StoreError               the SQLite store failed                   -> exit status 1
    │   └── StoreGoneError       its file was deleted or replaced while open: the service stops
    └── DeliveryError            the digest could not be written or sent   -> exit status 1

Foreign exceptions are translated where they cross into our code, with ``raise ... from exc``.
"""

from __future__ import annotations


class MonitorError(Exception):
    """Root of every error corpus-monitor raises on purpose."""

    exit_status = 1


class ConfigError(MonitorError):
    """A configuration or usage problem; carries every problem found, not just the first."""

    exit_status = 2

    def __init__(self, problems: list[str] | str) -> None:
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("; ".join(self.problems))


class LocatedError(MonitorError):
    """An error about one document, named by its locator (file path or URL)."""

    def __init__(self, locator: str, reason: str) -> None:
        self.locator = locator
        self.reason = reason
        super().__init__(f"{locator}: {reason}")


class SourceError(LocatedError):
    """One document of a source could not be read (unreadable, binary, undecodable)."""


class FetchError(SourceError):
    """A URL could not be fetched; ``permanent`` when trying again later will not help (404, robots.txt)."""

    def __init__(self, locator: str, reason: str, *, permanent: bool = False, status: int | None = None) -> None:
        super().__init__(locator, reason)
        self.permanent = permanent
        #: the HTTP status that ended the fetch, if it came to one
        self.status = status


class PrivateAddressError(FetchError):
    """A URL learnt from a feed entry or a redirect would connect to an address that is not public (loopback,
    private, link-local, ...), and ``[http] allow_private_addresses`` is off: nothing was sent to it."""


class ExtractError(LocatedError):
    """A document's bytes gave no usable text."""


class StoreError(MonitorError):
    """The store (SQLite) failed."""


class StoreGoneError(StoreError):
    """The store's file was deleted, or another file put in its place, while it was open: what is written goes to
    a file no one will read again, so nothing more is."""


class DeliveryError(MonitorError):
    """The digest could not be delivered (outbox write or SMTP send). ``permanent`` when the server refused this
    message for good (a 5xx to MAIL, RCPT or DATA, or a message over the size it announces): sending the same
    bytes again will not help; ``size_limit``, the largest message the server takes, when it said so."""

    def __init__(self, message: str, *, permanent: bool = False, size_limit: int | None = None) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.size_limit = size_limit
