"""Hostile input for the fault suite (issue 12): a builder for each case, at a size CI can afford (``CI``) or at
the size the issue measured (``FULL``, for ``benchmarks/hostile.py``).

A case builds, in a work folder holding a copy of the seeds (the folder's control document) and a config, one
hostile thing: an entry of the watched folder, or a route of a local web server beside a control page. It says
what must be seen after ``corpus-monitor scan``: the warning that names the thing (a regular expression over the
command's stderr), the text that must never be stored (from outside the folder, or from a private address), and
the control documents that must be ingested. :func:`run` runs the real command line in a subprocess under an
address-space limit and checks all of that, and that no traceback is printed.
"""

from __future__ import annotations

import gzip
import os
import re
import resource
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from helpers import DEV, SEEDS, settled
from webserver import WebServer

#: a seed the folder's control check looks for among the documents
CONTROL_SEED = sorted(SEEDS.iterdir())[0].name
#: a real page served beside each hostile route: must be ingested
CONTROL_PAGE = "/control.html"
CONTROL_HTML = (DEV / "harbourdigital-20240731-5521.html").read_bytes()
#: written where the monitor must not read it: must never be stored
SECRET = "这是一份不该被读到的机密文件，其中的内容绝不能出现在任何摘要里。"
#: every case's process may map at most this much memory (each process: workers have their own)
ADDRESS_SPACE = 1 << 30


@dataclass(frozen=True)
class Scale:
    """How big each hostile thing is."""

    name: str
    #: characters of the one-letter "sentence"
    letters: int
    #: tiny paragraphs of the pathological page (over the tag limit: refused before trafilatura)
    paragraphs: int
    #: articles in the big feed, and bytes each
    entries: int
    entry_bytes: int
    #: bytes a gzip bomb decompresses to
    bomb: int
    #: seconds a request may take in all ([http] deadline_seconds; None: the default)
    deadline: float | None


CI = Scale("ci", letters=2_000_000, paragraphs=200_000, entries=30, entry_bytes=1_000_000, bomb=200_000_000,
           deadline=2.0)
FULL = Scale("full", letters=36_000_000, paragraphs=550_000, entries=100, entry_bytes=5_000_000,
             bomb=1_000_000_000, deadline=None)
#: a page under the tag limit that still takes trafilatura seconds (45,000 elements: about 5 s), and the time
#: budget it is given: it must be stopped
SLOW_ELEMENTS = 45_000
SLOW_BUDGET = 1.0


@dataclass
class Setup:
    """What a case built: config lines to add, what must be seen, what must not be stored."""

    #: options of the watched folder (TOML lines)
    folder: str = ""
    #: more sources (TOML [[sources]] tables)
    sources: str = ""
    #: settings: table -> TOML lines
    settings: dict[str, str] = field(default_factory=dict)
    #: regular expressions the command's stderr must match: the warnings naming the hostile things
    warnings: tuple[str, ...] = ()
    #: text that must not be in any stored claim
    forbidden: tuple[str, ...] = ()
    #: locators (URLs) that must be among the documents, besides the control seed
    ingested: tuple[str, ...] = ()
    #: a check of its own over the store, once the command has run: a failure message, or None
    check: Callable[[sqlite3.Connection], str | None] | None = None


@dataclass(frozen=True)
class Case:
    name: str
    #: what the issue calls it (its item number, or "low")
    item: str
    build: Callable[[Path, WebServer, Scale], Setup]
    #: web cases get the control page as a page source
    web: bool = False


def _page(text: str, charset: str | None = None) -> bytes:
    meta = f'<meta charset="{charset}">' if charset else ""
    return f"<html><head>{meta}<title>报道</title></head><body><article><p>{text}</p></article></body></html>".encode()


def _outside(work: Path) -> Path:
    secret = work / "elsewhere" / "secret.txt"
    secret.parent.mkdir(exist_ok=True)
    secret.write_text(f"机密\n\n{SECRET}\n", encoding="utf-8")
    settled(secret)
    return secret


# --- the watched folder -------------------------------------------------------------------------------------------

def codec_label(work: Path, server: WebServer, scale: Scale) -> Setup:
    """1: a page declaring a Python codec that is no text encoding."""
    page = work / "seeds" / "rot13.html"
    page.write_bytes(_page("英伟达与Meta宣布在开源模型方面展开新的合作，双方将共享训练数据。", "rot13"))
    settled(page)
    return Setup(check=_has_document(str(page)))


def symlink_loop(work: Path, server: WebServer, scale: Scale) -> Setup:
    """2: a link to itself, and two links to each other."""
    seeds = work / "seeds"
    (seeds / "loop.txt").symlink_to(seeds / "loop.txt")
    (seeds / "a").symlink_to(seeds / "b")
    (seeds / "b").symlink_to(seeds / "a")
    return Setup(folder="follow_symlinks = true\n", warnings=(r"loop\.txt: skipped: ",))


def bad_name(work: Path, server: WebServer, scale: Scale) -> Setup:
    """3: a file name that is not UTF-8."""
    name = os.fsencode(work / "seeds") + b"/bad\xff\xfe.txt"
    with open(name, "wb") as handle:
        handle.write(f"标题\n\n{SECRET}\n".encode())
    settled(Path(os.fsdecode(name)))
    return Setup(warnings=(r"bad\\xff\\xfe\.txt: skipped: ",))


def fifo(work: Path, server: WebServer, scale: Scale) -> Setup:
    """4: a FIFO that nobody writes to."""
    os.mkfifo(work / "seeds" / "pipe.txt")
    return Setup(warnings=(r"pipe\.txt: skipped: ",))


def device(work: Path, server: WebServer, scale: Scale) -> Setup:
    """5: links to endless devices, followed (the option is on): still no regular file."""
    (work / "seeds" / "zero.txt").symlink_to("/dev/zero")
    (work / "seeds" / "random.txt").symlink_to("/dev/urandom")
    return Setup(folder="follow_symlinks = true\n", warnings=(r"zero\.txt: skipped: ", r"random\.txt: skipped: "))


def long_sentence(work: Path, server: WebServer, scale: Scale) -> Setup:
    """6: one line of one letter, with no sentence mark."""
    page = work / "seeds" / "one-letter.txt"
    page.write_bytes(b"a" * scale.letters)
    settled(page)
    return Setup(check=_no_claim_longer_than(1000))


def pathological(work: Path, server: WebServer, scale: Scale) -> Setup:
    """7: hundreds of thousands of tiny paragraphs, which trafilatura takes minutes and most of a gigabyte over."""
    page = work / "seeds" / "paragraphs.html"
    page.write_bytes(b"<html><body>" + b"<p>ab</p>" * scale.paragraphs + b"</body></html>")
    settled(page)
    return Setup(warnings=(r"paragraphs\.html: skipped: [\d,]+ tags, too many",))


def slow_page(work: Path, server: WebServer, scale: Scale) -> Setup:
    """7: a page under the tag limit that takes longer than its (small) time budget."""
    page = work / "seeds" / "slow.html"
    page.write_bytes(b"<html><body>" + b"<div>ab</div>" * SLOW_ELEMENTS + b"</body></html>")
    settled(page)
    return Setup(settings={"extract": f"time_budget_seconds = {SLOW_BUDGET:g}\n"},
                 warnings=(r"slow\.html: skipped: extraction took longer than",))


def outside_link(work: Path, server: WebServer, scale: Scale) -> Setup:
    """11: a link to a file outside the watched folder, and a link to a folder outside it."""
    secret = _outside(work)
    (work / "seeds" / "link.txt").symlink_to(secret)
    (work / "seeds" / "dir").symlink_to(secret.parent)
    return Setup(warnings=(r"link\.txt: skipped: ",), forbidden=(SECRET,))


def bad_bytes(work: Path, server: WebServer, scale: Scale) -> Setup:
    """Low: a UTF-8 text with one bad byte in every kilobyte."""
    text = (SEEDS / CONTROL_SEED).read_bytes()
    page = work / "seeds" / "bad-bytes.txt"
    page.write_bytes(b"".join(text[i : i + 1023] + b"\xff" for i in range(0, len(text), 1023)))
    settled(page)
    return Setup(check=_has_document(str(page.resolve())))


# --- the web ------------------------------------------------------------------------------------------------------

def _feed(server: WebServer, paths: list[str]) -> str:
    items = "".join(f"<item><title>{i}</title><link>{server.url(p)}</link></item>" for i, p in enumerate(paths))
    return f"<?xml version='1.0'?><rss version='2.0'><channel><title>t</title>{items}</channel></rss>"


def web_codec_label(work: Path, server: WebServer, scale: Scale) -> Setup:
    """1: a server declaring a Python codec that is no text encoding, in Content-Type."""
    server.set("/zlib.html", _page("扎克伯格表示，Meta将继续在开源人工智能领域加大投入，并开放更多工具。"),
               content_type="text/html; charset=zlib")
    return Setup(sources=_source("page", server.url("/zlib.html")), ingested=(server.url("/zlib.html"),))


def gzip_bomb(work: Path, server: WebServer, scale: Scale) -> Setup:
    """6 (by the web): a page of one letter sent gzipped, a few KB on the wire."""
    server.set("/bomb.html", gzip.compress(b"a" * scale.bomb, compresslevel=9), headers={"Content-Encoding": "gzip"})
    return Setup(sources=_source("page", server.url("/bomb.html")), warnings=(r"bomb\.html: body cut off at",),
                 check=_no_claim_longer_than(1000))


def drip(work: Path, server: WebServer, scale: Scale) -> Setup:
    """8: a server sending a byte every 0.2 s, each within the read timeout."""
    server.set("/drip.html", _page("这个页面每次只发送一个字节。" * 20), drip=0.2)
    deadline = {"http": f"deadline_seconds = {scale.deadline:g}\n"} if scale.deadline is not None else {}
    return Setup(sources=_source("page", server.url("/drip.html")), settings=deadline,
                 warnings=(r"drip\.html: .*deadline_seconds",))


def big_feed(work: Path, server: WebServer, scale: Scale) -> Setup:
    """9: a feed of many large articles (a real page padded with a comment)."""
    padding = b"<!--" + b"x" * max(0, scale.entry_bytes - len(CONTROL_HTML) - 7) + b"-->"
    body = CONTROL_HTML.replace(b"</body>", padding + b"</body>", 1)
    paths = [f"/big/{i}.html" for i in range(scale.entries)]
    for path in paths:
        server.set(path, body)
    server.set("/big.xml", _feed(server, paths), content_type="application/rss+xml")
    return Setup(sources=_source("feed", server.url("/big.xml")), settings=_private_allowed(),
                 ingested=tuple(server.url(p) for p in paths))


def malformed_feed(work: Path, server: WebServer, scale: Scale) -> Setup:
    """Low: a feed whose tags do not match."""
    server.set("/broken.xml", "<rss><channel><title>t</wrong><item><link>x</item></rss>",
               content_type="application/rss+xml")
    return Setup(sources=_source("feed", server.url("/broken.xml")),
                 warnings=(r"broken\.xml: .*not a well-formed feed",))


def _source(kind: str, url: str) -> str:
    return f'\n[[sources]]\nkind = "{kind}"\nurl = "{url}"\n'


def _private_allowed() -> dict[str, str]:
    """The articles of a feed on 127.0.0.1 are on a private address: allowed, saying so."""
    return {"http": "allow_private_addresses = true\n"}


def private_entry(work: Path, server: WebServer, scale: Scale) -> Setup:
    """10: a feed (configured: trusted) whose entry links to an address only this host reaches."""
    server.set("/internal/secret.html", _page(SECRET))
    server.set("/entries.xml", _feed(server, ["/internal/secret.html"]), content_type="application/rss+xml")
    return Setup(sources=_source("feed", server.url("/entries.xml")), forbidden=(SECRET,),
                 warnings=(r"secret\.html: not fetched: 127\.0\.0\.1 is a loopback address.*allow_private_addresses",))


def private_redirect(work: Path, server: WebServer, scale: Scale) -> Setup:
    """10: a configured page redirecting to an address only this host reaches."""
    server.set("/internal/secret.html", _page(SECRET))
    server.set("/moved.html", b"", status=302, headers={"Location": server.url("/internal/secret.html")})
    return Setup(sources=_source("page", server.url("/moved.html")), forbidden=(SECRET,),
                 warnings=(r"moved\.html: .*127\.0\.0\.1 is a loopback address.*allow_private_addresses",))


# --- checks -------------------------------------------------------------------------------------------------------

def _has_document(locator: str) -> Callable[[sqlite3.Connection], str | None]:
    def check(db: sqlite3.Connection) -> str | None:
        found = db.execute("SELECT count(*) FROM documents WHERE locator = ?", (locator,)).fetchone()[0]
        return None if found else f"{locator} was not ingested"
    return check


def _no_claim_longer_than(limit: int) -> Callable[[sqlite3.Connection], str | None]:
    def check(db: sqlite3.Connection) -> str | None:
        longest = db.execute("SELECT max(length(text)) FROM claims").fetchone()[0] or 0
        return None if longest <= limit else f"a claim of {longest} characters was stored"
    return check


CASES = (
    Case("charset label naming a codec (file)", "1", codec_label),
    Case("symlink loop", "2", symlink_loop),
    Case("file name not UTF-8", "3", bad_name),
    Case("FIFO", "4", fifo),
    Case("links to /dev/zero and /dev/urandom", "5", device),
    Case("one-letter sentence", "6", long_sentence),
    Case("gzip bomb of one letter", "6", gzip_bomb, web=True),
    Case("tiny paragraphs (over the tag limit)", "7", pathological),
    Case("slow page (under the tag limit)", "7", slow_page),
    Case("server dripping a byte at a time", "8", drip, web=True),
    Case("feed of many large articles", "9", big_feed, web=True),
    Case("feed entry at a private address", "10", private_entry, web=True),
    Case("redirect to a private address", "10", private_redirect, web=True),
    Case("links out of the folder", "11", outside_link),
    Case("charset label naming a codec (header)", "1", web_codec_label, web=True),
    Case("malformed feed", "low", malformed_feed, web=True),
    Case("one bad byte per KB", "low", bad_bytes),
)


# --- running ------------------------------------------------------------------------------------------------------

@dataclass
class Outcome:
    """What one run of a case did."""

    case: Case
    exit_status: int
    seconds: float
    #: the largest resident memory of the process and its workers together, sampled (bytes)
    peak_rss: int
    stdout: str
    stderr: str
    #: what went wrong, by the suite's standards; empty when all is well
    problems: list[str] = field(default_factory=list)

    @property
    def summary(self) -> str:
        """The first line of the command's summary (what it scanned)."""
        lines = self.stdout.strip().splitlines()
        return lines[0] if lines else ""


def prepare(work: Path, server: WebServer, case: Case, scale: Scale) -> Setup:
    """A work folder with the seeds, the case built in it, and its config written."""
    shutil.copytree(SEEDS, work / "seeds")
    settled(*(work / "seeds").iterdir())
    setup = case.build(work, server, scale)
    server.set(CONTROL_PAGE, CONTROL_HTML)
    config = '[[sources]]\nkind = "folder"\npath = "seeds"\nsettle_seconds = 0\n' + setup.folder + setup.sources
    settings = dict(setup.settings)
    if case.web:
        config += _source("page", server.url(CONTROL_PAGE))
        settings["http"] = "per_host_delay_seconds = 0\nbackoff_seconds = 0\n" + settings.get("http", "")
    config += "".join(f"\n[{table}]\n{lines}" for table, lines in settings.items())
    (work / "corpus-monitor.toml").write_text(config, encoding="utf-8")
    return setup


def _limited() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))


def _tree_rss(root: int) -> int:
    """The resident memory of a process and its descendants together (bytes), read from /proc."""
    parents: dict[int, int] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            statm = Path(f"/proc/{entry}/statm").read_text().split()
        except OSError:
            continue
        parents[int(entry)] = int(stat.rpartition(")")[2].split()[1])
        rss[int(entry)] = int(statm[1]) * os.sysconf("SC_PAGE_SIZE")
    tree, grown = {root}, True
    while grown:
        more = {pid for pid, parent in parents.items() if parent in tree} - tree
        grown, tree = bool(more), tree | more
    return sum(rss.get(pid, 0) for pid in tree)


def run(work: Path, server: WebServer, case: Case, scale: Scale, timeout: float = 300) -> Outcome:
    """Build the case, run ``corpus-monitor scan`` on it under the address-space limit, and check what it did."""
    setup = prepare(work, server, case, scale)
    started = time.monotonic()
    process = subprocess.Popen(
        [sys.executable, "-m", "monitor", "scan"], cwd=work, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, preexec_fn=_limited,  # noqa: PLW1509 - only setrlimit, before exec
    )
    peak = [0]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.05):
            peak[0] = max(peak[0], _tree_rss(process.pid))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        stdout, stderr = process.communicate()
    finally:
        done.set()
        sampler.join()
    outcome = Outcome(case, process.returncode, time.monotonic() - started, peak[0], stdout, stderr)
    outcome.problems = _problems(work, setup, outcome)
    return outcome


def _problems(work: Path, setup: Setup, outcome: Outcome) -> list[str]:
    problems = []
    if outcome.exit_status != 0:
        problems.append(f"exit status {outcome.exit_status}")
    if "Traceback" in outcome.stderr:
        problems.append("a traceback was printed")
    problems += [f"no warning matching {warning!r}" for warning in setup.warnings
                 if not re.search(warning, outcome.stderr)]
    store = work / "var" / "monitor.sqlite3"
    if not store.exists():
        return [*problems, "no store"]
    with sqlite3.connect(f"{store.as_uri()}?mode=ro", uri=True) as db:
        locators = {row[0] for row in db.execute("SELECT locator FROM documents")}
        if str((work / "seeds" / CONTROL_SEED).resolve()) not in locators:
            problems.append("the control seed was not ingested")
        if outcome.case.web and not any(locator.endswith(CONTROL_PAGE) for locator in locators):
            problems.append("the control page was not ingested")
        missing = [locator for locator in setup.ingested if locator not in locators]
        if missing:
            problems.append(f"{len(missing)} of {len(setup.ingested)} documents not ingested (first {missing[0]})")
        for text in setup.forbidden:
            if db.execute("SELECT count(*) FROM claims WHERE text LIKE ?", (f"%{text[:20]}%",)).fetchone()[0]:
                problems.append(f"stored what it must not: {text[:20]}…")
        if setup.check is not None and (found := setup.check(db)) is not None:
            problems.append(found)
    return problems
