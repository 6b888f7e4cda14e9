"""Subscriptions whose items name a `price`, with the parameters localstripe rejects or crashes on.

localstripe knows only `items[i][plan]` (an item given `price` is ignored on update and refused
on create), rejects `billing_mode` and `default_payment_method` on create, and raises a TypeError
(HTTP 500) when an update carries `proration_behavior`, `billing_cycle_anchor` or
`payment_behavior`. These routes read the request the way Stripe does: an item's price or
quantity is changed in place here and billed by billing.py (prorations at `proration_date`,
`always_invoice`, the billing cycle reset, pending updates, and the pending-update parameter
restrictions of `payment_behavior=pending_if_incomplete`); the rest goes to localstripe's own
`Subscription`. Parameters it cannot act on at creation are dropped via ignored.py, and changes
it would get wrong (adding or removing items in an update, several items at creation) are
refused with a 400 `not_emulated`. Items are added to and removed from a live subscription
through `/v1/subscription_items` (subscription_items.py). A subscription's first invoice gets
`billing_reason: subscription_create`.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

from aiohttp import web
from localstripe.resources import Subscription, TaxRate, store

from localstripe_bridge import billing, discounts, ignored, items, params, prices
from localstripe_bridge.errors import invalid, missing, no_such, not_emulated
from localstripe_bridge.params import Params
from localstripe_bridge.routes import Router

# What localstripe itself implements of `payment_behavior` (on create only).
LOCALSTRIPE_PAYMENT_BEHAVIORS = ("allow_incomplete", "error_if_incomplete")
BILLING_MODES = ("classic", "flexible")
# Everything `Subscription._update` accepts; anything else would be a TypeError inside it.
UPDATE_PARAMS = set(inspect.signature(Subscription._update).parameters) - {"self"}
# docs.stripe.com/billing/subscriptions/pending-updates-reference, "Supported attributes"
# (`expand` is read before); an item names itself with `id`.
PENDING_PARAMS = {
    "payment_behavior", "proration_behavior", "proration_date", "billing_cycle_anchor", "items",
    "trial_end", "trial_from_plan", "add_invoice_items",
}  # fmt: skip
PENDING_ITEM_PARAMS = {"id", "price", "quantity"}


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


def refuse_unsupported_with_pending(
    data: Params, allowed: set[str], *, items: str | None = "items"
) -> None:
    """With `payment_behavior=pending_if_incomplete` Stripe takes only the pending-update
    parameters (docs.stripe.com/billing/subscriptions/pending-updates-reference, "Supported
    attributes"; items: their `price` and `quantity`) and refuses the rest with this message
    (quoted from a Stripe error in codecov/codecov-api#839)."""
    if data.get("payment_behavior") != "pending_if_incomplete":
        return
    named = [name for name in data if name not in allowed]
    if items is not None and items in data and not named:
        for i, item in enumerate(params.items_list(data, items)):
            named += [f"{items}[{i}][{key}]" for key in item if key not in PENDING_ITEM_PARAMS]
    if named:
        raise invalid(
            "When `payment_behavior` is set to `pending_if_incomplete`, you can only pass "
            f"supported params. `{named[0]}` is not supported. See https://stripe.com/docs/"
            "billing/subscriptions/pending-updates-reference#supported-attributes for more "
            "details.",
            param=named[0],
        )


def anchor(data: Params, name: str, *, timestamps: bool = False) -> str | None:
    """`billing_cycle_anchor` as `now`/`unchanged` (a string, or `{type}` since
    2026-09-30.endive); None when absent. A preview of a new subscription may give a time,
    which is validated and dropped (None)."""
    if name not in data:
        return None
    value = data.pop(name)
    ignored.anchor(timestamps=timestamps)(value, name)
    kind = value["type"] if isinstance(value, dict) else value
    return str(kind) if kind in ignored.ANCHORS else None


def billing_params(
    data: Params, behavior: str = "proration_behavior", date: str = "proration_date"
) -> tuple[str, int | None]:
    """Pop and check `proration_behavior` (default `create_prorations`) and `proration_date`."""
    chosen = params.choice(data, behavior, ignored.PRORATION_BEHAVIORS) or "create_prorations"
    at = params.integer(data, date, minimum=0)
    data.pop(behavior, None)
    data.pop(date, None)
    return chosen, at


def payment_behavior(data: Params) -> str | None:
    chosen = params.choice(data, "payment_behavior", ignored.PAYMENT_BEHAVIORS)
    data.pop("payment_behavior", None)
    return chosen


def _tax_rates(ids: list[str]) -> list[Any]:
    return [TaxRate._api_retrieve(rate) for rate in ids]


def apply_update(sub: Any, data: Params) -> list[str]:
    """A Stripe subscription update, applied through localstripe and billed by billing.py;
    returns what was ignored."""
    dropped: list[str] = []
    refuse_unsupported_with_pending(data, PENDING_PARAMS)
    _default_payment_method(data, sub.customer, dropped)
    behavior, at = billing_params(data)
    payment = payment_behavior(data)
    reset = anchor(data, "billing_cycle_anchor")
    sub_coupons = discounts.requested(data, param="discounts", sub=sub)
    if payment == "pending_if_incomplete" and ("trial_end" in data or "trial_from_plan" in data):
        name = "trial_end" if "trial_end" in data else "trial_from_plan"
        raise not_emulated(f"{name} with payment_behavior=pending_if_incomplete", param=name)
    params.only(data, UPDATE_PARAMS)
    data.pop("prorate", None)  # the pre-2019 spelling of proration_behavior
    item_coupons = None
    changed: Any = None
    new_plan: Any = None
    new_quantity = 0
    if "items" in data:
        updated = params.items_list(data, "items")
        if updated:
            where = "items[0][discounts]"
            item_coupons = discounts.requested(updated[0], param=where, sub=sub)
        changed = items.change_one_item(sub, updated, "items")
        entry = updated[0]
        new_plan, new_quantity = prices.find(entry["plan"]), int(entry["quantity"])
        rates = _tax_rates(entry["tax_rates"])  # checked before anything changes
        del data["items"]
    interval_change = (
        changed is not None
        and new_plan is not None
        and (new_plan.interval, new_plan.interval_count)
        != (changed.plan.interval, changed.plan.interval_count)
    )
    if interval_change and reset == "unchanged":
        raise not_emulated(
            "billing_cycle_anchor=unchanged with a change of billing interval",
            param="billing_cycle_anchor",
        )
    if data:  # localstripe answers an empty update with 400; Stripe returns the subscription
        Subscription._api_update(sub.id, **data)
    if changed is not None:
        changed.metadata = entry["metadata"]
        changed.tax_rates = rates
    if item_coupons is not None and changed is not None:
        discounts.replace(sub, changed, item_coupons, item_id=changed.id)
    if sub_coupons is not None:
        discounts.replace(sub, sub, sub_coupons, item_id=None)
    moved = changed is not None and (
        new_plan is None or new_plan.id != changed.plan.id or new_quantity != changed.quantity
    )
    if moved or reset == "now" or interval_change:
        item = changed

        def switch() -> None:
            if item is not None:
                item.plan, item.quantity = new_plan, new_quantity
                if item is sub.items._list[0]:
                    sub.quantity = new_quantity

        parts = list(sub.items._list) if item is None else [item]
        billing.change(
            sub,
            apply=switch,
            credits=[(p, p.plan, p.quantity) for p in parts],
            debits=[(p, new_plan, new_quantity) if p is item else (p, p.plan, p.quantity)
                    for p in parts],
            at=at,
            behavior=behavior,
            payment_behavior=payment,
            reset=reset == "now" or interval_change,
        )  # fmt: skip
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
    first = store.get(f"invoice:{sub.latest_invoice}") if sub.latest_invoice else None
    if first is not None:
        first.billing_reason = "subscription_create"
        billing.decorate(first, sub, sources={}, consume=True)
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
