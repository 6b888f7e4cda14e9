"""Standard Webhooks signing: `whsec_` secrets and the `webhook-signature` header (pure).

The `standardwebhooks` package signs (HMAC-SHA256 over `{id}.{timestamp}.{body}`, base64,
`v1,` prefixed). While a rotated-out secret is still valid the header carries both signatures,
space-separated, as the specification allows, so a receiver verifying with either passes.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Sequence
from datetime import UTC, datetime

from standardwebhooks import Webhook

SECRET_PREFIX = "whsec_"  # noqa: S105 -- a prefix, not a secret
SECRET_BYTES = 32  # the specification asks for 24 to 64 random bytes
ROTATION_OVERLAP = 24 * 3600  # seconds a rotated-out secret keeps signing


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def signature(secrets_in_use: Sequence[str], *, msg_id: str, at: int, body: str) -> str:
    """The `webhook-signature` header: one `v1,…` per secret, newest first."""
    when = datetime.fromtimestamp(at, UTC)
    return " ".join(Webhook(s).sign(msg_id, when, body) for s in secrets_in_use)


def headers(secrets_in_use: Sequence[str], *, msg_id: str, at: int, body: str) -> dict[str, str]:
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(at),
        "webhook-signature": signature(secrets_in_use, msg_id=msg_id, at=at, body=body),
    }
