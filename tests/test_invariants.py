"""Invariants of claims on every real input the repository holds: the seeds, the development set and the
extraction sets' pages, each extracted as the pipeline extracts it and split as the pipeline splits it.

- A claim's text, speaker aside, is a verbatim piece of its document's extracted text.
- A claim carries a speaker only when its paragraph starts with that label: the source says who speaks.
- A claim's normalized text and key are those of its own text (a claim cut after a marker included).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from helpers import DEV, EXTRACTION, ROOT, SEEDS

from monitor.claims import split
from monitor.extract import extract
from monitor.models import Claim, Document, Fetched
from monitor.normalize import Normalizer, key_of

NORM = Normalizer("t2s")
PATHS = sorted([*SEEDS.glob("*.txt"), *DEV.glob("*.htm*"), *DEV.glob("*.txt"), *EXTRACTION.glob("*/html/*.htm*")])


def _extract(path: Path) -> Document:
    data = path.read_bytes()
    kind = "html" if path.suffix in (".html", ".htm") else "text"
    return extract(Fetched(locator=str(path), data=data, content_hash=hashlib.sha256(data).hexdigest(),
                           source="test", kind=kind))


@pytest.fixture(scope="module")
def documents() -> dict[str, tuple[Document, list[Claim]]]:
    """Each input by its path in the repository: its document and its claims."""
    docs = {path.relative_to(ROOT).as_posix(): _extract(path) for path in PATHS}
    return {name: (doc, split(doc.text, NORM.normalize_many, key_of)[0]) for name, doc in docs.items()}


def test_every_set_is_read(documents: dict[str, tuple[Document, list[Claim]]]) -> None:
    assert len(list(SEEDS.glob("*.txt"))) == 5 and len(documents) >= 80
    assert sum(len(claims) for _, claims in documents.values()) > 2000


def test_a_claim_is_verbatim_in_its_document(documents: dict[str, tuple[Document, list[Claim]]]) -> None:
    missing = [(name, claim.text) for name, (doc, claims) in documents.items()
               for claim in claims if claim.text not in doc.text]
    assert not missing, missing[:5]


def test_a_claim_is_normalized_and_keyed_from_its_own_text(documents: dict[str, tuple[Document, list[Claim]]]) -> None:
    claims = [claim for _, found in documents.values() for claim in found]
    normalized = NORM.normalize_many([claim.text for claim in claims])
    wrong = [(c.text, c.normalized) for c, n in zip(claims, normalized, strict=True)
             if (c.normalized, c.key) != (n, key_of(n))]
    assert not wrong, wrong[:5]


def test_a_speaker_is_stated_at_the_start_of_its_paragraph(documents: dict[str, tuple[Document, list[Claim]]]) -> None:
    unstated = []
    for name, (doc, claims) in documents.items():
        paragraphs = [NORM.normalize(line) for line in doc.text.splitlines() if line.strip()]
        for claim in claims:
            if claim.speaker is None:
                continue
            # the paragraph the claim is in (the first that holds it) starts with its speaker's label
            holder = next(p for p in paragraphs if claim.normalized in p)
            if not holder.casefold().startswith(claim.speaker.casefold()):
                unstated.append((name, claim.speaker, claim.text))
    assert not unstated, unstated[:5]


def test_only_people_and_roles_speak(documents: dict[str, tuple[Document, list[Claim]]]) -> None:
    # the transcripts' speakers keep their turns; no heading (随时随地部署, 当前位置, 测试), notice (Notice) or
    # one-off attribution (汉森指出, 张爱玲曾说过) of the extraction pages is taken for a speaker
    speakers: dict[str, set[str]] = {}
    for name, (_, claims) in documents.items():
        for claim in claims:
            if claim.speaker:
                speakers.setdefault(claim.speaker, set()).add(name)
    # 记者 and 李金泽 take turns in an interview of the extraction set
    assert speakers.keys() == {"黄仁勋", "扎克伯格", "记者", "李金泽"}, speakers
    turns = {name: sum(c.speaker is not None for c in claims) for name, (_, claims) in documents.items()}
    assert turns["seeds/003_aa0ab3df86477d7e.txt"] > 100
    assert turns["eval/dev/digipulse-20240731-qa.html"] >= 15
