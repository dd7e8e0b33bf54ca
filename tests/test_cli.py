"""End to end through the real command line, in a temp dir, on the real seeds and dev-set sentences."""

from __future__ import annotations

import email
import email.policy
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from email.message import EmailMessage
from pathlib import Path

from conftest import SmtpServer, StoreSpot
from helpers import DEV, SEEDS, seed, seed_claims, settled
from markupsafe import escape

from monitor.normalize import Normalizer

NORM = Normalizer("t2s")


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "monitor", *args], cwd=cwd, capture_output=True, text=True, timeout=300
    )


def eml_files(work: Path) -> list[Path]:
    return sorted((work / "var" / "outbox").glob("*.eml"))


def parse(path: Path) -> EmailMessage:
    msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


def parts(msg: EmailMessage) -> tuple[str, str]:
    plain = msg.get_body(("plain",))
    html = msg.get_body(("html",))
    assert plain is not None and html is not None
    return plain.get_content(), html.get_content()


def digest_json(work: Path, *extra: str) -> dict:
    res = cli("digest", "--dry-run", "--format", "json", *extra, cwd=work)
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)


def novel_sentences(count: int) -> list[str]:
    labels = json.loads((DEV / "labels.json").read_text("utf-8"))
    found = [s["text"] for d in labels["documents"] for s in d["sentences"] if s["label"] == "novel"]
    return list(dict.fromkeys(found))[:count]


def test_seeds_digest_to_outbox_then_nothing_new(work: Path) -> None:
    first = cli("digest", cwd=work)
    assert first.returncode == 0, first.stderr
    (eml,) = eml_files(work)
    assert str(eml) in first.stdout and "Scanned 5 documents" in first.stdout
    msg = parse(eml)
    assert msg.get_content_type() == "multipart/alternative"
    assert msg["Message-ID"] and msg["Date"]
    assert "new claims from 5 documents" in str(msg["Subject"])
    text, html = parts(msg)
    assert "<html" in html.lower() and str(msg["Subject"]).split(" — ")[0] in html
    # the whole digest, in the archive: the sentence about Huang co-founding NVIDIA at 30 is one claim,
    # shown once, with its other source
    (archived,) = (work / "var" / "archive").glob("*.html")
    page = archived.read_text("utf-8")
    assert page.count("30歲才成爲英偉達的聯合創始人") + page.count("30岁才成为英伟达的联合创始人") == 1

    second = cli("digest", cwd=work)
    assert second.returncode == 0, second.stderr
    assert "Nothing new" in second.stdout
    assert len(eml_files(work)) == 1


def test_first_digest_json_reports_each_seed_claim_once_with_all_sources(work: Path) -> None:
    payload = digest_json(work)
    assert set(payload) == {"generated_at", "documents", "claims", "corroborated"}
    assert payload["corroborated"] == []
    claims = payload["claims"]
    keys = [NORM.key(c["text"]) for c in claims]
    assert len(keys) == len(set(keys)) > 300
    assert set(claims[0]) >= {"id", "text", "normalized", "document", "sources"}
    docs = {d["id"]: d for d in payload["documents"]}
    (founder,) = [c for c in claims if "30岁才成为英伟达的联合创始人" in c["normalized"]]
    assert {Path(docs[s]["path"]).name[:3] for s in founder["sources"]} == {"000", "004"}
    # documents in order of their dates; undated ones last
    dated = [d["published"] for d in payload["documents"] if d["published"]]
    assert dated == sorted(dated)
    # claims follow their documents' order
    order = [d["id"] for d in payload["documents"]]
    firsts = [order.index(c["document"]) for c in claims]
    assert firsts == sorted(firsts)


def test_dry_run_persists_nothing(work: Path, spot: StoreSpot) -> None:
    """On SQLite a dry run works on a copy of the store; on PostgreSQL in one transaction, rolled back."""
    payload = digest_json(work, *spot.args)
    assert payload["claims"]
    assert not eml_files(work)
    status = cli("status", "--format", "json", *spot.args, cwd=work)
    assert status.returncode == 0
    if spot.backend == "postgresql" or Path(spot.target).exists():
        assert json.loads(status.stdout)["claims"] == 0
    assert cli("digest", *spot.args, cwd=work).returncode == 0
    assert len(eml_files(work)) == 1
    assert f"{seed_claims()} new claims" in str(parse(eml_files(work)[0])["Subject"])  # no digest of the dry run kept


def test_new_document_with_three_new_sentences_reports_exactly_those(work: Path) -> None:
    assert cli("digest", cwd=work).returncode == 0
    known = [line for line in seed("000").read_text("utf-8").splitlines() if len(line) > 30][3:9]
    new = novel_sentences(3)
    body = [known[0], new[0], known[1], known[2], new[1], known[3], new[2], known[4]]
    (work / "seeds" / "new-coverage.txt").write_text("新的报道\n\n" + "\n\n".join(body) + "\n", encoding="utf-8")
    settled(work / "seeds" / "new-coverage.txt")
    payload = digest_json(work)
    assert sorted(NORM.key(c["text"]) for c in payload["claims"]) == sorted(NORM.key(s) for s in new)
    (doc,) = payload["documents"]
    assert doc["title"] == "新的报道" and doc["new_claims"] == 3


def test_changed_file_reports_only_its_new_claims(work: Path) -> None:
    assert cli("digest", cwd=work).returncode == 0
    target = work / "seeds" / seed("002").name
    addition = novel_sentences(5)[3]
    target.write_text(target.read_text("utf-8") + "\n" + addition + "\n", encoding="utf-8")
    settled(target)
    payload = digest_json(work)
    assert [NORM.key(c["text"]) for c in payload["claims"]] == [NORM.key(addition)]


def test_gbk_and_big5_files_decode(work: Path) -> None:
    assert cli("digest", cwd=work).returncode == 0
    simplified = seed("004").read_text("utf-8")
    traditional = "\n".join(
        line for line in seed("000").read_text("utf-8").splitlines() if _encodes(line, "big5")
    )
    (work / "seeds" / "gbk-copy.txt").write_bytes(simplified.encode("gbk", errors="ignore"))
    (work / "seeds" / "big5-copy.html").write_bytes(
        ("<html><body><article>" + "".join(f"<p>{p}</p>" for p in traditional.splitlines()[1:])
         + "</article></body></html>").encode("big5")
    )
    settled(work / "seeds" / "gbk-copy.txt", work / "seeds" / "big5-copy.html")
    res = cli("extract", "--format", "json", str(work / "seeds" / "gbk-copy.txt"),
              str(work / "seeds" / "big5-copy.html"), cwd=work)
    assert res.returncode == 0, res.stderr
    rows = [json.loads(line) for line in res.stdout.splitlines()]
    assert "黄仁勋" in rows[0]["text"] and "\ufffd" not in rows[0]["text"]
    assert "黃仁勳" in rows[1]["text"] and "\ufffd" not in rows[1]["text"]
    # decoded right, both copies are reprints: nothing new
    assert digest_json(work)["claims"] == []


def _encodes(text: str, encoding: str) -> bool:
    try:
        text.encode(encoding)
    except UnicodeEncodeError:
        return False
    return True


def test_binary_and_empty_files_are_skipped_with_a_warning(work: Path) -> None:
    (work / "seeds" / "broken.html").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8)
    (work / "seeds" / "empty.txt").write_bytes(b"")
    settled(work / "seeds" / "broken.html", work / "seeds" / "empty.txt")
    (work / "seeds" / ".hidden.txt").write_text("隐藏文件不是文档，不应被读取。" * 3, encoding="utf-8")
    (work / "seeds" / "draft.txt.swp").write_bytes(b"\x00\x01")
    res = cli("digest", cwd=work)
    assert res.returncode == 0, res.stderr
    warnings = [line for line in res.stderr.splitlines() if "warning" in line]
    assert len(warnings) == 2
    assert any("broken.html" in w for w in warnings) and any("empty.txt" in w for w in warnings)
    assert "Scanned 7 documents" in res.stdout and len(eml_files(work)) == 1


def test_html_escaping_holds_in_the_email(work: Path) -> None:
    (work / "seeds").mkdir(exist_ok=True)
    shutil.rmtree(work / "seeds")
    (work / "seeds").mkdir()
    (work / "seeds" / "x.txt").write_text(
        "注入测试\n\n据称页面里出现了<script>alert(1)</script>这样一段文字，需要原样显示。\n", encoding="utf-8"
    )
    settled(work / "seeds" / "x.txt")
    assert cli("digest", cwd=work).returncode == 0
    text, html = parts(parse(eml_files(work)[0]))
    assert "<script>alert(1)</script>" in text
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_formats_of_a_real_run_and_options_override_the_config(tmp_path: Path) -> None:
    store, outbox = tmp_path / "elsewhere" / "s.sqlite3", tmp_path / "mail"
    res = cli("digest", "--folder", str(SEEDS), "--store", str(store), "--outbox", str(outbox),
              "--format", "email", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith(("Subject:", "Content-Type:", "MIME-Version:", "From:", "To:", "Date:", "Message-ID:"))
    assert store.exists() and len(list(outbox.glob("*.eml"))) == 1
    status = cli("status", "--store", str(store), cwd=tmp_path)
    assert "Documents: 5" in status.stdout and "0 not yet reported" in status.stdout
    assert "Last digest:" in status.stdout and str(outbox) in status.stdout


def test_config_errors_exit_2_naming_file_and_key(work: Path) -> None:
    (work / "bad.toml").write_text('[store]\npath = 3\n[digest]\ncolour = "red"\n', encoding="utf-8")
    res = cli("--config", "bad.toml", "digest", cwd=work)
    assert res.returncode == 2
    assert "bad.toml" in res.stderr and "store.path" in res.stderr and "digest.colour" in res.stderr
    # --config after the command name too
    assert cli("scan", "--config", "bad.toml", cwd=work).returncode == 2
    assert cli("digest", "--format", "pdf", cwd=work).returncode == 2
    assert cli("--config", "missing.toml", "status", cwd=work).returncode == 2


def test_scan_ingests_without_delivering_and_check_config_describes(work: Path) -> None:
    res = cli("scan", cwd=work)
    assert res.returncode == 0 and "new claims" in res.stdout
    assert not eml_files(work)
    check = cli("check-config", cwd=work)
    assert check.returncode == 0 and "seeds" in check.stdout


def test_store_failure_exits_1_with_one_message(work: Path) -> None:
    (work / "var").mkdir()
    (work / "var" / "monitor.sqlite3").write_bytes(b"not a database at all" * 200)
    res = cli("digest", cwd=work)
    assert res.returncode == 1
    assert res.stderr.count("error") == 1 and "monitor.sqlite3" in res.stderr


def _smtp_config(work: Path, server: SmtpServer) -> Path:
    path = work / "corpus-monitor.toml"
    path.write_text(
        f'[digest]\nfrom = "monitor@example.org"\nto = ["a@example.org", "b@example.org"]\n'
        f'[smtp]\nhost = "{server.host}"\nport = {server.port}\nsecurity = "none"\ntimeout_seconds = 10\n',
        encoding="utf-8",
    )
    return path


def test_digest_by_smtp_reaches_a_real_server(work: Path, smtp_server: SmtpServer, spot: StoreSpot) -> None:
    """On either backend (``--store``): the seeds' claims, as many as the library finds, once; then nothing new."""
    _smtp_config(work, smtp_server)
    res = cli("digest", *spot.args, cwd=work)
    assert res.returncode == 0, res.stderr
    assert f"smtp://{smtp_server.host}:{smtp_server.port}" in res.stdout
    (msg,) = smtp_server.messages
    assert smtp_server.recipients == [["a@example.org", "b@example.org"]]
    text, html = parts(msg)
    assert f"new claims: {seed_claims()} · documents: 5" in text and "Highlights" in html
    assert not eml_files(work)
    again = cli("digest", *spot.args, cwd=work)
    assert again.returncode == 0, again.stderr
    assert "Nothing new" in again.stdout and len(smtp_server.messages) == 1
    status = json.loads(cli("status", "--format", "json", *spot.args, cwd=work).stdout)
    assert (status["documents"], status["claims"], status["unreported"]) == (5, seed_claims(), 0)
    assert (status["delivered_digests"], status["pending_digests"]) == (1, 0)


def test_failed_delivery_marks_nothing_and_the_claims_come_again(work: Path, smtp_server: SmtpServer) -> None:
    _smtp_config(work, smtp_server)
    smtp_server.refuse["DATA"] = "451 4.3.0 try again later"
    failed = cli("digest", cwd=work)
    assert failed.returncode == 1
    assert f"{smtp_server.host}:{smtp_server.port}" in failed.stderr and "451" in failed.stderr
    db = sqlite3.connect(work / "var" / "monitor.sqlite3")
    unreported, total = db.execute("SELECT count(*) FILTER (WHERE digest_id IS NULL), count(*) FROM claims").fetchone()
    assert unreported == total > 0
    del smtp_server.refuse["DATA"]
    ok = cli("digest", cwd=work)
    assert ok.returncode == 0, ok.stderr
    (msg,) = smtp_server.messages
    assert f"{total} new claims" in str(msg["Subject"])
    assert db.execute("SELECT count(*) FROM claims WHERE digest_id IS NULL").fetchone() == (0,)
    assert "Nothing new" in cli("digest", cwd=work).stdout and len(smtp_server.messages) == 1


def test_a_file_still_being_written_waits_for_the_next_run(work: Path) -> None:
    (work / "corpus-monitor.toml").write_text(
        '[[sources]]\nkind = "folder"\npath = "seeds"\nsettle_seconds = 3600\n', encoding="utf-8"
    )
    for path in (work / "seeds").iterdir():
        os.utime(path, (1722300000, 1722300000))  # settled long ago
    fresh = work / "seeds" / "fresh.txt"
    fresh.write_text("新稿\n\n" + "\n".join(novel_sentences(2)) + "\n", encoding="utf-8")
    res = cli("digest", cwd=work)
    assert res.returncode == 0, res.stderr
    assert "fresh.txt" in res.stderr and "still being written" in res.stderr
    assert "Documents: 5" in cli("status", cwd=work).stdout


def _dated_page(day: str, title: str, sentences: list[str]) -> str:
    body = "".join(f"<p>{s}</p>" for s in sentences)
    return (f'<html><head><meta charset="utf-8"><title>{title}</title>'
            f'<meta property="article:published_time" content="{day}T08:00:00+08:00"></head>'
            f"<body><article><h1>{title}</h1>{body}</article></body></html>")


def test_json_is_utf8_and_lists_documents_in_date_order(work: Path) -> None:
    assert cli("digest", cwd=work).returncode == 0
    first, second, third = novel_sentences(3)
    pages = {"a.html": ("2024-07-29", "最早的报道", [first, second]),
             "b.html": ("2024-07-31", "最晚的报道", [third]),
             "c.html": ("2024-07-30", "中间的转载", [first])}  # only a reprint: no new claim of its own
    for name, (day, title, sentences) in pages.items():
        (work / "seeds" / name).write_text(_dated_page(day, title, sentences), encoding="utf-8")
        settled(work / "seeds" / name)
    res = cli("digest", "--dry-run", "--format", "json", cwd=work)
    assert res.returncode == 0, res.stderr
    assert "\\u" not in res.stdout and "最早的报道" in res.stdout  # CJK as UTF-8, not escaped
    payload = json.loads(res.stdout)
    # every document named, the reprint too, in order of date
    assert [d["title"] for d in payload["documents"]] == ["最早的报道", "中间的转载", "最晚的报道"]
    assert [d["new_claims"] for d in payload["documents"]] == [2, 0, 1]
    status = cli("status", "--format", "json", cwd=work)
    assert "\\u" not in status.stdout


def test_formats_with_nothing_new_print_what_a_script_expects(work: Path) -> None:
    assert cli("digest", cwd=work).returncode == 0
    html = cli("digest", "--dry-run", "--format", "html", cwd=work)
    assert html.returncode == 0 and html.stdout.lstrip().lower().startswith("<!doctype html>")
    assert "</html>" in html.stdout
    email_ = cli("digest", "--dry-run", "--format", "email", cwd=work)
    assert email_.returncode == 0 and email_.stdout == ""
    payload = json.loads(cli("digest", "--dry-run", "--format", "json", cwd=work).stdout)
    assert payload["documents"] == payload["claims"] == []


def test_a_reader_that_stops_early_gets_no_traceback(work: Path) -> None:
    # more than a pipe's buffer (64 KB) of JSON, so the write fails once `head` has gone
    for args in (["digest", "--dry-run", "--format", "json"], ["status"]):
        command = " ".join([sys.executable, "-m", "monitor", *args])
        res = subprocess.run(["bash", "-c", f"{command} | head -c 1 >/dev/null; echo ${{PIPESTATUS[0]}}"],
                             cwd=work, capture_output=True, text=True, timeout=300)
        assert res.stdout.strip() == "0", (args, res.stderr)
        assert "Traceback" not in res.stderr and "BrokenPipe" not in res.stderr, res.stderr


def test_seeds_and_200_reprints_give_a_bounded_email_and_a_whole_archive(work: Path) -> None:
    for n in range(40):  # 200 reprints under other names: every claim carried by 41 documents
        for path in SEEDS.iterdir():
            shutil.copy2(path, work / "seeds" / f"reprint-{n:02d}-{path.name}")
    res = cli("digest", cwd=work)
    assert res.returncode == 0, res.stderr
    (eml,) = eml_files(work)
    raw = eml.read_bytes()
    msg = parse(eml)
    text, html = parts(msg)
    assert len(html.encode()) < 100_000 and len(raw) < 1_000_000
    # the subject names the story: the headline of the document with the most new claims, and the counts
    assert str(msg["Subject"]).endswith(f"— {seed_claims()} new claims from 5 documents")
    assert str(msg["Subject"]).split(" — ")[0] in html
    assert msg["List-Id"] == "corpus-monitor digest <digest.corpus-monitor.localhost>"
    # "also in" names documents a reader can tell apart: 40 reprints under one title are named once
    assert "carried by 41 documents\r\n" in text
    for line in (line for line in text.splitlines() if "also in:" in line):
        named = line.split("also in:")[1].split(";")
        assert len(named) == len(set(named)) <= 4, line
    # the archive holds the whole digest: every claim, every source
    (archived,) = sorted((work / "var" / "archive").glob("*.json"))
    payload = json.loads(archived.read_text("utf-8"))
    assert len(payload["claims"]) == seed_claims() and len(payload["documents"]) == 205
    assert all(len(claim["sources"]) == 41 for claim in payload["claims"][:50])
    whole = archived.with_suffix(".html")
    assert whole.exists() and str(whole) in text and str(whole) in res.stdout
    page = whole.read_text("utf-8")
    assert all(str(escape(claim["text"])) in page for claim in payload["claims"])


def test_the_archive_is_linked_under_its_url_and_a_failed_archive_still_mails(work: Path) -> None:
    (work / "corpus-monitor.toml").write_text(
        '[digest]\narchive = "pub/digests"\narchive_url = "https://example.org/digests/"\n', encoding="utf-8")
    assert cli("digest", cwd=work).returncode == 0
    (archived,) = (work / "pub" / "digests").glob("*.html")
    _, html = parts(parse(eml_files(work)[0]))
    assert f'href="https://example.org/digests/{archived.name}"' in html
    # an archive that cannot be written: one warning naming it, and the digest goes out all the same
    (work / "blocked").write_text("a file where the folder should be", encoding="utf-8")
    (work / "corpus-monitor.toml").write_text('[digest]\narchive = "blocked/digests"\n', encoding="utf-8")
    (work / "seeds" / "new.txt").write_text("新的报道\n\n" + novel_sentences(1)[0] + "\n", encoding="utf-8")
    settled(work / "seeds" / "new.txt")
    res = cli("digest", cwd=work)
    assert res.returncode == 0 and len(eml_files(work)) == 2
    assert res.stderr.count("warning") == 1 and "blocked/digests" in res.stderr and "archive" in res.stderr


def test_baseline_records_the_seeds_as_known_and_mails_only_what_comes_after(work: Path) -> None:
    res = cli("digest", "--baseline", cwd=work)
    assert res.returncode == 0, res.stderr
    assert f"Baseline: {seed_claims()} claims from 5 documents recorded as known; nothing mailed." in res.stdout
    assert res.stdout.count("\n  ") == 5  # one line per document, with its count
    assert not eml_files(work)
    new = novel_sentences(3)
    (work / "seeds" / "after.txt").write_text("新的报道\n\n" + "\n".join(new) + "\n", encoding="utf-8")
    settled(work / "seeds" / "after.txt")
    after = cli("digest", cwd=work)
    assert after.returncode == 0, after.stderr
    (eml,) = eml_files(work)
    assert "3 new claims from 1 document" in str(parse(eml)["Subject"])


def test_first_run_baseline_in_the_config_applies_to_an_empty_store_only(work: Path) -> None:
    (work / "corpus-monitor.toml").write_text('[digest]\nfirst_run = "baseline"\n', encoding="utf-8")
    first = cli("digest", cwd=work)
    assert first.returncode == 0 and f"Baseline: {seed_claims()} claims" in first.stdout and not eml_files(work)
    (work / "seeds" / "after.txt").write_text("新的报道\n\n" + novel_sentences(1)[0] + "\n", encoding="utf-8")
    settled(work / "seeds" / "after.txt")
    second = cli("digest", cwd=work)
    assert "Baseline" not in second.stdout and len(eml_files(work)) == 1


def test_a_completed_sentence_is_reported_not_hidden_by_its_own_fragment(work: Path) -> None:
    """With settle_seconds = 0 a file is read however fresh: the first half of a file written in two parts is
    ingested, cut mid-sentence. Its next version completes the sentence: that is news, not a near-duplicate
    of its own fragment; and a claim other documents carry is never withdrawn."""
    (work / "corpus-monitor.toml").write_text(
        '[[sources]]\nkind = "folder"\npath = "seeds"\nsettle_seconds = 0\n', encoding="utf-8")
    assert cli("digest", cwd=work).returncode == 0
    first, second = novel_sentences(2)
    cut = len(second) * 2 // 3
    path = work / "seeds" / "two-parts.txt"
    path.write_text(f"新稿\n\n{first}\n\n{second[:cut]}", encoding="utf-8")
    half = digest_json(work, "--format", "json")
    assert any(c["text"] == second[:cut] for c in half["claims"])
    assert cli("digest", cwd=work).returncode == 0  # the fragment went out: a file read too early
    path.write_text(f"新稿\n\n{first}\n\n{second}\n", encoding="utf-8")
    whole = digest_json(work)
    assert [c["text"] for c in whole["claims"]] == [second]


def test_a_one_shot_run_waits_for_a_file_being_written_in_two_parts(work: Path) -> None:
    """Default settle_seconds: the writer pauses 3 s mid-sentence while `digest` runs; the run waits for the
    file to settle and reports its complete sentences, no fragment."""
    assert cli("digest", cwd=work).returncode == 0
    first, second = novel_sentences(2)
    path = work / "seeds" / "two-parts.txt"
    with path.open("w", encoding="utf-8") as handle:
        handle.write(f"新稿\n\n{first}\n\n{second[:10]}")
        handle.flush()
        running = subprocess.Popen([sys.executable, "-m", "monitor", "digest"], cwd=work, text=True,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        time.sleep(3)
        handle.write(f"{second[10:]}\n")
    out, err = running.communicate(timeout=60)
    assert running.returncode == 0, err
    assert "2 new claims" in out and "still being written" not in err
    text, _ = parts(parse(eml_files(work)[-1]))
    assert first in text and second in text and f"{second[:10]}\r\n" not in text


def test_a_bad_file_is_one_warning_per_version_and_never_a_failing_folder(work: Path) -> None:
    broken = work / "seeds" / "broken.html"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8)
    settled(broken)
    first = cli("digest", cwd=work)
    assert first.returncode == 0 and first.stderr.count("corpus-monitor: warning:") == 1 and str(broken) in first.stderr
    again = cli("digest", cwd=work)
    assert again.returncode == 0 and "corpus-monitor: warning:" not in again.stderr  # the same version: said once
    status = cli("status", cwd=work)
    assert "Source folder:seeds (folder): ok" in status.stdout and "FAILING" not in status.stdout
    broken.write_bytes(b"\x00" * 64)  # a new version, still unusable: said again, once
    settled(broken)
    assert cli("digest", cwd=work).stderr.count("corpus-monitor: warning:") == 1
    broken.write_text("修好了\n\n" + novel_sentences(1)[0] + "\n", encoding="utf-8")  # fixed: read at last
    settled(broken)
    fixed = cli("digest", cwd=work)
    assert "1 new claim" in fixed.stdout and "corpus-monitor: warning:" not in fixed.stderr


def test_status_names_the_sources_the_store_holds(work: Path) -> None:
    assert cli("digest", "--folder", "seeds", cwd=work).returncode == 0
    assert cli("digest", "--folder", "./seeds/", cwd=work).returncode == 0  # the same folder, written otherwise
    status = json.loads(cli("status", "--format", "json", cwd=work).stdout)
    names = [s["name"] for s in status["sources"]]
    assert names == ["folder:seeds", f"folder:{(work / 'seeds').resolve()}"]
    configured, polled = status["sources"]
    assert configured["configured"] and configured["last_attempt"] is None
    assert not polled["configured"] and polled["last_success"] and polled["failures_in_a_row"] == 0
    assert "not in the config any more" in cli("status", cwd=work).stdout


def test_a_terminal_sees_progress_and_a_pipe_does_not(work: Path) -> None:
    import fcntl
    import pty
    import struct
    import termios

    primary, secondary = pty.openpty()
    fcntl.ioctl(secondary, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # a terminal has a size
    try:
        res = subprocess.run([sys.executable, "-m", "monitor", "digest", "--dry-run", "--format", "json"], cwd=work,
                             stdout=subprocess.PIPE, stderr=secondary, timeout=300)
        os.close(secondary)
        shown = b""
        while True:
            try:
                chunk = os.read(primary, 65536)
            except OSError:  # the terminal's other end is closed: all of it was read
                break
            if not chunk:
                break
            shown += chunk
    finally:
        os.close(primary)
    assert res.returncode == 0 and json.loads(res.stdout)["claims"]
    screen = shown.decode("utf-8", "replace")
    assert "reading folder:seeds" in screen and "/5 [" in screen and "comparing claims" in screen
    piped = cli("digest", "--dry-run", "--format", "json", cwd=work)
    assert "reading" not in piped.stderr and "%|" not in piped.stderr
