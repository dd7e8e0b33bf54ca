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


def test_articles_are_ingested_as_they_come_with_few_held_at_once(tmp_path: Path) -> None:
    """A feed of many articles: the poll hands them over while it goes on fetching, and never holds more than
    ``[http] concurrency`` of them (being fetched, waiting or being ingested) — the memory of a few articles, not
    of the whole feed. Every article is ingested, each once."""
    count, concurrency = 30, 3
    feed = f"{SITE}/feed.xml"
    path = tmp_path / "corpus-monitor.toml"
    path.write_text(
        f'[store]\npath = "store.sqlite3"\n[http]\nper_host_delay_seconds = 0\nbackoff_seconds = 0\n'
        f"respect_robots = false\nconcurrency = {concurrency}\nper_host_concurrency = {concurrency}\n"
        f'[[sources]]\nkind = "feed"\nurl = "{feed}"\n',
        encoding="utf-8",
    )
    settings = config.load(path, cwd=tmp_path, environ={})
    items = "".join(f"<item><title>a{i}</title><link>{SITE}/a{i}.html</link></item>" for i in range(count))
    requested: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/feed.xml":
            return httpx.Response(200, text=f"<rss version='2.0'><channel><title>t</title>{items}</channel></rss>",
                                  headers={"Content-Type": "application/rss+xml"})
        requested.append(request.url.path)
        n = request.url.path.removeprefix("/a").removesuffix(".html")
        added = f"<p>第{n}号补充报道：黄仁勋在会后表示，英伟达将在第{n}个城市设立实验室，并追加{n}亿美元投资。</p>"
        body = ARTICLE.replace(b"</body>", added.encode() + b"</body>")
        return httpx.Response(200, content=body, headers={"Content-Type": "text/html; charset=utf-8"})

    held: list[int] = []  # at each batch ingested: articles requested, less those ingested in earlier batches
    done = [0]

    def progress(stage: str, ingested: int, total: int) -> None:
        if stage == "comparing claims":
            held.append(len(requested) - done[0])
            done[0] = ingested

    with Store(settings.store_path) as store:
        deps = pipeline.Deps(store, transport=lambda: httpx.MockTransport(handler), progress=progress)
        outcomes, new = pipeline.scan(settings, deps)
        assert store.status().documents == count
    assert outcomes[0].ingested == count and not outcomes[0].errors and not outcomes[0].skipped
    assert len(held) > 1, "ingested in several batches, while the poll went on"
    assert max(held) <= concurrency, held
    assert sorted(requested) == sorted(f"/a{i}.html" for i in range(count))
    assert new > 0
