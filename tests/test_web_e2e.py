"""Web sources end to end: the real command line, as a subprocess, against a real HTTP server on 127.0.0.1.

Each test has its own temp dir (config, store, outbox) and its own server (``web_server``) serving a feed
of two dev-set articles (one in GBK with no charset declared anywhere) and two dev-set pages. The config
polls a folder copy of the seeds (the known coverage) and those web sources, with no politeness delay and
no retry backoff, and has no [smtp] table (digests go to the outbox as .eml files) unless the test brings
the SMTP server. The server is on 127.0.0.1, so the config says ``allow_private_addresses = true``: the
feed's entries, and redirects, lead there, and would be refused otherwise (the last tests show it). The seeds
are copied once per session and digested once on their own; a test that wants them as already reported
coverage starts from a copy of that store (``Site.seeds_reported``). Assertions use the dev set's labels, the
CLI's output and exit status, the messages and the server's request log.
"""

from __future__ import annotations

import email
import email.policy
import json
import re
import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from xml.sax.saxutils import escape

import pytest
from conftest import SmtpServer, StoreSpot
from helpers import DEV, EXTRACTION, SEEDS
from webserver import WebServer, etag_of

from monitor.normalize import Normalizer

NORM = Normalizer("t2s")
LABELS = {doc["file"]: doc for doc in json.loads((DEV / "labels.json").read_text("utf-8"))["documents"]}

#: the served site: path -> the dev-set file behind it
FEED = "/feed.xml"
HARBOUR = "/news/harbour-5521.html"  # a feed entry, UTF-8 declared in the Content-Type header
XINRUI_GBK = "/news/xinrui-88231.html"  # a feed entry, GBK, no charset anywhere
DIGIPULSE = "/pages/digipulse-qa.html"  # a page source
XINCHAO = "/pages/xinchao-weekly.txt"  # a page source, plain text
FILES = {
    HARBOUR: "harbourdigital-20240731-5521.html",
    XINRUI_GBK: "xinrui-20240730-88231.html",
    DIGIPULSE: "digipulse-20240731-qa.html",
    XINCHAO: "xinchao-weekly-20240801.txt",
}
ARTICLES = tuple(FILES)

#: an article about something else: it names none of the [topic] keywords
OFF_TOPIC = (
    "<html><head><meta charset='utf-8'><title>台风“格美”将于今晚登陆福建沿海</title></head><body><article>"
    "<h1>台风“格美”将于今晚登陆福建沿海</h1>"
    "<p>中央气象台今天上午发布台风橙色预警，今年第3号台风“格美”预计将于今晚在福建莆田到连江一带沿海登陆。</p>"
    "<p>受其影响，福建东部沿海将出现十到十二级大风，部分地区伴有特大暴雨，累计降雨量可达二百五十毫米以上。</p>"
    "<p>福州、厦门两地的机场已取消当晚全部进出港航班，铁路部门也暂停了沿海线路的部分列车。</p>"
    "<p>气象专家提醒市民尽量减少外出，远离临时搭建物和低洼地带，注意防范山洪和城市内涝。</p>"
    "</article></body></html>"
)
OFF_TOPIC_SENTENCE = "福州、厦门两地的机场已取消当晚全部进出港航班，铁路部门也暂停了沿海线路的部分列车。"
#: a sentence no seed or dev document states
ADDED_SENTENCE = "黄仁勋在会后接受采访时表示，英伟达计划明年在丹佛设立一个专门研究实时渲染的新实验室。"


def sentences(path: str, label: str) -> list[str]:
    """The labelled sentences (in the served document's own wording) of the article at ``path``."""
    return list(dict.fromkeys(s["text"] for s in LABELS[FILES[path]]["sentences"] if s["label"] == label))


def gbk_without_charset(html: str) -> bytes:
    """The page in GBK with its <meta charset> removed: only a detector can tell the encoding."""
    return re.sub(r"<meta[^>]*charset[^>]*>", "", html, flags=re.IGNORECASE).encode("gbk", errors="xmlcharrefreplace")


def rss(server: WebServer, links: Sequence[str]) -> str:
    """An RSS 2.0 feed with one item per link (a path on ``server``, or an absolute URL)."""
    items = "".join(
        f"<item><title>entry {n}</title><link>{escape(link if '://' in link else server.url(link))}</link>"
        f"<guid isPermaLink='false'>entry-{n}</guid><pubDate>Wed, 31 Jul 2024 0{n % 10}:00:00 +0800</pubDate></item>"
        for n, link in enumerate(links)
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel><title>科技快讯</title>'
        f"<link>{server.url('/')}</link><description>test feed</description>{items}</channel></rss>"
    )


def run_cli(work: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "monitor", *args], cwd=work, capture_output=True, text=True, timeout=120
    )


def write_config(work: Path, seeds: Path, sources: str = "", extra: str = "", *, allow_private: bool = True) -> None:
    """corpus-monitor.toml in ``work``: store and outbox under var/, the folder ``seeds``, then ``sources``; URLs
    learnt from feeds and redirects may reach 127.0.0.1 unless ``allow_private`` is False."""
    (work / "corpus-monitor.toml").write_text(
        '[store]\npath = "var/monitor.sqlite3"\n'
        '[digest]\noutbox = "var/outbox"\nfrom = "monitor@example.org"\nto = ["reader@example.org"]\n'
        "[http]\nper_host_delay_seconds = 0\nbackoff_seconds = 0\ntimeout_seconds = 10\n"
        + ("allow_private_addresses = true\n" if allow_private else "")
        + f'[[sources]]\nkind = "folder"\nname = "seeds"\npath = {json.dumps(str(seeds))}\n' + sources + extra,
        encoding="utf-8",
    )


@pytest.fixture(scope="session")
def seeds_digested(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the seeds and a store (with outbox) after one digest of them alone, made once per session:
    the state in which the seeds are the known, already reported coverage."""
    root = tmp_path_factory.mktemp("seeds-digested")
    shutil.copytree(SEEDS, root / "seeds")
    write_config(root, root / "seeds")
    res = run_cli(root, "digest")
    assert res.returncode == 0, res.stderr
    assert "Scanned 5 documents" in res.stdout and "Digest of" in res.stdout
    (root / "corpus-monitor.toml").unlink()
    return root


@dataclass
class Site:
    """One test's world: the work dir (config, store, outbox) and the local web server."""

    work: Path
    server: WebServer
    #: the seeds copy and the store in which they are already reported
    template: Path

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return run_cli(self.work, *args)

    def configure(self, sources: str = "", *, extra: str = "", allow_private: bool = True) -> None:
        """Write the config: the seeds folder, then ``sources`` (TOML [[sources]] tables), then ``extra``; with
        ``allow_private`` False, feed entries and redirects may not reach the server (on 127.0.0.1)."""
        write_config(self.work, self.template / "seeds", sources, extra, allow_private=allow_private)

    def emls(self) -> list[Path]:
        return sorted((self.work / "var" / "outbox").glob("*.eml"))

    def seeds_reported(self) -> None:
        """Start from the store after a digest of the seeds alone (the folder source unchanged since), so
        that the next digest holds only the web articles' claims."""
        assert not (self.work / "var").exists()
        shutil.copytree(self.template / "var", self.work / "var")

    def status(self) -> dict[str, dict]:
        res = self.cli("status", "--format", "json")
        assert res.returncode == 0, res.stderr
        return {row["name"]: row for row in json.loads(res.stdout)["sources"]}


WEB_SOURCES = """
[[sources]]
kind = "feed"
name = "tech-feed"
url = "{feed}"
headers = {{ "Accept-Language" = "zh-CN,zh;q=0.9" }}

[[sources]]
kind = "page"
name = "digipulse"
url = "{digipulse}"

[[sources]]
kind = "page"
name = "xinchao"
url = "{xinchao}"
"""


@pytest.fixture
def site(tmp_path: Path, web_server: WebServer, seeds_digested: Path) -> Site:
    """A temp dir with a config for the seeds and the web sources; the server serving a feed of two articles
    and two pages. The store is empty until the test calls ``seeds_reported``."""
    server = web_server
    server.set(HARBOUR, (DEV / FILES[HARBOUR]).read_bytes())
    server.set(XINRUI_GBK, gbk_without_charset((DEV / FILES[XINRUI_GBK]).read_text("utf-8")), content_type="text/html")
    server.set(DIGIPULSE, (DEV / FILES[DIGIPULSE]).read_bytes())
    server.set(XINCHAO, (DEV / FILES[XINCHAO]).read_bytes(), content_type="text/plain; charset=utf-8")
    server.set(FEED, rss(server, [HARBOUR, XINRUI_GBK]), content_type="application/rss+xml; charset=utf-8")
    result = Site(tmp_path, server, seeds_digested)
    result.configure(web_sources(server))
    return result


def web_sources(server: WebServer) -> str:
    return WEB_SOURCES.format(feed=server.url(FEED), digipulse=server.url(DIGIPULSE), xinchao=server.url(XINCHAO))


def parse(data: bytes) -> EmailMessage:
    msg = email.message_from_bytes(data, policy=email.policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


def plain(msg: EmailMessage) -> str:
    part = msg.get_body(("plain",))
    assert part is not None
    return str(part.get_content())


def keys_in(text: str) -> str:
    """The matching key of a whole digest: a claim was reported when its key is inside (any script, any punctuation)."""
    return NORM.key(text)


# -- the first run --------------------------------------------------------------------------------------------


def test_first_digest_by_smtp_reports_the_web_articles_novel_claims_and_no_known_ones(
    site: Site, smtp_server: SmtpServer
) -> None:
    site.configure(
        web_sources(site.server),
        extra=f'[smtp]\nhost = "{smtp_server.host}"\nport = {smtp_server.port}\nsecurity = "none"\n'
        "timeout_seconds = 10\n",
    )
    site.seeds_reported()
    emls = site.emls()

    res = site.cli("digest")
    assert res.returncode == 0, res.stderr
    assert "corpus-monitor: warning" not in res.stderr
    assert f"smtp://{smtp_server.host}:{smtp_server.port}" in res.stdout
    (msg,) = smtp_server.messages
    assert site.emls() == emls
    assert smtp_server.recipients == [["reader@example.org"]]
    assert "from 4 documents" in str(msg["Subject"])
    # the email shows the first claims of each document; the archive has the whole digest
    archived = max((site.work / "var" / "archive").glob("*.json"), key=lambda p: p.stat().st_mtime_ns)
    text = "\n".join(claim["text"] for claim in json.loads(archived.read_text("utf-8"))["claims"])
    assert archived.with_suffix(".html").name in plain(msg)
    for path in ARTICLES:
        novel = sentences(path, "novel")
        assert len(novel) >= 5
        for sentence in novel:  # in its original wording: no mojibake, no script conversion
            assert sentence in text, (path, sentence)
        for sentence in sentences(path, "known_verbatim"):
            assert NORM.key(sentence) not in keys_in(text), (path, sentence)
    assert "\ufffd" not in text and "\ufffd" not in plain(msg)
    # the GBK page without a declared charset: its Simplified Chinese came out as written
    assert "用户既可以在Instagram应用内使用AI Studio" in text


def test_web_documents_in_the_digest_link_to_the_fetched_url(site: Site) -> None:
    site.seeds_reported()
    before = site.emls()
    res = site.cli("digest", "--format", "json")
    assert res.returncode == 0, res.stderr
    payload = json.loads(res.stdout)
    documents = {doc["title"]: doc for doc in payload["documents"]}
    for path in ARTICLES:
        doc = documents[LABELS[FILES[path]]["title"]]
        assert doc["url"] == site.server.url(path) and doc["path"] is None
        assert doc["new_claims"] >= len(sentences(path, "novel"))
    (eml,) = set(site.emls()) - set(before)
    text = plain(parse(eml.read_bytes()))
    for path in ARTICLES:
        assert site.server.url(path) in text


# -- the next runs --------------------------------------------------------------------------------------------


def test_second_run_is_conditional_gets_304s_and_reports_nothing(site: Site, spot: StoreSpot) -> None:
    """On either backend (``--store``; the store starts empty, so the first digest has the seeds too): the web
    articles' claims, then conditional requests and nothing new."""
    first = site.cli("digest", *spot.args)
    assert first.returncode == 0, first.stderr
    assert "Digest of" in first.stdout
    emls = site.emls()
    for path in (FEED, *ARTICLES):
        assert [r.status for r in site.server.gets(path)] == [200], path
    (archived,) = site.work.glob("**/archive/*.json")  # beside the store (its SQLite file, or the config's path)
    reported = "\n".join(claim["text"] for claim in json.loads(archived.read_text("utf-8"))["claims"])
    assert all(sentence in reported for path in ARTICLES for sentence in sentences(path, "novel"))
    site.server.clear()

    second = site.cli("digest", *spot.args)
    assert second.returncode == 0, second.stderr
    assert "Nothing new to report" in second.stdout
    assert "0 new claims" in second.stdout
    assert site.emls() == emls
    for path in (FEED, DIGIPULSE, XINCHAO):  # conditional, with the validator the server gave
        (request,) = site.server.gets(path)
        assert request.headers.get("if-none-match") == etag_of(site.server.routes[path].body), path
        assert request.status == 304, path
    # the feed's entries were fetched once, on the first run: not again
    assert site.server.gets(HARBOUR) == [] and site.server.gets(XINRUI_GBK) == []


def test_failing_page_shows_in_status_while_the_other_sources_still_report(site: Site) -> None:
    site.seeds_reported()
    assert site.cli("digest").returncode == 0
    before = site.emls()
    site.server.clear()
    site.server.set(DIGIPULSE, "<html><body>Internal Server Error</body></html>", status=500)
    changed = (DEV / FILES[XINCHAO]).read_text("utf-8").rstrip("\n") + "\n\n" + ADDED_SENTENCE + "\n"
    site.server.set(XINCHAO, changed, content_type="text/plain; charset=utf-8")

    res = site.cli("digest")
    assert res.returncode == 0, res.stderr  # a dead URL is a warning, not a failed run
    warnings = [line for line in res.stderr.splitlines() if "warning" in line]
    assert len(warnings) == 1
    assert site.server.url(DIGIPULSE) in warnings[0] and "500" in warnings[0]
    assert "failed with a warning" in res.stdout
    assert "1 new claim." in res.stdout and "Digest of 1 claim from 1 document delivered" in res.stdout
    # retried (retries = 2 by default, no backoff here), then given up on
    assert [r.status for r in site.server.gets(DIGIPULSE)] == [500, 500, 500]
    (eml,) = set(site.emls()) - set(before)
    text = plain(parse(eml.read_bytes()))
    assert ADDED_SENTENCE in text
    assert "new claims: 1 · documents: 1 ·" in text

    status = site.cli("status")
    assert status.returncode == 0, status.stderr
    lines = status.stdout.splitlines()
    (failing,) = [i for i, line in enumerate(lines) if line.startswith("Source digipulse ")]
    assert "FAILING" in lines[failing]
    assert "500" in lines[failing + 1] and site.server.url(DIGIPULSE) in lines[failing + 1]
    for name in ("seeds", "tech-feed", "xinchao"):
        (line,) = [line for line in lines if line.startswith(f"Source {name} ")]
        assert ": ok;" in line
    health = site.status()
    assert health["digipulse"]["failures_in_a_row"] >= 1 and "500" in health["digipulse"]["last_error"]
    assert health["digipulse"]["last_success"] is not None  # the first run worked
    assert {health[name]["failures_in_a_row"] for name in ("seeds", "tech-feed", "xinchao")} == {0}

    # the page comes back: the source is healthy again, and nothing it says is new
    site.server.set(DIGIPULSE, (DEV / FILES[DIGIPULSE]).read_bytes())
    again = site.cli("digest")
    assert again.returncode == 0, again.stderr
    assert "Nothing new to report" in again.stdout
    assert site.status()["digipulse"]["failures_in_a_row"] == 0


def test_dry_run_fetches_but_keeps_nothing_so_the_real_run_reports_the_same_claims(site: Site) -> None:
    site.seeds_reported()
    before = site.emls()
    dry = site.cli("digest", "--dry-run", "--format", "json")
    assert dry.returncode == 0, dry.stderr
    assert site.emls() == before
    site.server.clear()
    real = site.cli("digest", "--format", "json")
    assert real.returncode == 0, real.stderr
    # no validators, feed entries or documents were kept: everything is fetched again, unconditionally
    for path in (FEED, *ARTICLES):
        (request,) = site.server.gets(path)
        assert "if-none-match" not in request.headers and request.status == 200, path
    claims = [claim["text"] for claim in json.loads(real.stdout)["claims"]]
    # the same claims; documents of one date come in the order they were first seen, which is the order their
    # fetches ended (concurrent, so not the same from run to run)
    assert sorted(claims) == sorted(claim["text"] for claim in json.loads(dry.stdout)["claims"])
    assert sentences(XINRUI_GBK, "novel")[0] in claims
    assert len(site.emls()) == len(before) + 1


# -- feeds --------------------------------------------------------------------------------------------------


def test_off_topic_feed_entry_is_not_ingested_nor_fetched_again(site: Site) -> None:
    site.seeds_reported()
    site.server.set("/news/typhoon.html", OFF_TOPIC)
    site.server.set(FEED, rss(site.server, [HARBOUR, "/news/typhoon.html", XINRUI_GBK]),
                    content_type="application/rss+xml; charset=utf-8")
    res = site.cli("digest", "--format", "json")
    assert res.returncode == 0, res.stderr
    assert "1 off topic" in res.stderr  # the summary goes to stderr with --format
    payload = json.loads(res.stdout)
    texts = "\n".join(claim["text"] for claim in payload["claims"])
    assert NORM.key(OFF_TOPIC_SENTENCE) not in keys_in(texts) and "台风" not in texts
    assert "格美" not in json.dumps(payload["documents"], ensure_ascii=False)
    assert sentences(HARBOUR, "novel")[0] in texts  # the on-topic entries of the same feed were ingested
    assert len(site.server.gets("/news/typhoon.html")) == 1
    site.server.clear()

    # the feed changes (a new entry) and still lists the off-topic one: that one is not fetched again
    site.server.set("/news/typhoon-2.html", OFF_TOPIC.replace("今晚", "明晨"))
    site.server.set(FEED, rss(site.server, [HARBOUR, "/news/typhoon.html", XINRUI_GBK, "/news/typhoon-2.html"]),
                    content_type="application/rss+xml; charset=utf-8")
    again = site.cli("digest")
    assert again.returncode == 0, again.stderr
    assert site.server.gets("/news/typhoon.html") == []
    assert len(site.server.gets("/news/typhoon-2.html")) == 1
    assert "1 off topic" in again.stdout and "Nothing new to report" in again.stdout
    status = site.cli("status", "--format", "json")
    assert json.loads(status.stdout)["documents"] == 5 + len(ARTICLES)


def test_one_article_from_two_feeds_is_fetched_once_and_is_one_document(site: Site) -> None:
    variant = site.server.url(HARBOUR) + "?utm_source=rss&utm_medium=feed#comments"
    site.server.set("/other-feed.xml", rss(site.server, [variant]), content_type="application/rss+xml")
    site.configure(
        web_sources(site.server)
        + f'\n[[sources]]\nkind = "feed"\nname = "other-feed"\nurl = "{site.server.url("/other-feed.xml")}"\n'
    )
    res = site.cli("digest", "--format", "json")
    assert res.returncode == 0, res.stderr
    (request,) = site.server.gets(HARBOUR)
    assert request.path == HARBOUR  # tracking parameters and the fragment are not sent
    payload = json.loads(res.stdout)
    title = LABELS[FILES[HARBOUR]]["title"]
    assert [doc["title"] for doc in payload["documents"]].count(title) == 1
    status = json.loads(site.cli("status", "--format", "json").stdout)
    assert status["documents"] == 5 + len(ARTICLES)

    assert site.cli("digest").returncode == 0
    assert len(site.server.gets(HARBOUR)) == 1


def test_article_that_is_both_a_page_source_and_a_feed_entry_is_fetched_once(site: Site) -> None:
    site.seeds_reported()
    site.server.set(FEED, rss(site.server, [HARBOUR, XINRUI_GBK, DIGIPULSE]), content_type="application/rss+xml")
    res = site.cli("digest")
    assert res.returncode == 0, res.stderr
    assert len(site.server.gets(DIGIPULSE)) == 1
    assert "Scanned 9 documents in 4 sources: 4 new or changed, 5 unchanged." in res.stdout
    site.server.clear()

    again = site.cli("digest")
    assert again.returncode == 0, again.stderr
    (request,) = site.server.gets(DIGIPULSE)  # the page's own conditional poll; the feed entry needs no fetch
    assert request.status == 304
    assert "Nothing new to report" in again.stdout
    assert json.loads(site.cli("status", "--format", "json").stdout)["documents"] == 5 + len(ARTICLES)


def test_robots_txt_disallowed_article_is_not_fetched_and_a_warning_names_it(site: Site) -> None:
    site.seeds_reported()
    site.server.set("/robots.txt", "User-agent: *\nDisallow: /news/private/\n", content_type="text/plain")
    site.server.set("/news/private/scoop.html", (DEV / FILES[HARBOUR]).read_bytes())
    site.server.set(FEED, rss(site.server, ["/news/private/scoop.html", XINRUI_GBK]),
                    content_type="application/rss+xml")
    res = site.cli("digest")
    assert res.returncode == 0, res.stderr
    assert site.server.gets("/news/private/scoop.html") == []
    (warning,) = [line for line in res.stderr.splitlines() if "warning" in line]
    assert site.server.url("/news/private/scoop.html") in warning and "robots.txt" in warning
    assert len(site.server.gets(XINRUI_GBK)) == 1  # the allowed entry of the same feed was
    assert len(site.server.gets("/robots.txt")) == 1


def test_a_page_over_the_size_cap_is_cut_off_reported_and_still_read(site: Site) -> None:
    site.seeds_reported()
    html = (DEV / FILES[DIGIPULSE]).read_text("utf-8")
    cap = len(html.encode("utf-8")) // 2
    site.configure(f'[[sources]]\nkind = "page"\nname = "digipulse"\nurl = "{site.server.url(DIGIPULSE)}"\n')
    config = site.work / "corpus-monitor.toml"
    config.write_text(config.read_text("utf-8").replace("[http]\n", f"[http]\nmax_bytes = {cap}\n"), encoding="utf-8")
    res = site.cli("digest", "--format", "json")
    assert res.returncode == 0, res.stderr
    (warning,) = [line for line in res.stderr.splitlines() if "warning" in line]
    assert site.server.url(DIGIPULSE) in warning and f"cut off at {cap:,} bytes" in warning
    reported = keys_in(" ".join(c["text"] for c in json.loads(res.stdout)["claims"]))

    def ends_at(sentence: str) -> int:  # byte offset of the sentence's end in the served page
        return len(html[: html.index(sentence) + len(sentence)].encode("utf-8"))

    novel = sentences(DIGIPULSE, "novel")
    read = [s for s in novel if ends_at(s) < cap - 200]  # inside what was read, clear of the cut sentence
    cut = [s for s in novel if ends_at(s) - len(s.encode("utf-8")) > cap]  # starting after the cut
    assert read and all(NORM.key(s) in reported for s in read)
    assert cut and not any(NORM.key(s) in reported for s in cut)


def test_a_server_that_drips_its_body_is_given_up_on_at_the_deadline_and_the_rest_goes_on(site: Site) -> None:
    """Each byte comes within the read timeout, so only the whole request's deadline ends it: once, without a
    retry (a server that drips does not mend in seconds), with a warning naming the URL and the setting."""
    site.seeds_reported()
    site.server.set(DIGIPULSE, (DEV / FILES[DIGIPULSE]).read_bytes(), drip=0.2)  # minutes for the whole page
    config = site.work / "corpus-monitor.toml"
    config.write_text(config.read_text("utf-8").replace("[http]\n", "[http]\ndeadline_seconds = 2\n"),
                      encoding="utf-8")
    started = time.monotonic()
    res = site.cli("digest")
    assert res.returncode == 0, res.stderr
    assert time.monotonic() - started < 20  # not the page's minutes, nor one more try
    (warning,) = [line for line in res.stderr.splitlines() if "warning" in line]
    assert site.server.url(DIGIPULSE) in warning and "deadline_seconds" in warning
    assert len(site.server.gets(DIGIPULSE)) == 1
    assert "Digest of" in res.stdout  # the feed's articles and the other page are reported
    assert site.status()["digipulse"]["failures_in_a_row"] == 1


# -- the command line -------------------------------------------------------------------------------------------


def test_source_option_polls_only_the_named_source(site: Site) -> None:
    res = site.cli("scan", "--source", "xinchao")
    assert res.returncode == 0, res.stderr
    assert "in 1 source:" in res.stdout
    assert {r.route for r in site.server.log()} == {"/robots.txt", XINCHAO}
    health = site.status()
    assert health["xinchao"]["last_success"] is not None
    assert all(health[name]["last_attempt"] is None for name in ("seeds", "tech-feed", "digipulse"))


def test_unknown_source_option_exits_2_naming_it(site: Site) -> None:
    res = site.cli("digest", "--source", "no-such-feed")
    assert res.returncode == 2
    assert "no-such-feed" in res.stderr
    assert site.server.log() == [] and not site.emls()


def test_source_with_every_is_not_polled_again_until_due(site: Site) -> None:
    site.seeds_reported()
    site.configure(
        f'[[sources]]\nkind = "page"\nname = "digipulse"\nurl = "{site.server.url(DIGIPULSE)}"\n'
        f'[[sources]]\nkind = "page"\nname = "xinchao"\nurl = "{site.server.url(XINCHAO)}"\nevery = "1h"\n'
    )
    assert site.cli("scan").returncode == 0
    assert len(site.server.gets(XINCHAO)) == 1
    site.server.clear()
    res = site.cli("scan")
    assert res.returncode == 0, res.stderr
    assert "1 source not due yet" in res.stdout
    assert site.server.gets(XINCHAO) == []
    assert [r.status for r in site.server.gets(DIGIPULSE)] == [304]  # the others are polled every run


def test_check_config_lists_the_page_and_feed_sources_with_their_urls(site: Site) -> None:
    res = site.cli("check-config")
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    expected = (("tech-feed", "feed", FEED), ("digipulse", "page", DIGIPULSE), ("xinchao", "page", XINCHAO))
    for name, kind, path in expected:
        (line,) = [line for line in lines if line.startswith(f"source {name}:")]
        assert kind in line and site.server.url(path) in line
    assert "Accept-Language" in res.stdout
    assert site.server.log() == []  # checking the config fetches nothing


def test_a_dead_article_in_a_feed_is_one_warning_and_the_feed_stays_healthy(site: Site) -> None:
    site.seeds_reported()
    site.server.set(FEED, rss(site.server, [HARBOUR, "/news/gone.html", XINRUI_GBK]),
                    content_type="application/rss+xml; charset=utf-8")  # /news/gone.html answers 404
    res = site.cli("digest")
    assert res.returncode == 0, res.stderr
    warnings = [line for line in res.stderr.splitlines() if "warning" in line]
    assert len(warnings) == 1 and site.server.url("/news/gone.html") in warnings[0] and "404" in warnings[0]
    archived = max((site.work / "var" / "archive").glob("*.json"), key=lambda p: p.stat().st_mtime_ns)
    assert sentences(HARBOUR, "novel")[0] in archived.read_text("utf-8")  # the feed's other articles came
    assert site.status()["tech-feed"]["failures_in_a_row"] == 0
    assert ": ok;" in next(line for line in site.cli("status").stdout.splitlines() if "tech-feed" in line)
    again = site.cli("digest")  # a 404 is final: not fetched, nor reported, again
    assert "warning" not in again.stderr and len(site.server.gets("/news/gone.html")) == 1


def test_a_feed_of_many_articles_is_extracted_on_every_core_with_a_bad_one_among_them(site: Site) -> None:
    """More articles than a batch extracted in the process itself: the worker processes extract them; every good
    article is ingested, the binary one is one warning naming its URL, and none is fetched again."""
    pages = sorted(EXTRACTION.glob("*/html/*.html"))[:9]
    links = [f"/many/{n}.html" for n in range(len(pages))]
    for link, page in zip(links, pages, strict=True):
        site.server.set(link, page.read_bytes(), content_type="text/html")
    site.server.set("/many/junk.html", b"\x00\x01\x02" * 400, content_type="text/html")
    site.server.set("/many.xml", rss(site.server, [*links, "/many/junk.html"]),
                    content_type="application/rss+xml; charset=utf-8")
    site.configure(f'[[sources]]\nkind = "feed"\nname = "many"\nurl = "{site.server.url("/many.xml")}"\n'
                   "topic_filter = false\n")
    res = site.cli("scan")
    assert res.returncode == 0, res.stderr
    warnings = [line for line in res.stderr.splitlines() if "warning" in line]
    assert len(warnings) == 1 and site.server.url("/many/junk.html") in warnings[0], res.stderr
    db = sqlite3.connect(site.work / "var" / "monitor.sqlite3")
    urls = {url for (url,) in db.execute("SELECT locator FROM documents WHERE locator LIKE '%/many/%'")}
    assert urls == {site.server.url(link) for link in links}
    again = site.cli("scan")
    assert again.returncode == 0 and "warning" not in again.stderr
    assert all(len(site.server.gets(link)) == 1 for link in [*links, "/many/junk.html"])


# -- addresses only the monitor's host can reach ----------------------------------------------------------------


def test_a_feed_entry_at_a_private_address_is_refused_by_default_and_fetched_once_allowed(site: Site) -> None:
    """The feed is configured, so trusted; its entry is learnt from the feed, and both are on 127.0.0.1. By default
    the entry is refused before anything is sent to it: one warning naming it and the setting, nothing of it
    stored, the feed healthy and the run exiting 0, as with any article that could not be fetched. It stays
    pending, so the run after the setting allows private addresses fetches and reports it."""
    site.seeds_reported()
    site.server.set(FEED, rss(site.server, [HARBOUR]), content_type="application/rss+xml; charset=utf-8")
    site.configure(web_sources(site.server), allow_private=False)
    res = site.cli("digest", "--format", "json")
    assert res.returncode == 0, res.stderr
    (warning,) = [line for line in res.stderr.splitlines() if line.startswith("corpus-monitor: warning")]
    assert "1 failed with a warning" in res.stderr  # the summary, on stderr beside --format json
    assert site.server.url(HARBOUR) in warning and "127.0.0.1 is a loopback address" in warning
    assert "set [http] allow_private_addresses = true" in warning
    assert site.server.gets(HARBOUR) == []
    for path in (FEED, DIGIPULSE, XINCHAO):  # the configured URLs, on the same address, are fetched
        assert len(site.server.gets(path)) == 1, path
    title = LABELS[FILES[HARBOUR]]["title"]
    assert title not in [doc["title"] for doc in json.loads(res.stdout)["documents"]]
    assert json.loads(site.cli("status", "--format", "json").stdout)["documents"] == 5 + 2  # seeds and pages
    assert site.status()["tech-feed"]["failures_in_a_row"] == 0

    site.configure(web_sources(site.server))
    again = site.cli("digest", "--format", "json")
    assert again.returncode == 0, again.stderr
    assert "warning" not in again.stderr
    assert len(site.server.gets(HARBOUR)) == 1
    claims = [claim["text"] for claim in json.loads(again.stdout)["claims"]]
    assert sentences(HARBOUR, "novel")[0] in claims


def test_a_configured_page_redirecting_to_a_private_address_is_refused_by_default(site: Site) -> None:
    """A configured page is trusted, where it redirects is not: a redirect to a loopback URL is not followed (the
    page fails, once, with no retry, and one warning names it, the target and the setting); allowed, it is."""
    site.seeds_reported()
    moved, target = site.server.url("/moved.html"), site.server.url(DIGIPULSE)
    site.server.set("/moved.html", "", status=302, headers={"Location": target})
    page = f'[[sources]]\nkind = "page"\nname = "moved"\nurl = "{moved}"\n'
    site.configure(page, allow_private=False)
    res = site.cli("digest")
    assert res.returncode == 0, res.stderr
    (warning,) = [line for line in res.stderr.splitlines() if "warning" in line]
    assert warning.startswith(f"corpus-monitor: warning: {moved}: redirected to {target}, not followed: ")
    assert "127.0.0.1 is a loopback address" in warning and "set [http] allow_private_addresses = true" in warning
    assert len(site.server.gets("/moved.html")) == 1 and site.server.gets(DIGIPULSE) == []
    assert "Nothing new to report" in res.stdout
    assert site.status()["moved"]["failures_in_a_row"] == 1

    site.configure(page)
    again = site.cli("digest")
    assert again.returncode == 0, again.stderr
    assert "warning" not in again.stderr and "Digest of" in again.stdout
    assert len(site.server.gets(DIGIPULSE)) == 1
    assert site.status()["moved"]["failures_in_a_row"] == 0
