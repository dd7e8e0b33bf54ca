"""A store that cannot be written, through the real command line: ``status`` and ``digest --dry-run`` only read it,
so they work on a store on a read-only file system, or in a folder this user may not write.

Two real ways the store's folder (``var``, with the store, its lock file and the outbox) cannot be written, each
checked first by a write that must fail:

- a read-only file system: the command runs in a mount namespace of its own (``unshare``) where ``var`` is
  bind-mounted read-only, so every write fails with EROFS, root's too (skipped where namespaces are not allowed);
- permissions: the folder mode 0555 and its files 0444; as root (CI runs as root) the command runs without the
  capability that lets root write through them (CAP_DAC_OVERRIDE, dropped from its bounding set before exec).
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import hashlib
import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from test_cli import cli, novel_sentences
from test_delivery_faults import add_document

from monitor.normalize import Normalizer
from monitor.store.sqlite.schema import MIGRATIONS
from monitor.store.sqlite.store import _statements

NORM = Normalizer("t2s")
#: prctl(2) option, and capabilities(7) numbers
PR_CAPBSET_DROP = 24
CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH = 1, 2
#: runs its arguments with its first one bind-mounted read-only over itself
READ_ONLY_MOUNT = 'mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" && shift && exec "$@"'


class ReadOnly:
    """Runs commands that see ``folder`` unwritable, in one of the two ways."""

    def __init__(self, way: str, folder: Path) -> None:
        self.way, self.folder = way, folder
        self.prefix: list[str] = []
        self.preexec: Callable[[], None] | None = None
        if way == "file system":
            own = [] if os.geteuid() == 0 else ["--map-root-user"]
            self.prefix = ["unshare", "--mount", *own, "sh", "-c", READ_ONLY_MOUNT, "sh", str(folder)]
        elif os.geteuid() == 0:
            self.preexec = _without_dac_override

    def run(self, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*self.prefix, *args], cwd=cwd, capture_output=True, text=True, timeout=300,
                              preexec_fn=self.preexec)

    def cli(self, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
        return self.run(sys.executable, "-m", "monitor", *args, cwd=cwd)


def _without_dac_override() -> None:
    """In the child before exec: root keeps every capability but those overriding file permissions."""
    libc = ctypes.CDLL(None, use_errno=True)
    for capability in (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH):
        if libc.prctl(PR_CAPBSET_DROP, capability, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


@contextlib.contextmanager
def read_only(way: str, folder: Path) -> Iterator[ReadOnly]:
    """``folder`` unwritable for the commands run through the result; a write into it is tried first and must
    fail the expected way (else the test is skipped, saying why, or fails)."""
    modes = {path: path.stat().st_mode for path in [folder, *folder.rglob("*")]}
    if way == "permissions":
        for path in modes:
            path.chmod(0o555 if path.is_dir() else 0o444)
    try:
        runner = ReadOnly(way, folder)
        try:
            probe = runner.run(sys.executable, "-c", "import sys; open(sys.argv[1], 'ab')", str(folder / "probe"),
                               cwd=folder.parent)
        except (OSError, subprocess.SubprocessError) as exc:
            pytest.skip(f"cannot make {folder} read-only by {way}: {exc}")
        if way == "file system" and "Traceback" not in probe.stderr:
            pytest.skip(f"no mount namespace here (unshare): {probe.stderr.strip()}")
        expected = os.strerror(errno.EROFS if way == "file system" else errno.EACCES)
        assert probe.returncode != 0 and expected in probe.stderr, probe.stderr
        assert not (folder / "probe").exists()
        yield runner
    finally:
        for path, mode in modes.items():
            path.chmod(mode)


def contents(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` -> the SHA-256 of its bytes."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


WAYS = pytest.mark.parametrize("way", ["file system", "permissions"])


@WAYS
def test_status_and_a_dry_run_read_a_store_that_cannot_be_written(work: Path, way: str) -> None:
    assert cli("digest", cwd=work).returncode == 0  # the seeds, mailed to the outbox in var/
    new = novel_sentences(3)
    add_document(work, "later.txt", new)
    assert cli("scan", cwd=work).returncode == 0  # three claims not yet reported
    var = work / "var"
    before = contents(var)
    assert "monitor.sqlite3" in before and "monitor.sqlite3-wal" not in before  # closed cleanly
    with read_only(way, var) as ro:
        status = ro.cli("status", cwd=work)
        assert status.returncode == 0, status.stderr
        assert "Documents: 6" in status.stdout and "(3 not yet reported)" in status.stdout
        assert "Last digest: 20" in status.stdout
        as_json = ro.cli("status", "--format", "json", cwd=work)
        assert as_json.returncode == 0, as_json.stderr
        assert json.loads(as_json.stdout)["unreported"] == 3
        listed = ro.cli("digests", cwd=work)
        assert listed.returncode == 0 and "No digest waiting" in listed.stdout, listed.stderr

        dry_run = ro.cli("digest", "--dry-run", cwd=work)
        assert dry_run.returncode == 0, dry_run.stderr
        assert all(NORM.key(sentence) in NORM.key(dry_run.stdout) for sentence in new)
        assert "Digest of 3 claims from 1 document (dry run" in dry_run.stderr

        # a command that writes says what it cannot write, and exits 1
        scan = ro.cli("scan", cwd=work)
        assert scan.returncode == 1 and str(var / "monitor.sqlite3.lock") in scan.stderr
    assert contents(var) == before


@WAYS
def test_a_store_needing_a_migration_it_cannot_get_is_a_clear_error_and_a_dry_run_still_renders(
    work: Path, way: str
) -> None:
    """A store of the previous schema: ``status`` must migrate it first, which it cannot; the error names the
    store, its version and what is missing. The dry run works on a copy, which is migrated."""
    old = len(MIGRATIONS) - 1
    path = work / "var" / "monitor.sqlite3"
    path.parent.mkdir()
    with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as db:
        for script in MIGRATIONS[:old]:
            for statement in _statements(script):
                db.execute(statement)
        db.execute(f"PRAGMA user_version = {old}")
        db.execute("PRAGMA journal_mode = WAL")
    before = contents(work / "var")
    with read_only(way, work / "var") as ro:
        status = ro.cli("status", cwd=work)
        assert status.returncode == 1, status.stderr
        (line,) = status.stderr.splitlines()
        assert line.startswith(f"corpus-monitor: error: {path}: cannot open the store: its schema (version {old})")
        assert f"migrated to version {len(MIGRATIONS)}, which needs write access" in line

        dry_run = ro.cli("digest", "--dry-run", cwd=work)
        assert dry_run.returncode == 0, dry_run.stderr
        assert "Scanned 5 documents" in dry_run.stderr and "(dry run: nothing delivered" in dry_run.stderr
    assert contents(work / "var") == before
    with contextlib.closing(sqlite3.connect(path)) as db:
        assert db.execute("PRAGMA user_version").fetchone() == (old,)
