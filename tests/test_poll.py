"""The web half of a scan, in process: pipeline.scan over page and feed sources on an injected transport
(httpx.MockTransport), into a real SQLite store. What the end-to-end tests cannot easily provoke."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
from helpers import DEV

from monitor import config, pipeline
from monitor.models import SourceOutcome
from monitor.store import Store

SITE = "http://news.example.cn"
ARTICLE = (DEV / "xinrui-20240730-88231.html").read_bytes()


def settings_for(tmp_path: Path, urls: list[str]) -> config.Settings:
    path = tmp_path / "corpus-monitor.toml"
    sources = "".join(f'[[sources]]\nkind = "page"\nurl = "{url}"\n' for url in urls)
    path.write_text(
        '[store]\npath = "store.sqlite3"\n[http]\nper_host_delay_seconds = 0\nbackoff_seconds = 0\n'
        "respect_robots = false\n" + sources,
        encoding="utf-8",
    )
    return config.load(path, cwd=tmp_path, environ={})


def scan(
    settings: config.Settings, handler: Callable[[httpx.Request], httpx.Response]
) -> tuple[dict[str, SourceOutcome], int]:
    """One scan; the outcomes by source name, and how many claims were new."""
    with Store(settings.store_path) as store:
        deps = pipeline.Deps(store, transport=lambda: httpx.MockTransport(handler))
        outcomes, new = pipeline.scan(settings, deps)
    return {o.source: o for o in outcomes}, new


def test_an_unforeseen_error_on_one_page_is_a_message_and_the_others_are_read(tmp_path: Path) -> None:
    good, bad = f"{SITE}/good.html", f"{SITE}/bad.html"
    settings = settings_for(tmp_path, [good, bad])

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/bad.html":
            raise ValueError("a transport bug")
        return httpx.Response(200, content=ARTICLE, headers={"Content-Type": "text/html; charset=utf-8"})

    outcomes, new = scan(settings, handler)
    assert outcomes[f"page:{bad}"].errors == (f"{bad}: unexpected ValueError: a transport bug",)
    assert outcomes[f"page:{good}"].ingested == 1 and not outcomes[f"page:{good}"].errors
    assert new > 10


def test_a_304_without_validators_keeps_the_stored_ones(tmp_path: Path) -> None:
    """Servers may answer 304 without repeating the ETag: the next request must still be conditional."""
    url = f"{SITE}/a.html"
    settings = settings_for(tmp_path, [url])
    seen: list[str | None] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("If-None-Match"))
        if request.headers.get("If-None-Match") == '"v1"':
            return httpx.Response(304)
        return httpx.Response(200, content=ARTICLE, headers={"Content-Type": "text/html", "ETag": '"v1"'})

    for _ in range(3):
        scan(settings, handler)
    assert seen == [None, '"v1"', '"v1"']


def test_an_unchanged_body_without_validators_is_not_ingested_again(tmp_path: Path) -> None:
    url = f"{SITE}/a.html"
    settings = settings_for(tmp_path, [url])

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=ARTICLE, headers={"Content-Type": "text/html"})

    first, _ = scan(settings, handler)
    second, new = scan(settings, handler)
    assert first[f"page:{url}"].ingested == 1
    assert (second[f"page:{url}"].ingested, second[f"page:{url}"].unchanged, new) == (0, 1, 0)
