"""Where a delivery may go: public addresses only, unless private networks are allowed."""

from __future__ import annotations

import ipaddress

import pytest

from plugin.outbound import addresses
from plugin.outbound.addresses import RefusedAddress


@pytest.mark.parametrize(
    "ip",
    [
        "127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254", "100.64.0.1",
        "0.0.0.0", "224.0.0.1",  # noqa: S104 -- an address under test, not bound "255.255.255.255", "240.0.0.1", "::1", "::", "fe80::1",
        "fc00::1", "ff02::1", "::ffff:10.0.0.1", "::ffff:127.0.0.1", "64:ff9b::a00:1",
        "2002:a00:1::", "198.18.0.1",
    ],
)  # fmt: skip
def test_internal_addresses_are_not_public(ip: str) -> None:
    assert not addresses.public(ipaddress.ip_address(ip))


@pytest.mark.parametrize("ip", ["93.184.215.14", "1.1.1.1", "2606:4700:4700::1111"])
def test_internet_addresses_are_public(ip: str) -> None:
    assert addresses.public(ipaddress.ip_address(ip))


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("ftp://example.com/", "https://"),
        ("https:///path", "no host"),
        ("https://user:pw@example.com/", "Credentials"),
        ("https://example.com/#frag", "fragment"),
        ("https://example.com:99999/", "does not parse"),
        ("https://" + "a" * 2050 + ".com/", "longer"),
    ],
)
def test_bad_urls_are_refused_with_the_reason(url: str, why: str) -> None:
    with pytest.raises(RefusedAddress, match=why) as refused:
        addresses.parse(url)
    assert refused.value.field == "url"


def test_a_url_keeps_its_path_query_and_port() -> None:
    target = addresses.parse("https://Hooks.Example.com:8443/in?x=1")
    assert (target.host, target.port, target.path, target.default_port) == (
        "hooks.example.com", 8443, "/in?x=1", False
    )  # fmt: skip
    assert addresses.parse("http://example.com").path == "/"


async def test_loopback_names_and_literals_are_refused_unless_allowed() -> None:
    for url in ("http://localhost:8000/", "http://127.0.0.1/", "http://[::1]/"):
        target = addresses.parse(url)
        with pytest.raises(RefusedAddress, match="loopback, private or reserved"):
            await addresses.resolve(target, allow_private=False)
        assert await addresses.resolve(target, allow_private=True)


async def test_a_name_that_does_not_resolve_is_refused() -> None:
    with pytest.raises(RefusedAddress, match="does not resolve"):
        await addresses.resolve(addresses.parse("https://nowhere.invalid/"), allow_private=True)
