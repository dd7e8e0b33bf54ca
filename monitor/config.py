"""TOML configuration -> one frozen ``Settings``, parsed once at the edge.

Each table is described by a schema (key -> ``Option``); one pass checks a table against its schema
and collects every problem as ``"<file>: <key path>: <message>"``; all of them are raised together in
one ``ConfigError``. Source kinds live in ``monitor.config_sources.SOURCE_KINDS``: adding a kind is one
entry there.
Secrets never come from the file: the SMTP password is read from the environment variable that
``smtp.password_env`` names, and is wrapped in ``Secret`` so that no ``repr`` shows it.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from monitor import __version__
from monitor.checks import (
    REQUIRED,
    Checker,
    Invalid,
    Option,
    check,
    choice,
    cron,
    duration,
    flag,
    number,
    resolve,
    strings,
    text,
    timezone_name,
)
from monitor.config_sources import (
    DEFAULT_SOURCES,
    SOURCE_KINDS,
    FeedSource,
    FolderSource,
    PageSource,
    Source,
    SourceKind,
    WebSource,
)
from monitor.config_sources import sources as read_sources
from monitor.errors import ConfigError
from monitor.models import HttpPolicy, Layout
from monitor.normalize import OPENCC_CONFIGS

#: the source kinds are defined in monitor.config_sources and offered from here with the rest of the config
__all__ = [
    "SOURCE_KINDS", "FeedSource", "FolderSource", "PageSource", "Source", "SourceKind", "WebSource",
    "Settings", "SmtpSettings", "ScheduleSettings", "NoveltySettings", "Secret", "Overrides", "TABLES",
    "REFUSED", "DEFAULT_KEYWORDS", "SECURITY_PORTS", "load", "describe", "cautions",
]

#: the file ``load`` looks for in the working directory when given no path
DEFAULT_FILENAME = "corpus-monitor.toml"
DEFAULT_ADDRESS = "corpus-monitor@localhost"
#: smtp.security -> the port used when smtp.port is not given
SECURITY_PORTS = {"starttls": 587, "tls": 465, "none": 25}
#: the shipped topic: the Huang-Zuckerberg conversation at SIGGRAPH 2024 (any one keyword is a match;
#: Traditional spellings meet these after OpenCC; 祖克柏 is Taiwan's name for Zuckerberg)
DEFAULT_KEYWORDS = ("黄仁勋", "扎克伯格", "祖克柏", "SIGGRAPH", "Jensen Huang", "Zuckerberg")


@dataclass(frozen=True)
class Secret:
    """A string that ``repr`` and ``str`` never show."""

    _value: str = field(repr=False)

    def reveal(self) -> str:
        """Return the secret itself, for the one place that needs it."""
        return self._value

    def __repr__(self) -> str:
        return "'***'"

    def __str__(self) -> str:
        return "***"


@dataclass(frozen=True)
class SmtpSettings:
    """Where and how to send the digest by SMTP."""

    host: str
    #: default by security: 587 for starttls, 465 for tls, 25 for none
    port: int
    #: "starttls", "tls" or "none"
    security: str = "starttls"
    username: str | None = None
    #: read from the environment variable ``password_env``, never from the file
    password: Secret | None = None
    password_env: str | None = None
    timeout_seconds: float = 30.0


@dataclass(frozen=True)
class ScheduleSettings:
    """When the service (``corpus-monitor run``) polls and sends digests."""

    #: seconds between polls (``poll_every`` as a duration); a source's own ``every`` may ask more often
    poll_seconds: float | None = 900.0
    #: ``poll_every`` as a cron expression instead
    poll_cron: str | None = None
    #: cron expression of digest times; None means "as-it-happens" (right after a poll that found new claims)
    digest_cron: str | None = "0 8 * * *"
    #: IANA time zone of the cron expressions
    timezone: str = "UTC"
    #: as it happens: a digest goes out once no new claim has come for this long (a burst of arrivals is one
    #: digest), and at the latest this long after the burst began, times five
    quiet_seconds: float = 30.0
    #: as it happens: at least this long between two digests
    min_interval_seconds: float = 300.0


@dataclass(frozen=True)
class NoveltySettings:
    """Near-duplicates: Jaccard threshold over character shingles, found through the store's shingle index."""

    shingle: int = 2
    threshold: float = 0.3


@dataclass(frozen=True)
class Settings:
    """Everything a run needs to know, checked and resolved."""

    #: the SQLite file (when ``store_url`` is None)
    store_path: Path
    sources: tuple[Source, ...]
    #: OpenCC config name, one of OPENCC_CONFIGS
    opencc: str
    #: folder for ``.eml`` files, used when there is no [smtp] table
    outbox: Path
    sender: str
    recipients: tuple[str, ...]
    #: None: the digest goes to the outbox
    smtp: SmtpSettings | None
    novelty: NoveltySettings
    #: the file the settings came from; None for pure defaults
    config_path: Path | None
    http: HttpPolicy = HttpPolicy(user_agent=f"corpus-monitor/{__version__}")
    #: the topic filter's keywords as written (matched after normalization)
    topic_keywords: tuple[str, ...] = DEFAULT_KEYWORDS
    schedule: ScheduleSettings = ScheduleSettings()
    #: the user's alias file (``[[alias]]`` tables, like monitor/data/aliases.toml), added to the shipped one
    aliases: Path | None = None
    #: "text" or "json" (one JSON object per line)
    log_format: str = "text"
    #: no document takes longer to extract: past it, the worker extracting it is stopped ([extract] time_budget_seconds)
    extract_budget: float = 30.0
    #: digests also list known claims that gained sources since the last delivered digest ([digest] corroborated)
    corroborated: bool = False
    #: how much of a digest the email shows ([digest] max_claims_per_document, max_documents, highlights)
    layout: Layout = Layout()
    #: where each delivered digest is written whole, as HTML and JSON ([digest] archive; default: beside the store)
    archive: Path = Path("var/archive")
    #: the base URL at which the archive folder is served, if it is ([digest] archive_url)
    archive_url: str | None = None
    #: on an empty store: "digest" mails everything found; "baseline" records it as known, mailing nothing
    first_run: str = "digest"
    #: the language of the digest's labels: "en", "zh-Hans" or "zh-Hant"
    language: str = "en"
    #: how long the store keeps a delivered digest's message, in seconds ([digest] keep_sent_messages); 0: it
    #: goes as the delivery is recorded (the digest's rows, Message-ID, recipients, times and claims stay)
    keep_sent_seconds: float = 0.0
    #: the PostgreSQL store ([store] url), shared by many workers; None: the SQLite file ``store_path``
    store_url: str | None = None
    #: its password ([store] password_env or password_file); None: libpq's own (PGPASSWORD, ~/.pgpass)
    store_password: Secret | None = None
    #: how long a worker's lease on a due source lasts ([store] lease_seconds): a dead worker's sources are
    #: polled by another once it has passed
    lease_seconds: float = 600.0


@dataclass(frozen=True)
class Overrides:
    """Command-line values that beat the file; relative paths resolve against the working directory."""

    #: replaces every folder source with this one folder
    folder: Path | None = None
    #: an SQLite file, or a postgresql:// URL
    store: Path | str | None = None
    outbox: Path | None = None


_ADDRESS = r"[^@\s<>,;\"]+@[^@\s<>,;\".][^@\s<>,;\"]*"
_ADDRESS_FORMS = re.compile(rf"{_ADDRESS}|[^<>@\"]*<{_ADDRESS}>")
_env_name = check("an environment variable name", lambda v: isinstance(v, str) and v.isascii() and v.isidentifier())
_address = check(
    "an email address like 'you@example.com' or 'You <you@example.com>'",
    lambda v: isinstance(v, str) and bool(_ADDRESS_FORMS.fullmatch(v.strip())),
    str.strip,
)


def _alias_file(value: Any) -> str:
    """A TOML file of [[alias]] tables, checked when the config loads."""
    text(value)
    return str(value)


_POLL_EVERY = 'a duration like "15m" (at most 366 days) or a cron expression like "*/15 * * * *"'
_DIGEST_WHEN = 'a cron expression like "0 8 * * *", or "as-it-happens"'


def _poll_every(value: Any) -> float | str:
    """A duration (seconds, as a float) or a five-field cron expression (the string)."""
    try:
        return duration(value)
    except Invalid:
        if not isinstance(value, str) or len(value.split()) != 5:
            raise Invalid(_POLL_EVERY) from None
    return cron(value.strip(), _POLL_EVERY)


def _pause(value: Any) -> float:
    """A duration, or 0 (none)."""
    if type(value) in (int, float) and value == 0 or (isinstance(value, str) and value.strip() in ("0", "0s")):
        return 0.0
    return duration(value)


def _digest_when(value: Any) -> str | None:
    """A cron expression, or "as-it-happens" (None)."""
    if value == "as-it-happens":
        return None
    if not isinstance(value, str) or len(value.split()) != 5:
        raise Invalid(_DIGEST_WHEN)
    return cron(value.strip(), _DIGEST_WHEN)


_web_url = check(
    "an http:// or https:// address",
    lambda v: isinstance(v, str) and v.strip().lower().startswith(("http://", "https://")) and " " not in v.strip(),
    str.strip,
)


def _addresses(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not value:
        raise Invalid("a non-empty array of email addresses")
    bad: list[Invalid] = []
    for index, item in enumerate(value):
        try:
            _address(item)
        except Invalid as exc:
            bad.append(Invalid(exc.expected, at=f"[{index}]", got=item))
    if bad:  # every bad address, each one problem
        raise Invalid(bad[0].expected, at=bad[0].at, got=bad[0].got, more=tuple(bad[1:]))
    return tuple(map(_address, value))


#: the tables besides [[sources]]; an absent table takes these defaults, unless it has a required key
TABLES: dict[str, dict[str, Option]] = {
    "store": {
        "path": Option(text, "var/monitor.sqlite3", path=True),
        "url": Option(text, None),
        "password_env": Option(_env_name, None),
        "password_file": Option(text, None),
        "lease_seconds": Option(number(1, 86400), 600.0),
    },
    "extract": {"time_budget_seconds": Option(number(1, 3600), 30.0)},
    "normalize": {"opencc": Option(choice(*OPENCC_CONFIGS), "t2s"), "aliases": Option(_alias_file, None, path=True)},
    "novelty": {
        "shingle": Option(number(1, 8, integer=True), 2),
        "threshold": Option(number(0, 1, above=True), 0.3),
    },
    "digest": {
        "outbox": Option(text, "var/outbox", path=True),
        "from": Option(_address, DEFAULT_ADDRESS),
        "to": Option(_addresses, (DEFAULT_ADDRESS,)),
        "corroborated": Option(flag, False),
        "max_claims_per_document": Option(number(1, 1000, integer=True), 8),
        "max_documents": Option(number(1, 1000, integer=True), 25),
        "highlights": Option(number(0, 50, integer=True), 5),
        "archive": Option(text, None, path=True),
        "archive_url": Option(_web_url, None),
        "first_run": Option(choice("digest", "baseline"), "digest"),
        "language": Option(choice("en", "zh-Hans", "zh-Hant"), "en"),
        "keep_sent_messages": Option(_pause, 0.0),
    },
    "http": {
        "user_agent": Option(text, None),
        "contact": Option(text, None),
        "concurrency": Option(number(1, 1000, integer=True), 20),
        "per_host_concurrency": Option(number(1, 100, integer=True), 2),
        "per_host_delay_seconds": Option(number(0, 3600), 1.0),
        "timeout_seconds": Option(number(0, 600, above=True), 20.0),
        "deadline_seconds": Option(number(0, 3600, above=True), 30.0),
        "max_bytes": Option(number(1024, integer=True), 5_000_000),
        "max_redirects": Option(number(0, 30, integer=True), 5),
        "retries": Option(number(0, 10, integer=True), 2),
        "backoff_seconds": Option(number(0, 600), 1.0),
        "max_retry_after_seconds": Option(number(0, 86400), 60.0),
        "respect_robots": Option(flag, True),
        "allow_private_addresses": Option(flag, False),
    },
    "topic": {"keywords": Option(strings, DEFAULT_KEYWORDS)},
    "schedule": {
        "poll_every": Option(_poll_every, 900.0),
        "digest": Option(_digest_when, "0 8 * * *"),
        "timezone": Option(timezone_name, "UTC"),
        "quiet": Option(_pause, 30.0),
        "min_interval": Option(_pause, 300.0),
    },
    "log": {"format": Option(choice("text", "json"), "text")},
    "smtp": {
        "host": Option(text),
        "port": Option(number(1, 65535, integer=True), None),
        "security": Option(choice(*SECURITY_PORTS), "starttls"),
        "username": Option(text, None),
        "password_env": Option(_env_name, None),
        "password_file": Option(text, None),
        "timeout_seconds": Option(number(0, above=True), 30.0),
    },
}
#: keys refused with a reason rather than as unknown
REFUSED = {
    **{
        f"{table}.password": "passwords are never read from the config file; set password_env to the name of an "
        "environment variable holding it, or password_file to a file holding it"
        for table in ("smtp", "store")
    },
    **{
        f"novelty.{key}": "no longer used: near-duplicates are found through an index of shingles, not MinHash "
        "LSH bands (the store rebuilds it by itself); remove this line"
        for key in ("bands", "rows")
    },
}


def _read(path: Path, label: str) -> dict[str, Any]:
    """Parse the file; a missing, unreadable or malformed file is a ConfigError."""
    if not path.is_file():
        raise ConfigError(f"{label}: {'not a file' if path.exists() else 'no such config file'}")
    try:
        return tomllib.loads(path.read_bytes().decode("utf-8-sig"))  # an editor's byte order mark is no error
    except RecursionError as exc:
        raise ConfigError(f"{label}: invalid TOML: arrays or tables nested too deeply") from exc
    except OSError as exc:
        raise ConfigError(f"{label}: cannot read: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{label}: not UTF-8 text (bad byte at offset {exc.start})") from exc
    except tomllib.TOMLDecodeError as exc:
        match = re.fullmatch(r"(.*) \(at line (\d+), column (\d+)\)", str(exc))
        where = f"line {match[2]}, column {match[3]}: " if match else ""
        raise ConfigError(f"{label}: {where}invalid TOML: {match[1] if match else exc}") from exc


def _smtp(
    values: dict[str, Any], environ: Mapping[str, str], base: Path, problems: list[tuple[str, str]]
) -> SmtpSettings | None:
    """Cross-key checks of [smtp], and the password from the environment or a file; None if a key was bad."""
    username, env, file = values.get("username"), values.get("password_env"), values.get("password_file")
    password = None
    if env is not None and file is not None:
        problems.append(("smtp.password_file", "give the password one way: password_env or password_file, not both"))
    elif (username is None) != (env is None and file is None) and not ({"username", "password_env"} - values.keys()):
        missing = "password_env or password_file" if username is not None else "username"
        problems.append((f"smtp.{missing.split()[0]}", f"a login needs both username and a password: set {missing}"))
    elif env is not None:
        if environ.get(env):
            password = Secret(environ[env])
        else:
            problems.append(("smtp.password_env", f"environment variable {env} is not set (or is empty)"))
    elif file is not None:
        password = _password_file("smtp.password_file", file, environ, base, problems)
    if len(values) < len(TABLES["smtp"]):
        return None
    port = values["port"] if values["port"] is not None else SECURITY_PORTS[values["security"]]
    values = {key: value for key, value in values.items() if key != "password_file"}
    return SmtpSettings(**{**values, "port": port, "password": password})


_VARIABLE = re.compile(r"\$\{(\w+)\}|\$(\w+)")


def _password_file(
    key: str, written: str, environ: Mapping[str, str], base: Path, problems: list[tuple[str, str]]
) -> Secret | None:
    """The password in a file (its first line); ``${VAR}`` in the path come from the environment, e.g.
    systemd's ``${CREDENTIALS_DIRECTORY}``."""
    missing = [m[1] or m[2] for m in _VARIABLE.finditer(written) if (m[1] or m[2]) not in environ]
    if missing:
        problems.append((key, f"environment variable {missing[0]} is not set (in {written!r})"))
        return None
    path = resolve(base, _VARIABLE.sub(lambda m: environ[m[1] or m[2]], written))
    try:
        text = path.read_text(encoding="utf-8").split("\n", 1)[0].strip()
    except (OSError, UnicodeDecodeError) as exc:
        problems.append((key, f"cannot read {path}: {getattr(exc, 'strerror', None) or exc}"))
        return None
    if not text:
        problems.append((key, f"{path} is empty"))
        return None
    return Secret(text)


def _store(
    values: dict[str, Any], written: dict[str, Any], environ: Mapping[str, str], base: Path,
    problems: list[tuple[str, str]],
) -> tuple[str | None, Secret | None]:
    """[store]: the PostgreSQL URL (checked: no password in it) and its password, or (None, None) for the SQLite
    file ``path``."""
    url, env, file = values.get("url"), values.get("password_env"), values.get("password_file")
    if url is None:
        for key in ("password_env", "password_file"):
            if key in written:
                problems.append((f"store.{key}", "a password is for a PostgreSQL store: set url too, or remove it"))
        return None, None
    if "path" in written:
        problems.append(("store.url", "give the store one way: path (an SQLite file) or url (PostgreSQL), not both"))
    problem = store_url_problem(url)
    if problem:
        problems.append(("store.url", problem))
    if env is not None and file is not None:
        problems.append(("store.password_file", "give the password one way: password_env or password_file, not both"))
    elif env is not None:
        if environ.get(env):
            return url, Secret(environ[env])
        problems.append(("store.password_env", f"environment variable {env} is not set (or is empty)"))
    elif file is not None:
        return url, _password_file("store.password_file", file, environ, base, problems)
    return url, None


#: where a store URL's password comes from, as a problem with the URL says: the config's keys
PASSWORD_KEYS = "passwords are never read from the config file; set password_env or password_file"
#: a URL's user and password (``scheme://user:password@``), wherever it is in a text
_URL_PASSWORD = re.compile(r"(\w[\w+.-]*://[^/@:\s\"']*):[^/\s\"']*@")


def store_url_problem(url: str, *, instead: str = PASSWORD_KEYS) -> str | None:
    """What is wrong with a PostgreSQL store URL, if anything: it must be a postgresql:// URL that libpq reads,
    with no password in it (the password comes from password_env or password_file, or libpq's own PGPASSWORD or
    ~/.pgpass). ``instead``: where the message sends a password found in the URL (the command line has options of
    its own). The message never shows a password: one in a URL of another kind is masked."""
    if not url.startswith(("postgresql://", "postgres://")):
        return f"expected a URL like 'postgresql://user@host:5432/database', got {_masked(url)!r}"
    from psycopg import ProgrammingError, conninfo

    try:
        parts = conninfo.conninfo_to_dict(url)
    except ProgrammingError as exc:  # libpq's message may quote the URL
        return f"not a PostgreSQL URL libpq can read: {_masked(str(exc).strip())}"
    if "password" in parts:
        return f"the URL holds a password: {instead}"
    return None


def _masked(text: str) -> str:
    """The text with the password of any URL in it as ``***``."""
    return _URL_PASSWORD.sub(r"\1:***@", text)


def load(
    path: Path | None,
    *,
    cwd: Path,
    overrides: Overrides = Overrides(),
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Read, check and resolve the configuration; raise one ConfigError listing every problem.

    ``path`` None: ``cwd/corpus-monitor.toml`` if it exists, else pure defaults relative to ``cwd``
    (folder ./seeds, store ./var/monitor.sqlite3, outbox ./var/outbox). An explicit path that does
    not exist is an error. Relative paths in a file resolve against the file's directory; overrides
    resolve against ``cwd``; ``overrides.folder`` replaces every folder source (and reads its files without
    waiting for them to settle). The SMTP password
    comes from ``environ[smtp.password_env]`` (``environ`` defaults to ``os.environ``).
    """
    environ = os.environ if environ is None else environ
    if path is None and (cwd / DEFAULT_FILENAME).is_file():
        path = Path(DEFAULT_FILENAME)
    label = str(path) if path is not None else "(defaults)"
    config_path = resolve(cwd, path) if path is not None else None
    raw = _read(config_path, label) if config_path is not None else {}

    checker = Checker(config_path.parent if config_path is not None else cwd, REFUSED)
    for key in raw:
        if key not in TABLES and key != "sources":
            checker.unknown(key, key, [*TABLES, "sources"], "table" if isinstance(raw[key], dict) else "key")
    tables = {
        name: checker.table(raw.get(name, {}), name, schema)
        for name, schema in TABLES.items()
        if name in raw or REQUIRED not in (option.default for option in schema.values())
    }
    smtp = _smtp(tables["smtp"], environ, checker.base, checker.problems) if "smtp" in tables else None
    sources = read_sources(checker, raw.get("sources", DEFAULT_SOURCES))
    if overrides.folder is not None:
        # a folder named on the command line is read as it is now: a one-off run over files the user has
        # finished (settling is for folders watched while files arrive)
        # named by its absolute path: the same folder keeps one name however it is written (seeds, ./seeds)
        where = resolve(cwd, overrides.folder)
        folder = FolderSource(name=f"folder:{where}", path=where, settle_seconds=0)
        sources = [folder, *(source for source in sources if not isinstance(source, FolderSource))]
    elif raw.get("sources") == []:
        checker.problems.append(("sources", "no sources: add a [[sources]] table, or drop the key for ./seeds"))
    if checker.problems:
        raise ConfigError([f"{label}: {where}: {message}" for where, message in checker.problems])

    digest = tables["digest"]
    http = dict(tables["http"])
    if http["user_agent"] is None:
        contact = f" (+{http['contact']})" if http["contact"] else ""
        http["user_agent"] = f"corpus-monitor/{__version__}{contact}"
    store_path = tables["store"]["path"]
    store_url, store_password = _store(tables["store"], raw.get("store", {}), environ, checker.base, checker.problems)
    if isinstance(overrides.store, str) and overrides.store.startswith(("postgresql:", "postgres:")):
        store_url, store_password = overrides.store, None  # the password from libpq's own: PGPASSWORD, ~/.pgpass
        problem = store_url_problem(store_url, instead="a password is never read from --store; set PGPASSWORD or"
                                    " ~/.pgpass, or [store] url with password_env or password_file")
        if problem:
            checker.problems.append(("--store", problem))
    elif overrides.store is not None:
        store_path, store_url, store_password = resolve(cwd, Path(overrides.store)), None, None
    if checker.problems:
        raise ConfigError([f"{label}: {where}: {message}" for where, message in checker.problems])
    return Settings(
        store_path=store_path,
        store_url=store_url,
        store_password=store_password,
        lease_seconds=tables["store"]["lease_seconds"],
        sources=tuple(sources),
        opencc=tables["normalize"]["opencc"],
        aliases=tables["normalize"]["aliases"],
        outbox=resolve(cwd, overrides.outbox) if overrides.outbox is not None else digest["outbox"],
        sender=digest["from"],
        recipients=digest["to"],
        smtp=smtp,
        novelty=NoveltySettings(**tables["novelty"]),
        config_path=config_path,
        http=HttpPolicy(**http),
        topic_keywords=tables["topic"]["keywords"],
        schedule=_schedule(tables["schedule"]),
        log_format=tables["log"]["format"],
        extract_budget=tables["extract"]["time_budget_seconds"],
        corroborated=digest["corroborated"],
        layout=Layout(max_claims_per_document=digest["max_claims_per_document"],
                      max_documents=digest["max_documents"], highlights=digest["highlights"]),
        archive=digest["archive"] or store_path.parent / "archive",
        archive_url=digest["archive_url"],
        first_run=digest["first_run"],
        language=digest["language"],
        keep_sent_seconds=digest["keep_sent_messages"],
    )


def _schedule(values: dict[str, Any]) -> ScheduleSettings:
    every = values["poll_every"]
    return ScheduleSettings(
        poll_seconds=every if isinstance(every, float) else None,
        poll_cron=every if isinstance(every, str) else None,
        digest_cron=values["digest"],
        timezone=values["timezone"],
        quiet_seconds=values["quiet"],
        min_interval_seconds=values["min_interval"],
    )


def _as_duration(seconds: float) -> str:
    """Seconds as the config writes a duration, in the largest unit that counts them whole ("30d", "90m")."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds / size:g}{unit}"
    return f"{seconds:g}s"


def describe(settings: Settings) -> list[str]:
    """Human lines for ``check-config``: the file, each source, the store, where digests go; no secret."""
    lines = [f"config: {settings.config_path or 'no file, defaults'}"]
    for source in settings.sources:
        options = []
        for option in dataclasses.fields(source)[1:]:
            value = getattr(source, option.name)
            if value is None or value == {}:
                continue
            missing = " (does not exist yet)" if isinstance(value, Path) and not value.exists() else ""
            shown = f"{value:g}s" if option.name == "every" else value
            options.append(f"{option.name}={shown}{missing}")
        lines.append(f"source {source.name}: {source.kind}, {', '.join(options)}")
    http = settings.http
    lines.append(
        f"http: User-Agent {http.user_agent!r}{f', From {http.contact}' if http.contact else ''}, "
        f"{http.concurrency} at once, {http.per_host_concurrency} per host, {http.per_host_delay_seconds:g}s "
        f"between requests to a host, timeout {http.timeout_seconds:g}s, {http.deadline_seconds:g}s in all, "
        f"at most {http.max_bytes:,} bytes, "
        f"{http.retries} retries, robots.txt {'respected' if http.respect_robots else 'IGNORED'}, URLs from feeds and "
        f"redirects {'may reach ANY address' if http.allow_private_addresses else 'reach public addresses only'}"
    )
    lines.append(f"topic: {', '.join(settings.topic_keywords)} (for sources with topic_filter on)")
    schedule = settings.schedule
    polls = f"every {schedule.poll_seconds:g}s" if schedule.poll_seconds is not None else f"at {schedule.poll_cron!r}"
    digests = (f"at {schedule.digest_cron!r}" if schedule.digest_cron else
               f"as it happens ({schedule.quiet_seconds:g}s after the last arrival, at least "
               f"{schedule.min_interval_seconds:g}s apart)")
    lines.append(f"schedule (corpus-monitor run): poll {polls}, digest {digests}, time zone {schedule.timezone}; "
                 f"log {settings.log_format}")
    novelty, smtp = settings.novelty, settings.smtp
    lines += [
        f"store: {store_shown(settings)}"
        + (f", {settings.lease_seconds:g}s leases on due sources" if settings.store_url else ""),
        f"extract: at most {settings.extract_budget:g}s a document",
        f"normalize: opencc {settings.opencc}; aliases: the shipped table"
        + (f" and {settings.aliases}" if settings.aliases else "")
        + (" (does not exist)" if settings.aliases and not settings.aliases.exists() else ""),
        f"novelty: {novelty.shingle}-character shingles, Jaccard threshold {novelty.threshold:g}",
        f"digest: from {settings.sender} to {', '.join(settings.recipients)}"
        + ("; lists newly corroborated claims" if settings.corroborated else ""),
        f"digest layout: {settings.layout.highlights} highlights, at most {settings.layout.max_documents} documents "
        f"and {settings.layout.max_claims_per_document} claims each; the whole digest archived in {settings.archive}"
        + (f" (served at {settings.archive_url})" if settings.archive_url else ""),
        "digest messages: kept in the store until delivered"
        + (f", and {_as_duration(settings.keep_sent_seconds)} after" if settings.keep_sent_seconds else ""),
    ]
    if smtp is None:
        lines.append(f"delivery: .eml files in the outbox {settings.outbox}")
    else:
        login = f"login {smtp.username}, password from ${smtp.password_env}" if smtp.username else "no login"
        timeout = f"timeout {smtp.timeout_seconds:g}s"
        lines.append(f"delivery: SMTP {smtp.host}:{smtp.port}, {smtp.security}, {login}, {timeout}")
    return lines


def store_shown(settings: Settings) -> str:
    """The store as messages show it: the SQLite file, or the PostgreSQL URL (never with a password)."""
    if settings.store_url is None:
        return str(settings.store_path)
    from monitor.store.postgres import shown

    return shown(settings.store_url)


def _loopback(host: str) -> bool:
    """True for a host that is this machine by its name alone, with no lookup: ``localhost`` (and any name under
    it, RFC 6761), 127.0.0.0/8 and ::1."""
    name = host.strip("[]").rstrip(".").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)
    return address.is_loopback or bool(mapped and mapped.is_loopback)


def cautions(settings: Settings) -> list[str]:
    """What the configuration allows but a user seldom means, one line each naming the file and keys: ``check-config``
    shows them, and so do the commands that would act on them (``digest``, ``digests retry``, ``run``).

    A login with ``security = "none"`` sends the username and password in clear to the SMTP host, for anyone on the
    way to read; not to a host on this machine (a local relay, a tunnel's end), where they never reach a network."""
    smtp, found = settings.smtp, []
    if smtp is not None and smtp.username is not None and smtp.security == "none" and not _loopback(smtp.host):
        found.append(f"{settings.config_path}: smtp.username, smtp.security: the login {smtp.username!r} and its "
                     f'password go to {smtp.host}:{smtp.port} in clear (security = "none"); set security = '
                     f'"starttls" or "tls", or send through a relay on this machine')
    return found
