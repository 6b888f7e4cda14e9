"""Stripe's webhook signature, checked without trusting anything but the raw bytes.

`Stripe-Signature: t=<unix>,v1=<hex>[,v1=<hex>…][,v0=<hex>]`; each `v1` is
hex(HMAC-SHA256(secret, "{t}.{raw body}")). Differences from stripe-python's verifier, on purpose
(docs/reliability.md §1.2):

- every configured secret is tried, so rotating the endpoint secret drops no event;
- the tolerance applies in both directions: a timestamp far in the future is as suspect as a
  stale one, and stripe-python accepts `t = now + 10 years`;
- `now` is an argument (stripe-python reads the clock inside, which makes its edges untestable);
- no secret configured rejects everything: intake fails closed.

Pure: no I/O, no clock (tests/test_boundaries.py).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence

from plugin.errors import BadRequest

DEFAULT_TOLERANCE = 300  # seconds; stripe-python's DEFAULT_TOLERANCE and Stripe's docs
SCHEME = "v1"  # the only live scheme; `v0` (a fake one Stripe adds in test mode) is ignored


class SignatureError(BadRequest):
    """The request is not provably from Stripe. `code` is the API error code to answer with."""

    def __init__(self, message: str, *, code: str) -> None:
        super().__init__(message, code=code)


def compute_signature(payload: bytes, *, secret: str, timestamp: int) -> str:
    signed = f"{timestamp}.".encode() + payload
    return hmac.new(secret.encode("utf-8"), signed, hashlib.sha256).hexdigest()


def sign(payload: bytes, *, secrets: Sequence[str], timestamp: int) -> str:
    """The header Stripe sends: one `v1` per secret (several while a secret is being rolled)."""
    parts = [f"t={timestamp}"]
    parts += [f"v1={compute_signature(payload, secret=s, timestamp=timestamp)}" for s in secrets]
    return ",".join(parts)


def parse_header(header: str) -> tuple[int, list[str]]:
    """(timestamp, v1 signatures). Parsed as stripe-python does: the first `t` wins, elements
    are split on `,` then on the first `=`, and nothing is stripped (`" v1"` is not `"v1"`)."""
    timestamp: int | None = None
    signatures = []
    for element in header.split(","):
        key, sep, value = element.partition("=")
        if not sep:
            continue
        if key == "t" and timestamp is None:
            # int() alone would take " 12", "+12" or "1_2"; Stripe sends plain digits.
            if not value.isascii() or not value.isdigit():
                raise SignatureError(
                    "The Stripe-Signature timestamp is not a number.", code="signature_malformed"
                )
            timestamp = int(value)
        elif key == SCHEME:
            signatures.append(value)
    if timestamp is None:
        raise SignatureError(
            "The Stripe-Signature header has no timestamp.", code="signature_malformed"
        )
    if not signatures:
        raise SignatureError(
            "The Stripe-Signature header has no v1 signature.", code="signature_malformed"
        )
    return timestamp, signatures


def verify(
    payload: bytes,
    header: str | None,
    *,
    secrets: Sequence[str],
    now: int,
    tolerance: int = DEFAULT_TOLERANCE,
) -> int:
    """Raise `SignatureError` unless some `v1` in `header` matches some secret over `payload`
    and the timestamp is within `tolerance` of `now`. Returns the signed timestamp."""
    if tolerance <= 0:
        # stripe-python skips the timestamp check for a falsy tolerance; never allow that here.
        raise ValueError("tolerance must be positive")
    if not secrets:
        raise SignatureError(
            "No webhook signing secret is configured, so no event can be trusted.",
            code="webhook_secret_not_configured",
        )
    if not header:
        raise SignatureError("The Stripe-Signature header is missing.", code="signature_missing")
    timestamp, signatures = parse_header(header)
    matched = False
    for secret in secrets:
        expected = compute_signature(payload, secret=secret, timestamp=timestamp)
        for candidate in signatures:
            # Compare every pair without stopping early; compare_digest needs equal types, and
            # a non-ASCII str would raise TypeError, so compare bytes.
            if hmac.compare_digest(expected.encode(), candidate.encode("utf-8", "replace")):
                matched = True
    if not matched:
        raise SignatureError(
            "No Stripe-Signature v1 value matches the body.", code="signature_mismatch"
        )
    if timestamp < now - tolerance:
        raise SignatureError(
            f"The Stripe-Signature timestamp is more than {tolerance} s old.",
            code="signature_expired",
        )
    if timestamp > now + tolerance:
        raise SignatureError(
            f"The Stripe-Signature timestamp is more than {tolerance} s in the future.",
            code="signature_from_future",
        )
    return timestamp
