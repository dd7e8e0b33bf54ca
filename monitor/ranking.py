"""Ranking: within each document, the digest lists new claims with figures, quotes or announcements first.

Pure: a claim's normalized text (and its transcript speaker) in, its cues out. The cues are data, in
``data/ranking.toml``, whose header states the rule; :func:`ranked` is a stable sort, so the order of the
documents and the order of the claims within each part stay as they were. Ranking changes the order a
digest lists its claims in, never which claims it lists.
"""

from __future__ import annotations

import re
import tomllib
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from monitor.models import DigestClaim

FIGURE = "figure"
QUOTE = "quote"
ANNOUNCEMENT = "announcement"

#: a digit that starts a number not glued to a Latin letter or a hyphen (H100, SAM2 and GPT-4 are names)
_DIGIT = r"(?<![A-Za-z0-9.\-])\d"


@dataclass(frozen=True)
class Cues:
    """The compiled cues of a ranking table (see ``data/ranking.toml``)."""

    figure: re.Pattern[str]
    quote: re.Pattern[str]
    announcement: re.Pattern[str]
    #: a whole figure as written (35万, 1,500, 90%, 三十五万, 两小时), for marking it in a digest
    figure_span: re.Pattern[str]


def compile_table(text: str) -> Cues:
    """The cues of a ranking table given as TOML text."""
    raw = tomllib.loads(text)
    numerals = raw["figures"]["numerals"]
    units = "|".join(map(re.escape, sorted(raw["figures"]["units"], key=len, reverse=True)))
    single = "".join(ch for ch in numerals if ch != "一")
    chinese = rf"(?:[{re.escape(numerals)}]{{2,}}|[{re.escape(single)}])(?:{units})"
    figure = rf"{_DIGIT}|{chinese}"
    span = rf"{_DIGIT}(?:[\d.,]*\d)?\s?(?:%|{units})?|{chinese}"
    pairs = raw["quotes"]["pairs"]
    opens = re.escape("".join(pair[0] for pair in pairs))
    closes = re.escape("".join(pair[1] for pair in pairs))
    least = int(raw["quotes"]["min_chars"])
    quote = rf"[{opens}][^{closes}]{{{least},}}|^[^{opens}{closes}]{{{least},}}[{closes}]|:\s*[{opens}]"
    words = [rf"(?<![A-Za-z]){re.escape(w)}" if w.isascii() else re.escape(w) for w in raw["announcements"]["words"]]
    return Cues(re.compile(figure), re.compile(quote), re.compile("|".join(words), re.IGNORECASE), re.compile(span))


@lru_cache(maxsize=1)
def shipped() -> Cues:
    """The cues of the shipped table, ``monitor/data/ranking.toml``."""
    return compile_table(resources.files("monitor.data").joinpath("ranking.toml").read_text("utf-8"))


@lru_cache(maxsize=1 << 15)  # a digest sorts its claims more than once: by rank, then by weight
def cues(normalized: str, speaker: str | None = None, table: Cues | None = None) -> frozenset[str]:
    """Which of FIGURE, QUOTE and ANNOUNCEMENT a claim carries (a transcript turn with a speaker is a quote)."""
    table = table or shipped()
    found = set()
    if table.figure.search(normalized):
        found.add(FIGURE)
    if speaker or table.quote.search(normalized):
        found.add(QUOTE)
    if table.announcement.search(normalized):
        found.add(ANNOUNCEMENT)
    return frozenset(found)


def rank(normalized: str, speaker: str | None = None, table: Cues | None = None) -> int:
    """0 for a claim carrying any cue (listed first), 1 for the rest."""
    return 0 if cues(normalized, speaker, table) else 1


def weight(normalized: str, speaker: str | None = None, table: Cues | None = None) -> int:
    """How many kinds of cue a claim carries (0 to 3): the digest's highlights are the weightiest claims."""
    return len(cues(normalized, speaker, table))


def figure_spans(text: str, table: Cues | None = None) -> list[tuple[int, int]]:
    """Where the figures of a claim stand in its text (any script: full-width digits count)."""
    table = table or shipped()
    # NFKC keeps the length of digits and CJK, so spans found in it stand where they are in the text
    folded = unicodedata.normalize("NFKC", text)
    source = folded if len(folded) == len(text) else text
    return [m.span() for m in table.figure_span.finditer(source)]


def ranked(claims: Sequence[DigestClaim], table: Cues | None = None) -> tuple[DigestClaim, ...]:
    """The claims grouped by document (in the order their documents first come), and within each document
    those with a cue first; otherwise in the order given."""
    group: dict[int, int] = {}
    for claim in claims:
        group.setdefault(claim.document, len(group))
    return tuple(sorted(claims, key=lambda c: (group[c.document], rank(c.normalized, c.speaker, table))))
