"""Prices (`/v1/prices`), each backed by a localstripe Plan with the same id.

localstripe predates Prices: it has only legacy Plans and answers `/v1/prices` with 404. Stripe
made every Plan readable as a Price, and subscriptions and invoices only need a Plan, so a Price
created here *is* a Plan whose id looks like `price_…`; the fields a Plan lacks (lookup key, type,
tax behavior) live on the Plan object in underscore attributes, which localstripe's exporter skips
and its pickled state keeps. Plans created through `/v1/plans` read as Prices too, as on Stripe.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from aiohttp import web
from localstripe.resources import Event, Plan, Product, random_id, store
from localstripe.webhooks import schedule_webhook

from localstripe_bridge import lists, params
from localstripe_bridge.errors import invalid, no_such, not_emulated
from localstripe_bridge.params import Params
from localstripe_bridge.routes import Router

INTERVALS = ("day", "week", "month", "year")
# Stripe allows at most three years between two renewals.
MAX_INTERVAL_COUNT = {"day": 1095, "week": 156, "month": 36, "year": 3}
TAX_BEHAVIORS = ("exclusive", "inclusive", "unspecified")
CREATE_PARAMS = {
    "active", "billing_scheme", "currency", "expand", "lookup_key", "metadata", "nickname",
    "product", "product_data", "recurring", "tax_behavior", "transfer_lookup_key", "unit_amount",
    "unit_amount_decimal",
}  # fmt: skip
UPDATE_PARAMS = {
    "active", "expand", "lookup_key", "metadata", "nickname", "tax_behavior",
    "transfer_lookup_key",
}  # fmt: skip
LIST_PARAMS = {
    "active", "currency", "ending_before", "expand", "limit", "lookup_keys", "product",
    "recurring", "starting_after", "type",
}  # fmt: skip


class _Exported:
    """What localstripe's `Event` needs from its payload: an `_export()`."""

    def __init__(self, body: dict[str, Any]) -> None:
        self._body = body

    def _export(self, expand: object = None) -> dict[str, Any]:
        return self._body


def price_type(plan: Any) -> str:
    return str(getattr(plan, "_bridge_price_type", "recurring"))


def price_json(plan: Any) -> dict[str, Any]:
    """The Plan as Stripe shows it on the Prices API (API version 2026-10-28.endive)."""
    recurring = None
    if price_type(plan) == "recurring":
        recurring = {
            "interval": plan.interval,
            "interval_count": plan.interval_count,
            "meter": None,
            "trial_period_days": plan.trial_period_days,
            "usage_type": plan.usage_type,
        }
    per_unit = plan.billing_scheme == "per_unit"
    return {
        "id": plan.id,
        "object": "price",
        "active": plan.active,
        "billing_scheme": plan.billing_scheme,
        "created": plan.created,
        "currency": plan.currency,
        "custom_unit_amount": None,
        "livemode": False,
        "lookup_key": getattr(plan, "_bridge_lookup_key", None),
        "metadata": dict(plan.metadata or {}),
        "nickname": plan.nickname,
        "product": plan.product,
        "recurring": recurring,
        "tax_behavior": getattr(plan, "_bridge_tax_behavior", "unspecified"),
        "tiers_mode": plan.tiers_mode,
        "transform_quantity": None,
        "type": price_type(plan),
        "unit_amount": plan.amount if per_unit else None,
        "unit_amount_decimal": str(plan.amount) if per_unit else None,
    }


def all_plans() -> list[Any]:
    """Every Plan, newest first (Stripe's list order; the store keeps creation order)."""
    plans = [value for key, value in store.items() if key.startswith("plan:")]
    return list(reversed(plans))


def find(price_id: str) -> Any | None:
    return store.get(f"plan:{price_id}")


def retrieve(price_id: str, *, param: str | None = None) -> Any:
    """The Plan behind a price id, or Stripe's "No such price" (404 on its route, else 400)."""
    plan = find(price_id)
    if plan is None:
        raise no_such("price", price_id, param=param, status=404 if param is None else 400)
    return plan


def _export(plan: Any, expand: list[str] | None, *, prefix: str = "") -> dict[str, Any]:
    body = price_json(plan)
    if expand and f"{prefix}product" in expand:
        body["product"] = Product._api_retrieve(plan.product)._export()
    return body


def _emit(event_type: str, plan: Any) -> None:
    # localstripe only knows `plan.created`; Stripe also sends `price.*` for the Prices API.
    schedule_webhook(Event(event_type, _Exported(price_json(plan))))


def _lookup_key_holder(lookup_key: str | None, *, transfer: bool, keep: Any = None) -> Any:
    """The price that has this lookup key now: Stripe refuses a second one unless
    `transfer_lookup_key=true` (the caller then takes the key from the returned price)."""
    if lookup_key is None:
        return None
    if len(lookup_key) > 200:
        raise invalid("lookup_key must be at most 200 characters", param="lookup_key")
    for plan in all_plans():
        if plan is keep or getattr(plan, "_bridge_lookup_key", None) != lookup_key:
            continue
        if not transfer:
            raise invalid(
                f"A price (`{plan.id}`) already uses that lookup key.",
                param="lookup_key",
                code="lookup_key_exists",
            )
        return plan
    return None


def _unit_amount(data: Params) -> int:
    amount = params.integer(data, "unit_amount", minimum=0)
    decimal_text = params.text(data, "unit_amount_decimal")
    if amount is not None and decimal_text is not None:
        raise invalid(
            "You may only specify one of these parameters: unit_amount, unit_amount_decimal.",
            param="unit_amount_decimal",
        )
    if decimal_text is not None:
        try:
            decimal = Decimal(decimal_text)
        except InvalidOperation:
            raise invalid(f"Invalid decimal: {decimal_text}", param="unit_amount_decimal") from None
        if decimal != decimal.to_integral_value() or decimal < 0:
            # localstripe Plans hold whole minor units; sub-cent prices would be rounded.
            raise not_emulated("a fractional unit_amount_decimal", param="unit_amount_decimal")
        amount = int(decimal)
    if amount is None:
        raise invalid(
            "Missing required param: unit_amount.", param="unit_amount", code="parameter_missing"
        )
    return amount


def _recurring(data: Params) -> tuple[str, int] | None:
    recurring = params.mapping(data, "recurring")
    if recurring is None:
        return None
    params.only(recurring, {"interval", "interval_count", "usage_type"}, prefix="recurring")
    interval = params.choice(recurring, "interval", INTERVALS, param="recurring[interval]")
    if interval is None:
        raise invalid(
            "Missing required param: recurring[interval].",
            param="recurring[interval]",
            code="parameter_missing",
        )
    count = params.integer(
        recurring, "interval_count", minimum=1, param="recurring[interval_count]"
    )
    count = 1 if count is None else count
    if count > MAX_INTERVAL_COUNT[interval]:
        raise invalid(
            "The maximum billing interval is three years.", param="recurring[interval_count]"
        )
    usage_type = params.text(recurring, "usage_type", param="recurring[usage_type]")
    if usage_type not in (None, "licensed"):
        raise not_emulated("metered usage", param="recurring[usage_type]")
    return interval, count


def _product(data: Params) -> str:
    product_id = params.text(data, "product")
    product_data = params.mapping(data, "product_data")
    if (product_id is None) == (product_data is None):
        raise invalid("You must specify exactly one of product or product_data.", param="product")
    if product_id is not None:
        if store.get(f"product:{product_id}") is None:
            raise no_such("product", product_id, param="product")
        return product_id
    assert product_data is not None  # noqa: S101 -- exactly one of the two, checked above
    params.only(product_data, {"name", "active", "metadata"}, prefix="product_data")
    name = params.required_text(product_data, "name", param="product_data[name]")
    active = params.boolean(product_data, "active", param="product_data[active]")
    metadata = params.metadata(product_data, "metadata") or {}
    created = Product(name=name, active=True if active is None else active, metadata=metadata)
    return str(created.id)


async def create(request: web.Request, _: Mapping[str, str]) -> web.Response:
    data = await params.read(request)
    expand = params.expand(data)
    params.only(data, CREATE_PARAMS)
    currency = params.required_text(data, "currency").lower()
    if len(currency) != 3:
        raise invalid(f"Invalid currency: {currency}", param="currency")
    amount = _unit_amount(data)
    recurring = _recurring(data)
    if params.choice(data, "billing_scheme", ("per_unit", "tiered")) == "tiered":
        raise not_emulated("tiered pricing", param="billing_scheme")
    tax_behavior = params.choice(data, "tax_behavior", TAX_BEHAVIORS) or "unspecified"
    nickname = params.text(data, "nickname")
    metadata = params.metadata(data) or {}
    active = params.boolean(data, "active")
    lookup_key = params.text(data, "lookup_key")
    transfer = bool(params.boolean(data, "transfer_lookup_key"))
    holder = _lookup_key_holder(lookup_key, transfer=transfer)
    product = _product(data)

    interval, count = recurring or ("month", 1)  # a one-time price still needs a Plan interval
    plan = Plan(
        id=f"price_{random_id(24)}",
        product=product,
        amount=amount,
        currency=currency,
        interval=interval,
        interval_count=count,
        nickname=nickname,
        metadata=metadata,
        active=True if active is None else active,
    )
    plan._bridge_price_type = "recurring" if recurring else "one_time"
    plan._bridge_lookup_key = lookup_key
    plan._bridge_tax_behavior = tax_behavior
    if holder is not None:
        holder._bridge_lookup_key = None
    _emit("price.created", plan)
    return web.json_response(_export(plan, expand))


async def get(request: web.Request, path: Mapping[str, str]) -> web.Response:
    data = await params.read(request)
    expand = params.expand(data)
    params.only(data, ())
    return web.json_response(_export(retrieve(path["id"]), expand))


async def update(request: web.Request, path: Mapping[str, str]) -> web.Response:
    plan = retrieve(path["id"])
    data = await params.read(request)
    expand = params.expand(data)
    params.only(data, UPDATE_PARAMS)
    active = params.boolean(data, "active")
    nickname = params.text(data, "nickname")
    tax_behavior = params.choice(data, "tax_behavior", TAX_BEHAVIORS)
    metadata = params.metadata(data)
    transfer = bool(params.boolean(data, "transfer_lookup_key"))
    if "lookup_key" in data:
        lookup_key = params.text(data, "lookup_key") or None  # "" unsets it
        holder = _lookup_key_holder(lookup_key, transfer=transfer, keep=plan)
        if holder is not None:
            holder._bridge_lookup_key = None
        plan._bridge_lookup_key = lookup_key
    if active is not None:
        plan.active = active
    if "nickname" in data:
        plan.nickname = nickname or None
    if tax_behavior is not None:
        plan._bridge_tax_behavior = tax_behavior
    plan.metadata = params.merge_metadata(plan.metadata or {}, metadata)
    _emit("price.updated", plan)
    return web.json_response(_export(plan, expand))


def _filters(data: Params) -> list[Callable[[Any], bool]]:
    filters: list[Callable[[Any], bool]] = []
    product = params.text(data, "product")
    if product is not None:
        filters.append(lambda p: p.product == product)
    active = params.boolean(data, "active")
    if active is not None:
        filters.append(lambda p: p.active == active)
    currency = params.text(data, "currency")
    if currency is not None:
        filters.append(lambda p: p.currency == currency.lower())
    kind = params.choice(data, "type", ("one_time", "recurring"))
    if kind is not None:
        filters.append(lambda p: price_type(p) == kind)
    lookup_keys = params.text_list(data, "lookup_keys")
    if lookup_keys is not None:
        if len(lookup_keys) > 10:
            raise invalid("lookup_keys accepts at most 10 keys", param="lookup_keys")
        filters.append(lambda p: getattr(p, "_bridge_lookup_key", None) in lookup_keys)
    recurring = params.mapping(data, "recurring")
    if recurring is not None:
        params.only(recurring, {"interval", "usage_type"}, prefix="recurring")
        interval = params.choice(recurring, "interval", INTERVALS, param="recurring[interval]")
        if interval is not None:
            filters.append(lambda p: price_type(p) == "recurring" and p.interval == interval)
    return filters


async def list_prices(request: web.Request, _: Mapping[str, str]) -> web.Response:
    data = await params.read(request)
    expand = params.expand(data)
    params.only(data, LIST_PARAMS)
    filters = _filters(data)
    matching = [p for p in all_plans() if all(f(p) for f in filters)]
    shown, has_more = lists.page(matching, data, kind="price")
    exported = [_export(p, expand, prefix="data.") for p in shown]
    return web.json_response(lists.body("/v1/prices", exported, has_more))


def register(router: Router) -> None:
    router.add("POST", "/v1/prices", create)
    router.add("GET", "/v1/prices", list_prices)
    router.add("GET", "/v1/prices/{id}", get)
    router.add("POST", "/v1/prices/{id}", update)
