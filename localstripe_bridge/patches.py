"""Fields stripe-python 16 reads that localstripe's objects do not have.

localstripe's exporter adds every public attribute *and property* of an object to its JSON, so a
property installed on one of its classes appears everywhere that object is shown: in responses,
in nested lists (a customer's subscriptions, a subscription's items) and in webhook payloads.
"""

from __future__ import annotations

import calendar
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from localstripe.resources import (
    Customer,
    InvoiceLineItem,
    Plan,
    Subscription,
    SubscriptionItem,
    store,
    try_convert_to_int,
)

from localstripe_bridge.errors import invalid
from localstripe_bridge.prices import price_json, price_type


def _add_interval(start: datetime, interval: str, count: int) -> datetime:
    """One billing period later: whole days or weeks, or calendar months (clamped to the end of
    a shorter month, as Stripe does: Jan 31 + 1 month = Feb 28 or 29)."""
    if interval in ("day", "week"):
        return start + timedelta(days=count * (7 if interval == "week" else 1))
    months = start.month - 1 + count * (12 if interval == "year" else 1)
    year, month = start.year + months // 12, months % 12 + 1
    day = min(start.day, calendar.monthrange(year, month)[1])
    return start.replace(year=year, month=month, day=day)


def _now() -> int:
    return int(datetime.now(UTC).timestamp())  # noqa: TID251 -- the emulator's own clock


def _current_period(item: Any) -> dict[str, int]:
    """localstripe adds one interval to the start date, ignoring `interval_count` (a quarterly
    price got a one-month period), in local time; Stripe counts whole intervals in UTC."""
    sub = store.get(f"subscription:{item._subscription}") if item._subscription else None
    # An item of a previewed, not yet created subscription starts now. A billing cycle reset
    # (billing.py) moves the anchor; before one, periods start at `start_date`.
    anchor = getattr(sub, "_bridge_anchor", None) if sub is not None else None
    start = int(anchor or sub.start_date) if sub is not None else _now()
    end = _add_interval(
        datetime.fromtimestamp(start, UTC), item.plan.interval, item.plan.interval_count
    )
    return {"start": start, "end": int(end.timestamp())}


def _item_price(item: Any) -> dict[str, Any]:
    return price_json(item.plan)


def _item_period_start(item: Any) -> int:
    # Stripe moved the period onto items in 2025-03-31.basil; the subscription keeps its own.
    return _current_period(item)["start"]


def _item_period_end(item: Any) -> int:
    return _current_period(item)["end"]


def _item_subscription(item: Any) -> str | None:
    return item._subscription  # type: ignore[no-any-return]


def _line_pricing(line: Any) -> dict[str, Any] | None:
    """Since 2025-03-31.basil a line names its price under `pricing`, not `price`/`plan`."""
    if line.plan is None:
        return None
    if line.type == "subscription":
        unit: int | Decimal = line.plan.amount
    else:  # an invoice item's amount is the line total
        quantity = line.quantity or 1
        unit = (
            line.amount // quantity
            if line.amount % quantity == 0
            else Decimal(line.amount) / quantity
        )
    return {
        "type": "price_details",
        "price_details": {"price": line.plan.id, "product": line.plan.product},
        "unit_amount_decimal": str(unit),
    }


def _line_parent(line: Any) -> dict[str, Any]:
    """Since 2025-03-31.basil a line says what it came from under `parent`."""
    details = {
        "invoice_item": getattr(line, "invoice_item", None),
        "proration": line.proration,
        "proration_details": {"credited_items": None},
        "subscription": line.subscription,
    }
    # A proration is an invoice item made for a subscription item: Stripe shows it under
    # `subscription_item_details`, with its `invoice_item` (billing.py marks the item).
    item_id = getattr(line, "_bridge_subscription_item", None)
    if line.type == "subscription" or item_id is not None:
        details["subscription_item"] = item_id or line.subscription_item
        return {
            "type": "subscription_item_details",
            "subscription_item_details": details,
            "invoice_item_details": None,
        }
    return {
        "type": "invoice_item_details",
        "invoice_item_details": details,
        "subscription_item_details": None,
    }


def _get_balance(customer: Any) -> int:
    # localstripe stores Stripe's `balance` negated as the legacy `account_balance`.
    return -int(customer.account_balance)


def _set_balance(customer: Any, value: Any) -> None:
    number = try_convert_to_int(value)
    if not isinstance(number, int) or isinstance(number, bool):
        raise invalid(f"Invalid integer: {value}", param="balance")
    customer.account_balance = -number


def _get_billing_mode(sub: Any) -> dict[str, Any]:
    # Subscriptions created through the API default to flexible since 2025-09-30.clover.
    kind = getattr(sub, "_bridge_billing_mode", "flexible")
    flexible = {"proration_discounts": "included"} if kind == "flexible" else None
    return {"type": kind, "flexible": flexible, "updated_at": None}


def _set_billing_mode(sub: Any, kind: str) -> None:
    sub._bridge_billing_mode = kind


def _hide_one_time_plans(list_all: Any) -> Any:
    """A one-time Price is a Plan only so the store can hold it; `/v1/plans` must not list it."""

    def recurring_only(cls: Any, /, url: str, **data: Any) -> Any:
        found = list_all(url, **data)
        found._list = [plan for plan in found._list if price_type(plan) == "recurring"]
        return found

    return classmethod(recurring_only)


def install() -> None:
    if getattr(SubscriptionItem, "_bridge_patched", False):
        return
    SubscriptionItem._bridge_patched = True
    SubscriptionItem._current_period = _current_period
    SubscriptionItem.price = property(_item_price)
    SubscriptionItem.current_period_start = property(_item_period_start)
    SubscriptionItem.current_period_end = property(_item_period_end)
    SubscriptionItem.subscription = property(_item_subscription)
    InvoiceLineItem.pricing = property(_line_pricing)
    InvoiceLineItem.parent = property(_line_parent)
    Customer.balance = property(_get_balance, _set_balance)
    Subscription.billing_mode = property(_get_billing_mode, _set_billing_mode)
    Plan._api_list_all = _hide_one_time_plans(Plan._api_list_all)
