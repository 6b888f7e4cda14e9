"""Stripe objects from event payloads as Uplift's values: a Price (or legacy Plan) as `Price`, a
Subscription as the `MirrorSubscription` the mirror and the MRR ledger keep. Pure.

Newest shape first, as tests/webhooks/corpus/ records them per API version:

- an item's price is its `price` (since Prices, 2020), else its legacy `plan`; a plan whose
  `product` is null or absent (before 2018-02-05 plans had none) takes the product of its sibling
  `price`, else leaves it unknown (None) for the catalog (`storage.subscriptions.with_catalog`);
- a subscription without `items` (2013-era payloads) is its own single item, from the
  subscription-level `plan` and `quantity`;
- the billing period is on the items since 2025-03-31.basil, on the subscription before.

What can never become a value (a subscription without a customer, an item without any price)
raises `EventError` (code `unexpected_object`), which is not retried.
"""

from __future__ import annotations

from plugin.billing.catalog import Price, price_from_stripe
from plugin.billing.mirror import MirrorItem, MirrorSubscription
from plugin.webhooks.events import (
    EventError,
    PriceObject,
    SubscriptionItemObject,
    SubscriptionObject,
    expandable_id,
)

# The mirror's key for the one item of a subscription payload that has no `items` (Stripe gave
# such subscriptions no item id).
LEGACY_ITEM_SUFFIX = ":plan"


def metadata_of(raw: dict[str, object] | None) -> dict[str, str]:
    return {str(k): str(v) for k, v in (raw or {}).items()}


def _unexpected(message: str) -> EventError:
    return EventError(message, code="unexpected_object")


def _price(obj: PriceObject, *, product_id: str | None, deleted: bool) -> Price:
    price = obj.as_price()
    return price_from_stripe(
        price,
        product_id=product_id,
        metadata=obj.metadata,
        tiers=price.tiers,
        deleted=deleted,
    )


def price_of(obj: PriceObject, *, deleted: bool) -> Price:
    """A `price.*` or `plan.*` snapshot as the catalog's `Price`. The catalog files every price
    under its product, so a plan without one (API versions before 2018-02-05) is refused."""
    product_id = expandable_id(obj.product)
    if product_id is None:
        raise _unexpected(
            f"{obj.object} {obj.id} has no product: Stripe sends plans without products to "
            "endpoints pinned before API version 2018-02-05, and Uplift's catalog needs one "
            "(the catalog sync from Stripe fills it in; or upgrade the endpoint's version)."
        )
    return _price(obj, product_id=product_id, deleted=deleted)


def mirror_item(item_id: str, price: Price, quantity: int) -> MirrorItem:
    return MirrorItem(
        id=item_id,
        price_id=price.id,
        product_id=price.product_id or None,
        quantity=quantity,
        unit_amount=price.unit_amount,
        currency=price.currency,
        interval=price.interval,
        interval_count=price.interval_count,
        unit_amount_decimal=price.unit_amount_decimal,
        billing_scheme=price.billing_scheme,
        tiers_mode=price.tiers_mode,
        tiers=price.tiers,
        usage_type=price.usage_type,
        transform_quantity=price.transform_quantity,
    )


def _item(item_id: str, obj: PriceObject, sibling: PriceObject | None, quantity: int) -> MirrorItem:
    product_id = expandable_id(obj.product) or (expandable_id(sibling.product) if sibling else None)
    # `price_from_stripe` wants a product; the mirror can do without (`with_catalog` fills it).
    price = _price(obj, product_id=product_id or "", deleted=False)
    return mirror_item(item_id, price, quantity)


def _items(obj: SubscriptionObject) -> list[MirrorItem]:
    if obj.items is None:
        if obj.plan is None:
            raise _unexpected(f"subscription {obj.id} has neither items nor a plan")
        quantity = obj.quantity if obj.quantity is not None else 1
        return [_item(obj.id + LEGACY_ITEM_SUFFIX, obj.plan, None, quantity)]
    found = []
    for item in obj.items.data:
        chosen = item.price or item.plan
        if chosen is None:
            raise _unexpected(f"subscription item {item.id} has neither a price nor a plan")
        sibling = item.plan if chosen is item.price else item.price
        found.append(_item(item.id, chosen, sibling, _quantity(item)))
    return found


def _quantity(item: SubscriptionItemObject) -> int:
    # Metered items carry no quantity (it would mean nothing); a licensed item without one is
    # the default quantity 1.
    return item.quantity if item.quantity is not None else 1


def mirror_of(obj: SubscriptionObject) -> MirrorSubscription:
    customer_id = expandable_id(obj.customer)
    if customer_id is None:
        raise _unexpected(f"subscription {obj.id} has no customer")
    items = _items(obj)
    currency = obj.currency or (items[0].currency if items else None)
    if currency is None:
        raise _unexpected(f"subscription {obj.id} has no currency and no priced item")
    first = obj.items.data[0] if obj.items is not None and obj.items.data else None
    start = first.current_period_start if first else None
    end = first.current_period_end if first else None
    return MirrorSubscription(
        id=obj.id,
        customer_id=customer_id,
        status=obj.status,
        currency=currency.lower(),
        items=tuple(items),
        # Since basil the period lives on items; older API versions keep it on the subscription.
        current_period_start=start if start is not None else obj.current_period_start,
        current_period_end=end if end is not None else obj.current_period_end,
        trial_end=obj.trial_end,
        cancel_at_period_end=obj.cancel_at_period_end,
        canceled_at=obj.canceled_at,
    )
