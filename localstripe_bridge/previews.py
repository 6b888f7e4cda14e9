"""Invoice previews (`POST /v1/invoices/create_preview`, the older `GET /v1/invoices/upcoming`)
that show what a subscription change would bill, and change nothing.

localstripe's previews take only `plan` items, require `customer` even with `subscription`,
"prorate" by crediting every earlier invoice in full, and attach the customer's pending items
to the thrown-away preview. Here a preview is built with billing.py, the code that bills real
changes, on transient objects (never stored):

- a subscription with a change (`subscription_details[items]` / `subscription_items`, at
  `proration_date`, default now): the proration lines an update would make, then
  - with a billing cycle reset (interval change, `billing_cycle_anchor=now`): the invoice the
    update would make at once (credit + new price in full for a period starting now);
  - with `always_invoice`: that immediate invoice (the prorations);
  - otherwise the next invoice: the prorations, then the renewal at the new price for the next
    period (Stripe's docs example: -166 + 541 + 3252 = 3627);
- a subscription without a change: its next renewal;
- no subscription: the new subscription's first invoice;

with the customer's pending items (of this subscription, or of none) and the discounts the
invoice would apply. Discounts *given in the preview* (`…[items][i][discounts]`) are checked,
dropped and named in `Localstripe-Bridge-Ignored`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from localstripe.resources import Invoice, SubscriptionItem, store

from localstripe_bridge import billing, discounts, ignored, items, params, prices
from localstripe_bridge.errors import missing, not_emulated
from localstripe_bridge.params import Params
from localstripe_bridge.patches import _add_interval, _now
from localstripe_bridge.routes import Router
from localstripe_bridge.subscriptions import anchor, billing_params, retrieve

DETAILS = {
    "billing_cycle_anchor", "default_tax_rates", "items", "proration_behavior", "proration_date",
    "trial_end",
}  # fmt: skip
UPCOMING_PARAMS = {
    "coupon", "customer", "subscription", "subscription_billing_cycle_anchor",
    "subscription_default_tax_rates", "subscription_items", "subscription_proration_behavior",
    "subscription_proration_date", "subscription_trial_end",
}  # fmt: skip


def _subscription_and_customer(data: Params) -> tuple[Any, str]:
    """The previewed subscription, if any; Stripe takes `subscription` alone."""
    subscription_id = params.text(data, "subscription")
    sub = retrieve(subscription_id, param="subscription") if subscription_id else None
    customer = params.text(data, "customer")
    if customer is None:
        if sub is None:
            raise missing("customer")
        customer = sub.customer
    return sub, str(customer)


def _later(start: int, plan: Any) -> int:
    end = _add_interval(datetime.fromtimestamp(start, UTC), plan.interval, plan.interval_count)
    return int(end.timestamp())


def _transient_item(real: Any | None, sub: Any, plan: Any, quantity: int, rates: list[str]) -> Any:
    made = SubscriptionItem(
        subscription=sub.id if sub is not None else None,
        plan=plan.id,
        quantity=quantity,
        tax_rates=rates,
    )
    del store[f"subscription_item:{made.id}"]
    made._bridge_discounts = list(getattr(real, "_bridge_discounts", []))
    made._bridge_real = real.id if real is not None else None
    return made


class _Request:
    """What a preview asks: the change, and how it would be billed."""

    def __init__(self) -> None:
        self.previewed: list[Params] | None = None
        self.behavior = "create_prorations"
        self.at: int | None = None
        self.anchor: str | None = None
        self.tax_rates: list[str] | None = None


def _build(sub: Any, customer: str, ask: _Request, dropped: list[str], param: str) -> Any:
    now = _now()
    at = now if ask.at is None else ask.at
    made: list[Any] = []
    full: list[tuple[Any, int]] = []  # (transient item, period start)
    immediate = False
    if sub is None:
        new = ask.previewed or []
        items.new_items(new, param)
        for entry in new:
            plan = prices.find(entry["plan"])
            rates = list(entry.get("tax_rates") or [])
            full.append(
                (_transient_item(None, None, plan, int(entry.get("quantity") or 1), rates), now)
            )
    else:
        changed: Any = None
        new_plan: Any = None
        new_quantity = 0
        if ask.previewed:
            for i, entry in enumerate(ask.previewed):
                where = f"{param}[{i}][discounts]"
                if discounts.requested(entry, param=where, sub=sub) is not None:
                    dropped.append(where)
            changed = items.change_one_item(sub, ask.previewed, param)
            new_plan = prices.find(ask.previewed[0]["plan"])
            new_quantity = int(ask.previewed[0]["quantity"])
        interval_change = changed is not None and (new_plan.interval, new_plan.interval_count) != (
            changed.plan.interval,
            changed.plan.interval_count,
        )
        reset = ask.anchor == "now" or interval_change
        moved = changed is not None and (
            new_plan.id != changed.plan.id or new_quantity != changed.quantity
        )
        parts = [changed] if changed is not None else list(sub.items._list)
        if ask.behavior != "none" and (moved or reset):
            credits = [(p, p.plan, p.quantity) for p in parts]
            debits = [] if reset else [(changed, new_plan, new_quantity)]
            made = billing.prorate(sub, credits, debits, at, transient=True)
        immediate = reset or (ask.behavior == "always_invoice" and bool(made))
        if reset or not immediate:
            start = now if reset else int(sub.current_period_end)
            for item in sub.items._list:
                plan, quantity = (
                    (new_plan, new_quantity) if item is changed else (item.plan, item.quantity)
                )
                rates = [rate.id for rate in item.tax_rates or []]
                full.append((_transient_item(item, sub, plan, quantity, rates), start))
    sources = {obj.id: obj for obj in made} | {obj.id: obj for obj, _ in full}
    keep = (
        (lambda item: item.subscription in (None, sub.id))
        if sub is not None
        else (lambda item: item.subscription is None)
    )
    with billing.only_pending_items_of(customer, keep):
        invoice = Invoice(
            customer=customer,
            subscription=sub.id if sub is not None else None,
            items=[*made, *(obj for obj, _ in full)],
            default_tax_rates=ask.tax_rates,
            simulation=True,
            upcoming=True,
        )
    for obj, start in full:
        line = next(
            line
            for line in invoice.lines._list
            if getattr(line, "subscription_item", None) == obj.id
        )
        line.period = {"start": start, "end": _later(start, obj.plan)}
    billing.decorate(invoice, sub, sources=sources, consume=False)
    for line in invoice.lines._list:
        real = getattr(sources.get(getattr(line, "subscription_item", "")), "_bridge_real", None)
        if real is not None:
            line.subscription_item = real
        store.pop(f"line_item:{line.id}", None)
    del store[f"invoice:{invoice.id}"]
    currencies = [obj.currency for obj in made] + [obj.plan.currency for obj, _ in full]
    if currencies:
        invoice.currency = currencies[0]
    invoice.billing_reason = "subscription_update" if immediate else "upcoming"
    return invoice


async def create_preview(request: web.Request, _: Mapping[str, str]) -> web.Response:
    data = await params.read(request)
    expand = params.expand(data)
    params.only(data, {"customer", "subscription", "subscription_details"})
    sub, customer = _subscription_and_customer(data)
    dropped: list[str] = []
    ask = _Request()
    details = params.mapping(data, "subscription_details")
    if details is not None:
        params.only(details, DETAILS, prefix="subscription_details")
        if "trial_end" in details:
            raise not_emulated("trial_end in a preview", param="subscription_details[trial_end]")
        ask.behavior, ask.at = billing_params(details)
        ask.anchor = anchor(details, "billing_cycle_anchor", timestamps=sub is None)
        ask.tax_rates = params.text_list(details, "default_tax_rates")
        if "items" in details:
            param = "subscription_details[items]"
            ask.previewed = params.items_list(details, "items", param=param)
    invoice = _build(sub, customer, ask, dropped, "subscription_details[items]")
    invoice.id = f"upcoming_{invoice.id}"
    return ignored.respond(invoice._export(expand=expand), dropped)


async def upcoming(request: web.Request, _: Mapping[str, str]) -> web.Response:
    """Stripe removed this route in 2025-03-31.basil; stripe-python 16 no longer calls it."""
    data = await params.read(request)
    expand = params.expand(data)
    params.only(data, UPCOMING_PARAMS)
    for name in ("coupon", "subscription_trial_end"):
        if name in data:
            raise not_emulated(f"{name} in a preview", param=name)
    sub, customer = _subscription_and_customer(data)
    dropped: list[str] = []
    ask = _Request()
    ask.behavior, ask.at = billing_params(
        data, "subscription_proration_behavior", "subscription_proration_date"
    )
    ask.anchor = anchor(data, "subscription_billing_cycle_anchor", timestamps=sub is None)
    ask.tax_rates = params.text_list(data, "subscription_default_tax_rates")
    if "subscription_items" in data:
        ask.previewed = params.items_list(data, "subscription_items")
    invoice = _build(sub, customer, ask, dropped, "subscription_items")
    invoice.id = None
    return ignored.respond(invoice._export(expand=expand), dropped)


def register(router: Router) -> None:
    router.add("POST", "/v1/invoices/create_preview", create_preview)
    router.add("GET", "/v1/invoices/upcoming", upcoming)
