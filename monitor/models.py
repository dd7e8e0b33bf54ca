"""Frozen values that cross stage boundaries.

Data flows one way: sources -> extract -> normalize -> claims -> novelty/store -> digest -> delivery.
Each stage takes and returns these values; none of them holds a connection, a client or a config.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class Fetched:
    """Raw bytes of one document, as a source read them."""

    #: where the document lives: an absolute file path or a URL; its identity with content_hash
    locator: str
    #: the bytes as read, undecoded
    data: bytes
    #: hex SHA-256 of data
    content_hash: str
    #: name of the source that produced it
    source: str
    #: file size in bytes (None for web documents)
    size: int | None = None
    #: file modification time in nanoseconds (None for web documents)
    mtime_ns: int | None = None
    #: charset declared outside the document (an HTTP Content-Type header), if any
    charset_hint: str | None = None
    #: "html" or "text"; decided by the source from the file name or the content type
    kind: str = "html"


@dataclass(frozen=True)
class HttpPolicy:
    """How web sources are fetched: identity, politeness, limits (built from the [http] table)."""

    #: the User-Agent header: names the project and, when configured, a contact
    user_agent: str
    #: an address sent in the From header, for site operators; None to send none
    contact: str | None = None
    #: requests in flight at once, over all hosts
    concurrency: int = 20
    #: requests in flight at once to one host (scheme, host and port)
    per_host_concurrency: int = 2
    #: at least this long between the starts of two requests to one host (robots.txt Crawl-delay may ask more)
    per_host_delay_seconds: float = 1.0
    #: connect and read timeout of one request
    timeout_seconds: float = 20.0
    #: the whole of one request (connecting, every read of the body, redirects) ends by then: a server that
    #: sends a byte now and then, each within the timeout, cannot hold a run
    deadline_seconds: float = 30.0
    #: a larger body is cut off at this many bytes, and the source reports it
    max_bytes: int = 5_000_000
    max_redirects: int = 5
    #: attempts after the first for transient failures (connection errors, 408, 429, 5xx)
    retries: int = 2
    #: first wait before a retry; doubled for each further one (a Retry-After header wins)
    backoff_seconds: float = 1.0
    #: a Retry-After longer than this is not waited for: the fetch fails and is tried next run
    max_retry_after_seconds: float = 60.0
    respect_robots: bool = True
    #: URLs learnt from feed entries and redirects may connect to loopback, private, link-local and other
    #: addresses that are not public (the URLs the user configured always may)
    allow_private_addresses: bool = False


@dataclass(frozen=True)
class Validators:
    """What the store remembers of a URL to make the next request conditional."""

    etag: str | None = None
    last_modified: str | None = None
    #: hex SHA-256 of the body last processed, to skip an unchanged body served without validators
    content_hash: str | None = None


@dataclass(frozen=True)
class WebResponse:
    """The outcome of fetching one URL (errors are raised as FetchError instead)."""

    #: the URL asked for (normalized)
    url: str
    #: the URL that answered, after redirects
    final_url: str
    status: int
    #: the body (empty for a 304), decoded from its Content-Encoding, at most max_bytes long
    data: bytes = b""
    #: media type from Content-Type, lower case, without parameters
    media_type: str | None = None
    #: charset parameter of Content-Type, if any
    charset: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    #: True when the body was longer than max_bytes and was cut off
    truncated: bool = False

    @property
    def not_modified(self) -> bool:
        return self.status == 304


@dataclass(frozen=True)
class RobotsFile:
    """A site's robots.txt as fetched: kept by the store for a day, so a poll does not fetch it again."""

    #: scheme://host[:port]
    origin: str
    #: HTTP status of the robots.txt request (2xx: rules in body; 4xx: no rules, everything allowed)
    status: int
    body: str = ""


@dataclass(frozen=True)
class FeedEntry:
    """One entry of an RSS or Atom feed: the article it links to."""

    #: absolute URL of the article, as the feed gives it (not yet normalized)
    url: str
    title: str | None = None
    #: ISO 8601 date, if the feed gives one
    published: str | None = None


@dataclass(frozen=True)
class Document:
    """What extraction made of a Fetched: main text and metadata."""

    #: same as Fetched.locator
    locator: str
    #: main text, paragraphs separated by a newline; original wording and script
    text: str
    #: the document's title (headline), if found
    title: str | None = None
    #: publication date as ISO 8601 (YYYY-MM-DD), if found
    published: str | None = None
    #: the site's name, if found
    site: str | None = None
    #: canonical URL, if found
    url: str | None = None
    #: the charset the bytes were decoded with
    encoding: str | None = None


@dataclass(frozen=True)
class Claim:
    """One sentence-sized statement of a document."""

    #: the sentence in the document's own wording and script
    text: str
    #: text after script conversion, NFKC and whitespace folding
    normalized: str
    #: the matching key: normalized, lower-cased, letters and digits only
    key: str
    #: 0-based position of the claim in its document
    position: int
    #: the speaker of the transcript turn the sentence belongs to, if any
    speaker: str | None = None


@dataclass(frozen=True)
class Dropped:
    """A sentence that did not become a claim, and why."""

    #: the sentence as written
    text: str
    #: the name of the rule that dropped it ("too-short", "too-long", "heading", or a boilerplate rule's
    #: name)
    rule: str
    #: how many claims of the document come before it (its place among them)
    before: int = 0


@dataclass(frozen=True)
class Fate:
    """What became of one sentence of a document (``corpus-monitor explain``)."""

    #: the sentence as written
    text: str
    #: "new", "known" (an exact repeat), "paraphrase" (a near-duplicate), "conflict" (new, contradicting a
    #: known claim in a figure), "repeat" (said earlier in the same document) or "dropped"
    fate: str
    #: the drop rule, for "dropped"
    rule: str | None = None
    #: similarity to the matched claim, for "paraphrase"
    score: float | None = None
    #: the stored claim it matched or contradicts
    claim: int | None = None
    #: that claim's wording as first seen
    claim_text: str | None = None
    #: where that claim was first seen: the document's title, and its path or URL
    source_title: str | None = None
    source: str | None = None
    #: the speaker of the transcript turn, for claims
    speaker: str | None = None


@dataclass(frozen=True)
class Match:
    """Novelty's verdict on one claim: which stored claim it repeats, if any."""

    #: id of the stored claim it repeats; None when the claim is new
    claim_id: int | None
    #: "exact", "near" or "new"
    kind: str
    #: similarity to the matched claim (1.0 for exact, 0.0 for new)
    score: float = 0.0
    #: a new claim only: the stored claim it repeats in everything but its figures (35万 against 50万)
    conflict: int | None = None


@dataclass(frozen=True)
class Sketch:
    """What the near-duplicate index keeps of a claim (made by the pipeline, kept by the store)."""

    #: the claim's normalized text in the canonical form (``monitor.canon``)
    canonical: str
    #: the distinct codes of its character shingles (``novelty.codes`` of the canonical form's key)
    codes: list[int]


@dataclass(frozen=True)
class Candidate:
    """A stored claim offered for the exact near-duplicate comparison."""

    claim_id: int
    #: its normalized text
    normalized: str
    #: its matching key
    key: str


@dataclass(frozen=True)
class DigestDocument:
    """A document that a digest names: one carrying a new claim, a contradicted known claim, or a newly
    corroborated one."""

    #: store id
    id: int
    title: str | None
    site: str | None
    url: str | None
    #: file path for folder documents, else None
    path: str | None
    published: str | None
    #: how many of the digest's claims were first seen in this document
    new_claims: int


@dataclass(frozen=True)
class DigestConflict:
    """A known claim that a digest's new claim contradicts in a figure."""

    #: store id of the known claim
    claim: int
    #: its wording as first seen
    text: str
    #: ids of the documents carrying it, first seen first
    sources: tuple[int, ...]
    #: its normalized text (Simplified, NFKC), which its figures are read from
    normalized: str = ""


@dataclass(frozen=True)
class DigestClaim:
    """A new claim as the digest reports it."""

    #: store id
    id: int
    #: original wording as first seen
    text: str
    #: normalized text
    normalized: str
    #: id of the document where it was first seen
    document: int
    #: ids of every document carrying it, the first-seen one first
    sources: tuple[int, ...]
    #: speaker of the transcript turn, if any
    speaker: str | None = None
    #: known claims it contradicts in a figure
    conflicts: tuple[DigestConflict, ...] = ()


@dataclass(frozen=True)
class DigestCorroboration:
    """A claim reported in an earlier digest that documents seen since the last delivered digest also carry."""

    #: store id
    claim: int
    #: original wording as first seen
    text: str
    #: ids of the documents that came to carry it since the last delivered digest, first seen first
    new_sources: tuple[int, ...]
    #: how many documents carry it now, its first one and the new ones included
    sources_total: int


@dataclass(frozen=True)
class Digest:
    """Everything one digest reports."""

    generated_at: datetime
    #: every document a claim, a conflict or a corroboration of the digest names, in order of date
    documents: tuple[DigestDocument, ...]
    #: the new claims
    claims: tuple[DigestClaim, ...]
    #: known claims newly corroborated (only with ``[digest] corroborated = true``); never a reason to send
    corroborated: tuple[DigestCorroboration, ...] = ()


@dataclass(frozen=True)
class Layout:
    """How much of a digest the email shows, and what it says around it (the rest is in the archive)."""

    #: claims listed under one document (its first by rank); "and N more" for the rest
    max_claims_per_document: int = 8
    #: documents listed in the table of contents and the body; "and N more" for the rest
    max_documents: int = 25
    #: the weightiest claims across all documents, at the top
    highlights: int = 5
    #: other documents named in a claim's "also in"
    max_also: int = 3
    #: conflicts and corroborations listed each
    max_items: int = 10
    #: a longer claim or title is cut, with an ellipsis
    max_chars: int = 400
    #: the HTML part must stay under this many bytes (Gmail clips at 102 KB): the digest shrinks until it does
    max_html_bytes: int = 100_000
    #: the plain-text part likewise
    max_text_bytes: int = 100_000
    #: IANA time zone of the times shown
    timezone: str = "UTC"
    #: the whole digest as written to the archive (path or URL), if it was
    archive: str | None = None
    #: what is monitored, for the footer: one line per source
    sources: tuple[str, ...] = ()
    #: the config file to edit to change or stop the digest, for the footer
    config: str | None = None


@dataclass(frozen=True)
class Rendered:
    """A digest rendered by the templates."""

    subject: str
    text: str
    html: str


@dataclass(frozen=True)
class PendingDelivery:
    """A digest recorded but not yet accepted by the mail server (or the outbox)."""

    id: int
    message_id: str
    subject: str
    #: the message exactly as first built
    message: bytes
    claim_count: int
    #: failed attempts so far
    attempts: int
    last_error: str | None
    created_at: str


@dataclass(frozen=True)
class QueuedDigest:
    """A digest in the delivery queue as ``corpus-monitor digests`` lists it (without its message)."""

    id: int
    #: "pending" (waiting to be sent), "refused" (refused for good by the server), "dropped" or "sent"
    state: str
    message_id: str
    subject: str
    created_at: str
    claim_count: int
    attempts: int
    #: the server's last answer, or the error of the last attempt
    last_error: str | None
    #: when it was refused or dropped
    closed_at: str | None
    #: the message's size in bytes
    size: int


@dataclass(frozen=True)
class SourceOutcome:
    """What one source did in a run; errors are values here, not exceptions."""

    #: the source's name
    source: str
    #: documents looked at
    scanned: int = 0
    #: documents new or changed, and ingested
    ingested: int = 0
    #: documents skipped as unchanged
    unchanged: int = 0
    #: one message per failure of the source itself (a folder missing, a feed or page unreachable), naming it
    errors: tuple[str, ...] = ()
    #: one message per item that could not be used (a file, a feed's article), naming it; the source is fine
    skipped: tuple[str, ...] = ()
    #: things worth telling that are not failures (a file still being written, a body cut off)
    warnings: tuple[str, ...] = ()
    #: documents seen but left out by the topic filter
    off_topic: int = 0
    #: files still being written (younger than settle_seconds, or changing while read): left for later
    waiting: int = 0
    #: False when the source was not due for a poll (its ``every`` had not passed) and was skipped
    polled: bool = True


@dataclass(frozen=True)
class RunReport:
    """The summary of one run of the pipeline."""

    outcomes: tuple[SourceOutcome, ...]
    #: claims first seen in this run
    new_claims: int
    #: the digest built in this run, if any claim was unreported
    digest: Digest | None = None
    #: where the digest went (outbox file path or smtp://host:port), if delivered
    delivered_to: str | None = None
    #: the rendered digest, if one was built
    rendered: Rendered | None = None
    #: the email message as bytes, if one was built
    message: bytes | None = None
    dry_run: bool = False
    #: why delivery failed, if it did (nothing was marked reported then)
    delivery_error: str | None = None
    #: earlier digests delivered in this run (they had failed before), as (message id, destination)
    resent: tuple[tuple[str, str], ...] = ()
    #: digests still waiting to be delivered after this run
    pending: int = 0
    #: where the whole digest was archived (a path, or a URL under [digest] archive_url)
    archived: str | None = None
    #: problems that did not stop the run (the archive copy could not be written)
    warnings: tuple[str, ...] = ()
    #: the digest built in this run was refused for good by the server; its claims wait for the next one
    refused: bool = False
    #: what a baseline run recorded as known without mailing it (``digest --baseline``, ``first_run``)
    baseline: Digest | None = None
    #: another worker held the digest lock: this run built and sent nothing (what it has not sent waits for a
    #: digest built once the lock is free)
    locked_out: bool = False
