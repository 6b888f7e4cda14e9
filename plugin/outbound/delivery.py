"""One delivery attempt over HTTP.

The host is resolved and checked (plugin/outbound/addresses.py) and the request goes to the
address that passed, with the name kept for the `Host` header and, over TLS, for SNI and the
certificate check; so what was checked is what is connected to. A 2xx is a success; anything
else, a redirect included (never followed), is a failure to retry. The whole attempt —
resolving, connecting, sending, the answer's status line — is bounded by `timeout` (10 s by
default). The answer's body is not read: a receiver's page says nothing Uplift can act on, and
storing it would keep whatever it holds.
"""

from __future__ import annotations

import asyncio
import ipaddress
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from plugin.outbound import addresses
from plugin.outbound.addresses import RefusedAddress

USER_AGENT = "Uplift-Webhooks/1"


@dataclass(frozen=True, slots=True)
class Result:
    status_code: int | None
    latency_ms: int
    error: str | None  # None: delivered


def client() -> httpx.AsyncClient:
    """The client deliveries share: no redirects, no proxies or certificates from the
    environment's variables (a proxy would be an address nobody checked)."""
    return httpx.AsyncClient(
        follow_redirects=False,
        trust_env=False,
        timeout=httpx.Timeout(10.0),
        limits=httpx.Limits(max_connections=64, max_keepalive_connections=16),
        headers={"User-Agent": USER_AGENT},
    )


async def attempt(
    http: httpx.AsyncClient,
    *,
    url: str,
    headers: dict[str, str],
    body: str,
    allow_private: bool,
    timeout: float,  # noqa: ASYNC109 -- the setting, applied inside as asyncio.timeout
) -> Result:
    started = time.monotonic()

    def took() -> int:
        return int((time.monotonic() - started) * 1000)

    try:
        async with asyncio.timeout(timeout):
            return await _send(http, url, headers, body, allow_private=allow_private, took=took)
    except TimeoutError:
        return Result(None, took(), f"timed out after {timeout:g} s")
    except RefusedAddress as refused:
        return Result(None, took(), refused.message)


async def _send(
    http: httpx.AsyncClient,
    url: str,
    headers: dict[str, str],
    body: str,
    *,
    allow_private: bool,
    took: Callable[[], int],
) -> Result:
    target = addresses.parse(url)
    found = await addresses.resolve(target, allow_private=allow_private)
    error = "no address"
    for ip in found:
        host = f"[{ip}]" if isinstance(ip, ipaddress.IPv6Address) else str(ip)
        request = http.build_request(
            "POST",
            f"{target.scheme}://{host}:{target.port}{target.path}",
            content=body.encode(),
            headers={
                **headers,
                "Host": _host_header(target),
                "Content-Type": "application/json",
            },
            extensions={"sni_hostname": target.host} if target.scheme == "https" else {},
        )
        try:
            response = await http.send(request, stream=True)
        except httpx.ConnectError as exc:
            error = f"could not connect: {_short(exc)}"
            continue  # the next address the name has
        except httpx.TransportError as exc:
            return Result(None, took(), f"{type(exc).__name__}: {_short(exc)}")
        await response.aclose()
        code = response.status_code
        if 200 <= code < 300:
            return Result(code, took(), None)
        if 300 <= code < 400:
            return Result(code, took(), f"HTTP {code}: redirects are not followed")
        return Result(code, took(), f"HTTP {code}")
    return Result(None, took(), error)


def _host_header(target: addresses.Target) -> str:
    host = f"[{target.host}]" if ":" in target.host else target.host  # an IPv6 literal
    return host if target.default_port else f"{host}:{target.port}"


def _short(exc: Exception) -> str:
    return (str(exc) or type(exc).__name__)[:200]
