"""Customer tokens and admin keys: who may call, and what a bad credential gets."""

from __future__ import annotations

import base64
import hmac
import json
from collections.abc import Callable

import jwt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _signed(header: object, claims: object, secret: str) -> str:
    """A JWT built by hand, so any header and any claim values can be tried."""
    signing = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
    signature = hmac.digest(secret.encode(), signing.encode(), "sha256")
    return f"{signing}.{_b64(signature)}"


def _outcome(verify: Callable[[], auth.CustomerIdentity]) -> tuple[str, object]:
    try:
        return ("ok", verify())
    except Unauthorized as refused:
        return ("refused", refused.code)


_VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(NOW - 5, NOW + auth.MAX_TOKEN_TTL + 5),
    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=4),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
    st.lists(st.integers(), max_size=2),
)  # fmt: skip
_CLAIMS = st.dictionaries(
    st.sampled_from(["sub", "exp", "iat", "stripe_customer", "attrs", "nbf", "aud", "jti"]),
    _VALUES,
)
_HEADERS = st.sampled_from([
    {"alg": "HS256", "typ": "JWT"}, {"typ": "JWT", "alg": "HS256"}, {"alg": "HS256"},
    {"alg": "HS256", "typ": "JWT", "kid": "k1"}, {"alg": "none", "typ": "JWT"},
    {"alg": "HS512", "typ": "JWT"}, {"alg": "HS256", "typ": "JWT", "crit": ["exp"]}, ["HS256"],
])  # fmt: skip


@settings(max_examples=400, deadline=None)
@given(
    header=_HEADERS,
    claims=_CLAIMS,
    plain=st.booleans(),  # the usual claims, valid (the rest is mostly refused)
    secret=st.sampled_from([WIDGET_SECRET, "another-secret-" + "x" * 40]),
    tamper=st.one_of(st.none(), st.none(), st.sampled_from([0, 20, -1, -3])),
)
def test_the_plain_token_fast_path_agrees_with_pyjwt(
    header: object, claims: dict[str, object], plain: bool, secret: str, tamper: int | None
) -> None:
    """`verify_plain_token` (and the cache's verify, which falls back to PyJWT) answer as
    `verify_customer_token` (PyJWT) does, for any header, any claims, either secret, and any
    one character of the token changed."""
    if plain:
        claims = {"sub": "c1", "iat": NOW, "exp": NOW + 60, **claims}
    token = _signed(header, claims, secret)
    if tamper is not None:
        at = tamper % len(token)
        token = token[:at] + ("B" if token[at] != "B" else "C") + token[at + 1 :]
    reference = _outcome(lambda: auth.verify_customer_token(token, secret=WIDGET_SECRET, now=NOW))
    cached = _outcome(lambda: auth.CustomerTokens(WIDGET_SECRET).verify(token, now=NOW))
    assert cached == reference
    fast = _outcome(lambda: _plain_or_none(token))
    if fast != ("ok", None):  # the plain shape: it decided, as the reference does
        assert fast == reference


def _plain_or_none(token: str) -> auth.CustomerIdentity:
    return auth.verify_plain_token(token, secret=WIDGET_SECRET.encode(), now=NOW)  # type: ignore[return-value]


@pytest.mark.parametrize(
    "claims",
    [
        {"sub": "c1", "exp": NOW + 60}, {"sub": "c1", "exp": NOW - 1},
        {"sub": "c1", "exp": NOW + auth.MAX_TOKEN_TTL + 1}, {"sub": 7, "exp": NOW + 60},
        {"sub": "", "exp": NOW + 60}, {"sub": "c1", "exp": float(NOW + 60)},
        {"sub": "c1", "exp": True}, {"sub": "c1", "exp": NOW + 60, "attrs": [1]},
        {"sub": "c1", "exp": NOW + 60, "stripe_customer": 5}, {"sub": "c1"}, {"exp": NOW + 60},
        {"sub": "c1", "exp": NOW + 60, "iat": "yesterday"},
    ],
)  # fmt: skip
def test_plain_tokens_are_judged_by_the_fast_path_as_by_pyjwt(claims: dict[str, object]) -> None:
    token = _signed({"alg": "HS256", "typ": "JWT"}, claims, WIDGET_SECRET)
    reference = _outcome(lambda: auth.verify_customer_token(token, secret=WIDGET_SECRET, now=NOW))
    fast = _outcome(lambda: _plain_or_none(token))
    if "sub" in claims and "exp" in claims:
        assert fast == reference
    else:  # a claim missing: the fast path leaves it to the reference, which refuses it
        assert fast == ("ok", None)
        assert reference[0] == "refused"


def test_issued_tokens_take_the_fast_path() -> None:
    token = auth.issue_customer_token(
        secret=WIDGET_SECRET, customer_id="c1", now=NOW, stripe_customer="cus_1",
        attrs={"plan": "pro"},
    )  # fmt: skip
    found = auth.verify_plain_token(token, secret=WIDGET_SECRET.encode(), now=NOW)
    assert found == auth.verify_customer_token(token, secret=WIDGET_SECRET, now=NOW)
    assert found is not None
    assert found.attrs == {"plan": "pro"}
