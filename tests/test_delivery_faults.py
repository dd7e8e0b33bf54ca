"""Dependable delivery, through the real command line and a real SMTP server (aiosmtpd on 127.0.0.1):
a server that is down, one that answers 4xx, a process killed between the server's acceptance and our
commit. No claim is lost; none is reported twice; a resent digest carries its first Message-ID."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from conftest import SmtpServer, StoreSpot
from helpers import drop, seed_claims
from test_cli import cli, eml_files, novel_sentences, parse

from monitor.normalize import Normalizer

NORM = Normalizer("t2s")


def smtp_config(work: Path, port: int) -> None:
    (work / "corpus-monitor.toml").write_text(
        '[digest]\nfrom = "monitor@example.org"\nto = ["reader@example.org"]\n'
        f'[smtp]\nhost = "127.0.0.1"\nport = {port}\nsecurity = "none"\ntimeout_seconds = 10\n',
        encoding="utf-8",
    )


def store(work: Path) -> sqlite3.Connection:
    return sqlite3.connect(work / "var" / "monitor.sqlite3")


def spot_of(where: Path | StoreSpot) -> StoreSpot:
    """The store of a work dir (its default SQLite file), or the one at a spot (``--store``)."""
    return where if isinstance(where, StoreSpot) else StoreSpot("sqlite", str(where / "var" / "monitor.sqlite3"))


def claim_states(where: Path | StoreSpot) -> tuple[int, int, int]:
    """(claims in no digest, claims waiting in a pending digest, claims reported)."""
    with spot_of(where).open() as opened:
        row = opened._db.execute(
            "SELECT count(*) FILTER (WHERE delivery_id IS NULL AND digest_id IS NULL),"
            " count(*) FILTER (WHERE delivery_id IS NOT NULL AND digest_id IS NULL),"
            " count(*) FILTER (WHERE digest_id IS NOT NULL) FROM claims"
        ).fetchone()
    return row[0], row[1], row[2]


def stored_message_ids(where: Path | StoreSpot) -> list[str]:
    with spot_of(where).open() as opened:
        return [d.message_id for d in opened.queued_digests(("pending", "sent", "refused", "dropped"))]


def add_document(work: Path, name: str, sentences: list[str]) -> None:
    drop(work / "seeds" / name, "新稿\n\n" + "\n".join(sentences) + "\n")


def test_server_down_then_up_the_digest_arrives_once_with_its_first_message_id(
    work: Path, smtp_server: SmtpServer, closed_port: int, spot: StoreSpot
) -> None:
    smtp_config(work, closed_port)
    down = cli("digest", *spot.args, cwd=work)
    assert down.returncode == 1
    assert f"127.0.0.1:{closed_port}" in down.stderr and "NOT delivered" in down.stdout
    unassigned, pending, reported = claim_states(spot)
    assert (unassigned, reported) == (0, 0) and pending == seed_claims()
    (message_id,) = stored_message_ids(spot)

    add_document(work, "later.txt", novel_sentences(3))  # new claims arrive while the server is down
    smtp_config(work, smtp_server.port)  # the server is up
    up = cli("digest", *spot.args, cwd=work)
    assert up.returncode == 0, up.stderr
    assert f"Delivered an earlier digest that had failed, {message_id}" in up.stdout
    first, second = smtp_server.messages
    assert first["Message-ID"] == message_id and f"{pending} new claims" in str(first["Subject"])
    assert "3 new claims" in str(second["Subject"])  # only the new ones: nothing of the first repeated
    body = second.get_body(("plain",))
    assert body is not None
    assert all(NORM.key(s) in NORM.key(body.get_content()) for s in novel_sentences(3))
    assert claim_states(spot) == (0, 0, pending + 3)

    again = cli("digest", *spot.args, cwd=work)
    assert again.returncode == 0 and "Nothing new" in again.stdout
    assert len(smtp_server.messages) == 2


def test_a_4xx_answer_then_acceptance_delivers_the_same_message_once(work: Path, smtp_server: SmtpServer) -> None:
    smtp_config(work, smtp_server.port)
    smtp_server.refuse["DATA"] = "451 4.3.0 mailbox busy, try again later"
    refused = cli("digest", cwd=work)
    assert refused.returncode == 1 and "451" in refused.stderr
    assert smtp_server.messages == []
    status = cli("status", cwd=work)
    assert "Digests waiting to be delivered: 1" in status.stdout and "451" in status.stdout
    (message_id,) = stored_message_ids(work)

    del smtp_server.refuse["DATA"]
    accepted = cli("digest", cwd=work)
    assert accepted.returncode == 0, accepted.stderr
    (msg,) = smtp_server.messages
    assert msg["Message-ID"] == message_id
    assert claim_states(work)[:2] == (0, 0)
    assert "Digests waiting" not in cli("status", cwd=work).stdout


def test_killed_after_the_server_accepted_and_before_commit_resends_with_the_same_message_id(
    work: Path, smtp_server: SmtpServer, spot: StoreSpot
) -> None:
    smtp_config(work, smtp_server.port)
    process = subprocess.Popen(
        [sys.executable, "-m", "monitor", "digest", *spot.args], cwd=work, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    # the server has the message; the client dies before it reads the "250" and records the delivery
    smtp_server.before_accept = lambda: os.kill(process.pid, signal.SIGKILL)
    process.communicate(timeout=120)
    assert process.returncode == -signal.SIGKILL
    (delivered,) = smtp_server.messages
    unassigned, pending, reported = claim_states(spot)
    assert (unassigned, reported) == (0, 0) and pending == seed_claims()  # recorded before sending: nothing lost
    assert stored_message_ids(spot) == [delivered["Message-ID"]]

    smtp_server.before_accept = None
    restarted = cli("digest", *spot.args, cwd=work)
    assert restarted.returncode == 0, restarted.stderr
    first, resent = smtp_server.messages
    assert resent["Message-ID"] == first["Message-ID"] == delivered["Message-ID"]
    assert resent.get_body(("plain",)).get_content() == first.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert claim_states(spot) == (0, 0, pending)
    assert "Nothing new" in cli("digest", *spot.args, cwd=work).stdout and len(smtp_server.messages) == 2


#: `corpus-monitor digest` that dies (as if killed) the moment the outbox has the message, before the delivery is
#: recorded
DIES_BEFORE_THE_COMMIT = """
import os, sys
from monitor import cli
from monitor.store import Store

def killed(*args, **kwargs):
    os._exit(9)

Store.delivery_sent = killed
sys.exit(cli.main(["digest"]))
"""


def test_killed_between_writing_the_eml_and_the_commit_leaves_one_file_per_message_id(work: Path) -> None:
    crashed = subprocess.run([sys.executable, "-c", DIES_BEFORE_THE_COMMIT], cwd=work, capture_output=True,
                             text=True, timeout=300)
    assert crashed.returncode == 9, crashed.stderr
    (written,) = eml_files(work)
    first = written.read_bytes()
    (message_id,) = stored_message_ids(work)
    assert parse(written)["Message-ID"] == message_id
    unassigned, pending, reported = claim_states(work)
    assert (unassigned, reported) == (0, 0) and pending > 0  # recorded before it was written: resent next run

    again = cli("digest", cwd=work)
    assert again.returncode == 0, again.stderr
    assert f"Delivered an earlier digest that had failed, {message_id}, to {written}" in again.stdout
    assert eml_files(work) == [written] and written.read_bytes() == first  # the same file, the same bytes
    assert claim_states(work) == (0, 0, pending)
    # the next digest is another message, in a file of its own
    add_document(work, "later.txt", novel_sentences(2))
    assert cli("digest", cwd=work).returncode == 0
    files = eml_files(work)
    assert len(files) == 2 and len({parse(f)["Message-ID"] for f in files}) == 2


# --- what the store keeps of a delivered digest -------------------------------------------------------------

def deliveries(work: Path) -> list[tuple[str, str, bytes | None]]:
    """(Message-ID, state, message) of every recorded digest, oldest first."""
    with store(work) as db:
        return db.execute("SELECT message_id, state, message FROM deliveries ORDER BY id").fetchall()


def test_a_delivered_digest_keeps_its_record_and_not_its_message(work: Path) -> None:
    """The guarantee needs the message until the server (here the outbox) has it; then the digest's record, its
    Message-ID, recipients, times and claims stay, and its message goes in the same transaction."""
    assert cli("digest", cwd=work).returncode == 0
    (eml,) = eml_files(work)
    message_id = parse(eml)["Message-ID"]
    assert deliveries(work) == [(message_id, "sent", None)]
    with store(work) as db:
        (row,) = db.execute("SELECT message_id, recipients, destination, claim_count, created_at, delivered_at"
                            " FROM digests").fetchall()
        (reported,) = db.execute("SELECT count(*) FROM claims AS c JOIN digests AS d ON d.id = c.digest_id"
                                 " WHERE d.message_id = ?", (message_id,)).fetchone()
    assert row[:4] == (message_id, '["corpus-monitor@localhost"]', str(eml), seed_claims()) and row[4] and row[5]
    assert reported == seed_claims()
    status = cli("status", cwd=work)
    assert f"{seed_claims()} claims, to {eml}" in status.stdout and "(0 not yet reported)" in status.stdout
    assert "Nothing new" in cli("digest", cwd=work).stdout and eml_files(work) == [eml]  # never sent again


def test_keep_sent_messages_keeps_a_delivered_message_that_long(work: Path) -> None:
    (work / "corpus-monitor.toml").write_text('[digest]\nkeep_sent_messages = "30d"\n', encoding="utf-8")
    assert cli("digest", cwd=work).returncode == 0
    (first,) = eml_files(work)
    ((first_id, _, kept),) = deliveries(work)
    assert kept == first.read_bytes()  # the message as built and sent
    # 31 days on, the next delivery lets the first one's message go and keeps its own
    with store(work) as db:
        db.execute("UPDATE digests SET delivered_at = ?", ((datetime.now(UTC) - timedelta(days=31)).isoformat(),))
    add_document(work, "later.txt", novel_sentences(2))
    assert cli("digest", cwd=work).returncode == 0
    second = next(path for path in eml_files(work) if path != first)
    assert deliveries(work) == [(first_id, "sent", None), (parse(second)["Message-ID"], "sent", second.read_bytes())]


# --- a refusal for good never blocks later digests ----------------------------------------------------------

def test_a_refused_digest_gives_its_claims_to_the_next_one(work: Path, smtp_server: SmtpServer) -> None:
    smtp_config(work, smtp_server.port)
    smtp_server.refuse["DATA"] = "554 5.6.0 message content rejected"
    refused = cli("digest", cwd=work)
    assert refused.returncode == 1
    assert "REFUSED by the mail server" in refused.stdout and "554 5.6.0 message content rejected" in refused.stderr
    assert smtp_server.messages == [] and claim_states(work) == (seed_claims(), 0, 0)  # back in no digest: not lost
    status = cli("status", cwd=work)
    assert "Digests refused by the mail server: 1" in status.stdout and "554 5.6.0" in status.stdout
    listed = cli("digests", cwd=work)
    assert " refused " in listed.stdout and "server said: SMTP 127.0.0.1" in listed.stdout

    # the server takes mail again; a new document came: the next digest carries both
    del smtp_server.refuse["DATA"]
    new = novel_sentences(2)
    add_document(work, "later.txt", new)
    accepted = cli("digest", cwd=work)
    assert accepted.returncode == 0, accepted.stderr
    (msg,) = smtp_server.messages
    assert f"{seed_claims() + 2} new claims" in str(msg["Subject"])
    assert claim_states(work) == (0, 0, seed_claims() + 2)
    again = cli("digest", cwd=work)
    assert again.returncode == 0 and "Nothing new" in again.stdout and len(smtp_server.messages) == 1
    # the refused digest stays on record; nothing waits on it
    assert "Digests waiting" not in cli("status", cwd=work).stdout


def test_a_message_over_the_servers_size_is_never_sent_and_the_next_one_fits(
    work: Path, small_smtp_server: SmtpServer
) -> None:
    from conftest import SMALL_SIZE_LIMIT

    smtp_config(work, small_smtp_server.port)
    first = cli("digest", cwd=work)
    assert first.returncode == 1 and "ESMTP SIZE" in first.stderr and small_smtp_server.messages == []
    assert claim_states(work) == (seed_claims(), 0, 0)
    second = cli("digest", cwd=work)
    assert second.returncode == 0, second.stderr
    (msg,) = small_smtp_server.messages
    assert len(bytes(msg)) < SMALL_SIZE_LIMIT and f"{seed_claims()} new claims" in str(msg["Subject"])
    assert claim_states(work) == (0, 0, seed_claims())


def test_digests_command_retries_now_and_drops_without_losing_claims(
    work: Path, smtp_server: SmtpServer, closed_port: int
) -> None:
    smtp_config(work, closed_port)
    assert cli("digest", cwd=work).returncode == 1  # server down: pending, with backoff
    listed = cli("digests", "--format", "json", cwd=work)
    (pending,) = json.loads(listed.stdout)
    assert pending["state"] == "pending" and pending["claim_count"] == seed_claims() and pending["attempts"] == 1
    # drop it: its claims go back, nothing waits, the next digest carries them under a new Message-ID
    dropped = cli("digests", "drop", str(pending["id"]), cwd=work)
    assert dropped.returncode == 0 and "Dropped digest" in dropped.stdout
    assert claim_states(work) == (seed_claims(), 0, 0)
    assert json.loads(cli("digests", "--format", "json", cwd=work).stdout) == []
    assert cli("digests", "drop", str(pending["id"]), cwd=work).returncode == 2  # not waiting any more
    # a new pending digest, sent at once by retry, backoff or not, once the server is up
    assert cli("digest", cwd=work).returncode == 1
    (second,) = json.loads(cli("digests", "--format", "json", cwd=work).stdout)
    assert second["message_id"] != pending["message_id"]
    smtp_config(work, smtp_server.port)
    retried = cli("digests", "retry", str(second["id"]), cwd=work)
    assert retried.returncode == 0, retried.stderr
    (msg,) = smtp_server.messages
    assert msg["Message-ID"] == second["message_id"] and claim_states(work) == (0, 0, seed_claims())
    assert cli("digests", "retry", cwd=work).returncode == 2  # which one?


def test_a_refused_digest_can_be_sent_as_it_was_while_its_claims_wait(work: Path, smtp_server: SmtpServer) -> None:
    smtp_config(work, smtp_server.port)
    smtp_server.refuse["RCPT"] = "550 5.1.1 mailbox unavailable"
    assert cli("digest", cwd=work).returncode == 1
    (refused,) = json.loads(cli("digests", "--format", "json", cwd=work).stdout)
    assert refused["state"] == "refused" and "550 5.1.1" in refused["last_error"]
    del smtp_server.refuse["RCPT"]  # the mailbox was fixed
    retried = cli("digests", "retry", str(refused["id"]), cwd=work)
    assert retried.returncode == 0, retried.stderr
    (msg,) = smtp_server.messages
    assert msg["Message-ID"] == refused["message_id"] and claim_states(work) == (0, 0, seed_claims())
    # once sent, it cannot be sent again
    again = cli("digests", "retry", str(refused["id"]), cwd=work)
    assert again.returncode == 2 and "already delivered" in again.stderr
