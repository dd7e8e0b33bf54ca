"""The command line: builds the objects, runs one command, turns errors into exit statuses.

Exit statuses: 0 ok; 1 runtime failure (store, delivery, unreadable input); 2 usage or configuration error.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import hashlib
import json
import os
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from monitor import __version__, config
from monitor.backends import exclusive, open_store, store_exists, store_shown
from monitor.errors import ConfigError, ExtractError, MonitorError, SourceError
from monitor.extracting import settle_collector
from monitor.logs import printable
from monitor.models import Digest, Fetched, RunReport
from monitor.pipeline import Deps, run_once, select
from monitor.sources.folder import KINDS
from monitor.store import StoreInterface
from monitor.store.sqlite import copy_store

if TYPE_CHECKING:
    from monitor.delivery import Mailer

FORMATS = ("text", "html", "json", "email")
#: ``status`` lists the workers seen this recently (and those holding a lease)
WORKERS_SEEN = timedelta(hours=1)


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", type=Path, default=argparse.SUPPRESS, metavar="PATH",
                        help="TOML config file (default: ./corpus-monitor.toml if present)")
    paths = argparse.ArgumentParser(add_help=False)
    paths.add_argument("--folder", type=Path, help="watch this folder instead of the configured sources")
    paths.add_argument("--store", metavar="PATH_OR_URL",
                       help="SQLite store file, or a PostgreSQL store's postgresql:// URL (password from PGPASSWORD or"
                       " ~/.pgpass)")
    paths.add_argument("--outbox", type=Path, help="outbox folder for .eml files (when no SMTP is set)")
    only = argparse.ArgumentParser(add_help=False)
    only.add_argument("--source", action="append", default=[], metavar="NAME",
                      help="poll only this source (repeatable), whether or not it is due")

    parser = argparse.ArgumentParser(
        prog="corpus-monitor", parents=[common],
        description="Watch a corpus of news coverage and email digests of what is genuinely new in it.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("digest", parents=[common, paths, only],
                       help="scan, then deliver a digest of all unreported claims",
                       description="Scan the sources, ingest what is new or changed, and deliver a digest of every "
                       "claim not yet reported. Prints a summary, or the digest in --format.")
    p.add_argument("--dry-run", action="store_true", help="do all the work but persist and deliver nothing")
    p.add_argument("--baseline", action="store_true",
                   help="record every claim found as known without mailing it (a first run over existing coverage)")
    p.add_argument("--format", choices=FORMATS,
                   help="print the digest as text, html, json or the raw email (default: a summary; text in a dry run)")
    sub.add_parser("scan", parents=[common, paths, only], help="ingest new or changed documents; deliver nothing",
                   description="Scan the sources and ingest what is new or changed, without building a digest.")
    p = sub.add_parser("run", parents=[common, paths], help="run as a service: poll and send digests on a schedule",
                       description="Run until stopped (SIGTERM or SIGINT; SIGHUP reloads the config): poll the "
                       "sources every [schedule] poll_every, scan watched folders as files arrive, send digests at "
                       "the [schedule] digest times (or as it happens), retry failed deliveries. Logs one line per "
                       "event on stderr ([log] format: text or json). One service per SQLite store; any number on "
                       "a PostgreSQL store, sharing the work.")
    p.add_argument("--worker", metavar="NAME",
                   help="this service's name among the workers on a shared store (default: host-pid); a worker "
                   "restarted under its name takes back its leases at once")
    p = sub.add_parser("store", parents=[common, paths], help="copy the store into PostgreSQL",
                       description="'store copy --to postgresql://user@host:port/db' copies the SQLite store "
                       "(documents, claims, occurrences, the index, digests, deliveries, HTTP validators, feed "
                       "entries, source health) into an empty PostgreSQL store, which is made if it has no tables; "
                       "then set [store] url. The SQLite store is only read.")
    p.add_argument("action", choices=("copy",))
    p.add_argument("--to", required=True, metavar="URL", help="the PostgreSQL store's URL (no password in it)")
    p.add_argument("--password-env", metavar="VAR", help="the environment variable holding its password (default: "
                   "libpq's own, PGPASSWORD or ~/.pgpass)")
    p.add_argument("--password-file", type=Path, metavar="PATH", help="a file holding its password")
    p = sub.add_parser("status", parents=[common, paths], help="show what the store holds",
                       description="Documents, claims, unreported claims, the last digest, and for each "
                       "source its last successful poll, its last error and how many polls failed in a row.")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.add_argument("--health", action="store_true",
                   help="exit 0 if a service has polled the store within 3 poll intervals, else 1 (health checks)")
    p = sub.add_parser("extract", parents=[common], help="show what the extractor sees in files",
                       description="Print each file's extracted title, date and main text, for debugging sources.")
    p.add_argument("files", nargs="+", type=Path, metavar="FILE")
    p.add_argument("--format", choices=("text", "json"), default="text",
                   help="json: one object per line with path, title, published, site, url, encoding, text")
    p = sub.add_parser("explain", parents=[common, paths], help="show what becomes of each sentence of a document",
                       description="For each sentence of a document, its fate if the document arrived now: new, "
                       "known (with the matching claim and where it was first seen), paraphrase of (with the "
                       "score), conflict with, repeat within the document, or dropped (with the rule). Works on a "
                       "copy of the store: nothing is kept.")
    p.add_argument("file", type=Path, metavar="FILE")
    p.add_argument("--format", choices=("text", "json"), default="text",
                   help="json: one object per sentence, per line, with text, fate, rule, score, claim, "
                   "claim_text, source_title, source, speaker")
    p = sub.add_parser("digests", parents=[common, paths], help="list, retry or drop digests not delivered",
                       description="The delivery queue: digests waiting to be delivered (pending) and those the mail "
                       "server refused for good (refused). 'list' shows them; 'retry ID...' sends them now (a "
                       "refused one as it was built, if its claims are in no later digest); 'drop ID...' gives up "
                       "on them: their claims go into the next digest, so nothing is lost.")
    p.add_argument("action", nargs="?", choices=("list", "retry", "drop"), default="list")
    p.add_argument("ids", nargs="*", type=int, metavar="ID", help="digest ids, as 'list' shows them")
    p.add_argument("--format", choices=("text", "json"), default="text")
    sub.add_parser("check-config", parents=[common, paths], help="validate the config and show what it would do",
                   description="Load and validate the configuration; print the sources it would poll, "
                   "the store, the HTTP settings, the topic and the delivery.")
    return parser


def _say(kind: str, message: object) -> None:
    """One line on stderr: ``corpus-monitor: <kind>: <message>``, control characters escaped (a file name with a
    newline cannot forge a line)."""
    print(f"corpus-monitor: {kind}: {printable(str(message))}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return _main(args)
    except BrokenPipeError:
        # the reader of our output went away (`status | head -1`): what it wanted it has; the work is done.
        # stdout is pointed at /dev/null so that the interpreter's own flush at exit fails no more.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0


def _main(args: argparse.Namespace) -> int:
    try:
        if args.command == "extract":
            return _extract(args)
        cwd, path = Path.cwd(), getattr(args, "config", None)
        overrides = config.Overrides(folder=args.folder, store=args.store, outbox=args.outbox)
        settings = config.load(path, cwd=cwd, overrides=overrides)
        settle_collector()  # what is loaded by now lives as long as the process
        if args.command in ("check-config", "digest") or (args.command == "digests" and args.action == "retry"):
            for caution in config.cautions(settings):  # the service logs its own, at its start and each reload
                _say("warning", caution)
        if args.command == "check-config":
            print("\n".join(config.describe(settings)))
            return 0
        if args.command == "status":
            return _health(settings) if args.health else _status(settings, args.format)
        if args.command == "run":
            return _serve(settings, lambda: config.load(path, cwd=cwd, overrides=overrides), args.worker)
        if args.command == "explain":
            return _explain(settings, args.file, args.format)
        if args.command == "digests":
            return _digests(settings, args)
        if args.command == "store":
            return _store_copy(settings, args)
        return _run(settings, args)
    except ConfigError as exc:
        for problem in exc.problems:
            _say("config error", problem)
        return 2
    except MonitorError as exc:
        _say("error", exc)
        return exc.exit_status


def _mailer(settings: config.Settings) -> Mailer:
    from monitor.delivery import OutboxMailer, SmtpMailer  # email and ssl: not needed for a scan

    if settings.smtp is None:
        return OutboxMailer(settings.outbox)
    smtp = settings.smtp
    return SmtpMailer(
        smtp.host, smtp.port, security=smtp.security, username=smtp.username,
        password=smtp.password.reveal() if smtp.password else None, timeout=smtp.timeout_seconds,
    )


def _serve(settings: config.Settings, load: Callable[[], config.Settings], worker: str | None) -> int:
    from monitor import logs
    from monitor.scheduler import Service

    logs.setup(settings.log_format)
    return Service(settings, load, _mailer, worker).run()


class _Progress:
    """Progress bars on stderr (tqdm), one per stage of a scan, for a person watching a terminal."""

    def __init__(self) -> None:
        from tqdm import tqdm

        self._tqdm = tqdm
        self._bars: dict[str, tqdm[None]] = {}

    def __call__(self, stage: str, done: int, total: int) -> None:
        bar = self._bars.get(stage)
        if bar is None:
            bar = self._bars[stage] = self._tqdm(total=total, desc=stage, unit="doc", file=sys.stderr, leave=False,
                                                 mininterval=0.2)
        bar.update(done - bar.n)
        if done >= total:
            bar.close()


def _progress() -> _Progress | None:
    """Bars when stderr is a terminal; nothing in a pipe, a log or a cron mail."""
    return _Progress() if sys.stderr.isatty() else None


def _run(settings: config.Settings, args: argparse.Namespace) -> int:
    deliver = args.command == "digest"
    dry_run = deliver and args.dry_run
    select(settings, args.source)  # an unknown --source is a usage error before anything is opened
    if dry_run:  # on a copy of the store: a running service is neither held up nor touched
        with _snapshot(settings) as store:
            deps = Deps.of(store, settings, progress=_progress())
            report = run_once(settings, deps, deliver=True, dry_run=True, only=args.source,
                              baseline=getattr(args, "baseline", False))
    else:
        with exclusive(settings), open_store(settings) as store:
            mailer = _mailer(settings) if deliver else None
            deps = Deps.of(store, settings, mailer=mailer, progress=_progress())
            report = run_once(settings, deps, deliver=deliver, dry_run=False, only=args.source,
                              baseline=getattr(args, "baseline", False))
    for outcome in report.outcomes:
        for message in (*outcome.errors, *outcome.skipped, *outcome.warnings):
            _say("warning", message)
    for message in report.warnings:
        _say("warning", message)
    fmt = getattr(args, "format", None) or ("text" if dry_run else None)
    if fmt is None:
        print(_summary(report, deliver))
    else:
        print(_digest_as(report, fmt, settings.language), end="" if fmt == "email" else "\n")
        print(_summary(report, deliver), file=sys.stderr)
    if report.delivery_error:
        _say("error", report.delivery_error)
        return 1
    return 0


def _summary(report: RunReport, deliver: bool) -> str:
    polled = [o for o in report.outcomes if o.polled]
    scanned = sum(o.scanned for o in polled)
    ingested = sum(o.ingested for o in polled)
    unchanged = sum(o.unchanged for o in polled)
    off_topic = sum(o.off_topic for o in polled)
    failed = sum(len(o.errors) + len(o.skipped) for o in polled)
    waiting = len(report.outcomes) - len(polled)
    lines = [
        f"Scanned {scanned} document{'s' * (scanned != 1)} in {len(polled)} "
        f"source{'s' * (len(polled) != 1)}: {ingested} new or changed, {unchanged} unchanged"
        + (f", {off_topic} off topic" if off_topic else "")
        + (f", {failed} failed with a warning." if failed else ".")
        + (f" {waiting} source{'s' * (waiting != 1)} not due yet." if waiting else ""),
        f"{report.new_claims} new claim{'s' * (report.new_claims != 1)}.",
    ]
    if not deliver:
        return "\n".join(lines)
    for message_id, destination in report.resent:
        lines.append(f"Delivered an earlier digest that had failed, {message_id}, to {destination}")
    if report.baseline is not None:
        recorded = report.baseline
        heads = [doc for doc in recorded.documents if doc.new_claims]
        lines.append(f"Baseline: {len(recorded.claims)} claim{'s' * (len(recorded.claims) != 1)} from "
                     f"{len(heads)} document{'s' * (len(heads) != 1)} recorded as known; nothing mailed"
                     + (" (dry run: nothing saved)." if report.dry_run else "."))
        lines += [f"  {doc.new_claims:5d}  {doc.title or doc.path or doc.url}" for doc in heads]
        return "\n".join(lines)
    d = report.digest
    if d is None:
        lines.append("Nothing new to report: no digest sent.")
    else:
        documents = sum(1 for x in d.documents if x.new_claims)
        what = (f"Digest of {len(d.claims)} claim{'s' * (len(d.claims) != 1)} from {documents} "
                f"document{'s' * (documents != 1)}")
        if report.dry_run:
            lines.append(f"{what} (dry run: nothing delivered, nothing saved).")
        elif report.refused:
            lines.append(f"{what} REFUSED by the mail server; its claims go into the next digest.")
        elif report.delivered_to is None:
            lines.append(f"{what} NOT delivered; it is kept and sent again, with the same Message-ID, next run.")
        else:
            lines.append(f"{what} delivered to {report.delivered_to}")
        if report.archived:
            lines.append(f"The whole digest: {report.archived}")
    if report.pending:
        lines.append(f"{report.pending} digest{'s' * (report.pending != 1)} waiting to be delivered "
                     "(tried again on the next run).")
    return "\n".join(lines)


def _digest_as(report: RunReport, fmt: str, language: str) -> str:
    from monitor import digest

    if fmt == "json":
        empty = {"generated_at": datetime.now(UTC).isoformat(), "documents": [], "claims": [], "corroborated": []}
        payload = digest.to_json(report.digest) if report.digest else empty
        return json.dumps(payload, ensure_ascii=False, indent=2)
    if fmt == "email":  # no message, no bytes: a script saving it gets an empty file, not prose
        return (report.message or b"").decode("utf-8", errors="replace")
    rendered = report.rendered
    if rendered is None:  # nothing new: the digest that says so, in the form asked for
        rendered = digest.render(Digest(datetime.now(UTC), (), ()), digest.environment(language=language))
    return rendered.html if fmt == "html" else rendered.text


def _health(settings: config.Settings) -> int:
    """For container health checks: 0 when a service polls the store on time, else 1; one line either way."""
    from monitor.scheduler import health

    if not store_exists(settings):
        print(f"unhealthy: no store at {settings.store_path}")
        return 1
    with open_store(settings, read_only=True) as store:
        healthy, why = health(store, datetime.now(UTC))
    print(why if healthy else f"unhealthy: {why}")
    return 0 if healthy else 1


def _status(settings: config.Settings, fmt: str) -> int:
    if not store_exists(settings):
        print(f"No store yet at {settings.store_path}: nothing has been scanned.")
        return 0
    now = datetime.now(UTC)
    with open_store(settings, read_only=True) as store:
        st = store.status()
        health = store.health()
        workers = store.workers(now - WORKERS_SEEN)
    # the sources of the config, and those the store has polled that the config no longer names
    kinds = {source.name: source.kind for source in settings.sources}
    sources = []
    for name in [*kinds, *(name for name in sorted(health) if name not in kinds)]:
        h = health.get(name)
        sources.append({
            "name": name, "kind": kinds.get(name), "configured": name in kinds,
            "last_attempt": h.last_attempt if h else None, "last_success": h.last_success if h else None,
            "last_error": h.last_error if h else None, "last_error_at": h.last_error_at if h else None,
            "failures_in_a_row": h.failures if h else 0,
        })
    if fmt == "json":
        payload = {"store": store_shown(settings), **st.__dict__, "sources": sources,
                   "workers": [dataclasses.asdict(w) for w in workers]}
        print(json.dumps(payload, ensure_ascii=False, indent=2))
        return 0
    print(f"Store: {store_shown(settings)}")
    print(f"Documents: {st.documents}")
    print(f"Claims: {st.claims} ({st.unreported} not yet reported)")
    if st.pending_digests:
        print(f"Digests waiting to be delivered: {st.pending_digests} (last error: {st.pending_error or 'none'})")
    if st.refused_digests:
        print(f"Digests refused by the mail server: {st.refused_digests} (their claims went into later digests; "
              f"latest answer: {st.refused_error}). See: corpus-monitor digests")
    if st.last_digest_at:
        print(f"Last digest: {st.last_digest_at}, {st.last_digest_claims} claims, to {st.last_digest_to}"
              f" ({st.delivered_digests} delivered in all)")
    else:
        print("Last digest: none yet")
    for w in workers:
        held = f"{len(w.leases)} source{'s' * (len(w.leases) != 1)} leased" if w.leases else "no lease"
        print(f"Worker {w.name} ({w.host}, pid {w.pid}): last seen {w.last_seen}; {held}")
    for row in sources:
        what = row["kind"] or "not in the config any more"
        if row["last_attempt"] is None:
            print(f"Source {row['name']} ({what}): never polled")
            continue
        failures = row["failures_in_a_row"]
        state = "ok" if not failures else f"FAILING, {failures} poll{'s' * (failures != 1)} in a row"
        print(f"Source {row['name']} ({what}): {state}; last success {row['last_success'] or 'never'}")
        if row["last_error"]:
            print(f"  last error at {row['last_error_at']}: {row['last_error']}")
    return 0


def _digests(settings: config.Settings, args: argparse.Namespace) -> int:
    """The delivery queue: list it, send digests now, or drop them (their claims go into the next digest)."""
    if args.action != "list" and not args.ids:
        raise ConfigError(f"digests {args.action}: name the digests by id (see: corpus-monitor digests list)")
    if args.action == "list":
        if not store_exists(settings):
            print("No store yet: no digests.")
            return 0
        with open_store(settings, read_only=True) as store:
            queued = store.queued_digests()
        if args.format == "json":
            print(json.dumps([dataclasses.asdict(q) for q in queued], ensure_ascii=False, indent=2))
        elif not queued:
            print("No digest waiting or refused.")
        for q in queued if args.format == "text" else ():
            print(f"{q.id}  {q.state:<8} {q.created_at[:19]}  {q.claim_count} claims, {q.size:,} bytes, "
                  f"{q.attempts} attempt{'s' * (q.attempts != 1)}  {q.subject}")
            if q.last_error:
                print(f"    {'server said' if q.state == 'refused' else 'last error'}: {q.last_error}")
        return 0
    now = datetime.now(UTC)
    status = 0
    with exclusive(settings), open_store(settings) as store:
        for digest_id in args.ids:
            if args.action == "drop":
                before = store.drop_delivery(digest_id, now)
                if before is None:
                    _say("error", f"digest {digest_id} is not waiting or refused")
                    status = 2
                else:
                    print(f"Dropped digest {digest_id} ({before}); its claims go into the next digest.")
                continue
            done = store.requeue_delivery(digest_id, now)
            if done in ("pending", "requeued"):
                continue
            why = {"unknown": "no such digest", "sent": "already delivered",
                   "claims moved": "its claims went into a later digest since"}[done]
            _say("error", f"digest {digest_id} cannot be sent again: {why}")
            status = 2
        if args.action == "retry":
            from monitor.pipeline import retry_deliveries

            deps = Deps.of(store, settings, mailer=_mailer(settings))
            resent, errors = retry_deliveries(deps, due=now)
            for message_id, destination in resent:
                print(f"Delivered {message_id} to {destination}")
            for error in errors:
                _say("error", error)
            status = status or (1 if errors else 0)
    return status


@contextlib.contextmanager
def _snapshot(settings: config.Settings) -> Iterator[StoreInterface]:
    """A throwaway copy of the store (an empty one if there is none yet): work on it is never kept. The store is
    only read, so a store that cannot be written (a read-only file system) is copied the same; the copy is
    migrated if the store's schema is older. A PostgreSQL store is not copied: the work is done in one
    transaction, rolled back at the end."""
    if settings.store_url is not None:
        with open_store(settings) as shared, shared.rolled_back():
            yield shared
        return
    with tempfile.TemporaryDirectory(prefix="corpus-monitor-copy-") as scratch:
        copy = Path(scratch) / settings.store_path.name
        if settings.store_path.exists():
            copy_store(settings.store_path, copy)
        with open_store(dataclasses.replace(settings, store_path=copy)) as store:
            yield store


def _read_document(path: Path, source: str) -> Fetched:
    """A file as a Fetched; its kind from the suffix, else from its first byte."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SourceError(str(path), f"cannot read: {exc.strerror or exc}") from exc
    kind = KINDS.get(path.suffix.lower()) or ("html" if data.lstrip()[:1] == b"<" else "text")
    return Fetched(str(path), data, hashlib.sha256(data).hexdigest(), source=source, kind=kind)


def _explain(settings: config.Settings, path: Path, fmt: str) -> int:
    from monitor.explain import explain
    from monitor.extract import extract

    fetched = _read_document(path.resolve(), "explain")
    document = extract(fetched)
    with _snapshot(settings) as store:
        fates = explain(fetched, document, Deps.of(store, settings), settings)
    if fmt == "json":
        for fate in fates:
            print(json.dumps(dataclasses.asdict(fate), ensure_ascii=False))
        return 0
    print(f"== {path}: {document.title or '(no title)'}")
    counts = {name: sum(1 for f in fates if f.fate == name) for name in dict.fromkeys(f.fate for f in fates)}
    print(", ".join(f"{n} {name}" for name, n in counts.items()) or "no sentences")
    for fate in fates:
        if fate.fate == "dropped":
            label = f"dropped: {fate.rule}"
        elif fate.fate == "paraphrase":
            label = f"paraphrase {fate.score or 0:.2f}"
        else:
            label = fate.fate
        print(f"[{label}] {fate.text}")
        if fate.claim_text is not None:
            relation = "contradicts" if fate.fate == "conflict" else "same as"
            print(f"    {relation} claim {fate.claim}: {fate.claim_text}")
            print(f"    first seen in: {fate.source_title or '(no title)'} ({fate.source})")
    return 0


def _extract(args: argparse.Namespace) -> int:
    from monitor.extract import extract

    status = 0
    for path in args.files:
        try:
            fetched = _read_document(path, "extract")
        except SourceError as exc:
            _say("error", exc)
            status = 1
            continue
        row: dict[str, str | None] = {"path": str(path)}
        try:
            doc = extract(fetched)
            row |= {"title": doc.title, "published": doc.published, "site": doc.site, "url": doc.url,
                    "encoding": doc.encoding, "text": doc.text}
        except ExtractError as exc:
            _say("warning", exc)
            row |= {"title": None, "published": None, "site": None, "url": None, "encoding": None, "text": "",
                    "error": exc.reason}
        if args.format == "json":
            print(json.dumps(row, ensure_ascii=False))
        else:
            print(f"== {path}")
            for key in ("title", "published", "site", "url", "encoding"):
                print(f"{key}: {row.get(key) or '-'}")
            print()
            print(row["text"])
            print()
    return status


def _store_copy(settings: config.Settings, args: argparse.Namespace) -> int:
    """``store copy --to URL``: the SQLite store into an empty PostgreSQL store."""
    from monitor.store.postgres import copy_into

    problem = config.store_url_problem(args.to, instead="a password is never read from --to; give it with"
                                       " --password-env or --password-file")
    if problem:
        raise ConfigError([f"--to: {problem}"])
    if settings.store_url is not None:
        raise ConfigError([f"store copy: the store to copy from is an SQLite file; the config names a PostgreSQL "
                           f"store ({store_shown(settings)}): give the file with --store PATH"])
    if args.password_env and args.password_file:
        raise ConfigError(["store copy: give the password one way: --password-env or --password-file, not both"])
    password = None
    if args.password_env:
        password = os.environ.get(args.password_env) or None
        if password is None:
            raise ConfigError([f"--password-env: environment variable {args.password_env} is not set (or is empty)"])
    elif args.password_file:
        try:
            password = args.password_file.read_text(encoding="utf-8").split("\n", 1)[0].strip() or None
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError([f"--password-file: cannot read {args.password_file}: {exc}"]) from exc
        if password is None:  # as [store] password_file: not a silent fall back to PGPASSWORD or ~/.pgpass
            raise ConfigError([f"--password-file: {args.password_file} is empty"])
    if not settings.store_path.exists():
        raise ConfigError([f"store copy: no SQLite store at {settings.store_path}"])
    with exclusive(settings):  # a store at rest: no service or digest goes on writing to the file meanwhile
        counts = copy_into(settings.store_path, args.to, password=password, progress=_progress())
    print(f"Copied {settings.store_path} into {store_shown(dataclasses.replace(settings, store_url=args.to))}: "
          + ", ".join(f"{n:,} {table}" for table, n in counts.items() if n))
    print("Set [store] url to it (and password_env or password_file) to work on it; `corpus-monitor status` on "
          "either shows the same counts.")
    return 0
