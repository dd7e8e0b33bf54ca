"""Render a Digest into a subject, a plain-text body and an HTML body.

Pure: the only I/O is Jinja2 loading the templates. Python builds a plain view model (groups of claims under the
document where they were first seen, "also in" lists, counts); the templates hold every word of layout and all the
markup. The HTML template is autoescaped, the text templates are not.

The view model handed to every template::

    generated_at      "2024-07-30 06:28 UTC"
    claim_count       number of new claims
    document_count    number of documents that head a group (where at least one claim was first seen)
    groups            [{"document": DocumentView, "claims": [ClaimView, ...]}, ...] in the order of digest.documents;
                      within a group, claims with a figure, a quote or an announcement first (monitor.ranking)
    conflicts         [{"claim": ClaimView, "document": DocumentView}, ...]: the new claims that contradict known ones
    corroborated      [{"id", "text", "new_sources": [DocumentView, ...], "sources_total"}, ...]: known claims of
                      earlier digests that new documents carry (empty unless [digest] corroborated is on)

    DocumentView      {"id", "title", "site", "published", "url", "link", "path"}
                      title falls back to path, then url, then "document <id>"; link is url when it is http(s)
    ClaimView         {"id", "text", "speaker", "also": [DocumentView, ...], "carried_by", "conflicts"}
                      speaker is None when the text already starts with it; also = sources minus the group's document;
                      carried_by = how many documents carry it
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jinja2

from monitor.models import Digest, DigestClaim, DigestDocument, Rendered
from monitor.ranking import ranked

SUBJECT_TEMPLATE = "subject.txt.j2"
TEXT_TEMPLATE = "digest.txt.j2"
HTML_TEMPLATE = "digest.html.j2"


def templates_dir() -> Path:
    """The templates folder.

    `monitor/templates` inside an installed wheel (pyproject force-includes the top-level templates/ there), else the
    repository's top-level `templates/` (an editable install or a checkout).
    """
    packaged = Path(__file__).parent / "templates"
    if packaged.is_dir():
        return packaged
    return Path(__file__).parents[1] / "templates"


def environment(directory: Path | None = None) -> jinja2.Environment:
    """A Jinja2 environment over `directory` (default: `templates_dir()`).

    StrictUndefined, so a misspelt variable fails loudly; autoescape for `.html.j2` templates only; trim_blocks and
    lstrip_blocks so that block tags do not leave blank lines in the plain text.
    """
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(directory if directory is not None else templates_dir()),
        undefined=jinja2.StrictUndefined,
        autoescape=jinja2.select_autoescape(
            enabled_extensions=("html.j2",), disabled_extensions=(), default_for_string=False, default=False
        ),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def render(digest: Digest, env: jinja2.Environment) -> Rendered:
    """Render the subject (one line, stripped), the plain text and the HTML of a digest."""
    context = view_model(digest)
    subject = env.get_template(SUBJECT_TEMPLATE).render(context)
    return Rendered(
        subject=" ".join(subject.split()),
        text=env.get_template(TEXT_TEMPLATE).render(context).rstrip() + "\n",
        html=env.get_template(HTML_TEMPLATE).render(context),
    )


def to_json(digest: Digest) -> dict[str, Any]:
    """The stable JSON form of a digest (only JSON types: str, int, list, dict, None); claims in the digest's
    order (by document, those with a figure, a quote or an announcement first in each)."""
    return {
        "generated_at": _utc(digest.generated_at).isoformat(),
        "documents": [
            {
                "id": doc.id,
                "title": doc.title,
                "site": doc.site,
                "url": doc.url,
                "path": doc.path,
                "published": doc.published,
                "new_claims": doc.new_claims,
            }
            for doc in digest.documents
        ],
        "claims": [
            {
                "id": claim.id,
                "text": claim.text,
                "normalized": claim.normalized,
                "document": claim.document,
                "sources": list(claim.sources),
                "speaker": claim.speaker,
                "conflicts": [
                    {"claim": c.claim, "text": c.text, "sources": list(c.sources)} for c in claim.conflicts
                ],
            }
            for claim in ranked(digest.claims)
        ],
        "corroborated": [
            {
                "claim": item.claim,
                "text": item.text,
                "new_sources": list(item.new_sources),
                "sources_total": item.sources_total,
            }
            for item in digest.corroborated
        ],
    }


def view_model(digest: Digest) -> dict[str, Any]:
    """The plain data the templates render (see the module docstring for its shape)."""
    documents = {doc.id: _document_view(doc) for doc in digest.documents}

    def lookup(document_id: int) -> dict[str, Any]:
        return documents.get(document_id) or _missing_document_view(document_id)

    by_document: dict[int, list[DigestClaim]] = {}
    for claim in ranked(digest.claims):
        by_document.setdefault(claim.document, []).append(claim)
    # Groups follow digest.documents; a claim whose document is not listed still gets a group, at the end.
    order = [doc.id for doc in digest.documents if doc.id in by_document]
    order += [doc_id for doc_id in by_document if doc_id not in documents]

    groups: list[dict[str, Any]] = []
    conflicts: list[dict[str, Any]] = []
    for doc_id in order:
        claims = [_claim_view(claim, doc_id, lookup) for claim in by_document[doc_id]]
        groups.append({"document": lookup(doc_id), "claims": claims})
        conflicts += [{"claim": claim, "document": lookup(doc_id)} for claim in claims if claim["conflicts"]]
    return {
        "generated_at": _utc(digest.generated_at).strftime("%Y-%m-%d %H:%M UTC"),
        "claim_count": len(digest.claims),
        "document_count": len(groups),
        "groups": groups,
        "conflicts": conflicts,
        "corroborated": [
            {
                "id": item.claim,
                "text": item.text,
                "new_sources": [lookup(source) for source in dict.fromkeys(item.new_sources)],
                "sources_total": item.sources_total,
            }
            for item in digest.corroborated
        ],
    }


def _document_view(doc: DigestDocument) -> dict[str, Any]:
    url = doc.url or None
    return {
        "id": doc.id,
        "title": doc.title or doc.path or url or f"document {doc.id}",
        "site": doc.site or None,
        "published": doc.published or None,
        "url": url,
        # Only web addresses become links; anything else (javascript:, file:) is shown as text.
        "link": url if url is not None and url.lower().startswith(("http://", "https://")) else None,
        "path": doc.path or None,
    }


def _missing_document_view(document_id: int) -> dict[str, Any]:
    return {
        "id": document_id,
        "title": f"document {document_id}",
        "site": None,
        "published": None,
        "url": None,
        "link": None,
        "path": None,
    }


def _claim_view(claim: DigestClaim, group_id: int, lookup: Callable[[int], dict[str, Any]]) -> dict[str, Any]:
    speaker = claim.speaker or None
    if speaker is not None and claim.text.startswith(speaker):
        speaker = None
    also_ids = list(dict.fromkeys(source for source in claim.sources if source != group_id))
    return {
        "id": claim.id,
        "text": claim.text,
        "speaker": speaker,
        "also": [lookup(source) for source in also_ids],
        "carried_by": len(set(claim.sources) | {group_id}),
        "conflicts": [
            {"text": conflict.text, "sources": [lookup(source) for source in dict.fromkeys(conflict.sources)]}
            for conflict in claim.conflicts
        ],
    }


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"digest time must be timezone-aware, got naive {moment.isoformat()}")
    return moment.astimezone(UTC)
