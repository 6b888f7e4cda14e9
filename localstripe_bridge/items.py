"""Subscription items as Stripe reads them, translated for localstripe.

localstripe's items take `plan`, not `price` (every Price is a Plan with the same id, see
prices.py); its subscription code acts on exactly one item (the first); and changing an item's
plan or quantity makes localstripe replace the item with a new one (new `si_` id, quantity reset
to 1 when omitted, metadata and tax rates dropped), where Stripe changes the item in place.

A subscription may hold several items here (subscription_items.py adds them): an update names
one of them, which subscriptions.py and billing.py change in place (same id), never through
localstripe's replacing update.
"""

from __future__ import annotations

from typing import Any

from localstripe.resources import store

from localstripe_bridge import params, prices
from localstripe_bridge.errors import invalid, missing, no_such, not_emulated
from localstripe_bridge.params import Params

PARAMS = {"id", "price", "plan", "quantity", "metadata", "tax_rates", "deleted", "price_data"}


def price_to_plan(item: Params, param: str) -> None:
    """`{param}[price]` → `{param}[plan]`, with Stripe's checks on the price. An empty `param`
    is a top-level item (`POST /v1/subscription_items`): errors name `price` itself."""

    def where(name: str) -> str:
        return f"{param}[{name}]" if param else name

    if "price_data" in item:
        raise not_emulated("price_data on subscription items", param=where("price_data"))
    price_id = params.text(item, "price", param=where("price"))
    if price_id is not None and "plan" in item:
        raise invalid(
            "You may only specify one of these parameters: plan, price.", param=where("price")
        )
    name = "price" if price_id is not None else "plan"
    plan_id = price_id or params.text(item, "plan", param=where("plan"))
    if plan_id is None:
        return
    plan = prices.find(plan_id)
    if plan is None:
        raise no_such(name, plan_id, param=where(name))
    if prices.price_type(plan) != "recurring":
        raise invalid(
            "The price specified is set to `type=one_time` but this field only accepts prices "
            "with `type=recurring`.",
            param=where(name),
        )
    if not plan.active:
        raise invalid(
            "The price specified is inactive. This field only accepts active prices.",
            param=where(name),
        )
    item.pop("price", None)
    item["plan"] = plan_id


def new_items(items: list[Params], param: str) -> None:
    """Items of a subscription being created (or previewed before it exists)."""
    for i, item in enumerate(items):
        where = f"{param}[{i}]"
        if "discounts" in item:
            # The first invoice, made at once, would not be discounted.
            raise not_emulated(
                "discounts on a new subscription (create it, then attach them with an update)",
                param=f"{where}[discounts]",
            )
        params.only(item, PARAMS - {"deleted"}, prefix=where)
        if "id" in item:
            raise no_such("subscription item", str(item["id"]), param=f"{where}[id]")
        price_to_plan(item, where)
        params.integer(item, "quantity", minimum=1, param=f"{where}[quantity]")
        if "plan" not in item:
            raise missing(f"{where}[price]")


def find(sub: Any, item_id: str) -> Any | None:
    return next((item for item in sub.items._list if item.id == item_id), None)


def change_one_item(sub: Any, items: list[Params], param: str) -> Any:
    """Items of an update (or of its preview): exactly one, naming one of the subscription's
    items, with what the request omits filled in from that item, as Stripe keeps it. Returns
    the item named."""
    if len(items) != 1:
        raise not_emulated("changing more than one item in one request", param=param)
    item = items[0]
    where = f"{param}[0]"
    params.only(item, PARAMS, prefix=where)
    item_id = params.text(item, "id", param=f"{where}[id]")
    if item_id is None:
        # On Stripe an item without `id` is *added*; localstripe would replace the plan instead.
        raise not_emulated(
            "adding an item in a subscription update (use POST /v1/subscription_items, or pass "
            "items[0][id] to change an item)",
            param=f"{where}[id]",
        )
    current = find(sub, item_id)
    if current is None:
        raise no_such("subscription item", item_id, param=f"{where}[id]")
    if params.boolean(item, "deleted", param=f"{where}[deleted]"):
        raise not_emulated(
            "removing an item in a subscription update (use DELETE /v1/subscription_items/{id})",
            param=f"{where}[deleted]",
        )
    item.pop("deleted", None)
    price_to_plan(item, where)
    params.integer(item, "quantity", minimum=1, param=f"{where}[quantity]")
    item.setdefault("plan", current.plan.id)
    item.setdefault("quantity", current.quantity)
    item["metadata"] = params.merge_metadata(
        current.metadata or {}, params.metadata(item, "metadata")
    )
    item.setdefault("tax_rates", [rate.id for rate in current.tax_rates or []])
    others = [other for other in sub.items._list if other is not current]
    plan = prices.find(item["plan"])
    if others and plan is not None and _interval(plan) != _interval(current.plan):
        # localstripe would invoice only the changed item for the new period.
        raise not_emulated(
            "changing the billing interval of one item of a subscription with several items",
            param=f"{where}[price]",
        )
    return current


def _interval(plan: Any) -> tuple[str, int]:
    return plan.interval, plan.interval_count


def holder_of(item_id: str) -> Any:
    """The subscription whose item this is (404 as Stripe's "No such subscription item")."""
    for key, sub in store.items():
        if key.startswith("subscription:") and find(sub, item_id) is not None:
            return sub
    raise no_such("subscription item", item_id, status=404)
