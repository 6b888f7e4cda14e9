"""Trial offers: N days of a higher plan's features, no charge, no card.

A trial's "quote" is a signed statement rather than a stored row: nothing is priced, so there
is nothing to lock. `tq_<payload>.<hmac>` binds the customer, offer, variant, plan and length,
and expires like a price quote. Accepting it creates one grant per customer and offer
(storage), so a double click or a retried request is one trial. When it ends, it simply stops
applying: keeping the features is a separate upgrade the customer chooses.

Pure: the secret and `now` are arguments.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass

from plugin.errors import Gone, NotFound

PREFIX = "tq_"
QUOTE_TTL = 600


@dataclass(frozen=True, slots=True)
class TrialQuote:
    customer_id: str
    offer_id: str
    variant: str
    plan_id: str
    days: int
    expires_at: int


def _mac(secret: str, payload: str) -> str:
    return hmac.new(secret.encode(), f"trial:{payload}".encode(), hashlib.sha256).hexdigest()


def sign(quote: TrialQuote, *, secret: str) -> str:
    body = {
        "c": quote.customer_id,
        "o": quote.offer_id,
        "v": quote.variant,
        "p": quote.plan_id,
        "d": quote.days,
        "e": quote.expires_at,
    }
    payload = base64.urlsafe_b64encode(json.dumps(body, separators=(",", ":")).encode()).decode()
    return f"{PREFIX}{payload.rstrip('=')}.{_mac(secret, payload.rstrip('='))}"


def is_trial_quote(quote_id: str) -> bool:
    return quote_id.startswith(PREFIX)


def verify(quote_id: str, *, secret: str, customer_id: str, now: int) -> TrialQuote:
    """The quote if it is this customer's and authentic; 404 otherwise (the same answer as for
    a quote that does not exist), 410 once expired."""
    missing = NotFound("No such quote for this customer.", code="quote_not_found")
    payload, _, mac = quote_id.removeprefix(PREFIX).partition(".")
    if not hmac.compare_digest(mac.encode(), _mac(secret, payload).encode()):
        raise missing
    try:
        body = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        quote = TrialQuote(
            customer_id=str(body["c"]),
            offer_id=str(body["o"]),
            variant=str(body["v"]),
            plan_id=str(body["p"]),
            days=int(body["d"]),
            expires_at=int(body["e"]),
        )
    except (ValueError, KeyError, TypeError):  # pragma: no cover -- we signed it
        raise missing from None
    if quote.customer_id != customer_id:
        raise missing
    if quote.expires_at <= now:
        raise Gone("The trial quote has expired; ask for a new one.", code="quote_expired")
    return quote
