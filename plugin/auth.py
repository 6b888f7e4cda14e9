"""Who is calling: customers (HS256 tokens from the SaaS backend) and admins (API keys).

Customer tokens are compact HS256 JWTs signed with `UPLIFT_WIDGET_SECRET` (docs/contract.md,
Tokens). PyJWT on its own accepts a token without `exp`, or with a ten-year `exp`
(docs/reliability.md §3.1), so we require `sub` and `exp`, cap the lifetime, pin the algorithm,
and check expiry against the injected clock rather than PyJWT's own `time.time()`.

Admin keys are `uplift_sk_` + 256 random bits; only their SHA-256 is stored, and lookups go
by hash, so the stored value never meets the presented key in a comparison.
"""

from __future__ import annotations

import binascii
import hashlib
import hmac
import json
import secrets
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import jwt
import jwt.utils

from plugin import storage
from plugin.errors import Unauthorized
from plugin.storage import Database

ALGORITHM = "HS256"
MAX_TOKEN_TTL = 24 * 3600  # a customer token is a session credential, not an API key
DEFAULT_TOKEN_TTL = 900
ADMIN_KEY_PREFIX = "uplift_sk_"


@dataclass(frozen=True, slots=True)
class CustomerIdentity:
    customer_id: str
    expires_at: int
    stripe_customer: str | None = None
    attrs: dict[str, Any] = field(default_factory=dict)


def issue_customer_token(
    *,
    secret: str,
    customer_id: str,
    now: int,
    ttl: int = DEFAULT_TOKEN_TTL,
    stripe_customer: str | None = None,
    attrs: dict[str, Any] | None = None,
) -> str:
    if not 0 < ttl <= MAX_TOKEN_TTL:
        raise ValueError(f"ttl must be between 1 and {MAX_TOKEN_TTL} seconds, got {ttl}")
    if not customer_id:
        raise ValueError("customer_id must not be empty")
    claims: dict[str, Any] = {"sub": customer_id, "iat": now, "exp": now + ttl}
    if stripe_customer:
        claims["stripe_customer"] = stripe_customer
    if attrs:
        claims["attrs"] = attrs
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def verify_customer_token(token: str, *, secret: str, now: int) -> CustomerIdentity:
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],  # never taken from the token's own header
            options={"require": ["sub", "exp"], "verify_exp": False, "verify_iat": False},
        )
    except jwt.InvalidTokenError:
        raise Unauthorized("The customer token is not valid.", code="invalid_token") from None
    return _identity(claims, now=now)


# The shape of every token `issue_customer_token` makes, and most libraries' HS256 tokens.
_PLAIN_HEADER = {"alg": "HS256", "typ": "JWT"}
_PLAIN_CLAIMS = frozenset({"sub", "iat", "exp", "stripe_customer", "attrs"})


def verify_plain_token(token: str, *, secret: bytes, now: int) -> CustomerIdentity | None:
    """`verify_customer_token` for a token of the plain shape, without PyJWT's generic
    machinery (its decode was three quarters of a token's cost, and with more customers than
    `CustomerTokens` keeps, each of them pays it): the header exactly `{"alg": "HS256",
    "typ": "JWT"}`, no claim beyond sub, iat, exp, stripe_customer and attrs, and a valid
    signature. Anything else (another header, `nbf`, `aud`, a bad signature, bad base64 or
    JSON) returns None, and the caller asks the reference, which decides what it is. The
    claims are then checked as the reference checks them; tests/test_auth.py holds the two
    equal on generated tokens."""
    head, dot, rest = token.partition(".")
    body, dot2, signature = rest.partition(".")
    if not dot or not dot2 or not token.isascii():
        return None
    try:
        expected = hmac.digest(secret, f"{head}.{body}".encode(), "sha256")
        if not hmac.compare_digest(expected, jwt.utils.base64url_decode(signature)):
            return None
        header = json.loads(jwt.utils.base64url_decode(head))
        claims = json.loads(jwt.utils.base64url_decode(body))
    except (ValueError, TypeError, binascii.Error):
        return None
    if header != _PLAIN_HEADER or type(claims) is not dict or not claims.keys() <= _PLAIN_CLAIMS:
        return None
    if "sub" not in claims or "exp" not in claims:
        return None
    return _identity(claims, now=now)


def _identity(claims: dict[str, Any], *, now: int) -> CustomerIdentity:
    """The identity a verified token's claims give, checked as documented (docs/contract.md,
    Tokens): `exp` a whole number in the future, at most `MAX_TOKEN_TTL` away."""
    exp = claims["exp"]
    if type(exp) is not int:
        raise Unauthorized("The customer token is not valid.", code="invalid_token")
    if exp <= now:
        raise Unauthorized("The customer token has expired.", code="token_expired")
    if exp - now > MAX_TOKEN_TTL:
        raise Unauthorized(
            f"The customer token lives longer than {MAX_TOKEN_TTL} seconds.",
            code="invalid_token",
        )
    sub = claims["sub"]
    stripe_customer = claims.get("stripe_customer")
    attrs = claims.get("attrs", {})
    if (
        not isinstance(sub, str)  # PyJWT checks this itself only from 2.10 on
        or not sub
        or not isinstance(attrs, dict)
        or (stripe_customer is not None and not isinstance(stripe_customer, str))
    ):
        raise Unauthorized("The customer token is not valid.", code="invalid_token")
    return CustomerIdentity(
        customer_id=sub, expires_at=exp, stripe_customer=stripe_customer, attrs=attrs
    )


class CustomerTokens:
    """`verify_customer_token` with a bounded cache of tokens already verified.

    A widget sends the same token with every request until it expires; checking its HMAC and
    decoding its JSON each time was a tenth of the offers endpoint. The cache key is the whole
    token, signature included, so a tampered token never matches; expiry is checked on every
    use, cached or not; a wrong secret never reaches the cache because verification fails.
    """

    def __init__(self, secret: str, *, size: int = 4096) -> None:
        self._secret = secret
        self._key = secret.encode()
        self._size = size
        self._verified: OrderedDict[str, CustomerIdentity] = OrderedDict()

    def verify(self, token: str, *, now: int) -> CustomerIdentity:
        identity = self._verified.get(token)
        if identity is None:
            identity = verify_plain_token(token, secret=self._key, now=now)
            if identity is None:  # not the plain shape, or not valid: the reference decides
                identity = verify_customer_token(token, secret=self._secret, now=now)
            self._verified[token] = identity
            if len(self._verified) > self._size:
                self._verified.popitem(last=False)
        elif identity.expires_at <= now:
            del self._verified[token]
            raise Unauthorized("The customer token has expired.", code="token_expired")
        return identity


def bearer_token(authorization: str | None) -> str:
    if not authorization:
        raise Unauthorized("Send credentials as `Authorization: Bearer <token>`.")
    scheme, _, credential = authorization.partition(" ")
    if scheme.lower() != "bearer" or not credential.strip():
        raise Unauthorized("Send credentials as `Authorization: Bearer <token>`.")
    return credential.strip()


def hash_admin_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def new_admin_key() -> str:
    return ADMIN_KEY_PREFIX + secrets.token_urlsafe(32)


@dataclass(frozen=True, slots=True)
class NewAdminKey:
    """A key about to be stored: `key` is shown once and never stored, only its hash."""

    key: str
    key_id: str
    key_hash: str
    prefix: str


def make_admin_key() -> NewAdminKey:
    key = new_admin_key()
    return NewAdminKey(
        key=key,
        key_id="ak_" + secrets.token_hex(8),
        key_hash=hash_admin_key(key),
        prefix=key[: len(ADMIN_KEY_PREFIX) + 4],
    )


async def create_admin_key(
    db: Database, *, name: str, now: int, role: storage.admin_keys.Role = "admin"
) -> tuple[str, storage.admin_keys.AdminKeyRecord]:
    """Returns the key (shown once, never stored) and its record."""
    if not name.strip():
        raise ValueError("an admin key needs a name")
    made = make_admin_key()
    record = await storage.admin_keys.create(
        db,
        key_id=made.key_id,
        name=name.strip(),
        key_hash=made.key_hash,
        prefix=made.prefix,
        role=role,
        now=now,
    )
    return made.key, record


@dataclass(frozen=True, slots=True)
class AdminIdentity:
    key_id: str
    name: str
    role: storage.admin_keys.Role = "admin"


async def authenticate_admin(
    db: Database, *, presented: str, bootstrap_key: str | None
) -> AdminIdentity:
    digest = hash_admin_key(presented)
    if bootstrap_key is not None and hmac.compare_digest(digest, hash_admin_key(bootstrap_key)):
        return AdminIdentity(key_id="bootstrap", name="UPLIFT_ADMIN_KEY")
    record = await storage.admin_keys.find_by_hash(db, digest)
    if record is None:
        raise Unauthorized("The admin key is not valid.", code="invalid_admin_key")
    if record.revoked_at is not None:
        # 401, as for any credential that no longer authenticates; checked on every request
        # (no cache), so a revocation holds at once on every process and instance.
        raise Unauthorized("The admin key has been revoked.", code="admin_key_revoked")
    return AdminIdentity(key_id=record.id, name=record.name, role=record.role)
