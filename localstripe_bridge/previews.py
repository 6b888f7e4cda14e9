"""Invoice previews (`POST /v1/invoices/create_preview`, the older `GET /v1/invoices/upcoming`)
whose items name a `price` and carry Stripe's proration parameters.

localstripe's previews take only `plan` items and require `customer` even with `subscription`.
Its simulated "proration" is not Stripe's (it credits every earlier invoice in full and bills the
new plan in full; docs/stripe-emulator.md), so `proration_behavior` and `billing_cycle_anchor`
are validated and ignored like on updates.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from aiohttp import web
from localstripe.resources import Invoice, store

from localstripe_bridge import discounts, ignored, items, params
from localstripe_bridge.errors import missing
from localstripe_bridge.params import Params
from localstripe_bridge.routes import Router
from localstripe_bridge.subscriptions import retrieve

T = TypeVar("T")

DETAILS = {
    "billing_cycle_anchor", "default_tax_rates", "items", "proration_behavior", "proration_date",
    "trial_end",
}  # fmt: skip
UPCOMING_PARAMS = {
    "coupon", "customer", "subscription", "subscription_billing_cycle_anchor",
    "subscription_default_tax_rates", "subscription_items", "subscription_proration_behavior",
    "subscription_proration_date", "subscription_trial_end",
}  # fmt: skip


def _subscription_and_customer(data: Params) -> Any:
    """The previewed subscription, if any; Stripe takes `subscription` alone, localstripe also
    wants its `customer`."""
    subscription_id = params.text(data, "subscription")
    sub = retrieve(subscription_id, param="subscription") if subscription_id else None
    if params.text(data, "customer") is None:
        if sub is None:
            raise missing("customer")
        data["customer"] = sub.customer
    return sub


def _items(previewed: list[Params], sub: Any, param: str, dropped: list[str]) -> None:
    """With a subscription, items change one of its items (the others are billed as they
    are); without, they make a new one. Discounts on a changed item are checked, then dropped
    and named as ignored: previews never discount (docs/stripe-emulator.md)."""
    if sub is not None:
        for i, item in enumerate(previewed):
            where = f"{param}[{i}][discounts]"
            if discounts.requested(item, param=where, sub=sub) is not None:
                dropped.append(where)
        changed = items.change_one_item(sub, previewed, param)
        previewed += items.unchanged_items(sub, changed)
    else:
        items.new_items(previewed, param)


def _keeping_pending_items(preview: Callable[[], T]) -> T:
    """localstripe attaches the customer's pending invoice items to a preview that is not a
    simulation, and the preview is thrown away, so they would vanish from the next real invoice.
    Stripe's previews change nothing."""
    pending = [
        item
        for key, item in store.items()
        if key.startswith("invoiceitem:") and item.invoice is None
    ]
    try:
        return preview()
    finally:
        for item in pending:
            item.invoice = None


async def create_preview(request: web.Request, _: Mapping[str, str]) -> web.Response:
    data = await params.read(request)
    expand = params.expand(data)
    params.only(data, {"customer", "subscription", "subscription_details"})
    sub = _subscription_and_customer(data)
    dropped: list[str] = []
    details = params.mapping(data, "subscription_details")
    if details is not None:
        params.only(details, DETAILS, prefix="subscription_details")
        inner: list[str] = []
        behaviors = ignored.one_of(ignored.PRORATION_BEHAVIORS)
        ignored.strip(details, "proration_behavior", behaviors, inner)
        ignored.strip(details, "billing_cycle_anchor", ignored.anchor(timestamps=True), inner)
        dropped += [f"subscription_details[{name}]" for name in inner]
        if "items" in details:
            param = "subscription_details[items]"
            _items(params.items_list(details, "items", param=param), sub, param, dropped)
    invoice = _keeping_pending_items(lambda: Invoice._api_create_preview_invoice(**data))
    return ignored.respond(invoice._export(expand=expand), dropped)


async def upcoming(request: web.Request, _: Mapping[str, str]) -> web.Response:
    """Stripe removed this route in 2025-03-31.basil; stripe-python 16 no longer calls it."""
    data = await params.read(request)
    expand = params.expand(data)
    params.only(data, UPCOMING_PARAMS)
    sub = _subscription_and_customer(data)
    dropped: list[str] = []
    behaviors = ignored.one_of(ignored.PRORATION_BEHAVIORS)
    ignored.strip(data, "subscription_proration_behavior", behaviors, dropped)
    anchors = ignored.anchor(timestamps=True)
    ignored.strip(data, "subscription_billing_cycle_anchor", anchors, dropped)
    if "subscription_items" in data:
        previewed = params.items_list(data, "subscription_items")
        _items(previewed, sub, "subscription_items", dropped)
    invoice = _keeping_pending_items(lambda: Invoice._api_upcoming_invoice(**data))
    return ignored.respond(invoice._export(expand=expand), dropped)


def register(router: Router) -> None:
    router.add("POST", "/v1/invoices/create_preview", create_preview)
    router.add("GET", "/v1/invoices/upcoming", upcoming)
