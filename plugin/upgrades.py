"""Accepting a quote: the one path that charges. (Work in progress: webhook hooks first.)"""

from __future__ import annotations

from plugin.storage import Database
from plugin.stripe_gateway import StripeGateway


async def on_invoice_paid(
    db: Database, gateway: StripeGateway, *, invoice_id: str, now: int
) -> None:
    """A `requires_action` upgrade whose invoice got paid: record success and switch the plan."""


async def on_invoice_payment_failed(
    db: Database, gateway: StripeGateway, *, invoice_id: str, reason: str | None, now: int
) -> None:
    """The upgrade's invoice could not be paid: record `failed`; the plan is left as it was."""


async def on_invoice_action_required(
    db: Database,
    gateway: StripeGateway,
    *,
    invoice_id: str,
    hosted_invoice_url: str | None,
    now: int,
) -> None:
    """The customer must authenticate: record `requires_action` with the page to do it on."""
