"""Damaged bytes (issue 12: "a UTF-8 file with one bad byte per KB is skipped whole"): the repository's real texts
and pages with bytes broken on purpose, always the same ones. A few damaged places are decoded as browsers decode
them, one U+FFFD for each maximal subpart of an invalid sequence, and the document's claims come out; heavy damage
is refused with a message saying how heavy; a wrong or stale declaration is still seen through as before."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import DEV, EXTRACTION, SEEDS, seed, settled

from monitor import claims
from monitor.errors import ExtractError
from monitor.extract import _looks_utf8, _lossy, decode, extract
from monitor.keys import key_of
from monitor.models import Fetched
from monitor.normalize import Normalizer

CWCED = EXTRACTION / "cwced_zh" / "html"
MODERN = EXTRACTION / "modern_zh" / "html"
#: the real pages in UTF-8: the dev pages, the modern news pages and a few of the extraction set's
UTF8_PAGES = [
    *sorted(DEV.glob("*.html")),
    *sorted(MODERN.glob("*.html")),
    *(CWCED / f"{name}.html" for name in ("2397c95d-2de8-4ca5-a569-4fffd20b9d50",
                                          "274a65d9-46df-45be-b9f6-4d18ba911427",
                                          "0ef8393b-0415-494c-b608-1d45bb33c6fb")),
]
NORM = Normalizer("t2s")


def damaged(data: bytes, every: int, how: str = "replaced") -> bytes:
    """data with one byte in every ``every`` broken, the first at every // 2: ``replaced`` by 0xFF (never valid in
    UTF-8), or ``lost`` (a character cut short when it is part of one, or a letter missing)."""
    out = bytearray(data)
    for at in reversed(range(every // 2, len(out), every)):
        if how == "replaced":
            out[at] = 0xFF
        else:
            del out[at]
    return bytes(out)


def fetched(data: bytes, kind: str, locator: str = "mem://doc", hint: str | None = None) -> Fetched:
    return Fetched(locator=locator, data=data, content_hash=hashlib.sha256(data).hexdigest(),
                   source="test", kind=kind, charset_hint=hint)


def kind_of(path: Path) -> str:
    return "html" if path.suffix == ".html" else "text"


def redeclared(data: bytes, label: str) -> bytes:
    """A page whose charset declarations in its first 2 KB name ``label`` instead."""
    head = re.sub(rb"((?:charset|encoding)\s*=\s*[\"']?\s*)[\w.:-]+", rb"\g<1>" + label.encode(), data[:2048],
                  flags=re.IGNORECASE)
    assert label.encode() in head
    return head + data[2048:]


def is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


#: the extraction set's pages in GBK (the others are UTF-8)
GBK_PAGES = [path for path in sorted(CWCED.glob("*.html")) if not is_utf8(path.read_bytes())]


def letters(text: str) -> str:
    return key_of(text.replace("\ufffd", ""))


# --- a few damaged places: decoded with replacement --------------------------------------------------------------

@pytest.mark.parametrize("how", ["replaced", "lost"])
@pytest.mark.parametrize("path", [*sorted(SEEDS.glob("*.txt")), *sorted(DEV.glob("*.txt")), *UTF8_PAGES],
                         ids=lambda p: p.name[:24])
def test_utf8_with_a_bad_byte_a_kb_is_decoded_with_replacement(path: Path, how: str) -> None:
    data = path.read_bytes()
    broken = damaged(data, 1024, how)
    text, encoding = decode(broken, html=kind_of(path) == "html")
    # as browsers decode it (the WHATWG decoder; Python's UTF-8 decoder writes U+FFFD the same way), less a byte
    # order mark (274a65d9 has one)
    assert (text, encoding) == (broken.decode("utf-8-sig", "replace"), "utf-8")
    if how == "replaced":
        assert text.count("\ufffd") >= len(data) // 1024
    doc = extract(fetched(broken, kind_of(path), str(path)))
    assert doc.encoding == "utf-8" and doc.title and doc.text
    if kind_of(path) == "text":
        # the text is the document's, less the broken characters (in a page, a broken tag can change what
        # trafilatura takes for the main text: that is the markup's damage, not the decoding's)
        whole = extract(fetched(data, "text", str(path)))
        assert len(letters(doc.text)) > 0.97 * len(letters(whole.text))


@pytest.mark.parametrize("prefix", ["000", "003", "004"])
def test_claims_come_out_of_a_damaged_text_with_the_damage_shown(prefix: str) -> None:
    data = seed(prefix).read_bytes()
    whole = extract(fetched(data, "text"))
    doc = extract(fetched(damaged(data, 1024), "text"))
    found, _ = claims.split(doc.text, NORM.normalize_many, key_of)
    expected, _ = claims.split(whole.text, NORM.normalize_many, key_of)
    assert len(found) >= 0.9 * len(expected)
    shown = [claim for claim in found if "\ufffd" in claim.text]
    assert shown  # a reader sees where a character was lost
    # the damage is no letter of the matching key: the rest of such a claim matches as it did
    assert all("\ufffd" not in claim.key and claim.key for claim in found)
    keys = {claim.key for claim in expected}
    assert sum(claim.key in keys for claim in found) >= len(found) - 2 * len(shown)


def test_a_damaged_utf8_page_beats_its_stale_legacy_declaration() -> None:
    """readability-qq declares gb2312 and is UTF-8: whole, strict UTF-8 won already; damaged, the detector read it
    as a Cyrillic charset. Nearly valid UTF-8 is UTF-8, whatever the page says."""
    path = MODERN / "readability-qq.html"
    data = path.read_bytes()
    assert b'charset=gb2312"' in data[:2048]
    broken = damaged(data, 1024)
    assert decode(broken) == (broken.decode("utf-8", "replace"), "utf-8")
    assert decode(broken, hint="gbk")[1] == "utf-8"
    assert decode(damaged(seed("003").read_bytes(), 1024), hint="big5", html=False)[1] == "utf-8"


def test_a_mostly_english_utf8_page_with_a_bad_byte_is_still_utf8() -> None:
    """Two curly quotes are too few to tell UTF-8 by its characters: a page declaring UTF-8 is held to the legacy
    bar, as before, and passes it."""
    body = " ".join(["The committee said on Tuesday that the new rules would apply from next year."] * 40)
    page = f'<html><head><meta charset="utf-8"><title>Rules</title></head><body><p>\u201cWe agree,\u201d she said. ' \
           f"{body}</p></body></html>"
    data = page.encode()
    broken = data[:900] + b"\xff" + data[901:]
    assert decode(broken) == (broken.decode("utf-8", "replace"), "utf-8")


def test_a_damaged_file_with_a_byte_order_mark() -> None:
    raw = seed("003").read_text("utf-8")
    plain = extract(fetched(raw.encode("utf-8"), "text"))
    doc = extract(fetched(damaged(raw.encode("utf-8-sig"), 1024), "text"))
    assert doc.encoding == "utf-8" and "\ufffd" in doc.text and doc.title == plain.title
    with pytest.raises(ExtractError, match=r"invalid utf-8-sig after its byte order mark: \d+ invalid byte sequences "
                                           r"in \d+ characters, more than one in 100"):
        extract(fetched(damaged(raw.encode("utf-8-sig"), 50), "text"))


# --- heavy damage: refused, saying how heavy -----------------------------------------------------------------------

@pytest.mark.parametrize("every", [150, 50, 20])
@pytest.mark.parametrize("prefix", ["000", "003"])
def test_heavily_damaged_utf8_is_refused_saying_how_damaged(prefix: str, every: int) -> None:
    path = seed(prefix)
    with pytest.raises(ExtractError) as caught:
        extract(fetched(damaged(path.read_bytes(), every), "text", str(path)))
    assert caught.value.locator == str(path)
    assert re.fullmatch(r"damaged UTF-8: \d+ invalid byte sequences in \d+ characters, more than one in 100",
                        caught.value.reason)


def test_a_damaged_file_is_read_and_a_ruined_one_is_one_warning_through_the_command_line(work: Path) -> None:
    """Before, the file with a bad byte a KB was skipped whole, with a warning; now its claims are reported."""
    target = work / "seeds" / seed("003").name
    target.write_bytes(damaged(target.read_bytes(), 1024))
    ruined = work / "seeds" / "ruined.txt"
    ruined.write_bytes(damaged(seed("000").read_bytes(), 20))
    settled(target, ruined)
    res = subprocess.run([sys.executable, "-m", "monitor", "digest", "--dry-run", "--format", "json"], cwd=work,
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    (warning,) = [line for line in res.stderr.splitlines() if line.startswith("corpus-monitor: warning:")]
    assert str(ruined) in warning and "damaged UTF-8" in warning and "more than one in 100" in warning
    payload = json.loads(res.stdout)
    assert any(doc["path"] == str(target) and doc["new_claims"] > 20 for doc in payload["documents"])
    assert any("\ufffd" in claim["text"] for claim in payload["claims"])


# --- a wrong or stale declaration: seen through as before ----------------------------------------------------------

def test_no_legacy_page_passes_for_damaged_utf8() -> None:
    """Every GBK page of the extraction set read as UTF-8 has about one damaged place for each character it decodes
    (0.87 to 1.4): far from the four characters a damaged place damaged UTF-8 has at least."""
    assert len(GBK_PAGES) == 47
    for path in GBK_PAGES:
        assert not _looks_utf8(_lossy(path.read_bytes(), "utf-8")), path.name
        assert not _looks_utf8(_lossy(damaged(path.read_bytes(), 1024), "utf-8")), path.name


@pytest.mark.parametrize("name", ["33a95b71-b49b-42c1-9c0a-ab8e3feba3cf", "e3f3b532-95de-433e-a4b5-ad51bb981c96"])
@pytest.mark.parametrize("label", ["utf-8", "iso-8859-1"])
def test_a_gbk_page_declaring_another_charset_is_still_read_as_gbk(name: str, label: str) -> None:
    data = redeclared((CWCED / f"{name}.html").read_bytes(), label)
    assert decode(data) == (data.decode("gb18030"), "gb18030")
    assert decode(data, hint=label) == (data.decode("gb18030"), "gb18030")


@pytest.mark.parametrize(("name", "label"), [("3832838a-d7ea-4da5-86ac-90de11124ab6", "euc-kr"),
                                             ("ecbe8d49-c640-4a08-b46d-f8b795f836ba", "big5"),
                                             ("f70d9c97-9d64-415e-a7e4-840c9258eaf5", "euc-kr")])
def test_a_legacy_charset_keeps_its_bar(name: str, label: str) -> None:
    """Invalid sequences tell GBK from Big5 or Korean bytes poorly: counted as damaged places against the looser UTF-8
    bar, these GBK pages declaring another legacy charset were read in it, as mojibake."""
    data = redeclared((CWCED / f"{name}.html").read_bytes(), label)
    assert decode(data)[1] == "gb18030"


@pytest.mark.parametrize(("prefix", "codec", "family"), [("000", "big5", ("big5hkscs", "cp950")),
                                                        ("004", "gbk", ("gb18030",))])
def test_legacy_text_with_a_wrong_hint_is_still_detected(prefix: str, codec: str, family: tuple[str, ...]) -> None:
    raw = seed(prefix).read_text("utf-8").encode(codec, errors="ignore")
    for hint in ("utf-8", None):
        text, encoding = decode(raw, hint=hint, html=False)
        assert encoding in family and text == raw.decode(encoding)
