"""Subscriptions whose items name a `price`, with the parameters localstripe rejects or crashes on.

localstripe knows only `items[i][plan]` (an item given `price` is ignored on update and refused
on create), rejects `billing_mode` and `default_payment_method` on create, and raises a TypeError
(HTTP 500) when an update carries `proration_behavior`, `billing_cycle_anchor` or
`payment_behavior`. These routes read the request the way Stripe does and call localstripe's own
`Subscription` in this process with what it understands: items via items.py, parameters it
cannot act on yet via ignored.py, and changes it would get wrong (adding or removing items in an
update, several items at creation) refused with a 400 `not_emulated`. Items are added to and
removed from a live subscription through `/v1/subscription_items` (subscription_items.py).
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

from aiohttp import web
from localstripe.resources import Subscription, store

from localstripe_bridge import discounts, ignored, items, params
from localstripe_bridge.errors import missing, no_such, not_emulated
from localstripe_bridge.params import Params
from localstripe_bridge.routes import Router

# What localstripe itself implements of `payment_behavior` (on create only).
LOCALSTRIPE_PAYMENT_BEHAVIORS = ("allow_incomplete", "error_if_incomplete")
BILLING_MODES = ("classic", "flexible")
# Everything `Subscription._update` accepts; anything else would be a TypeError inside it.
UPDATE_PARAMS = set(inspect.signature(Subscription._update).parameters) - {"self"}


def retrieve(subscription_id: str, *, param: str | None = None) -> Any:
    sub = store.get(f"subscription:{subscription_id}")
    if sub is None:
        raise no_such(
            "subscription", subscription_id, param=param, status=404 if param is None else 400
        )
    return sub


def _default_payment_method(data: Params, customer_id: Any, dropped: list[str]) -> None:
    """localstripe always charges the customer's default payment method. A subscription's own
    `default_payment_method` is dropped when it is that same one, and refused otherwise."""
    chosen = params.text(data, "default_payment_method")
    if chosen is None:
        return
    customer = store.get(f"customer:{customer_id}")
    settings = getattr(customer, "invoice_settings", None) or {}
    if chosen != settings.get("default_payment_method"):
        raise not_emulated(
            "a subscription default_payment_method other than the customer's default",
            param="default_payment_method",
        )
    del data["default_payment_method"]
    dropped.append("default_payment_method")


def _billing_mode(data: Params) -> str | None:
    """`billing_mode[type]` (classic/flexible): localstripe rejects it; the bridge echoes it."""
    mode = params.mapping(data, "billing_mode")
    if mode is None:
        return None
    params.only(mode, {"type", "flexible"}, prefix="billing_mode")
    kind = params.choice(mode, "type", BILLING_MODES, param="billing_mode[type]")
    if kind is None:
        raise missing("billing_mode[type]")
    del data["billing_mode"]
    return kind


def apply_update(sub: Any, data: Params) -> list[str]:
    """A Stripe subscription update, applied through localstripe; returns what was ignored."""
    dropped: list[str] = []
    _default_payment_method(data, sub.customer, dropped)
    # `none` is emulated: localstripe's "Unused time" items are removed again below.
    no_prorations = data.get("proration_behavior") == "none"
    if no_prorations:
        del data["proration_behavior"]
    ignored.strip(data, "proration_behavior", ignored.one_of(ignored.PRORATION_BEHAVIORS), dropped)
    ignored.strip(data, "billing_cycle_anchor", ignored.anchor(timestamps=False), dropped)
    ignored.strip(data, "payment_behavior", ignored.one_of(ignored.PAYMENT_BEHAVIORS), dropped)
    sub_coupons = discounts.requested(data, param="discounts", sub=sub)
    params.only(data, UPDATE_PARAMS)
    before = {key for key in store if key.startswith("invoiceitem:")}
    item_coupons = None
    changed_id = None
    if "items" in data:
        updated = params.items_list(data, "items")
        if updated:
            where = "items[0][discounts]"
            item_coupons = discounts.requested(updated[0], param=where, sub=sub)
        changed = items.change_one_item(sub, updated, "items")
        changed_id = changed.id
        with items.alone(sub, changed):
            Subscription._api_update(sub.id, **data)
            items.keep_item_id(sub, changed.id)
    elif data:  # localstripe answers an empty update with 400; Stripe returns the subscription
        Subscription._api_update(sub.id, **data)
    if item_coupons is not None and changed_id is not None:
        item = items.find(sub, changed_id)
        discounts.replace(sub, item, item_coupons, item_id=changed_id)
    if sub_coupons is not None:
        discounts.replace(sub, sub, sub_coupons, item_id=None)
    if no_prorations:
        for key in [k for k in store if k.startswith("invoiceitem:") and k not in before]:
            if store[key].proration and store[key].invoice is None:
                del store[key]
    return dropped


async def create(request: web.Request, _: Mapping[str, str]) -> web.Response:
    data = await params.read(request)
    expand = params.expand(data)
    dropped: list[str] = []
    ignored.strip(data, "proration_behavior", ignored.one_of(ignored.PRORATION_BEHAVIORS), dropped)
    if data.get("payment_behavior") not in (None, *LOCALSTRIPE_PAYMENT_BEHAVIORS):
        ignored.strip(data, "payment_behavior", ignored.one_of(ignored.PAYMENT_BEHAVIORS), dropped)
    _default_payment_method(data, data.get("customer"), dropped)
    billing_mode = _billing_mode(data)
    if "discounts" in data or "coupon" in data:
        # The first invoice, made at once, would not be discounted.
        name = "discounts" if "discounts" in data else "coupon"
        raise not_emulated(
            "discounts on a new subscription (create it, then attach them with an update)",
            param=name,
        )
    if "items" in data or "plan" not in data:  # `plan` alone is localstripe's legacy form
        new = params.items_list(data, "items")
        if not new:
            raise missing("items")
        if len(new) != 1:
            raise not_emulated("a subscription with more than one item", param="items")
        items.new_items(new, "items")
    sub = Subscription._api_create(**data)
    if billing_mode is not None:
        sub.billing_mode = billing_mode
    return ignored.respond(sub._export(expand=expand), dropped)


async def update(request: web.Request, path: Mapping[str, str]) -> web.Response:
    sub = retrieve(path["id"])
    data = await params.read(request)
    expand = params.expand(data)
    dropped = apply_update(sub, data)
    return ignored.respond(sub._export(expand=expand), dropped)


def register(router: Router) -> None:
    router.add("POST", "/v1/subscriptions", create)
    router.add("POST", "/v1/subscriptions/{id}", update)
