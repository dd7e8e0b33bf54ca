"""Novelty: is a claim new, or already known (exactly, or as a near-duplicate)?

Pure decisions over what the store returns. Two tests, in order:

1. *exact*: the claim's matching key (normalized, letters and digits only) has the same 64-bit
   fingerprint as a stored claim's;
2. *near*: a stored claim whose character-shingle set, in the canonical form (``monitor.canon``), has a
   Jaccard similarity of at least the threshold, and whose figures (``monitor.figures``) the claim repeats
   or leaves out. Candidates come from an inverted index of shingles kept in the store: a lookup reads the
   posting lists of the claim's rarest shingles, up to a fixed number of index rows, so its cost does not
   grow with the store while a pair at the threshold still shares a read shingle (see ``store.candidates``);
   the pipeline adds the claims of documents the new one already repeats (reprints come in clusters).

A near-duplicate whose figures differ from the stored claim's ("35万块" against "50万块", "三分之一" against
"一半", "将近两个小时" against "约一小时") is not a reprint: it stays new, and is a *conflict* with the
stored claim. One that states a figure the stored claim lacks (and none against it) is new information,
not a conflict. One that leaves out a figure of the stored claim, and contradicts none, is the same claim.
Near-duplicates are judged on their wording with the figures masked too, so a changed figure cannot hide
behind the characters it changed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from functools import lru_cache

from monitor import figures as figs
from monitor.keys import key_of
from monitor.models import Candidate, Match, Sketch

#: a candidate whose similarity is under this share of the threshold is not compared further: masking the
#: figures of two sentences that share so little cannot bring them to the threshold unless figures are most
#: of what they say
UNRELATED = 0.5
#: how far the first character of a shingle is shifted in its code (code points need 21 bits)
_CODE_BITS = 21


def fingerprint(key: str) -> int:
    """A signed 64-bit fingerprint of a matching key (fits an SQLite INTEGER)."""
    value = int.from_bytes(hashlib.blake2b(key.encode("utf-8"), digest_size=8).digest(), "big")
    return value - (1 << 64) if value >= 1 << 63 else value


def shingles(key: str, size: int) -> set[str]:
    """Character n-grams of a key; a key shorter than ``size`` is its own single shingle."""
    if len(key) <= size:
        return {key} if key else set()
    return {key[i : i + size] for i in range(len(key) - size + 1)}


def jaccard(a: set[str] | frozenset[str], b: set[str] | frozenset[str]) -> float:
    if not a and not b:
        return 0.0
    shared = len(a & b)
    return shared / (len(a) + len(b) - shared)


def shingle_code(shingle: str) -> int:
    """A shingle as one integer for the store's index: for up to three characters, their code points side by
    side (exact: a longer shingle's code is always larger); for more, a negative 63-bit hash."""
    if len(shingle) <= 3:
        code = 0
        for ch in shingle:
            code = (code << _CODE_BITS) | ord(ch)
        return code
    return -(fingerprint(shingle) & ((1 << 62) - 1)) - 1


def codes(key: str, size: int) -> list[int]:
    """The distinct shingle codes of a key, in a stable order."""
    if size == 2 and len(key) > 2:  # the default, and the hot path: character pairs packed as above
        return sorted({(ord(a) << _CODE_BITS) | ord(b) for a, b in zip(key, key[1:], strict=False)})
    return sorted(shingle_code(s) for s in shingles(key, size))


def sketch(canonical: str, size: int) -> Sketch:
    """What the near-duplicate index keeps of a claim, from its canonical form: that form and its shingle codes."""
    return Sketch(canonical, codes(key_of(canonical), size))


def decide(key: str, normalized: str, candidates: Iterable[Candidate], *, shingle: int, threshold: float) -> Match:
    """The near-duplicate verdict on a claim with no exact match, given its candidates (in canonical form).

    A new claim carries the candidate it conflicts with, if any (see the module docstring)."""
    grams = shingles(key, shingle)
    mine: tuple[figs.Figure, ...] | None = None  # read when a candidate is close enough to need them
    masked_mine: set[str] | None = None
    best: Match = Match(None, "new", 0.0)
    conflict, conflict_score = None, 0.0
    for cand in candidates:
        theirs_grams = _stored_shingles(cand.key, shingle)
        score = jaccard(grams, theirs_grams)
        if score < threshold * UNRELATED:
            continue  # too unlike to be a reprint, even with its figures masked
        theirs = figs.read(cand.normalized)
        if mine is None:
            mine = figs.read(normalized)
        if not mine and not theirs:
            if score >= threshold and score > best.score:
                best = Match(cand.claim_id, "near", round(score, 4))
            continue
        relation = figs.relation(mine, theirs)
        if relation in (figs.SAME, figs.SUBSET):
            if score >= threshold and score > best.score:
                best = Match(cand.claim_id, "near", round(score, 4))
        elif relation == figs.CONFLICT:
            if masked_mine is None:
                masked_mine = shingles(_masked_key(normalized, mine), shingle)
            similar = max(score, jaccard(masked_mine, shingles(_masked_key(cand.normalized, theirs), shingle)))
            if similar >= threshold and similar > conflict_score:
                conflict, conflict_score = cand.claim_id, similar
    if best.claim_id is None and conflict is not None:
        return Match(None, "new", 0.0, conflict=conflict)
    return best


def clear_caches() -> None:
    """Forget the stored claims' shingle sets and figures cached for comparisons (a benchmark's cold lookups)."""
    _stored_shingles.cache_clear()
    figs.read.cache_clear()


@lru_cache(maxsize=1 << 15)  # stored claims recur as candidates: a document's hints, common neighbours
def _stored_shingles(key: str, size: int) -> frozenset[str]:
    return frozenset(shingles(key, size))


def _masked_key(normalized: str, found: Iterable[figs.Figure]) -> str:
    """The matching key of a text whose figures are each one placeholder character."""
    return key_of(figs.masked(normalized, found))
