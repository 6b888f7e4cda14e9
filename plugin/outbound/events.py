"""The outbound event types and their bodies (pure).

A body is the Standard Webhooks shape, `{"type", "timestamp", "data"}`: `timestamp` is when the
fact happened (RFC 3339, UTC), `data` names the SaaS's own customer id (`customer_id`) and the
objects involved. The event id is not in the body: it is the `webhook-id` header, the same on
every attempt, which is what a receiver dedupes on. The body is made once, when the event is
announced, and sent byte for byte on every attempt (the signature covers those bytes).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, get_args

EventType = Literal[
    "upgrade.succeeded",
    "upgrade.failed",
    "upgrade.requires_action",
    "offer.accepted",
    "offer.declined",
    "offer.dismissed",
    "cross_sell.accepted",
    "trial.started",
    "trial.ending",
    "trial.ended",
    "usage.threshold_crossed",
    "downgrade.requested",
    "retention.saved",
    "feedback.submitted",
]
TYPES: tuple[str, ...] = get_args(EventType)
ALL = "*"  # an endpoint's `events` filter that takes every type, including types added later


@dataclass(frozen=True, slots=True)
class OutboundEvent:
    id: str  # msg_…: the webhook-id
    type: str
    occurred_at: int
    body: str  # the JSON sent, exactly


def timestamp(at: int) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def make(event_type: str, data: dict[str, Any], *, now: int, event_id: str) -> OutboundEvent:
    if event_type not in TYPES:
        raise ValueError(f"unknown outbound event type {event_type!r}")
    body = json.dumps(
        {"type": event_type, "timestamp": timestamp(now), "data": data},
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return OutboundEvent(event_id, event_type, now, body)


def wants(filters: list[str], event_type: str) -> bool:
    """Whether an endpoint with these `events` takes this type."""
    return ALL in filters or event_type in filters


def offer_part(offer_id: str, variant: str | None, kind: str | None = None) -> dict[str, Any]:
    part: dict[str, Any] = {"id": offer_id, "variant": variant}
    if kind is not None:
        part["kind"] = kind
    return part


def upgrade_data(upgrade: Any, customer_id: str | None) -> dict[str, Any]:
    """`upgrade.*`: the upgrade as the admin API shows it, with the SaaS's customer id.
    `upgrade` is a `storage.upgrades.UpgradeRecord` (typed loosely: storage imports this)."""
    return {
        "customer_id": customer_id,
        "upgrade": {
            "id": upgrade.id,
            "status": upgrade.status,
            "stripe_customer": upgrade.customer_id,
            "subscription": upgrade.subscription_id,
            "offer": None
            if upgrade.offer_id is None
            else offer_part(upgrade.offer_id, upgrade.variant),
            "from_price": upgrade.from_price,
            "to_price": upgrade.to_price,
            "quantity": upgrade.to_quantity,
            "currency": upgrade.currency,
            "amount_quoted": upgrade.amount_quoted,
            "amount_paid": upgrade.amount_paid,
            "mrr_change": upgrade.mrr_delta,
            "invoice": upgrade.invoice_id,
            "hosted_invoice_url": upgrade.hosted_invoice_url,
            "failure_reason": upgrade.failure_reason,
            "effective_at": upgrade.effective_at,
        },
    }
