"""Shared fixtures: a real SMTP server (aiosmtpd) on 127.0.0.1, a real HTTP server (``webserver``), a port
with nothing behind it, and a work dir holding a copy of the seeds."""

from __future__ import annotations

import email
import email.policy
import itertools
import os
import shutil
import socket
import ssl
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pgserver
import pytest
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from helpers import SEEDS
from hypothesis import settings
from webserver import WebServer, serving

from monitor.store import StoreInterface
from monitor.store.postgres import PgStore
from monitor.store.sqlite import Store

# Property tests (hypothesis) try the same examples on every run, here and in CI, and write no example database
# into the worktree. HYPOTHESIS_PROFILE=explore looks further: new random examples each run, failures remembered
# in .hypothesis/ (keep what it finds as an @example).
settings.register_profile("deterministic", derandomize=True, print_blob=True)
settings.register_profile("explore", derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "deterministic"))


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on (just now)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class SmtpServer:
    """A running local SMTP server and what it received."""

    host: str
    port: int
    #: every accepted message, parsed with email.policy.default
    messages: list[EmailMessage] = field(default_factory=list)
    #: the envelope recipients of every accepted message
    recipients: list[list[str]] = field(default_factory=list)
    #: command ("RCPT", "DATA") -> the answer to give instead of accepting, e.g. "550 5.7.1 rejected"
    refuse: dict[str, str] = field(default_factory=dict)
    #: login -> password the server accepts (AUTH is offered without TLS, for tests only)
    credentials: dict[str, str] = field(default_factory=dict)
    #: called after a message is recorded and before the server answers 250 (e.g. to kill the client)
    before_accept: Callable[[], None] | None = None


class _Handler:
    """aiosmtpd handler hooks that record messages into an SmtpServer or refuse as told."""

    def __init__(self, state: SmtpServer) -> None:
        self.state = state

    async def handle_RCPT(  # noqa: N802 (aiosmtpd hook name)
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        if "RCPT" in self.state.refuse:
            return self.state.refuse["RCPT"]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802
        if "DATA" in self.state.refuse:
            return self.state.refuse["DATA"]
        content = envelope.content if isinstance(envelope.content, bytes) else str(envelope.content).encode()
        parsed = email.message_from_bytes(content, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        self.state.messages.append(parsed)
        self.state.recipients.append(list(envelope.rcpt_tos))
        if self.state.before_accept is not None:
            self.state.before_accept()
        return "250 Message accepted for delivery"

    def authenticate(self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any) -> AuthResult:
        if not isinstance(data, LoginPassword):
            return AuthResult(success=False, handled=False)
        login, password = data.login.decode(), data.password.decode()
        return AuthResult(success=self.state.credentials.get(login) == password, handled=False)


@pytest.fixture
def work(tmp_path: Path) -> Path:
    """A temp dir with a copy of the seeds where the default config applies."""
    shutil.copytree(SEEDS, tmp_path / "seeds")
    return tmp_path


@pytest.fixture
def closed_port() -> int:
    """A port on 127.0.0.1 with no SMTP server behind it."""
    return free_port()


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    """A real aiosmtpd server on 127.0.0.1, plain (no TLS), stopped after the test."""
    state = SmtpServer(host="127.0.0.1", port=free_port())
    handler = _Handler(state)
    controller = Controller(
        handler,
        hostname=state.host,
        port=state.port,
        # A fixed banner name: otherwise aiosmtpd asks socket.getfqdn(), which can wait on DNS.
        server_hostname="localhost",
        authenticator=handler.authenticate,
        # Offer AUTH on the plain connection so login can be tested without a certificate. auth_required stays
        # False, which keeps aiosmtpd from warning (pytest turns warnings into errors).
        auth_require_tls=False,
    )
    controller.start()
    try:
        yield state
    finally:
        controller.stop()


@pytest.fixture
def web_server() -> Iterator[WebServer]:
    """A real HTTP/1.1 server on 127.0.0.1 serving ``routes`` (see tests/webserver.py), stopped after the test."""
    with serving() as server:
        yield server


@dataclass
class TlsPair:
    """A throwaway certificate authority: the server's context and a client context that trusts it."""

    server: ssl.SSLContext
    client: ssl.SSLContext


@pytest.fixture(scope="session")
def tls() -> TlsPair:
    """A local CA (trustme) issuing a certificate for 127.0.0.1 and localhost."""
    authority = trustme.CA()
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("127.0.0.1", "localhost").configure_cert(server)
    client = ssl.create_default_context()
    authority.configure_trust(client)
    return TlsPair(server, client)


def _start(state: SmtpServer, **options: Any) -> Controller:
    handler = _Handler(state)
    controller = Controller(
        handler, hostname=state.host, port=state.port, server_hostname="localhost",
        authenticator=handler.authenticate, **options,
    )
    controller.start()
    return controller


@pytest.fixture
def starttls_server(tls: TlsPair) -> Iterator[SmtpServer]:
    """A real aiosmtpd server on 127.0.0.1 that requires STARTTLS before anything else."""
    state = SmtpServer(host="127.0.0.1", port=free_port())
    controller = _start(state, tls_context=tls.server, require_starttls=True)
    try:
        yield state
    finally:
        controller.stop()


@pytest.fixture
def implicit_tls_server(tls: TlsPair) -> Iterator[SmtpServer]:
    """A real aiosmtpd server on 127.0.0.1 speaking TLS from the first byte (SMTPS)."""
    state = SmtpServer(host="127.0.0.1", port=free_port())
    controller = _start(state, ssl_context=tls.server)
    try:
        yield state
    finally:
        controller.stop()


#: the largest message small_smtp_server takes (it announces it: ESMTP SIZE)
SMALL_SIZE_LIMIT = 40_000


@pytest.fixture
def small_smtp_server() -> Iterator[SmtpServer]:
    """A real aiosmtpd server on 127.0.0.1 that takes messages of at most SMALL_SIZE_LIMIT bytes."""
    state = SmtpServer(host="127.0.0.1", port=free_port())
    controller = _start(state, data_size_limit=SMALL_SIZE_LIMIT)
    try:
        yield state
    finally:
        controller.stop()


@pytest.fixture(scope="session")
def postgres() -> Iterator[pgserver.Server]:
    """A real PostgreSQL server the suite starts itself (Debian's, on 127.0.0.1), for the session; skipped, saying
    why, where Debian's PostgreSQL is not installed (``make test`` installs it where it may)."""
    if pgserver.binaries() is None:
        pytest.skip(f"no PostgreSQL server under {pgserver.DEBIAN} (apt-get install postgresql)")
    with pgserver.running() as server:
        yield server


@dataclass
class StoreSpot:
    """Where a test's store lives on its backend: an SQLite file, or a database of its own on the suite's PostgreSQL
    server. :meth:`open` opens it (again: each call is a new connection to the same store)."""

    backend: str
    #: the SQLite file, or the postgresql:// URL
    target: str

    def open(self) -> StoreInterface:
        if self.backend == "sqlite":
            return Store(Path(self.target))
        return PgStore(self.target)

    @property
    def args(self) -> list[str]:
        """The command line's option naming it."""
        return ["--store", self.target]


_databases = itertools.count()


@pytest.fixture(scope="session")
def store_template(postgres: pgserver.Server) -> str:
    """A database holding an empty store, its schema migrated: each test's store is a copy of it (a copy is made in
    milliseconds, a migration is not)."""
    url = postgres.create_database("store_template")
    PgStore(url).close()
    return "store_template"


def _spot(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> StoreSpot:
    if backend == "sqlite":
        return StoreSpot("sqlite", str(tmp_path / "s.sqlite3"))
    server: pgserver.Server = request.getfixturevalue("postgres")
    template: str = request.getfixturevalue("store_template")
    return StoreSpot("postgresql", server.create_database(f"t{next(_databases)}", template=template))


@pytest.fixture(params=["sqlite", "postgresql"])
def spot(request: pytest.FixtureRequest, tmp_path: Path) -> StoreSpot:
    """A place for a store, on each backend in turn (the test runs once on SQLite, once on PostgreSQL)."""
    return _spot(request.param, tmp_path, request)
