"""The one orchestrator: sources -> extract -> normalize -> claims -> novelty/store -> digest -> delivery.

``run_once`` does one whole run and returns a :class:`~monitor.models.RunReport`. A document or source
that fails becomes an error message in its :class:`~monitor.models.SourceOutcome`; the run goes on.
Claims are marked reported only in the transaction that records a successful delivery, so a failed
delivery loses nothing: the same claims come again next time. A dry run does all the work inside one
transaction that is rolled back at the end, and delivers nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

import jinja2

from monitor import claims as claims_mod
from monitor import digest as digest_mod
from monitor.config import FolderSource, Settings
from monitor.delivery import Mailer, build_message
from monitor.errors import DeliveryError, LocatedError, SourceError, StoreError
from monitor.extract import extract
from monitor.models import Candidate, Claim, Document, Fetched, Match, RunReport, SourceOutcome
from monitor.normalize import Normalizer, key_of
from monitor.novelty import Signer, decide, fingerprint, plausible
from monitor.sources import folder
from monitor.store import Store

#: documents ingested per transaction; a crash loses at most one batch, read again next run
BATCH = 50


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Deps:
    """The long-lived objects a run needs, built once by the caller (CLI or scheduler)."""

    store: Store
    normalizer: Normalizer
    signer: Signer
    templates: jinja2.Environment
    mailer: Mailer | None = None
    clock: Callable[[], datetime] = field(default=_utcnow)


@dataclass(frozen=True)
class _Pending:
    fetched: Fetched
    document: Document


def _scan_folder(source: FolderSource, deps: Deps, pending: list[_Pending]) -> SourceOutcome:
    scanned = unchanged = 0
    errors: list[str] = []
    try:
        paths = list(folder.candidates(source.path))
    except SourceError as exc:
        return SourceOutcome(source.name, errors=(str(exc),))
    now_ns = time.time_ns()
    for path in paths:
        scanned += 1
        locator = str(path.resolve())
        try:
            state = deps.store.document_state(locator)
            same, stat = folder.unchanged(path, state.size if state else None, state.mtime_ns if state else None)
            if same:
                unchanged += 1
                continue
            fetched = folder.read(
                Path(locator), source.name, stat, settle_seconds=source.settle_seconds, now_ns=now_ns
            )
            if fetched is None:
                errors.append(f"{path}: still being written; left for the next run")
                continue
            if state is not None and state.content_hash == fetched.content_hash:
                deps.store.touch_document(state.id, fetched.size, fetched.mtime_ns)
                unchanged += 1
                continue
            # the raw bytes are not kept: a first scan of a large folder holds only the extracted texts
            pending.append(_Pending(replace(fetched, data=b""), extract(fetched)))
        except LocatedError as exc:
            errors.append(f"{path}: skipped: {exc.reason}")
        except StoreError:
            raise
        except Exception as exc:  # noqa: BLE001 - the per-document boundary: one file never stops the run
            errors.append(f"{path}: skipped: unexpected {type(exc).__name__}: {exc}")
    return SourceOutcome(source.name, scanned=scanned, unchanged=unchanged, errors=tuple(errors))


def ingest(fetched: Fetched, document: Document, deps: Deps, settings: Settings) -> int:
    """Store one new or changed document and its claims; returns how many claims were new."""
    now = deps.clock()
    novelty = settings.novelty
    occurrences: list[tuple[int, Claim, Match]] = []
    with deps.store.transaction():
        doc_id = deps.store.save_document(fetched, document, now)
        found, _dropped = claims_mod.split(document.text, deps.normalizer.normalize_many, key_of)
        prints = [fingerprint(claim.key) for claim in found]
        known = deps.store.find_exact_many(prints)  # claims added below join it, for repeats in this document
        for claim, fp in zip(found, prints, strict=True):
            exact = known.get(fp)
            if exact is not None:
                match = Match(exact, "exact", 1.0)
            else:
                sketch = deps.signer.sketch(claim.key)
                ids = plausible(sketch.signature, deps.store.candidates(sketch.buckets), novelty.threshold)
                candidates = [Candidate(i, n, key_of(n)) for i, n in deps.store.claim_texts(ids)]
                match = decide(
                    claim.key, claim.normalized, candidates, shingle=novelty.shingle, threshold=novelty.threshold
                )
                if match.claim_id is None:
                    known[fp] = deps.store.add_claim(claim, fp, sketch, doc_id, now)
                    match = Match(known[fp], "new", 1.0)
            occurrences.append((match.claim_id or 0, claim, match))
        deps.store.add_occurrences(doc_id, occurrences, now)
    return sum(1 for _, _, m in occurrences if m.kind == "new")


def scan(settings: Settings, deps: Deps) -> tuple[tuple[SourceOutcome, ...], int]:
    """Look at every source, ingest what is new or changed (oldest documents first)."""
    deps.store.ensure_index(deps.signer.parameters, lambda text: deps.signer.sketch(key_of(text)))
    pending: list[_Pending] = []
    outcomes = [_scan_folder(source, deps, pending) for source in settings.sources]
    pending.sort(key=lambda p: (p.document.published or "9999", p.fetched.locator))
    new = 0
    ingested: dict[str, int] = {}
    for start in range(0, len(pending), BATCH):
        # one commit per batch of documents: a commit costs more than ingesting a short page
        with deps.store.transaction():
            for item in pending[start : start + BATCH]:
                new += ingest(item.fetched, item.document, deps, settings)
                ingested[item.fetched.source] = ingested.get(item.fetched.source, 0) + 1
    outcomes = [
        SourceOutcome(o.source, o.scanned, ingested.get(o.source, 0), o.unchanged, o.errors) for o in outcomes
    ]
    return tuple(outcomes), new


def run_once(settings: Settings, deps: Deps, *, deliver: bool = True, dry_run: bool = False) -> RunReport:
    """Scan, then (when ``deliver``) build and deliver the digest of every unreported claim."""
    if dry_run:
        with deps.store.rolled_back():
            return _run(settings, deps, deliver=deliver, dry_run=True)
    return _run(settings, deps, deliver=deliver, dry_run=False)


def _run(settings: Settings, deps: Deps, *, deliver: bool, dry_run: bool) -> RunReport:
    outcomes, new = scan(settings, deps)
    if not deliver:
        return RunReport(outcomes, new, dry_run=dry_run)
    now = deps.clock()
    digest = deps.store.unreported(now)
    if not digest.claims:
        return RunReport(outcomes, new, dry_run=dry_run)
    rendered = digest_mod.render(digest, deps.templates)
    message = build_message(rendered, sender=settings.sender, recipients=settings.recipients, date=now)
    if dry_run or deps.mailer is None:
        return RunReport(outcomes, new, digest, None, rendered, bytes(message), dry_run=dry_run)
    try:
        destination = deps.mailer.deliver(message)
    except DeliveryError as exc:
        return RunReport(outcomes, new, digest, None, rendered, bytes(message), delivery_error=str(exc))
    deps.store.record_digest(
        digest, subject=rendered.subject, message_id=str(message["Message-ID"]), sender=settings.sender,
        recipients=settings.recipients, destination=destination, now=deps.clock(),
    )
    return RunReport(outcomes, new, digest, destination, rendered, bytes(message), dry_run=False)
