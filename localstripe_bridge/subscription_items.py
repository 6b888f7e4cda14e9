"""`/v1/subscription_items`: the items of an emulated subscription, one or several.

localstripe serves these routes generically: its list refuses the `subscription` filter Stripe
requires and would list every item ever made (replaced ones, those built for previews), an
update sets attributes blindly (a `price` would crash), a create makes an item attached to no
subscription, and a delete leaves the subscription pointing at a deleted item.

Here an item is created *on* its subscription (appended to its items, so the subscription, its
next invoice and its previews show and bill it), updated like a subscription update naming it,
and deleted from it unless it is the last one. Adding an item prorates a debit for it, removing
one a credit, billed by billing.py as `proration_behavior` and `payment_behavior` say (with
`pending_if_incomplete`, only Stripe's pending-update parameters are taken).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiohttp import web
from localstripe.resources import SubscriptionItem, store

from localstripe_bridge import billing, discounts, ignored, items, lists, params
from localstripe_bridge.errors import invalid, missing, not_emulated
from localstripe_bridge.params import Params
from localstripe_bridge.routes import Router
from localstripe_bridge.subscriptions import (
    apply_update,
    billing_params,
    payment_behavior,
    refuse_unsupported_with_pending,
    retrieve,
)

UPDATE_PARAMS = {
    "discounts", "metadata", "payment_behavior", "plan", "price", "price_data",
    "proration_behavior", "proration_date", "quantity", "tax_rates",
}  # fmt: skip
SUBSCRIPTION_LEVEL = ("payment_behavior", "proration_behavior", "proration_date")
CREATE_PARAMS = {
    "subscription", "discounts", "metadata", "payment_behavior", "plan", "price", "price_data",
    "proration_behavior", "proration_date", "quantity", "tax_rates",
}  # fmt: skip
DELETE_PARAMS = {"clear_usage", "payment_behavior", "proration_behavior", "proration_date"}
# docs.stripe.com/billing/subscriptions/pending-updates-reference, "Supported attributes" of the
# subscription item endpoints (`expand` is read before).
ITEM_PENDING_PARAMS = {
    "payment_behavior",
    "proration_behavior",
    "proration_date",
    "price",
    "quantity",
}
# Subscriptions that can no longer change.
ENDED = ("canceled", "incomplete_expired")


async def update(request: web.Request, path: Mapping[str, str]) -> web.Response:
    """The same change as a subscription update naming this item."""
    sub = items.holder_of(path["id"])
    data = await params.read(request)
    expand = params.expand(data)
    params.only(data, UPDATE_PARAMS)
    refuse_unsupported_with_pending(data, ITEM_PENDING_PARAMS, items=None)
    coupons = discounts.requested(data, param="discounts", sub=sub)
    change: Params = {name: data.pop(name) for name in SUBSCRIPTION_LEVEL if name in data}
    change["items"] = [{"id": path["id"], **data}]
    dropped = apply_update(sub, change)
    changed = items.find(sub, path["id"])
    # apply_update checked that the item exists; it is changed in place, keeping its id.
    assert changed is not None  # noqa: S101 -- see above
    if coupons is not None:
        discounts.replace(sub, changed, coupons, item_id=path["id"])
    return ignored.respond(changed._export(expand=expand), dropped)


async def list_items(request: web.Request, _: Mapping[str, str]) -> web.Response:
    data = await params.read(request)
    expand = params.expand(data)
    params.only(data, {"subscription", "limit", "starting_after", "ending_before"})
    sub = retrieve(params.required_text(data, "subscription"), param="subscription")
    shown, has_more = lists.page(sub.items._list, data, kind="subscription item")
    # `data.discounts` on the list is `discounts` on each item.
    expand = [path.removeprefix("data.") for path in expand or []] or None
    exported = [item._export(expand=expand) for item in shown]
    return web.json_response(lists.body("/v1/subscription_items", exported, has_more))


def _check_addition(sub: Any, plan_id: str, *, param: str) -> Any:
    """Stripe's rules for a new item: an active recurring price (items.price_to_plan), not one
    the subscription already has, in the subscription's currency. An item billed on another
    interval is not emulated (localstripe bills every item on the first item's period)."""
    plan = store[f"plan:{plan_id}"]
    where = param
    first = sub.items._list[0].plan
    if any(existing.plan.id == plan.id for existing in sub.items._list):
        raise invalid(
            f"Cannot add multiple subscription items with the same price: {plan.id}",
            param=where,
        )
    if plan.currency != first.currency:
        raise invalid(
            f"The price's currency ({plan.currency}) must match the subscription's "
            f"({first.currency}).",
            param=where,
        )
    if (plan.interval, plan.interval_count) != (first.interval, first.interval_count):
        raise not_emulated(
            "subscription items with different billing intervals on one subscription",
            param=where,
        )
    return plan


async def create(request: web.Request, _: Mapping[str, str]) -> web.Response:
    """An item added to a live subscription."""
    data = await params.read(request)
    expand = params.expand(data)
    params.only(data, CREATE_PARAMS)
    sub = retrieve(params.required_text(data, "subscription"), param="subscription")
    if sub.status in ENDED:
        raise invalid(
            f"You cannot add items to a subscription whose status is {sub.status}.",
            param="subscription",
        )
    refuse_unsupported_with_pending(data, {"subscription", *ITEM_PENDING_PARAMS}, items=None)
    behavior, at = billing_params(data)
    payment = payment_behavior(data)
    item: Params = {name: data[name] for name in ("price", "plan", "price_data") if name in data}
    items.price_to_plan(item, "")
    if "plan" not in item:
        raise missing("price")
    plan = _check_addition(sub, item["plan"], param="price" if "price" in data else "plan")
    quantity = params.integer(data, "quantity", minimum=1, param="quantity")
    tax_rates = params.text_list(data, "tax_rates") or []
    coupons = discounts.requested(data, param="discounts", sub=sub)
    added = SubscriptionItem(
        subscription=sub.id,
        plan=plan.id,
        quantity=1 if quantity is None else quantity,
        tax_rates=tax_rates,
        metadata=params.metadata(data),
    )
    if coupons:
        discounts.replace(sub, added, coupons, item_id=added.id)
    billing.change(
        sub,
        apply=lambda: sub.items._list.append(added),
        credits=[],
        debits=[(added, plan, added.quantity)],
        at=at,
        behavior=behavior,
        payment_behavior=payment,
        reset=False,
    )
    return web.json_response(added._export(expand=expand))


async def delete(request: web.Request, path: Mapping[str, str]) -> web.Response:
    sub = items.holder_of(path["id"])
    data = await params.read(request)
    params.only(data, DELETE_PARAMS)
    behavior, at = billing_params(data)
    payment = payment_behavior(data)
    params.boolean(data, "clear_usage", param="clear_usage")
    if len(sub.items._list) == 1:
        # Stripe refuses to delete a subscription's last item.
        raise invalid(
            "A subscription must have at least one active item. To cancel the subscription, "
            "use DELETE /v1/subscriptions/{id}."
        )
    removed: Any = items.find(sub, path["id"])  # holder_of found it there

    def remove() -> None:
        sub.items._list = [item for item in sub.items._list if item is not removed]

    billing.change(
        sub,
        apply=remove,
        credits=[(removed, removed.plan, removed.quantity)],
        debits=[],
        at=at,
        behavior=behavior,
        payment_behavior=payment,
        reset=False,
    )
    body = {"id": path["id"], "object": "subscription_item", "deleted": True}
    return web.json_response(body)


def register(router: Router) -> None:
    router.add("GET", "/v1/subscription_items", list_items)
    router.add("POST", "/v1/subscription_items", create)
    router.add("POST", "/v1/subscription_items/{id}", update)
    router.add("DELETE", "/v1/subscription_items/{id}", delete)
