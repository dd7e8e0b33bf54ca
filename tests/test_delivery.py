"""Building digest emails and delivering them to an outbox folder and to a real local SMTP server."""

from __future__ import annotations

import email
import email.policy
import sqlite3
from datetime import UTC, datetime, timedelta, timezone
from email.message import EmailMessage
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from monitor.delivery import OutboxMailer, SmtpMailer, build_message
from monitor.digest import environment, render
from monitor.errors import ConfigError, DeliveryError, StoreError
from monitor.models import Digest, DigestClaim, DigestDocument, Rendered

if TYPE_CHECKING:
    from conftest import SmtpServer, TlsPair

SEEDS = Path(__file__).parents[1] / "seeds"
SENDER = "corpus-monitor <monitor@example.org>"
RECIPIENTS = ["editor@example.com", "desk@example.net"]
PASSWORD = "s3cret-pa55word"


def huang_at_30() -> tuple[str, str]:
    """The sentence about Huang co-founding NVIDIA at 30, Traditional (seed 000) and Simplified (seed 004)."""
    found = []
    for prefix, marker in (("000", "30歲"), ("004", "30岁")):
        (path,) = SEEDS.glob(f"{prefix}_*.txt")
        line = next(line for line in path.read_text(encoding="utf-8").splitlines() if marker in line)
        head, mark, _ = line.strip().partition("。")
        found.append(head + mark)
    return found[0], found[1]


TRADITIONAL, SIMPLIFIED = huang_at_30()


@pytest.fixture(scope="module")
def rendered() -> Rendered:
    documents = (
        DigestDocument(
            id=1,
            title="黃仁勳對談扎克伯格:Llama 4或將擺脫聊天機器人形態",
            site="甲子光年",
            url=None,
            path="seeds/000.txt",
            published="2024-07-30",
            new_claims=1,
        ),
        DigestDocument(
            id=4,
            title="黄仁勋小扎世纪对谈:苹果赢了上一代,开源AI将赢下新时代",
            site="钛媒体",
            url=None,
            path="seeds/004.txt",
            published="2024-07-30",
            new_claims=1,
        ),
    )
    claims = (
        DigestClaim(id=1, text=TRADITIONAL, normalized=SIMPLIFIED, document=1, sources=(1, 4)),
        DigestClaim(
            id=2,
            text="“你打從一開始就不會做這些了？”",
            normalized="“你打从一开始就不会做这些了？”",
            document=1,
            sources=(1,),
            speaker="扎克伯格",
        ),
    )
    digest = Digest(generated_at=datetime(2024, 7, 30, 6, 28, tzinfo=UTC), documents=documents, claims=claims)
    result = render(digest, environment())
    # A subject in Chinese, so that RFC 2047 encoding is exercised.
    return Rendered(subject=f"{result.subject}：黃仁勳對談扎克伯格", text=result.text, html=result.html)


def parse(data: bytes) -> EmailMessage:
    message = email.message_from_bytes(data, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def bodies(message: EmailMessage) -> tuple[str, str]:
    plain, html = message.get_body(("plain",)), message.get_body(("html",))
    assert isinstance(plain, EmailMessage) and isinstance(html, EmailMessage)
    return plain.get_content(), html.get_content()


def test_build_message_parses_back(rendered: Rendered) -> None:
    moment = datetime(2024, 7, 30, 14, 28, 18, tzinfo=timezone(timedelta(hours=8)))
    message = build_message(rendered, sender=SENDER, recipients=RECIPIENTS, date=moment)
    raw = message.as_bytes()
    raw.decode("ascii")  # every header and body line is 7-bit: Subject RFC 2047, bodies transfer-encoded
    assert b"=?utf-8?" in raw.lower()
    parsed = parse(raw)
    assert parsed.get_content_type() == "multipart/alternative"
    assert [part.get_content_type() for part in parsed.iter_parts()] == ["text/plain", "text/html"]
    assert all(part.get_content_charset() == "utf-8" for part in parsed.iter_parts())
    assert parsed["Subject"] == rendered.subject
    assert parsed["From"] == SENDER
    assert [address.addr_spec for address in parsed["To"].addresses] == RECIPIENTS
    assert parsed["Date"].datetime == moment
    assert str(parsed["Date"]).endswith("+0000")
    assert parsed["Message-ID"].startswith("<") and parsed["Message-ID"].endswith("@example.org>")
    plain, html = bodies(parsed)
    # policy.SMTP writes CRLF line endings, inside the encoded bodies too
    assert plain.replace("\r\n", "\n") == rendered.text and html.replace("\r\n", "\n") == rendered.html
    assert TRADITIONAL in plain and "扎克伯格：“你打從一開始就不會做這些了？”" in plain


def test_build_message_defaults_and_explicit_id(rendered: Rendered) -> None:
    message = build_message(
        rendered, sender="monitor@example.org", recipients=["a@example.com"], message_id="<digest-1@example.org>"
    )
    assert message["Message-ID"] == "<digest-1@example.org>"
    assert abs(message["Date"].datetime - datetime.now(UTC)) < timedelta(minutes=1)


def test_build_message_refuses_naive_date(rendered: Rendered) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        build_message(rendered, sender=SENDER, recipients=RECIPIENTS, date=datetime(2024, 7, 30))  # noqa: DTZ001


def test_outbox_writes_an_eml_that_parses_back(rendered: Rendered, tmp_path: Path) -> None:
    outbox = tmp_path / "var" / "outbox"  # created on demand
    message = build_message(rendered, sender=SENDER, recipients=RECIPIENTS)
    where = OutboxMailer(outbox).deliver(message)
    path = Path(where)
    assert path.parent == outbox and path.suffix == ".eml"
    assert [entry.name for entry in outbox.iterdir()] == [path.name]  # no temporary file left behind
    parsed = parse(path.read_bytes())
    assert parsed["Subject"] == rendered.subject
    assert TRADITIONAL in bodies(parsed)[0]
    # named by its Date and Message-ID: written again (a resend), it replaces its own file; another message is
    # another file
    date = datetime(2024, 7, 30, 6, 28, 18, tzinfo=UTC)
    dated = build_message(rendered, sender=SENDER, recipients=RECIPIENTS, date=date, message_id="<a@example.org>")
    once = OutboxMailer(outbox).deliver(dated)
    assert Path(once).name.startswith("20240730T062818Z-") and Path(once).suffix == ".eml"
    assert OutboxMailer(outbox).deliver(dated) == once
    other = build_message(rendered, sender=SENDER, recipients=RECIPIENTS, date=date, message_id="<b@example.org>")
    assert OutboxMailer(outbox).deliver(other) not in (once, where)
    assert len(list(outbox.iterdir())) == 3 and Path(once).read_bytes() == dated.as_bytes()


def test_outbox_unwritable_directory(rendered: Rendered, tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the outbox should be", encoding="utf-8")
    message = build_message(rendered, sender=SENDER, recipients=RECIPIENTS)
    with pytest.raises(DeliveryError, match="not-a-folder") as caught:
        OutboxMailer(blocker / "outbox").deliver(message)
    assert isinstance(caught.value.__cause__, OSError)


def test_smtp_delivers(rendered: Rendered, smtp_server: SmtpServer) -> None:
    mailer = SmtpMailer(smtp_server.host, smtp_server.port, security="none", timeout=5)
    where = mailer.deliver(build_message(rendered, sender=SENDER, recipients=RECIPIENTS))
    assert where == f"smtp://{smtp_server.host}:{smtp_server.port}"
    (received,) = smtp_server.messages
    assert smtp_server.recipients == [RECIPIENTS]
    assert received["Subject"] == rendered.subject
    plain, html = bodies(received)
    assert TRADITIONAL in plain and TRADITIONAL in html
    assert "also in: 黄仁勋小扎世纪对谈:苹果赢了上一代,开源AI将赢下新时代 (钛媒体)" in plain


def test_smtp_login(rendered: Rendered, smtp_server: SmtpServer) -> None:
    smtp_server.credentials["monitor"] = PASSWORD
    mailer = SmtpMailer(
        smtp_server.host, smtp_server.port, security="none", username="monitor", password=PASSWORD, timeout=5
    )
    mailer.deliver(build_message(rendered, sender=SENDER, recipients=RECIPIENTS))
    assert len(smtp_server.messages) == 1


def test_smtp_wrong_password(rendered: Rendered, smtp_server: SmtpServer) -> None:
    smtp_server.credentials["monitor"] = "another-password"
    mailer = SmtpMailer(
        smtp_server.host, smtp_server.port, security="none", username="monitor", password=PASSWORD, timeout=5
    )
    with pytest.raises(DeliveryError) as caught:
        mailer.deliver(build_message(rendered, sender=SENDER, recipients=RECIPIENTS))
    text = str(caught.value)
    assert f"{smtp_server.host}:{smtp_server.port}" in text and "535" in text and "login" in text
    assert PASSWORD not in text and PASSWORD not in repr(caught.value) and PASSWORD not in repr(mailer)
    assert smtp_server.messages == []


@pytest.mark.parametrize("command", ["RCPT", "DATA"])
def test_smtp_refusal(rendered: Rendered, smtp_server: SmtpServer, command: str) -> None:
    smtp_server.refuse[command] = "550 5.7.1 Message refused by policy"
    mailer = SmtpMailer(smtp_server.host, smtp_server.port, security="none", timeout=5)
    with pytest.raises(DeliveryError) as caught:
        mailer.deliver(build_message(rendered, sender=SENDER, recipients=RECIPIENTS))
    text = str(caught.value)
    assert f"{smtp_server.host}:{smtp_server.port}" in text
    assert "550" in text and "Message refused by policy" in text
    assert smtp_server.messages == []


def test_smtp_nothing_listening(rendered: Rendered, closed_port: int) -> None:
    port = closed_port
    mailer = SmtpMailer("127.0.0.1", port, security="none", username="monitor", password=PASSWORD, timeout=5)
    with pytest.raises(DeliveryError) as caught:
        mailer.deliver(build_message(rendered, sender=SENDER, recipients=RECIPIENTS))
    text = str(caught.value)
    assert f"127.0.0.1:{port}" in text and "connect" in text
    assert PASSWORD not in text
    assert isinstance(caught.value.__cause__, OSError)


def test_smtp_starttls_not_offered(rendered: Rendered, smtp_server: SmtpServer) -> None:
    # The test server has no certificate, so it does not offer STARTTLS; asking for it must fail, not fall back.
    mailer = SmtpMailer(smtp_server.host, smtp_server.port, timeout=5)
    with pytest.raises(DeliveryError, match="STARTTLS"):
        mailer.deliver(build_message(rendered, sender=SENDER, recipients=RECIPIENTS))
    assert smtp_server.messages == []


def test_smtp_without_recipients(rendered: Rendered, smtp_server: SmtpServer) -> None:
    mailer = SmtpMailer(smtp_server.host, smtp_server.port, security="none", timeout=5)
    with pytest.raises(DeliveryError, match="no recipients"):
        mailer.deliver(build_message(rendered, sender=SENDER, recipients=[]))


def test_smtp_settings_are_checked() -> None:
    with pytest.raises(ConfigError, match="security"):
        SmtpMailer("localhost", 25, security="ssl")
    with pytest.raises(ConfigError, match="password"):
        SmtpMailer("localhost", 25, username="monitor")


def test_smtp_starttls_with_login(rendered: Rendered, starttls_server: SmtpServer, tls: TlsPair) -> None:
    starttls_server.credentials["monitor"] = "s3cret-pass"
    mailer = SmtpMailer(starttls_server.host, starttls_server.port, security="starttls", username="monitor",
                        password="s3cret-pass", timeout=5, ssl_context=tls.client)
    mailer.deliver(build_message(rendered, sender=SENDER, recipients=RECIPIENTS))
    (received,) = starttls_server.messages
    assert received["Subject"] == rendered.subject


def test_smtp_implicit_tls(rendered: Rendered, implicit_tls_server: SmtpServer, tls: TlsPair) -> None:
    mailer = SmtpMailer(implicit_tls_server.host, implicit_tls_server.port, security="tls", timeout=5,
                        ssl_context=tls.client)
    assert mailer.deliver(build_message(rendered, sender=SENDER, recipients=RECIPIENTS)).startswith("smtp://")
    assert len(implicit_tls_server.messages) == 1


def test_smtp_tls_refuses_an_untrusted_certificate(rendered: Rendered, implicit_tls_server: SmtpServer) -> None:
    mailer = SmtpMailer(implicit_tls_server.host, implicit_tls_server.port, security="tls", timeout=5)
    with pytest.raises(DeliveryError, match=f"{implicit_tls_server.port}"):
        mailer.deliver(build_message(rendered, sender=SENDER, recipients=RECIPIENTS))
    assert implicit_tls_server.messages == []


def test_smtp_plain_connection_to_a_starttls_only_server_fails_clearly(
    rendered: Rendered, starttls_server: SmtpServer
) -> None:
    mailer = SmtpMailer(starttls_server.host, starttls_server.port, security="none", timeout=5)
    with pytest.raises(DeliveryError, match=f"{starttls_server.host}:{starttls_server.port}"):
        mailer.deliver(build_message(rendered, sender=SENDER, recipients=RECIPIENTS))
    assert starttls_server.messages == []


def _store_at_version(path: Path, version: int) -> sqlite3.Connection:
    """A real store file made by the first ``version`` migrations, as an older release left it (autocommit)."""
    from monitor.store.sqlite.schema import MIGRATIONS
    from monitor.store.sqlite.store import _statements

    db = sqlite3.connect(path, isolation_level=None)
    for script in MIGRATIONS[:version]:
        for statement in _statements(script):
            db.execute(statement)
    db.execute(f"PRAGMA user_version = {version}")
    return db


def test_a_store_with_a_pending_digest_migrates_to_refusable_deliveries(tmp_path: Path) -> None:
    """Migration 5 rebuilds ``deliveries`` (new states) under claims that point at it: nothing is lost."""
    from monitor.store import Store

    path = tmp_path / "old.sqlite3"
    db = _store_at_version(path, 4)
    now = "2024-07-30T06:28:18+00:00"
    db.execute("INSERT INTO documents (id, locator, source, content_hash, first_seen, last_changed)"
               " VALUES (1, '/seeds/a.txt', 'seeds', 'h', ?, ?)", (now, now))
    db.execute("INSERT INTO deliveries (id, message_id, subject, message, sender, recipients, claim_count, created_at,"
               " state, next_attempt_at) VALUES (7, '<m@x>', 's', x'00', 'a@x', '[]', 1, ?, 'pending', ?)", (now, now))
    db.execute("INSERT INTO claims (id, fingerprint, normalized, text, document_id, position, first_seen, delivery_id)"
               " VALUES (3, 42, 'n', 't', 1, 0, ?, 7)", (now,))
    db.close()
    with Store(path) as store:
        (pending,) = store.pending_deliveries()
        assert pending.id == 7 and pending.message_id == "<m@x>"
        store.delivery_refused(7, "554 no", datetime(2024, 7, 31, tzinfo=UTC))
        assert [q.state for q in store.queued_digests()] == ["refused"]
        assert store.status().refused_digests == 1 and store.status().refused_error == "554 no"
    check = sqlite3.connect(path)
    assert check.execute("PRAGMA foreign_key_check").fetchall() == []
    assert check.execute("SELECT delivery_id FROM claims WHERE id = 3").fetchone() == (None,)
    assert check.execute("PRAGMA user_version").fetchone()[0] >= 5


def test_a_store_with_delivered_messages_migrates_and_lets_them_go(tmp_path: Path, rendered: Rendered) -> None:
    """Migration 9 makes a delivered digest's message optional (``deliveries`` rebuilt under the claims that point
    at it): a schema-8 store with a delivered digest and a pending one keeps both whole; the pending one is sent
    as it was built, and as its delivery is recorded both messages go; a message not delivered cannot."""
    from monitor.store import Store

    path = tmp_path / "old.sqlite3"
    db = _store_at_version(path, 8)
    now = "2024-07-30T06:28:18+00:00"
    sent = build_message(rendered, sender=SENDER, recipients=RECIPIENTS, message_id="<sent@example.org>").as_bytes()
    waiting = build_message(rendered, sender=SENDER, recipients=RECIPIENTS, message_id="<wait@example.org>")
    db.execute("INSERT INTO documents (id, locator, source, content_hash, first_seen, last_changed)"
               " VALUES (1, '/seeds/a.txt', 'seeds', 'h', ?, ?)", (now, now))
    db.execute("INSERT INTO digests (id, created_at, delivered_at, subject, message_id, sender, recipients,"
               " destination, claim_count) VALUES (5, ?, ?, 's', '<sent@example.org>', ?, '[]', 'smtp://x:25', 1)",
               (now, now, SENDER))
    for delivery_id, message_id, message, state, digest_id in [
        (6, "<sent@example.org>", sent, "sent", 5), (7, "<wait@example.org>", waiting.as_bytes(), "pending", None),
    ]:
        db.execute("INSERT INTO deliveries (id, message_id, subject, message, sender, recipients, claim_count,"
                   " created_at, state, next_attempt_at, digest_id) VALUES (?, ?, 's', ?, ?, '[]', 1, ?, ?, ?, ?)",
                   (delivery_id, message_id, message, SENDER, now, state, now, digest_id))
    db.execute("INSERT INTO claims (id, fingerprint, normalized, text, document_id, position, first_seen, digest_id)"
               " VALUES (3, 42, 'n', 't', 1, 0, ?, 5)", (now,))
    db.execute("INSERT INTO claims (id, fingerprint, normalized, text, document_id, position, first_seen,"
               " delivery_id) VALUES (4, 43, 'm', 'u', 1, 1, ?, 7)", (now,))
    db.close()
    outbox = tmp_path / "outbox"
    with Store(path) as store:
        assert store._db.execute("SELECT id, message FROM deliveries ORDER BY id").fetchall() == [
            (6, sent), (7, waiting.as_bytes())]
        with pytest.raises(StoreError), store.transaction(), store._guard():  # the schema keeps it
            store._db.execute("UPDATE deliveries SET message = NULL WHERE id = 7")
        (pending,) = store.pending_deliveries()
        assert pending.message == waiting.as_bytes()
        again = email.message_from_bytes(pending.message, policy=email.policy.SMTP)  # as the pipeline reads it
        assert isinstance(again, EmailMessage)
        where = OutboxMailer(outbox).deliver(again)
        assert store.delivery_sent(pending.id, where, datetime(2024, 7, 31, tzinfo=UTC)) > 0
        assert store.status().last_digest_to == where and store.status().last_digest_claims == 1
    check = sqlite3.connect(path)
    from monitor.store.sqlite.schema import MIGRATIONS

    assert check.execute("PRAGMA user_version").fetchone() == (len(MIGRATIONS),)
    assert check.execute("PRAGMA foreign_key_check").fetchall() == []
    assert check.execute("SELECT id, state, message FROM deliveries ORDER BY id").fetchall() == [
        (6, "sent", None), (7, "sent", None)]
    assert check.execute("SELECT id, digest_id IS NOT NULL FROM claims ORDER BY id").fetchall() == [(3, 1), (4, 1)]
    assert Path(where).read_bytes() == waiting.as_bytes()
