"""Claims: a document's text split into sentence-sized statements, boilerplate dropped.

Pure: text in, claims out. A *claim* is one sentence (ended by a Chinese or Western sentence mark, with
any closing quotes or brackets kept on it), or one line of text that has no such mark but is long enough
to say something. A transcript turn ``扎克伯格：…`` gives the sentences of that paragraph a speaker (not the
paragraphs after it: a transcript's unlabelled paragraphs are often someone else's). Fragments too short to
be a claim, short unpunctuated lines (headings) and boilerplate (see ``data/boilerplate.toml``) become
:class:`~monitor.models.Dropped` values with the rule that dropped them, so ``explain`` can show them.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from monitor.models import Claim, Dropped

#: marks that end a sentence
_ENDS = frozenset("。！？!?…；;")
#: closing quotes and brackets that stay with the sentence they close
_CLOSERS = frozenset("”’\"'」』）)】》〉]")
#: a run of end marks with the closing quotes and brackets after it
_CUT = re.compile("[" + re.escape("".join(_ENDS) + ".") + "][" + re.escape("".join(_ENDS | _CLOSERS) + ".") + "]*")
#: a sentence needs at least this many letters or digits (a CJK character counts one)
MIN_KEY_CHARS = 8
#: an unpunctuated line of at most this many letters or digits is a heading, not a claim
MAX_HEADING_CHARS = 24
#: a transcript speaker label: a short name followed by a colon at the start of a line
_SPEAKER_WINDOW = 40
_SPEAKER = re.compile(r"^\s*([\u3400-\u9fff·・]{1,6}|[A-Za-z][A-Za-z.\- ]{0,24})\s*[：:]\s*(?=\S)")


@dataclass(frozen=True)
class Rule:
    """One boilerplate rule from ``data/boilerplate.toml``."""

    name: str
    pattern: re.Pattern[str]
    max_chars: int | None = None

    def matches(self, normalized: str) -> bool:
        if self.max_chars is not None and len(normalized) > self.max_chars:
            return False
        return self.pattern.search(normalized) is not None


@lru_cache(maxsize=1)
def boilerplate_rules() -> tuple[Rule, ...]:
    """The shipped boilerplate rules, in file order."""
    raw = tomllib.loads(resources.files("monitor.data").joinpath("boilerplate.toml").read_text("utf-8"))
    return tuple(
        Rule(r["name"], re.compile(r["pattern"], re.IGNORECASE), r.get("max_chars")) for r in raw["rule"]
    )


@lru_cache(maxsize=1)
def _any_rule() -> re.Pattern[str]:
    """All rules in one pattern, so a clean sentence costs one search, not one per rule."""
    return re.compile("|".join(f"(?:{r.pattern.pattern})" for r in boilerplate_rules()), re.IGNORECASE)


@lru_cache(maxsize=1)
def not_speakers() -> frozenset[str]:
    """Labels that look like a speaker but are not (``来源：``, ``作者：`` ...)."""
    text = resources.files("monitor.data").joinpath("not_speakers.txt").read_text("utf-8")
    return frozenset(line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#"))


def sentences(paragraph: str) -> Iterator[str]:
    """Split one paragraph into sentences, keeping end marks and closing quotes with their sentence.

    Marks inside a 《book title》 belong to the title; a '.' ends a sentence only as a Western full stop.
    """
    start = 0
    for mark in _CUT.finditer(paragraph):
        if mark.group()[0] == "." and not _western_stop(paragraph, mark.start()):
            continue
        before = paragraph[start : mark.start()]
        if before.count("《") > before.count("》"):
            continue
        piece = paragraph[start : mark.end()].strip()
        if piece:
            yield piece
        start = mark.end()
    tail = paragraph[start:].strip()
    if tail:
        yield tail


def _western_stop(text: str, i: int) -> bool:
    """A '.' ends a sentence when a letter precedes it and white space (or the end) follows."""
    before = text[i - 1] if i > 0 else ""
    after = text[i + 1] if i + 1 < len(text) else ""
    if not before.isalpha() or not (after == "" or after.isspace() or after in _CLOSERS):
        return False
    word = text[:i].rsplit(None, 1)[-1] if text[:i].strip() else ""
    return len(word) > 2 or word[:1].islower()  # not "Mr", "Dr", "U.S" initials


def split(
    text: str, normalize: Callable[[Sequence[str]], list[str]], key: Callable[[str], str]
) -> tuple[list[Claim], list[Dropped]]:
    """Split a document's main text into claims and dropped sentences, in document order.

    ``normalize`` is :meth:`monitor.normalize.Normalizer.normalize_many`, ``key`` is
    :func:`monitor.normalize.key_of`; rules and keys work on the normalized text.
    """
    paragraphs = [p.strip() for p in text.splitlines() if p.strip()]
    pieces = [(index, sentence) for index, paragraph in enumerate(paragraphs) for sentence in sentences(paragraph)]
    heads = [paragraph[:_SPEAKER_WINDOW] for paragraph in paragraphs]
    normalized_all = normalize(heads + [sentence for _, sentence in pieces])
    speakers = [_speaker(head) for head in normalized_all[: len(heads)]]
    claims: list[Claim] = []
    dropped: list[Dropped] = []
    for (index, sentence), normalized in zip(pieces, normalized_all[len(heads) :], strict=True):
        matching = key(normalized)
        rule = _drop_rule(sentence, normalized, matching)
        if rule:
            dropped.append(Dropped(sentence, rule, len(claims)))
        else:
            claims.append(Claim(sentence, normalized, matching, len(claims), speakers[index]))
    return claims, dropped


def _speaker(normalized_paragraph: str) -> str | None:
    match = _SPEAKER.match(normalized_paragraph)
    if not match:
        return None
    label = match.group(1).strip()
    if not label or label in not_speakers() or any(ch.isdigit() for ch in label):
        return None
    return label


def _drop_rule(sentence: str, normalized: str, key: str) -> str | None:
    if _any_rule().search(normalized):
        for rule in boilerplate_rules():
            if rule.matches(normalized):
                return rule.name
    if len(key) < MIN_KEY_CHARS:
        return "too-short"
    if len(key) <= MAX_HEADING_CHARS and sentence[-1] not in _ENDS and sentence[-1] not in _CLOSERS:
        return "heading"
    return None
