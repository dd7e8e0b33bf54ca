"""Moving up (issue 13): ``corpus-monitor store copy --to postgresql://...`` through the real command line, from
a SQLite store into a database on the suite's real PostgreSQL server, then ``status`` and ``digest`` on the copy.

The SQLite store is built the way a user builds one, with a real SMTP server and a real web server on 127.0.0.1:
the seeds and two web sources digested and delivered, a digest the mail server refused for good, one it put off
(pending), a corrupt file in the folder, a conflict, a source that fails. Both stores are then read directly
(sqlite3 and psycopg) and compared table by table, row by row. The refusals of ``store copy`` are each one line
naming what is at fault, with exit 2 for usage and configuration, 1 for what fails at run time.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from conftest import SmtpServer, free_port
from helpers import SEEDS, drop, settled
from pgserver import Server
from psycopg import sql
from test_cli import novel_sentences
from test_service import service
from webserver import WebServer

from monitor.normalize import Normalizer
from monitor.scheduler import HEARTBEAT
from monitor.store.postgres import PgStore

NORM = Normalizer("t2s")
#: the installed command, as a user runs it
COMMAND = Path(sys.executable).with_name("corpus-monitor")
#: the tables a copy leaves out: the state of the processes that worked on the SQLite file
NOT_COPIED = {"workers", "leases"}
#: the keys `status --format json` had before the PostgreSQL backend, and those it adds
STATUS_KEYS = {"store", "documents", "claims", "unreported", "last_digest_at", "last_digest_to",
               "last_digest_claims", "pending_digests", "pending_error", "refused_digests", "refused_error", "sources"}
STATUS_ADDED = {"delivered_digests", "workers"}

NOVEL = novel_sentences(10)
#: a known claim of the seeds (seed 000: 35万块) with another figure: a conflict
CONFLICTING = "扎克伯格今年早些时候曾表示，为了构建自己的AGI，Meta会在年底前采购约50万块英伟达H100 GPU。"
#: the local site: a page, a feed listing an article and an entry that is gone, a page that fails
PAGE, FEED, ARTICLE, MISSING, FAILING = "/studio.html", "/feed.xml", "/jacket.html", "/gone.html", "/down.html"


def environ(**extra: str) -> dict[str, str]:
    """This environment without libpq's own password sources (PGPASSWORD, ~/.pgpass), plus ``extra``."""
    clean = {key: value for key, value in os.environ.items() if not key.startswith("PG")}
    return {**clean, "PGPASSFILE": str(Path(__file__).with_name("no-such-pgpass")), **extra}


def cli(work: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(COMMAND), *args], cwd=work, capture_output=True, text=True, timeout=120,
                          env=env or environ())


def one_error(res: subprocess.CompletedProcess[str], status: int) -> str:
    """The one line a refusal prints on stderr, checked to be the only one and the exit status to be ``status``."""
    assert res.returncode == status, (res.returncode, res.stdout, res.stderr)
    (line,) = res.stderr.splitlines()
    assert line.startswith("corpus-monitor: "), line
    return line


def article(title: str, sentences: list[str]) -> str:
    paragraphs = "".join(f"<p>{s}</p>" for s in sentences)
    return (f"<html><head><meta charset='utf-8'><title>{title}</title></head><body><article><h1>{title}</h1>"
            f"{paragraphs}</article></body></html>")


def rss(server: WebServer, paths: list[str]) -> str:
    items = "".join(f"<item><title>entry {n}</title><link>{server.url(path)}</link><guid>entry-{n}</guid>"
                    f"<pubDate>Wed, 31 Jul 2024 0{n}:00:00 +0800</pubDate></item>" for n, path in enumerate(paths))
    return ('<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel><title>快讯</title>'
            f"<link>{server.url('/')}</link><description>test</description>{items}</channel></rss>")


CONFIG = """
[store]
path = "var/monitor.sqlite3"
[digest]
outbox = "var/outbox"
from = "monitor@example.org"
to = ["reader@example.org"]
[smtp]
host = "127.0.0.1"
port = {smtp}
security = "none"
timeout_seconds = 10
[http]
per_host_delay_seconds = 0
backoff_seconds = 0
retries = 0
timeout_seconds = 10
allow_private_addresses = true
[[sources]]
kind = "folder"
name = "seeds"
path = "seeds"
[[sources]]
kind = "feed"
name = "feed"
url = "{feed}"
[[sources]]
kind = "page"
name = "studio"
url = "{page}"
[[sources]]
kind = "page"
name = "down"
url = "{failing}"
"""


# -- reading both stores directly ------------------------------------------------------------------


def _plain(value: object) -> object:
    """A value as either driver gives it, alike: bytea comes as bytes or memoryview."""
    return bytes(value) if isinstance(value, memoryview | bytearray) else value


def sqlite_tables(path: Path) -> dict[str, tuple[list[str], list[str]]]:
    """Each table of the SQLite store: (its columns, its primary key's columns)."""
    with contextlib.closing(sqlite3.connect(path)) as db:
        names = [n for (n,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'"
                                          " AND name NOT LIKE 'sqlite_%' ORDER BY name")]
        found = {}
        for name in names:
            info = db.execute(f"PRAGMA table_info({name})").fetchall()
            key = [row[1] for row in sorted(info, key=lambda row: row[5]) if row[5]]
            found[name] = ([row[1] for row in info], key)
    return found


def pg_columns(url: str) -> dict[str, set[str]]:
    with psycopg.connect(url) as db:
        rows = db.execute("SELECT table_name, column_name FROM information_schema.columns"
                          " WHERE table_schema = 'public'").fetchall()
    found: dict[str, set[str]] = {}
    for table, column in rows:
        found.setdefault(table, set()).add(column)
    return found


def sqlite_rows(path: Path, table: str, columns: list[str], order: list[str]) -> list[tuple[object, ...]]:
    with contextlib.closing(sqlite3.connect(path)) as db:
        query = f"SELECT {', '.join(columns)} FROM {table} ORDER BY {', '.join(order)}"  # noqa: S608 - its names
        return [tuple(map(_plain, row)) for row in db.execute(query)]


def pg_rows(url: str, table: str, columns: list[str], order: list[str]) -> list[tuple[object, ...]]:
    with psycopg.connect(url) as db:
        query = sql.SQL("SELECT {} FROM {} ORDER BY {}").format(
            sql.SQL(", ").join(map(sql.Identifier, columns)), sql.Identifier(table),
            sql.SQL(", ").join(map(sql.Identifier, order)))
        return [tuple(map(_plain, row)) for row in db.execute(query)]


def pg_snapshot(url: str) -> dict[str, list[tuple[object, ...]]]:
    """Every row of every table of a PostgreSQL store, in a fixed order."""
    snapshot = {}
    for table, columns in pg_columns(url).items():
        names = sorted(columns)
        snapshot[table] = pg_rows(url, table, names, names)
    return snapshot


def status_json(work: Path, *args: str) -> dict[str, Any]:
    res = cli(work, "status", "--format", "json", *args)
    assert res.returncode == 0, res.stderr
    payload: dict[str, Any] = json.loads(res.stdout)
    return payload


def message_ids(server: SmtpServer) -> list[str]:
    return [str(msg["Message-ID"]) for msg in server.messages]


# -- a SQLite store with every kind of row ---------------------------------------------------------


@dataclass
class Built:
    """The work dir, its SQLite store and the servers it was built against."""

    work: Path
    store: Path
    smtp: SmtpServer
    web: WebServer
    #: the Message-ID of the digest the server put off (pending) when the store was copied
    pending: str


@pytest.fixture
def built(tmp_path: Path, smtp_server: SmtpServer, web_server: WebServer) -> Built:
    """The seeds, a page, a feed (one entry served, one gone) and a page that fails, digested three times: delivered;
    a conflict refused for good (554); a new document put off (451). A corrupt file sits in the folder."""
    work = tmp_path
    web = web_server
    web.set(PAGE, article("Meta发布AI Studio", NOVEL[0:2]))
    web.set(ARTICLE, article("扎克伯格与黄仁勋互换夹克", [NOVEL[6], NOVEL[2]]))
    web.set(FEED, rss(web, [ARTICLE, MISSING]), content_type="application/rss+xml; charset=utf-8")
    web.set(FAILING, "server error", status=500, content_type="text/plain")
    (work / "corpus-monitor.toml").write_text(
        CONFIG.format(smtp=smtp_server.port, feed=web.url(FEED), page=web.url(PAGE), failing=web.url(FAILING)),
        encoding="utf-8")
    (work / "seeds").mkdir()
    for path in SEEDS.iterdir():
        (work / "seeds" / path.name).write_bytes(path.read_bytes())
    (work / "seeds" / "broken.html").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8)
    settled(*(work / "seeds").iterdir())

    delivered = cli(work, "digest")
    assert delivered.returncode == 0, delivered.stderr
    assert "broken.html" in delivered.stderr and "7 new or changed, 0 unchanged, 3 failed" in delivered.stdout
    smtp_server.refuse["DATA"] = "554 5.6.0 message content rejected"
    drop(work / "seeds" / "conflict.txt", "新稿\n\n" + CONFLICTING + "\n")
    refused = cli(work, "digest")
    assert refused.returncode == 1 and "REFUSED" in refused.stdout, refused.stdout
    smtp_server.refuse["DATA"] = "451 4.3.0 try again later"
    drop(work / "seeds" / "later.txt", "新稿二\n\n" + "\n".join(NOVEL[3:6]) + "\n")
    put_off = cli(work, "digest")
    assert put_off.returncode == 1 and "NOT delivered" in put_off.stdout, put_off.stdout
    del smtp_server.refuse["DATA"]
    assert len(smtp_server.messages) == 1

    store = work / "var" / "monitor.sqlite3"
    with contextlib.closing(sqlite3.connect(store)) as db:
        states = dict(db.execute("SELECT state, count(*) FROM deliveries GROUP BY state").fetchall())
        assert states == {"sent": 1, "refused": 1, "pending": 1}
        (pending,) = db.execute("SELECT message_id FROM deliveries WHERE state = 'pending'").fetchone()
    return Built(work, store, smtp_server, web, pending)


def test_a_store_with_every_kind_of_row_is_copied_row_for_row_and_work_goes_on_there(
    built: Built, postgres: Server
) -> None:
    work, store = built.work, built.store
    tables = sqlite_tables(store)
    # every table holds rows (else the comparison below would prove little), the leases excepted: none is held
    for table in tables:
        (count,) = sqlite_rows(store, table, ["count(*)"], ["1"])[0]
        assert count or table == "leases", f"no rows in {table}"
    with contextlib.closing(sqlite3.connect(store)) as db:
        matches = {m for (m,) in db.execute("SELECT DISTINCT match FROM occurrences")}
        entries = dict(db.execute("SELECT url, state FROM feed_entries").fetchall())
        (version,) = db.execute("PRAGMA user_version").fetchone()
    assert matches == {"new", "exact", "near"}
    assert entries == {built.web.url(ARTICLE): "ingested", built.web.url(MISSING): "failed"}
    before = hashlib.sha256(store.read_bytes()).hexdigest()
    sqlite_status = status_json(work)

    url = postgres.create_database("copy_every_row")  # a database with no tables: the copy makes them
    copied = cli(work, "store", "copy", "--to", url)
    assert copied.returncode == 0, copied.stderr
    assert copied.stdout.startswith(f"Copied {store} into {url}: ")
    assert hashlib.sha256(store.read_bytes()).hexdigest() == before  # only read

    # the same tables, with the same columns (PostgreSQL numbers the feed entries in a column of its own)
    columns = pg_columns(url)
    assert set(columns) == set(tables) | {"schema_version"}
    for table, (names, _) in tables.items():
        assert columns[table] == set(names) | ({"seq"} if table == "feed_entries" else set()), table
    # row for row, in the order of their keys (feed entries: in the order they were listed)
    for table, (names, key) in tables.items():
        if table in NOT_COPIED:
            assert pg_rows(url, table, names, names) == [], table
            continue
        listed = table == "feed_entries"
        mine = sqlite_rows(store, table, names, ["rowid"] if listed else key)
        theirs = pg_rows(url, table, names, ["seq"] if listed else key)
        assert theirs == mine, table
    messages = dict(pg_rows(url, "deliveries", ["state", "message"], ["id"]))
    assert messages["sent"] is None and isinstance(messages["pending"], bytes)
    assert f"Message-ID: {built.pending}".encode() in messages["pending"]
    assert pg_rows(url, "schema_version", ["version"], ["version"]) == [(version,)]

    # status: the same on both, but for where the store is and the workers seen (they worked on the file)
    pg_status = status_json(work, "--store", url)
    assert set(sqlite_status) == set(pg_status) == STATUS_KEYS | STATUS_ADDED
    differ = {"store", "workers"}
    assert {k: v for k, v in pg_status.items() if k not in differ} == {
        k: v for k, v in sqlite_status.items() if k not in differ}
    assert (sqlite_status["store"], pg_status["store"]) == (str(store), url)
    assert pg_status["workers"] == [] and len(sqlite_status["workers"]) == 3  # one per digest run
    assert set(sqlite_status["workers"][0]) == {"name", "host", "pid", "started_at", "last_seen", "leases"}
    assert (pg_status["pending_digests"], pg_status["refused_digests"], pg_status["delivered_digests"]) == (1, 1, 1)
    assert "451 4.3.0" in pg_status["pending_error"] and "554 5.6.0" in pg_status["refused_error"]
    down = next(s for s in pg_status["sources"] if s["name"] == "down")
    assert down["failures_in_a_row"] == 3 and "500" in down["last_error"]

    # work goes on on the copy: the put-off digest goes out with its Message-ID; the next holds only what is new
    drop(work / "seeds" / "final.txt", "新稿三\n\n" + "\n".join(NOVEL[7:9]) + "\n")
    built.web.clear()
    going_on = cli(work, "digest", "--store", url)
    assert going_on.returncode == 0, going_on.stderr
    assert f"Delivered an earlier digest that had failed, {built.pending}" in going_on.stdout
    assert ": 1 new or changed, " in going_on.stdout and "\n2 new claims.\n" in going_on.stdout
    assert going_on.stderr.splitlines() == [f"corpus-monitor: warning: {built.web.url(FAILING)}: HTTP 500 Internal"
                                            " Server Error"]
    first, resent, latest = built.smtp.messages
    assert resent["Message-ID"] == built.pending and latest["Message-ID"] not in (built.pending, first["Message-ID"])
    assert str(resent["Subject"]) == stored_subject(url, built.pending)
    assert "2 new claims" in str(latest["Subject"])
    body = latest.get_body(("plain",))
    assert body is not None
    assert all(NORM.key(s) in NORM.key(body.get_content()) for s in NOVEL[7:9])
    # the web sources were asked conditionally, with the validators the copy carried: nothing changed
    for path in (PAGE, FEED):
        (asked,) = built.web.gets(path)
        assert asked.headers.get("if-none-match") and asked.status == 304, path
    assert built.web.gets(ARTICLE) == []  # an entry ingested on SQLite is not fetched again
    after = status_json(work, "--store", url)
    assert (after["unreported"], after["pending_digests"], after["delivered_digests"]) == (0, 0, 3)
    assert after["claims"] == sqlite_status["claims"] + 2
    (worker,) = after["workers"]
    assert worker["leases"] == [] and worker["host"]
    assert cli(work, "digest", "--store", url).stdout.count("Nothing new to report") == 1
    assert len(built.smtp.messages) == 3


def stored_subject(url: str, message_id: str) -> str:
    """The subject a digest was recorded with in a PostgreSQL store."""
    with psycopg.connect(url) as db:
        row = db.execute("SELECT subject FROM deliveries WHERE message_id = %s", (message_id,)).fetchone()
    assert row is not None
    return str(row[0])


# -- status on a PostgreSQL store ------------------------------------------------------------------


@pytest.fixture
def small(tmp_path: Path) -> Path:
    """A work dir whose SQLite store holds one scanned document (no digest): quick to build."""
    (tmp_path / "seeds").mkdir()
    drop(tmp_path / "seeds" / "one.txt", "一稿\n\n" + "\n".join(NOVEL[:3]) + "\n")
    res = cli(tmp_path, "scan")
    assert res.returncode == 0, res.stderr
    return tmp_path


def test_status_text_json_and_health_on_a_postgresql_store(small: Path, postgres: Server) -> None:
    url = postgres.create_database("status_pg")
    assert cli(small, "store", "copy", "--to", url).returncode == 0
    text = cli(small, "status", "--store", url)
    assert text.returncode == 0, text.stderr
    lines = text.stdout.splitlines()
    assert lines[:4] == [f"Store: {url}", "Documents: 1", "Claims: 3 (3 not yet reported)", "Last digest: none yet"]
    assert "Source folder:seeds (folder): ok;" in text.stdout
    payload = status_json(small, "--store", url)
    assert payload["store"] == url and payload["workers"] == [] and payload["delivered_digests"] == 0
    assert (payload["documents"], payload["claims"], payload["unreported"]) == (1, 3, 3)

    never = cli(small, "status", "--health", "--store", url)
    assert (never.returncode, never.stdout) == (1, "unhealthy: no service has polled this store yet\n")
    # a service's heartbeat, as the service writes it into the shared store
    with PgStore(url) as store:
        beat = {"pid": 4242, "last_poll": datetime.now(UTC).isoformat(), "poll_seconds": 60.0}
        store.set_meta(HEARTBEAT, json.dumps(beat))
    healthy = cli(small, "status", "--health", "--store", url)
    assert healthy.returncode == 0 and healthy.stdout.startswith("ok: last poll ") and "pid 4242" in healthy.stdout
    with PgStore(url) as store:
        beat["last_poll"] = (datetime.now(UTC) - timedelta(minutes=10)).isoformat()
        store.set_meta(HEARTBEAT, json.dumps(beat))
    stale = cli(small, "status", "--health", "--store", url)
    assert stale.returncode == 1 and stale.stdout.startswith("unhealthy: last poll ") and "pid 4242" in stale.stdout


def test_status_of_a_server_that_is_not_there_is_one_error(small: Path) -> None:
    url = f"postgresql://monitor@127.0.0.1:{free_port()}/nowhere"
    for args in (("status",), ("status", "--format", "json"), ("status", "--health")):
        line = one_error(cli(small, *args, "--store", url), 1)
        assert line.startswith(f"corpus-monitor: error: {url}: cannot connect to the store: "), line


# -- refusals --------------------------------------------------------------------------------------


def test_a_store_that_is_not_empty_is_refused_and_left_as_it_was(small: Path, postgres: Server) -> None:
    url = postgres.create_database("not_empty")
    assert cli(small, "store", "copy", "--to", url).returncode == 0
    drop(small / "seeds" / "two.txt", "二稿\n\n" + "\n".join(NOVEL[3:5]) + "\n")
    assert cli(small, "scan").returncode == 0  # the SQLite store has more now
    before = pg_snapshot(url)
    line = one_error(cli(small, "store", "copy", "--to", url), 1)
    assert line.startswith(f"corpus-monitor: error: {url}: the PostgreSQL store is not empty (1 ")
    assert " in documents, " in line and " in claims, " in line
    assert line.endswith("); copy into an empty one (a new database)")
    assert pg_snapshot(url) == before


TO_PASSWORD = ("the URL holds a password: a password is never read from --to; give it with --password-env or"
               " --password-file")


@pytest.mark.parametrize(("to", "expected"), [
    ("/srv/monitor.sqlite3", "expected a URL like 'postgresql://user@host:5432/database'"),
    ("mysql://monitor@db.example/corpus", "expected a URL like 'postgresql://user@host:5432/database', got "
     "'mysql://monitor@db.example/corpus'"),
    # another kind of URL is shown as given, but for its password
    ("postgresql+psycopg://monitor:s3cret@pw@db.example/corpus", "expected a URL like "
     "'postgresql://user@host:5432/database', got 'postgresql+psycopg://monitor:***@db.example/corpus'"),
    ("postgresql://monitor:s3cret-pw@127.0.0.1:5432/corpus", TO_PASSWORD),
    ("postgresql://monitor@127.0.0.1:5432/corpus?password=s3cret-pw", TO_PASSWORD),
    ("postgresql://monitor@127.0.0.1:5432/corpus?nonsense=1", "not a PostgreSQL URL libpq can read"),
    # libpq's own message quotes the URL: its password is masked there too
    ("postgresql://monitor:s3cret@[::1/corpus", "not a PostgreSQL URL libpq can read: end of string reached when"
     ' looking for matching "]" in IPv6 host address in URI: "postgresql://monitor:***@[::1/corpus"'),
])
def test_to_must_be_a_postgresql_url_without_a_password(small: Path, to: str, expected: str) -> None:
    line = one_error(cli(small, "store", "copy", "--to", to), 2)
    assert line.startswith(f"corpus-monitor: config error: --to: {expected}"), line
    assert "s3cret" not in line


def test_a_server_not_listening_is_named_without_the_password(small: Path) -> None:
    url = f"postgresql://monitor@127.0.0.1:{free_port()}/corpus"
    res = cli(small, "store", "copy", "--to", url, "--password-env", "CM_PW", env=environ(CM_PW="s3cret-pw"))
    line = one_error(res, 1)
    assert line.startswith(f"corpus-monitor: error: {url}: cannot connect to the store: "), line
    assert "Connection refused" in line and "s3cret" not in res.stderr + res.stdout


def test_the_password_options_are_checked_before_anything_is_opened(small: Path, tmp_path: Path) -> None:
    url = f"postgresql://monitor@127.0.0.1:{free_port()}/corpus"  # nothing listens: a connection would fail (1)
    line = one_error(cli(small, "store", "copy", "--to", url, "--password-env", "CM_UNSET"), 2)
    assert line == ("corpus-monitor: config error: --password-env: environment variable CM_UNSET is not set"
                    " (or is empty)")
    assert one_error(cli(small, "store", "copy", "--to", url, "--password-env", "CM_PW",
                         env=environ(CM_PW="")), 2).endswith("CM_PW is not set (or is empty)")
    for unreadable in (tmp_path / "no-such-file", small / "seeds"):
        line = one_error(cli(small, "store", "copy", "--to", url, "--password-file", str(unreadable)), 2)
        assert line.startswith(f"corpus-monitor: config error: --password-file: cannot read {unreadable}: "), line
    empty = tmp_path / "empty-password"
    empty.write_text("\n", encoding="utf-8")
    line = one_error(cli(small, "store", "copy", "--to", url, "--password-file", str(empty)), 2)
    assert line == f"corpus-monitor: config error: --password-file: {empty} is empty"
    both = one_error(cli(small, "store", "copy", "--to", url, "--password-env", "CM_PW", "--password-file",
                         str(empty), env=environ(CM_PW="x")), 2)
    assert "give the password one way" in both


def test_the_copy_needs_a_sqlite_store_to_copy(small: Path, postgres: Server) -> None:
    url = postgres.create_database("needs_sqlite")
    line = one_error(cli(small, "store", "copy", "--to", url, "--store", "missing.sqlite3"), 2)
    assert line == f"corpus-monitor: config error: store copy: no SQLite store at {small / 'missing.sqlite3'}"
    (small / "corpus-monitor.toml").write_text(f'[store]\nurl = "{url}"\n', encoding="utf-8")
    line = one_error(cli(small, "store", "copy", "--to", url), 2)
    assert "the store to copy from is an SQLite file" in line and "--store PATH" in line
    assert pg_snapshot(url) == {}  # nothing was made there


def test_a_store_a_service_works_on_is_not_copied_until_it_stops(small: Path, postgres: Server) -> None:
    """The copy is of a store at rest: a service working on the file would go on writing there, its work after the
    copy lost, and tables read one after another while it writes need not agree."""
    (small / "corpus-monitor.toml").write_text('[log]\nformat = "json"\n', encoding="utf-8")
    url = postgres.create_database("busy")
    with service(small) as svc:
        svc.wait_event("poll", 30)
        line = one_error(cli(small, "store", "copy", "--to", url), 1)
        assert line == (f"corpus-monitor: error: {small / 'var' / 'monitor.sqlite3'}: another corpus-monitor (pid"
                        f" {svc.process.pid}) is working on this store; stop it first (`corpus-monitor status` and"
                        " `digest --dry-run` work beside it)")
        assert svc.stop(30) == 0
    assert pg_snapshot(url) == {}  # not even the tables were made
    copied = cli(small, "store", "copy", "--to", url)
    assert copied.returncode == 0, copied.stderr


# -- a role that logs in with a password ----------------------------------------------------------


@dataclass(frozen=True)
class Role:
    name: str
    password: str


@pytest.fixture(scope="module")
def password_role(postgres: Server) -> Iterator[Role]:
    """A role of the suite's server that must give its password (scram-sha-256 over TCP): the suite's own role is
    trusted, which tests no password. The rule is the first of pg_hba.conf, for this role alone; it goes after."""
    role = Role("copier", "c0py-pass-wörd")
    with psycopg.connect(postgres.url(), autocommit=True) as db:
        db.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(sql.Identifier(role.name),
                                                                    sql.Literal(role.password)))
        (hba,) = db.execute("SHOW hba_file").fetchone() or ("",)
        rules = Path(hba)
        original = rules.read_text(encoding="utf-8")
        rules.write_text(f"host all {role.name} 127.0.0.1/32 scram-sha-256\n{original}", encoding="utf-8")
        db.execute("SELECT pg_reload_conf()")
    # the server reloads its rules when it gets to the signal: until then the role may still come in unasked
    as_role = f"postgresql://{role.name}@{postgres.host}:{postgres.port}/postgres"
    deadline = time.monotonic() + 10
    while True:
        try:
            psycopg.connect(as_role, password="", connect_timeout=5).close()
        except psycopg.OperationalError:
            break
        assert time.monotonic() < deadline, "the server did not take the new pg_hba.conf rule"
        time.sleep(0.05)
    try:
        yield role
    finally:
        rules.write_text(original, encoding="utf-8")
        with psycopg.connect(postgres.url(), autocommit=True) as db:
            db.execute("SELECT pg_reload_conf()")


def owned_database(postgres: Server, name: str, role: Role) -> str:
    """A new database owned by ``role`` (its tables are made as the role); its URL as the role."""
    postgres.create_database(name)
    with psycopg.connect(postgres.url(), autocommit=True) as db:
        db.execute(sql.SQL("ALTER DATABASE {} OWNER TO {}").format(sql.Identifier(name), sql.Identifier(role.name)))
    return f"postgresql://{role.name}@{postgres.host}:{postgres.port}/{name}"


def test_the_password_reaches_the_server_from_a_file_or_the_environment(
    small: Path, postgres: Server, password_role: Role, tmp_path: Path
) -> None:
    url = owned_database(postgres, "with_password", password_role)
    secret = tmp_path / "credentials" / "store-password"
    secret.parent.mkdir()
    wrong = tmp_path / "wrong-password"
    wrong.write_text("not-the-password\n", encoding="utf-8")
    for args in ((), ("--password-file", str(wrong))):
        res = cli(small, "store", "copy", "--to", url, *args)
        line = one_error(res, 1)
        assert line.startswith(f"corpus-monitor: error: {url}: cannot connect to the store: "), line
        assert "password" in line and "not-the-password" not in res.stderr
    secret.write_text(f"{password_role.password}\nanything on later lines is not read\n", encoding="utf-8")
    copied = cli(small, "store", "copy", "--to", url, "--password-file", str(secret))
    assert copied.returncode == 0, copied.stderr
    assert password_role.password not in copied.stdout + copied.stderr
    # the config's [store] url, the password from password_file under ${CREDENTIALS_DIRECTORY}, or password_env
    (small / "corpus-monitor.toml").write_text(
        f'[store]\nurl = "{url}"\npassword_file = "${{CREDENTIALS_DIRECTORY}}/store-password"\n', encoding="utf-8")
    status = cli(small, "status", env=environ(CREDENTIALS_DIRECTORY=str(secret.parent)))
    assert status.returncode == 0, status.stderr
    assert status.stdout.startswith(f"Store: {url}\nDocuments: 1\n")
    (small / "corpus-monitor.toml").write_text(f'[store]\nurl = "{url}"\npassword_env = "CM_STORE_PW"\n',
                                               encoding="utf-8")
    with_env = cli(small, "status", "--format", "json", env=environ(CM_STORE_PW=password_role.password))
    assert with_env.returncode == 0, with_env.stderr
    assert json.loads(with_env.stdout)["store"] == url and json.loads(with_env.stdout)["documents"] == 1
    refused = cli(small, "status", env=environ(CM_STORE_PW="not-the-password"))
    assert one_error(refused, 1).startswith(f"corpus-monitor: error: {url}: cannot connect to the store: ")

