"""plugin/webhooks/signature.py: Stripe's scheme, rotation, tolerance both ways, fail closed."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from plugin.webhooks.signature import DEFAULT_TOLERANCE, SignatureError, sign, verify
from tests.strategies import timestamps
from tests.support import NOW, WEBHOOK_SECRET, sign_webhook

PAYLOAD = b'{"id":"evt_1","object":"event"}'
OLD_SECRET = "whsec_old_secret_being_rolled"


def _code(payload: bytes, header: str | None, *, secrets: list[str], now: int = NOW) -> str:
    with pytest.raises(SignatureError) as caught:
        verify(payload, header, secrets=secrets, now=now)
    return caught.value.code


def test_valid_signature_is_accepted() -> None:
    """A header made exactly as Stripe makes it verifies and yields its timestamp."""
    header = sign_webhook(PAYLOAD, WEBHOOK_SECRET, NOW)
    assert verify(PAYLOAD, header, secrets=[WEBHOOK_SECRET], now=NOW) == NOW


def test_our_signer_matches_stripes() -> None:
    """`sign` (used by the benchmark) produces the same header as Stripe's scheme."""
    assert sign(PAYLOAD, secrets=[WEBHOOK_SECRET], timestamp=NOW) == sign_webhook(
        PAYLOAD, WEBHOOK_SECRET, NOW
    )


def test_wrong_secret_is_rejected() -> None:
    """A signature made with another secret does not verify."""
    header = sign_webhook(PAYLOAD, "whsec_somebody_else", NOW)
    assert _code(PAYLOAD, header, secrets=[WEBHOOK_SECRET]) == "signature_mismatch"


def test_tampered_body_is_rejected() -> None:
    """Changing one byte of the body after signing breaks the signature."""
    header = sign_webhook(PAYLOAD, WEBHOOK_SECRET, NOW)
    tampered = PAYLOAD.replace(b"evt_1", b"evt_2")
    assert _code(tampered, header, secrets=[WEBHOOK_SECRET]) == "signature_mismatch"


def test_reserialised_body_is_rejected() -> None:
    """Verification is over the raw bytes: the same JSON re-indented is a different body."""
    header = sign_webhook(PAYLOAD, WEBHOOK_SECRET, NOW)
    spaced = b'{"id": "evt_1", "object": "event"}'
    assert _code(spaced, header, secrets=[WEBHOOK_SECRET]) == "signature_mismatch"


def test_tampered_timestamp_is_rejected() -> None:
    """The timestamp is signed too: moving it to look fresh breaks the signature."""
    header = sign_webhook(PAYLOAD, WEBHOOK_SECRET, NOW - 3600).replace(
        f"t={NOW - 3600}", f"t={NOW}"
    )
    assert _code(PAYLOAD, header, secrets=[WEBHOOK_SECRET]) == "signature_mismatch"


@pytest.mark.parametrize(
    ("offset", "accepted", "code"),
    [
        (-DEFAULT_TOLERANCE - 1, False, "signature_expired"),
        (-DEFAULT_TOLERANCE, True, None),
        (0, True, None),
        (DEFAULT_TOLERANCE, True, None),
        (DEFAULT_TOLERANCE + 1, False, "signature_from_future"),
        (10 * 365 * 86400, False, "signature_from_future"),
    ],
    ids=["stale-301", "edge-300", "now", "future+300", "future+301", "future-10y"],
)
def test_timestamp_must_be_within_tolerance_both_ways(
    offset: int, accepted: bool, code: str | None
) -> None:
    """A correctly signed event is accepted only within 300 s of now, past or future."""
    header = sign_webhook(PAYLOAD, WEBHOOK_SECRET, NOW + offset)
    if accepted:
        verify(PAYLOAD, header, secrets=[WEBHOOK_SECRET], now=NOW)
    else:
        assert _code(PAYLOAD, header, secrets=[WEBHOOK_SECRET]) == code


def test_any_of_several_v1_values_may_match() -> None:
    """While Stripe rolls a secret it sends one v1 per secret; one matching is enough."""
    header = sign_webhook(PAYLOAD, ["whsec_unknown_one", WEBHOOK_SECRET], NOW)
    assert header.count("v1=") == 2
    verify(PAYLOAD, header, secrets=[WEBHOOK_SECRET], now=NOW)


def test_every_configured_secret_is_tried() -> None:
    """With the old and the new secret configured, events signed by either verify."""
    configured = [WEBHOOK_SECRET, OLD_SECRET]
    for secret in configured:
        verify(PAYLOAD, sign_webhook(PAYLOAD, secret, NOW), secrets=configured, now=NOW)


def test_no_configured_secret_rejects_everything() -> None:
    """Intake fails closed: without a secret nothing verifies."""
    header = sign_webhook(PAYLOAD, WEBHOOK_SECRET, NOW)
    assert _code(PAYLOAD, header, secrets=[]) == "webhook_secret_not_configured"


def test_missing_header_is_rejected() -> None:
    """No header, or an empty one, is a missing signature."""
    assert _code(PAYLOAD, None, secrets=[WEBHOOK_SECRET]) == "signature_missing"
    assert _code(PAYLOAD, "", secrets=[WEBHOOK_SECRET]) == "signature_missing"


@pytest.mark.parametrize(
    "header",
    [
        "garbage",
        f"v1={'0' * 64}",
        f"t={NOW}",
        f"t=abc,v1={'0' * 64}",
        f"t=+{NOW},v1={'0' * 64}",
        f"t={NOW},v0={'0' * 64}",
        f"t={NOW}, v1={'0' * 64}",
    ],
    ids=["garbage", "no-t", "no-v1", "t-not-number", "t-signed", "v0-only", "space-before-v1"],
)
def test_malformed_header_is_rejected(header: str) -> None:
    """A header without a numeric `t` and at least one `v1` is malformed; `v0` is ignored."""
    assert _code(PAYLOAD, header, secrets=[WEBHOOK_SECRET]) == "signature_malformed"


def test_v0_next_to_a_valid_v1_is_ignored() -> None:
    """Stripe adds a fake v0 in test mode; it neither helps nor hurts."""
    header = sign_webhook(PAYLOAD, WEBHOOK_SECRET, NOW) + ",v0=deadbeef"
    verify(PAYLOAD, header, secrets=[WEBHOOK_SECRET], now=NOW)


def test_uppercase_hex_is_not_the_signature() -> None:
    """Stripe sends lower-case hex; an upper-cased copy is a different string."""
    header = sign_webhook(PAYLOAD, WEBHOOK_SECRET, NOW)
    t, v1 = header.split(",")
    assert _code(PAYLOAD, f"{t},{v1.upper().replace('V1=', 'v1=')}", secrets=[WEBHOOK_SECRET]) == (
        "signature_mismatch"
    )


def test_first_timestamp_wins() -> None:
    """Like stripe-python, a second `t` cannot override the first one."""
    header = sign_webhook(PAYLOAD, WEBHOOK_SECRET, NOW)
    assert _code(PAYLOAD, f"t=1,{header}", secrets=[WEBHOOK_SECRET]) == "signature_mismatch"


def test_non_ascii_signature_is_a_mismatch_not_a_crash() -> None:
    """compare_digest raises TypeError on non-ASCII str; the verifier must not."""
    header = f"t={NOW},v1=é"
    assert _code(PAYLOAD, header, secrets=[WEBHOOK_SECRET]) == "signature_mismatch"


def test_zero_tolerance_is_refused() -> None:
    """stripe-python skips the time check for a falsy tolerance; ours refuses the argument."""
    header = sign_webhook(PAYLOAD, WEBHOOK_SECRET, NOW)
    with pytest.raises(ValueError, match="tolerance"):
        verify(PAYLOAD, header, secrets=[WEBHOOK_SECRET], now=NOW, tolerance=0)


secrets_st = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=40).map(
    lambda s: "whsec_" + s
)


@given(
    payload=st.binary(max_size=512),
    secret=secrets_st,
    others=st.lists(secrets_st, max_size=3),
    signed_at=timestamps,
    skew=st.integers(min_value=-2 * DEFAULT_TOLERANCE, max_value=2 * DEFAULT_TOLERANCE),
)
def test_verification_accepts_exactly_fresh_bodies_signed_by_a_configured_secret(
    payload: bytes, secret: str, others: list[str], signed_at: int, skew: int
) -> None:
    """For any body, secrets and clock skew: a header signed with a configured secret verifies
    iff |now - t| <= 300; signed only with secrets that are not configured, it never does."""
    now = signed_at + skew
    header = sign_webhook(payload, secret, signed_at)
    fresh = abs(skew) <= DEFAULT_TOLERANCE
    if fresh:
        verify(payload, header, secrets=[*others, secret], now=now)
    else:
        with pytest.raises(SignatureError):
            verify(payload, header, secrets=[*others, secret], now=now)
    strangers = [s for s in others if s != secret]
    if strangers:
        with pytest.raises(SignatureError):
            verify(payload, header, secrets=strangers, now=now)


@given(payload=st.binary(max_size=256), flip=st.integers(min_value=0, max_value=255))
def test_any_changed_byte_breaks_the_signature(payload: bytes, flip: int) -> None:
    """Flipping any bit of any byte of the body makes verification fail."""
    header = sign_webhook(payload, WEBHOOK_SECRET, NOW)
    if not payload:
        changed = b"x"
    else:
        i = flip % len(payload)
        changed = payload[:i] + bytes([payload[i] ^ (1 + flip % 255)]) + payload[i + 1 :]
    with pytest.raises(SignatureError):
        verify(changed, header, secrets=[WEBHOOK_SECRET], now=NOW)
