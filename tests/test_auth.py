"""Customer tokens and admin keys: who may call, and what a bad credential gets."""

from __future__ import annotations

import base64
import json

import jwt
import pytest

from plugin import auth, storage
from plugin.api.errors import headers_of, status_of
from plugin.errors import Unauthorized
from plugin.storage import Database
from tests.support import NOW, WIDGET_SECRET


def _token(claims: dict[str, object], *, secret: str = WIDGET_SECRET, alg: str = "HS256") -> str:
    return jwt.encode(claims, secret, algorithm=alg)


def test_issued_token_verifies_with_its_claims() -> None:
    """A token from the CLI helper carries sub, stripe_customer and attrs through."""
    token = auth.issue_customer_token(
        secret=WIDGET_SECRET,
        customer_id="acme-42",
        now=NOW,
        ttl=600,
        stripe_customer="cus_123",
        attrs={"industry": "retail"},
    )
    identity = auth.verify_customer_token(token, secret=WIDGET_SECRET, now=NOW + 599)
    assert identity == auth.CustomerIdentity(
        customer_id="acme-42",
        expires_at=NOW + 600,
        stripe_customer="cus_123",
        attrs={"industry": "retail"},
    )


def _unsigned(claims: dict[str, object]) -> str:
    def part(data: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}."


@pytest.mark.parametrize(
    ("token", "code"),
    [
        (_token({"sub": "c", "exp": NOW}), "token_expired"),
        (
            _token({"sub": "c", "exp": NOW + 60}, secret="another-secret-entirely-" + "x" * 48),
            "invalid_token",
        ),
        (_token({"sub": "c"}), "invalid_token"),
        (_token({"exp": NOW + 60}), "invalid_token"),
        (_token({"sub": "", "exp": NOW + 60}), "invalid_token"),
        (_token({"sub": "c", "exp": NOW + 10 * 365 * 86400}), "invalid_token"),
        (_token({"sub": "c", "exp": str(NOW + 60)}), "invalid_token"),
        (_token({"sub": "c", "exp": NOW + 60, "attrs": "x"}), "invalid_token"),
        (_token({"sub": "c", "exp": NOW + 60}, alg="HS512"), "invalid_token"),
        (_unsigned({"sub": "c", "exp": NOW + 60}), "invalid_token"),
        ("not-a-token", "invalid_token"),
    ],
    ids=[
        "expired",
        "wrong-secret",
        "no-exp",
        "no-sub",
        "empty-sub",
        "ten-year-exp",
        "string-exp",
        "attrs-not-object",
        "hs512",
        "alg-none",
        "garbage",
    ],
)
def test_bad_customer_tokens_are_refused(token: str, code: str) -> None:
    """Unsigned, expired, tampered or overlong tokens are a 401 with a specific code."""
    with pytest.raises(Unauthorized) as caught:
        auth.verify_customer_token(token, secret=WIDGET_SECRET, now=NOW)
    assert caught.value.code == code
    assert status_of(caught.value) == 401
    assert headers_of(caught.value)["WWW-Authenticate"] == "Bearer"


def test_tampered_payload_is_refused() -> None:
    """Changing the claims of a signed token breaks its signature."""
    token = auth.issue_customer_token(secret=WIDGET_SECRET, customer_id="alice", now=NOW)
    header, _, signature = token.split(".")
    forged = base64.urlsafe_b64encode(
        json.dumps({"sub": "mallory", "exp": NOW + 60}).encode()
    ).rstrip(b"=")
    with pytest.raises(Unauthorized):
        auth.verify_customer_token(
            f"{header}.{forged.decode()}.{signature}", secret=WIDGET_SECRET, now=NOW
        )


@pytest.mark.parametrize("ttl", [0, -1, auth.MAX_TOKEN_TTL + 1])
def test_token_lifetime_is_bounded_when_issuing(ttl: int) -> None:
    """The helper refuses to mint a token that would not verify."""
    with pytest.raises(ValueError, match="ttl"):
        auth.issue_customer_token(secret=WIDGET_SECRET, customer_id="c", now=NOW, ttl=ttl)


@pytest.mark.parametrize(
    "header", [None, "", "Bearer", "Bearer   ", "Basic dXNlcjpwYXNz", "Token abc"]
)
def test_missing_or_foreign_authorization_is_401(header: str | None) -> None:
    """Only `Authorization: Bearer <credential>` is read."""
    with pytest.raises(Unauthorized):
        auth.bearer_token(header)


async def test_admin_key_is_stored_only_as_a_hash(db: Database) -> None:
    """The printed key authenticates; the database never holds it."""
    key, record = await auth.create_admin_key(db, name="ops", now=NOW)
    assert key.startswith("uplift_sk_")
    async with db.read() as conn:
        rows = await conn.fetch_all("SELECT * FROM admin_keys")
    assert key not in json.dumps(rows)
    assert rows[0]["key_hash"] == auth.hash_admin_key(key)
    identity = await auth.authenticate_admin(db, presented=key, bootstrap_key=None)
    assert identity == auth.AdminIdentity(key_id=record.id, name="ops", role="admin")


async def test_unknown_and_revoked_admin_keys_do_not_authenticate(db: Database) -> None:
    """A key nobody made and a revoked one are both unauthenticated (401), each with its code."""
    key, record = await auth.create_admin_key(db, name="temp", now=NOW)
    with pytest.raises(Unauthorized):
        await auth.authenticate_admin(db, presented=key + "x", bootstrap_key=None)
    assert await storage.admin_keys.revoke(db, key_id=record.id, now=NOW + 1)
    with pytest.raises(Unauthorized) as revoked:
        await auth.authenticate_admin(db, presented=key, bootstrap_key=None)
    assert revoked.value.code == "admin_key_revoked"


async def test_bootstrap_admin_key_from_settings_authenticates(db: Database) -> None:
    """`UPLIFT_ADMIN_KEY` works without a row, so a fresh install can be administered."""
    identity = await auth.authenticate_admin(
        db, presented="uplift_sk_bootstrap", bootstrap_key="uplift_sk_bootstrap"
    )
    assert identity.key_id == "bootstrap"


def test_token_cache_still_checks_expiry_and_signature() -> None:
    """A cached token stops working when it expires; a tampered copy is verified afresh."""
    from plugin.auth import CustomerTokens

    tokens = CustomerTokens(WIDGET_SECRET)
    token = auth.issue_customer_token(secret=WIDGET_SECRET, customer_id="c1", now=NOW, ttl=60)
    assert tokens.verify(token, now=NOW).customer_id == "c1"
    assert tokens.verify(token, now=NOW + 59).customer_id == "c1"
    with pytest.raises(Unauthorized):
        tokens.verify(token, now=NOW + 60)
    with pytest.raises(Unauthorized):
        tokens.verify(token[:-2] + ("AA" if token[-2:] != "AA" else "BB"), now=NOW)
    other = CustomerTokens("another-secret-" + "x" * 40)
    with pytest.raises(Unauthorized):
        other.verify(token, now=NOW)
