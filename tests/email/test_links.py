"""Signed link tokens: they round-trip, any change breaks them, offer links expire at
`expires_at`, and a token made for one purpose or key is worthless for another."""

from __future__ import annotations

import base64

import pytest

from plugin.email.links import (
    BadLink,
    LinkExpired,
    OfferLink,
    derive_key,
    read_offer_link,
    read_unsubscribe,
    sign_offer_link,
    sign_unsubscribe,
)
from plugin.errors import ValidationFailed

ROOT = b"operator-secret-0123456789abcdef"
KEY = derive_key(ROOT, "email-links")
NOW = 1_767_225_600  # 2026-01-01T00:00:00Z
EXPIRES = NOW + 7 * 86_400
ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=+/ "

ODD_IDS = [
    "cus_123",
    "x",
    "a" * 64,
    'quote"comma,bracket]["',
    "dot.and\\backslash",
    "ünïcødé 客户 🙂",
    "\ud800 lone surrogate",
    "tab\tand\nnewline",
]


@pytest.mark.parametrize("customer_id", ODD_IDS)
def test_an_offer_link_reads_back_what_was_signed(customer_id: str) -> None:
    """Any id of 1 to 64 characters comes back exactly, with the offer and the expiry."""
    token = sign_offer_link(
        KEY, offer_id="offer_basic_to_pro", customer_id=customer_id, expires_at=EXPIRES
    )
    assert read_offer_link(KEY, token, now=NOW) == OfferLink(
        "offer_basic_to_pro", customer_id, EXPIRES
    )


@pytest.mark.parametrize("customer_id", ODD_IDS)
def test_an_unsubscribe_token_reads_back_its_customer(customer_id: str) -> None:
    assert read_unsubscribe(KEY, sign_unsubscribe(KEY, customer_id=customer_id)) == customer_id


def test_tokens_are_url_safe_and_compact() -> None:
    """No padding, nothing a URL would need to escape; ~100 characters for typical ids."""
    token = sign_offer_link(
        KEY, offer_id="offer_basic_to_pro", customer_id="cus_123", expires_at=EXPIRES
    )
    assert set(token) <= set(ALPHABET) - set("=+/ ")
    assert len(token) <= 110
    assert len(sign_unsubscribe(KEY, customer_id="cus_123")) <= 60


def test_the_longest_ids_still_make_a_readable_token() -> None:
    """Two ids of 64 characters that JSON escapes the most (outside the BMP) still read back."""
    widest = "🙂" * 64
    token = sign_offer_link(KEY, offer_id=widest, customer_id=widest, expires_at=EXPIRES)
    assert read_offer_link(KEY, token, now=NOW) == OfferLink(widest, widest, EXPIRES)


def test_changing_any_character_breaks_the_link() -> None:
    """Every substitution at every position fails as a bad link, never as expired or valid:
    base64 must be canonical, so even the spare bits of the last character count."""
    token = sign_offer_link(KEY, offer_id="offer_1", customer_id="cus_1", expires_at=EXPIRES)
    for position, original in enumerate(token):
        for replacement in ALPHABET.replace(original, ""):
            tampered = token[:position] + replacement + token[position + 1 :]
            with pytest.raises(BadLink) as refused:
                read_offer_link(KEY, tampered, now=NOW)
            assert type(refused.value) is BadLink, tampered


def test_a_token_with_non_canonical_base64_is_refused() -> None:
    """The same bytes in another spelling (spare bits set in the last character) do not verify."""
    token = sign_unsubscribe(KEY, customer_id="cus_1")
    payload, mac = token.split(".")
    raw = base64.urlsafe_b64decode(mac + "=" * (-len(mac) % 4))
    assert len(raw) % 3 != 0  # the last character has spare bits to set
    respelled = mac[:-1] + ALPHABET[ALPHABET.index(mac[-1]) + 1]
    assert base64.urlsafe_b64decode(respelled + "=" * (-len(respelled) % 4)) == raw
    with pytest.raises(BadLink, match="malformed"):
        read_unsubscribe(KEY, f"{payload}.{respelled}")


def test_an_offer_link_works_until_the_second_before_it_expires() -> None:
    """`expires_at` is the first second the link no longer works: now == expires_at is expired."""
    token = sign_offer_link(KEY, offer_id="offer_1", customer_id="cus_1", expires_at=EXPIRES)
    assert read_offer_link(KEY, token, now=EXPIRES - 1).expires_at == EXPIRES
    for now in (EXPIRES, EXPIRES + 1):
        with pytest.raises(LinkExpired) as expired:
            read_offer_link(KEY, token, now=now)
        assert expired.value.field == "link"


def test_an_unsubscribe_token_never_expires() -> None:
    """RFC 8058 one-click links keep working however late the click (no `now` to pass)."""
    token = sign_unsubscribe(KEY, customer_id="cus_1")
    assert read_unsubscribe(KEY, token) == "cus_1"


def test_a_token_is_bound_to_its_purpose() -> None:
    """Under the same key, an unsubscribe token is no offer link and an offer link no
    unsubscribe token, even when their payloads could be confused."""
    unsubscribe = sign_unsubscribe(KEY, customer_id="cus_1")
    offer = sign_offer_link(KEY, offer_id="offer_1", customer_id="cus_1", expires_at=EXPIRES)
    with pytest.raises(BadLink, match="signature"):
        read_offer_link(KEY, unsubscribe, now=NOW)
    with pytest.raises(BadLink, match="signature"):
        read_unsubscribe(KEY, offer)


def test_a_token_signed_with_another_key_is_refused() -> None:
    other = derive_key(ROOT, "something-else")
    token = sign_offer_link(other, offer_id="offer_1", customer_id="cus_1", expires_at=EXPIRES)
    with pytest.raises(BadLink, match="signature"):
        read_offer_link(KEY, token, now=NOW)
    with pytest.raises(BadLink, match="signature"):
        read_unsubscribe(
            derive_key(b"another-root", "email-links"), sign_unsubscribe(KEY, customer_id="c")
        )


def test_derived_keys_are_stable_and_separate() -> None:
    """One root gives the same key for a purpose every time and a different key per purpose."""
    assert derive_key(ROOT, "email-links") == KEY
    assert len(KEY) == 32
    assert derive_key(ROOT, "unsubscribe") != KEY
    assert derive_key(ROOT + b"x", "email-links") != KEY
    with pytest.raises(ValueError, match="empty"):
        derive_key(b"", "email-links")


@pytest.mark.parametrize(
    "token",
    ["", ".", "abc", "abc.", ".abc", "a.b.c", "YQ==.YQ==", "YQ.Y Q", "x" * 5000 + ".YQ", "ünï.YQ"],
)
def test_a_malformed_token_is_refused_as_a_bad_link(token: str) -> None:
    """Malformed input is a ValidationFailed on the `link` field, never a crash."""
    with pytest.raises(BadLink) as refused:
        read_offer_link(KEY, token, now=NOW)
    assert isinstance(refused.value, ValidationFailed)
    assert refused.value.field == "link"
    with pytest.raises(BadLink):
        read_unsubscribe(KEY, token)


@pytest.mark.parametrize("bad_id", ["", "a" * 65])
def test_ids_outside_one_to_64_characters_are_not_signed(bad_id: str) -> None:
    with pytest.raises(ValueError, match="1 to 64"):
        sign_offer_link(KEY, offer_id=bad_id, customer_id="cus_1", expires_at=EXPIRES)
    with pytest.raises(ValueError, match="1 to 64"):
        sign_unsubscribe(KEY, customer_id=bad_id)
