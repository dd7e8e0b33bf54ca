"""Render a Digest into a subject, a plain-text body and an HTML body, bounded in size; and whole, for the archive.

Pure: the only I/O is Jinja2 loading the templates. Python builds a plain view model (counts, highlights, a table of
contents, groups of claims under the document where they were first seen, "also in" lists, conflicts with their
differing figures marked); the templates hold every word of layout and all the markup, and their labels are gettext
messages (``_``, ``ngettext``). The HTML template is autoescaped, the text templates are not.

An email must stay readable and deliverable whatever arrives: :func:`render` shows at most ``Layout`` counts
(documents, claims per document, "also in" entries, conflicts, characters of a claim) with "and N more", and when a
part still comes out larger than its byte limit it halves those counts until it fits. :func:`render_whole` leaves
nothing out: that copy goes to the archive, and the email says where.

The view model handed to every template::

    generated_at      "2024-07-30 14:28 Asia/Shanghai" (in Layout.timezone)
    story             the lead headline (the document with most new claims), else its first claim; None if empty
    claim_count, document_count, conflict_count, corroborated_count    the story in numbers (all, shown or not)
    highlights        [{"claim": ClaimView, "document": DocumentView}]: the weightiest claims across documents
    groups            [{"document", "count", "claims": [ClaimView, ...], "more"}] in the order of digest.documents;
                      within a group, claims with a figure, a quote or an announcement first (monitor.ranking)
    groups_more       documents not shown
    conflicts         [{"claim": ClaimView, "document": DocumentView}], conflicts_more
    corroborated      [{"id", "text", "new_sources", "new_more", "sources_total"}], corroborated_more
    archive, archive_link, sources, config                        what the footer says

    DocumentView      {"id", "anchor", "title", "headline", "site", "published", "url", "link", "path"}
                      title falls back to path, then url, then "document <id>"; link is url when it is http(s)
    ClaimView         {"id", "text", "speaker", "also", "also_more", "carried_by", "segments", "conflicts"}
                      speaker is None when the text already starts with it; also = other documents a reader can
                      tell apart (one per title and site); segments = [(text, marked)], the figures that differ
                      from the contradicted claims marked; conflicts = [{"text", "segments", "sources"}]
"""

from __future__ import annotations

import gettext
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jinja2

from monitor import figures
from monitor.models import Digest, DigestClaim, DigestDocument, Layout, Rendered
from monitor.ranking import figure_spans, ranked, weight

SUBJECT_TEMPLATE = "subject.txt.j2"
TEXT_TEMPLATE = "digest.txt.j2"
HTML_TEMPLATE = "digest.html.j2"
#: the bounds a digest is rendered in when none are given
DEFAULT_LAYOUT = Layout()


def templates_dir() -> Path:
    """The templates folder.

    `monitor/templates` inside an installed wheel (pyproject force-includes the top-level templates/ there), else the
    repository's top-level `templates/` (an editable install or a checkout).
    """
    packaged = Path(__file__).parent / "templates"
    if packaged.is_dir():
        return packaged
    return Path(__file__).parents[1] / "templates"


#: the languages a digest's labels come in (``[digest] language``): gettext catalogues in monitor/locale
LANGUAGES = {"en": "en", "zh-Hans": "zh_Hans", "zh-Hant": "zh_Hant"}


def translations(language: str) -> gettext.NullTranslations:
    """The labels' translations into a language of LANGUAGES, from its catalogue (``monitor/locale/<locale>/
    LC_MESSAGES/messages.po``, compiled here by Babel: no build step, no binary files in the repository)."""
    import io

    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po
    from babel.support import Translations

    catalogue = Path(__file__).parent / "locale" / LANGUAGES[language] / "LC_MESSAGES" / "messages.po"
    with catalogue.open("rb") as handle:
        compiled = io.BytesIO()
        write_mo(compiled, read_po(handle, locale=LANGUAGES[language]))
    compiled.seek(0)
    return Translations(compiled)


def environment(directory: Path | None = None, language: str = "en") -> jinja2.Environment:
    """A Jinja2 environment over `directory` (default: `templates_dir()`).

    StrictUndefined, so a misspelt variable fails loudly; autoescape for `.html.j2` templates only; trim_blocks and
    lstrip_blocks so that block tags do not leave blank lines in the plain text; the labels in ``language``.
    """
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(directory if directory is not None else templates_dir()),
        undefined=jinja2.StrictUndefined,
        autoescape=jinja2.select_autoescape(
            enabled_extensions=("html.j2",), disabled_extensions=(), default_for_string=False, default=False
        ),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        extensions=["jinja2.ext.i18n"],
    )
    # the labels are gettext messages (_, ngettext), in the language asked for
    env.install_gettext_translations(translations(language), newstyle=True)  # type: ignore[attr-defined]
    env.globals["language"] = language
    return env


def render(digest: Digest, env: jinja2.Environment, layout: Layout = DEFAULT_LAYOUT) -> Rendered:
    """Render the subject (one line, stripped), the plain text and the HTML of a digest, within the layout's
    bounds: when a part comes out larger than its limit, fewer documents and claims are shown (the archive
    has them all) until it fits; at the least, the summary, the highlights and the table of contents."""
    scale = 1.0
    while True:
        shown = _scaled(layout, scale)
        rendered = _render(view_model(digest, shown), env)
        fits = (len(rendered.html.encode()) <= layout.max_html_bytes
                and len(rendered.text.encode()) <= layout.max_text_bytes)
        if fits or scale == 0.0:
            return rendered
        scale = scale / 2 if scale > 1 / 16 else 0.0


def render_whole(digest: Digest, env: jinja2.Environment, layout: Layout = DEFAULT_LAYOUT) -> Rendered:
    """The digest with nothing left out (every document, claim and source): the archive's copy."""
    unbounded = len(digest.claims) + len(digest.documents) + 1
    whole = replace(layout, max_claims_per_document=unbounded, max_documents=unbounded, max_also=unbounded,
                    max_items=unbounded, max_chars=0, archive=None)
    return _render(view_model(digest, whole, whole=True), env)


def _render(context: dict[str, Any], env: jinja2.Environment) -> Rendered:
    subject = env.get_template(SUBJECT_TEMPLATE).render(context)
    return Rendered(
        subject=" ".join(subject.split()),
        text=env.get_template(TEXT_TEMPLATE).render(context).rstrip() + "\n",
        html=env.get_template(HTML_TEMPLATE).render(context),
    )


def _scaled(layout: Layout, scale: float) -> Layout:
    """The layout with its per-digest counts cut to ``scale`` (0: no document bodies at all)."""
    if scale >= 1.0:
        return layout
    return replace(
        layout,
        max_documents=int(layout.max_documents * scale),
        max_claims_per_document=max(1, int(layout.max_claims_per_document * scale)),
        max_items=max(1, int(layout.max_items * scale)),
        max_chars=min(layout.max_chars, 200) if layout.max_chars else 200,
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


def view_model(digest: Digest, layout: Layout = DEFAULT_LAYOUT, *, whole: bool = False) -> dict[str, Any]:
    """The plain data the templates render (see the module docstring for its shape), cut to the layout."""
    cut = _Cut(layout.max_chars)
    documents = {doc.id: _document_view(doc, cut) for doc in digest.documents}

    def lookup(document_id: int) -> dict[str, Any]:
        return documents.get(document_id) or _missing_document_view(document_id)

    by_document: dict[int, list[DigestClaim]] = {}
    for claim in ranked(digest.claims):
        by_document.setdefault(claim.document, []).append(claim)
    # Groups follow digest.documents; a claim whose document is not listed still gets a group, at the end.
    order = [doc.id for doc in digest.documents if doc.id in by_document]
    order += [doc_id for doc_id in by_document if doc_id not in documents]

    def claim_view(claim: DigestClaim) -> dict[str, Any]:
        return _claim_view(claim, claim.document, lookup, cut, layout.max_also, by_title=not whole)

    groups = [
        {"document": lookup(doc_id), "count": len(by_document[doc_id]),
         "claims": [claim_view(c) for c in by_document[doc_id][: layout.max_claims_per_document]],
         "more": max(0, len(by_document[doc_id]) - layout.max_claims_per_document)}
        for doc_id in order
    ]
    conflicted = [c for c in digest.claims if c.conflicts]
    conflicts = [{"claim": claim_view(c), "document": lookup(c.document)} for c in conflicted[: layout.max_items]]
    highlights = [
        {"claim": claim_view(c), "document": lookup(c.document)} for c in _highlights(digest.claims, layout.highlights)
    ] if len(digest.claims) > layout.highlights else []
    corroborated = [
        {
            "id": item.claim,
            "text": cut(item.text),
            "new_sources": [lookup(source) for source in dict.fromkeys(item.new_sources)][: layout.max_also],
            "new_more": max(0, len(set(item.new_sources)) - layout.max_also),
            "sources_total": item.sources_total,
        }
        for item in digest.corroborated[: layout.max_items]
    ]
    return {
        "generated_at": _local(digest.generated_at, layout.timezone),
        "story": _story(groups, cut),
        "claim_count": len(digest.claims),
        "document_count": len(groups),
        "conflict_count": len(conflicted),
        "corroborated_count": len(digest.corroborated),
        "highlights": highlights,
        "groups": groups[: layout.max_documents],
        "groups_more": max(0, len(groups) - layout.max_documents),
        "conflicts": conflicts,
        "conflicts_more": max(0, len(conflicted) - layout.max_items),
        "corroborated": corroborated,
        "corroborated_more": max(0, len(digest.corroborated) - layout.max_items),
        "archive": layout.archive,
        "archive_link": layout.archive if _is_web(layout.archive) else None,
        "sources": layout.sources,
        "config": layout.config,
    }


def _highlights(claims: Sequence[DigestClaim], count: int) -> list[DigestClaim]:
    """The weightiest claims of all, in digest order: most kinds of cue (figure, quote, announcement), then
    carried by most documents, then first in the digest; one per document as long as documents last, so that
    the top of the digest speaks for the whole story rather than its longest article."""
    order = ranked(claims)
    position = {c.id: i for i, c in enumerate(order)}
    weightiest = sorted(order, key=lambda c: (-weight(c.normalized, c.speaker), -len(set(c.sources)), position[c.id]))
    chosen: list[DigestClaim] = []
    seen: set[int] = set()
    for claim in weightiest:  # the best of each document first
        if claim.document not in seen and len(chosen) < count:
            chosen.append(claim)
            seen.add(claim.document)
    taken = {c.id for c in chosen}
    chosen += [c for c in weightiest if c.id not in taken][: count - len(chosen)]
    return sorted(chosen, key=lambda c: position[c.id])


class _Cut:
    """Cuts a text to at most ``limit`` characters with an ellipsis (0: no limit)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit

    def __call__(self, text: str) -> str:
        if not self.limit or len(text) <= self.limit:
            return text
        return text[: self.limit - 1].rstrip() + "…"


def _story(groups: Sequence[dict[str, Any]], cut: _Cut) -> str | None:
    """What the digest is about, in a few words: the headline of the document with the most new claims
    (the earliest of those), or the first claim when no document has a title."""
    if not groups:
        return None
    lead = max(groups, key=lambda g: g["count"])  # max keeps the first of equals: the earliest
    title: str | None = lead["document"]["headline"]
    if title is None and lead["claims"]:
        title = lead["claims"][0]["text"]
    return _Cut(60)(title) if title else None


def _is_web(location: str | None) -> bool:
    return location is not None and location.lower().startswith(("http://", "https://"))


def _local(moment: datetime, zone: str) -> str:
    from zoneinfo import ZoneInfo

    local = _utc(moment).astimezone(ZoneInfo(zone))
    return f"{local:%Y-%m-%d %H:%M} {'UTC' if zone == 'UTC' else zone}"


def _document_view(doc: DigestDocument, cut: _Cut) -> dict[str, Any]:
    url = doc.url or None
    headline = cut(doc.title) if doc.title else None
    return {
        "id": doc.id,
        "anchor": f"d{doc.id}",
        "title": headline or doc.path or url or f"document {doc.id}",
        #: the document's own title, None when it has none (the title above then falls back to a path)
        "headline": headline,
        "site": doc.site or None,
        "published": doc.published or None,
        "url": url,
        # Only web addresses become links; anything else (javascript:, file:) is shown as text.
        "link": url if _is_web(url) else None,
        "path": doc.path or None,
    }


def _missing_document_view(document_id: int) -> dict[str, Any]:
    return {
        "id": document_id,
        "anchor": f"d{document_id}",
        "title": f"document {document_id}",
        "headline": None,
        "site": None,
        "published": None,
        "url": None,
        "link": None,
        "path": None,
    }


def _claim_view(
    claim: DigestClaim, group_id: int, lookup: Callable[[int], dict[str, Any]], cut: _Cut, max_also: int,
    by_title: bool = True,
) -> dict[str, Any]:
    speaker = claim.speaker or None
    if speaker is not None and (claim.text.startswith(speaker) or claim.normalized.startswith(speaker)):
        speaker = None  # said once: 黃仁勳：… needs no 黄仁勋： before it
    # "also in" names documents a reader can tell apart: in the email, reprints under one title and site are
    # named once; the archive's whole digest names every document
    def identity(view: dict[str, Any]) -> tuple[Any, ...]:
        return (view["title"], view["site"]) if by_title else (view["id"],)

    own = lookup(group_id)
    distinct: dict[tuple[Any, ...], dict[str, Any]] = {identity(own): own}
    for source in claim.sources:
        view = lookup(source)
        distinct.setdefault(identity(view), view)
    also = list(distinct.values())[1:]
    text = cut(claim.text)
    known_texts = [cut(conflict.text) for conflict in claim.conflicts]
    known_pairs = [(known, conflict.normalized) for known, conflict in zip(known_texts, claim.conflicts, strict=True)]
    return {
        "id": claim.id,
        "text": text,
        "speaker": speaker,
        "also": also[:max_also],
        "also_more": max(0, len(also) - max_also),
        "carried_by": len(set(claim.sources) | {group_id}),
        # the figures that differ from those of the known claims are marked, in both versions
        "segments": _marked(text, claim.normalized, known_pairs) if claim.conflicts else [(text, False)],
        "conflicts": [
            {"text": known, "segments": _marked(known, conflict.normalized, [(text, claim.normalized)]),
             "sources": [lookup(source) for source in dict.fromkeys(conflict.sources)][:max_also]}
            for known, conflict in zip(known_texts, claim.conflicts, strict=True)
        ],
    }


def _marked(text: str, normalized: str, others: Sequence[tuple[str, str]]) -> list[tuple[str, bool]]:
    """``text`` in pieces, each with whether it is a figure that none of ``others`` states.

    Figures are read as novelty reads them (``monitor.figures``: 三成 is 30%, 约一小时 is 60分钟) from the normalized
    text, whose characters stand where the shown text's do (OpenCC and NFKC keep CJK and digits one for one);
    where they do not, the figures as written are compared."""
    theirs = {(f.value, f.unit) for other, norm in others for f in _figures(other, norm)}
    pieces: list[tuple[str, bool]] = []
    at = 0
    for fig in _figures(text, normalized):
        a, b = fig.span
        if (fig.value, fig.unit) in theirs or a < at:
            continue
        pieces += [(text[at:a], False), (text[a:b], True)]
        at = b
    pieces.append((text[at:], False))
    return [(piece, hot) for piece, hot in pieces if piece]


def _figures(text: str, normalized: str) -> list[figures.Figure]:
    """The figures of a shown text (perhaps cut short), with spans in it."""
    if normalized and len(normalized) >= len(text.rstrip("…")) and _aligned(text, normalized):
        return [f for f in figures.read(normalized) if f.span[1] <= len(text.rstrip("…"))]
    return [
        figures.Figure(_figure_key(text[a:b]), "", span=(a, b)) for a, b in figure_spans(text)
    ]


def _aligned(text: str, normalized: str) -> bool:
    """Whether the normalized text's characters stand where the shown text's do: the same characters but for
    the Chinese ones (which script conversion may change, one for one)."""
    shown = unicodedata.normalize("NFKC", text.rstrip("…"))
    if len(shown) != len(text.rstrip("…")) or len(normalized) < len(shown):
        return False
    return all(a == b or (a >= "\u3400" and b >= "\u3400") for a, b in zip(shown, normalized, strict=False))


def _figure_key(figure: str) -> str:
    return "".join(unicodedata.normalize("NFKC", figure).replace(",", "").split())


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"digest time must be timezone-aware, got naive {moment.isoformat()}")
    return moment.astimezone(UTC)
