"""Mint an Uplift customer token in Python, with the standard library only (docs/tokens.md).

UPLIFT_WIDGET_SECRET=... python3 mint.py CUSTOMER_ID [STRIPE_CUSTOMER]
"""

import base64
import hashlib
import hmac
import json
import os
import sys
import time


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def customer_token(
    secret: str, customer_id: str, stripe_customer: str | None = None, ttl: int = 900
) -> str:
    now = int(time.time())  # noqa: TID251 -- an example for a SaaS backend, not Uplift
    claims: dict[str, object] = {"sub": customer_id, "iat": now, "exp": now + ttl}
    if stripe_customer:
        claims["stripe_customer"] = stripe_customer
    header = b64url(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
    body = b64url(json.dumps(claims, separators=(",", ":")).encode())
    signature = hmac.digest(secret.encode(), f"{header}.{body}".encode(), hashlib.sha256)
    return f"{header}.{body}.{b64url(signature)}"


if __name__ == "__main__":
    print(customer_token(os.environ["UPLIFT_WIDGET_SECRET"], *sys.argv[1:3]))  # noqa: T201
