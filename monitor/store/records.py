"""What the store gives back, whichever backend holds it: plain frozen records."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DocState:
    """What the store remembers of a document for change detection."""

    id: int
    content_hash: str
    size: int | None
    mtime_ns: int | None


@dataclass(frozen=True)
class Origin:
    """Where a stored claim comes from."""

    text: str
    document: int
    title: str | None
    locator: str


@dataclass(frozen=True)
class Status:
    documents: int
    claims: int
    unreported: int
    last_digest_at: str | None
    last_digest_to: str | None
    last_digest_claims: int | None
    #: digests recorded but not yet delivered, and the last error of the oldest of them
    pending_digests: int = 0
    pending_error: str | None = None
    #: digests the mail server refused for good (their claims went back into the next digest), and the
    #: server's answer to the latest of them
    refused_digests: int = 0
    refused_error: str | None = None
    #: digests the mail server accepted (a baseline, which mails nothing, is not one)
    delivered_digests: int = 0


@dataclass(frozen=True)
class SourceHealth:
    """How a source's polls went."""

    source: str
    last_attempt: str
    last_success: str | None
    last_error: str | None
    last_error_at: str | None
    #: failed polls in a row (0 after a poll that worked)
    failures: int


@dataclass(frozen=True)
class PendingEntry:
    """A feed entry whose article is still to be fetched and ingested."""

    url: str
    feed: str
    title: str | None
    published: str | None
    attempts: int


@dataclass(frozen=True)
class Worker:
    """A process working on the store (``corpus-monitor run``, or a one-shot command), as it last said."""

    name: str
    host: str
    pid: int
    started_at: str
    last_seen: str
    #: the sources it holds a lease on that has not expired, by name
    leases: tuple[str, ...] = ()
