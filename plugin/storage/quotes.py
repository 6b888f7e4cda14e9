"""SQL for quotes: written once, read back whole; a quote never changes after it is stored."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any, Literal

from plugin.billing.proration import Line
from plugin.storage.database import Database, Row

Execution = Literal["uplift", "stripe"]
Timing = Literal["now", "period_end"]
# "change" moves the subscription's item to another price or quantity; "add" adds items (add-ons).
QuoteKind = Literal["change", "add"]


@dataclass(frozen=True, slots=True)
class AddedItem:
    """An item an add-on quote adds to the subscription."""

    price: str
    quantity: int


@dataclass(frozen=True, slots=True)
class QuoteDiscount:
    """An offer's coupon as a quote locks it: a percent or an amount off each price it sells,
    for `duration_months` calendar months from the quote (None: only the invoice paid now),
    ending at `ends_at` as Stripe's `repeating` coupon does (None for a one-time coupon)."""

    percent_off: int | None
    amount_off: int | None
    duration_months: int | None
    ends_at: int | None

    def applies_at(self, t: int) -> bool:
        """Whether an invoice made at `t` (a renewal) is still discounted."""
        return self.ends_at is not None and t < self.ends_at


@dataclass(frozen=True, slots=True)
class SubscriptionState:
    """What a quote was computed from; if Stripe's subscription differs at accept, it is stale."""

    subscription_id: str
    item_id: str
    price: str
    quantity: int
    period_start: int
    period_end: int


@dataclass(frozen=True, slots=True)
class QuoteRecord:
    id: str
    customer_id: str
    offer_id: str | None
    variant: str | None
    execution: Execution
    timing: Timing
    state: SubscriptionState
    to_price: str
    to_quantity: int
    proration_date: int
    currency: str
    lines: tuple[Line, ...]
    invoice_total: int
    amount_due_now: int
    mrr_delta: int
    created_at: int
    expires_at: int
    kind: QuoteKind = "change"
    added: tuple[AddedItem, ...] = ()
    discount: QuoteDiscount | None = None


def _line(data: dict[str, Any]) -> Line:
    return Line(
        type=data["type"],
        amount=int(data["amount"]),
        description=str(data["description"]),
        period_start=int(data["period_start"]),
        period_end=int(data["period_end"]),
        proration=bool(data["proration"]),
        price=str(data["price"]),
        quantity=int(data["quantity"]),
        discount_amount=int(data.get("discount_amount", 0)),
        product=str(data.get("product", "")),
    )


def _discount(text: str | None) -> QuoteDiscount | None:
    if text is None:
        return None
    data = json.loads(text)
    return QuoteDiscount(
        percent_off=data["percent_off"],
        amount_off=data["amount_off"],
        duration_months=data["duration_months"],
        ends_at=data["ends_at"],
    )


def _record(row: Row) -> QuoteRecord:
    return QuoteRecord(
        id=row["id"],
        customer_id=row["customer_id"],
        offer_id=row["offer_id"],
        variant=row["variant"],
        execution=row["execution"],
        timing=row["timing"],
        state=SubscriptionState(
            subscription_id=row["subscription_id"],
            item_id=row["subscription_item_id"],
            price=row["from_price"],
            quantity=row["from_quantity"],
            period_start=row["period_start"],
            period_end=row["period_end"],
        ),
        to_price=row["to_price"],
        to_quantity=row["to_quantity"],
        proration_date=row["proration_date"],
        currency=row["currency"],
        lines=tuple(_line(item) for item in json.loads(row["lines"])),
        invoice_total=row["invoice_total"],
        amount_due_now=row["amount_due_now"],
        mrr_delta=row["mrr_delta"],
        created_at=row["created_at"],
        expires_at=row["expires_at"],
        kind=row["kind"],
        added=tuple(
            AddedItem(price=str(item["price"]), quantity=int(item["quantity"]))
            for item in json.loads(row["added"] or "[]")
        ),
        discount=_discount(row["discount"]),
    )


def _added(quote: QuoteRecord) -> str | None:
    return json.dumps([asdict(item) for item in quote.added]) if quote.added else None


async def insert(db: Database, *, quote: QuoteRecord) -> None:
    state = quote.state
    async with db.transaction() as conn:
        await conn.execute(
            """
            INSERT INTO quotes (
                id, customer_id, offer_id, variant, execution, timing, subscription_id,
                subscription_item_id, from_price, from_quantity, to_price, to_quantity,
                period_start, period_end, proration_date, currency, lines, invoice_total,
                amount_due_now, mrr_delta, created_at, expires_at, kind, added, discount
            ) VALUES (
                :id, :customer_id, :offer_id, :variant, :execution, :timing, :subscription_id,
                :item_id, :from_price, :from_quantity, :to_price, :to_quantity,
                :period_start, :period_end, :proration_date, :currency, :lines, :invoice_total,
                :amount_due_now, :mrr_delta, :created_at, :expires_at, :kind, :added, :discount
            )
            """,
            {
                "id": quote.id,
                "customer_id": quote.customer_id,
                "offer_id": quote.offer_id,
                "variant": quote.variant,
                "execution": quote.execution,
                "timing": quote.timing,
                "subscription_id": state.subscription_id,
                "item_id": state.item_id,
                "from_price": state.price,
                "from_quantity": state.quantity,
                "to_price": quote.to_price,
                "to_quantity": quote.to_quantity,
                "period_start": state.period_start,
                "period_end": state.period_end,
                "proration_date": quote.proration_date,
                "currency": quote.currency,
                "lines": json.dumps([asdict(line) for line in quote.lines]),
                "invoice_total": quote.invoice_total,
                "amount_due_now": quote.amount_due_now,
                "mrr_delta": quote.mrr_delta,
                "created_at": quote.created_at,
                "expires_at": quote.expires_at,
                "kind": quote.kind,
                "added": _added(quote),
                "discount": None if quote.discount is None else json.dumps(asdict(quote.discount)),
            },
        )


async def get(db: Database, quote_id: str) -> QuoteRecord | None:
    async with db.read() as conn:
        row = await conn.fetch_one("SELECT * FROM quotes WHERE id = :id", {"id": quote_id})
    return _record(row) if row else None
