"""A real PostgreSQL server for the tests, started by the suite itself (issue 13): Debian's PostgreSQL binaries,
``initdb`` into a fresh temporary folder, ``pg_ctl start`` listening on 127.0.0.1 at a free port only, stopped and
deleted at the end.

``initdb`` refuses to run as root: as root (CI), the folder is handed to the ``postgres`` user and the server's
commands run as that user (``runuser``). The cluster trusts local connections (it listens on loopback only, and
lives as long as the test session) and skips fsync, which a throw-away cluster does not need.

A test may stop and start the server under its clients (:meth:`Server.restart`): the same data folder, address and
port, so their connections break and new ones find the same databases.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

#: where Debian puts each major version's server programs
DEBIAN = Path("/usr/lib/postgresql")
#: the role the tests connect as
USER = "monitor"


@dataclass(frozen=True)
class Server:
    """A running server: its address, and a URL to a database of its own for each name asked."""

    host: str
    port: int
    bin: Path
    run_as: tuple[str, ...]
    #: the cluster's data folder, its server log, and the server's options (address, port, sockets)
    data: Path | None = None
    log: Path | None = None
    options: str = ""

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{USER}@{self.host}:{self.port}/{database}"

    def create_database(self, name: str, template: str | None = None) -> str:
        """A new database, empty or a copy of ``template``; its URL."""
        import psycopg
        from psycopg import sql

        with psycopg.connect(self.url(), autocommit=True) as db:
            statement = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
            if template is not None:
                statement += sql.SQL(" TEMPLATE {}").format(sql.Identifier(template))
            db.execute(statement)
        return self.url(name)

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (``fast``: its clients' connections are closed, their transactions rolled back;
        ``immediate``: as if it crashed); its data folder stays."""
        assert self.data is not None
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def start(self) -> None:
        """Start the server again on its data folder, address and port; returns once it takes connections."""
        assert self.data is not None and self.log is not None
        self._run("pg_ctl", "-D", str(self.data), "-o", self.options, "-l", str(self.log), "-w", "start")

    def restart(self, mode: str = "fast") -> None:
        """Stop the server and start it again: every connection breaks, the databases stay."""
        self.stop(mode)
        self.start()

    def _run(self, program: str, *args: str) -> None:
        subprocess.run([*self.run_as, str(self.bin / program), *args], check=True, capture_output=True, text=True)


def binaries() -> Path | None:
    """The newest PostgreSQL server programs Debian installed, if any."""
    versions = [p.parent for p in DEBIAN.glob("*/bin/initdb") if p.parent.parent.name.isdigit()]
    return max(versions, key=lambda b: int(b.parent.name)) if versions else None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def running(settings: str = "", *, fsync: bool = False) -> Iterator[Server]:
    """Start a throw-away server (``settings``: more ``-c name=value`` options; fsync off unless asked); yield it;
    stop it and delete its files. ``benchmarks/scale.py`` starts its server here too."""
    bin_dir = binaries()
    if bin_dir is None:
        raise FileNotFoundError(f"no PostgreSQL server under {DEBIAN} (apt-get install postgresql)")
    root = Path(tempfile.mkdtemp(prefix="corpus-monitor-pg-"))
    data, sockets = root / "data", root / "run"
    sockets.mkdir()
    run_as: tuple[str, ...] = ()
    if os.geteuid() == 0:  # initdb will not run as root: the cluster is the postgres user's
        shutil.chown(root, "postgres")
        shutil.chown(sockets, "postgres")
        run_as = ("runuser", "-u", "postgres", "--")
    port = _free_port()
    options = f"-c listen_addresses=127.0.0.1 -p {port} -k {sockets} {settings}".rstrip()
    if not fsync:
        options += " -c fsync=off -c full_page_writes=off"
    server = Server("127.0.0.1", port, bin_dir, run_as, data, root / "server.log", options)
    server._run("initdb", "-D", str(data), "-U", USER, "-A", "trust", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync")
    try:
        server.start()
        yield server
    finally:
        subprocess.run([*run_as, str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"],
                       capture_output=True, check=False)
        shutil.rmtree(root, ignore_errors=True)
