"""The service, ``corpus-monitor run``, as a real subprocess in a temp dir: it polls on start, sees a new file
within seconds (file events, not the hourly poll), delivers to a real SMTP server (aiosmtpd on 127.0.0.1),
stops cleanly on SIGTERM (even in the middle of a slow poll), reloads its config on SIGHUP, and is the only
writer of its store. Its log lines (``[log] format = "json"``) are read from stderr on a background thread,
so the pipe never fills, and every wait is bounded by a deadline (``wait_for``)."""

from __future__ import annotations

import contextlib
import json
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from conftest import SmtpServer, StoreSpot
from helpers import DEV, drop
from test_cli import novel_sentences
from test_delivery_faults import add_document, spot_of
from webserver import WebServer

from monitor.normalize import Normalizer
from monitor.scheduler import as_it_happens_due

NORM = Normalizer("t2s")
T = TypeVar("T")
STORE = Path("var") / "monitor.sqlite3"
#: the service's log events (monitor/scheduler.py)
NOT_DELIVERED = "digest not delivered; kept and retried with backoff"
RELOAD_REFUSED = "config reload refused; the old config stays"


def write_config(work: Path, smtp_port: int, *, digest: str = "as-it-happens", poll_every: str = "1h",
                 quiet: str = "0.5s", min_interval: str = "0s", extra: str = "") -> None:
    """Poll hourly (after the poll on start, only file events cause scans), JSON log lines, SMTP to the test server;
    as it happens, a digest half a second after the last arrival."""
    (work / "corpus-monitor.toml").write_text(
        f"[schedule]\npoll_every = {json.dumps(poll_every)}\ndigest = {json.dumps(digest)}\n"
        f"quiet = {json.dumps(quiet)}\nmin_interval = {json.dumps(min_interval)}\n"
        '[log]\nformat = "json"\n'
        '[digest]\nfrom = "monitor@example.org"\nto = ["reader@example.org"]\n'
        f'[smtp]\nhost = "127.0.0.1"\nport = {smtp_port}\nsecurity = "none"\ntimeout_seconds = 10\n' + extra,
        encoding="utf-8",
    )


def command(work: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """A one-shot command, bounded (a command that should have been refused must not hang the test)."""
    return subprocess.run(
        [sys.executable, "-m", "monitor", *args], cwd=work, capture_output=True, text=True, timeout=timeout
    )


def wait_for(predicate: Callable[[], T | None], timeout: float, what: str = "") -> T:
    """Poll ``predicate`` until it returns something truthy (returned), or fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"not within {timeout:g} s: {what}")
        time.sleep(0.05)


def query(work: Path, sql: str) -> list[tuple[Any, ...]]:
    with contextlib.closing(sqlite3.connect(work / STORE)) as db:
        return db.execute(sql).fetchall()


def query_store(where: Path | StoreSpot, sql: str) -> list[tuple[Any, ...]]:
    """``query`` on either backend: the work dir's SQLite file, or the store at a spot."""
    with spot_of(where).open() as opened:
        return [tuple(row) for row in opened._db.execute(sql).fetchall()]


class Running:
    """A running ``corpus-monitor run`` and the lines it has written to stderr so far."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.process = process
        self.lines: list[str] = []
        self.reader = threading.Thread(target=self._read, name="service-stderr", daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:  # until the process exits (EOF)
            self.lines.append(line)

    def log(self) -> str:
        return "".join(self.lines)

    def events(self) -> list[dict[str, Any]]:
        """Every log line so far, parsed: each must be one JSON object."""
        parsed = []
        for line in list(self.lines):
            try:
                parsed.append(json.loads(line))
            except json.JSONDecodeError:
                raise AssertionError(f"not a JSON log line: {line!r}\n--- service log ---\n{self.log()}") from None
        return parsed

    def event(self, name: str, **fields: Any) -> dict[str, Any] | None:
        """The first event called ``name`` with these field values, if logged yet."""
        for event in self.events():
            if event["event"] == name and all(event.get(key) == value for key, value in fields.items()):
                return event
        return None

    def named(self, name: str) -> list[dict[str, Any]]:
        return [event for event in self.events() if event["event"] == name]

    def wait_event(self, name: str, timeout: float, **fields: Any) -> dict[str, Any]:
        """Wait for an event; fail at once (with the log) if the service exits without it."""

        def logged() -> dict[str, Any] | None:
            found = self.event(name, **fields)
            if found is None and self.process.poll() is not None:
                self.reader.join(timeout=5)  # the last lines
                found = self.event(name, **fields)
                if found is None:
                    raise AssertionError(f"the service exited ({self.process.returncode}) without logging {name!r}"
                                         f" {fields}\n--- service log ---\n{self.log()}")
            return found

        try:
            return wait_for(logged, timeout, f"event {name!r} {fields}")
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n--- service log ---\n{self.log()}") from None

    def stop(self, timeout: float, sig: signal.Signals = signal.SIGTERM) -> int:
        """Send ``sig``; the exit status, which must come within ``timeout`` seconds."""
        self.process.send_signal(sig)
        try:
            status = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            log = self.log()
            raise AssertionError(f"still running {timeout:g} s after {sig.name}\n--- service log ---\n{log}") from None
        self.reader.join(timeout=5)
        return status


@contextlib.contextmanager
def service(work: Path, *args: str) -> Iterator[Running]:
    """``corpus-monitor run *args`` in ``work``; SIGKILLed on the way out if the test left it running."""
    process = subprocess.Popen(
        [sys.executable, "-m", "monitor", "run", *args], cwd=work, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE, text=True, encoding="utf-8",
    )
    running = Running(process)
    try:
        yield running
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)
        running.reader.join(timeout=10)
        assert process.stderr is not None
        process.stderr.close()


def plain(message: Any) -> str:
    body = message.get_body(("plain",))
    assert body is not None
    return str(body.get_content())


def test_service_delivers_on_start_picks_up_a_new_file_within_seconds_and_stops_cleanly(
    work: Path, smtp_server: SmtpServer
) -> None:
    write_config(work, smtp_server.port)
    with service(work) as svc:
        wait_for(lambda: smtp_server.messages, 30, "the first digest (the seeds) at the SMTP server")
        started = svc.wait_event("service started", 5)
        assert started["pid"] == svc.process.pid and started["digest"] == "as-it-happens"
        assert started["poll_every"] == "3600s" and started["store"] == str(work / STORE)
        poll = svc.wait_event("poll", 5)
        assert poll["documents_new_or_changed"] == 5 and poll["claims_new"] > 0 and poll["errors"] == 0
        assert svc.wait_event("digest delivered", 5)["claims"] == poll["claims_new"]
        assert f"{poll['claims_new']} new claims" in str(smtp_server.messages[0]["Subject"])

        sentences = novel_sentences(3)
        add_document(work, "arrived.txt", sentences)
        wait_for(lambda: len(smtp_server.messages) >= 2, 10, "a digest of the new file (file events)")
        first, second = smtp_server.messages
        assert "3 new claims" in str(second["Subject"])
        assert all(NORM.key(s) in NORM.key(plain(second)) for s in sentences)
        assert svc.wait_event("folder scan", 5)["claims_new"] == 3
        assert len(svc.named("poll")) == 1  # the hourly poll ran once, on start: the file event did it

        assert svc.stop(30) == 0
        events = svc.events()
        names = [event["event"] for event in events]
        assert "stopping" in names and names[-1] == "stopped"
        assert svc.event("stopping", signal="SIGTERM") is not None
        assert [e for e in events if e["level"] not in ("info", "debug")] == []

    assert query(work, "PRAGMA integrity_check") == [("ok",)]
    assert query(work, "SELECT count(*) FROM claims WHERE digest_id IS NULL") == [(0,)]
    assert query(work, "SELECT count(*) FROM deliveries WHERE state != 'sent'") == [(0,)]
    status = command(work, "status")
    assert status.returncode == 0, status.stderr
    assert "Documents: 6" in status.stdout and "(0 not yet reported)" in status.stdout
    after = command(work, "digest")
    assert after.returncode == 0, after.stderr
    assert "Nothing new" in after.stdout
    assert len(smtp_server.messages) == 2


def test_files_that_came_while_the_service_was_stopped_are_read_as_it_starts(
    work: Path, smtp_server: SmtpServer
) -> None:
    """The poll on start reads every folder even when the folder was polled within poll_every (an hour here):
    files put there while no service watched are not left waiting for the next hourly poll."""
    write_config(work, smtp_server.port)
    with service(work) as svc:
        wait_for(lambda: smtp_server.messages, 30, "the first digest (the seeds)")
        assert svc.stop(30) == 0
    sentences = novel_sentences(2)
    add_document(work, "while-stopped.txt", sentences)
    with service(work) as svc:
        poll = svc.wait_event("poll", 30)
        assert poll["documents_new_or_changed"] == 1 and poll["claims_new"] == 2, poll
        wait_for(lambda: len(smtp_server.messages) >= 2, 10, "a digest of the file that came while stopped")
        assert "2 new claims" in str(smtp_server.messages[1]["Subject"])
        assert svc.stop(30) == 0


def test_a_second_service_on_the_same_store_is_refused_while_status_and_dry_run_work(
    work: Path, smtp_server: SmtpServer
) -> None:
    write_config(work, smtp_server.port)
    with service(work) as svc:
        svc.wait_event("poll", 30)
        second = command(work, "run", timeout=30)
        assert second.returncode == 1, second.stderr
        assert str(work / STORE) in second.stderr and "another corpus-monitor" in second.stderr
        assert f"pid {svc.process.pid}" in second.stderr
        assert svc.process.poll() is None  # the first goes on

        status = command(work, "status")
        assert status.returncode == 0, status.stderr
        assert "Documents: 5" in status.stdout
        health = command(work, "status", "--health")
        assert health.returncode == 0, health.stdout
        assert health.stdout.startswith("ok") and f"pid {svc.process.pid}" in health.stdout
        dry_run = command(work, "digest", "--dry-run")
        assert dry_run.returncode == 0, dry_run.stderr
        one_shot = command(work, "digest")
        assert one_shot.returncode == 1
        assert str(work / STORE) in one_shot.stderr and "another corpus-monitor" in one_shot.stderr

        assert svc.stop(30) == 0

    assert len(smtp_server.messages) == 1  # the service's first digest; the dry run and the refused digest sent none
    recent = command(work, "status", "--health")  # the heartbeat outlives the service while it is recent
    assert recent.returncode == 0 and recent.stdout.startswith("ok"), recent.stdout
    # a store that only one-shot commands ever worked on: no service polls it
    scanned = command(work, "scan", "--store", "other.sqlite3")
    assert scanned.returncode == 0, scanned.stderr
    never = command(work, "status", "--health", "--store", "other.sqlite3")
    assert never.returncode == 1
    assert never.stdout.startswith("unhealthy") and "no service has polled" in never.stdout


def test_a_store_deleted_under_the_service_stops_it_with_one_error_naming_the_store(
    work: Path, smtp_server: SmtpServer
) -> None:
    """Deleted under the service, the store would take every later write (claims, digests recorded as sent) into
    a file no one reads again. The next job notices (a new file's scan here; the retry job runs every minute),
    logs one error naming the store, and the service stops with exit status 1, having mailed nothing more."""
    write_config(work, smtp_server.port)
    store = work / STORE
    with service(work) as svc:
        svc.wait_event("digest delivered", 30)
        for path in (store, store.with_name(store.name + "-wal"), store.with_name(store.name + "-shm")):
            path.unlink(missing_ok=True)  # rm var/monitor.sqlite3*, but for the lock file
        add_document(work, "after-deletion.txt", novel_sentences(2))
        try:
            status = svc.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"still running 30 s after its store was deleted\n{svc.log()}") from None
        svc.reader.join(timeout=5)
        assert status == 1, svc.log()
        (error,) = [event for event in svc.events() if event["level"] not in ("info", "debug")]
        assert error["event"] == "store gone; stopping" and error["store"] == str(store), error
        assert error["error"].startswith(f"{store}: the store file was deleted or replaced"), error
        assert svc.events()[-1]["event"] == "stopped" and svc.events()[-1]["status"] == 1
    assert len(smtp_server.messages) == 1  # the seeds' digest; the new file was never ingested nor mailed
    assert not store.exists()


SLOW_PAGE = "/news/slow-article.html"


def test_sigterm_during_a_slow_poll_abandons_it_and_exits_promptly(
    work: Path, smtp_server: SmtpServer, web_server: WebServer
) -> None:
    page = (DEV / "digipulse-20240731-qa.html").read_bytes()
    web_server.set(SLOW_PAGE, page, delay=20)
    write_config(work, smtp_server.port, extra=(
        "[http]\nper_host_delay_seconds = 0\ntimeout_seconds = 60\nretries = 0\n"
        f'[[sources]]\nkind = "page"\nname = "slow"\nurl = "{web_server.url(SLOW_PAGE)}"\n'
    ))
    with service(work) as svc:
        wait_for(lambda: web_server.gets(SLOW_PAGE), 30, "the service's request for the slow page")
        assert svc.stop(10) == 0  # not the 20 s the answer would take, nor the 25 s grace of a stuck job
        poll = svc.wait_event("poll", 1)
        assert poll["stopped"] is True and poll["documents_new_or_changed"] == 0 and poll["claims_new"] == 0
        warning = svc.wait_event("source warning", 1, source="slow")
        assert "poll abandoned" in warning["warning"]
        assert svc.events()[-1]["event"] == "stopped"

    assert smtp_server.messages == []
    # nothing was marked seen: no document, no validators, and the source not even recorded as polled
    # (else a restarted service would think it polled the page just now, and wait poll_every to try again)
    assert query(work, "SELECT count(*) FROM documents") == [(0,)]
    assert query(work, "SELECT count(*) FROM http_cache") == [(0,)]
    assert query(work, "SELECT source, last_attempt, last_success FROM source_health") == []

    web_server.set(SLOW_PAGE, page)  # the server is quick again
    scanned = command(work, "scan")
    assert scanned.returncode == 0, scanned.stderr
    assert "1 new or changed" in scanned.stdout
    first, again = web_server.gets(SLOW_PAGE)
    assert "if-none-match" not in again.headers and again.status == 200


def test_sighup_reloads_the_config_and_refuses_a_broken_one(work: Path, smtp_server: SmtpServer) -> None:
    write_config(work, smtp_server.port)
    with service(work) as svc:
        svc.wait_event("poll", 30)
        write_config(work, smtp_server.port, digest="0 9 * * *")
        svc.process.send_signal(signal.SIGHUP)
        reloaded = svc.wait_event("config reloaded", 10)
        assert reloaded["digest"] == "0 9 * * *" and reloaded["poll_every"] == "3600s"

        write_config(work, smtp_server.port, digest="as-it-happens", poll_every="often")
        svc.process.send_signal(signal.SIGHUP)
        refused = svc.wait_event(RELOAD_REFUSED, 10)
        assert any("schedule.poll_every" in problem for problem in refused["problems"]), refused
        assert svc.process.poll() is None and len(svc.named("config reloaded")) == 1

        # still at work, under the config it had: a new file is ingested, and no digest goes out before 09:00
        delivered = len(smtp_server.messages)
        add_document(work, "arrived.txt", novel_sentences(3))
        assert svc.wait_event("folder scan", 10)["claims_new"] == 3
        assert len(smtp_server.messages) == delivered

        assert svc.stop(30) == 0
        assert svc.events()[-1]["event"] == "stopped"


def test_a_login_in_clear_is_a_warning_at_the_start_and_at_a_reload(work: Path, smtp_server: SmtpServer) -> None:
    """Not to this machine (the test server, 127.0.0.1): there the login never reaches a network. To 192.0.2.25 (a
    documentation address; the digest is due on New Year's Day only, so nothing is sent), one warning naming the
    keys, when the service starts and again when a reload keeps it so; a reload that fixes it says nothing more."""
    (work / "pw").write_text("s3cret\n", encoding="utf-8")
    login = 'username = "monitor"\npassword_file = "pw"\n'
    write_config(work, smtp_server.port, digest="0 0 1 1 *", extra=login)
    config = work / "corpus-monitor.toml"
    config.write_text(config.read_text("utf-8").replace("127.0.0.1", "192.0.2.25"), encoding="utf-8")
    with service(work) as svc:
        svc.wait_event("service started", 30)
        warning = svc.wait_event("config warning", 5)
        assert warning["level"] == "warning" and warning["warning"].startswith(
            f"{config}: smtp.username, smtp.security: the login 'monitor' and its password go to 192.0.2.25:"
            f"{smtp_server.port} in clear")
        assert "s3cret" not in svc.log()
        svc.wait_event("poll", 30)
        svc.process.send_signal(signal.SIGHUP)
        svc.wait_event("config reloaded", 10)
        wait_for(lambda: len(svc.named("config warning")) == 2, 5, "the warning again after the reload")
        write_config(work, smtp_server.port, digest="0 0 1 1 *", extra=login)
        svc.process.send_signal(signal.SIGHUP)
        wait_for(lambda: len(svc.named("config reloaded")) == 2, 10, "the second reload")
        assert svc.stop(30) == 0
        assert len(svc.named("config warning")) == 2


def test_a_failed_delivery_is_retried_by_the_service_and_arrives_once(
    work: Path, smtp_server: SmtpServer, spot: StoreSpot
) -> None:
    """The retry job proper runs every minute on a backoff starting at a minute: too slow for a test. A digest
    the service sends also first resends every failed one, whatever its backoff: a new file here brings it. On
    either backend (``--store``; on PostgreSQL the service leases its sources and sends under the digest lock)."""
    smtp_server.refuse["DATA"] = "451 4.3.0 mailbox busy, try again later"
    write_config(work, smtp_server.port)
    with service(work, *spot.args) as svc:
        failed = svc.wait_event(NOT_DELIVERED, 30)
        assert "451" in failed["error"] and failed["waiting"] == 1
        assert smtp_server.messages == []
        [(message_id, state)] = query_store(spot, "SELECT message_id, state FROM deliveries")
        assert state == "pending"

        del smtp_server.refuse["DATA"]
        sentences = novel_sentences(3)
        add_document(work, "arrived.txt", sentences)
        assert svc.wait_event("earlier digest delivered", 10)["message_id"] == message_id
        wait_for(lambda: len(smtp_server.messages) >= 2, 10, "the new digest after the resent one")
        assert svc.stop(30) == 0

    resent, new = smtp_server.messages
    assert resent["Message-ID"] == message_id
    assert "3 new claims" in str(new["Subject"]) and new["Message-ID"] != message_id
    assert all(NORM.key(s) in NORM.key(plain(new)) for s in sentences)
    assert not any(NORM.key(s) in NORM.key(plain(resent)) for s in sentences)
    # attempts: the first refused then accepted, the second accepted at once
    assert query_store(spot, "SELECT state, attempts FROM deliveries ORDER BY id") == [("sent", 2), ("sent", 1)]
    assert query_store(spot, "SELECT count(*) FROM claims WHERE digest_id IS NULL") == [(0,)]
    status = command(work, "status", *spot.args)
    assert status.returncode == 0 and "Digests waiting" not in status.stdout and "Documents: 6" in status.stdout


def test_a_folder_added_by_a_reload_is_watched_at_once(work: Path, smtp_server: SmtpServer) -> None:
    inbox = work / "inbox"
    inbox.mkdir()
    write_config(work, smtp_server.port)
    with service(work) as svc:
        svc.wait_event("poll", 30)
        sources = f'[[sources]]\nkind = "folder"\npath = "seeds"\n[[sources]]\nkind = "folder"\npath = "{inbox}"\n'
        write_config(work, smtp_server.port, extra=sources)
        svc.process.send_signal(signal.SIGHUP)
        assert svc.wait_event("config reloaded", 10)["sources"] == 2
        before = len(smtp_server.messages)
        drop(inbox / "dropped.txt", "新稿\n\n" + "\n".join(novel_sentences(2)) + "\n")
        # within seconds, though the next poll is an hour away: the new folder is watched
        assert svc.wait_event("folder scan", 10)["claims_new"] == 2
        wait_for(lambda: len(smtp_server.messages) > before or None, 10, "the digest of the dropped file")
        assert svc.stop(30) == 0


def test_a_file_still_settling_is_scanned_again_once_settled_not_at_the_next_poll(
    work: Path, smtp_server: SmtpServer
) -> None:
    write_config(work, smtp_server.port, extra='[[sources]]\nkind = "folder"\npath = "seeds"\nsettle_seconds = 2\n')
    with service(work) as svc:
        wait_for(lambda: len(smtp_server.messages) == 1 or None, 30, "the seeds digest")
        add_document(work, "settling.txt", novel_sentences(2))
        # seen at once by the watcher, too young to read; read ~settle_seconds later, hours before the next poll
        wait_for(lambda: len(smtp_server.messages) == 2 or None, 15, "the digest of the settled file")
        assert any(e["event"] == "folder scan" and e["claims_new"] == 2 for e in svc.events())
        assert svc.stop(30) == 0


def test_a_first_run_baseline_mails_nothing_then_only_what_is_new(work: Path, smtp_server: SmtpServer) -> None:
    write_config(work, smtp_server.port)
    config = (work / "corpus-monitor.toml").read_text("utf-8")
    (work / "corpus-monitor.toml").write_text(
        config.replace('to = ["reader@example.org"]\n', 'to = ["reader@example.org"]\nfirst_run = "baseline"\n'),
        encoding="utf-8")
    with service(work) as svc:
        recorded = svc.wait_event("baseline recorded: known, not mailed", 30)
        assert recorded["documents"] == 5 and recorded["claims"] > 500
        sentences = novel_sentences(2)
        add_document(work, "arrived.txt", sentences)
        wait_for(lambda: smtp_server.messages, 10, "a digest of the new file")
        (only,) = smtp_server.messages
        assert "2 new claims from 1 document" in str(only["Subject"])
        assert svc.stop(30) == 0


def test_a_file_written_in_two_parts_three_seconds_apart_gives_complete_sentences(
    work: Path, smtp_server: SmtpServer
) -> None:
    """Default settle_seconds, real time: the writer pauses 3 s mid-sentence; the digest that follows has the
    whole sentence and no fragment of it."""
    write_config(work, smtp_server.port)
    with service(work) as svc:
        wait_for(lambda: smtp_server.messages, 30, "the first digest (the seeds)")
        first, second = novel_sentences(2)
        path = work / "seeds" / "slow-writer.txt"
        with path.open("w", encoding="utf-8") as handle:
            handle.write(f"新稿\n\n{first}\n\n{second[:12]}")
            handle.flush()
            time.sleep(3)
            handle.write(f"{second[12:]}\n")
        wait_for(lambda: len(smtp_server.messages) >= 2 or None, 20, "the digest of the settled file")
        text = plain(smtp_server.messages[1])
        assert "2 new claims from 1 document" in str(smtp_server.messages[1]["Subject"])
        assert first in text and second in text
        assert svc.stop(30) == 0
    assert len(smtp_server.messages) == 2


def test_a_burst_of_thirty_files_gives_at_most_two_digests(work: Path, smtp_server: SmtpServer) -> None:
    write_config(work, smtp_server.port, quiet="2s", min_interval="8s")
    with service(work) as svc:
        wait_for(lambda: smtp_server.messages, 30, "the first digest (the seeds)")
        sentences = novel_sentences(30)  # the dev set has fewer: the last files reprint the first ones
        for n in range(30):
            drop(work / "seeds" / f"burst-{n:02d}.txt", f"快讯 {n}\n\n{sentences[n % len(sentences)]}\n")
            time.sleep(0.1)

        def delivered() -> int | None:
            total = sum(e["claims"] for e in svc.named("digest delivered")[1:])
            return total if total >= len(sentences) else None

        wait_for(delivered, 40, "the burst's digest")
        time.sleep(3)  # a straggler would come within the quiet period
        burst = smtp_server.messages[1:]
        assert 1 <= len(burst) <= 2, [str(m["Subject"]) for m in burst]
        assert sum(e["claims"] for e in svc.named("digest delivered")[1:]) == len(sentences)
        assert svc.stop(30) == 0


def test_as_it_happens_waits_for_quiet_within_bounds() -> None:
    t0 = datetime(2024, 7, 30, 8, 0, tzinfo=UTC)
    quiet, gap = timedelta(seconds=30), timedelta(minutes=5)
    # a burst: each arrival pushes the digest back by the quiet period
    assert as_it_happens_due(t0, t0, None, quiet, gap) == t0 + quiet
    assert as_it_happens_due(t0 + timedelta(seconds=20), t0, None, quiet, gap) == t0 + timedelta(seconds=50)
    # a steady trickle still gets its digest: five quiet periods after the burst began at the latest
    assert as_it_happens_due(t0 + timedelta(minutes=10), t0, None, quiet, gap) == t0 + 5 * quiet
    # never sooner than the minimum interval after the last digest
    assert as_it_happens_due(t0, t0, t0 - timedelta(minutes=1), quiet, gap) == t0 + timedelta(minutes=4)
