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
    #: the name of the rule that dropped it ("too-short", "heading", or a boilerplate rule's name)
    rule: str


@dataclass(frozen=True)
class Match:
    """Novelty's verdict on one claim: which stored claim it repeats, if any."""

    #: id of the stored claim it repeats; None when the claim is new
    claim_id: int | None
    #: "exact", "near" or "new"
    kind: str
    #: similarity to the matched claim (1.0 for exact, 0.0 for new)
    score: float = 0.0


@dataclass(frozen=True)
class Sketch:
    """A claim's MinHash signature and LSH buckets (made by ``novelty.Signer``, kept by the store)."""

    #: the low 16 bits of each of the ``bands * rows`` minima (b-bit MinHash), as bytes
    signature: bytes
    #: one bucket id (31 bits) per band
    buckets: list[int]


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
    """A document that carries at least one of a digest's new claims."""

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


@dataclass(frozen=True)
class Digest:
    """Everything one digest reports."""

    generated_at: datetime
    documents: tuple[DigestDocument, ...]
    claims: tuple[DigestClaim, ...]


@dataclass(frozen=True)
class Rendered:
    """A digest rendered by the templates."""

    subject: str
    text: str
    html: str


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
    #: one message per document or source that failed, naming it
    errors: tuple[str, ...] = ()


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
