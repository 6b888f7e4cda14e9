"""The emulator's socket: loopback only.

localstripe accepts any `sk_…` key and exposes unauthenticated `/_config` routes, and its stock
`start()` binds `::`, i.e. every interface. The bridge binds the socket itself and refuses any
address that is not loopback.
"""

from __future__ import annotations

import ipaddress
import socket

LOOPBACK_NAMES = {"localhost": "127.0.0.1"}


class NotLoopback(ValueError):
    """The address is not a loopback address."""


def loopback_address(host: str) -> str:
    """`host` as a loopback IP literal (`localhost` → 127.0.0.1), or NotLoopback."""
    address = LOOPBACK_NAMES.get(host.lower(), host)
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        raise NotLoopback(host) from None
    if not ip.is_loopback:
        raise NotLoopback(host)
    return str(ip)


def listen(host: str, port: int) -> socket.socket:
    """A listening TCP socket on loopback `host`; port 0 picks a free port."""
    address = loopback_address(host)
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((address, port))
    sock.listen(128)
    sock.setblocking(False)
    return sock


def url_of(sock: socket.socket) -> str:
    address, port = sock.getsockname()[:2]
    host = f"[{address}]" if ":" in address else address
    return f"http://{host}:{port}"
