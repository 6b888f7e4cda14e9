"""API versions 2020-08-27 to 2024-09-30.acacia: items carry a `price` and its legacy twin
`plan`; subscriptions have a `currency`; the period is still on the subscription and invoices
still name their `subscription` at the top level."""

from __future__ import annotations

from typing import Any

from tests.webhooks.corpus import (
    CUSTOMER,
    PERIOD,
    Case,
    CatalogPrice,
    CatalogProduct,
    Mirror,
    Order,
    Refused,
    envelope,
)

VERSIONS = (
    "2020-08-27",
    "2022-08-01",
    "2022-11-15",
    "2023-10-16",
    "2024-06-20",
    "2024-09-30.acacia",
)
PRODUCT = "prod_2020"


def price(
    id: str,
    unit_amount: int | None,
    *,
    interval: str = "month",
    decimal: str | None = None,
    product: Any = PRODUCT,
    scheme: str = "per_unit",
    tiers: list[dict[str, Any]] | None = None,
    tiers_mode: str | None = None,
    usage_type: str = "licensed",
    transform: dict[str, Any] | None = None,
    version: str = "2020-08-27",
) -> dict[str, Any]:
    # source: https://docs.stripe.com/api/prices/object?api-version=2020-08-27 (Price: `unit_amount`
    # and `unit_amount_decimal` only for billing_scheme=per_unit, `recurring` with `interval`,
    # `interval_count`, `usage_type`; `transform_quantity` cannot be combined with tiers)
    recurring: dict[str, Any] = {
        "aggregate_usage": "sum" if usage_type == "metered" else None,
        "interval": interval,
        "interval_count": 1,
        "trial_period_days": None,
        "usage_type": usage_type,
    }
    if version >= "2024-09-30":
        # source: https://docs.stripe.com/api/prices/object?api-version=2025-02-24.acacia#price_object-recurring-meter
        # (acacia prices have `recurring.meter`, as the basil changelog links it; assumed: from
        # 2024-09-30.acacia on)
        recurring["meter"] = "mtr_corpus" if usage_type == "metered" else None
    obj: dict[str, Any] = {
        "id": id,
        "object": "price",
        "active": True,
        "billing_scheme": scheme,
        "created": PERIOD[0],
        "currency": "usd",
        "livemode": False,
        "lookup_key": None,
        "metadata": {},
        "nickname": None,
        "product": product,
        "recurring": recurring,
        "tax_behavior": "unspecified",
        "tiers_mode": tiers_mode,
        "transform_quantity": transform,
        "type": "recurring",
        "unit_amount": unit_amount,
        "unit_amount_decimal": decimal
        if decimal is not None
        else (None if unit_amount is None else str(unit_amount)),
    }
    if tiers is not None:
        # source: https://docs.stripe.com/api/prices/object?api-version=2020-08-27 (`tiers` only
        # when expanded; each tier has `flat_amount`, `flat_amount_decimal`, `unit_amount`,
        # `unit_amount_decimal` and `up_to`, null for the last)
        obj["tiers"] = tiers
    return obj


def as_plan(p: dict[str, Any], *, product: Any = "same") -> dict[str, Any]:
    """The legacy `plan` twin Stripe renders beside an item's `price`."""
    recurring = p["recurring"]
    return {
        "id": p["id"],
        "object": "plan",
        "active": p["active"],
        "aggregate_usage": recurring.get("aggregate_usage"),
        "amount": p["unit_amount"],
        "amount_decimal": p["unit_amount_decimal"],
        "billing_scheme": p["billing_scheme"],
        "created": p["created"],
        "currency": p["currency"],
        "interval": recurring["interval"],
        "interval_count": recurring["interval_count"],
        "livemode": False,
        "metadata": {},
        "nickname": None,
        # source: https://docs.stripe.com/api/plans/object (plan `product` is nullable)
        "product": p["product"] if product == "same" else product,
        "tiers_mode": p["tiers_mode"],
        "transform_usage": p["transform_quantity"],
        "trial_period_days": None,
        "usage_type": recurring["usage_type"],
    }


GRADUATED: list[dict[str, Any]] = [
    {
        "up_to": 5,
        "unit_amount": 1000,
        "unit_amount_decimal": "1000",
        "flat_amount": 2000,
        "flat_amount_decimal": "2000",
    },
    {
        "up_to": None,
        "unit_amount": None,
        "unit_amount_decimal": "412.5",
        "flat_amount": None,
        "flat_amount_decimal": None,
    },
]
VOLUME: list[dict[str, Any]] = [
    {
        "up_to": 10,
        "unit_amount": 1000,
        "unit_amount_decimal": "1000",
        "flat_amount": None,
        "flat_amount_decimal": None,
    },
    {
        "up_to": None,
        "unit_amount": 700,
        "unit_amount_decimal": "700",
        "flat_amount": 1000,
        "flat_amount_decimal": "1000",
    },
]


def subscription(
    sub_id: str,
    items: list[tuple[str, dict[str, Any], int | None]],
    *,
    status: str = "active",
    customer: Any = CUSTOMER,
    plan_product: Any = "same",
) -> dict[str, Any]:
    return {
        "id": sub_id,
        "object": "subscription",
        "cancel_at_period_end": False,
        "canceled_at": PERIOD[0] + 86400 if status == "canceled" else None,
        "collection_method": "charge_automatically",
        # assumed: `currency` is on the subscription in these versions (Uplift falls back to
        # the items' currency when it is not)
        "currency": "usd",
        "current_period_end": PERIOD[1],
        "current_period_start": PERIOD[0],
        "customer": customer,
        "items": {
            "object": "list",
            "data": [
                {
                    "id": item_id,
                    "object": "subscription_item",
                    "created": PERIOD[0],
                    "metadata": {},
                    "plan": as_plan(price_obj, product=plan_product),
                    "price": price_obj,
                    **({} if quantity is None else {"quantity": quantity}),
                    "subscription": sub_id,
                    "tax_rates": [],
                }
                for item_id, price_obj, quantity in items
            ],
            "has_more": False,
            "total_count": len(items),
            "url": f"/v1/subscription_items?subscription={sub_id}",
        },
        "metadata": {},
        "start_date": PERIOD[0],
        "status": status,
        "trial_end": PERIOD[1] if status == "trialing" else None,
    }


def invoice(inv_id: str, sub_id: str, reason: str, amount: int) -> dict[str, Any]:
    return {
        "id": inv_id,
        "object": "invoice",
        "amount_due": amount,
        "amount_paid": amount,
        "billing_reason": reason,
        "currency": "usd",
        "customer": CUSTOMER,
        "hosted_invoice_url": f"https://invoice.stripe.com/i/{inv_id}",
        "last_finalization_error": None,
        "status": "paid",
        "subscription": sub_id,
        "total": amount,
    }


def cases() -> list[Case]:
    found: list[Case] = []
    for version in VERSIONS:
        t = version[:10].replace("-", "")

        def ev(type: str, obj: dict[str, Any], n: str, *, v: str = version) -> dict[str, Any]:
            return envelope(v, type, obj, id=f"evt_{v}_{n}")

        basic = price(f"price_basic_{t}", 2900, version=version)
        seat = price(f"price_seat_{t}", 1500, version=version)
        yearly = price(f"price_yearly_{t}", 99000, interval="year", version=version)
        half = price(f"price_half_{t}", None, decimal="0.5", version=version)
        metered = price(f"price_api_{t}", 5, usage_type="metered", version=version)
        graduated = price(
            f"price_grad_{t}",
            None,
            scheme="tiered",
            tiers=GRADUATED,
            tiers_mode="graduated",
            version=version,
        )
        volume = price(
            f"price_vol_{t}",
            None,
            scheme="tiered",
            tiers=VOLUME,
            tiers_mode="volume",
            version=version,
        )
        packs = price(
            f"price_packs_{t}",
            5000,
            transform={"divide_by": 10, "round": "down"},
            version=version,
        )
        expanded = price(
            f"price_pro_{t}",
            9900,
            product={"id": PRODUCT, "object": "product", "name": "Pro", "active": True},
            version=version,
        )
        found += [
            Case(
                "subscription-created",
                version,
                ev(
                    "customer.subscription.created",
                    subscription(f"sub_{t}_a", [(f"si_{t}_a", basic, 1)]),
                    "a",
                ),
                Mirror("active", 2900, (f"si_{t}_a",), products=(PRODUCT,)),
            ),
            Case(
                # issue 18: the legacy plan's `product` is null; the price's is what counts
                "subscription-plan-product-null",
                version,
                ev(
                    "customer.subscription.updated",
                    subscription(f"sub_{t}_n", [(f"si_{t}_n", seat, 4)], plan_product=None),
                    "n",
                ),
                Mirror("active", 6000, (f"si_{t}_n",), products=(PRODUCT,)),
                frozenset({"null-plan-product", "seats"}),
            ),
            Case(
                "subscription-multiple-items-metered-yearly",
                version,
                ev(
                    "customer.subscription.updated",
                    subscription(
                        f"sub_{t}_m",
                        [
                            (f"si_{t}_m1", yearly, 1),
                            (f"si_{t}_m2", seat, 3),
                            (f"si_{t}_m3", metered, None),
                        ],
                    ),
                    "m",
                ),
                # 99000 / 12 = 8250, plus 3 x 1500; metered counts nothing
                Mirror("active", 12750, (f"si_{t}_m1", f"si_{t}_m2", f"si_{t}_m3")),
                frozenset({"multiple-items", "metered", "yearly"}),
            ),
            Case(
                "subscription-graduated-decimal-tiers",
                version,
                ev(
                    "customer.subscription.updated",
                    subscription(f"sub_{t}_g", [(f"si_{t}_g", graduated, 7)]),
                    "g",
                ),
                # 5 x 1000 + 2000 flat, then 2 x 412.5 = 825
                Mirror("active", 7825, (f"si_{t}_g",)),
                frozenset({"tiered", "graduated"}),
            ),
            Case(
                "subscription-volume-tiers-past-due",
                version,
                ev(
                    "customer.subscription.updated",
                    subscription(f"sub_{t}_v", [(f"si_{t}_v", volume, 12)], status="past_due"),
                    "v",
                ),
                # all 12 at the second tier: 12 x 700 + 1000
                Mirror("past_due", 9400, (f"si_{t}_v",)),
                frozenset({"tiered", "volume", "past_due"}),
            ),
            Case(
                "subscription-decimal-and-transform",
                version,
                ev(
                    "customer.subscription.updated",
                    subscription(
                        f"sub_{t}_d", [(f"si_{t}_d1", half, 3), (f"si_{t}_d2", packs, 25)]
                    ),
                    "d",
                ),
                # 3 x 0.5 = 1.5 rounds half up to 2; floor(25 / 10) = 2 packs of 5000
                Mirror("active", 10002, (f"si_{t}_d1", f"si_{t}_d2")),
                frozenset({"transform_quantity", "decimal"}),
            ),
            Case(
                "subscription-trialing-expanded",
                version,
                ev(
                    "customer.subscription.created",
                    subscription(
                        f"sub_{t}_x",
                        [(f"si_{t}_x", expanded, 1)],
                        status="trialing",
                        customer={"id": CUSTOMER, "object": "customer", "email": "a@example.com"},
                    ),
                    "x",
                ),
                Mirror("trialing", 0, (f"si_{t}_x",), products=(PRODUCT,)),
                frozenset({"trialing", "expanded"}),
            ),
            Case(
                "subscription-deleted",
                version,
                ev(
                    "customer.subscription.deleted",
                    subscription(f"sub_{t}_c", [(f"si_{t}_c", basic, 1)], status="canceled"),
                    "c",
                ),
                Mirror("canceled", 0, (f"si_{t}_c",)),
                frozenset({"canceled"}),
            ),
            Case(
                "price-created",
                version,
                ev("price.created", basic, "p1"),
                CatalogPrice(f"price_basic_{t}", PRODUCT, 2900, monthly=2900),
            ),
            Case(
                "price-updated-volume",
                version,
                ev("price.updated", volume, "p2"),
                CatalogPrice(f"price_vol_{t}", PRODUCT, None, "tiered", tiers=2, monthly=1000),
            ),
            Case(
                "price-deleted-metered",
                version,
                ev("price.deleted", metered, "p3"),
                CatalogPrice(f"price_api_{t}", PRODUCT, 5, usage_type="metered", active=False),
            ),
            Case(
                "plan-created",
                version,
                ev("plan.created", as_plan(yearly), "p4"),
                CatalogPrice(f"price_yearly_{t}", PRODUCT, 99000, monthly=8250),
            ),
            Case(
                "plan-updated",
                version,
                ev("plan.updated", as_plan(seat), "p5"),
                CatalogPrice(f"price_seat_{t}", PRODUCT, 1500, monthly=1500),
            ),
            Case(
                "plan-deleted",
                version,
                ev("plan.deleted", as_plan(seat), "p6"),
                CatalogPrice(f"price_seat_{t}", PRODUCT, 1500, active=False, monthly=1500),
            ),
            Case(
                "product-updated",
                version,
                ev(
                    "product.updated",
                    {
                        "id": PRODUCT,
                        "object": "product",
                        "name": "Pro",
                        "active": True,
                        "metadata": {"tier": "2"},
                        "default_price": None,
                    },
                    "pr1",
                ),
                CatalogProduct(PRODUCT, "Pro"),
            ),
            Case(
                "product-deleted",
                version,
                ev(
                    "product.deleted",
                    {
                        "id": PRODUCT,
                        "object": "product",
                        "name": "Pro",
                        "active": False,
                        "metadata": {},
                    },
                    "pr2",
                ),
                CatalogProduct(PRODUCT, "Pro", active=False),
            ),
            Case(
                "checkout-session-completed",
                version,
                ev(
                    "checkout.session.completed",
                    {
                        "id": f"cs_{t}",
                        "object": "checkout.session",
                        "amount_total": 2900,
                        "currency": "usd",
                        "customer": CUSTOMER,
                        "mode": "subscription",
                        "payment_status": "paid",
                        "status": "complete",
                        "subscription": f"sub_{t}_a",
                    },
                    "cs",
                ),
                Order(f"sub_{t}_a", 2900),
            ),
            Case(
                "invoice-paid-first",
                version,
                ev(
                    "invoice.paid",
                    invoice(f"in_{t}_1", f"sub_{t}_a", "subscription_create", 2900),
                    "i1",
                ),
                Order(f"sub_{t}_a", 2900, subscription_id=f"sub_{t}_a"),
            ),
            Case(
                "invoice-payment-succeeded-expanded-subscription",
                version,
                ev(
                    "invoice.payment_succeeded",
                    {
                        **invoice(f"in_{t}_2", f"sub_{t}_a", "subscription_cycle", 2900),
                        "subscription": {"id": f"sub_{t}_a", "object": "subscription"},
                    },
                    "i2",
                ),
                Order(None, subscription_id=f"sub_{t}_a"),
            ),
            Case(
                "invoice-payment-failed",
                version,
                ev(
                    "invoice.payment_failed",
                    {
                        **invoice(f"in_{t}_3", f"sub_{t}_a", "subscription_cycle", 2900),
                        "last_finalization_error": {"message": "card declined"},
                    },
                    "i3",
                ),
                Order(None, subscription_id=f"sub_{t}_a"),
            ),
            Case(
                "invoice-action-required",
                version,
                ev(
                    "invoice.payment_action_required",
                    invoice(f"in_{t}_4", f"sub_{t}_a", "subscription_update", 2900),
                    "i4",
                ),
                Order(None, subscription_id=f"sub_{t}_a"),
            ),
        ]
    # The deliberately unreadable: a unit amount that is not an integer can never be read.
    broken = price("price_broken", 2900)
    broken["unit_amount"] = "29.00"
    found.append(
        Case(
            "subscription-unreadable-amount",
            VERSIONS[0],
            envelope(
                VERSIONS[0],
                "customer.subscription.updated",
                subscription("sub_broken", [("si_broken", broken, 1)]),
                id="evt_broken",
            ),
            Refused("items.data.0.price.unit_amount"),
            frozenset({"unparseable"}),
        )
    )
    return found
