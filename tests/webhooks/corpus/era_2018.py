"""API versions 2018-02-28 and 2019-12-03: plans belong to products and know billing schemes
(tiers, metered usage, `transform_usage`); items still carry only a `plan`; the period is on the
subscription; invoices name their `subscription` at the top level."""

from __future__ import annotations

from typing import Any

from tests.webhooks.corpus import (
    CUSTOMER,
    PERIOD,
    Case,
    CatalogPrice,
    Mirror,
    Order,
    envelope,
)

VERSIONS = ("2018-02-28", "2019-12-03")
PRODUCT = "prod_2018"


def plan(
    id: str,
    amount: int | None,
    *,
    interval: str = "month",
    product: Any = PRODUCT,
    scheme: str = "per_unit",
    tiers: list[dict[str, Any]] | None = None,
    tiers_mode: str | None = None,
    usage_type: str = "licensed",
    transform: dict[str, Any] | None = None,
    expanded_tiers: bool = False,
) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "id": id,
        "object": "plan",
        "active": True,
        # source: https://docs.stripe.com/api/plans/object?api-version=2019-12-03 (metered plans
        # have `aggregate_usage`; tiered plans have a null `amount` and `billing_scheme=tiered`)
        "aggregate_usage": "sum" if usage_type == "metered" else None,
        "amount": amount,
        "billing_scheme": scheme,
        "created": PERIOD[0],
        "currency": "usd",
        "interval": interval,
        "interval_count": 1,
        "livemode": False,
        "metadata": {},
        # source: https://docs.stripe.com/changelog/2018-02-05/plans-link-individual-products-several-fields-moved
        # (a plan links a product and has a `nickname`; `name` moved to the product)
        "nickname": None,
        "product": product,
        "tiers_mode": tiers_mode,
        "transform_usage": transform,
        "trial_period_days": None,
        "usage_type": usage_type,
    }
    if expanded_tiers:
        # source: https://docs.stripe.com/api/plans/object?api-version=2019-12-03 (`tiers` is
        # included only when expanded; the last tier's `up_to` is null, meaning infinity)
        obj["tiers"] = tiers
    return obj


GRADUATED: list[dict[str, Any]] = [
    {"up_to": 5, "unit_amount": 1000, "flat_amount": 2000},
    {"up_to": 10, "unit_amount": 800, "flat_amount": None},
    {"up_to": None, "unit_amount": 500, "flat_amount": None},
]
VOLUME: list[dict[str, Any]] = [
    {"up_to": 10, "unit_amount": 1000, "flat_amount": None},
    {"up_to": None, "unit_amount": 700, "flat_amount": 1000},
]


def subscription(
    sub_id: str,
    items: list[tuple[str, dict[str, Any], int | None]],
    *,
    status: str = "active",
    customer: Any = CUSTOMER,
) -> dict[str, Any]:
    single = items[0] if len(items) == 1 else None
    return {
        "id": sub_id,
        "object": "subscription",
        "billing": "charge_automatically",
        "customer": customer,
        "status": status,
        # assumed: the subscription-level `plan`/`quantity` still sit beside `items`
        "plan": single[1] if single else None,
        "quantity": single[2] if single else None,
        "items": {
            "object": "list",
            "data": [
                {
                    "id": item_id,
                    "object": "subscription_item",
                    "created": PERIOD[0],
                    "metadata": {},
                    "plan": plan_obj,
                    # source: https://docs.stripe.com/api/subscription_items/object?api-version=2019-12-03
                    # (`quantity` is absent for metered plans)
                    **({} if quantity is None else {"quantity": quantity}),
                    "subscription": sub_id,
                }
                for item_id, plan_obj, quantity in items
            ],
            "has_more": False,
            "total_count": len(items),
            "url": f"/v1/subscription_items?subscription={sub_id}",
        },
        "current_period_start": PERIOD[0],
        "current_period_end": PERIOD[1],
        "start_date": PERIOD[0],
        "trial_end": None,
        "cancel_at_period_end": False,
        "canceled_at": None,
        "metadata": {},
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
        "paid": True,
        "status": "paid",
        "subscription": sub_id,
        "total": amount,
    }


def cases() -> list[Case]:
    found: list[Case] = []
    for version in VERSIONS:
        t = version[:4]

        def ev(type: str, obj: dict[str, Any], n: str, *, v: str = version) -> dict[str, Any]:
            return envelope(v, type, obj, id=f"evt_{v}_{n}")

        basic = plan(f"basic_{t}", 2900)
        api_calls = plan(f"api_{t}", 5, usage_type="metered")
        graduated = plan(
            f"seats_grad_{t}",
            None,
            scheme="tiered",
            tiers=GRADUATED,
            tiers_mode="graduated",
            expanded_tiers=True,
        )
        volume = plan(f"seats_vol_{t}", None, scheme="tiered", tiers=VOLUME, tiers_mode="volume")
        packs = plan(f"packs_{t}", 5000, transform={"divide_by": 10, "round": "up"})
        expanded_product = plan(
            f"pro_{t}",
            9900,
            product={"id": PRODUCT, "object": "product", "name": "Pro", "active": True},
        )
        found += [
            Case(
                "subscription-licensed-and-metered",
                version,
                ev(
                    "customer.subscription.created",
                    subscription(
                        f"sub_{t}_m", [(f"si_{t}_m1", basic, 1), (f"si_{t}_m2", api_calls, None)]
                    ),
                    "m",
                ),
                Mirror("active", 2900, (f"si_{t}_m1", f"si_{t}_m2"), products=(PRODUCT, PRODUCT)),
                frozenset({"metered", "multiple-items"}),
            ),
            Case(
                "subscription-graduated-tiers-expanded",
                version,
                ev(
                    "customer.subscription.updated",
                    subscription(f"sub_{t}_g", [(f"si_{t}_g", graduated, 12)]),
                    "g",
                ),
                # 5 x 1000 + 2000 flat, 5 x 800, 2 x 500
                Mirror("active", 12000, (f"si_{t}_g",)),
                frozenset({"tiered", "graduated"}),
            ),
            Case(
                "subscription-volume-tiers-not-expanded",
                version,
                ev(
                    "customer.subscription.updated",
                    subscription(f"sub_{t}_v", [(f"si_{t}_v", volume, 12)]),
                    "v",
                ),
                # tiers not sent: unknown until the catalog has them (test_corpus checks that)
                Mirror("active", 0, (f"si_{t}_v",)),
                frozenset({"tiered", "volume"}),
            ),
            Case(
                "subscription-transform-usage-past-due",
                version,
                ev(
                    "customer.subscription.updated",
                    subscription(f"sub_{t}_t", [(f"si_{t}_t", packs, 25)], status="past_due"),
                    "t",
                ),
                # ceil(25 / 10) = 3 packs of 5000
                Mirror("past_due", 15000, (f"si_{t}_t",)),
                frozenset({"transform_quantity", "past_due"}),
            ),
            Case(
                "subscription-expanded-customer-and-product",
                version,
                ev(
                    "customer.subscription.created",
                    subscription(
                        f"sub_{t}_x",
                        [(f"si_{t}_x", expanded_product, 2)],
                        customer={"id": CUSTOMER, "object": "customer", "email": None},
                    ),
                    "x",
                ),
                Mirror("active", 19800, (f"si_{t}_x",), products=(PRODUCT,)),
                frozenset({"expanded"}),
            ),
            Case(
                "plan-created",
                version,
                ev("plan.created", basic, "p1"),
                CatalogPrice(f"basic_{t}", PRODUCT, 2900, monthly=2900),
            ),
            Case(
                "plan-updated-tiered",
                version,
                ev("plan.updated", graduated, "p2"),
                CatalogPrice(f"seats_grad_{t}", PRODUCT, None, "tiered", tiers=3, monthly=3000),
            ),
            Case(
                "plan-deleted-metered",
                version,
                ev("plan.deleted", api_calls, "p3"),
                CatalogPrice(f"api_{t}", PRODUCT, 5, usage_type="metered", active=False),
            ),
            Case(
                "invoice-paid-first",
                version,
                ev(
                    "invoice.paid",
                    invoice(f"in_{t}_1", f"sub_{t}_m", "subscription_create", 2900),
                    "i1",
                ),
                Order(f"sub_{t}_m", 2900, subscription_id=f"sub_{t}_m"),
                frozenset({"invoice"}),
            ),
            Case(
                "invoice-action-required",
                version,
                ev(
                    "invoice.payment_action_required",
                    invoice(f"in_{t}_2", f"sub_{t}_m", "subscription_cycle", 2900),
                    "i2",
                ),
                Order(None, subscription_id=f"sub_{t}_m"),
            ),
        ]
        if version >= "2019":
            found.append(
                Case(
                    "checkout-session-completed",
                    version,
                    ev(
                        "checkout.session.completed",
                        {
                            "id": f"cs_{t}",
                            "object": "checkout.session",
                            # source: https://docs.stripe.com/api/checkout/sessions/object?api-version=2019-12-03
                            # (`customer` and `subscription` are nullable, expandable ids)
                            "customer": CUSTOMER,
                            "subscription": f"sub_{t}_m",
                            "mode": "subscription",
                            "payment_status": "paid",
                            # assumed: `amount_total`/`currency` may be absent in this version
                        },
                        "cs",
                    ),
                    Order(f"sub_{t}_m", None),
                )
            )
    return found
