"""Which addresses a delivery may go to, and resolving an endpoint's host.

An endpoint URL is the SaaS's to choose, so it must not become a way into the network Uplift
runs in (SSRF): loopback, private (RFC 1918, unique-local), link-local (cloud metadata at
169.254.169.254), carrier-grade NAT, multicast, reserved and unspecified addresses are refused,
including IPv4 written inside IPv6 (`::ffff:10.0.0.1`, NAT64, 6to4). The check runs when the
endpoint is registered and again at every delivery, on every address the name resolves to,
and the delivery connects to the address that was checked (plugin/outbound/delivery.py), so a
name that resolves elsewhere a second later (DNS rebinding) gains nothing.
`UPLIFT_OUTBOUND_ALLOW_PRIVATE_NETWORKS=true` lifts it, for development and tests.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from plugin.errors import ValidationFailed

IP = ipaddress.IPv4Address | ipaddress.IPv6Address
_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
MAX_URL = 2048


class RefusedAddress(ValidationFailed):
    """The URL is not one a delivery may go to."""

    def __init__(self, message: str) -> None:
        super().__init__(message, code="url_not_allowed", field="url")


@dataclass(frozen=True, slots=True)
class Target:
    scheme: str
    host: str  # as written (the Host header and TLS server name), lower case
    port: int
    path: str  # path and query, at least "/"

    @property
    def default_port(self) -> bool:
        return self.port == (443 if self.scheme == "https" else 80)


def parse(url: str) -> Target:
    """An endpoint URL's parts, or `RefusedAddress`: http(s) only, a host, no credentials."""
    if len(url) > MAX_URL:
        raise RefusedAddress(f"The URL is longer than {MAX_URL} characters.")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise RefusedAddress("The URL does not parse.") from None
    if parts.scheme not in ("https", "http"):
        raise RefusedAddress("The URL must be https:// (or http://).")
    if not parts.hostname:
        raise RefusedAddress("The URL has no host.")
    if parts.username is not None or parts.password is not None:
        raise RefusedAddress("Credentials do not belong in the URL; the signature authenticates.")
    if parts.fragment:
        raise RefusedAddress("The URL must not have a fragment.")
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    default = 443 if parts.scheme == "https" else 80
    return Target(parts.scheme, parts.hostname.lower(), port or default, path)


def public(ip: IP) -> bool:
    """Whether `ip` is an address on the public internet."""
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour
        if embedded is None and ip in _NAT64:
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFF_FFFF)
        if embedded is not None:
            return public(embedded)
    if ip in _CGNAT:
        return False
    return ip.is_global and not (ip.is_multicast or ip.is_reserved or ip.is_unspecified)


async def resolve(target: Target, *, allow_private: bool) -> list[IP]:
    """Every address the host resolves to, all of them allowed, or `RefusedAddress`."""
    try:
        literal: IP | None = ipaddress.ip_address(target.host)
    except ValueError:
        literal = None
    if literal is not None:
        found = [literal]
    else:
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(
                target.host, target.port, type=socket.SOCK_STREAM
            )
        except (OSError, UnicodeError):
            raise RefusedAddress(f"The host {target.host!r} does not resolve.") from None
        found = list(dict.fromkeys(ipaddress.ip_address(info[4][0]) for info in infos))
        if not found:  # pragma: no cover -- getaddrinfo raises rather than answer nothing
            raise RefusedAddress(f"The host {target.host!r} does not resolve.")
    if not allow_private:
        for ip in found:
            if not public(ip):
                raise RefusedAddress(
                    f"The host {target.host!r} is a loopback, private or reserved address"
                    " (UPLIFT_OUTBOUND_ALLOW_PRIVATE_NETWORKS=true allows it in development)."
                )
    return found
