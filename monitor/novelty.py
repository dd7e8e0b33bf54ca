"""Novelty: is a claim new, or already known (exactly, or as a near-duplicate)?

Pure decisions over what the store returns. Two tests, in order:

1. *exact*: the claim's matching key (normalized, letters and digits only) has the same 64-bit
   fingerprint as a stored claim's;
2. *near*: a stored claim whose character-shingle set has a Jaccard similarity of at least the
   threshold, and the same figures. Candidates come from a MinHash LSH index kept in the store
   (``bands`` x ``rows`` hash values per claim, one indexed row per band), so a lookup reads a few
   index entries whatever the store's size; only the candidates are compared exactly.

A near-duplicate that differs in a figure ("35万块" against "50万块") is not a reprint: it stays new,
and is a *conflict* with the stored claim when the two agree in everything else: as many figures,
at least one of them different, and a Jaccard similarity of at least ``CONFLICT_SIMILARITY`` once
every number is masked.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence

import numpy as np

from monitor.models import Candidate, Match, Sketch

_POLY = np.uint64(0x100000001B3)  # FNV's 64-bit prime, as a polynomial base over code points
_SHIFT = np.uint64(32)
#: bucket ids keep 31 bits, which SQLite stores in 4 bytes; among a million claims' 16 million bucket
#: rows about one lookup in eight meets a stray id, one more candidate for the signature screen to drop
_BUCKET_MASK = np.uint64((1 << 31) - 1)
#: how far below the threshold an estimated similarity may be and still get the exact comparison
ESTIMATE_MARGIN = 0.15
#: at most this many candidates, the best estimated, get the exact comparison
MAX_VERIFIED = 2
_NUMBER = re.compile(r"\d+(?:\.\d+)?")
#: how alike two claims must be, numbers masked, for differing figures to be a conflict
CONFLICT_SIMILARITY = 0.6


def fingerprint(key: str) -> int:
    """A signed 64-bit fingerprint of a matching key (fits an SQLite INTEGER)."""
    value = int.from_bytes(hashlib.blake2b(key.encode("utf-8"), digest_size=8).digest(), "big")
    return value - (1 << 64) if value >= 1 << 63 else value


def shingles(key: str, size: int) -> set[str]:
    """Character n-grams of a key; a key shorter than ``size`` is its own single shingle."""
    if len(key) <= size:
        return {key} if key else set()
    return {key[i : i + size] for i in range(len(key) - size + 1)}


def jaccard(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a | b) if a or b else 0.0


def figures(normalized: str) -> tuple[str, ...]:
    """The numbers a normalized text states, in order (``3.1``, ``35``, ``2024``)."""
    return tuple(_NUMBER.findall(normalized))


class Signer:
    """MinHash signatures and LSH band buckets for claims; built once from the novelty settings.

    A shingle's code is a polynomial hash of its code points; each of the ``bands * rows`` hash
    functions is a multiply-shift of that code; a band's bucket id mixes its ``rows`` minima and the
    band's number. All in numpy over the whole key, so one claim costs a few vector operations.
    """

    def __init__(self, *, shingle: int = 2, bands: int = 16, rows: int = 3, seed: int = 20240730) -> None:
        self.shingle, self.bands, self.rows = shingle, bands, rows
        #: what the buckets depend on; the store rebuilds its index when this changes
        self.parameters = f"minhash-ms31 shingle={shingle} bands={bands} rows={rows} seed={seed}"
        rng = np.random.default_rng(seed)
        perms = bands * rows
        self._a = rng.integers(1, 1 << 63, size=perms, dtype=np.uint64) | np.uint64(1)
        self._b = rng.integers(0, 1 << 63, size=perms, dtype=np.uint64)
        self._mix = rng.integers(1, 1 << 62, size=rows, dtype=np.uint64) | np.uint64(1)
        self._salt = np.arange(bands, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15)

    def _codes(self, key: str) -> np.ndarray:
        """One 64-bit code per character shingle of the key."""
        points = np.frombuffer(key.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
        width = min(self.shingle, len(points))
        count = len(points) - width + 1
        codes = points[:count].copy()
        for j in range(1, width):  # array arithmetic wraps modulo 2**64 without a warning
            codes = codes * _POLY + points[j : j + count]
        return codes  # repeated shingles repeat codes, which leaves every minimum as it is

    def sketch(self, key: str) -> Sketch:
        """The signature and band buckets of a claim's key (empty for an empty key)."""
        if not key:
            return Sketch(b"", [])
        hashed = (np.multiply.outer(self._codes(key), self._a) + self._b) >> _SHIFT
        signature = hashed.min(axis=0)
        banded = ((signature.reshape(self.bands, self.rows) * self._mix).sum(axis=1) ^ self._salt) & _BUCKET_MASK
        return Sketch(signature.astype(np.uint16).tobytes(), banded.tolist())


def estimate(signature: bytes, others: Sequence[bytes]) -> np.ndarray:
    """Jaccard similarities estimated from b-bit MinHash signatures of the same Signer, one per other."""
    if not others:
        return np.zeros(0)
    mine = np.frombuffer(signature, dtype=np.uint16)
    theirs = np.frombuffer(b"".join(others), dtype=np.uint16).reshape(len(others), -1)
    return np.asarray((theirs == mine).mean(axis=1))


def plausible(signature: bytes, candidates: Sequence[tuple[int, bytes]], threshold: float) -> list[int]:
    """The ids of the candidates worth the exact comparison: the ``MAX_VERIFIED`` best estimated, if
    their estimated similarity is close enough to the threshold (the estimate's error at 48 hash
    values is about 0.07; the margin is twice that)."""
    if not candidates:
        return []
    scores = estimate(signature, [sig for _, sig in candidates])
    best = np.argsort(-scores, kind="stable")[:MAX_VERIFIED]
    floor = threshold - ESTIMATE_MARGIN
    return [candidates[i][0] for i in best.tolist() if scores[i] >= floor]


def decide(key: str, normalized: str, candidates: Iterable[Candidate], *, shingle: int, threshold: float) -> Match:
    """The near-duplicate verdict on a claim with no exact match, given its (plausible) LSH candidates.

    A new claim carries the candidate it conflicts with, if any (see the module docstring)."""
    grams = shingles(key, shingle)
    mine = figures(normalized)
    best: Match = Match(None, "new", 0.0)
    conflict, conflict_score = None, 0.0
    for cand in candidates:
        theirs = figures(cand.normalized)
        score = jaccard(grams, shingles(cand.key, shingle))
        if score >= threshold and score > best.score and theirs == mine:
            best = Match(cand.claim_id, "near", round(score, 4))
        elif mine and len(theirs) == len(mine) and theirs != mine:
            masked = jaccard(shingles(_masked(key), shingle), shingles(_masked(cand.key), shingle))
            if masked >= CONFLICT_SIMILARITY and masked > conflict_score:
                conflict, conflict_score = cand.claim_id, masked
    if best.claim_id is None and conflict is not None:
        return Match(None, "new", 0.0, conflict=conflict)
    return best


def _masked(key: str) -> str:
    """A matching key with every number replaced by one placeholder letter."""
    return _NUMBER.sub("#", key)
