"""Request and response bodies at the edges (HTTP and CLI). Pydantic lives here, not in the
domain: models validate and convert into the domain's frozen dataclasses."""

from __future__ import annotations

from fractions import Fraction
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, model_validator

from plugin import proration


class _In(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class ItemIn(_In):
    price: str = Field(min_length=1)
    product: str = Field(min_length=1)
    unit_amount: StrictInt = Field(ge=0)  # minor units; a float here is refused, not rounded
    quantity: StrictInt = Field(default=1, ge=0)
    interval: Literal["day", "week", "month", "year"] = "month"
    interval_count: StrictInt = Field(default=1, ge=1)

    def to_domain(self) -> proration.Item:
        return proration.Item(
            price=self.price,
            product=self.product,
            unit_amount=self.unit_amount,
            quantity=self.quantity,
            interval=self.interval,
            interval_count=self.interval_count,
        )


class ProrationIn(_In):
    """One plan change, in the shape of `inputs` in proration-examples.jsonl."""

    currency: str = Field(pattern=r"^[a-zA-Z]{3}$")
    old: ItemIn
    new: ItemIn
    period_start: StrictInt
    period_end: StrictInt
    change_time: StrictInt
    proration_behavior: Literal["create_prorations", "always_invoice", "none"] = "create_prorations"
    billing_cycle_anchor: Literal["unchanged", "now"] = "unchanged"
    coupon_percent_off: StrictInt | float | None = Field(default=None, ge=0, le=100)
    customer_starting_balance: StrictInt = 0
    trialing: StrictBool = False

    @model_validator(mode="after")
    def _period(self) -> ProrationIn:
        if self.period_end <= self.period_start:
            raise ValueError("period_end must be after period_start")
        if not self.period_start <= self.change_time <= self.period_end:
            raise ValueError("change_time must fall inside [period_start, period_end]")
        return self

    def to_domain(self) -> proration.Change:
        # A percentage such as 33.3 is a decimal literal; Fraction(str) keeps it exact.
        pct = Fraction(str(self.coupon_percent_off)) if self.coupon_percent_off else Fraction(0)
        return proration.Change(
            currency=self.currency.lower(),
            old=self.old.to_domain(),
            new=self.new.to_domain(),
            period_start=self.period_start,
            period_end=self.period_end,
            change_time=self.change_time,
            behavior=self.proration_behavior,
            anchor=self.billing_cycle_anchor,
            percent_off=pct,
            starting_balance=self.customer_starting_balance,
            trialing=self.trialing,
        )


def quote_document(quote: proration.Quote) -> dict[str, Any]:
    """The quote in the shape of `expected` in proration-examples.jsonl."""
    document: dict[str, Any] = {
        "currency": quote.currency,
        "proration_factor": str(quote.factor),
        "lines": [
            {
                "type": line.type,
                "amount": line.amount,
                "description": line.description,
                "period": {"start": line.period_start, "end": line.period_end},
                "proration": line.proration,
                "price": line.price,
                "quantity": line.quantity,
            }
            for line in quote.lines
        ],
        "net_proration_amount": quote.net_proration_amount,
        "invoice_now": quote.invoice_now,
        "invoice_total": quote.invoice_total,
        "amount_due_now": quote.amount_due_now,
    }
    if quote.invoice_now:
        document["customer_balance_after"] = quote.customer_balance_after
    else:
        document["pending_invoice_items_total"] = quote.pending_invoice_items_total
        document["next_renewal_invoice_total"] = quote.next_renewal_invoice_total
        document["next_renewal_amount_due"] = quote.next_renewal_amount_due
    return document
