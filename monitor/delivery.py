"""Turn a rendered digest into an email message and hand it to a Mailer.

Building the message (`build_message`) is separate from sending it: a `Mailer` either writes `.eml` files into an
outbox folder (`OutboxMailer`) or talks SMTP (`SmtpMailer`). Every failure leaves this module as a `DeliveryError`
that names where the message was going; the SMTP password never appears in a message or a repr.
"""

from __future__ import annotations

import contextlib
import email.policy
import hashlib
import logging
import secrets
import smtplib
import ssl
from collections.abc import Sequence
from datetime import UTC, datetime
from email.errors import HeaderParseError
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr, parsedate_to_datetime
from pathlib import Path
from typing import Protocol

from monitor.errors import ConfigError, DeliveryError
from monitor.files import write_atomically
from monitor.models import Rendered

log = logging.getLogger(__name__)

#: how SmtpMailer secures the connection: STARTTLS on a plain port, TLS from the start (port 465), or nothing
SECURITY_MODES = ("starttls", "tls", "none")
#: the Message-ID domain when the sender address has none
FALLBACK_DOMAIN = "corpus-monitor.invalid"


def build_message(
    rendered: Rendered,
    *,
    sender: str,
    recipients: Sequence[str],
    date: datetime | None = None,
    message_id: str | None = None,
) -> EmailMessage:
    """A multipart/alternative message (text/plain, then text/html; UTF-8) carrying a rendered digest.

    Headers are folded and non-ASCII ones RFC 2047-encoded by `email.policy.SMTP`. `date` must be timezone-aware
    (default: now); it is written in UTC. The Message-ID is made from the sender's domain unless one is given. With no
    recipients the To header is left out (fine for the outbox; SmtpMailer refuses such a message). A List-Id
    header, made from the sender's domain, lets mail clients filter the digests.
    """
    moment = datetime.now(UTC) if date is None else date
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"message date must be timezone-aware, got naive {moment.isoformat()}")
    message = EmailMessage(policy=email.policy.SMTP)
    try:
        message["Subject"] = rendered.subject
        message["From"] = sender
        if recipients:
            message["To"] = ", ".join(recipients)
        message["Date"] = format_datetime(moment.astimezone(UTC))
        message["Message-ID"] = message_id or make_msgid(domain=_domain(sender))
        # RFC 2919: mail clients filter and label by it
        message["List-Id"] = f"corpus-monitor digest <digest.corpus-monitor.{_domain(sender)}>"
    except (ValueError, HeaderParseError) as exc:
        raise DeliveryError(f"cannot build the message headers: {exc}") from exc
    message.set_content(rendered.text, subtype="plain", charset="utf-8")
    message.add_alternative(rendered.html, subtype="html", charset="utf-8")
    return message


def _domain(sender: str) -> str:
    _, address = parseaddr(sender)
    domain = address.rpartition("@")[2].strip()
    return domain if "@" in address and domain else FALLBACK_DOMAIN


class Mailer(Protocol):
    """Something that delivers a message."""

    def deliver(self, message: EmailMessage) -> str:
        """Deliver the message; return where it went (a file path, smtp://host:port), for the run summary."""
        ...


class OutboxMailer:
    """Writes each message as `<UTC timestamp>-<short id>.eml` into a folder, created if missing: the time of its
    Date header and a hash of its Message-ID, so that a message written again (a digest resent after a crash
    between writing it and recording its delivery) replaces its own file: one file per Message-ID.

    The write is atomic (a temporary file in the same folder, fsync, os.replace), so a reader of the outbox never
    sees half a message.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)

    def __repr__(self) -> str:
        return f"OutboxMailer({str(self.directory)!r})"

    def deliver(self, message: EmailMessage) -> str:
        """Write the message (replacing the file of the same Message-ID); return the file's path."""
        target = self.directory / _file_name(message)
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            write_atomically(target, message.as_bytes())
        except OSError as exc:
            raise DeliveryError(f"cannot write {target}: {exc.strerror or exc}") from exc
        return str(target)


def _file_name(message: EmailMessage) -> str:
    """`<UTC timestamp>-<short id>.eml` of a message: its Date (now, if it has none that parses) and the first
    12 hex digits of the SHA-256 of its Message-ID (random, if it has none)."""
    try:
        moment = parsedate_to_datetime(str(message["Date"])) if message["Date"] else None
    except (TypeError, ValueError):
        moment = None
    if moment is None or moment.tzinfo is None:
        moment = datetime.now(UTC)
    message_id = str(message["Message-ID"] or "").strip()
    short = hashlib.sha256(message_id.encode()).hexdigest()[:12] if message_id else secrets.token_hex(6)
    return f"{moment.astimezone(UTC):%Y%m%dT%H%M%SZ}-{short}.eml"


class SmtpMailer:
    """Sends messages through an SMTP server, one connection per message."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        security: str = "starttls",
        username: str | None = None,
        password: str | None = None,
        timeout: float = 30.0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        if security not in SECURITY_MODES:
            raise ConfigError(f"smtp security must be one of {', '.join(SECURITY_MODES)}, not {security!r}")
        if username is not None and password is None:
            raise ConfigError(f"smtp user {username!r} has no password")
        self.host = host
        self.port = port
        self.security = security
        self.username = username
        self._password = password
        self.timeout = timeout
        self._ssl_context = ssl_context

    def __repr__(self) -> str:
        password = "'***'" if self._password is not None else "None"
        return (
            f"SmtpMailer(host={self.host!r}, port={self.port}, security={self.security!r}, "
            f"username={self.username!r}, password={password}, timeout={self.timeout})"
        )

    @property
    def address(self) -> str:
        """host:port, as error messages name the server."""
        return f"{self.host}:{self.port}"

    def deliver(self, message: EmailMessage) -> str:
        """Send the message; return smtp://host:port. Any SMTP, socket or TLS failure becomes a DeliveryError."""
        if not message.get_all("To") and not message.get_all("Cc") and not message.get_all("Bcc"):
            raise DeliveryError(f"SMTP {self.address}: the message has no recipients")
        step = "could not connect"
        data = b""
        try:
            client = self._connect()
        except (smtplib.SMTPException, OSError) as exc:
            raise DeliveryError(f"SMTP {self.address}: {step}: {self._describe(exc)}") from exc
        try:
            if self.security == "starttls":
                step = "STARTTLS failed"
                client.starttls(context=self._context())
            if self.username is not None and self._password is not None:
                step = "login failed"
                client.login(self.username, self._password)
            step = "refused the message"
            data = message.as_bytes()
            limit = self._size_limit(client)
            if limit is not None and len(data) > limit:
                raise DeliveryError(
                    f"SMTP {self.address}: refused the message: {len(data):,} bytes is over the server's limit of"
                    f" {limit:,} bytes (ESMTP SIZE)", permanent=True, size_limit=limit)
            refused = client.send_message(message)
        except (smtplib.SMTPException, OSError) as exc:
            # a 5xx to this message (MAIL, RCPT, DATA) is final for these bytes; a 4xx, a failed login or a
            # broken connection may pass
            code = getattr(exc, "smtp_code", None)
            if isinstance(exc, smtplib.SMTPRecipientsRefused):
                code = min((c for c, _ in exc.recipients.values()), default=None)
            final = step == "refused the message" and isinstance(code, int) and 500 <= code < 600
            # 552: too large (RFC 5321); the limit it announces, else less than this message
            size = (self._size_limit(client) or max(1, len(data) - 1)) if final and code == 552 else None
            raise DeliveryError(f"SMTP {self.address}: {step}: {self._describe(exc)}", permanent=final,
                                size_limit=size) from exc
        finally:
            # The message is either sent or already failed; a failing QUIT changes neither.
            with contextlib.suppress(smtplib.SMTPException, OSError):
                client.quit()
            client.close()
        if refused:
            log.warning("SMTP %s refused some recipients: %s", self.address, self._describe_refused(refused))
        return f"smtp://{self.host}:{self.port}"

    @staticmethod
    def _size_limit(client: smtplib.SMTP) -> int | None:
        """The largest message the server takes, as its EHLO announced (ESMTP SIZE, RFC 1870); None if unsaid."""
        with contextlib.suppress(smtplib.SMTPException, OSError):
            client.ehlo_or_helo_if_needed()
        value = client.esmtp_features.get("size", "")
        return int(value) if value.strip().isdigit() and int(value) > 0 else None

    def _connect(self) -> smtplib.SMTP:
        if self.security == "tls":
            return smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=self._context())
        return smtplib.SMTP(self.host, self.port, timeout=self.timeout)

    def _context(self) -> ssl.SSLContext:
        return self._ssl_context if self._ssl_context is not None else ssl.create_default_context()

    def _describe(self, exc: BaseException) -> str:
        """The server's answer (or the socket error), with the password masked should a server echo it."""
        if isinstance(exc, smtplib.SMTPRecipientsRefused):
            text = "all recipients refused: " + self._describe_refused(exc.recipients)
        elif isinstance(exc, smtplib.SMTPResponseException):
            text = f"{exc.smtp_code} {_decode(exc.smtp_error)}"
        else:
            text = str(exc) or type(exc).__name__
        return self._mask(text)

    def _describe_refused(self, refused: dict[str, tuple[int, bytes]]) -> str:
        return self._mask("; ".join(f"{rcpt} ({code} {_decode(answer)})" for rcpt, (code, answer) in refused.items()))

    def _mask(self, text: str) -> str:
        if self._password:
            text = text.replace(self._password, "***")
        return text


def _decode(answer: bytes | str) -> str:
    return answer.decode("utf-8", errors="replace") if isinstance(answer, bytes) else answer
