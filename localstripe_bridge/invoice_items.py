"""Invoice items priced by a Price, with a `period`, and listed with `pending`.

localstripe's InvoiceItem takes only a raw `amount`, spells the period `period_start`/`period_end`
(Stripe: `period[start]`, `period[end]`), always reports quantity 1, and its list knows no
`pending`/`invoice` filter (a TypeError, i.e. HTTP 500) while only ever listing pending items.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from aiohttp import web
from localstripe.resources import InvoiceItem, store

from localstripe_bridge import lists, params, prices
from localstripe_bridge.errors import invalid, not_emulated
from localstripe_bridge.params import Params
from localstripe_bridge.routes import Router


def _price_amount(data: Params, quantity: int) -> None:
    """`pricing[price]` (since 2025-03-31.basil) or `price`: unit amount times quantity."""
    pricing = params.mapping(data, "pricing")
    price_id = None
    if pricing is not None:
        params.only(pricing, {"price"}, prefix="pricing")
        price_id = params.required_text(pricing, "price", param="pricing[price]")
        del data["pricing"]
    elif "price" in data:
        price_id = params.required_text(data, "price")
        del data["price"]
    if price_id is None:
        return
    if "amount" in data or "unit_amount_decimal" in data:
        raise invalid("You may only specify one of amount, unit_amount_decimal and a price.")
    plan = prices.retrieve(price_id, param="pricing[price]" if pricing else "price")
    if plan.billing_scheme != "per_unit":
        raise not_emulated("tiered prices on invoice items", param="pricing[price]")
    currency = params.text(data, "currency")
    if currency is not None and currency.lower() != plan.currency:
        raise invalid("The price's currency does not match `currency`.", param="currency")
    data["amount"] = plan.amount * quantity
    data["currency"] = plan.currency
    data["plan"] = plan.id


def _unit_amount_decimal(data: Params, quantity: int) -> None:
    text = params.text(data, "unit_amount_decimal")
    if text is None:
        return
    if "amount" in data:
        raise invalid("You may only specify one of amount and unit_amount_decimal.")
    try:
        total = Decimal(text) * quantity
    except InvalidOperation:
        raise invalid(f"Invalid decimal: {text}", param="unit_amount_decimal") from None
    if total != total.to_integral_value():
        raise not_emulated("a fractional invoice item amount", param="unit_amount_decimal")
    del data["unit_amount_decimal"]
    data["amount"] = int(total)


def _period(data: Params) -> None:
    period = params.mapping(data, "period")
    if period is None:
        return
    params.only(period, {"start", "end"}, prefix="period")
    start = params.integer(period, "start", param="period[start]")
    end = params.integer(period, "end", param="period[end]")
    if start is None or end is None or end < start:
        raise invalid("period needs start <= end", param="period")
    del data["period"]
    data["period_start"], data["period_end"] = start, end


async def create(request: web.Request, _: Mapping[str, str]) -> web.Response:
    data = await params.read(request)
    expand = params.expand(data)
    quantity = params.integer(data, "quantity", minimum=1)
    data.pop("quantity", None)
    _price_amount(data, quantity or 1)
    _unit_amount_decimal(data, quantity or 1)
    _period(data)
    item = InvoiceItem._api_create(**data)
    if quantity is not None:
        item.quantity = quantity
    body: dict[str, Any] = item._export(expand=expand)
    return web.json_response(body)


async def list_items(request: web.Request, _: Mapping[str, str]) -> web.Response:
    data = await params.read(request)
    expand = params.expand(data)
    params.only(
        data, {"customer", "invoice", "pending", "limit", "starting_after", "ending_before"}
    )
    customer = params.text(data, "customer")
    invoice = params.text(data, "invoice")
    pending = params.boolean(data, "pending")
    found = [
        item
        for key, item in reversed(store.items())  # newest first, as Stripe lists
        if key.startswith("invoiceitem:")
        # localstripe's previews leave behind "Unused time" items on their discarded invoice
        and (item.invoice is None or f"invoice:{item.invoice}" in store)
        and (customer is None or item.customer == customer)
        and (invoice is None or item.invoice == invoice)
        and (pending is None or (item.invoice is None) == pending)
    ]
    shown, has_more = lists.page(found, data, kind="invoice item")
    exported = [item._export(expand=expand) for item in shown]
    return web.json_response(lists.body("/v1/invoiceitems", exported, has_more))


def register(router: Router) -> None:
    router.add("POST", "/v1/invoiceitems", create)
    router.add("GET", "/v1/invoiceitems", list_items)
