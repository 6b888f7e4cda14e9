"""Signed link tokens for lifecycle email: open an offer, or unsubscribe in one click.

    token = base64url(payload) "." base64url(HMAC-SHA256(key, purpose NUL payload))

The payload is a compact JSON array (`["offer_id","customer_id",expires_at]` or
`["customer_id"]`), so any id up to 64 characters encodes unambiguously. The purpose is in the
MAC input, not the token: an unsubscribe token never verifies as an offer link, nor the reverse,
even under one key. Base64 is unpadded and must be canonical (re-encoding gives the same text),
so no two strings carry one token and changing any character breaks it.

An offer link only says which offer to open for which customer, until when; it is not a login.
The page's own customer token authenticates, and the caller checks that both name the same
customer. An offer link has expired at `now >= expires_at`: `expires_at` is the first second it
no longer works. Unsubscribe tokens never expire: RFC 8058 one-click links must keep working.

`derive_key(root, purpose)` turns one operator secret into a separate key per use. Pure: `now`
comes in.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
from dataclasses import dataclass

from plugin.errors import ValidationFailed

MAX_ID = 64
# The longest token is ~2,150 characters: two ids of 64 characters outside the BMP, which JSON
# escapes as 12 characters each. Anything longer is refused unread.
_MAX_TOKEN = 4096
_OFFER = b"uplift/email/offer-link/v1"
_UNSUBSCRIBE = b"uplift/email/unsubscribe/v1"
_BASE64URL = re.compile(r"[A-Za-z0-9_-]*")


class BadLink(ValidationFailed):
    """The link was not made by us for this purpose, or was changed."""

    def __init__(self, message: str) -> None:
        super().__init__(message, field="link")


class LinkExpired(BadLink):
    """The link was ours, and has expired."""


@dataclass(frozen=True)
class OfferLink:
    offer_id: str
    customer_id: str
    expires_at: int


def derive_key(root: bytes, purpose: str) -> bytes:
    """A 32-byte key for `purpose` from the operator's one secret (HMAC-SHA256 as a PRF)."""
    if not root:
        raise ValueError("The root secret is empty.")
    label = b"uplift/derive-key/v1\x00" + purpose.encode("utf-8")
    return hmac.new(root, label, hashlib.sha256).digest()


def sign_offer_link(secret: bytes, *, offer_id: str, customer_id: str, expires_at: int) -> str:
    fields: list[str | int] = [
        _id("offer_id", offer_id),
        _id("customer_id", customer_id),
        expires_at,
    ]
    return _sign(secret, _OFFER, fields)


def read_offer_link(secret: bytes, token: str, *, now: int) -> OfferLink:
    match _open(secret, _OFFER, token):
        case [str() as offer_id, str() as customer_id, int() as expires_at]:
            pass
        case _:
            raise BadLink("The link is malformed.")
    if now >= expires_at:
        raise LinkExpired("The link has expired.")
    return OfferLink(offer_id=offer_id, customer_id=customer_id, expires_at=expires_at)


def sign_unsubscribe(secret: bytes, *, customer_id: str) -> str:
    return _sign(secret, _UNSUBSCRIBE, [_id("customer_id", customer_id)])


def read_unsubscribe(secret: bytes, token: str) -> str:
    """The customer id the unsubscribe token was made for."""
    match _open(secret, _UNSUBSCRIBE, token):
        case [str() as customer_id]:
            return customer_id
        case _:
            raise BadLink("The link is malformed.")


def _id(name: str, value: str) -> str:
    if not 0 < len(value) <= MAX_ID:
        raise ValueError(f"{name} must be 1 to {MAX_ID} characters.")
    return value


def _mac(secret: bytes, purpose: bytes, payload: bytes) -> bytes:
    return hmac.new(secret, purpose + b"\x00" + payload, hashlib.sha256).digest()


def _sign(secret: bytes, purpose: bytes, fields: list[str | int]) -> str:
    payload = json.dumps(fields, separators=(",", ":")).encode("ascii")  # ensure_ascii
    return f"{_encode(payload)}.{_encode(_mac(secret, purpose, payload))}"


def _open(secret: bytes, purpose: bytes, token: str) -> object:
    """The payload's JSON, once the MAC over it is proven to be ours."""
    encoded_payload, dot, encoded_mac = token.partition(".")
    payload, mac = _decode(encoded_payload), _decode(encoded_mac)
    if len(token) > _MAX_TOKEN or not dot or payload is None or mac is None:
        raise BadLink("The link is malformed.")
    if not hmac.compare_digest(mac, _mac(secret, purpose, payload)):
        raise BadLink("The link's signature does not match.")
    try:
        return json.loads(payload)
    except ValueError:
        raise BadLink("The link is malformed.") from None


def _encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _decode(text: str) -> bytes | None:
    """Unpadded base64url, canonical only: the spare bits of the last character are zero."""
    if len(text) > _MAX_TOKEN or not _BASE64URL.fullmatch(text):
        return None
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except binascii.Error:
        return None
    return raw if _encode(raw) == text else None
