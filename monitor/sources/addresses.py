"""Where a URL learnt from a feed or a redirect may connect: public addresses only (server-side request forgery).

A URL the user configured (a page source, a feed's own URL) is trusted wherever it points. A URL learnt from
a feed entry, and the target of every redirect, is written by someone else: fetched as it comes, it could make
the monitor read what only its host can reach (``http://127.0.0.1:8080/admin``, the cloud metadata service at
``169.254.169.254``, a router on ``192.168.1.1``) and mail the text as a claim. Such URLs are fetched through a
transport of their own (:func:`monitor.sources.web.transport` with ``learnt``), which connects only to public
addresses, unless ``[http] allow_private_addresses`` is true. The decision is made on the address the socket
actually connects to, before a byte of the request is sent:

- :func:`public_socket` is the aiohttp connector's ``socket_factory``: aiohttp calls it, for every connection
  attempt, with the very address it is about to connect to, and it refuses to make a socket for one that is
  not public. Hosts written as IP addresses (``http://127.0.0.1/``, ``http://[::ffff:7f00:1]/``), which aiohttp
  never hands to the resolver, are checked here like any other. As the check is on what is connected to, not on
  an earlier lookup, a name whose DNS answers a public address and then a private one cannot slip past it;
- :class:`PublicResolver` wraps aiohttp's resolver and passes on only the public addresses of a name, so that a
  name with public and private ones connects to a public one, and a name with none is refused with a message
  saying what it resolves to;
- the learnt transport keeps its own pool of connections: a keep-alive connection opened for a trusted URL to
  a private address is never reused for a learnt one.

Public means globally reachable: not loopback, private (RFC 1918), shared (100.64.0.0/10, carrier-grade NAT),
link-local (169.254.0.0/16, fe80::/10), unique-local (fc00::/7), site-local, unspecified, multicast, reserved,
nor any other block the IANA special-purpose registries mark as not globally reachable (documentation,
benchmarking, protocol assignments; Python's ``ipaddress`` knows them). An IPv6 address that carries an IPv4
one (IPv4-mapped ``::ffff:0:0/96``, NAT64 ``64:ff9b::/96``, 6to4 ``2002::/16``) is judged by the IPv4 address it
carries; the deprecated IPv4-compatible form (``::a.b.c.d``) is reserved, so refused.
"""

from __future__ import annotations

import ipaddress
import socket
from typing import TYPE_CHECKING

from aiohttp.abc import AbstractResolver, ResolveResult

if TYPE_CHECKING:
    from aiohappyeyeballs import AddrInfoType

_IP = ipaddress.IPv4Address | ipaddress.IPv6Address
#: blocks named in messages before Python's broader "not globally reachable" (``is_global``) is asked
_IPV4_PRIVATE = tuple(map(ipaddress.IPv4Network, ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")))
_IPV4_UNSPECIFIED = ipaddress.IPv4Network("0.0.0.0/8")  # "this network": connecting to 0.0.0.0 reaches this host
_IPV4_SHARED = ipaddress.IPv4Network("100.64.0.0/10")
#: IETF protocol assignments: Python before 3.12.4 takes most of this /24 for global
_IPV4_PROTOCOL = ipaddress.IPv4Network("192.0.0.0/24")
_IPV6_UNIQUE_LOCAL = ipaddress.IPv6Network("fc00::/7")
#: RFC 6052: the IPv4 address is the last 32 bits (the local-use 64:ff9b:1::/48 of RFC 8215 is reserved)
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")

PHRASES = {
    "loopback": "a loopback address",
    "private": "a private address",
    "cgnat": "a shared address (carrier-grade NAT)",
    "link-local": "a link-local address",
    "unique-local": "a unique-local address",
    "site-local": "a site-local address",
    "unspecified": "an unspecified address",
    "multicast": "a multicast address",
    "reserved": "a reserved address",
    "special": "a special-purpose address (not globally reachable)",
    "invalid": "not an IP address",
}


class NotPublic(OSError):
    """A learnt URL's connection would reach an address that is not public; the message says which and why."""


def kind(address: str) -> str | None:
    """What ``address`` (an IP address as text, IPv6 perhaps with a ``%zone``) is when it is not public: a key
    of :data:`PHRASES` ("loopback", "private", ...); None when it is public. An IPv6 address carrying an IPv4
    one is what the IPv4 address is."""
    try:
        ip: _IP = ipaddress.ip_address(address)
    except ValueError:
        return "invalid"
    inner = _carried(ip)
    return _kind(inner if inner is not None else ip)


def refusal(address: str) -> str | None:
    """Why a learnt URL may not connect to ``address``: a phrase ("a loopback address (127.0.0.1 in IPv6
    form)"); None when the address is public."""
    found = kind(address)
    if found is None:
        return None
    inner = _carried(ipaddress.ip_address(address)) if found != "invalid" else None
    return PHRASES[found] + (f" ({inner} in IPv6 form)" if inner is not None else "")


def _carried(ip: _IP) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address stands for (IPv4-mapped, NAT64, 6to4), else None."""
    if isinstance(ip, ipaddress.IPv4Address):
        return None
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFF_FFFF)
    return ip.sixtofour


def _kind(ip: _IP) -> str | None:
    # the named kinds first, for a clear message; then anything else that is not globally reachable
    if ip.is_unspecified or ip in _IPV4_UNSPECIFIED:
        return "unspecified"
    if ip.is_loopback:
        return "loopback"
    if ip.is_link_local:
        return "link-local"
    if ip.is_multicast:
        return "multicast"
    if isinstance(ip, ipaddress.IPv4Address):
        if any(ip in network for network in _IPV4_PRIVATE):
            return "private"
        if ip in _IPV4_SHARED:
            return "cgnat"
        if ip.is_reserved:
            return "reserved"
        if ip in _IPV4_PROTOCOL or not ip.is_global:
            return "special"
        return None
    if ip in _IPV6_UNIQUE_LOCAL:
        return "unique-local"
    if ip.is_site_local:
        return "site-local"
    if ip.is_reserved:
        return "reserved"
    if not ip.is_global:
        return "special"
    return None


def behind(exc: BaseException) -> NotPublic | None:
    """The refusal behind a transport's error (httpx's error, caused by aiohttp's, caused by NotPublic), else None."""
    cause: BaseException | None = exc
    for _ in range(4):
        if cause is None or isinstance(cause, NotPublic):
            return cause
        cause = cause.__cause__
    return None


def public_socket(addr_info: AddrInfoType) -> socket.socket:
    """The socket for one connection attempt (aiohttp's ``socket_factory``); NotPublic if the address it is
    about to connect to is not public."""
    family, type_, proto, _, address = addr_info
    why = refusal(str(address[0]))
    if why is not None:
        raise NotPublic(f"{address[0]} is {why}")
    return socket.socket(family=family, type=type_, proto=proto)


class PublicResolver(AbstractResolver):
    """Resolves with ``resolver`` and keeps a name's public addresses; NotPublic when it has none."""

    def __init__(self, resolver: AbstractResolver) -> None:
        self._resolver = resolver

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        found = await self._resolver.resolve(host, port, family)
        public = [one for one in found if kind(one["host"]) is None]
        if public or not found:
            return public
        addresses = list(dict.fromkeys(one["host"] for one in found))
        if len(addresses) == 1:
            raise NotPublic(f"{host} resolves to {addresses[0]}, {refusal(addresses[0])}")
        listed = ", ".join(f"{address} ({kind(address)})" for address in addresses)
        raise NotPublic(f"{host} resolves to no public address: {listed}")

    async def close(self) -> None:
        await self._resolver.close()
