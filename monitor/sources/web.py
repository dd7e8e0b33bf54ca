"""The web fetcher: one URL in, a :class:`~monitor.models.WebResponse` out, politely.

Requests are httpx ``Request`` objects sent through an injected httpx transport (:func:`transport`
builds the production one, on aiohttp, for speed; tests inject httpx's own, under respx). The
fetcher talks to the transport, not to an ``httpx.AsyncClient``: on a poll of unchanged pages the
client's per-request work (building the request through its merge steps, and shimming every
response into ``urllib`` objects for its cookie jar) took a third of the time (``benchmarks/poll.py``).
What the client would add is done here instead: default headers, timeouts, redirects (at most
``max_redirects``, ``http``/``https`` only). No cookies are kept: each request stands alone, as a
crawler's should. Around each request:

- robots.txt, fetched once per origin and parsed by Protego (RFC 9309: a 4xx means no rules, a 5xx or
  an unreachable file means nothing may be fetched); its ``Crawl-delay`` lengthens the host delay;
- politeness: at most ``concurrency`` requests in flight, ``per_host_concurrency`` per origin, and
  ``per_host_delay_seconds`` between the starts of two requests to one origin;
- conditional requests from stored validators (``If-None-Match``, ``If-Modified-Since``);
- a body cap: the body is read as a stream and cut off at ``max_bytes`` (``truncated`` says so);
- retries with exponential backoff (tenacity) for connection errors, timeouts, 408, 429 and 5xx,
  honouring ``Retry-After``; a 4xx is final at once.

Trust is decided per request. The URLs the user configured (page sources, feeds) are trusted; a URL learnt
from a feed entry (``fetch(..., learnt=True)``), and the target of every redirect, even from a trusted URL, is
not. Learnt requests go through a transport of their own: in production ``transport(policy, learnt=True)``,
with a pool of its own, which connects only to public addresses, judged on the address each socket is made
for, before anything is sent (see :mod:`monitor.sources.addresses`); with ``[http] allow_private_addresses``
the one transport carries both. robots.txt is fetched with the trust of the URL it is fetched for. A refused
URL fails at once, not retried, as :class:`~monitor.errors.PrivateAddressError` naming it and the setting.

Every failure leaves as :class:`~monitor.errors.FetchError` naming the URL.
"""

from __future__ import annotations

import asyncio
import email.utils
import functools
import ssl
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC
from typing import TYPE_CHECKING, Any

import aiohttp
import aiohttp.abc
import httpx
from httpx_aiohttp import AiohttpTransport
from protego import Protego

from monitor.errors import FetchError, PrivateAddressError
from monitor.models import HttpPolicy, RobotsFile, Validators, WebResponse
from monitor.sources.addresses import PublicResolver, behind, public_socket
from monitor.sources.urls import origin

if TYPE_CHECKING:
    from tenacity import RetryCallState

ACCEPT_HTML = "text/html,application/xhtml+xml;q=0.9,text/plain;q=0.8,*/*;q=0.1"
ACCEPT_FEED = "application/rss+xml,application/atom+xml,application/xml;q=0.9,text/xml;q=0.9,*/*;q=0.1"
#: statuses worth trying again: the server or the path to it may recover
TRANSIENT_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504, 507, 509, 520, 521, 522, 523, 524})
#: statuses whose Location is followed
REDIRECTS = frozenset({301, 302, 303, 307, 308})
#: RFC 9309 asks crawlers to parse at least 500 KiB of a robots.txt
ROBOTS_MAX_BYTES = 512 * 1024


class _Transient(Exception):
    """A failure worth another attempt."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason, self.retry_after = reason, retry_after


@dataclass
class _Rules:
    """What robots.txt says for one origin."""

    parser: Protego | None = None
    #: why nothing may be fetched (robots.txt unreachable), else None
    blocked: str | None = None
    #: why no learnt URL of the site may be fetched (its robots.txt is at an address they may not reach), else
    #: None; this says nothing to a trusted URL, which fetches robots.txt again for itself
    refused: str | None = None

    def allows(self, url: str, agent: str) -> bool:
        return self.blocked is None and (self.parser is None or bool(self.parser.can_fetch(url, agent)))

    def delay(self, agent: str) -> float:
        found = self.parser.crawl_delay(agent) if self.parser is not None else None
        return float(found) if found else 0.0


class _Host:
    """Politeness state of one origin: its slots, and when the next request may start."""

    def __init__(self, origin: str, slots: int) -> None:
        self.origin = origin
        self.slots = asyncio.Semaphore(slots)
        #: when the last request to this host started (monotonic clock), or was booked to start
        self.last_start: float | None = None
        self.rules: _Rules | None = None
        self.rules_ready: asyncio.Future[_Rules] | None = None
        #: the load made for trusted URLs when the first, for a learnt URL, was refused the site's address
        self.trusted_ready: asyncio.Future[_Rules] | None = None


@functools.lru_cache(maxsize=65536)
def _parsed(url: str) -> httpx.URL:
    """httpx's parse of a URL, kept: a service polls the same URLs every cycle, and httpx.URL is immutable."""
    return httpx.URL(url)


def transport(
    policy: HttpPolicy, *, learnt: bool = False, resolver: Callable[[], aiohttp.abc.AbstractResolver] | None = None
) -> httpx.AsyncBaseTransport:
    """The production transport: aiohttp's, through httpx-aiohttp, with its pool sized by ``policy``. With
    ``learnt``, the transport for URLs learnt from feeds and redirects: it connects only to public addresses.
    ``resolver`` makes the DNS resolver (default: aiohttp's); tests map names with it.

    httpx's own transport spends most of a conditional request in its pool bookkeeping; aiohttp's is
    several times faster on a poll of unchanged pages (``benchmarks/poll.py``)."""

    def session() -> aiohttp.ClientSession:
        names = resolver() if resolver is not None else None
        guard: dict[str, Any] = {}
        if learnt:  # every address is checked as the socket is made for it, names' addresses as they resolve too
            guard = {"resolver": PublicResolver(names or aiohttp.DefaultResolver()), "socket_factory": public_socket}
        elif names is not None:
            guard = {"resolver": names}
        # ssl=True: certificates are verified with aiohttp's default context, made once at its import
        connector = aiohttp.TCPConnector(
            limit=policy.concurrency, limit_per_host=policy.per_host_concurrency, ssl=True, ttl_dns_cache=300,
            **guard,
        )
        # no cookies are kept (see Fetcher): aiohttp's jar would only add work
        return aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.DummyCookieJar())

    # httpx-aiohttp makes a TLS context in its constructor but uses it only for a session of its own
    # making; the session above has its own, verifying one. verify=False spares loading a CA store
    # (25 ms) for a context never used; tests/test_web_fetch.py checks that certificates are verified.
    return AiohttpTransport(verify=False, client=session)


def _retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a Retry-After header (seconds or an HTTP date); None if absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - now)


def _content_type(header: str | None) -> tuple[str | None, str | None]:
    """(media type, charset) of a Content-Type header."""
    if not header:
        return None, None
    media, _, params = header.partition(";")
    charset = None
    for param in params.split(";"):
        key, _, value = param.partition("=")
        if key.strip().lower() == "charset" and value.strip(" \"'"):
            charset = value.strip(" \"'")
    return media.strip().lower() or None, charset


def _failure(state: RetryCallState) -> BaseException | None:
    """The exception of a tenacity ``RetryCallState``'s last attempt."""
    return state.outcome.exception() if state.outcome is not None else None


class Fetcher:
    """Fetches URLs under one :class:`~monitor.models.HttpPolicy`; one instance per poll, inside its event loop.

    ``http`` carries the requests for the URLs the user configured, ``learnt`` those for URLs learnt from feeds
    and redirects: ``transport(policy, learnt=True)``, unless the policy allows private addresses; only then may
    it be left out, and ``http`` carries both. ``robots`` are robots.txt files already known (the store keeps
    them a day); the ones fetched by this instance are in :attr:`robots_fetched` afterwards, for the caller to
    keep.
    """

    def __init__(
        self,
        http: httpx.AsyncBaseTransport,
        policy: HttpPolicy,
        *,
        learnt: httpx.AsyncBaseTransport | None = None,
        robots: Mapping[str, RobotsFile] | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        monotonic: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        if learnt is None and not policy.allow_private_addresses:
            raise ValueError("URLs learnt from feeds and redirects need a transport of their own (learnt=)")
        self.http, self.learnt, self.policy = http, learnt or http, policy
        self._sleep, self._monotonic, self._wall_clock = sleep, monotonic, wall_clock
        self._slots = asyncio.Semaphore(policy.concurrency)
        self._hosts: dict[str, _Host] = {}
        self._known_robots = dict(robots or {})
        self.robots_fetched: dict[str, RobotsFile] = {}
        #: the product token robots.txt groups are matched against: "corpus-monitor"
        self._agent = policy.user_agent.split("/", 1)[0].split()[0] if policy.user_agent.strip() else "*"
        self._headers = [("User-Agent", policy.user_agent), ("Accept-Encoding", "gzip, deflate")]
        if policy.contact:
            self._headers.append(("From", policy.contact))
        seconds = policy.timeout_seconds
        self._timeout = {"timeout": {"connect": seconds, "read": seconds, "write": seconds, "pool": None}}

    async def fetch(
        self,
        url: str,
        validators: Validators | None = None,
        *,
        accept: str = ACCEPT_HTML,
        headers: Mapping[str, str] | None = None,
        learnt: bool = False,
    ) -> WebResponse:
        """GET ``url`` (conditionally, given validators) with extra ``headers``; raise FetchError on any failure.
        ``learnt``: the URL comes from a feed entry, not from the user (see the module's docstring)."""
        host = self._host(url)
        if self.policy.respect_robots:
            rules = await self._rules(host, learnt)
            if rules.refused:
                raise PrivateAddressError(url, rules.refused)
            if rules.blocked:
                raise FetchError(url, rules.blocked)
            if not rules.allows(url, self._agent):
                raise FetchError(url, "disallowed by the site's robots.txt", permanent=True)
        headers = {"Accept": accept, **(headers or {})}
        if validators is not None and validators.etag:
            headers["If-None-Match"] = validators.etag
        if validators is not None and validators.last_modified:
            headers["If-Modified-Since"] = validators.last_modified
        return await self._with_retries(url, host, headers, self.policy.max_bytes, learnt)

    def _host(self, url: str) -> _Host:
        key = origin(url)
        host = self._hosts.get(key)
        if host is None:
            host = self._hosts[key] = _Host(key, self.policy.per_host_concurrency)
        return host

    async def _with_retries(
        self, url: str, host: _Host, headers: dict[str, str], max_bytes: int, learnt: bool
    ) -> WebResponse:
        attempts = self.policy.retries + 1
        try:  # the first attempt outside tenacity: most requests succeed, and its machinery costs ~30 us
            return await self._attempt(url, host, headers, max_bytes, learnt)
        except _Transient as exc:
            if attempts == 1:
                raise FetchError(url, exc.reason) from None
            first = exc
        from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt  # only on a retry

        await self._sleep(self._delay(first, 1))
        retrying = AsyncRetrying(
            stop=stop_after_attempt(attempts - 1),
            wait=lambda state: self._delay(_failure(state), state.attempt_number + 1),
            retry=retry_if_exception_type(_Transient),
            sleep=self._sleep,
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    return await self._attempt(url, host, headers, max_bytes, learnt)
        except _Transient as exc:
            raise FetchError(url, f"{exc.reason} (gave up after {attempts} attempts)") from None
        raise AssertionError("unreachable: tenacity returns or raises")  # pragma: no cover

    def _delay(self, failure: BaseException | None, attempt: int) -> float:
        """Seconds to wait after failed attempt number ``attempt``: Retry-After, else exponential backoff."""
        if isinstance(failure, _Transient) and failure.retry_after is not None:
            return failure.retry_after
        return float(self.policy.backoff_seconds * 2 ** (attempt - 1))

    async def _turn(self, host: _Host) -> None:
        """Wait until this host may take another request: ``delay`` after the start of the one before
        (robots.txt's own fetch included, so a Crawl-delay it announces spaces the first page too)."""
        delay = max(self.policy.per_host_delay_seconds, host.rules.delay(self._agent) if host.rules else 0.0)
        now = self._monotonic()
        start = now if host.last_start is None else max(now, host.last_start + delay)
        host.last_start = start
        if start > now:
            await self._sleep(start - now)

    async def _attempt(
        self, url: str, host: _Host, headers: dict[str, str], max_bytes: int, learnt: bool
    ) -> WebResponse:
        async with host.slots:
            await self._turn(host)
            async with self._slots:
                deadline = self.policy.deadline_seconds
                try:
                    async with asyncio.timeout(deadline):  # the whole request, however the server drips
                        try:
                            response, final_url = await self._send(url, headers, learnt)
                            try:
                                data, truncated = await self._body(response, max_bytes)
                            finally:
                                await response.aclose()
                        except (httpx.TransportError, aiohttp.ClientError, TimeoutError, ssl.SSLError) as exc:
                            raise self._failure(url, exc) from None
                except TimeoutError:  # the deadline (a read timeout is a _Transient by now): not retried now
                    raise FetchError(url, f"not done after {deadline:g} s in all (deadline_seconds): the server "
                                     "sends too slowly; tried again next run") from None
        status = response.status_code
        if status in TRANSIENT_STATUSES:
            reason = f"HTTP {status} {response.reason_phrase}".rstrip()
            wait = _retry_after(response.headers.get("Retry-After"), self._wall_clock())
            if wait is not None and wait > self.policy.max_retry_after_seconds:
                raise FetchError(url, f"{reason}, asked to retry after {wait:.0f} s: left for a later run")
            raise _Transient(reason, wait)
        if status >= 400:
            raise FetchError(url, f"HTTP {status} {response.reason_phrase}".rstrip(), permanent=True, status=status)
        if status != 304 and not 200 <= status < 300:
            raise FetchError(url, f"unexpected HTTP {status} {response.reason_phrase}".rstrip())
        media, charset = _content_type(response.headers.get("Content-Type"))
        return WebResponse(
            url=url, final_url=final_url, status=status, data=data, media_type=media, charset=charset,
            etag=response.headers.get("ETag"), last_modified=response.headers.get("Last-Modified"),
            truncated=truncated,
        )

    def _failure(self, url: str, exc: BaseException) -> Exception:
        """What a transport error means. httpx-aiohttp maps aiohttp's errors to httpx's loosely (a
        certificate error arrives as a ConnectTimeout), so the original, its ``__cause__``, decides."""
        original = exc.__cause__
        cause = original if isinstance(original, aiohttp.ClientError | TimeoutError | ssl.SSLError) else exc
        if isinstance(cause, aiohttp.ClientSSLError | ssl.SSLError) or "CERTIFICATE_VERIFY_FAILED" in str(cause):
            return FetchError(url, f"TLS failed: {cause}")  # no retry now: a certificate does not mend in seconds
        if isinstance(cause, TimeoutError | httpx.TimeoutException):
            return _Transient(f"timed out after {self.policy.timeout_seconds:g} s")
        if isinstance(cause, aiohttp.InvalidURL):  # e.g. a host aiohttp will not read as an address: 127.1
            return FetchError(url, f"not a usable URL: {cause}", permanent=True)
        return _Transient(f"connection failed: {cause or type(cause).__name__}")

    async def _send(self, url: str, headers: Mapping[str, str], learnt: bool) -> tuple[httpx.Response, str]:
        """GET ``url`` through the transport its trust calls for, following redirects (each through the learnt
        transport); the response (unread) and its URL."""
        try:
            target = _parsed(url)
        except httpx.InvalidURL as exc:  # a host no parser agrees on (0177.0.0.1) passes URL normalization
            raise FetchError(url, f"not a usable URL: {exc}", permanent=True) from None
        http = self.learnt if learnt else self.http
        for hop in range(self.policy.max_redirects + 1):
            request = httpx.Request("GET", target, headers=[*self._headers, *headers.items()], extensions=self._timeout)
            try:
                response = await http.handle_async_request(request)
            except (httpx.TransportError, aiohttp.ClientError, OSError) as exc:
                refused = behind(exc)
                if refused is None:
                    raise
                where = "not fetched" if hop == 0 else f"redirected to {target}, not followed"
                raise PrivateAddressError(
                    url, f"{where}: {refused}, and a URL learnt from a feed or a redirect may reach only public "
                    "addresses; set [http] allow_private_addresses = true to allow it"
                ) from None
            location = response.headers.get("Location") if response.status_code in REDIRECTS else None
            if location is None:
                return response, str(target)
            await response.aclose()
            http = self.learnt
            try:
                target = target.join(location.strip()).copy_with(fragment=None)
            except httpx.InvalidURL as exc:
                raise FetchError(url, f"redirected to an unusable URL: {exc}", permanent=True) from None
            if target.scheme not in ("http", "https") or not target.host:
                raise FetchError(url, f"redirected to an unusable URL: {target}", permanent=True)
            if hop == self.policy.max_redirects:
                break
        raise FetchError(url, f"more than {self.policy.max_redirects} redirects", permanent=True)

    @staticmethod
    async def _body(response: httpx.Response, max_bytes: int) -> tuple[bytes, bool]:
        """The decoded body, cut off after ``max_bytes``; and whether it was cut off."""
        if response.status_code == 304 or response.status_code >= 400:
            return b"", False
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.aiter_bytes():
            if size + len(chunk) > max_bytes:
                chunks.append(chunk[: max_bytes - size])
                return b"".join(chunks), True
            chunks.append(chunk)
            size += len(chunk)
        return b"".join(chunks), False

    async def _rules(self, host: _Host, learnt: bool) -> _Rules:
        """robots.txt of the host's site, fetched at most once per Fetcher (concurrent callers share the fetch),
        with the trust of the URL that asks first; if that was a learnt URL refused its address, a trusted URL
        fetches it again for itself."""
        while host.rules is None or (host.rules.refused is not None and not learnt):
            if host.rules is None:  # the first load, with the trust of the URL that asks first
                if host.rules_ready is None:
                    host.rules_ready = asyncio.ensure_future(self._load_rules(host, learnt))
                ready = host.rules_ready
            else:  # refused to a learnt URL: says nothing to a trusted one, which loads them for itself
                if host.trusted_ready is None:
                    host.trusted_ready = asyncio.ensure_future(self._load_rules(host, False))
                ready = host.trusted_ready
            loaded = await asyncio.shield(ready)
            if host.rules is None or host.rules.refused is not None:
                host.rules = loaded
        return host.rules

    async def _load_rules(self, host: _Host, learnt: bool) -> _Rules:
        site = host.origin
        known = self._known_robots.get(site)
        if known is None:
            url = f"{site}/robots.txt"
            try:
                response = await self._with_retries(url, host, {"Accept": "text/plain"}, ROBOTS_MAX_BYTES, learnt)
                known = RobotsFile(site, response.status, response.data.decode("utf-8", errors="replace"))
            except FetchError as exc:
                if learnt and isinstance(exc, PrivateAddressError):
                    return _Rules(refused=exc.reason)
                if exc.status is None or exc.status >= 500:  # RFC 9309 2.3.1.4: unreachable means disallow all
                    return _Rules(blocked=f"robots.txt could not be fetched ({exc.reason}): not fetching the site")
                known = RobotsFile(site, exc.status)
            self.robots_fetched[site] = known
        if 200 <= known.status < 300:
            return _Rules(parser=Protego.parse(known.body))
        return _Rules()  # RFC 9309 2.3.1.3: a 4xx robots.txt means no rules

