"""Server-side request forgery: which URLs may reach addresses only the monitor's host can reach.

Three layers: the classification of addresses (``monitor.sources.addresses``, pure); the Fetcher's trust rules
(which transport carries which request), on two ``httpx.MockTransport`` that record what they are asked; and
the production transports (aiohttp's) against a real aiohttp server on 127.0.0.1, where a name is made to
resolve to 127.0.0.1 by a resolver given to the transport, as a public name whose DNS answers a private
address would."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import replace

import httpx
import pytest
from aiohttp import web as aioweb
from aiohttp.abc import AbstractResolver, ResolveResult

from monitor.errors import FetchError, PrivateAddressError
from monitor.models import HttpPolicy
from monitor.sources import addresses, web

POLICY = HttpPolicy(user_agent="corpus-monitor/0.1", per_host_delay_seconds=0, retries=2, respect_robots=False)
ROBOTS = replace(POLICY, respect_robots=True)
SETTING = "set [http] allow_private_addresses = true to allow it"


# --- which addresses are public --------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("93.184.216.34", None),
        ("8.8.8.8", None),
        ("2606:4700:4700::1111", None),
        ("127.0.0.1", "loopback"),
        ("127.8.9.10", "loopback"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("172.31.255.255", "private"),
        ("192.168.1.1", "private"),
        ("100.64.0.1", "cgnat"),
        ("169.254.169.254", "link-local"),
        ("0.0.0.0", "unspecified"),
        ("0.1.2.3", "unspecified"),
        ("224.0.0.1", "multicast"),
        ("240.0.0.1", "reserved"),
        ("255.255.255.255", "reserved"),
        ("192.0.2.1", "special"),  # documentation
        ("198.18.0.1", "special"),  # benchmarking
        ("192.0.0.8", "special"),  # IETF protocol assignments
        ("::1", "loopback"),
        ("::", "unspecified"),
        ("fe80::1", "link-local"),
        ("fe80::1%eth0", "link-local"),
        ("fc00::1", "unique-local"),
        ("fd12:3456:789a::1", "unique-local"),
        ("fec0::1", "site-local"),
        ("ff02::1", "multicast"),
        ("2001:db8::1", "special"),
        ("not an address", "invalid"),
    ],
)
def test_addresses_are_classified(address: str, kind: str | None) -> None:
    assert addresses.kind(address) == kind


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("::ffff:127.0.0.1", "loopback"),  # IPv4-mapped
        ("::ffff:169.254.169.254", "link-local"),
        ("::ffff:10.0.0.1", "private"),
        ("::ffff:8.8.8.8", None),
        ("64:ff9b::7f00:1", "loopback"),  # NAT64 (RFC 6052)
        ("64:ff9b::a9fe:a9fe", "link-local"),
        ("64:ff9b::808:808", None),
        ("2002:7f00:1::1", "loopback"),  # 6to4
        ("2002:c0a8:101::1", "private"),
        ("2002:808:808::1", None),
        ("::127.0.0.1", "reserved"),  # IPv4-compatible, deprecated
        ("::ffff:0:7f00:1", "reserved"),  # IPv4-translated
        ("64:ff9b:1::7f00:1", "reserved"),  # NAT64 for local use (RFC 8215)
        ("2001::7f00:1", "special"),  # Teredo
    ],
)
def test_an_ipv6_address_carrying_an_ipv4_one_is_what_that_one_is(address: str, kind: str | None) -> None:
    assert addresses.kind(address) == kind


def test_the_refusal_names_the_ipv4_address_an_ipv6_one_carries() -> None:
    assert addresses.refusal("127.0.0.1") == "a loopback address"
    assert addresses.refusal("::ffff:7f00:1") == "a loopback address (127.0.0.1 in IPv6 form)"
    assert addresses.refusal("2606:4700:4700::1111") is None


def addr_info(address: str, port: int = 80) -> tuple[socket.AddressFamily, socket.SocketKind, int, str, tuple]:  # type: ignore[type-arg]
    if ":" in address:
        return socket.AF_INET6, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (address, port, 0, 0)
    return socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (address, port)


@pytest.mark.parametrize("address", ["127.0.0.1", "10.0.0.7", "169.254.169.254", "::1", "::ffff:7f00:1", "fd00::5"])
def test_no_socket_is_made_for_an_address_that_is_not_public(address: str) -> None:
    with pytest.raises(addresses.NotPublic, match=f"^{address} is a"):
        addresses.public_socket(addr_info(address))


def test_a_socket_is_made_for_a_public_address() -> None:
    with contextlib.closing(addresses.public_socket(addr_info("93.184.216.34"))) as sock:
        assert sock.family == socket.AF_INET and sock.type == socket.SOCK_STREAM


class Names(AbstractResolver):
    """A resolver that answers from a table (name -> addresses), as a DNS server would."""

    def __init__(self, table: Mapping[str, Sequence[str]]) -> None:
        self.table = table
        self.asked: list[str] = []

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        self.asked.append(host)
        if host not in self.table:
            raise OSError(f"{host}: no such name")
        return [
            ResolveResult(hostname=host, host=address, port=port,
                          family=socket.AF_INET6 if ":" in address else socket.AF_INET, proto=0,
                          flags=socket.AI_NUMERICHOST | socket.AI_NUMERICSERV)
            for address in self.table[host]
        ]

    async def close(self) -> None:
        pass


def resolve(table: Mapping[str, Sequence[str]], host: str) -> list[str]:
    async def main() -> list[str]:
        return [one["host"] for one in await addresses.PublicResolver(Names(table)).resolve(host, 80)]

    return asyncio.run(main())


def test_the_resolver_passes_on_only_the_public_addresses_of_a_name() -> None:
    table = {"mixed.example": ["10.0.0.7", "93.184.216.34", "::1", "2606:2800:220:1::1"]}
    assert resolve(table, "mixed.example") == ["93.184.216.34", "2606:2800:220:1::1"]


def test_a_name_with_no_public_address_is_refused_naming_what_it_resolves_to() -> None:
    with pytest.raises(addresses.NotPublic, match=r"^intranet\.example resolves to 10\.0\.0\.7, a private address$"):
        resolve({"intranet.example": ["10.0.0.7"]}, "intranet.example")
    with pytest.raises(addresses.NotPublic) as caught:
        resolve({"localhost.example": ["127.0.0.1", "::1"]}, "localhost.example")
    assert str(caught.value) == "localhost.example resolves to no public address: 127.0.0.1 (loopback), ::1 (loopback)"


# --- trust: which transport carries which request ----------------------------------------------------------------

class Recorder:
    """Two mock transports, ``trusted`` and ``learnt``, answering from ``routes`` (URL -> response; a missing URL
    is a 404) and logging (transport, URL) for each request; a URL in ``refuse`` is refused by the learnt one as
    the production transport refuses a private address."""

    def __init__(self, routes: Mapping[str, httpx.Response], refuse: Callable[[str], bool] = lambda url: False):
        self.routes, self.refuse = routes, refuse
        self.log: list[tuple[str, str]] = []
        self.waits: list[float] = []
        self.trusted = httpx.MockTransport(self._handler("trusted"))
        self.learnt = httpx.MockTransport(self._handler("learnt"))

    def _handler(self, name: str) -> Callable[[httpx.Request], httpx.Response]:
        def handle(request: httpx.Request) -> httpx.Response:
            url = str(request.url)
            self.log.append((name, url))
            if name == "learnt" and self.refuse(url):
                raise httpx.ConnectError("refused") from addresses.NotPublic(f"{request.url.host} is a private address")
            response = self.routes.get(url)
            return httpx.Response(404) if response is None else httpx.Response(
                response.status_code, headers=response.headers, content=response.content
            )

        return handle

    def fetcher(self, policy: HttpPolicy) -> web.Fetcher:
        """A Fetcher on the two transports; its waits (a retry's backoff) are recorded in ``waits``, not slept."""

        async def record(seconds: float) -> None:
            self.waits.append(seconds)

        return web.Fetcher(self.trusted, policy, learnt=self.learnt, sleep=record)


def page(body: bytes = b"<p>ok</p>") -> httpx.Response:
    return httpx.Response(200, content=body, headers={"Content-Type": "text/html"})


def moved(location: str) -> httpx.Response:
    return httpx.Response(302, headers={"Location": location})


ALLOW = httpx.Response(200, content=b"User-agent: *\nAllow: /\n", headers={"Content-Type": "text/plain"})


def test_configured_urls_go_through_the_trusted_transport_and_learnt_ones_and_redirects_through_the_learnt() -> None:
    routes = {
        "https://configured.example/robots.txt": ALLOW,
        "https://configured.example/page": moved("https://configured.example/moved"),
        "https://configured.example/moved": moved("https://elsewhere.example/final"),
        "https://elsewhere.example/final": page(b"final"),
        "https://from-a-feed.example/robots.txt": ALLOW,
        "https://from-a-feed.example/entry": moved("/entry-2"),
        "https://from-a-feed.example/entry-2": page(b"entry"),
    }
    recorder = Recorder(routes)

    async def main() -> None:
        fetcher = recorder.fetcher(ROBOTS)
        assert (await fetcher.fetch("https://configured.example/page")).data == b"final"
        assert (await fetcher.fetch("https://from-a-feed.example/entry", learnt=True)).data == b"entry"

    asyncio.run(main())
    assert recorder.log == [
        ("trusted", "https://configured.example/robots.txt"),  # robots.txt with the trust of the URL it serves
        ("trusted", "https://configured.example/page"),
        ("learnt", "https://configured.example/moved"),  # a redirect is learnt, even from a trusted URL
        ("learnt", "https://elsewhere.example/final"),
        ("learnt", "https://from-a-feed.example/robots.txt"),
        ("learnt", "https://from-a-feed.example/entry"),
        ("learnt", "https://from-a-feed.example/entry-2"),
    ]


def test_a_refused_address_fails_at_once_naming_the_url_and_the_setting() -> None:
    url = "http://intranet.example/admin"
    recorder = Recorder({url: page()}, refuse=lambda url: True)

    async def main() -> FetchError:
        with pytest.raises(PrivateAddressError) as caught:
            await recorder.fetcher(POLICY).fetch(url, learnt=True)
        return caught.value

    error = asyncio.run(main())
    assert str(error) == (f"{url}: not fetched: intranet.example is a private address, and a URL learnt from a "
                          f"feed or a redirect may reach only public addresses; {SETTING}")
    assert recorder.log == [("learnt", url)] and recorder.waits == []  # no retry (POLICY has 2)
    assert not error.permanent  # a feed entry stays pending: allowing private addresses later still fetches it


def test_a_refused_redirect_names_its_target() -> None:
    url, target = "https://configured.example/page", "http://10.0.0.7/admin"
    recorder = Recorder({url: moved(target)}, refuse=lambda url: url == target)

    async def main() -> None:
        with pytest.raises(PrivateAddressError) as caught:
            await recorder.fetcher(POLICY).fetch(url)
        assert str(caught.value).startswith(f"{url}: redirected to {target}, not followed: 10.0.0.7 is a private")
        assert str(caught.value).endswith(SETTING)

    asyncio.run(main())
    assert recorder.log == [("trusted", url), ("learnt", target)] and recorder.waits == []


def test_robots_txt_refused_to_a_learnt_url_says_nothing_to_a_trusted_one() -> None:
    """The first URL of a site to ask for its robots.txt is learnt, and refused: that URL fails as refused (not as a
    site whose robots.txt is unreachable), and a configured URL of the same site fetches robots.txt for itself."""
    site = "http://intranet.example"
    routes = {f"{site}/robots.txt": ALLOW, f"{site}/feed.xml": page(), f"{site}/entry": page()}
    recorder = Recorder(routes, refuse=lambda url: True)

    async def main() -> None:
        fetcher = recorder.fetcher(ROBOTS)
        with pytest.raises(PrivateAddressError, match="intranet.example is a private address"):
            await fetcher.fetch(f"{site}/entry", learnt=True)
        assert (await fetcher.fetch(f"{site}/feed.xml")).status == 200
        with pytest.raises(PrivateAddressError):  # the rules are known now: the entry itself is refused
            await fetcher.fetch(f"{site}/entry", learnt=True)
        assert list(fetcher.robots_fetched) == [site]

    asyncio.run(main())
    assert recorder.log == [
        ("learnt", f"{site}/robots.txt"),
        ("trusted", f"{site}/robots.txt"),
        ("trusted", f"{site}/feed.xml"),
        ("learnt", f"{site}/entry"),
    ]


def test_concurrent_trusted_and_learnt_urls_of_a_site_share_robots_txt_unless_refused() -> None:
    site = "https://news.example"
    routes = {f"{site}/robots.txt": ALLOW, **{f"{site}/{n}": page() for n in range(4)}}
    recorder = Recorder(routes)

    async def main() -> None:
        fetcher = recorder.fetcher(ROBOTS)
        await asyncio.gather(*(fetcher.fetch(f"{site}/{n}", learnt=n % 2 == 1) for n in range(4)))

    asyncio.run(main())
    assert [entry for entry in recorder.log if entry[1].endswith("robots.txt")] == [("trusted", f"{site}/robots.txt")]
    assert sorted(recorder.log[1:]) == [("learnt", f"{site}/1"), ("learnt", f"{site}/3"),
                                         ("trusted", f"{site}/0"), ("trusted", f"{site}/2")]


def test_a_fetcher_needs_a_learnt_transport_unless_private_addresses_are_allowed() -> None:
    async def main() -> None:
        async with httpx.AsyncHTTPTransport() as http:
            with pytest.raises(ValueError, match="learnt"):
                web.Fetcher(http, POLICY)
            assert web.Fetcher(http, replace(POLICY, allow_private_addresses=True)).learnt is http

    asyncio.run(main())


# --- the production transports, against a real server on 127.0.0.1 -----------------------------------------------

@contextlib.asynccontextmanager
async def local_server(hits: list[str]) -> AsyncIterator[int]:
    """An aiohttp server on 127.0.0.1 answering /page (and /moved, a redirect to /page on the same server),
    recording each request's path in ``hits``; yields its port."""

    async def answer(request: aioweb.Request) -> aioweb.Response:
        hits.append(request.path)
        if request.path == "/moved":
            raise aioweb.HTTPFound(f"http://127.0.0.1:{request.url.port}/page")
        return aioweb.Response(text="<p>ok</p>", content_type="text/html")

    app = aioweb.Application()
    app.router.add_get("/page", answer)
    app.router.add_get("/moved", answer)
    runner = aioweb.AppRunner(app)
    await runner.setup()
    try:
        await aioweb.TCPSite(runner, "127.0.0.1", 0).start()
        yield int(runner.addresses[0][1])
    finally:
        await runner.cleanup()


@contextlib.asynccontextmanager
async def production(
    policy: HttpPolicy, names: Mapping[str, Sequence[str]] | None = None
) -> AsyncIterator[web.Fetcher]:
    """A Fetcher on the production transports (names resolved from ``names`` when given)."""
    resolver = (lambda: Names(names)) if names is not None else None
    async with web.transport(policy, resolver=resolver) as http, \
            web.transport(policy, learnt=True, resolver=resolver) as learnt:
        yield web.Fetcher(http, policy, learnt=learnt)


@pytest.mark.parametrize(
    ("host", "said"),
    [
        ("127.0.0.1", "127.0.0.1 is a loopback address"),  # an IP literal: aiohttp never asks the resolver
        ("[::ffff:7f00:1]", "::ffff:7f00:1 is a loopback address (127.0.0.1 in IPv6 form)"),
        ("0.0.0.0", "0.0.0.0 is an unspecified address"),  # which Linux connects to this host
        ("localhost", "localhost resolves to 127.0.0.1, a loopback address"),
        ("0x7f.0.0.1", "0x7f.0.0.1 resolves to 127.0.0.1, a loopback address"),  # the C library reads it so
    ],
)
def test_the_learnt_transport_refuses_a_loopback_address_before_sending_anything(host: str, said: str) -> None:
    """The trusted transport fetches the page first, leaving a keep-alive connection to 127.0.0.1 in its pool; the
    learnt transport, with a pool of its own, refuses the same address in every spelling, and the server sees no
    request from it."""
    hits: list[str] = []

    async def main() -> None:
        async with local_server(hits) as port, production(POLICY) as fetcher:
            assert (await fetcher.fetch(f"http://127.0.0.1:{port}/page")).data == b"<p>ok</p>"
            url = f"http://{host}:{port}/page"
            with pytest.raises(PrivateAddressError) as caught:
                await fetcher.fetch(url, learnt=True)
            assert str(caught.value) == (f"{url}: not fetched: {said}, and a URL learnt from a feed or a redirect "
                                         f"may reach only public addresses; {SETTING}")

    asyncio.run(main())
    assert hits == ["/page"]


@pytest.mark.parametrize(
    ("host", "said"),
    [
        ("2130706433", "2130706433 - is not a canonical IPv4 address"),  # aiohttp's own refusal
        ("127.1", "127.1 - is not a canonical IPv4 address"),
        ("0177.0.0.1", "Invalid IPv4 address: '0177.0.0.1'"),  # httpx's
    ],
)
def test_an_address_spelt_in_a_way_no_client_reads_fails_for_good_at_once(host: str, said: str) -> None:
    """Some spellings of 127.0.0.1 pass URL normalization and reach neither address check: aiohttp or httpx will not
    read them. Such a URL is not fetched, and fails at once, for good (a feed entry is settled, not tried every
    poll), trusted or learnt."""
    hits: list[str] = []

    async def main() -> None:
        async with local_server(hits) as port, production(POLICY) as fetcher:
            url = f"http://{host}:{port}/page"
            for learnt in (False, True):
                with pytest.raises(FetchError) as caught:
                    await fetcher.fetch(url, learnt=learnt)
                assert str(caught.value) == f"{url}: not a usable URL: {said}" and caught.value.permanent

    asyncio.run(main())
    assert hits == []


def test_a_public_name_that_resolves_to_a_private_address_is_refused_on_the_address_connected_to() -> None:
    """``news.example`` resolves to 127.0.0.1 here, as a name whose DNS answers a private address would: fetched as a
    configured URL it reaches the server (the name does lead there); learnt, it is refused, naming the address."""
    hits: list[str] = []

    async def main() -> None:
        async with local_server(hits) as port, production(POLICY, {"news.example": ["127.0.0.1"]}) as fetcher:
            url = f"http://news.example:{port}/page"
            assert (await fetcher.fetch(url)).data == b"<p>ok</p>"
            with pytest.raises(PrivateAddressError, match="news.example resolves to 127.0.0.1, a loopback address"):
                await fetcher.fetch(url, learnt=True)

    asyncio.run(main())
    assert hits == ["/page"]


def test_a_configured_page_redirecting_to_a_loopback_address_is_refused_and_followed_when_allowed() -> None:
    hits: list[str] = []

    async def main() -> None:
        async with local_server(hits) as port:
            url = f"http://news.example:{port}/moved"
            async with production(POLICY, {"news.example": ["127.0.0.1"]}) as fetcher:
                with pytest.raises(PrivateAddressError) as caught:
                    await fetcher.fetch(url)
                assert f"redirected to http://127.0.0.1:{port}/page, not followed" in str(caught.value)
            allowed = replace(POLICY, allow_private_addresses=True)
            async with web.transport(allowed, resolver=lambda: Names({"news.example": ["127.0.0.1"]})) as http:
                response = await web.Fetcher(http, allowed).fetch(url)
                assert response.final_url == f"http://127.0.0.1:{port}/page" and response.data == b"<p>ok</p>"

    asyncio.run(main())
    assert hits == ["/moved", "/moved", "/page"]
