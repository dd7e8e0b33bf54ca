"""config: real TOML files in tmp_path -> Settings, or one ConfigError listing every problem."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import pytest

from monitor import config
from monitor.config import FeedSource, FolderSource, Overrides, PageSource, Secret, Settings
from monitor.errors import ConfigError

EXAMPLE = Path(__file__).resolve().parent.parent / "deploy" / "corpus-monitor.example.toml"
ENV = {"CORPUS_MONITOR_SMTP_PASSWORD": "hunter2-secret"}


def write(path: Path, text: str) -> Path:
    """Write a TOML file (making its folder) and return its path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def problems(path: Path | None, cwd: Path, **kwargs: object) -> list[str]:
    """The problems of a config that must fail to load."""
    with pytest.raises(ConfigError) as info:
        config.load(path, cwd=cwd, environ=kwargs.pop("environ", {}), **kwargs)  # type: ignore[arg-type]
    return info.value.problems


def test_defaults_without_a_file(tmp_path: Path) -> None:
    settings = config.load(None, cwd=tmp_path, environ={})
    assert settings == Settings(
        store_path=tmp_path / "var" / "monitor.sqlite3",
        sources=(FolderSource(name="folder:seeds", path=tmp_path / "seeds"),),
        opencc="t2s",
        outbox=tmp_path / "var" / "outbox",
        sender="corpus-monitor@localhost",
        recipients=("corpus-monitor@localhost",),
        smtp=None,
        novelty=config.NoveltySettings(shingle=2, threshold=0.3),
        config_path=None,
        archive=tmp_path / "var" / "archive",
    )


def test_an_empty_file_means_the_defaults_relative_to_it(tmp_path: Path) -> None:
    path = write(tmp_path / "etc" / "empty.toml", "")
    settings = config.load(path, cwd=tmp_path, environ={})
    defaults = config.load(None, cwd=tmp_path / "etc", environ={})
    assert settings == dataclasses.replace(defaults, config_path=path)


def test_the_file_in_cwd_is_picked_up(tmp_path: Path) -> None:
    write(tmp_path / "corpus-monitor.toml", '[normalize]\nopencc = "s2t"\n')
    settings = config.load(None, cwd=tmp_path, environ={})
    assert settings.opencc == "s2t"
    assert settings.config_path == tmp_path / "corpus-monitor.toml"


def test_errors_in_the_cwd_file_name_it(tmp_path: Path) -> None:
    write(tmp_path / "corpus-monitor.toml", '[normalize]\nopencc = "klingon"\n')
    assert problems(None, tmp_path) == [
        "corpus-monitor.toml: normalize.opencc: expected one of "
        + ", ".join(repr(name) for name in config.OPENCC_CONFIGS)
        + ", got 'klingon'"
    ]


def test_an_explicit_path_that_does_not_exist_is_an_error(tmp_path: Path) -> None:
    assert problems(Path("nope.toml"), tmp_path) == ["nope.toml: no such config file"]


def test_relative_paths_resolve_against_the_file_and_cwd_relative_config_path(tmp_path: Path) -> None:
    write(
        tmp_path / "conf" / "monitor.toml",
        """
        [store]
        path = "state/db.sqlite3"
        [[sources]]
        kind = "folder"
        path = "../news"
        settle_seconds = 2
        [[sources]]
        kind = "folder"
        name = "wire"
        path = "/srv/wire"
        [digest]
        outbox = "out"
        to = ["a@example.com", "Bee <b@example.org>"]
        """,
    )
    settings = config.load(Path("conf/monitor.toml"), cwd=tmp_path, environ={})
    conf = tmp_path / "conf"
    assert settings.config_path == conf / "monitor.toml"
    assert settings.store_path == conf / "state" / "db.sqlite3"
    assert settings.outbox == conf / "out"
    assert settings.sources == (
        FolderSource(name="folder:../news", path=tmp_path / "news", settle_seconds=2.0),
        FolderSource(name="wire", path=Path("/srv/wire")),
    )
    assert settings.recipients == ("a@example.com", "Bee <b@example.org>")


def test_overrides_resolve_against_cwd_and_folder_replaces_folder_sources(tmp_path: Path) -> None:
    path = write(
        tmp_path / "conf" / "monitor.toml",
        '[[sources]]\nkind = "folder"\npath = "a"\n[[sources]]\nkind = "folder"\npath = "b"\n',
    )
    overrides = Overrides(folder=Path("incoming"), store=Path("x.sqlite3"), outbox=Path("/tmp/outbox"))
    settings = config.load(path, cwd=tmp_path, overrides=overrides, environ={})
    # read as it is: a folder named on the command line does not wait for files to settle
    incoming = tmp_path / "incoming"
    assert settings.sources == (FolderSource(name=f"folder:{incoming}", path=incoming, settle_seconds=0),)
    assert settings.store_path == tmp_path / "x.sqlite3"
    assert settings.outbox == Path("/tmp/outbox")


def test_folder_override_also_replaces_the_default_folder(tmp_path: Path) -> None:
    settings = config.load(None, cwd=tmp_path, overrides=Overrides(folder=Path("here")), environ={})
    assert [source.path for source in settings.sources] == [tmp_path / "here"]


def test_every_kind_of_problem_is_reported_together(tmp_path: Path) -> None:
    path = write(
        tmp_path / "bad.toml",
        """
        colour = "blue"
        [stor]
        path = "x"
        [store]
        path = 3
        pth = "y"
        [[sources]]
        kind = "ftp"
        path = "z"
        [[sources]]
        kind = "folder"
        settle_seconds = -1
        [[sources]]
        kind = "folder"
        path = "news"
        [[sources]]
        kind = "folder"
        path = "news"
        [normalize]
        opencc = "t2x"
        [novelty]
        threshold = 0
        shingle = true
        bands = 0
        rows = 1.5
        [digest]
        from = "not an address"
        to = ["ok@example.com", "nobody"]
        [smtp]
        host = "smtp.example.com"
        port = "abc"
        security = "ssl"
        username = "monitor"
        password_env = "MISSING_PASSWORD"
        timeout_seconds = 0
        [http]
        allow_private_addresses = "yes"
        """,
    )
    found = problems(path, tmp_path)
    expected = [
        "colour: unknown key (known: store, extract, normalize, novelty, digest, http, topic, schedule, log, smtp, "
        "sources)",
        "stor: unknown table (did you mean 'store'?)",
        "store.pth: unknown key (did you mean 'path'?)",
        "store.path: expected a non-empty string, got 3",
        "sources[0].kind: unknown source kind 'ftp' (known: folder, page, feed)",
        "sources[1].path: required key is missing",
        "sources[1].settle_seconds: expected a number from 0 to 86400, got -1",
        "sources[3].name: duplicate source name 'folder:news' (also sources[2])",
        "normalize.opencc: expected one of 's2t'",
        "novelty.threshold: expected a number greater than 0 and at most 1, got 0",
        "novelty.shingle: expected an integer from 1 to 8, got True",
        "novelty.bands: no longer used: near-duplicates are found through an index of shingles, not MinHash LSH"
        " bands (the store rebuilds it by itself); remove this line",
        "novelty.rows: no longer used: near-duplicates are found through an index of shingles, not MinHash LSH"
        " bands (the store rebuilds it by itself); remove this line",
        "digest.from: expected an email address",
        "digest.to[1]: expected an email address like 'you@example.com' or 'You <you@example.com>', got 'nobody'",
        "smtp.port: expected an integer from 1 to 65535, got 'abc'",
        "smtp.security: expected one of 'starttls', 'tls', 'none', got 'ssl'",
        "smtp.timeout_seconds: expected a number greater than 0, got 0",
        "smtp.password_env: environment variable MISSING_PASSWORD is not set (or is empty)",
        "http.allow_private_addresses: expected true or false, got 'yes'",
    ]
    assert all(problem.startswith(f"{path}: ") for problem in found)
    for wanted in expected:
        assert any(problem.startswith(f"{path}: {wanted}") for problem in found), wanted
    assert len(found) == len(expected)
    assert str(ConfigError(found)).count(str(path)) == len(expected)


def test_invalid_toml_reports_line_and_column(tmp_path: Path) -> None:
    path = write(tmp_path / "broken.toml", '[store]\npath = "a"\nthis is not toml\n')
    [problem] = problems(path, tmp_path)
    assert problem.startswith(f"{path}: line 3, column 6: invalid TOML: ")


def test_wrong_shapes_are_reported(tmp_path: Path) -> None:
    path = write(tmp_path / "shapes.toml", 'store = "db"\n[sources]\nkind = "folder"\n')
    assert problems(path, tmp_path) == [
        f"{path}: store: expected a table, got 'db'",
        f"{path}: sources: expected an array of tables ([[sources]]), got a table",
    ]


def test_an_empty_source_list_is_an_error_unless_a_folder_is_given(tmp_path: Path) -> None:
    path = write(tmp_path / "none.toml", "sources = []\n")
    assert problems(path, tmp_path) == [
        f"{path}: sources: no sources: add a [[sources]] table, or drop the key for ./seeds"
    ]
    settings = config.load(path, cwd=tmp_path, overrides=Overrides(folder=Path("f")), environ={})
    assert len(settings.sources) == 1


SMTP = """
[digest]
to = ["you@example.com"]
[smtp]
host = "smtp.example.com"
{extra}
"""


def test_smtp_password_comes_from_the_environment_and_is_masked(tmp_path: Path) -> None:
    path = write(
        tmp_path / "smtp.toml",
        SMTP.format(extra='username = "monitor"\npassword_env = "CORPUS_MONITOR_SMTP_PASSWORD"'),
    )
    settings = config.load(path, cwd=tmp_path, environ=ENV)
    assert settings.smtp is not None
    assert settings.smtp.password == Secret("hunter2-secret")
    assert settings.smtp.password.reveal() == "hunter2-secret"
    assert (settings.smtp.port, settings.smtp.security, settings.smtp.timeout_seconds) == (587, "starttls", 30.0)
    for shown in (repr(settings), str(settings), repr(settings.smtp.password), str(settings.smtp.password)):
        assert "hunter2" not in shown
        assert "***" in shown
    assert not any("hunter2" in line for line in config.describe(settings))


def test_missing_password_variable_is_named(tmp_path: Path) -> None:
    path = write(tmp_path / "smtp.toml", SMTP.format(extra='username = "monitor"\npassword_env = "MY_PW"'))
    assert problems(path, tmp_path, environ={"OTHER": "x"}) == [
        f"{path}: smtp.password_env: environment variable MY_PW is not set (or is empty)"
    ]


def test_password_in_the_file_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path / "smtp.toml", SMTP.format(extra='username = "monitor"\npassword = "hunter2"'))
    found = problems(path, tmp_path, environ=ENV)
    assert found[0].startswith(f"{path}: smtp.password: passwords are never read from the config file; set ")
    missing = "smtp.password_env: a login needs both username and a password: set password_env or password_file"
    assert f"{path}: {missing}" in found
    assert not any("hunter2" in problem for problem in found)


def test_smtp_without_login_and_port_by_security(tmp_path: Path) -> None:
    path = write(tmp_path / "smtp.toml", SMTP.format(extra='security = "tls"'))
    settings = config.load(path, cwd=tmp_path, environ={})
    assert settings.smtp == config.SmtpSettings(host="smtp.example.com", port=465, security="tls")
    assert "delivery: SMTP smtp.example.com:465, tls, no login, timeout 30s" in config.describe(settings)


def test_smtp_needs_a_host(tmp_path: Path) -> None:
    path = write(tmp_path / "smtp.toml", "[smtp]\nport = 25\n")
    assert problems(path, tmp_path) == [f"{path}: smtp.host: required key is missing"]


def test_the_shipped_example_loads(tmp_path: Path) -> None:
    settings = config.load(EXAMPLE, cwd=tmp_path, environ=ENV)
    assert settings.config_path == EXAMPLE
    assert settings.sources == (
        FolderSource(name="seeds", path=EXAMPLE.parent / "seeds", settle_seconds=5.0),
        FeedSource(name="example-tech", url="https://news.example.com/ai/rss.xml", every=900.0,
                   headers={"Accept-Language": "zh-CN,zh;q=0.9"}, topic_filter=True),
        PageSource(name="page:https://news.example.com/2024/07/30/huang-zuckerberg.html",
                   url="https://news.example.com/2024/07/30/huang-zuckerberg.html"),
    )
    assert settings.http.user_agent == "corpus-monitor/0.1 (+contact@example.com)"
    assert settings.http.contact == "contact@example.com"
    assert settings.smtp is not None and settings.smtp.password is not None
    assert settings.smtp.password.reveal() == ENV["CORPUS_MONITOR_SMTP_PASSWORD"]


def test_the_shipped_example_mentions_every_key() -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    keys = {key for schema in config.TABLES.values() for key in schema}
    keys |= {"kind", "name"} | {key for kind in config.SOURCE_KINDS.values() for key in kind.options}
    # password_file is the alternative to password_env (setting both is an error), and archive_url needs a web
    # server: shown commented out
    alternatives = {"password_file", "archive_url"}
    assert not [key for key in sorted(keys - alternatives) if f"\n{key} = " not in text]
    assert not [key for key in sorted(alternatives) if f"\n# {key} = " not in text]
    assert not [table for table in config.TABLES if f"[{table}]" not in text]


def test_describe_lists_sources_store_and_outbox(tmp_path: Path) -> None:
    (tmp_path / "seeds").mkdir()
    lines = config.describe(config.load(None, cwd=tmp_path, environ={}))
    assert lines == [
        "config: no file, defaults",
        f"source folder:seeds: folder, path={tmp_path / 'seeds'}, settle_seconds=5.0, follow_symlinks=False",
        "http: User-Agent 'corpus-monitor/0.1.0', 20 at once, 2 per host, 1s between requests to a host, "
        "timeout 20s, 30s in all, at most 5,000,000 bytes, 2 retries, robots.txt respected, URLs from feeds and "
        "redirects reach public addresses only",
        "topic: 黄仁勋, 扎克伯格, 祖克柏, SIGGRAPH, Jensen Huang, Zuckerberg (for sources with topic_filter on)",
        "schedule (corpus-monitor run): poll every 900s, digest at '0 8 * * *', time zone UTC; log text",
        f"store: {tmp_path / 'var' / 'monitor.sqlite3'}",
        "extract: at most 30s a document",
        "normalize: opencc t2s; aliases: the shipped table",
        "novelty: 2-character shingles, Jaccard threshold 0.3",
        "digest: from corpus-monitor@localhost to corpus-monitor@localhost",
        "digest layout: 5 highlights, at most 25 documents and 8 claims each; the whole digest archived in "
        f"{tmp_path / 'var' / 'archive'}",
        "digest messages: kept in the store until delivered",
        f"delivery: .eml files in the outbox {tmp_path / 'var' / 'outbox'}",
    ]


def test_every_source_kind_is_declared_with_a_frozen_dataclass() -> None:
    for name, kind in config.SOURCE_KINDS.items():
        assert dataclasses.is_dataclass(kind.factory)
        assert kind.factory.kind == name
        assert kind.names_by in kind.options


def test_the_password_can_come_from_a_file_named_with_environment_variables(tmp_path: Path) -> None:
    """systemd's LoadCredential puts the secret in a file under $CREDENTIALS_DIRECTORY."""
    credentials = tmp_path / "credentials"
    write(credentials / "smtp-password", "s3cret-from-file\nignored second line\n")
    extra = 'username = "monitor"\npassword_file = "${CREDENTIALS_DIRECTORY}/smtp-password"'
    path = write(tmp_path / "smtp.toml", SMTP.format(extra=extra))
    settings = config.load(path, cwd=tmp_path, environ={"CREDENTIALS_DIRECTORY": str(credentials)})
    assert settings.smtp is not None and settings.smtp.password is not None
    assert settings.smtp.password.reveal() == "s3cret-from-file"
    assert "s3cret" not in repr(settings)


@pytest.mark.parametrize(
    ("extra", "environ", "expected"),
    [
        ('password_file = "${NOT_SET}/pw"', {}, "smtp.password_file: environment variable NOT_SET is not set"),
        ('password_file = "no-such-file"', {}, "smtp.password_file: cannot read "),
        ('password_file = "pw"\npassword_env = "PW"', {"PW": "x"}, "smtp.password_file: give the password one way"),
    ],
)
def test_password_file_problems_are_named(tmp_path: Path, extra: str, environ: dict[str, str], expected: str) -> None:
    path = write(tmp_path / "smtp.toml", SMTP.format(extra=f'username = "monitor"\n{extra}'))
    found = problems(path, tmp_path, environ=environ)
    assert any(problem.startswith(f"{path}: {expected}") for problem in found), found


def test_schedule_and_log_defaults_and_forms(tmp_path: Path) -> None:
    defaults = config.load(None, cwd=tmp_path, environ={})
    assert defaults.schedule == config.ScheduleSettings(900.0, None, "0 8 * * *", "UTC")
    assert defaults.log_format == "text"
    path = write(
        tmp_path / "c.toml",
        '[schedule]\npoll_every = "*/10 6-22 * * *"\ndigest = "as-it-happens"\ntimezone = "Asia/Shanghai"\n'
        '[log]\nformat = "json"\n',
    )
    settings = config.load(path, cwd=tmp_path, environ={})
    assert settings.schedule == config.ScheduleSettings(None, "*/10 6-22 * * *", None, "Asia/Shanghai")
    assert settings.log_format == "json"
    path = write(tmp_path / "d.toml", '[schedule]\npoll_every = "90s"\n')
    assert config.load(path, cwd=tmp_path, environ={}).schedule.poll_seconds == 90.0


def test_schedule_problems_are_all_named(tmp_path: Path) -> None:
    path = write(
        tmp_path / "c.toml",
        '[schedule]\npoll_every = "often"\ndigest = "0 25 * * *"\ntimezone = "Mars/Olympus"\n[log]\nformat = "xml"\n',
    )
    found = problems(path, tmp_path, environ={})
    for key, hint in [("schedule.poll_every", "a duration like"), ("schedule.digest", "higher than the maximum"),
                      ("schedule.timezone", "IANA time zone"), ("log.format", "'text', 'json'")]:
        assert any(p.startswith(f"{path}: {key}: ") and hint in p for p in found), (key, found)


def test_hostile_config_files_are_clear_errors_and_a_byte_order_mark_is_none(tmp_path: Path) -> None:
    """A file saved with a byte order mark reads as without; arrays nested thousands deep, and durations no
    clock can hold (which used to pass check-config and crash the service), are errors naming file and key."""
    bom = tmp_path / "bom.toml"
    bom.write_bytes("\ufeff[schedule]\npoll_every = \"90s\"\n".encode())
    assert config.load(bom, cwd=tmp_path, environ={}).schedule.poll_seconds == 90.0
    deep = write(tmp_path / "deep.toml", "x = " + "[" * 5000 + "]" * 5000 + "\n")
    (problem,) = problems(deep, tmp_path)
    assert problem.startswith(f"{deep}: ") and "nested too deeply" in problem
    huge = write(
        tmp_path / "huge.toml",
        '[schedule]\npoll_every = "99999999999999d"\nquiet = "400d"\n'
        '[[sources]]\nkind = "folder"\npath = "seeds"\nsettle_seconds = 1e300\nevery = 1e20\n',
    )
    found = problems(huge, tmp_path, environ={})
    for key in ("schedule.poll_every", "schedule.quiet", "sources[0].settle_seconds", "sources[0].every"):
        assert any(p.startswith(f"{huge}: {key}: ") for p in found), (key, found)
    ok = write(tmp_path / "ok.toml", '[schedule]\npoll_every = "366d"\n')
    assert config.load(ok, cwd=tmp_path, environ={}).schedule.poll_seconds == 366 * 86400


def test_every_bad_recipient_is_named(tmp_path: Path) -> None:
    path = write(tmp_path / "c.toml", '[digest]\nto = ["nobody", "you@example.org", "also wrong"]\n')
    found = problems(path, tmp_path, environ={})
    assert [p.split(": ")[1] for p in found] == ["digest.to[0]", "digest.to[2]"], found
    assert "'nobody'" in found[0] and "'also wrong'" in found[1]


def test_the_digest_language_is_one_with_a_catalogue(tmp_path: Path) -> None:
    path = write(tmp_path / "c.toml", '[digest]\nlanguage = "zh-Hant"\n')
    assert config.load(path, cwd=tmp_path, environ={}).language == "zh-Hant"
    bad = write(tmp_path / "bad.toml", '[digest]\nlanguage = "fr"\n')
    (problem,) = problems(bad, tmp_path)
    assert "digest.language" in problem and "zh-Hans" in problem


def test_urls_from_feeds_and_redirects_may_reach_private_addresses_only_when_the_config_says_so(tmp_path: Path) -> None:
    assert config.load(None, cwd=tmp_path, environ={}).http.allow_private_addresses is False
    path = write(tmp_path / "corpus-monitor.toml", "[http]\nallow_private_addresses = true\n")
    settings = config.load(path, cwd=tmp_path, environ={})
    assert settings.http.allow_private_addresses is True
    (line,) = [line for line in config.describe(settings) if line.startswith("http: ")]
    assert line.endswith("URLs from feeds and redirects may reach ANY address")


def test_keep_sent_messages_is_a_duration_of_at_most_a_year_or_none(tmp_path: Path) -> None:
    assert config.load(None, cwd=tmp_path, environ={}).keep_sent_seconds == 0
    for written, seconds in [('"30d"', 30 * 86400.0), ('"0"', 0.0), ("0", 0.0), ('"366d"', 366 * 86400.0)]:
        path = write(tmp_path / "c.toml", f"[digest]\nkeep_sent_messages = {written}\n")
        settings = config.load(path, cwd=tmp_path, environ={})
        assert settings.keep_sent_seconds == seconds, written
    path = write(tmp_path / "c.toml", '[digest]\nkeep_sent_messages = "30d"\n')
    lines = config.describe(config.load(path, cwd=tmp_path, environ={}))
    assert "digest messages: kept in the store until delivered, and 30d after" in lines
    for bad in ('"367d"', '"forever"', "true", "-1"):
        path = write(tmp_path / "bad.toml", f"[digest]\nkeep_sent_messages = {bad}\n")
        (problem,) = problems(path, tmp_path, environ={})
        assert problem.startswith(f"{path}: digest.keep_sent_messages: expected a duration like"), problem


LOGIN = 'username = "monitor"\npassword_env = "CORPUS_MONITOR_SMTP_PASSWORD"\n'


@pytest.mark.parametrize(("host", "security", "login", "cautioned"), [
    ("smtp.example.com", "none", True, True),
    ("10.0.0.25", "none", True, True),
    ("localhost.example.com", "none", True, True),  # a name that only starts like this machine's
    ("smtp.example.com", "starttls", True, False),
    ("smtp.example.com", "tls", True, False),
    ("smtp.example.com", "none", False, False),  # no login: nothing secret goes out
    # this machine, named by itself: a local relay or a tunnel's end; the login never reaches a network
    ("localhost", "none", True, False),
    ("LocalHost.", "none", True, False),
    ("mail.localhost", "none", True, False),
    ("127.0.0.1", "none", True, False),
    ("127.0.1.1", "none", True, False),
    ("::1", "none", True, False),
    ("[::1]", "none", True, False),
    ("::ffff:127.0.0.1", "none", True, False),
])
def test_a_login_sent_in_clear_is_a_caution_unless_the_host_is_this_machine(
    tmp_path: Path, host: str, security: str, login: bool, cautioned: bool
) -> None:
    extra = f"security = {security!r}\n" + (LOGIN if login else "")
    path = write(tmp_path / "smtp.toml", SMTP.replace("smtp.example.com", host).format(extra=extra))
    settings = config.load(path, cwd=tmp_path, environ=ENV)
    assert settings.smtp is not None
    port = config.SECURITY_PORTS[security]
    expected = [f"{path}: smtp.username, smtp.security: the login 'monitor' and its password go to {host}:{port} in "
                f'clear (security = "none"); set security = "starttls" or "tls", or send through a relay on this '
                f"machine"]
    assert config.cautions(settings) == (expected if cautioned else [])
    assert "hunter2" not in "".join(config.cautions(settings))


def test_check_config_and_digest_warn_of_a_login_in_clear_on_stderr(tmp_path: Path) -> None:
    """Through the command line: one line naming the file and the keys; check-config still succeeds, and the digest
    (a dry run here: nothing is sent) goes on."""
    clear = SMTP.replace("smtp.example.com", "mail.example.net").format(extra='security = "none"\n' + LOGIN)
    write(tmp_path / "corpus-monitor.toml", clear)
    (tmp_path / "seeds").mkdir()

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "monitor", *args], cwd=tmp_path, capture_output=True, text=True,
                              timeout=120, env={**os.environ, **ENV})

    for args in (("check-config",), ("digest", "--dry-run")):
        res = run(*args)
        assert res.returncode == 0, res.stderr
        (warning,) = [line for line in res.stderr.splitlines() if line.startswith("corpus-monitor: warning:")]
        assert warning.startswith(f"corpus-monitor: warning: {tmp_path / 'corpus-monitor.toml'}: smtp.username, "
                                  "smtp.security: the login 'monitor' and its password go to mail.example.net:25 in "
                                  "clear")
    assert "delivery: SMTP mail.example.net:25, none, login monitor" in run("check-config").stdout
    write(tmp_path / "corpus-monitor.toml", clear.replace("mail.example.net", "127.0.0.1"))
    assert "warning" not in run("check-config").stderr


# -- [store]: the SQLite file, or a PostgreSQL store by URL (issue 13) ---------------------------------------

STORE_URL = "postgresql://monitor@db.example:5432/corpus"
#: what a problem with a URL holding a password says in the config
NOT_IN_THE_URL = "passwords are never read from the config file; set password_env or password_file"


def test_a_postgresql_store_is_chosen_by_url_with_its_password_from_the_environment(tmp_path: Path) -> None:
    path = write(tmp_path / "c.toml",
                 f'[store]\nurl = "{STORE_URL}"\npassword_env = "CM_STORE_PW"\nlease_seconds = 120\n')
    settings = config.load(path, cwd=tmp_path, environ={"CM_STORE_PW": "st0re-secret"})
    assert (settings.store_url, settings.store_password, settings.lease_seconds) == (
        STORE_URL, Secret("st0re-secret"), 120.0)
    assert settings.store_password is not None and settings.store_password.reveal() == "st0re-secret"
    assert "st0re-secret" not in repr(settings) + str(settings)
    lines = config.describe(settings)
    assert f"store: {STORE_URL}, 120s leases on due sources" in lines
    assert not any("st0re" in line for line in lines)
    # without url, the SQLite file, and no lease is shown
    sqlite = config.load(None, cwd=tmp_path, environ={})
    assert (sqlite.store_url, sqlite.store_password, sqlite.lease_seconds) == (None, None, 600.0)


def test_the_store_password_can_come_from_a_credentials_file(tmp_path: Path) -> None:
    """systemd's LoadCredential: the password in a file under $CREDENTIALS_DIRECTORY, its first line."""
    credentials = tmp_path / "credentials"
    write(credentials / "store-password", "st0re-from-file\nignored second line\n")
    path = write(tmp_path / "c.toml",
                 f'[store]\nurl = "{STORE_URL}"\npassword_file = "${{CREDENTIALS_DIRECTORY}}/store-password"\n')
    settings = config.load(path, cwd=tmp_path, environ={"CREDENTIALS_DIRECTORY": str(credentials)})
    assert settings.store_password is not None and settings.store_password.reveal() == "st0re-from-file"
    assert "st0re" not in repr(settings) and not any("st0re" in line for line in config.describe(settings))
    # a relative path: against the config file's folder
    write(tmp_path / "etc" / "pw", "st0re-beside\n")
    path = write(tmp_path / "etc" / "c.toml", f'[store]\nurl = "{STORE_URL}"\npassword_file = "pw"\n')
    settings = config.load(path, cwd=tmp_path, environ={})
    assert settings.store_password is not None and settings.store_password.reveal() == "st0re-beside"


@pytest.mark.parametrize(("store", "environ", "expected"), [
    (f'path = "s.sqlite3"\nurl = "{STORE_URL}"', {},
     "store.url: give the store one way: path (an SQLite file) or url (PostgreSQL), not both"),
    ('url = "postgresql://monitor:hunter2@db.example/corpus"', {},
     f"store.url: the URL holds a password: {NOT_IN_THE_URL}"),
    ('url = "postgresql://monitor@db.example/corpus?password=hunter2"', {},
     f"store.url: the URL holds a password: {NOT_IN_THE_URL}"),
    ('url = "mysql://monitor:hunter2@db.example/corpus"', {},
     "store.url: expected a URL like 'postgresql://user@host:5432/database', got 'mysql://monitor:***@db.example/corpus'"),
    ('url = "db.example/corpus"', {}, "store.url: expected a URL like 'postgresql://user@host:5432/database'"),
    ('url = "postgresql://monitor@db.example/corpus?colour=blue"', {},
     'store.url: not a PostgreSQL URL libpq can read: invalid URI query parameter: "colour"'),
    ("url = 5432", {}, "store.url: expected a non-empty string, got 5432"),
    (f'url = "{STORE_URL}"\npassword_env = "CM_UNSET"', {},
     "store.password_env: environment variable CM_UNSET is not set (or is empty)"),
    (f'url = "{STORE_URL}"\npassword_env = "CM_PW"', {"CM_PW": ""},
     "store.password_env: environment variable CM_PW is not set (or is empty)"),
    (f'url = "{STORE_URL}"\npassword_env = "not a name"', {}, "store.password_env: expected an environment variable"),
    (f'url = "{STORE_URL}"\npassword_file = "${{NOT_SET}}/pw"', {},
     "store.password_file: environment variable NOT_SET is not set"),
    (f'url = "{STORE_URL}"\npassword_file = "no-such-file"', {}, "store.password_file: cannot read "),
    (f'url = "{STORE_URL}"\npassword_file = "empty"', {}, "store.password_file: TMP/empty is empty"),
    (f'url = "{STORE_URL}"\npassword_env = "CM_PW"\npassword_file = "empty"', {"CM_PW": "x"},
     "store.password_file: give the password one way: password_env or password_file, not both"),
    ('password_env = "CM_PW"', {"CM_PW": "x"},
     "store.password_env: a password is for a PostgreSQL store: set url too, or remove it"),
    ('password_file = "empty"', {},
     "store.password_file: a password is for a PostgreSQL store: set url too, or remove it"),
    ('password = "hunter2"', {}, "store.password: passwords are never read from the config file; set password_env"
     " to the name of an environment variable holding it, or password_file to a file holding it"),
    ("lease_seconds = 0", {}, "store.lease_seconds: expected a number from 1 to 86400, got 0"),
    ("lease_seconds = 86401", {}, "store.lease_seconds: expected a number from 1 to 86400, got 86401"),
    ('lease_seconds = "10m"', {}, "store.lease_seconds: expected a number from 1 to 86400, got '10m'"),
])
def test_store_problems_are_named_and_never_show_a_password(
    tmp_path: Path, store: str, environ: dict[str, str], expected: str
) -> None:
    write(tmp_path / "empty", "\n")
    path = write(tmp_path / "c.toml", f"[store]\n{store}\n")
    (found,) = problems(path, tmp_path, environ=environ)
    assert found.startswith(f"{path}: {expected.replace('TMP', str(tmp_path))}"), found
    assert "hunter2" not in found


def test_lease_seconds_from_one_second_to_a_day(tmp_path: Path) -> None:
    for seconds in (1, 86400, 90.5):
        path = write(tmp_path / "c.toml", f'[store]\nurl = "{STORE_URL}"\nlease_seconds = {seconds}\n')
        assert config.load(path, cwd=tmp_path, environ={}).lease_seconds == seconds


def test_store_on_the_command_line_chooses_the_backend(tmp_path: Path) -> None:
    """--store postgresql://... over a configured file, its password from libpq's own (PGPASSWORD, ~/.pgpass);
    --store FILE over a configured URL."""
    sqlite = write(tmp_path / "sqlite.toml", '[store]\npath = "state/s.sqlite3"\n')
    settings = config.load(sqlite, cwd=tmp_path, overrides=Overrides(store=STORE_URL), environ={})
    assert (settings.store_url, settings.store_password) == (STORE_URL, None)
    assert f"store: {STORE_URL}, 600s leases on due sources" in config.describe(settings)
    shared = write(tmp_path / "shared.toml", f'[store]\nurl = "{STORE_URL}"\npassword_env = "CM_PW"\n')
    settings = config.load(shared, cwd=tmp_path, overrides=Overrides(store="local.sqlite3"), environ={"CM_PW": "x"})
    assert (settings.store_url, settings.store_password) == (None, None)
    assert settings.store_path == tmp_path / "local.sqlite3"
    found = problems(sqlite, tmp_path, overrides=Overrides(store="postgresql://monitor:hunter2@db.example/corpus"))
    assert found == [f"{sqlite}: --store: the URL holds a password: a password is never read from --store; set "
                     "PGPASSWORD or ~/.pgpass, or [store] url with password_env or password_file"]


def test_check_config_shows_the_store_url_and_never_its_password(tmp_path: Path) -> None:
    """Through the command line; nothing connects to the server (db.example is nowhere)."""
    write(tmp_path / "corpus-monitor.toml",
          f'[store]\nurl = "{STORE_URL}"\npassword_env = "CM_STORE_PW"\nlease_seconds = 90\n')
    (tmp_path / "seeds").mkdir()

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "monitor", "check-config", *args], cwd=tmp_path,
                              capture_output=True, text=True, timeout=120,
                              env={**os.environ, "CM_STORE_PW": "st0re-secret"})

    res = run()
    assert res.returncode == 0, res.stderr
    assert f"store: {STORE_URL}, 90s leases on due sources" in res.stdout.splitlines()
    assert "st0re" not in res.stdout + res.stderr
    other = "postgresql://reader@db2.example:6543/archive"
    res = run("--store", other)
    assert res.returncode == 0, res.stderr
    assert f"store: {other}, 90s leases on due sources" in res.stdout.splitlines()
    res = run("--store", "postgresql://reader:hunter2@db2.example/archive")
    assert res.returncode == 2 and "hunter2" not in res.stdout + res.stderr
    (line,) = res.stderr.splitlines()
    assert line.startswith("corpus-monitor: config error: ") and "--store: the URL holds a password" in line
    unset = subprocess.run([sys.executable, "-m", "monitor", "check-config"], cwd=tmp_path, capture_output=True,
                           text=True, timeout=120, env={k: v for k, v in os.environ.items() if k != "CM_STORE_PW"})
    assert unset.returncode == 2
    assert unset.stderr == ("corpus-monitor: config error: corpus-monitor.toml: store.password_env: environment "
                            "variable CM_STORE_PW is not set (or is empty)\n")
