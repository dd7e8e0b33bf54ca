"""The documentation tells the truth: commands, config example, JSON keys, the two set-up commands."""

from __future__ import annotations

import argparse
import hashlib
import re
from pathlib import Path

from helpers import ROOT, SEEDS

from monitor import config
from monitor.cli import _parser

README = (ROOT / "README.md").read_text("utf-8")


def _commands() -> dict[str, argparse.ArgumentParser]:
    sub = next(a for a in _parser()._actions if isinstance(a, argparse._SubParsersAction))
    return dict(sub.choices)


def test_every_command_has_help_and_is_in_the_readme() -> None:
    commands = _commands()
    assert {"digest", "scan", "status", "extract", "check-config"} <= set(commands)
    for name, parser in commands.items():
        assert parser.description, name
        assert f"corpus-monitor {name}" in README, name


def test_readme_config_example_loads(tmp_path: Path) -> None:
    block = re.search(r"## Configuration.*?```toml\n(.*?)```", README, re.S)
    assert block
    path = tmp_path / "corpus-monitor.toml"
    path.write_text(block.group(1), encoding="utf-8")
    settings = config.load(path, cwd=tmp_path, environ={"CORPUS_MONITOR_SMTP_PASSWORD": "x"})
    assert settings.smtp is not None and settings.smtp.port == 587


def test_readme_json_keys_match_the_code() -> None:
    from datetime import UTC, datetime

    from monitor.digest import to_json
    from monitor.models import Digest, DigestClaim, DigestCorroboration, DigestDocument

    doc = DigestDocument(1, "t", "s", None, "/p", "2024-07-30", 1)
    corroborated = (DigestCorroboration(3, "y", (1,), 2),)
    payload = to_json(Digest(datetime.now(UTC), (doc,), (DigestClaim(2, "x", "x", 1, (1,)),), corroborated))
    for key in [*payload["documents"][0], *payload["claims"][0], *payload["corroborated"][0], *payload]:
        assert f'"{key}"' in README, key


def test_two_commands_and_ci() -> None:
    assert "make run" in README and "make test" in README
    ci = (ROOT / ".ci" / "run").read_text("utf-8")
    # CI runs both commands, the test command last, in a fresh clone inside an empty temporary folder
    assert re.search(r"^make run$.*^make test$", ci, re.M | re.S)
    assert re.search(r"^git clone .*\"\$tmp/", ci, re.M)
    assert (ROOT / "deploy" / "README.md").exists()


def test_seeds_match_their_checksum_list() -> None:
    listed = {}
    for line in (ROOT / "tests" / "data" / "seeds.sha256").read_text("utf-8").splitlines():
        digest, name = line.split("  ", 1)
        listed[name] = digest
    assert sorted(listed) == sorted(f"seeds/{p.name}" for p in SEEDS.iterdir())
    for name, digest in listed.items():
        assert hashlib.sha256((ROOT / name).read_bytes()).hexdigest() == digest, name


def test_nothing_that_runs_names_the_shared_folder() -> None:
    """The evaluation material beside the checkout during development is not in a user's clone: the code,
    the tests, the benchmarks, the scorers, the Makefile and CI read their copies in ``eval/`` instead.
    (CI also proves it at run time, by running in a fresh clone inside an empty folder.)"""
    named = re.compile(r"""\.\./shared\b|[/'"]shared[/'"]""")
    files = [ROOT / "Makefile", ROOT / ".ci" / "run"]
    for folder in ("monitor", "tests", "benchmarks", "eval"):
        files += [p for p in (ROOT / folder).rglob("*") if p.suffix in (".py", ".sh", ".toml", ".cfg", ".ini")
                  and not any(part.startswith(".") for part in p.relative_to(ROOT).parts)]
    offenders = [f"{p.relative_to(ROOT)}:{n}" for p in files
                 for n, line in enumerate(p.read_text("utf-8").splitlines(), 1) if named.search(line)]
    assert offenders == []
