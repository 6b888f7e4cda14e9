"""Quote lifecycle: compute a plan change with the engine, lock it, store it, expire it.

A quote fixes `t` (Stripe's `proration_date`) and the subscription state it was computed from
(item, price, quantity, period). Accepting it later charges exactly its lines; if it has expired
the answer is 410, and if the subscription no longer matches (someone changed the plan, a renewal
moved the period) it is 409 with a fresh quote computed at the accept time. No Stripe calls here:
the caller (plugin/billing/quoting.py) reads Stripe and passes the state in.

Upgrades apply now. Downgrades (the new price is worth less per month) apply at the period end by
default, with no refund: their quote has no lines and charges nothing. An interval change
(monthly → annual) starts a new period at `t`: the unused time is credited and the new price
billed in full, which only Stripe can do (it resets the billing anchor), so such a quote is
executed in "stripe" mode whatever the offer asks.

Add-ons (cross-sell, post-order and bundle offers) add one or more recurring prices to the same
subscription as new items, prorated for the rest of the current period as Stripe's
`always_invoice` would bill them (`proration.prorate_additions`). Their quote keeps the plan
item's state like a change does (a renewal or plan change in between makes it stale) and lists
what it adds; a price the subscription already has is a 409.

An offer's discount is locked into its quote (`QuoteDiscount`) and kept exactly as shown: the
quote's lines for what the offer sells are net of it (Stripe's `proration_discounts=included`),
so the invoice paid now is discounted, and accepting attaches the same coupon to each item it
buys, so Stripe discounts the renewals inside the window. A change Stripe executes (an interval
change, or an offer set to "stripe") is held as a pending update until paid, and Stripe takes no
discount in a pending update: its invoice is quoted undiscounted, and the coupon applies from the
next renewal. The window is Stripe's: a `repeating`
coupon of N months runs N calendar months from when it is applied; the prorated rest of this
period is inside it, then every renewal invoice made before it ends. A discount with no duration
is Stripe's `once`: the invoice paid now, or, when nothing is invoiced now (a retention offer
that keeps the plan), the next renewal. A retention offer is quoted as a "change" to the same
price and quantity that only adds the coupon: nothing is charged.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from fractions import Fraction
from typing import Literal

from plugin import storage
from plugin.billing import proration
from plugin.billing.catalog import Price
from plugin.errors import Conflict, Gone, NotFound, ValidationFailed
from plugin.offers.model import Discount
from plugin.storage import Database
from plugin.storage.quotes import (
    AddedItem,
    Execution,
    QuoteDiscount,
    QuoteRecord,
    SubscriptionState,
    Timing,
)

DEFAULT_TTL = 600  # seconds a customer has to accept what they were shown
DowngradeTiming = Literal["period_end", "now"]

__all__ = [
    "DEFAULT_TTL",
    "AddedItem",
    "AlreadySubscribed",
    "DowngradeTiming",
    "QuoteDiscount",
    "QuoteRecord",
    "StaleQuote",
    "SubscriptionState",
    "Target",
    "accepted_state_matches",
    "check_not_subscribed",
    "coupon_duration",
    "create",
    "create_addition",
    "get_for_accept",
    "is_retention",
    "next_invoice",
    "renews_at",
]


@dataclass(frozen=True, slots=True)
class Target:
    """A price with the name Stripe prints on invoice lines ("Remaining time on Pro …")."""

    price: Price
    product_name: str


class StaleQuote(Conflict):
    """The subscription changed after the quote: nothing was charged; `fresh` is a new quote
    for the same change at the accept time, which the caller can show instead, or None when
    the subscription already is what the quote would make it (`applied_by`: the upgrade that
    made it, when Uplift did)."""

    default_code = "quote_stale"

    def __init__(
        self, stale: QuoteRecord, fresh: QuoteRecord | None, *, applied_by: str | None = None
    ) -> None:
        then = (
            f"accept the fresh quote {fresh.id} instead."
            if fresh is not None
            else "it already has this change" + (f" (upgrade {applied_by})." if applied_by else ".")
        )
        super().__init__(
            f"Quote {stale.id} no longer matches subscription {stale.state.subscription_id}; "
            + then,
            field="quote_id",
        )
        self.stale = stale
        self.fresh = fresh
        self.applied_by = applied_by

    def body(self) -> dict[str, dict[str, str]]:
        body = super().body()
        if self.fresh is not None:
            body["error"]["fresh_quote_id"] = self.fresh.id
        if self.applied_by is not None:
            body["error"]["upgrade_id"] = self.applied_by
        return body


class AlreadySubscribed(Conflict):
    """An add-on the subscription already has: adding it again is refused, as Stripe does."""

    default_code = "addon_already_subscribed"


def _item(target: Target, quantity: int) -> proration.Item:
    price = target.price
    # Quotes and prorations compute licensed per-unit prices only; any other scheme would be
    # priced wrong (a tiered price has no unit amount, a metered one bills usage later), so it
    # is refused rather than quoted.
    if price.interval is None:
        raise ValidationFailed(f"Price {price.id!r} is not recurring.")
    if price.usage_type == "metered":
        raise ValidationFailed(
            f"Price {price.id!r} is metered (billed on usage): it cannot be quoted."
        )
    if price.billing_scheme == "tiered":
        raise ValidationFailed(
            f"Price {price.id!r} is tiered ({price.tiers_mode or 'tiers'}): it cannot be quoted."
        )
    if price.transform_quantity is not None or price.unit_amount is None:
        raise ValidationFailed(
            f"Price {price.id!r} is not a whole per-unit amount: it cannot be quoted."
        )
    return proration.Item(
        price=price.id,
        product=target.product_name,
        unit_amount=price.unit_amount,
        quantity=quantity,
        interval=price.interval,
        interval_count=price.interval_count,
    )


def _lock(discount: Discount | None, now: int) -> QuoteDiscount | None:
    if discount is None:
        return None
    months = discount.duration_months
    return QuoteDiscount(
        percent_off=discount.percent_off,
        amount_off=discount.amount_off,
        duration_months=months,
        ends_at=None if months is None else proration.add_interval(now, "month", months),
    )


def _off(discount: QuoteDiscount | None) -> proration.Off | None:
    if discount is None:
        return None
    if discount.amount_off is not None:
        return proration.Off(amount=discount.amount_off)
    return proration.Off(percent=Fraction(discount.percent_off or 0))


def coupon_duration(quote: QuoteRecord) -> Literal["once", "repeating"] | None:
    """The coupon accepting `quote` attaches for the invoices after the one paid now: the
    discount's months (`repeating`), a one-time discount nothing was invoiced for yet
    (`once`: the next renewal), or none (no discount, or a one-time one the invoice used)."""
    if quote.discount is None:
        return None
    if quote.discount.duration_months is not None:
        return "repeating"
    if quote.execution == "stripe":
        # Stripe's invoice for the change is not discounted (the coupon is attached only once
        # the change is applied, Stripe's pending-update rules), so `once` is the next renewal.
        return "once"
    return None if quote.lines else "once"


def renews_at(quote: QuoteRecord) -> int:
    """When the subscription next renews after the quote: the end of its current period, or of
    the new period an interval change starts (the quote's "subscription" line)."""
    started = [line.period_end for line in quote.lines if line.type == "subscription"]
    return max(started, default=quote.state.period_end)


def next_invoice(quote: QuoteRecord, amounts: list[int] | None) -> int | None:
    """What the next renewal bills for what the quote buys, `amounts` being each item's full
    price per period: less the quote's discount when it still runs then, each item discounted
    on its own (a coupon per item), as the offer showed it."""
    if amounts is None:
        return None
    off = _off(quote.discount)
    discount = quote.discount
    if off is None or discount is None:
        return sum(amounts)
    if not (discount.applies_at(renews_at(quote)) or coupon_duration(quote) == "once"):
        return sum(amounts)
    return sum(amount - off.discount(amount, 1, 1) for amount in amounts)


def _mrr(target: Target, quantity: int) -> int:
    monthly = target.price.monthly_amount()
    return 0 if monthly is None else monthly.amount * quantity


async def create(
    db: Database,
    *,
    customer_id: str,
    state: SubscriptionState,
    current: Target,
    target: Target,
    to_quantity: int,
    now: int,
    starting_balance: int = 0,
    offer_id: str | None = None,
    variant: str | None = None,
    execution: Execution = "uplift",
    downgrade_timing: DowngradeTiming = "period_end",
    ttl: int = DEFAULT_TTL,
    discount: Discount | None = None,
    store: bool = True,
) -> QuoteRecord:
    """Quote moving `state`'s item to `target` at `now` and store the quote (`store=False`:
    only compute it, for the admin console's preview). With `discount`, the target may be the
    current price and quantity: the quote then only adds the coupon."""
    if current.price.id != state.price:
        raise ValidationFailed("the current price does not match the subscription's item")
    if (target.price.id, to_quantity) == (state.price, state.quantity) and discount is None:
        raise ValidationFailed(
            f"The subscription is already on {target.price.id}, quantity {to_quantity}.",
            field="price",
        )
    if to_quantity < 1:
        raise ValidationFailed(f"quantity must be at least 1, got {to_quantity}", field="quantity")
    if target.price.currency != current.price.currency:
        raise ValidationFailed(
            f"Price {target.price.id!r} is in {target.price.currency}, the subscription in "
            f"{current.price.currency}; Stripe cannot change a subscription's currency.",
            field="price",
        )
    old, new = _item(current, state.quantity), _item(target, to_quantity)
    mrr_delta = _mrr(target, to_quantity) - _mrr(current, state.quantity)
    interval_change = (old.interval, old.interval_count) != (new.interval, new.interval_count)
    timing: Timing = (
        "period_end"
        if mrr_delta < 0 and downgrade_timing == "period_end" and not interval_change
        else "now"
    )
    locked = _lock(discount, now)
    if locked is not None and timing == "period_end":
        raise ValidationFailed(
            "A discount on a change that waits for the period end is not supported.",
            field="offer_id",
        )
    executed: Execution = "stripe" if interval_change else execution
    change = proration.Change(
        currency=current.price.currency,
        old=old,
        new=new,
        period_start=state.period_start,
        period_end=state.period_end,
        change_time=now,
        # Uplift invoices the prorations itself, immediately, so it quotes what Stripe's
        # `always_invoice` would bill; a period-end change prorates nothing.
        behavior="none" if timing == "period_end" else "always_invoice",
        starting_balance=starting_balance,
        # Stripe-executed changes go through a pending update, which takes no discounts
        # (docs.stripe.com/billing/subscriptions/pending-updates-reference): the coupon is
        # attached after the change, so the invoice for the change is not discounted.
        new_off=_off(locked) if executed == "uplift" else None,
    )
    try:
        computed = proration.prorate(change)
    except proration.ProrationError as exc:
        raise ValidationFailed(str(exc)) from None
    if locked is not None and executed == "stripe" and locked.duration_months is not None:
        renews = max(
            (line.period_end for line in computed.lines if line.type == "subscription"),
            default=state.period_end,
        )
        if not locked.applies_at(renews):
            # Its invoice now cannot be discounted (a pending update) and the discount would
            # end before the next one: the customer would never get it.
            raise ValidationFailed(
                f"A {locked.duration_months}-month discount on a change Stripe executes ends "
                "before the subscription's next invoice, so it would never apply.",
                field="offer_id",
            )
    quote = QuoteRecord(
        id="qt_" + secrets.token_hex(12),
        customer_id=customer_id,
        offer_id=offer_id,
        variant=variant,
        execution=executed,
        timing=timing,
        state=state,
        to_price=target.price.id,
        to_quantity=to_quantity,
        proration_date=now,
        currency=current.price.currency,
        lines=computed.lines,
        invoice_total=computed.invoice_total or 0,
        amount_due_now=computed.amount_due_now,
        mrr_delta=mrr_delta,
        created_at=now,
        expires_at=now + ttl,
        discount=locked,
    )
    if store:
        await storage.quotes.insert(db, quote=quote)
    return quote


def check_not_subscribed(prices: tuple[str, ...], subscribed: frozenset[str]) -> None:
    had = [price for price in prices if price in subscribed]
    if had:
        raise AlreadySubscribed(
            f"The subscription already has {', '.join(had)}; an add-on is added once.",
            field="offer_id",
        )


async def create_addition(
    db: Database,
    *,
    customer_id: str,
    state: SubscriptionState,
    current: Target,
    added: tuple[Target, ...],
    subscribed: frozenset[str],
    now: int,
    starting_balance: int = 0,
    offer_id: str | None = None,
    variant: str | None = None,
    ttl: int = DEFAULT_TTL,
    discount: Discount | None = None,
    store: bool = True,
) -> QuoteRecord:
    """Quote adding `added` (quantity 1 each) to `state`'s subscription at `now`, prorated for
    the rest of its current period, and store the quote (`store=False`: only compute it).
    `subscribed` is every price the subscription has now."""
    prices = tuple(target.price.id for target in added)
    if not prices:
        raise ValidationFailed("An add-on quote needs at least one price.", field="offer_id")
    if len(set(prices)) != len(prices):
        raise ValidationFailed("An add-on quote lists a price twice.", field="offer_id")
    if current.price.id != state.price:
        raise ValidationFailed("the current price does not match the subscription's item")
    check_not_subscribed(prices, subscribed)
    locked = _lock(discount, now)
    plan = _item(current, state.quantity)
    items = tuple(_item(target, 1) for target in added)
    for target, item in zip(added, items, strict=True):
        if target.price.currency != current.price.currency:
            raise ValidationFailed(
                f"Price {target.price.id!r} is in {target.price.currency}, the subscription in "
                f"{current.price.currency}; a subscription bills in one currency.",
                field="offer_id",
            )
        if (item.interval, item.interval_count) != (plan.interval, plan.interval_count):
            # An item on another interval would have its own period (flexible billing only).
            raise ValidationFailed(
                f"Price {target.price.id!r} bills every {item.interval_count} {item.interval}, "
                f"the subscription every {plan.interval_count} {plan.interval}.",
                field="offer_id",
            )
    try:
        computed = proration.prorate_additions(
            currency=current.price.currency,
            added=items,
            period_start=state.period_start,
            period_end=state.period_end,
            change_time=now,
            starting_balance=starting_balance,
            off=_off(locked),
        )
    except proration.ProrationError as exc:
        raise ValidationFailed(str(exc)) from None
    quote = QuoteRecord(
        id="qt_" + secrets.token_hex(12),
        customer_id=customer_id,
        offer_id=offer_id,
        variant=variant,
        execution="uplift",
        timing="now",
        state=state,
        to_price=prices[0],
        to_quantity=1,
        proration_date=now,
        currency=current.price.currency,
        lines=computed.lines,
        invoice_total=computed.invoice_total or 0,
        amount_due_now=computed.amount_due_now,
        mrr_delta=sum(_mrr(target, 1) for target in added),
        created_at=now,
        expires_at=now + ttl,
        kind="add",
        added=tuple(AddedItem(price=price, quantity=1) for price in prices),
        discount=locked,
    )
    if store:
        await storage.quotes.insert(db, quote=quote)
    return quote


async def get_for_accept(db: Database, *, quote_id: str, customer_id: str, now: int) -> QuoteRecord:
    """The quote, if it is this customer's (404 otherwise, not telling whether it exists) and
    has not expired (410)."""
    quote = await storage.quotes.get(db, quote_id)
    if quote is None or quote.customer_id != customer_id:
        raise NotFound(f"No quote {quote_id!r} for this customer.", field="quote_id")
    if now >= quote.expires_at:
        raise Gone(
            f"Quote {quote_id} expired at {quote.expires_at}; ask for a new one.",
            code="quote_expired",
            field="quote_id",
        )
    return quote


def is_retention(quote: QuoteRecord) -> bool:
    """A retention quote: the same price and quantity, only a discount added."""
    return (
        quote.kind == "change"
        and quote.discount is not None
        and (quote.to_price, quote.to_quantity) == (quote.state.price, quote.state.quantity)
    )


def accepted_state_matches(quote: QuoteRecord, current: SubscriptionState) -> bool:
    """Whether the subscription is still what the quote was computed from."""
    return quote.state == current
