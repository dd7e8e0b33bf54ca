"""Hostile entries in a watched folder (issue 12), through the real command line: each costs one warning naming
it, never the run, and nothing is read that must not be."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from helpers import settled

from monitor.sources import folder

WARNING = "corpus-monitor: warning:"


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "monitor", *args], cwd=cwd, capture_output=True, text=True, timeout=120
    )


def _claims(work: Path) -> int:
    with sqlite3.connect(work / "var" / "monitor.sqlite3") as db:
        return int(db.execute("SELECT count(*) FROM claims").fetchone()[0])


def _hostile_folder(work: Path) -> dict[str, Path]:
    """The seeds, and beside them: a link loop, a FIFO, a link to /dev/zero, a link to a file outside the folder,
    a name that is not UTF-8 (a good file), one with a newline (a good file) and a binary file with a newline in its
    name."""
    seeds = work / "seeds"
    outside = work / "elsewhere" / "secret.txt"
    outside.parent.mkdir()
    outside.write_text("机密\n\n这是一份不该被读到的文件，它的内容绝不能进入摘要。\n", encoding="utf-8")
    entries = {
        "loop": seeds / "loop.txt",
        "fifo": seeds / "pipe.txt",
        "zero": seeds / "zero.txt",
        "outside": seeds / "link.txt",
        "newline": seeds / "two\nlines.txt",
        "binary": seeds / "forged\ncorpus-monitor: warning: x.txt",
    }
    entries["loop"].symlink_to(entries["loop"])
    os.mkfifo(entries["fifo"])
    entries["zero"].symlink_to("/dev/zero")
    entries["outside"].symlink_to(outside)
    entries["binary"].write_bytes(b"\x00\x01" * 64)
    entries["newline"].write_text("标题\n\n英伟达今天宣布了一项新的合作计划，涉及多家机器人公司。\n", encoding="utf-8")
    bad_name = os.fsencode(seeds) + b"/bad\xff\xfe.txt"
    with open(bad_name, "wb") as handle:
        handle.write("标题\n\nMeta今天表示，其新的开源模型将于下个月向所有开发者开放。\n".encode())
    settled(*(p for p in seeds.iterdir() if not p.is_symlink() and not p.is_fifo()), outside, entries["binary"])
    return entries


def test_hostile_entries_in_a_folder_are_one_warning_each_and_never_stop_the_run(work: Path) -> None:
    entries = _hostile_folder(work)
    first = cli("digest", cwd=work)
    assert first.returncode == 0, first.stderr
    warnings = [line for line in first.stderr.splitlines() if line.startswith(WARNING)]
    # the loop, the FIFO and both links are each one warning naming it; so are the name that is not UTF-8 and the
    # binary file, their names escaped: a newline in a name cannot forge a line of the output
    assert len(warnings) == 6 and len(first.stderr.splitlines()) == 6, first.stderr
    for key in ("loop", "fifo", "zero", "outside"):
        assert sum(str(entries[key]) in line for line in warnings) == 1, key
    assert sum("bad\\xff\\xfe.txt" in line and "not UTF-8" in line for line in warnings) == 1
    assert sum("forged\\ncorpus-monitor: warning: x.txt: skipped: binary" in line for line in warnings) == 1
    assert "not a regular file" in next(line for line in warnings if str(entries["fifo"]) in line)
    mailed = b"".join(p.read_bytes() for p in (work / "var" / "outbox").glob("*.eml"))
    assert "机密".encode() not in mailed and "不该被读到".encode() not in mailed  # the link out was not followed
    claims = _claims(work)
    assert claims > 100  # the seeds, and the file named with a newline
    # the next run reads the same entries and says nothing of them again; nothing is stored twice
    again = cli("digest", cwd=work)
    assert again.returncode == 0 and WARNING not in again.stderr, again.stderr
    assert _claims(work) == claims


def test_a_folder_that_follows_links_reads_what_they_lead_to_and_still_never_a_device_or_a_loop(work: Path) -> None:
    entries = _hostile_folder(work)
    (work / "corpus-monitor.toml").write_text(
        '[[sources]]\nkind = "folder"\npath = "seeds"\nfollow_symlinks = true\n', encoding="utf-8"
    )
    (work / "seeds" / "again").symlink_to(work / "seeds")  # a loop of folders: each real folder is read once
    res = cli("scan", cwd=work)
    assert res.returncode == 0, res.stderr
    warnings = [line for line in res.stderr.splitlines() if line.startswith(WARNING)]
    assert any(str(entries["zero"]) in line and "not a regular file" in line for line in warnings), res.stderr
    assert any(str(entries["loop"]) in line for line in warnings), res.stderr
    with sqlite3.connect(work / "var" / "monitor.sqlite3") as db:
        texts = [t for (t,) in db.execute("SELECT text FROM claims")]
        locators = [loc for (loc,) in db.execute("SELECT locator FROM documents")]
    assert any("不该被读到" in t for t in texts)  # the link out of the folder, followed as asked
    assert len(locators) == len(set(locators))


def test_a_subdirectory_that_cannot_be_read_is_one_message_and_the_rest_is_listed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """(Run as root, every folder can be read: the refusal is made by the listing call itself.)"""
    (tmp_path / "locked").mkdir()
    (tmp_path / "locked" / "inside.txt").write_text("x", encoding="utf-8")
    (tmp_path / "open.txt").write_text("x", encoding="utf-8")
    real = os.scandir

    def scandir(path: Any = ".") -> Any:
        if os.fspath(path).endswith("locked"):
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return real(path)

    monkeypatch.setattr(os, "scandir", scandir)
    found, problems = folder.candidates(tmp_path)
    assert found == [tmp_path / "open.txt"]
    assert problems == [f"{tmp_path / 'locked'}: folder skipped: cannot read: Permission denied"]
