"""``corpus-monitor explain``: what becomes of each sentence of a document, and why.

This is how users (and we) debug the matcher: the document goes through the pipeline's own ingest,
inside a transaction that is rolled back, and each sentence gets its :class:`~monitor.models.Fate`:
new, known (with the claim it repeats and where that was first seen), paraphrase (with the score),
conflict (with the claim it contradicts), repeat (said earlier in the same document) or dropped (with
the boilerplate rule).
"""

from __future__ import annotations

from dataclasses import replace

from monitor.config import Settings
from monitor.models import Document, Fate, Fetched
from monitor.pipeline import Deps, ingest_verdicts


def explain(fetched: Fetched, document: Document, deps: Deps, settings: Settings) -> list[Fate]:
    """Every sentence of a document with its fate, as if it arrived now, against all the store knows.

    Nothing is kept: the work is rolled back (the CLI also runs it on a copy of the store). A document
    already in the store is explained as a second copy of itself, so the claims it brought are known."""
    with deps.store.rolled_back():
        if deps.store.document_state(fetched.locator) is not None:
            fetched = replace(fetched, locator=f"{fetched.locator}#explain")
        verdicts, dropped, doc_id = ingest_verdicts(fetched, document, deps, settings)
        ids = [m.claim_id for _, m in verdicts if m.kind != "new"] + [m.conflict for _, m in verdicts if m.conflict]
        origins = deps.store.claim_origins([i for i in ids if i is not None])
    fates: list[Fate] = []
    drops = sorted(dropped, key=lambda d: d.before)
    for position, (claim, match) in enumerate(verdicts):
        while drops and drops[0].before <= position:
            fates.append(Fate(drops[0].text, "dropped", rule=drops.pop(0).rule))
        target = match.conflict if match.kind == "new" else match.claim_id
        origin = origins.get(target) if target is not None else None
        if match.kind == "new":
            fate = "conflict" if match.conflict is not None else "new"
        elif origin is not None and origin.document == doc_id:
            fate = "repeat"
        else:
            fate = "known" if match.kind == "exact" else "paraphrase"
        fates.append(Fate(
            claim.text, fate, score=match.score if fate == "paraphrase" else None,
            claim=target if fate != "new" else None, claim_text=origin.text if origin and fate != "new" else None,
            source_title=origin.title if origin and fate != "new" else None,
            source=origin.locator if origin and fate != "new" else None, speaker=claim.speaker,
        ))
    fates += [Fate(d.text, "dropped", rule=d.rule) for d in drops]
    return fates
