"""`/v1/subscription_items`: the one item of each emulated subscription.

localstripe serves these routes generically: its list refuses the `subscription` filter Stripe
requires and would list every item ever made (replaced ones, those built for previews), an
update sets attributes blindly (a `price` would crash), a create makes an item attached to no
subscription, and a delete leaves the subscription pointing at a deleted item.
"""

from __future__ import annotations

from collections.abc import Mapping

from aiohttp import web

from localstripe_bridge import ignored, items, lists, params
from localstripe_bridge.errors import invalid, not_emulated
from localstripe_bridge.params import Params
from localstripe_bridge.routes import Router
from localstripe_bridge.subscriptions import apply_update, retrieve

UPDATE_PARAMS = {
    "metadata", "payment_behavior", "plan", "price", "price_data", "proration_behavior",
    "proration_date", "quantity", "tax_rates",
}  # fmt: skip
SUBSCRIPTION_LEVEL = ("payment_behavior", "proration_behavior", "proration_date")


async def update(request: web.Request, path: Mapping[str, str]) -> web.Response:
    """The same change as a subscription update naming this item."""
    sub = items.holder_of(path["id"])
    data = await params.read(request)
    expand = params.expand(data)
    params.only(data, UPDATE_PARAMS)
    change: Params = {name: data.pop(name) for name in SUBSCRIPTION_LEVEL if name in data}
    change["items"] = [{"id": path["id"], **data}]
    dropped = apply_update(sub, change)
    return ignored.respond(sub.items._list[0]._export(expand=expand), dropped)


async def list_items(request: web.Request, _: Mapping[str, str]) -> web.Response:
    data = await params.read(request)
    expand = params.expand(data)
    params.only(data, {"subscription", "limit", "starting_after", "ending_before"})
    sub = retrieve(params.required_text(data, "subscription"), param="subscription")
    shown, has_more = lists.page(sub.items._list, data, kind="subscription item")
    exported = [item._export(expand=expand) for item in shown]
    return web.json_response(lists.body("/v1/subscription_items", exported, has_more))


async def create(request: web.Request, _: Mapping[str, str]) -> web.Response:
    raise not_emulated("adding a second item to a subscription")


async def delete(request: web.Request, path: Mapping[str, str]) -> web.Response:
    items.holder_of(path["id"])
    # Every emulated subscription has exactly one item, and Stripe refuses to delete the last.
    raise invalid(
        "A subscription must have at least one active item. To cancel the subscription, "
        "use DELETE /v1/subscriptions/{id}."
    )


def register(router: Router) -> None:
    router.add("GET", "/v1/subscription_items", list_items)
    router.add("POST", "/v1/subscription_items", create)
    router.add("POST", "/v1/subscription_items/{id}", update)
    router.add("DELETE", "/v1/subscription_items/{id}", delete)
