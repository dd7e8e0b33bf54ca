"""Newly corroborated claims: with ``[digest] corroborated = true``, a digest also lists the claims of earlier
digests that documents seen since the last delivered digest carry too. Real seeds, real reprinted seed
sentences, real dev-set novel sentences; the pipeline delivers to a real outbox."""

from __future__ import annotations

import email
import email.policy
import json
from dataclasses import replace
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from helpers import DEV, drop

from monitor import config
from monitor.delivery import OutboxMailer
from monitor.digest import to_json
from monitor.errors import ConfigError
from monitor.models import RunReport
from monitor.pipeline import Deps, run_once
from monitor.store import Store


def novel_sentences(count: int) -> list[str]:
    """Sentences of the dev set labelled novel: found in no seed."""
    labels = json.loads((DEV / "labels.json").read_text("utf-8"))
    found = [s["text"] for d in labels["documents"] for s in d["sentences"] if s["label"] == "novel"]
    return list(dict.fromkeys(found))[:count]


def load(work: Path, corroborated: bool) -> config.Settings:
    path = work / "corpus-monitor.toml"
    path.write_text(f"[digest]\ncorroborated = {str(corroborated).lower()}\n", encoding="utf-8")
    return config.load(path, cwd=work, environ={})


def write(work: Path, name: str, title: str, sentences: list[str]) -> Path:
    """A new plain-text document in the watched folder: a heading line, then one sentence a paragraph."""
    return drop(work / "seeds" / name, "\n\n".join([title, *sentences]) + "\n")


def doc_id(payload: dict[str, Any], path: Path) -> int:
    (found,) = [d["id"] for d in payload["documents"] if d["path"] == str(path.resolve())]
    return int(found)


def outbox(settings: config.Settings) -> list[Path]:
    return sorted(settings.outbox.glob("*.eml"))


def plain_text(path: Path) -> str:
    message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    body = message.get_body(("plain",))
    assert isinstance(body, EmailMessage)
    return str(body.get_content())


def picks(first: dict[str, Any], seed_prefix: str, carried_by: int, count: int) -> list[dict[str, Any]]:
    """``count`` claims of the first digest first seen in the seed ``seed_prefix``, carried by ``carried_by``
    documents, without a speaker, spread over the document, in its order (ids follow it)."""
    (seed_doc,) = [d["id"] for d in first["documents"] if (d["path"] or "").split("/")[-1].startswith(seed_prefix)]
    chosen = sorted((c for c in first["claims"] if c["document"] == seed_doc and len(c["sources"]) == carried_by
                     and c["speaker"] is None), key=lambda c: c["id"])
    assert len(chosen) >= count
    step = len(chosen) // count
    return chosen[::step][:count]


def test_reprints_of_known_claims_are_listed_with_their_new_source(work: Path) -> None:
    on = load(work, corroborated=True)
    off = replace(on, corroborated=False)
    with Store(on.store_path) as store:
        deps = Deps.of(store, on, mailer=OutboxMailer(on.outbox))
        first_report = run_once(on, deps)
        assert first_report.delivered_to and first_report.digest is not None
        assert first_report.digest.corroborated == (), "nothing is corroborated before a first digest is delivered"
        first = to_json(first_report.digest)

        # three claims only seed 002 carried, one that seeds 000 and 004 both carried, and one new sentence
        single = picks(first, "002", carried_by=1, count=3)
        double = picks(first, "000", carried_by=2, count=1)
        (novel,) = novel_sentences(1)
        reprinted = [*single, *double]
        reprint = write(work, "zz-reprint.txt", "转载：黄仁勋与扎克伯格对谈",
                        [single[0]["text"], single[1]["text"], novel, double[0]["text"], single[2]["text"]])

        flag_on, flag_off = run_once(on, deps, dry_run=True), run_once(off, deps, dry_run=True)
        assert flag_on.digest is not None and flag_off.digest is not None
        payload, without = to_json(flag_on.digest), to_json(flag_off.digest)
        assert [c["text"] for c in payload["claims"]] == [novel] == [c["text"] for c in without["claims"]]
        new_doc = doc_id(payload, reprint)
        expected = [
            {"claim": c["id"], "text": c["text"], "new_sources": [new_doc], "sources_total": len(c["sources"]) + 1}
            for c in reprinted
        ]
        key = {c["id"]: (c["document"], c["id"]) for c in first["claims"]}  # in order of their first documents
        assert payload["corroborated"] == sorted(expected, key=lambda item: key[item["claim"]])
        assert {item["sources_total"] for item in payload["corroborated"]} == {2, 3}
        assert without["corroborated"] == [], "off: no section"
        assert flag_on.rendered is not None and flag_off.rendered is not None
        assert "== Newly corroborated ==" in flag_on.rendered.text
        assert "Newly corroborated" not in flag_off.rendered.text and "Newly corroborated" not in flag_off.rendered.html
        assert flag_on.rendered.subject == flag_off.rendered.subject
        assert flag_on.rendered.subject.endswith(" — 1 new claim from 1 document")

        second = run_once(on, deps)
        assert second.delivered_to and len(outbox(on)) == 2
        (sent,) = [path for path in outbox(on) if str(path) != first_report.delivered_to]
        text = plain_text(sent).replace("\r\n", "\n")
        section = text[text.index("== Newly corroborated =="):]
        assert text.index(novel) < text.index("== Newly corroborated ==")
        for claim in reprinted:
            assert claim["text"] in section
        assert "carried by 3 documents; new: 转载：黄仁勋与扎克伯格对谈" in section


def test_reprints_alone_send_nothing_and_wait_for_the_next_digest(work: Path) -> None:
    on = load(work, corroborated=True)
    with Store(on.store_path) as store:
        deps = Deps.of(store, on, mailer=OutboxMailer(on.outbox))
        first_report = run_once(on, deps)
        assert first_report.digest is not None
        first = to_json(first_report.digest)
        reprinted = picks(first, "001", carried_by=1, count=3)
        reprint = write(work, "zz-reprint.txt", "转载：扎克伯格谈AGI", [c["text"] for c in reprinted])

        quiet = run_once(on, deps)
        assert quiet.new_claims == 0 and quiet.digest is None and quiet.delivered_to is None
        assert len(outbox(on)) == 1, "reprints alone send no digest"
        waiting = store.unreported(datetime.now(UTC), corroborated=True)
        assert waiting.claims == () and [c.claim for c in waiting.corroborated] == [c["id"] for c in reprinted]

        # a new claim, in two new documents: new, carried by 2, and not "corroborated" (it was in no digest)
        (novel,) = novel_sentences(1)
        write(work, "zz-news-1.txt", "新消息", [novel])
        write(work, "zz-news-2.txt", "新消息转载", [novel])  # ingested second: its name sorts after
        later: RunReport = run_once(on, deps)
        assert later.delivered_to and later.digest is not None and len(outbox(on)) == 2
        payload = to_json(later.digest)
        (claim,) = payload["claims"]
        assert claim["text"] == novel and len(claim["sources"]) == 2
        new_doc = doc_id(payload, reprint)
        assert [(c["claim"], c["new_sources"]) for c in payload["corroborated"]] == [
            (c["id"], [new_doc]) for c in reprinted
        ], "the reprints seen while nothing was sent ride along with the next digest"
        assert later.rendered is not None
        assert f"  * {novel}\n    carried by 2 documents; also in: 新消息转载\n" in later.rendered.text

        # delivered now: the next digest does not list them again
        write(work, "zz-more.txt", "又一条新消息", novel_sentences(2)[1:])
        after = run_once(on, deps)
        assert after.digest is not None and after.digest.corroborated == ()


def test_the_setting_is_checked_and_described(work: Path) -> None:
    assert config.load(None, cwd=work, environ={}).corroborated is False
    on = load(work, corroborated=True)
    assert on.corroborated is True
    assert any(line.endswith("; lists newly corroborated claims") for line in config.describe(on))
    assert not any("corroborated" in line for line in config.describe(replace(on, corroborated=False)))
    path = work / "bad.toml"
    path.write_text('[digest]\ncorroborated = "yes"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="digest.corroborated: expected true or false"):
        config.load(path, cwd=work, environ={})


def test_a_run_with_nothing_new_still_prints_every_json_key(work: Path) -> None:
    from test_cli import cli

    assert cli("digest", cwd=work).returncode == 0
    res = cli("digest", "--format", "json", cwd=work)
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout).keys() == {"generated_at", "documents", "claims", "corroborated"}
