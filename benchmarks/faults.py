#!/usr/bin/env python
"""Crash consistency (issue 12): seeded SIGKILL trials of ``scan``, ``digest`` and ``run`` against a run without kills.

What it does
------------
**Inputs**, all from the repository: the five seeds, the dev set's four documents, and ``--pages`` of the real pages
of ``eval/extraction`` (picked evenly from both sets), each with its reference text (``gold/*.txt``) beside it as a
reprint (the same story worded as the gold text has it: exact and near matches, new claims where they differ). One
copy of them in a temporary folder (``settle_seconds = 0``) is the folder source of every run, so every store
records the same paths.

**Mail**: a local SMTP server (aiosmtpd on 127.0.0.1, in this process) records every message it accepts, by
recipient. The email shows a bounded digest; the archive file it names (``[digest] archive``) holds the whole of it,
and that file's JSON says which claims the message carried.

**The reference**: ``scan``, then ``digest``, into a fresh store, each to its end: the claims stored (their
normalized text) and the claims mailed, each once, in one message. Controls without kills follow (``--no-controls``
leaves them out): ``digest`` on a fresh store, ``run`` (the service: a 3 s poll, digests as it happens half a second
after the last arrival) on a fresh store and on a copy of the reference's store after its scan, each until it has
mailed its digest. Each must store and mail the same claims, each once. Their times are the windows the kills are
drawn from.

**A trial** (``random.Random(seed)``) has a directory of its own (store, archive, outbox, logs) and its own
recipient:

1. its command starts on an empty store, or (``digest`` and ``run``, one trial in two) on a copy of the reference's
   store after its scan, so that more kills land in rendering, archiving and delivery. It delivers by SMTP, by SMTP
   to a slow server (for this trial's recipient the server answers RCPT half a second late, and DATA a second
   after it has the message: windows for a kill while a recorded digest is on its way, and between the server's
   acceptance and the store's record of it), or into the outbox (``.eml`` files, no SMTP);
2. 1 to 3 times in a row, the command is started in a process group of its own, and the group (the command and its
   extraction workers, as a power cut takes them) is sent SIGKILL. Half the kills come at a time drawn from the
   command's window (one in four of those during its start-up, the time a ``scan`` with nothing to do takes),
   the others within 0.3 s after a mark of progress drawn at random: the k-th document stored, a digest recorded
   for delivery, a message delivered (the store is read as it is written; a mark is "this or later"). Under
   load a command runs longer than its window, and the marks still put kills at every stage. A process that ended
   before its kill is no kill. Each kill is classified by the state it left (read from a copy of the store, and the
   messages delivered): *empty* (no document stored yet: start-up, the first batch's extraction and transaction),
   *partial* (documents committed, others not yet), *ingested* (every document, claims in no digest yet:
   rendering, archiving), *queued* (a digest recorded and not delivered), *accepted* (the server or the outbox has
   a message the store still has pending: the resend case), *done* (nothing left to do);
3. completion: ``digest`` (after ``scan`` and ``digest``), or the service again until it logs its digest, then
   SIGTERM (it must exit 0); then one more ``digest``, which must exit 0 (and find nothing new: anything it mails
   is counted below);
4. against the reference: **lost**, a reference claim not in the store at the end, or in no message delivered;
   **added**, a claim stored or mailed that is not in the reference; **mailed twice**, a claim in two messages with
   different Message-IDs; **resent**, a message delivered again under its Message-ID (the allowed at-least-once
   case, counted apart); **integrity**, ``PRAGMA integrity_check`` and ``foreign_key_check`` of the store, and its
   record at the end: no claim left unreported, no digest pending.
   **errors** counts trials where something else went wrong (a command that failed, a service that did not stop,
   a message naming no archive); the trial's line says what.

Run
---
::

    .venv/bin/python benchmarks/faults.py                 # 30 trials, 10 of each command (about 4 minutes)
    .venv/bin/python benchmarks/faults.py --trials 36 --seed 1000
    .venv/bin/python benchmarks/faults.py --trials 6 --pages 16   # make bench
    .venv/bin/python benchmarks/faults.py --only run --seed 17 --trials 1 --keep /tmp/faults   # replay one trial

The script prints a line per trial, then a table per command and the total, and exits 1 if any trial lost, added
or mailed a claim twice, failed the integrity check, or had an error.

Measured here
-------------
``--trials 36`` (73 documents, 3,208 claims; 4 min 41 s on two shared cores)::

    command  trials  kills  lost  added  twice  resent  integrity  errors   kills left*
    scan         12     15     0      0      0       0          0       0   6 / 9 / 0 / 0 / 0 / 0
    digest       12     20     0      0      0       2          0       0   4 / 5 / 7 / 0 / 3 / 1
    run          12     17     0      0      0       0          0       0   3 / 6 / 1 / 3 / 0 / 4
    total        36     52     0      0      0       2          0       0   13 / 20 / 8 / 3 / 3 / 5
    * the store as the kills left it: empty / partial / ingested / queued / accepted / done

``--trials 36 --seed 1000``: 45 kills (9 / 14 / 12 / 3 / 3 / 4), 0 lost, 0 added, 0 twice, 2 resent, 0 integrity
failures, 0 errors. Two deliberate bugs, tried once each and undone, are caught: a digest sent before it is
recorded (a kill after the server's acceptance: every claim mailed twice, under two Message-IDs), and claims marked
reported before the message is sent (a kill while it is on its way: every claim lost).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import email
import email.policy
import json
import os
import random
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SEEDS = ROOT / "seeds"
DEV = ROOT / "eval" / "dev"
PAGES = sorted((ROOT / "eval" / "extraction").glob("*/html/*.html"))

COMMANDS = ("scan", "digest", "run")
#: where a kill left the store (see the module's docstring), in the order a run goes through them
PHASES = ("empty", "partial", "ingested", "queued", "accepted", "done")
#: how long the SMTP server of a slow trial waits before its "250" to DATA (and half that to RCPT)
SLOW_SECONDS = 1.0
#: a kill planned after a mark of progress comes within this many seconds of it
MARK_DELAY = 0.3
#: the longest a command run to its end may take
TIMEOUT = 300.0
#: the service's log events that end its digest job (monitor/scheduler.py)
DIGEST_EVENTS = ("digest delivered", "digest: nothing new to report")


def documents(pages: int) -> list[tuple[str, Path]]:
    """The inputs: (name in the folder, file in the repository)."""
    chosen = [(path.name, path) for path in sorted(SEEDS.iterdir())]
    chosen += [(f"dev-{path.name}", path) for path in sorted(DEV.iterdir()) if path.suffix in (".html", ".txt")]
    step = len(PAGES) / pages if pages else 0
    for page in (PAGES[int(i * step)] for i in range(min(pages, len(PAGES)))):
        corpus = page.parent.parent
        chosen.append((f"{corpus.name}-{page.name}", page))
        chosen.append((f"{corpus.name}-{page.stem}.gold.txt", corpus / "gold" / f"{page.stem}.txt"))
    return chosen


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass(frozen=True)
class Delivered:
    """A message as it arrived."""

    message_id: str
    text: str  #: its plain-text part, which names the digest's archive file


class Mailbox:
    """aiosmtpd handler: every accepted message, by envelope recipient. A recipient in ``slow`` has a slow server:
    its RCPT is answered half that many seconds late, and its DATA that many seconds after the message is recorded,
    which opens windows for a kill while a recorded digest is on its way (*queued*) and between the server's
    acceptance and the store's record of it (*accepted*)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._messages: dict[str, list[Delivered]] = defaultdict(list)
        self.slow: dict[str, float] = {}

    async def handle_RCPT(  # noqa: N802 (aiosmtpd hook name)
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        await asyncio.sleep(self.slow.get(address, 0.0) / 2)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        content = envelope.content if isinstance(envelope.content, bytes) else str(envelope.content).encode()
        delivered = parse(content)
        with self._lock:
            for recipient in envelope.rcpt_tos:
                self._messages[recipient].append(delivered)
        await asyncio.sleep(max(self.slow.get(recipient, 0.0) for recipient in envelope.rcpt_tos))
        return "250 Message accepted for delivery"

    def received(self, recipient: str) -> list[Delivered]:
        with self._lock:
            return list(self._messages[recipient])


def parse(content: bytes) -> Delivered:
    message = email.message_from_bytes(content, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    body = message.get_body(("plain",))
    return Delivered(str(message["Message-ID"]), body.get_content() if body is not None else "")


@contextlib.contextmanager
def smtp_server() -> Iterator[tuple[int, Mailbox]]:
    """A plain SMTP server on 127.0.0.1: (its port, what it received)."""
    from aiosmtpd.controller import Controller

    mailbox = Mailbox()
    port = free_port()
    # a fixed banner name: otherwise aiosmtpd asks socket.getfqdn(), which can wait on DNS
    controller = Controller(mailbox, hostname="127.0.0.1", port=port, server_hostname="localhost")
    controller.start()
    try:
        yield port, mailbox
    finally:
        controller.stop()


@dataclass(frozen=True)
class State:
    """What a store holds, as far as the trials look."""

    documents: int
    claims: frozenset[str]  #: the normalized text of every stored claim
    unassigned: int  #: claims in no digest
    unreported: int  #: claims in no digest delivered
    pending: frozenset[str]  #: the Message-IDs of digests recorded and not yet delivered


def read_state(path: Path) -> State:
    with contextlib.closing(sqlite3.connect(path)) as db:
        (docs,) = db.execute("SELECT count(*) FROM documents").fetchone()
        claims = frozenset(row[0] for row in db.execute("SELECT normalized FROM claims"))
        unassigned, unreported = db.execute(
            "SELECT count(*) FILTER (WHERE delivery_id IS NULL AND digest_id IS NULL),"
            " count(*) FILTER (WHERE digest_id IS NULL) FROM claims").fetchone()
        pending = frozenset(row[0] for row in db.execute("SELECT message_id FROM deliveries WHERE state = 'pending'"))
    return State(docs, claims, unassigned, unreported, pending)


def copy_store(store: Path, target: Path) -> None:
    """Copy a store no process has open: its file and its write-ahead log, if any."""
    target.parent.mkdir(parents=True, exist_ok=True)
    for suffix in ("", "-wal"):
        source, copy = store.with_name(store.name + suffix), target.with_name(target.name + suffix)
        copy.unlink(missing_ok=True)
        if source.exists():
            shutil.copyfile(source, copy)


def state_after_crash(store: Path, scratch: Path) -> State | None:
    """The state of a store no process has open, read from a copy (reading it in place could checkpoint its WAL,
    which is for the next run to find as the crash left it); None when there is no store yet."""
    if not store.exists():
        return None
    copy_store(store, scratch / "copy.sqlite3")
    try:
        return read_state(scratch / "copy.sqlite3")
    except sqlite3.Error:
        return None  # created, no schema yet


def integrity(store: Path) -> str | None:
    """None when ``PRAGMA integrity_check`` says ok and ``foreign_key_check`` finds nothing; else what they said."""
    with contextlib.closing(sqlite3.connect(store)) as db:
        checked = [row[0] for row in db.execute("PRAGMA integrity_check")]
        dangling = db.execute("PRAGMA foreign_key_check").fetchall()
    problems = [] if checked == ["ok"] else checked[:3]
    problems += [f"foreign key: {row}" for row in dangling[:3]]
    return "; ".join(problems) or None


class Bench:
    """The inputs, the mail server and the reference the trials are compared with."""

    def __init__(self, root: Path, pages: int, port: int, mailbox: Mailbox) -> None:
        self.root, self.port, self.mailbox = root, port, mailbox
        self.docs = root / "docs"
        self.docs.mkdir(parents=True)
        past = time.time() - 3600  # settled files, complete for an hour
        for name, path in documents(pages):
            target = self.docs / name
            shutil.copyfile(path, target)
            os.utime(target, (past, past))
        self.snapshot = root / "scanned.sqlite3"  #: the reference's store after its scan
        self.claims: frozenset[str] = frozenset()  #: the reference's claims
        self.documents = 0  #: the reference's documents
        self.messages = 0  #: messages the reference mailed
        #: the window a command's kills are drawn from: its reference time to the end ("-scanned": from the scan)
        self.seconds: dict[str, float] = {}
        #: how long a command takes with nothing to do: its start-up (interpreter, imports, the store) and exit
        self.startup = 0.0

    def reference(self, *, controls: bool = True) -> list[str]:
        """Run the reference (and the controls); returns what differed, if anything."""
        work = self.root / "reference"
        config = self.config(work, "reference@example.org", smtp=True)
        self.seconds["scan"] = run_to_end(["scan"], config, work / "logs" / "scan")
        store = store_of(work)
        copy_store(store, self.snapshot)
        self.seconds["digest-scanned"] = run_to_end(["digest"], config, work / "logs" / "digest")
        self.startup = run_to_end(["scan"], config, work / "logs" / "start-up")  # nothing to do
        state = read_state(store)
        self.claims, self.documents = state.claims, state.documents
        mailed, problems = claims_mailed(self.mailbox.received("reference@example.org"), work)
        self.messages = len(mailed.by_message)
        if not self.claims or mailed.claims() != self.claims or mailed.twice() or mailed.resent:
            problems.append(f"the reference stored {len(self.claims)} claims and mailed {len(mailed.claims())} "
                            f"({len(mailed.twice())} twice, {mailed.resent} resent)")
        if (broken := integrity(store)) is not None:
            problems.append(f"the reference's store: {broken}")
        # without controls, the windows are estimated from the reference's two steps
        self.seconds["digest"] = self.seconds["scan"] + self.seconds["digest-scanned"]
        self.seconds["run"] = self.seconds["digest"] + 1.0
        self.seconds["run-scanned"] = self.seconds["digest-scanned"] + 1.0
        if controls and not problems:
            for command, scanned in (("digest", False), ("run", False), ("run", True)):
                result = trial(self, command, seed=0, kills=0, scanned=scanned, delivery="smtp")
                self.seconds[command + ("-scanned" if scanned else "")] = result.seconds
                if not result.consistent:
                    problems.append(f"control {result.describe()}")
        return problems

    def config(self, work: Path, recipient: str, *, smtp: bool) -> Path:
        """A trial's config: the shared folder, its own store, archive and outbox, the service's short schedule."""
        var = work / "var"
        var.mkdir(parents=True, exist_ok=True)
        text = (
            f"[store]\npath = {json.dumps(str(var / 'monitor.sqlite3'))}\n\n"
            f"[[sources]]\nkind = \"folder\"\npath = {json.dumps(str(self.docs))}\nsettle_seconds = 0\n\n"
            '[schedule]\npoll_every = "3s"\ndigest = "as-it-happens"\nquiet = "0.5s"\nmin_interval = "0s"\n\n'
            '[log]\nformat = "json"\n\n'
            f"[digest]\noutbox = {json.dumps(str(var / 'outbox'))}\narchive = {json.dumps(str(var / 'archive'))}\n"
            f'from = "monitor@example.org"\nto = [{json.dumps(recipient)}]\n'
        )
        if smtp:
            text += f'\n[smtp]\nhost = "127.0.0.1"\nport = {self.port}\nsecurity = "none"\ntimeout_seconds = 10\n'
        path = work / "corpus-monitor.toml"
        path.write_text(text, encoding="utf-8")
        return path


def store_of(work: Path) -> Path:
    return work / "var" / "monitor.sqlite3"


class Failed(Exception):
    """A trial could not go on: a command failed or hung (the message says which)."""


@contextlib.contextmanager
def started(args: list[str], config: Path, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A command in a process group of its own (its extraction workers join the group), output into ``log``; the
    group is killed on the way out if still there (a trial that failed, an interrupted script)."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "wb") as out:
        process = subprocess.Popen([sys.executable, "-m", "monitor", *args, "--config", str(config)],
                                   cwd=config.parent, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        yield process
    finally:
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def tail(log: Path, lines: int = 5) -> str:
    return "\n".join(log.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])


def run_to_end(args: list[str], config: Path, log: Path) -> float:
    """Run a command to its end, which must be status 0; how many seconds it took."""
    begun = time.monotonic()
    with started(args, config, log) as process:
        try:
            status = process.wait(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            raise Failed(f"{' '.join(args)} still running after {TIMEOUT:g} s") from None
    if status != 0:
        raise Failed(f"{' '.join(args)} exited {status}: {tail(log)}")
    return time.monotonic() - begun


def kill_when(process: subprocess.Popen[bytes], kill: Kill) -> bool:
    """SIGKILL the process's group as ``kill`` says, unless it ended first; whether the kill took it. A mark not
    reached in TIMEOUT (a service has nothing more to do) kills it then."""
    deadline = time.monotonic() + TIMEOUT
    while kill.mark is not None and process.poll() is None and not kill.mark() and time.monotonic() < deadline:
        time.sleep(0.02)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=kill.delay)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)  # the workers too, even when the command itself has just ended
    return process.wait() == -signal.SIGKILL


def run_service_to_digest(config: Path, log: Path) -> float:
    """Start the service, wait until it has logged its digest, stop it with SIGTERM (it must exit 0); the seconds
    from its start to the digest."""
    begun = time.monotonic()
    with started(["run"], config, log) as process:
        while not any(event.get("event") in DIGEST_EVENTS for event in events(log)):
            if process.poll() is not None:
                raise Failed(f"the service exited {process.returncode} before its digest: {tail(log)}")
            if time.monotonic() - begun > TIMEOUT:
                raise Failed(f"the service logged no digest in {TIMEOUT:g} s: {tail(log)}")
            time.sleep(0.1)
        took = time.monotonic() - begun
        process.send_signal(signal.SIGTERM)
        try:
            status = process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            raise Failed(f"the service still running 60 s after SIGTERM: {tail(log)}") from None
    if status != 0:
        raise Failed(f"the service exited {status} after SIGTERM: {tail(log)}")
    return took


def events(log: Path) -> list[dict[str, Any]]:
    """The service's JSON log lines so far (a line being written is left for the next look)."""
    found = []
    for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
        with contextlib.suppress(json.JSONDecodeError):
            event = json.loads(line)
            if isinstance(event, dict):
                found.append(event)
    return found


@dataclass
class Mailed:
    """The claims of the messages a trial's recipient got, by Message-ID."""

    by_message: dict[str, frozenset[str]] = field(default_factory=dict)
    resent: int = 0  #: messages delivered again under a Message-ID already delivered

    def claims(self) -> frozenset[str]:
        """Every claim mailed."""
        return frozenset(claim for claims in self.by_message.values() for claim in claims)

    def twice(self) -> frozenset[str]:
        """Claims in two messages with different Message-IDs."""
        counts = Counter(claim for claims in self.by_message.values() for claim in claims)
        return frozenset(claim for claim, count in counts.items() if count > 1)


def claims_mailed(messages: list[Delivered], work: Path) -> tuple[Mailed, list[str]]:
    """The claims of each message, from the archive file it names (beside the HTML, its JSON lists every claim);
    and what was wrong with the messages, if anything."""
    archive = re.compile(re.escape(str(work / "var" / "archive")) + r"/\S+\.html")
    mailed, problems = Mailed(), []
    for message in messages:
        found = archive.search(message.text)
        if found is None:
            problems.append(f"message {message.message_id} names no archive file")
            continue
        try:
            payload = json.loads(Path(found[0]).with_suffix(".json").read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            problems.append(f"message {message.message_id}: its archive cannot be read: {exc}")
            continue
        claims = frozenset(claim["normalized"] for claim in payload["claims"])
        if message.message_id in mailed.by_message:
            mailed.resent += 1
            if claims != mailed.by_message[message.message_id]:
                problems.append(f"message {message.message_id} was resent with other claims")
            continue
        mailed.by_message[message.message_id] = claims
    return mailed, problems


def outbox_messages(work: Path) -> list[Delivered]:
    """The messages in a trial's outbox, by name (hidden files are temporaries a kill left half-written)."""
    outbox = work / "var" / "outbox"
    paths = sorted(p for p in outbox.glob("*.eml") if not p.name.startswith(".")) if outbox.is_dir() else []
    return [parse(path.read_bytes()) for path in paths]


@dataclass
class Result:
    """One trial's figures."""

    command: str
    seed: int
    start: str  #: "empty" or "scanned" (a copy of the reference's store after its scan)
    delivery: str  #: "smtp", "slow" (SMTP, the "250" SLOW_SECONDS late) or "outbox"
    kills: int = 0
    phases: list[str] = field(default_factory=list)  #: each kill, "when: where it left the store" (PHASES)
    lost: int = 0
    added: int = 0
    twice: int = 0
    resent: int = 0
    integrity: str | None = None  #: what the checks said, when not ok
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0  #: the completion's time (to the digest, for the service)

    @property
    def consistent(self) -> bool:
        return not (self.lost or self.added or self.twice or self.integrity or self.errors)

    def describe(self) -> str:
        landed = f" ({', '.join(self.phases)})" if self.phases else ""
        line = (f"{self.command:6} seed {self.seed:<4} {self.start:7} {self.delivery:6} kills {self.kills}{landed}: "
                f"lost {self.lost}, added {self.added}, twice {self.twice}, resent {self.resent}, "
                f"integrity {'ok' if self.integrity is None else 'FAILED: ' + self.integrity}")
        return line + "".join(f"\n      error: {error}" for error in self.errors)


def trial(bench: Bench, command: str, seed: int, *, kills: int | None = None, scanned: bool | None = None,
          delivery: str | None = None) -> Result:
    """One trial (see the module's docstring); ``kills``, ``scanned`` and ``delivery`` ("smtp", "slow" or "outbox")
    fix what the seed would draw."""
    rng = random.Random(seed)
    draws = (rng.choices((1, 2, 3), (6, 3, 1))[0], command != "scan" and rng.random() < 0.5,
             rng.choices(("smtp", "slow", "outbox"), (3, 3, 2) if command != "scan" else (3, 0, 1))[0])
    planned = draws[0] if kills is None else kills
    from_scan = draws[1] if scanned is None else scanned
    how = draws[2] if delivery is None else delivery
    start_with = "scanned" if from_scan else "empty"
    name = f"{command}-{seed}-{start_with}-{how}-{planned}"
    work = bench.root / name
    recipient = f"{name}@example.org"
    config = bench.config(work, recipient, smtp=how != "outbox")
    store = store_of(work)
    if from_scan:
        copy_store(bench.snapshot, store)
    if how == "slow":
        bench.mailbox.slow[recipient] = SLOW_SECONDS
    result = Result(command, seed, start_with, how)

    def delivered() -> list[Delivered]:
        return outbox_messages(work) if how == "outbox" else bench.mailbox.received(recipient)

    def delivered_ids() -> set[str]:
        return {message.message_id for message in delivered()}

    try:
        for attempt in range(planned):
            kill = plan_kill(rng, bench, command, from_scan, how == "slow", store, delivered_ids)
            log = work / "logs" / f"{attempt}-{command}"
            with started([command], config, log) as process:
                killed = kill_when(process, kill)
            if killed:
                result.kills += 1
                state = state_after_crash(store, work / "scratch")
                result.phases.append(f"{kill.what}: {phase(state, bench.documents, delivered_ids())}")
            elif process.returncode != 0 or command == "run":
                raise Failed(f"{command} exited {process.returncode} before its kill: {tail(log)}")
        if command == "run":
            result.seconds = run_service_to_digest(config, work / "logs" / "complete-run")
        else:
            result.seconds = run_to_end(["digest"], config, work / "logs" / "complete-digest")
        run_to_end(["digest"], config, work / "logs" / "last-digest")  # nothing new, nothing mailed
    except Failed as exc:
        result.errors.append(str(exc))
    compare(bench, result, store, *claims_mailed(delivered(), work))
    return result


@dataclass(frozen=True)
class Kill:
    """When to kill a command: ``delay`` seconds after it starts, or after ``mark`` first holds."""

    what: str  #: said in the trial's line
    delay: float
    mark: Callable[[], bool] | None = None


def plan_kill(rng: random.Random, bench: Bench, command: str, from_scan: bool, slow: bool, store: Path,
              delivered: Callable[[], set[str]]) -> Kill:
    """Half the kills at a time drawn from the command's window (one in four of those during its start-up: a
    ``scan`` with nothing to do), the others within MARK_DELAY after a mark of progress drawn at random: the k-th
    document stored, a digest recorded for delivery, a message delivered. The marks put kills at every stage
    whatever the machine's load, which stretches a command beyond the window it had in the reference."""
    window = bench.seconds[command + ("-scanned" if from_scan else "")] + (1.5 * SLOW_SECONDS if slow else 0.0)
    marks: list[tuple[str, Callable[[], bool]]] = []
    if not from_scan:
        k = rng.randint(1, bench.documents)
        marks.append((f"document {k}", lambda: (progress(store) or (0, 0))[0] >= k))
    if command != "scan":  # "or later": a mark is never missed for having passed between two looks
        marks.append(("queued", lambda: (progress(store) or (0, 0))[1] > 0))
        marks.append(("accepted", lambda: bool(delivered())))
    if rng.random() < 0.5:
        startup = bench.startup
        at = (rng.uniform(0, min(startup, window)) if window <= startup or rng.random() < 0.25
              else rng.uniform(startup, window))
        return Kill(f"{at:.1f} s", at)
    what, mark = rng.choice(marks)
    return Kill(what, rng.uniform(0, MARK_DELAY), mark)


def progress(store: Path) -> tuple[int, int] | None:
    """(documents, digests ever recorded for delivery) of a store being written; None before it has its tables."""
    try:
        with contextlib.closing(sqlite3.connect(f"file:{store}?mode=ro", uri=True, timeout=1)) as db:
            (documents,) = db.execute("SELECT count(*) FROM documents").fetchone()
            (deliveries,) = db.execute("SELECT count(*) FROM deliveries").fetchone()
    except sqlite3.Error:
        return None
    return int(documents), int(deliveries)


def phase(state: State | None, documents: int, delivered: set[str]) -> str:
    """Where a kill left the store (PHASES)."""
    if state is None or state.documents == 0:
        return "empty"
    if state.documents < documents:
        return "partial"
    if state.pending & delivered:
        return "accepted"
    if state.pending:
        return "queued"
    return "ingested" if state.unassigned else "done"


def compare(bench: Bench, result: Result, store: Path, mailed: Mailed, problems: list[str]) -> None:
    """The trial's end against the reference."""
    result.errors += problems
    if not store.exists():
        result.errors.append("no store at the end")
        result.lost = len(bench.claims)
        return
    state = read_state(store)
    stored, sent = state.claims, mailed.claims()
    result.lost = len(bench.claims - (stored & sent))
    result.added = len((stored | sent) - bench.claims)
    result.twice = len(mailed.twice())
    result.resent = mailed.resent
    unsettled = (f"after completion {state.unreported} claims unreported, {len(state.pending)} digests pending"
                 if state.unreported or state.pending else None)
    result.integrity = "; ".join(filter(None, (integrity(store), unsettled))) or None


def table(results: list[Result]) -> None:
    print(f"{'command':8}{'trials':>7}{'kills':>7}{'lost':>6}{'added':>7}{'twice':>7}{'resent':>8}"
          f"{'integrity':>11}{'errors':>8}   kills left*")
    rows = [(command, [r for r in results if r.command == command]) for command in COMMANDS]
    for label, chosen in [*rows, ("total", results)]:
        if not chosen:
            continue
        landed = Counter(p.rpartition(": ")[2] for r in chosen for p in r.phases)
        print(f"{label:8}{len(chosen):>7}{sum(r.kills for r in chosen):>7}{sum(r.lost for r in chosen):>6}"
              f"{sum(r.added for r in chosen):>7}{sum(r.twice for r in chosen):>7}{sum(r.resent for r in chosen):>8}"
              f"{sum(r.integrity is not None for r in chosen):>11}{sum(bool(r.errors) for r in chosen):>8}   "
              + " / ".join(str(landed[p]) for p in PHASES))
    print(f"* the store as the kills left it: {' / '.join(PHASES)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=30, help="trials in all, shared by the commands in turn "
                        "(default 30)")
    parser.add_argument("--seed", type=int, default=1, help="the first trial's seed; trial i has seed + i "
                        "(default 1)")
    parser.add_argument("--pages", type=int, default=32, help=f"extraction pages (with their gold texts) beside "
                        f"the seeds and the dev set, at most {len(PAGES)} (default 32)")
    parser.add_argument("--only", choices=COMMANDS, help="trials of this command only")
    parser.add_argument("--no-controls", action="store_true", help="no runs without kills beside the reference")
    parser.add_argument("--keep", type=Path, metavar="DIR", help="keep every trial's directory under DIR")
    args = parser.parse_args()
    commands = (args.only,) if args.only else COMMANDS

    with contextlib.ExitStack() as stack:
        if args.keep:
            args.keep.mkdir(parents=True, exist_ok=True)
            root = Path(tempfile.mkdtemp(prefix="faults-", dir=args.keep))
        else:
            root = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-faults-")))
        port, mailbox = stack.enter_context(smtp_server())
        bench = Bench(root, args.pages, port, mailbox)
        print(f"crash consistency: {sum(1 for _ in bench.docs.iterdir())} documents (5 seeds, the dev set, "
              f"{args.pages} extraction pages and their gold texts), {args.trials} trials from seed {args.seed}"
              f"{', under ' + str(root) if args.keep else ''}", flush=True)
        try:
            problems = bench.reference(controls=not args.no_controls)
        except Failed as exc:
            problems = [str(exc)]
        windows = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in bench.seconds.items())
        print(f"reference: {bench.documents} documents, {len(bench.claims)} claims, mailed in {bench.messages} "
              f"message; kill windows: {windows} (start-up {bench.startup:.1f} s)", flush=True)
        if problems:
            print("the runs without kills disagree, so the trials would mean nothing:", *problems, sep="\n  ")
            raise SystemExit(1)
        results = []
        for index in range(args.trials):
            result = trial(bench, commands[index % len(commands)], args.seed + index)
            results.append(result)
            print(f"  {result.describe()}", flush=True)
        print()
        table(results)
        failed = [r for r in results if not r.consistent]
        if failed:
            print("\ninconsistent trials (replay one with --only COMMAND --seed SEED --trials 1 --keep DIR):")
            for result in failed:
                print(f"  {result.describe()}")
            raise SystemExit(1)


if __name__ == "__main__":
    main()
