"""Claims: a document's text split into sentence-sized statements, boilerplate dropped.

Pure: text in, claims out. A *claim* is one sentence (ended by a Chinese or Western sentence mark, with
any closing quotes or brackets kept on it), or one line of text that has no such mark but is long enough
to say something. A claim's text is always a verbatim piece of the document's text.

A transcript turn ``扎克伯格：…`` gives the sentences of that paragraph a speaker (not the paragraphs after
it: a transcript's unlabelled paragraphs are often someone else's). A label is a speaker only when it says
who speaks (a known person, a role, or a name-like label the document repeats: see ``data/speakers.toml``);
a heading run into its paragraph (``随时随地部署：…``) is not.

Fragments too short to be a claim, short unpunctuated lines (headings), runs too long to be one sentence (a
list, a flattened table: ``MAX_CLAIM_CHARS``) and boilerplate (see
``data/boilerplate.toml``) become :class:`~monitor.models.Dropped` values with the rule that dropped them,
so ``explain`` can show them. A marker glued to the start of a sentence (``(接上期)``) is cut off, and the
rest of the sentence judged on its own.
"""

from __future__ import annotations

import re
import tomllib
from collections import Counter
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
#: a "sentence" longer than this is a list or a run-on (a conference programme, a table flattened into one line,
#: a page of one letter), not one claim: on the seeds, the dev set and the 76 extraction pages every run over 560
#: characters is a conference programme or a forum dump, and the six over this limit are such listings
MAX_CLAIM_CHARS = 1000
#: a transcript speaker label: a short name followed by a colon at the start of a line
_SPEAKER_WINDOW = 40
_SPEAKER = re.compile(r"^\s*([\u3400-\u9fff·・]{1,10}|[A-Za-z][A-Za-z.\- ]{0,24})\s*[：:]\s*(?=\S)")
#: how a speaker's name is written when only its repetition says it is one: a short Chinese name, a
#: transliterated one (马克·扎克伯格), or one to three capitalised Latin words
_NAME_LIKE = re.compile(
    r"[\u3400-\u9fff]{1,4}|[\u3400-\u9fff]{1,8}[·・][\u3400-\u9fff·・]{1,12}|[A-Z][a-z]+(?: [A-Z][a-z]+){0,2}"
)
#: a label that starts this many paragraphs of a document is a transcript's speaker (if written like a name)
_TURNS = 2
#: the longest marker looked for at the start of a sentence, in characters
_MARKER_WINDOW = 60


@dataclass(frozen=True)
class Rule:
    """One boilerplate rule (or leading marker) from ``data/boilerplate.toml``."""

    name: str
    pattern: re.Pattern[str]
    max_chars: int | None = None
    #: when it drops the first sentence of a paragraph, the rest of the paragraph goes with it
    paragraph: bool = False

    def matches(self, normalized: str) -> bool:
        if self.max_chars is not None and len(normalized) > self.max_chars:
            return False
        return self.pattern.search(normalized) is not None


@lru_cache(maxsize=1)
def _boilerplate_file() -> dict[str, list[dict[str, object]]]:
    raw = tomllib.loads(resources.files("monitor.data").joinpath("boilerplate.toml").read_text("utf-8"))
    return {"rule": raw.get("rule", []), "marker": raw.get("marker", [])}


def _rules(kind: str) -> tuple[Rule, ...]:
    return tuple(
        Rule(str(r["name"]), re.compile(str(r["pattern"]), re.IGNORECASE),
             int(str(r["max_chars"])) if "max_chars" in r else None, bool(r.get("paragraph", False)))
        for r in _boilerplate_file()[kind]
    )


@lru_cache(maxsize=1)
def boilerplate_rules() -> tuple[Rule, ...]:
    """The shipped boilerplate rules, in file order."""
    return _rules("rule")


@lru_cache(maxsize=1)
def marker_rules() -> tuple[Rule, ...]:
    """The shipped leading markers (furniture glued to the start of a sentence), in file order."""
    return _rules("marker")


def _alternatives(pattern: str) -> list[str]:
    """The top-level alternatives of a regular expression (split at each ``|`` outside groups and sets)."""
    parts, depth, in_set, start, i = [], 0, False, 0, 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\":
            i += 1
        elif in_set:
            in_set = ch != "]"
        elif ch == "[":
            in_set, i = True, i + (pattern[i + 1 : i + 2] == "]")  # "[]…]": a "]" first is a member
        elif ch in "()":
            depth += 1 if ch == "(" else -1
        elif ch == "|" and depth == 0:
            parts.append(pattern[start:i])
            start = i + 1
        i += 1
    return [*parts, pattern[start:]]


@lru_cache(maxsize=1)
def _any_rule() -> tuple[re.Pattern[str], re.Pattern[str]]:
    """All rules in two patterns, so a clean sentence costs two searches, not one per rule: the alternatives
    anchored at the start (tried there only, with ``match``) and the others (``search``)."""
    alternatives = [alt for rule in boilerplate_rules() for alt in _alternatives(rule.pattern.pattern)]
    anchored = [alt for alt in alternatives if alt.startswith("^")]
    floating = [alt for alt in alternatives if not alt.startswith("^")]
    return (re.compile("|".join(f"(?:{alt})" for alt in anchored) or "(?!)", re.IGNORECASE),
            re.compile("|".join(f"(?:{alt})" for alt in floating) or "(?!)", re.IGNORECASE))


@lru_cache(maxsize=1)
def _any_marker() -> re.Pattern[str]:
    """All markers in one pattern (one that never matches when there are none)."""
    return re.compile("|".join(f"(?:{r.pattern.pattern})" for r in marker_rules()) or "(?!)", re.IGNORECASE)


def _fold(label: str) -> str:
    return " ".join(label.split()).casefold()


@lru_cache(maxsize=1)
def not_speakers() -> frozenset[str]:
    """Labels that look like a speaker but are not (``来源：``, ``作者：``, ``Q:`` ...), case-folded."""
    text = resources.files("monitor.data").joinpath("not_speakers.txt").read_text("utf-8")
    return frozenset(_fold(line) for line in text.splitlines() if line.strip() and not line.startswith("#"))


@dataclass(frozen=True)
class Speakers:
    """Who may speak, from ``data/speakers.toml`` (people by all their names in ``data/aliases.toml``)."""

    #: case-folded names of known people
    names: frozenset[str]
    #: case-folded role words (主持人, moderator ...)
    roles: frozenset[str]
    #: verbs that may follow a name or role in a label (扎克伯格说：), longest first
    verbs: tuple[str, ...]


@lru_cache(maxsize=1)
def speakers() -> Speakers:
    """The shipped table of who may speak."""
    data = resources.files("monitor.data")
    table = tomllib.loads(data.joinpath("speakers.toml").read_text("utf-8"))
    aliases = tomllib.loads(data.joinpath("aliases.toml").read_text("utf-8")).get("alias", [])
    people = {_fold(name) for name in table["people"]}
    names = set(people)
    for alias in aliases:
        if _fold(alias["canonical"]) in people:
            names.update(_fold(name) for name in alias["names"])
    verbs = tuple(sorted(table["speech_verbs"], key=len, reverse=True))
    return Speakers(frozenset(names), frozenset(_fold(role) for role in table["roles"]), verbs)


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
    labels = [_label(head) for head in normalized_all[: len(heads)]]
    turns = Counter(_fold(label) for label in labels if label)
    speaker_of = [_speaker(label, turns[_fold(label)] >= _TURNS) if label else None for label in labels]
    # a label that opens a quote (扎克伯格说：“…”) speaks only inside it: not in what the paragraph says after
    quoting = [bool(label and _opens_quote(head)) for label, head in zip(labels, normalized_all, strict=False)]
    depth = 0
    claims: list[Claim] = []
    dropped: list[Dropped] = []
    previous, paragraph_rule = -1, None
    for (index, sentence), normalized in zip(pieces, normalized_all[len(heads) :], strict=True):
        first, previous = index != previous, index
        if first:
            paragraph_rule, depth = None, 0
        elif quoting[index] and depth <= 0:
            speaker_of[index] = None  # the quote has closed: the rest of the paragraph is the writer's
        depth += sum(map(normalized.count, _QUOTE_OPENS)) - sum(map(normalized.count, _QUOTE_CLOSES))
        if not first and paragraph_rule:
            dropped.append(Dropped(sentence, paragraph_rule, len(claims)))
            continue
        marker = _marker(sentence, normalized, normalize) if _any_marker().search(normalized) else None
        if marker:
            cut, rule_name, rest, rest_normalized = marker
            rest_key = key(rest_normalized)
            # a marker alone is a line of furniture: a rule may know it better ("(记者 张三)" is a byline)
            rule = _drop_rule(rest, rest_normalized, rest_key) if rest else _boilerplate(normalized) or rule_name
            if rule:
                dropped.append(Dropped(sentence, rule, len(claims)))
            else:
                dropped.append(Dropped(cut, rule_name, len(claims)))
                claims.append(Claim(rest, rest_normalized, rest_key, len(claims), speaker_of[index]))
            continue
        matching = key(normalized)
        rule = _drop_rule(sentence, normalized, matching)
        if rule:
            dropped.append(Dropped(sentence, rule, len(claims)))
            if first and _opens_paragraph(normalized):
                paragraph_rule = rule
        else:
            claims.append(Claim(sentence, normalized, matching, len(claims), speaker_of[index]))
    return claims, dropped


#: quotation marks that open and close a quote (straight quotes, which do both, are left out)
_QUOTE_OPENS = "“「『"
_QUOTE_CLOSES = "”」』"


def _opens_quote(normalized_head: str) -> bool:
    """Whether the paragraph's label is followed by an opening quotation mark (扎克伯格说：“…)."""
    match = _SPEAKER.match(normalized_head)
    return bool(match) and normalized_head[match.end() : match.end() + 1] in tuple(_QUOTE_OPENS)  # type: ignore[union-attr]


def _label(normalized_head: str) -> str | None:
    """The label before a colon at the start of a paragraph (a speaker, a heading, a notice ...), if any."""
    match = _SPEAKER.match(normalized_head)
    return (match.group(1).strip() or None) if match else None


def _speaker(label: str, repeated: bool) -> str | None:
    """The speaker a paragraph's label names, or None when the label does not say who speaks.

    A known person (by any of their names) or a role speaks; so does either followed by a speech verb
    (扎克伯格说：, the speaker being the name); so does a label written like a name that starts several
    paragraphs (``repeated``). Labels in ``not_speakers.txt`` and labels with digits never do.
    """
    folded, table = _fold(label), speakers()
    if folded in not_speakers() or any(ch.isdigit() for ch in label):
        return None
    if folded in table.names or folded in table.roles:
        return label
    for verb in table.verbs:
        name = folded.removesuffix(verb)
        if name != folded and (name in table.names or name in table.roles):
            return label[: len(label) - len(verb)].rstrip()
    if repeated and _NAME_LIKE.fullmatch(label):
        return label
    return None


def _marker(
    sentence: str, normalized: str, normalize: Callable[[Sequence[str]], list[str]]
) -> tuple[str, str, str, str] | None:
    """(marker as written, its rule's name, the rest as written, the rest normalized) for a sentence that
    starts with a marker; None if none, or if the marker's end cannot be found in the sentence as written."""
    rule = next((r for r in marker_rules() if r.matches(normalized)), None)
    match = rule.pattern.search(normalized) if rule else None
    if rule is None or match is None:
        return None
    marker = normalized[: match.end()].rstrip()
    prefixes = [sentence[:end] for end in range(1, min(len(sentence), _MARKER_WINDOW) + 1)]
    for prefix, prefix_normalized in zip(prefixes, normalize(prefixes), strict=True):
        if prefix_normalized.rstrip() == marker:
            return prefix.strip(), rule.name, sentence[len(prefix) :].strip(), normalized[match.end() :].strip()
    return None


def _opens_paragraph(normalized: str) -> bool:
    """True when a rule that drops a whole paragraph (a notice, an editor's note) matches its first sentence."""
    return any(r.paragraph and r.matches(normalized) for r in boilerplate_rules())


def _boilerplate(normalized: str) -> str | None:
    """The name of the first boilerplate rule that matches the normalized sentence, if any."""
    anchored, floating = _any_rule()
    if anchored.match(normalized) or floating.search(normalized):
        for rule in boilerplate_rules():
            if rule.matches(normalized):
                return rule.name
    return None


def _drop_rule(sentence: str, normalized: str, key: str) -> str | None:
    if len(sentence) > MAX_CLAIM_CHARS:
        return "too-long"
    if rule := _boilerplate(normalized):
        return rule
    if len(key) < MIN_KEY_CHARS:
        return "too-short"
    if len(key) <= MAX_HEADING_CHARS and sentence[-1] not in _ENDS and sentence[-1] not in _CLOSERS:
        return "heading"
    return None
