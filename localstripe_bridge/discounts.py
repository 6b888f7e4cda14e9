"""Coupons as Stripe creates them, and discounts on subscription items and subscriptions.

localstripe's Coupon refuses `name` (and every other parameter it does not know) with a bare
400 "Unexpected", answers a duplicate id with 409 "Conflict", and a coupon can never be attached
to anything. Here `POST /v1/coupons` also takes `name`, `max_redemptions` and `redeem_by`
(localstripe's own checks still run on the rest), and `discounts` (a list of `{coupon}`) is taken
on subscription items (create, update) and on subscription updates, item-level or
subscription-level. Each coupon attached becomes a Discount object shaped as Stripe's, stored
with localstripe's store (so `--state-file` keeps it); items and subscriptions show the ids in
`discounts`, and `expand[]=discounts` (`items.data.discounts` on a subscription) shows the
objects. The list given replaces the holder's discounts, as on Stripe; `discounts=""` clears.

billing.py applies them to the invoices and previews the bridge makes (`discount_amounts`,
proration amounts net of them); a subscription's first invoice is never discounted (discounts
cannot be given at creation). See docs/stripe-emulator.md.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from localstripe.resources import (
    Coupon,
    StripeObject,
    Subscription,
    SubscriptionItem,
    random_id,
    store,
)

from localstripe_bridge import params
from localstripe_bridge.errors import invalid, no_such, not_emulated
from localstripe_bridge.params import Params
from localstripe_bridge.patches import _add_interval, _now
from localstripe_bridge.routes import Router

CREATE_PARAMS = {
    "id", "amount_off", "applies_to", "currency", "currency_options", "duration",
    "duration_in_months", "max_redemptions", "metadata", "name", "percent_off", "redeem_by",
}  # fmt: skip
UPDATE_PARAMS = {"currency_options", "metadata", "name"}
ENTRY_PARAMS = {"coupon", "discount", "promotion_code"}
NAME_LENGTH = 40  # Stripe's limit on a coupon's name


class Discount(StripeObject):  # type: ignore[misc]  # localstripe is untyped
    """One coupon applied to one subscription or subscription item. The coupon object itself is
    kept (pickled with the discount), so the discount still shows it once it is deleted."""

    object = "discount"
    _id_prefix = "di_"

    def __init__(self, coupon: Any, sub: Any, item_id: str | None) -> None:
        super().__init__()
        start = _now()
        end = None
        if coupon.duration == "repeating":
            months = int(coupon.duration_in_months)
            end = int(
                _add_interval(datetime.fromtimestamp(start, UTC), "month", months).timestamp()
            )
        self._coupon = coupon
        self._customer = sub.customer
        self._subscription = sub.id
        self._subscription_item = item_id
        self._start = start
        self._end = end

    def _export(self, expand: list[str] | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": self.id,
            "object": "discount",
            "checkout_session": None,
            "customer": self._customer,
            "customer_account": None,
            "end": self._end,
            "invoice": None,
            "invoice_item": None,
            "promotion_code": None,
            "source": {"type": "coupon", "coupon": self._coupon.id},
            "start": self._start,
            "subscription": self._subscription,
            "subscription_item": self._subscription_item,
        }
        for path in expand or []:
            if path == "source.coupon":
                body["source"]["coupon"] = self._coupon._export()
            elif path == "customer":
                body["customer"] = store[f"customer:{self._customer}"]._export()
            else:
                raise invalid(f"This property cannot be expanded ({path}).", param="expand")
        return body


# Coupons ------------------------------------------------------------------------------------


def _coupon_valid(coupon: Any) -> bool:
    """Stripe's `valid`: not yet redeemed `max_redemptions` times, `redeem_by` not passed."""
    most = getattr(coupon, "max_redemptions", None)
    until = getattr(coupon, "redeem_by", None)
    return (most is None or coupon.times_redeemed < most) and (until is None or _now() < until)


def _ignore(coupon: Any, value: Any) -> None:
    """localstripe sets `valid = True` on create; the bridge computes it."""


def _not_emulated_if_present(data: Params, *names: str) -> None:
    for name in names:
        if name in data:
            raise not_emulated(f"coupons with {name}", param=name)


def _name(data: Params) -> str | None:
    name = params.text(data, "name")
    data.pop("name", None)
    if name is not None and len(name) > NAME_LENGTH:
        raise invalid(f"Invalid name: must be at most {NAME_LENGTH} characters long", param="name")
    return name


async def create_coupon(request: web.Request, _: Mapping[str, str]) -> web.Response:
    data = await params.read(request)
    expand = params.expand(data)
    params.only(data, CREATE_PARAMS)
    _not_emulated_if_present(data, "applies_to", "currency_options")
    name = _name(data)
    most = params.integer(data, "max_redemptions", minimum=1)
    data.pop("max_redemptions", None)
    until = params.integer(data, "redeem_by", minimum=0)
    data.pop("redeem_by", None)
    if until is not None and until <= _now():
        raise invalid("Invalid redeem_by: must be in the future", param="redeem_by")
    coupon_id = params.text(data, "id") or random_id(8)
    if f"coupon:{coupon_id}" in store:
        # localstripe answers 409 "Conflict".
        raise invalid("Coupon already exists.", param="id", code="resource_already_exists")
    data["id"] = coupon_id
    data.setdefault("duration", "once")  # Stripe's default
    coupon = Coupon._api_create(**data)  # localstripe's own checks on the rest
    coupon.name = name
    coupon.max_redemptions = most
    coupon.redeem_by = until
    store[f"coupon:{coupon.id}"] = coupon  # saved again, with the bridge's fields
    return web.json_response(coupon._export(expand=expand))


async def update_coupon(request: web.Request, path: Mapping[str, str]) -> web.Response:
    coupon = store.get(f"coupon:{path['id']}")
    if coupon is None:
        raise no_such("coupon", path["id"], status=404)
    data = await params.read(request)
    expand = params.expand(data)
    params.only(data, UPDATE_PARAMS)
    _not_emulated_if_present(data, "currency_options")
    if "name" in data:
        coupon.name = _name(data) or None
    metadata = params.metadata(data)
    if metadata is not None:
        coupon.metadata = params.merge_metadata(coupon.metadata or {}, metadata)
    store[f"coupon:{coupon.id}"] = coupon
    return web.json_response(coupon._export(expand=expand))


# Discounts on subscriptions and their items -------------------------------------------------


def requested(data: Params, *, param: str, sub: Any) -> list[Any] | None:
    """Pop and check `discounts` (Stripe's list of `{coupon}`): the coupons to attach, `[]` for
    `discounts=""` (clear), None when absent (unchanged). Changes nothing."""
    value = data.pop("discounts", None)
    if value is None:
        return None
    if value == "":
        return []
    if not isinstance(value, list) or not all(isinstance(entry, dict) for entry in value):
        raise invalid(f"Invalid array of objects: {param}", param=param)
    currency = sub.items._list[0].plan.currency
    coupons: list[Any] = []
    for i, entry in enumerate(value):
        where = f"{param}[{i}]"
        params.only(entry, ENTRY_PARAMS, prefix=where)
        if "promotion_code" in entry:
            raise not_emulated("promotion codes", param=f"{where}[promotion_code]")
        if "discount" in entry:
            raise not_emulated("reusing an existing discount", param=f"{where}[discount]")
        coupon_id = params.required_text(entry, "coupon", param=f"{where}[coupon]")
        coupon = store.get(f"coupon:{coupon_id}")
        if coupon is None:
            raise no_such("coupon", coupon_id, param=f"{where}[coupon]")
        if not _coupon_valid(coupon):
            raise invalid(f"Coupon expired: {coupon_id}", param=f"{where}[coupon]")
        if coupon.amount_off is not None and coupon.currency != currency:
            raise invalid(
                f"The coupon's currency ({coupon.currency}) must match the subscription's "
                f"({currency}).",
                param=f"{where}[coupon]",
            )
        if any(earlier.id == coupon.id for earlier in coupons):
            raise invalid(
                f"The coupon {coupon_id} cannot be applied more than once.",
                param=f"{where}[coupon]",
            )
        coupons.append(coupon)
    return coupons


def forget(holder: Any) -> None:
    """Remove the holder's discounts (replaced, or their item deleted)."""
    for discount_id in getattr(holder, "_bridge_discounts", []):
        if f"discount:{discount_id}" in store:
            del store[f"discount:{discount_id}"]
    holder._bridge_discounts = []


def replace(sub: Any, holder: Any, coupons: list[Any], *, item_id: str | None) -> None:
    """The holder (`sub` itself, or its item `item_id`) now has exactly these discounts."""
    forget(holder)
    made = [Discount(coupon, sub, item_id) for coupon in coupons]
    for coupon in coupons:
        coupon.times_redeemed += 1
        store[f"coupon:{coupon.id}"] = coupon
    holder._bridge_discounts = [discount.id for discount in made]


def _discount_ids(holder: Any) -> list[str]:
    return list(getattr(holder, "_bridge_discounts", []))


# Expansion ----------------------------------------------------------------------------------


def _expanded_id(object_id: str, expand: list[str] | None) -> Any:
    cls = StripeObject._get_class_for_id(object_id)
    found = store.get(f"{cls.object}:{object_id}") if cls is not None else None
    if found is None:
        return object_id
    return found._export(expand=expand)


def _expand(node: Any, path: list[str], tails: list[str]) -> Any:
    """Follow an `expand[]` path through exported JSON down to a `discounts` list of ids, which
    become Discounts, themselves expanded by `tails` (e.g. `source.coupon`)."""
    if isinstance(node, list):
        return [_expand(each, path, tails) for each in node]
    if not isinstance(node, dict):
        return node
    key, rest = path[0], path[1:]
    if key not in node:
        raise invalid(f"This property cannot be expanded ({key}).", param="expand")
    value = node[key]
    if not rest:  # key == "discounts"
        if isinstance(value, list):
            node[key] = [_expanded_id(v, tails or None) if isinstance(v, str) else v for v in value]
        return node
    if isinstance(value, str):
        value = _expanded_id(value, None)
    node[key] = _expand(value, rest, tails)
    return node


Export = Callable[..., dict[str, Any]]


def _expanding_discounts(export: Export) -> Export:
    """localstripe's exporter expands a single id only: paths through `discounts` (a list of
    ids) are followed here, after it, each list once with every path that continues past it."""

    def wrapped(self: Any, expand: Any = None) -> dict[str, Any]:
        if not isinstance(expand, list):
            return export(self, expand=expand)
        ours: dict[str, list[str]] = {}
        for path in expand:
            segments = path.split(".") if isinstance(path, str) else []
            if "discounts" in segments:
                cut = segments.index("discounts") + 1
                tails = ours.setdefault(".".join(segments[:cut]), [])
                if segments[cut:]:
                    tails.append(".".join(segments[cut:]))
        body = export(self, expand=[p for p in expand if p not in expand_paths(ours, expand)])
        for head, tails in ours.items():
            _expand(body, head.split("."), tails)
        return body

    return wrapped


def expand_paths(ours: dict[str, list[str]], expand: list[Any]) -> set[str]:
    """The paths of `expand` that go through one of `ours`."""
    return {
        p
        for p in expand
        if isinstance(p, str) and any(p == h or p.startswith(f"{h}.") for h in ours)
    }


def install() -> None:
    if getattr(Coupon, "_bridge_discounts_installed", False):
        return
    Coupon._bridge_discounts_installed = True
    # Shown as null until set, on coupons made before the bridge too.
    Coupon.name = None
    Coupon.applies_to = None
    Coupon.currency_options = None
    Coupon.valid = property(_coupon_valid, _ignore)
    SubscriptionItem.discounts = property(_discount_ids)
    Subscription.discounts = property(_discount_ids)
    SubscriptionItem._export = _expanding_discounts(SubscriptionItem._export)
    Subscription._export = _expanding_discounts(Subscription._export)


def register(router: Router) -> None:
    install()
    router.add("POST", "/v1/coupons", create_coupon)
    router.add("POST", "/v1/coupons/{id}", update_coupon)
