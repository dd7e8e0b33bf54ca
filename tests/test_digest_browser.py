"""The HTML digest as a reader sees it: rendered by a real browser (Debian's Chromium, headless, driven by
Playwright) at a desktop width and a phone width, from a real run over the seeds and the dev set's
documents (which contradict the seeds in three figures)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from helpers import DEV, SEEDS

CHROMIUM = Path("/usr/bin/chromium")
WIDTHS = {"desktop": 1200, "phone": 390}

if not CHROMIUM.exists():  # CI installs it (make test does, as root); a developer's machine may lack it
    if os.environ.get("CI"):
        pytest.fail("Chromium is missing at /usr/bin/chromium: install Debian's chromium and fonts-noto-cjk")
    pytest.skip("Chromium is missing at /usr/bin/chromium (apt-get install chromium fonts-noto-cjk)",
                allow_module_level=True)

from playwright.sync_api import Browser, Page, sync_playwright  # noqa: E402


@pytest.fixture(scope="module")
def digest_page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The HTML digest of the dev set's four documents, after the seeds were digested."""
    work = tmp_path_factory.mktemp("browser")
    shutil.copytree(SEEDS, work / "seeds")
    run = [sys.executable, "-m", "monitor", "digest", "--folder", "seeds"]
    assert subprocess.run(run, cwd=work, capture_output=True, timeout=300).returncode == 0
    for name in ("xinrui-20240730-88231.html", "harbourdigital-20240731-5521.html",
                 "xinchao-weekly-20240801.txt", "digipulse-20240731-qa.html"):
        shutil.copy(DEV / name, work / "seeds" / name)
    res = subprocess.run([*run, "--dry-run", "--format", "html"], cwd=work, capture_output=True, text=True,
                         timeout=300)
    assert res.returncode == 0, res.stderr
    page = work / "digest.html"
    page.write_text(res.stdout, encoding="utf-8")
    return page


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--no-first-run"],
        )
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture(params=sorted(WIDTHS), scope="module")
def page(request: pytest.FixtureRequest, browser: Browser, digest_page: Path,
         tmp_path_factory: pytest.TempPathFactory) -> Iterator[Page]:
    width = WIDTHS[request.param]
    context = browser.new_context(viewport={"width": width, "height": 900}, device_scale_factor=1,
                                  offline=True)  # nothing leaves the machine: a digest loads nothing anyway
    tab = context.new_page()
    tab.goto(digest_page.as_uri())
    shot = tmp_path_factory.mktemp("screenshots") / f"digest-{width}.png"
    tab.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000  # something was drawn
    try:
        yield tab
    finally:
        context.close()


def test_nothing_overflows_the_width(page: Page) -> None:
    width = page.viewport_size["width"] if page.viewport_size else 0
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    # nor does any single element reach past the right edge (a long URL, a wide table)
    wide = page.evaluate(
        "[...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > window.innerWidth + 1)"
        ".map(e => e.tagName + ' ' + (e.textContent || '').slice(0, 40))"
    )
    assert wide == []


def test_every_link_is_well_formed(page: Page) -> None:
    links = page.eval_on_selector_all("a[href]", "links => links.map(a => a.getAttribute('href'))")
    assert links
    anchors = set(page.eval_on_selector_all("[id], a[name]", "els => els.map(e => e.id || e.getAttribute('name'))"))
    for href in links:
        if href.startswith("#"):
            assert href[1:] in anchors, href  # a table-of-contents entry points at its document
        else:
            parts = urlsplit(href)
            assert parts.scheme in ("http", "https") and parts.netloc and " " not in href, href


def test_the_summary_and_the_table_of_contents_come_first(page: Page) -> None:
    text = page.inner_text("body")
    assert "new claims" in text and "conflicting figures" in text and "newly corroborated" in text
    numbers = page.eval_on_selector_all("table td div:first-child", "cells => cells.map(c => c.textContent.trim())")
    # the new claims from the dev set's 4 documents: as many as the table of contents counts, document by document
    counts = page.eval_on_selector_all(
        "tr:has(> td > a[href^='#']) > td:last-child", "cells => cells.map(c => c.textContent.trim())"
    )
    assert len(counts) == 4 and numbers[:2] == [str(sum(map(int, counts))), "4"] and int(numbers[0]) > 20
    assert text.index("Highlights") < text.index("Documents") < text.index("Conflicting figures")
    toc = page.eval_on_selector_all("a[href^='#']", "links => links.map(a => a.textContent.trim())")
    assert len([t for t in toc if t]) >= 4


def test_conflicting_figures_are_highlighted_where_they_can_be_seen(page: Page) -> None:
    marks = page.locator("mark")
    assert marks.count() >= 6  # three conflicts, each figure marked in the new and the earlier version
    for index in range(marks.count()):
        mark = marks.nth(index)
        assert mark.is_visible()
        box = mark.bounding_box()
        assert box is not None and box["width"] > 0 and box["x"] + box["width"] <= page.viewport_size["width"]
        background = mark.evaluate("m => getComputedStyle(m).backgroundColor")
        assert background not in ("rgba(0, 0, 0, 0)", "transparent")
