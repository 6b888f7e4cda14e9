"""Quoting from Stripe's state: what Stripe says now, read just before a quote is computed.

`quote` (a plan change, or the current plan again for a retention discount) and `quote_addons`
(add-ons on the same subscription) read the subscription, each price involved with its
product's name (Stripe prints it on invoice lines) and the customer's balance, and hand them to
`quotes.create` / `quotes.create_addition`, which compute, lock and store the quote without a
Stripe call of their own. `requote` quotes a stored quote's change again at a later time (the
fresh quote a stale accept answers with).

Accepting reads the subscription again the same way (`customer_subscription`, `plan_state`,
`subscribed_prices`) to check that the quote still holds (plugin/billing/upgrades.py).
"""

from __future__ import annotations

from plugin.billing import quotes
from plugin.billing.quotes import (
    DEFAULT_TTL,
    DowngradeTiming,
    QuoteRecord,
    SubscriptionState,
    Target,
)
from plugin.billing.stripe_gateway import StripeGateway, Subscription
from plugin.errors import NotFound, ValidationFailed
from plugin.offers.model import Discount
from plugin.storage import Database
from plugin.storage.quotes import Execution

__all__ = [
    "customer_subscription",
    "plan_state",
    "quote",
    "quote_addons",
    "requote",
    "subscribed_prices",
]


def plan_state(subscription: Subscription) -> SubscriptionState:
    """The plan item's state. The plan is the subscription's first item: add-ons are added
    after it (Stripe lists items in the order they were added), and only the plan item is ever
    changed by a quote."""
    if not subscription.items:
        raise ValidationFailed(
            f"Subscription {subscription.id} has no items.", field="subscription_id"
        )
    item = subscription.items[0]
    return SubscriptionState(
        subscription_id=subscription.id,
        item_id=item.id,
        price=item.price_id,
        quantity=item.quantity,
        period_start=item.current_period_start,
        period_end=item.current_period_end,
    )


def subscribed_prices(subscription: Subscription) -> frozenset[str]:
    return frozenset(item.price_id for item in subscription.items)


async def customer_subscription(
    gateway: StripeGateway, *, customer_id: str, subscription_id: str
) -> Subscription:
    """The subscription as Stripe has it now, if it is this customer's (404 otherwise)."""
    subscription = await gateway.retrieve_subscription(subscription_id)
    if subscription.customer_id != customer_id:
        raise NotFound(
            f"No subscription {subscription_id!r} for this customer.", field="subscription_id"
        )
    return subscription


async def _target(gateway: StripeGateway, price_id: str) -> Target:
    price = await gateway.retrieve_price(price_id)
    product = await gateway.retrieve_product(price.product_id)
    return Target(price=price, product_name=product.name)


def _offer_discount(stored: QuoteRecord) -> Discount | None:
    """The discount a stored quote locked, to quote the same offer again."""
    d = stored.discount
    if d is None:
        return None
    return Discount(
        percent_off=d.percent_off, amount_off=d.amount_off, duration_months=d.duration_months
    )


async def quote(
    db: Database,
    gateway: StripeGateway,
    *,
    customer_id: str,
    subscription_id: str,
    to_price: str | None,
    to_quantity: int,
    now: int,
    offer_id: str | None = None,
    variant: str | None = None,
    execution: Execution = "uplift",
    downgrade_timing: DowngradeTiming = "period_end",
    ttl: int = DEFAULT_TTL,
    discount: Discount | None = None,
    store: bool = True,
) -> QuoteRecord:
    """Read the subscription, its price, the target price and the customer balance from Stripe
    and store a quote for the change at `now` (`to_price=None`: the current price, for a
    retention quote that only adds `discount`; `store=False`: a preview, not stored)."""
    subscription = await customer_subscription(
        gateway, customer_id=customer_id, subscription_id=subscription_id
    )
    state = plan_state(subscription)
    current = await _target(gateway, state.price)
    target = current if to_price is None else await _target(gateway, to_price)
    customer = await gateway.retrieve_customer(customer_id)
    return await quotes.create(
        db,
        customer_id=customer_id,
        state=state,
        current=current,
        target=target,
        to_quantity=to_quantity,
        now=now,
        starting_balance=customer.balance,
        offer_id=offer_id,
        variant=variant,
        execution=execution,
        downgrade_timing=downgrade_timing,
        ttl=ttl,
        discount=discount,
        store=store,
    )


async def quote_addons(
    db: Database,
    gateway: StripeGateway,
    *,
    customer_id: str,
    subscription_id: str,
    prices: tuple[str, ...],
    now: int,
    offer_id: str | None = None,
    variant: str | None = None,
    ttl: int = DEFAULT_TTL,
    discount: Discount | None = None,
    store: bool = True,
) -> QuoteRecord:
    """Read the subscription, its plan price, the add-on prices and the customer balance from
    Stripe and store a quote for adding the add-ons to that same subscription at `now`
    (`store=False`: a preview, not stored)."""
    subscription = await customer_subscription(
        gateway, customer_id=customer_id, subscription_id=subscription_id
    )
    state = plan_state(subscription)
    current = await _target(gateway, state.price)
    added = tuple([await _target(gateway, price) for price in prices])
    customer = await gateway.retrieve_customer(customer_id)
    return await quotes.create_addition(
        db,
        customer_id=customer_id,
        state=state,
        current=current,
        added=added,
        subscribed=subscribed_prices(subscription),
        now=now,
        starting_balance=customer.balance,
        offer_id=offer_id,
        variant=variant,
        ttl=ttl,
        discount=discount,
        store=store,
    )


async def requote(
    db: Database, gateway: StripeGateway, stored: QuoteRecord, *, now: int
) -> QuoteRecord:
    """The same change or addition quoted again at `now` (for a stale quote's 409)."""
    if stored.kind == "add":
        return await quote_addons(
            db,
            gateway,
            customer_id=stored.customer_id,
            subscription_id=stored.state.subscription_id,
            prices=tuple(item.price for item in stored.added),
            now=now,
            offer_id=stored.offer_id,
            variant=stored.variant,
            discount=_offer_discount(stored),
        )
    return await quote(
        db,
        gateway,
        customer_id=stored.customer_id,
        subscription_id=stored.state.subscription_id,
        to_price=stored.to_price,
        to_quantity=stored.to_quantity,
        now=now,
        offer_id=stored.offer_id,
        variant=stored.variant,
        execution=stored.execution,
        discount=_offer_discount(stored),
    )
