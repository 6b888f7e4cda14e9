"""Stripe objects from event payloads as Uplift's values: a Price (or legacy Plan) as `Price`, a
Subscription as the `MirrorSubscription` the mirror and the MRR ledger keep. Pure."""

from __future__ import annotations

from plugin.billing.catalog import Price, price_from_stripe
from plugin.billing.mirror import MirrorItem, MirrorSubscription
from plugin.webhooks.events import PriceObject, SubscriptionObject, expandable_id


def metadata_of(raw: dict[str, object]) -> dict[str, str]:
    return {str(k): str(v) for k, v in raw.items()}


def price_of(obj: PriceObject, *, deleted: bool) -> Price:
    return price_from_stripe(
        obj.as_price(),
        product_id=expandable_id(obj.product),
        metadata=obj.metadata,
        deleted=deleted,
    )


def mirror_item(item_id: str, price: Price, quantity: int) -> MirrorItem:
    return MirrorItem(
        id=item_id,
        price_id=price.id,
        product_id=price.product_id,
        quantity=quantity,
        unit_amount=price.unit_amount,
        currency=price.currency,
        interval=price.interval,
        interval_count=price.interval_count,
    )


def mirror_of(obj: SubscriptionObject) -> MirrorSubscription:
    customer_id = expandable_id(obj.customer)
    if customer_id is None:
        raise ValueError(f"{obj.id} has no customer")
    items = []
    for item in obj.items.data:
        price_obj = item.price or item.plan
        if price_obj is None:
            raise ValueError(f"subscription item {item.id} has no price")
        price = price_of(price_obj, deleted=False)
        quantity = item.quantity if item.quantity is not None else 1
        items.append(mirror_item(item.id, price, quantity))
    first = obj.items.data[0] if obj.items.data else None
    currency = obj.currency or (items[0].currency if items else None)
    if currency is None:
        raise ValueError(f"{obj.id} has no currency")
    return MirrorSubscription(
        id=obj.id,
        customer_id=customer_id,
        status=obj.status,
        currency=currency.lower(),
        items=tuple(items),
        # Since basil the period lives on items; older API versions keep it on the subscription.
        current_period_start=obj.current_period_start
        or (first.current_period_start if first else None),
        current_period_end=obj.current_period_end or (first.current_period_end if first else None),
        trial_end=obj.trial_end,
        cancel_at_period_end=obj.cancel_at_period_end,
        canceled_at=obj.canceled_at,
    )
