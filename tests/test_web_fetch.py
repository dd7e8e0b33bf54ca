"""The web fetcher (``monitor.sources.web``) against respx-mocked servers: conditional requests,
identity headers, retries and Retry-After, the body cap, redirects, robots.txt, politeness and
charsets, down to the text ``extract`` makes of a fetched legacy-encoded page.

Nothing here sleeps: every Fetcher gets a fake clock whose ``sleep`` records the wait and moves
``monotonic`` on. respx patches httpcore, so the client is built on httpx's own transport; the one
test that needs a real transport (a redirect to ftp://) runs a server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import hashlib
import re
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime
from typing import TypeVar

import httpx
import pytest
import respx
from aiohttp import web as aioweb
from conftest import TlsPair
from helpers import DEV

from monitor.errors import FetchError
from monitor.extract import extract
from monitor.models import Fetched, HttpPolicy, RobotsFile, Validators, WebResponse
from monitor.sources import web

T = TypeVar("T")

POLICY = HttpPolicy(
    user_agent="corpus-monitor/0.1 (+ops@example.com)", contact="ops@example.com",
    per_host_delay_seconds=0, retries=2, backoff_seconds=1.0, respect_robots=False,
)
ROBOTS = replace(POLICY, respect_robots=True)
SITE = "https://news.example.cn"
PAGE = f"{SITE}/ai/2024/07/30/88231.html"


#: one TLS context for every test client: building one per client loads the CA bundle each time
_TLS = ssl.create_default_context()


class Clock:
    """A fake monotonic clock; ``sleep`` records each wait and moves the clock on by it."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.waits: list[float] = []
        #: when each sleep ended, on this clock
        self.wakes: list[float] = []

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.now += seconds
        self.wakes.append(self.now)


@pytest.fixture
def router() -> Iterator[respx.MockRouter]:
    """respx over httpcore; an unmocked request fails the test instead of reaching the network."""
    with respx.mock(assert_all_called=False) as mock:
        yield mock


def run(
    policy: HttpPolicy,
    use: Callable[[web.Fetcher], Awaitable[T]],
    clock: Clock | None = None,
    *,
    robots: dict[str, RobotsFile] | None = None,
    wall_clock: Callable[[], float] | None = None,
) -> T:
    """Run ``use`` with a Fetcher on the respx-patchable httpx transport (for trusted and learnt URLs alike), in a
    fresh event loop."""
    clock = clock or Clock()

    async def main() -> T:
        async with httpx.AsyncHTTPTransport(verify=_TLS) as http:
            fetcher = web.Fetcher(http, policy, learnt=http, robots=robots, sleep=clock.sleep,
                                  monotonic=clock.monotonic, wall_clock=wall_clock or (lambda: 0.0))
            return await use(fetcher)

    return asyncio.run(main())


def fetch(
    policy: HttpPolicy,
    url: str,
    clock: Clock | None = None,
    *,
    validators: Validators | None = None,
    accept: str = web.ACCEPT_HTML,
    headers: dict[str, str] | None = None,
) -> WebResponse:
    return run(policy, lambda f: f.fetch(url, validators, accept=accept, headers=headers), clock)


def fetch_error(policy: HttpPolicy, url: str, clock: Clock | None = None) -> FetchError:
    with pytest.raises(FetchError) as caught:
        fetch(policy, url, clock)
    return caught.value


def ok(body: bytes = b"<html><body><p>hello</p></body></html>", **headers: str) -> httpx.Response:
    return httpx.Response(200, content=body, headers={"Content-Type": "text/html", **headers})


# --- conditional requests ----------------------------------------------------------------------

def test_validators_make_the_request_conditional_and_a_304_is_not_modified(router: respx.MockRouter) -> None:
    route = router.get(PAGE).mock(return_value=httpx.Response(304, headers={"ETag": '"v1"'}))
    validators = Validators(etag='"v1"', last_modified="Tue, 30 Jul 2024 10:00:00 GMT")
    resp = fetch(POLICY, PAGE, validators=validators)
    sent = route.calls.last.request.headers
    assert sent["If-None-Match"] == '"v1"'
    assert sent["If-Modified-Since"] == "Tue, 30 Jul 2024 10:00:00 GMT"
    assert resp.status == 304 and resp.not_modified
    assert resp.data == b"" and not resp.truncated


def test_without_validators_no_conditional_header_is_sent(router: respx.MockRouter) -> None:
    route = router.get(PAGE).mock(return_value=ok())
    for validators in (None, Validators(), Validators(content_hash="ab" * 32)):
        resp = fetch(POLICY, PAGE, validators=validators)
        sent = route.calls.last.request.headers
        assert "If-None-Match" not in sent and "If-Modified-Since" not in sent
        assert resp.status == 200 and not resp.not_modified
    assert route.call_count == 3


def test_an_etag_alone_sends_only_if_none_match(router: respx.MockRouter) -> None:
    route = router.get(PAGE).mock(return_value=ok())
    fetch(POLICY, PAGE, validators=Validators(etag='W/"7"'))
    sent = route.calls.last.request.headers
    assert sent["If-None-Match"] == 'W/"7"' and "If-Modified-Since" not in sent


def test_a_200_returns_its_body_and_validators(router: respx.MockRouter) -> None:
    body = "<html><body><p>黄仁勋对谈扎克伯格</p></body></html>".encode()
    router.get(PAGE).mock(return_value=ok(body, ETag='"v2"', **{"Last-Modified": "Wed, 31 Jul 2024 08:00:00 GMT"}))
    resp = fetch(POLICY, PAGE)
    assert (resp.status, resp.data, resp.url, resp.final_url) == (200, body, PAGE, PAGE)
    assert resp.etag == '"v2"' and resp.last_modified == "Wed, 31 Jul 2024 08:00:00 GMT"
    assert not resp.not_modified and not resp.truncated


def test_a_200_without_validators_returns_none_for_them(router: respx.MockRouter) -> None:
    router.get(PAGE).mock(return_value=ok())
    resp = fetch(POLICY, PAGE)
    assert resp.etag is None and resp.last_modified is None


# --- identity ----------------------------------------------------------------------------------

def test_user_agent_from_accept_and_extra_headers_are_sent(router: respx.MockRouter) -> None:
    route = router.get(PAGE).mock(return_value=ok())
    fetch(POLICY, PAGE, headers={"Accept-Language": "zh-CN", "X-Probe": "1"})
    sent = route.calls.last.request.headers
    assert sent["User-Agent"] == "corpus-monitor/0.1 (+ops@example.com)"
    assert sent["From"] == "ops@example.com"
    assert sent["Accept"] == web.ACCEPT_HTML
    assert sent["Accept-Language"] == "zh-CN" and sent["X-Probe"] == "1"


def test_accept_can_be_set_per_call(router: respx.MockRouter) -> None:
    route = router.get(f"{SITE}/rss.xml").mock(return_value=ok(b"<rss/>"))
    fetch(POLICY, f"{SITE}/rss.xml", accept=web.ACCEPT_FEED)
    assert route.calls.last.request.headers["Accept"] == web.ACCEPT_FEED


def test_no_contact_means_no_from_header(router: respx.MockRouter) -> None:
    route = router.get(PAGE).mock(return_value=ok())
    fetch(replace(POLICY, contact=None), PAGE)
    sent = route.calls.last.request.headers
    assert "From" not in sent and sent["User-Agent"] == POLICY.user_agent


# --- retries -----------------------------------------------------------------------------------

def test_a_503_then_a_200_is_retried_once_after_the_backoff(router: respx.MockRouter) -> None:
    route = router.get(PAGE).mock(side_effect=[httpx.Response(503), ok(b"second")])
    clock = Clock()
    resp = fetch(POLICY, PAGE, clock)
    assert resp.status == 200 and resp.data == b"second"
    assert route.call_count == 2
    assert clock.waits == [1.0]


def test_three_503s_give_up_with_doubling_waits(router: respx.MockRouter) -> None:
    route = router.get(PAGE).mock(return_value=httpx.Response(503))
    clock = Clock()
    error = fetch_error(POLICY, PAGE, clock)
    assert PAGE in str(error) and "503" in str(error) and "gave up after 3 attempts" in str(error)
    assert error.locator == PAGE and not error.permanent
    assert route.call_count == 3
    assert clock.waits == [1.0, 2.0]


def test_with_no_retries_a_503_fails_after_one_attempt(router: respx.MockRouter) -> None:
    route = router.get(PAGE).mock(return_value=httpx.Response(503))
    clock = Clock()
    error = fetch_error(replace(POLICY, retries=0), PAGE, clock)
    assert "503" in str(error) and "gave up" not in str(error)
    assert route.call_count == 1 and clock.waits == []


def test_retry_after_in_seconds_is_the_wait(router: respx.MockRouter) -> None:
    route = router.get(PAGE).mock(side_effect=[httpx.Response(429, headers={"Retry-After": "7"}), ok()])
    clock = Clock()
    assert fetch(POLICY, PAGE, clock).status == 200
    assert route.call_count == 2 and clock.waits == [7.0]


def test_retry_after_as_an_http_date_counts_from_the_wall_clock(router: respx.MockRouter) -> None:
    router.get(PAGE).mock(side_effect=[
        httpx.Response(429, headers={"Retry-After": "Tue, 30 Jul 2024 10:00:12 GMT"}), ok(),
    ])
    now = datetime(2024, 7, 30, 10, 0, 0, tzinfo=UTC).timestamp()
    clock = Clock()
    resp = run(POLICY, lambda f: f.fetch(PAGE), clock, wall_clock=lambda: now)
    assert resp.status == 200 and clock.waits == [12.0]


def test_a_retry_after_date_in_the_past_retries_at_once(router: respx.MockRouter) -> None:
    route = router.get(PAGE).mock(side_effect=[
        httpx.Response(503, headers={"Retry-After": "Tue, 30 Jul 2024 09:00:00 GMT"}), ok(),
    ])
    now = datetime(2024, 7, 30, 10, 0, 0, tzinfo=UTC).timestamp()
    clock = Clock()
    assert run(POLICY, lambda f: f.fetch(PAGE), clock, wall_clock=lambda: now).status == 200
    assert route.call_count == 2 and clock.waits == [0.0]


def test_an_unreadable_retry_after_falls_back_to_the_backoff(router: respx.MockRouter) -> None:
    router.get(PAGE).mock(side_effect=[httpx.Response(503, headers={"Retry-After": "soon"}), ok()])
    clock = Clock()
    assert fetch(POLICY, PAGE, clock).status == 200
    assert clock.waits == [1.0]


def test_a_retry_after_beyond_the_limit_fails_at_once(router: respx.MockRouter) -> None:
    route = router.get(PAGE).mock(return_value=httpx.Response(429, headers={"Retry-After": "120"}))
    clock = Clock()
    error = fetch_error(replace(POLICY, max_retry_after_seconds=60), PAGE, clock)
    assert PAGE in str(error) and "429" in str(error) and "120 s" in str(error)
    assert not error.permanent
    assert route.call_count == 1 and clock.waits == []


def test_a_connection_error_is_retried(router: respx.MockRouter) -> None:
    route = router.get(PAGE).mock(side_effect=[httpx.ConnectError, ok(b"back")])
    clock = Clock()
    resp = fetch(POLICY, PAGE, clock)
    assert resp.data == b"back" and route.call_count == 2 and clock.waits == [1.0]


def test_connection_errors_to_the_end_fail_naming_the_url(router: respx.MockRouter) -> None:
    route = router.get(PAGE).mock(side_effect=httpx.ConnectError)
    error = fetch_error(POLICY, PAGE)
    assert PAGE in str(error) and "connection failed" in str(error) and "gave up after 3 attempts" in str(error)
    assert route.call_count == 3 and not error.permanent and error.status is None


@pytest.mark.parametrize("timeout", [httpx.ConnectTimeout, httpx.ReadTimeout, httpx.PoolTimeout])
def test_a_timeout_is_retried(router: respx.MockRouter, timeout: type[httpx.TimeoutException]) -> None:
    route = router.get(PAGE).mock(side_effect=[timeout, timeout, ok(b"late")])
    clock = Clock()
    resp = fetch(POLICY, PAGE, clock)
    assert resp.data == b"late" and route.call_count == 3 and clock.waits == [1.0, 2.0]


def test_timeouts_to_the_end_say_so(router: respx.MockRouter) -> None:
    router.get(PAGE).mock(side_effect=httpx.ReadTimeout)
    error = fetch_error(replace(POLICY, timeout_seconds=20), PAGE)
    assert "timed out after 20 s" in str(error) and "gave up after 3 attempts" in str(error)


@pytest.mark.parametrize("status", [400, 401, 403, 404, 410, 451])
def test_a_4xx_is_permanent_and_never_retried(router: respx.MockRouter, status: int) -> None:
    route = router.get(PAGE).mock(return_value=httpx.Response(status, content=b"<html>gone</html>"))
    clock = Clock()
    error = fetch_error(POLICY, PAGE, clock)
    assert error.permanent and error.status == status
    assert PAGE in str(error) and str(status) in str(error)
    assert route.call_count == 1 and clock.waits == []


def test_an_unexpected_status_fails_without_a_retry(router: respx.MockRouter) -> None:
    route = router.get(PAGE).mock(return_value=httpx.Response(302))  # a redirect with no Location
    clock = Clock()
    error = fetch_error(POLICY, PAGE, clock)
    assert "unexpected HTTP 302" in str(error) and PAGE in str(error)
    assert route.call_count == 1 and clock.waits == []


@pytest.mark.parametrize("status", [408, 500, 502, 504])
def test_other_transient_statuses_are_retried(router: respx.MockRouter, status: int) -> None:
    route = router.get(PAGE).mock(side_effect=[httpx.Response(status), ok()])
    assert fetch(POLICY, PAGE).status == 200 and route.call_count == 2


# --- the body cap ------------------------------------------------------------------------------

def test_a_body_over_the_cap_is_cut_off_and_marked(router: respx.MockRouter) -> None:
    body = bytes(range(256)) * 40
    router.get(PAGE).mock(return_value=ok(body))
    resp = fetch(replace(POLICY, max_bytes=1000), PAGE)
    assert resp.truncated and len(resp.data) == 1000 and resp.data == body[:1000]


@pytest.mark.parametrize("size", [0, 999, 1000])
def test_a_body_up_to_the_cap_is_complete(router: respx.MockRouter, size: int) -> None:
    body = b"x" * size
    router.get(PAGE).mock(return_value=ok(body))
    resp = fetch(replace(POLICY, max_bytes=1000), PAGE)
    assert not resp.truncated and resp.data == body


def test_the_cap_counts_decompressed_bytes(router: respx.MockRouter) -> None:
    body = b"<p>" + "新".encode() * 100_000 + b"</p>"
    compressed = gzip.compress(body)
    assert len(compressed) < 2000
    router.get(PAGE).mock(return_value=ok(compressed, **{"Content-Encoding": "gzip"}))
    resp = fetch(replace(POLICY, max_bytes=5000), PAGE)
    assert resp.truncated and resp.data == body[:5000]


# --- redirects ---------------------------------------------------------------------------------

def test_a_redirect_is_followed_to_the_final_url(router: respx.MockRouter) -> None:
    final = f"{SITE}/ai/2024/07/30/88231-full.html"
    router.get(PAGE).mock(return_value=httpx.Response(301, headers={"Location": "/ai/2024/07/30/88231-full.html"}))
    router.get(final).mock(return_value=ok(b"final", ETag='"f"'))
    resp = fetch(POLICY, PAGE)
    assert resp.url == PAGE and resp.final_url == final
    assert resp.status == 200 and resp.data == b"final" and resp.etag == '"f"'


def chain(router: respx.MockRouter, hops: int) -> respx.Route:
    """PAGE redirecting through ``hops`` redirects to a 200; returns the route of the 200."""
    urls = [PAGE, *(f"{SITE}/hop/{i}" for i in range(1, hops + 1))]
    for here, there in zip(urls, urls[1:], strict=False):
        router.get(here).mock(return_value=httpx.Response(302, headers={"Location": there}))
    return router.get(urls[-1]).mock(return_value=ok(b"end"))


def test_redirects_up_to_the_limit_are_followed(router: respx.MockRouter) -> None:
    last = chain(router, 2)
    resp = fetch(replace(POLICY, max_redirects=2), PAGE)
    assert resp.final_url == f"{SITE}/hop/2" and resp.data == b"end" and last.call_count == 1


def test_more_redirects_than_the_limit_fail_for_good(router: respx.MockRouter) -> None:
    last = chain(router, 3)
    clock = Clock()
    error = fetch_error(replace(POLICY, max_redirects=2), PAGE, clock)
    assert "redirects" in str(error) and PAGE in str(error) and error.permanent
    assert last.call_count == 0 and clock.waits == []


@contextlib.asynccontextmanager
async def local_site(
    path: str, handler: Callable[[aioweb.Request], Awaitable[aioweb.StreamResponse]], tls: ssl.SSLContext | None = None
) -> AsyncIterator[str]:
    """An aiohttp server on 127.0.0.1 answering ``path``; yields its base URL (https with ``tls``)."""
    app = aioweb.Application()
    app.router.add_get(path, handler)
    runner = aioweb.AppRunner(app)
    await runner.setup()
    try:
        site = aioweb.TCPSite(runner, "127.0.0.1", 0, ssl_context=tls)
        await site.start()
        yield f"{'https' if tls else 'http'}://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


def test_a_redirect_to_ftp_fails_on_the_production_client() -> None:
    """respx bypasses the transport's scheme check, so this one runs the aiohttp transport against
    a server on 127.0.0.1."""

    async def redirect(request: aioweb.Request) -> aioweb.Response:
        raise aioweb.HTTPFound("ftp://127.0.0.1/file.html")

    async def main() -> None:
        async with local_site("/moved", redirect) as base:
            url = f"{base}/moved"
            async with web.transport(POLICY) as http:
                fetcher = web.Fetcher(http, POLICY, learnt=http, sleep=Clock().sleep)
                with pytest.raises(FetchError) as caught:
                    await fetcher.fetch(url)
            assert url in str(caught.value) and "ftp://" in str(caught.value)

    asyncio.run(main())


def test_the_production_transport_verifies_certificates(tls: TlsPair) -> None:
    """An HTTPS server whose certificate no trusted CA signed is refused (not retried into success),
    and the same server is fetched once the client trusts its CA: verification is on and is what fails."""

    async def page(request: aioweb.Request) -> aioweb.Response:
        return aioweb.Response(text="<p>ok</p>", content_type="text/html")

    async def main() -> None:
        async with local_site("/page", page, tls.server) as base:
            url = f"{base}/page"
            policy = replace(POLICY, retries=0)
            async with web.transport(policy) as http:
                with pytest.raises(FetchError) as caught:
                    await web.Fetcher(http, policy, learnt=http).fetch(url)
            assert url in str(caught.value) and "certificate" in str(caught.value).lower()
            async with httpx.AsyncHTTPTransport(verify=tls.client) as trusting:
                assert (await web.Fetcher(trusting, policy, learnt=trusting).fetch(url)).data == b"<p>ok</p>"

    asyncio.run(main())


# --- robots.txt --------------------------------------------------------------------------------

def robots_txt(router: respx.MockRouter, body: str, status: int = 200, site: str = SITE) -> respx.Route:
    return router.get(f"{site}/robots.txt").mock(
        return_value=httpx.Response(status, text=body, headers={"Content-Type": "text/plain"})
    )


def test_a_disallowed_path_is_not_fetched_and_others_are(router: respx.MockRouter) -> None:
    robots_txt(router, "User-agent: *\nDisallow: /private\n")
    private = router.get(f"{SITE}/private/x").mock(return_value=ok())
    public = router.get(f"{SITE}/public").mock(return_value=ok(b"pub"))

    async def use(fetcher: web.Fetcher) -> WebResponse:
        with pytest.raises(FetchError) as caught:
            await fetcher.fetch(f"{SITE}/private/x")
        assert "disallowed by the site's robots.txt" in str(caught.value)
        assert caught.value.permanent and f"{SITE}/private/x" in str(caught.value)
        return await fetcher.fetch(f"{SITE}/public")

    assert run(ROBOTS, use).data == b"pub"
    assert private.call_count == 0 and public.call_count == 1


def test_a_group_for_our_product_token_wins_over_the_star_group(router: respx.MockRouter) -> None:
    robots_txt(router, "User-agent: *\nAllow: /\n\nUser-agent: corpus-monitor\nDisallow: /\n")
    page = router.get(PAGE).mock(return_value=ok())
    error = fetch_error(ROBOTS, PAGE)
    assert "robots.txt" in str(error) and error.permanent and page.call_count == 0


def test_robots_txt_is_fetched_once_per_origin_even_concurrently(router: respx.MockRouter) -> None:
    ours = robots_txt(router, "User-agent: *\nDisallow: /private\n")
    other = robots_txt(router, "", site="https://hk.example")
    router.get(url__regex=r"^https://news\.example\.cn/a/\d$").mock(return_value=ok())
    router.get("https://hk.example/a").mock(return_value=ok())

    async def use(fetcher: web.Fetcher) -> list[WebResponse | BaseException]:
        urls = [f"{SITE}/a/{i}" for i in range(4)] + ["https://hk.example/a", f"{SITE}/private/1"]
        return await asyncio.gather(*(fetcher.fetch(u) for u in urls), return_exceptions=True)

    results = run(ROBOTS, use)
    assert [isinstance(r, WebResponse) and r.status == 200 for r in results] == [True] * 5 + [False]
    assert isinstance(results[-1], FetchError)
    assert ours.call_count == 1 and other.call_count == 1


def test_a_404_robots_txt_allows_everything(router: respx.MockRouter) -> None:
    robots_txt(router, "not found", status=404)
    router.get(f"{SITE}/private/x").mock(return_value=ok(b"any"))

    async def use(fetcher: web.Fetcher) -> tuple[WebResponse, dict[str, RobotsFile]]:
        return await fetcher.fetch(f"{SITE}/private/x"), fetcher.robots_fetched

    resp, fetched = run(ROBOTS, use)
    assert resp.data == b"any"
    assert fetched == {SITE: RobotsFile(SITE, 404, "")}


def test_an_unreachable_robots_txt_blocks_the_site(router: respx.MockRouter) -> None:
    robots = robots_txt(router, "busy", status=503)
    page = router.get(PAGE).mock(return_value=ok())
    clock = Clock()

    async def use(fetcher: web.Fetcher) -> dict[str, RobotsFile]:
        for _ in range(2):  # the verdict is kept: the second fetch does not ask again
            with pytest.raises(FetchError) as caught:
                await fetcher.fetch(PAGE)
            assert "robots.txt" in str(caught.value) and "503" in str(caught.value)
            assert PAGE in str(caught.value) and not caught.value.permanent
        return fetcher.robots_fetched

    assert run(ROBOTS, use, clock) == {}  # nothing worth keeping for a day
    assert robots.call_count == 3 and clock.waits == [1.0, 2.0]
    assert page.call_count == 0


@pytest.mark.parametrize("status", [501, 505])
def test_a_5xx_robots_txt_that_is_not_retried_still_blocks_the_site(router: respx.MockRouter, status: int) -> None:
    robots = robots_txt(router, "", status=status)
    page = router.get(PAGE).mock(return_value=ok())
    error = fetch_error(ROBOTS, PAGE)
    assert "robots.txt" in str(error) and str(status) in str(error)
    assert robots.call_count == 1 and page.call_count == 0


def test_crawl_delay_spaces_requests_to_the_host(router: respx.MockRouter) -> None:
    robots_txt(router, "User-agent: *\nCrawl-delay: 3\n")
    router.get(url__startswith=f"{SITE}/a/").mock(return_value=ok())
    router.get("https://hk.example/a").mock(return_value=ok())
    robots_txt(router, "", site="https://hk.example")
    clock = Clock()

    async def use(fetcher: web.Fetcher) -> list[float]:
        waits = []
        for url in (f"{SITE}/a/1", f"{SITE}/a/2", "https://hk.example/a", f"{SITE}/a/3"):
            before = len(clock.waits)
            await fetcher.fetch(url)
            waits.append(sum(clock.waits[before:]))
        return waits

    # robots.txt's own fetch counts: the first page goes 3 s after it, each next one 3 s after the
    # previous one started; the other host (no Crawl-delay) is not held up
    assert run(ROBOTS, use, clock) == [3.0, 3.0, 0.0, 3.0]


def test_preloaded_robots_are_used_without_a_request(router: respx.MockRouter) -> None:
    robots = robots_txt(router, "User-agent: *\nAllow: /\n")
    router.get(PAGE).mock(return_value=ok())
    known = {SITE: RobotsFile(SITE, 200, "User-agent: *\nDisallow: /private\n")}

    async def use(fetcher: web.Fetcher) -> dict[str, RobotsFile]:
        assert (await fetcher.fetch(PAGE)).status == 200
        with pytest.raises(FetchError, match="robots.txt"):
            await fetcher.fetch(f"{SITE}/private/x")
        return fetcher.robots_fetched

    assert run(ROBOTS, use, robots=known) == {}
    assert robots.call_count == 0


def test_a_preloaded_4xx_robots_file_allows_everything(router: respx.MockRouter) -> None:
    router.get(f"{SITE}/private/x").mock(return_value=ok())
    known = {SITE: RobotsFile(SITE, 404)}
    assert run(ROBOTS, lambda f: f.fetch(f"{SITE}/private/x"), robots=known).status == 200


def test_robots_fetched_holds_each_fetched_file(router: respx.MockRouter) -> None:
    body = "User-agent: *\nDisallow: /private\nCrawl-delay: 1\n"
    robots_txt(router, body)
    robots_txt(router, "gone", status=410, site="https://hk.example")
    router.get(PAGE).mock(return_value=ok())
    router.get("https://hk.example/a").mock(return_value=ok())

    async def use(fetcher: web.Fetcher) -> dict[str, RobotsFile]:
        await fetcher.fetch(PAGE)
        await fetcher.fetch("https://hk.example/a")
        return fetcher.robots_fetched

    assert run(ROBOTS, use) == {
        SITE: RobotsFile(SITE, 200, body),
        "https://hk.example": RobotsFile("https://hk.example", 410, ""),
    }


def test_robots_txt_is_not_asked_for_when_not_respected(router: respx.MockRouter) -> None:
    robots = robots_txt(router, "User-agent: *\nDisallow: /\n")
    router.get(PAGE).mock(return_value=ok())

    async def use(fetcher: web.Fetcher) -> dict[str, RobotsFile]:
        assert (await fetcher.fetch(PAGE)).status == 200
        return fetcher.robots_fetched

    assert run(POLICY, use) == {}
    assert robots.call_count == 0


# --- politeness --------------------------------------------------------------------------------

def test_the_host_delay_spaces_sequential_requests_to_one_host(router: respx.MockRouter) -> None:
    router.get(url__startswith=f"{SITE}/a/").mock(return_value=ok())
    clock = Clock()

    async def use(fetcher: web.Fetcher) -> None:
        for i in range(3):
            await fetcher.fetch(f"{SITE}/a/{i}")

    run(replace(POLICY, per_host_delay_seconds=1.0), use, clock)
    assert clock.waits == [1.0, 1.0]


def test_a_clock_that_stands_still_makes_waits_add_up(router: respx.MockRouter) -> None:
    router.get(url__startswith=f"{SITE}/a/").mock(return_value=ok())
    waits: list[float] = []

    async def record(seconds: float) -> None:
        waits.append(seconds)

    async def main() -> None:
        policy = replace(POLICY, per_host_delay_seconds=1.0)
        async with httpx.AsyncHTTPTransport(verify=_TLS) as http:
            fetcher = web.Fetcher(http, policy, learnt=http, sleep=record, monotonic=lambda: 50.0)
            for i in range(3):
                await fetcher.fetch(f"{SITE}/a/{i}")

    asyncio.run(main())
    assert waits == [1.0, 2.0]


def test_the_host_delay_does_not_apply_across_hosts(router: respx.MockRouter) -> None:
    router.get(PAGE).mock(return_value=ok())
    router.get("https://hk.example/a").mock(return_value=ok())
    clock = Clock()

    async def use(fetcher: web.Fetcher) -> None:
        await fetcher.fetch(PAGE)
        await fetcher.fetch("https://hk.example/a")

    run(replace(POLICY, per_host_delay_seconds=1.0), use, clock)
    assert clock.waits == []


def test_the_host_delay_also_spaces_concurrent_requests(router: respx.MockRouter) -> None:
    router.get(url__startswith=f"{SITE}/a/").mock(return_value=ok())
    clock = Clock()

    async def use(fetcher: web.Fetcher) -> None:
        await asyncio.gather(*(fetcher.fetch(f"{SITE}/a/{i}") for i in range(3)))

    run(replace(POLICY, per_host_delay_seconds=2.0, per_host_concurrency=3), use, clock)
    assert clock.wakes == [1002.0, 1004.0]  # the first goes at 1000.0, the others 2 s apart


# --- charsets ----------------------------------------------------------------------------------

def test_content_type_gives_media_type_and_charset(router: respx.MockRouter) -> None:
    router.get(PAGE).mock(return_value=httpx.Response(200, content=b"x",
                                                      headers={"Content-Type": "Text/HTML; charset=GBK"}))
    resp = fetch(POLICY, PAGE)
    assert resp.media_type == "text/html"
    assert resp.charset is not None and resp.charset.lower() == "gbk"


@pytest.mark.parametrize(("header", "media", "charset"), [
    ('application/rss+xml;charset="gb2312"', "application/rss+xml", "gb2312"),
    ("text/html; foo=bar; CHARSET=big5 ", "text/html", "big5"),
    ("text/plain", "text/plain", None),
    ("text/html; charset=", "text/html", None),
])
def test_content_type_variants(router: respx.MockRouter, header: str, media: str, charset: str | None) -> None:
    router.get(PAGE).mock(return_value=httpx.Response(200, content=b"x", headers={"Content-Type": header}))
    resp = fetch(POLICY, PAGE)
    assert resp.media_type == media
    assert (resp.charset.lower() if resp.charset else None) == charset


def test_no_content_type_gives_neither(router: respx.MockRouter) -> None:
    router.get(PAGE).mock(return_value=httpx.Response(200, content=b"x"))
    resp = fetch(POLICY, PAGE)
    assert resp.media_type is None and resp.charset is None


SIMPLIFIED = "xinrui-20240730-88231.html"
TRADITIONAL = "harbourdigital-20240731-5521.html"
#: a long paragraph of each page, as its UTF-8 original has it
SENTENCES = {
    SIMPLIFIED: "北京时间7月30日清晨，英伟达创始人兼CEO黄仁勋与Meta创始人兼CEO马克·扎克伯格，"
                "在美国丹佛举行的第50届SIGGRAPH图形大会上完成了一场60分钟的公开对话。",
    TRADITIONAL: "對談中的最後一個主要話題是頗受市場歡迎的智能眼鏡,由Meta和雷朋眼鏡合作開發。",
}
_META_CHARSET = re.compile(r"<meta[^>]*charset[^>]*>", re.IGNORECASE)


def page(name: str, codec: str, meta: str | None = None) -> bytes:
    """A dev-set page without its charset declaration (or with ``meta`` declared instead), in ``codec``."""
    text = _META_CHARSET.sub("", (DEV / name).read_text("utf-8"))
    assert "charset" not in text.lower() and "encoding=" not in text.lower()
    if meta:
        text = text.replace("<head>", f'<head>\n<meta charset="{meta}">', 1)
    return text.encode(codec, errors="xmlcharrefreplace")


@pytest.mark.parametrize(("name", "codec", "header", "meta"), [
    pytest.param(SIMPLIFIED, "gbk", None, None, id="gbk-undeclared"),
    pytest.param(SIMPLIFIED, "gb18030", None, None, id="gb18030-undeclared"),
    pytest.param(SIMPLIFIED, "gb18030", "gb18030", None, id="gb18030-in-header"),
    pytest.param(TRADITIONAL, "big5", None, None, id="big5-undeclared"),
    pytest.param(TRADITIONAL, "big5", "big5", None, id="big5-in-header"),
    pytest.param(SIMPLIFIED, "utf-8", "gbk", None, id="header-gbk-body-utf8"),
    pytest.param(TRADITIONAL, "utf-8", "big5", None, id="header-big5-body-utf8"),
    pytest.param(SIMPLIFIED, "gbk", "utf-8", "gbk", id="header-utf8-body-gbk-meta-gbk"),
    pytest.param(SIMPLIFIED, "gbk", None, "gb2312", id="meta-gb2312-body-gbk"),
])
def test_a_fetched_page_extracts_to_its_original_text(
    router: respx.MockRouter, name: str, codec: str, header: str | None, meta: str | None
) -> None:
    sentence = SENTENCES[name]
    assert sentence in (DEV / name).read_text("utf-8")
    sentence.encode(codec)  # the sentence itself is in the codec, not character references
    body = page(name, codec, meta)
    if codec != "utf-8":
        with pytest.raises(UnicodeDecodeError):
            body.decode("utf-8")
    content_type = f"text/html; charset={header}" if header else "text/html"
    router.get(PAGE).mock(return_value=httpx.Response(200, content=body, headers={"Content-Type": content_type}))

    resp = fetch(POLICY, PAGE)
    assert resp.charset == header and resp.data == body
    doc = extract(Fetched(locator=resp.final_url, data=resp.data, content_hash=hashlib.sha256(resp.data).hexdigest(),
                          source="t", charset_hint=resp.charset, kind="html"))
    assert sentence in doc.text
