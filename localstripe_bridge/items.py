"""Subscription items as Stripe reads them, translated for localstripe.

localstripe's items take `plan`, not `price` (every Price is a Plan with the same id, see
prices.py); a subscription has exactly one item; and changing an item's plan or quantity makes
localstripe replace the item with a new one (new `si_` id, quantity reset to 1 when omitted,
metadata and tax rates dropped), where Stripe changes the item in place.
"""

from __future__ import annotations

from typing import Any

from localstripe.resources import store

from localstripe_bridge import params, prices
from localstripe_bridge.errors import invalid, missing, no_such, not_emulated
from localstripe_bridge.params import Params

PARAMS = {"id", "price", "plan", "quantity", "metadata", "tax_rates", "deleted", "price_data"}


def price_to_plan(item: Params, param: str) -> None:
    """`{param}[price]` → `{param}[plan]`, with Stripe's checks on the price."""
    if "price_data" in item:
        raise not_emulated("price_data on subscription items", param=f"{param}[price_data]")
    price_id = params.text(item, "price", param=f"{param}[price]")
    if price_id is not None and "plan" in item:
        raise invalid(
            "You may only specify one of these parameters: plan, price.", param=f"{param}[price]"
        )
    name = "price" if price_id is not None else "plan"
    plan_id = price_id or params.text(item, "plan", param=f"{param}[plan]")
    if plan_id is None:
        return
    plan = prices.find(plan_id)
    if plan is None:
        raise no_such(name, plan_id, param=f"{param}[{name}]")
    if prices.price_type(plan) != "recurring":
        raise invalid(
            "The price specified is set to `type=one_time` but this field only accepts prices "
            "with `type=recurring`.",
            param=f"{param}[{name}]",
        )
    if not plan.active:
        raise invalid(
            "The price specified is inactive. This field only accepts active prices.",
            param=f"{param}[{name}]",
        )
    item.pop("price", None)
    item["plan"] = plan_id


def new_items(items: list[Params], param: str) -> None:
    """Items of a subscription being created (or previewed before it exists)."""
    for i, item in enumerate(items):
        where = f"{param}[{i}]"
        params.only(item, PARAMS - {"deleted"}, prefix=where)
        if "id" in item:
            raise no_such("subscription item", str(item["id"]), param=f"{where}[id]")
        price_to_plan(item, where)
        params.integer(item, "quantity", minimum=1, param=f"{where}[quantity]")
        if "plan" not in item:
            raise missing(f"{where}[price]")


def change_the_only_item(sub: Any, items: list[Params], param: str) -> None:
    """Items of an update (or of its preview): exactly one, naming the subscription's item, with
    what the request omits filled in from that item, as Stripe keeps it."""
    current = sub.items._list[0]
    if len(items) != 1:
        raise not_emulated("a subscription with more than one item", param=param)
    item = items[0]
    where = f"{param}[0]"
    params.only(item, PARAMS, prefix=where)
    item_id = params.text(item, "id", param=f"{where}[id]")
    if item_id is None:
        # On Stripe an item without `id` is *added*; localstripe would replace the plan instead.
        raise not_emulated(
            "adding a second item (pass items[0][id] to change the current one)",
            param=f"{where}[id]",
        )
    if item_id != current.id:
        raise no_such("subscription item", item_id, param=f"{where}[id]")
    if params.boolean(item, "deleted", param=f"{where}[deleted]"):
        raise not_emulated("removing a subscription's only item", param=f"{where}[deleted]")
    item.pop("deleted", None)
    price_to_plan(item, where)
    params.integer(item, "quantity", minimum=1, param=f"{where}[quantity]")
    item.setdefault("plan", current.plan.id)
    item.setdefault("quantity", current.quantity)
    item["metadata"] = params.merge_metadata(
        current.metadata or {}, params.metadata(item, "metadata")
    )
    item.setdefault("tax_rates", [rate.id for rate in current.tax_rates or []])


def keep_item_id(sub: Any, item_id: str) -> None:
    """After localstripe replaced the item, give the new one the old item's id and creation time
    (Uplift keys on the id), and point invoice lines already made for it at that id."""
    item = sub.items._list[0]
    if item.id == item_id:
        return
    replaced = store.get(f"subscription_item:{item_id}")
    del store[f"subscription_item:{item.id}"]
    new_id, item.id = item.id, item_id
    if replaced is not None:
        item.created = replaced.created
    store[f"subscription_item:{item_id}"] = item
    for key, invoice in list(store.items()):
        if key.startswith("invoice:") and invoice.subscription == sub.id:
            for line in invoice.lines._list:
                if getattr(line, "subscription_item", None) == new_id:
                    line.subscription_item = item_id


def holder_of(item_id: str) -> Any:
    """The subscription whose item this is (404 as Stripe's "No such subscription item")."""
    for key, sub in store.items():
        if key.startswith("subscription:") and sub.items._list[0].id == item_id:
            return sub
    raise no_such("subscription item", item_id, status=404)
