"""API versions 2025-03-31.basil, 2025-09-30.clover and 2026-10-28.endive: the billing period is
on each subscription item, invoices name their subscription under
`parent.subscription_details`, and metered prices bill through meters."""

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
    era_2020,
)

VERSIONS = ("2025-03-31.basil", "2025-09-30.clover", "2026-10-28.endive")
PRODUCT = era_2020.PRODUCT


def price(id: str, unit_amount: int | None, **kw: Any) -> dict[str, Any]:
    obj = era_2020.price(id, unit_amount, version="2025-03-31", **kw)
    # source: https://docs.stripe.com/changelog/basil/2025-03-31/deprecate-legacy-usage-based-billing
    # (basil removes `aggregate_usage`; metered prices are backed by a billing meter)
    obj["recurring"].pop("aggregate_usage", None)
    return obj


def subscription(
    sub_id: str,
    items: list[tuple[str, dict[str, Any], int | None]],
    *,
    status: str = "active",
    plan_product: Any = "same",
) -> dict[str, Any]:
    obj = era_2020.subscription(sub_id, items, status=status, plan_product=plan_product)
    # source: https://docs.stripe.com/changelog/basil/2025-03-31/deprecate-subscription-current-period-start-and-end
    # (basil: `current_period_start`/`_end` leave the subscription for each item)
    del obj["current_period_start"], obj["current_period_end"]
    for item in obj["items"]["data"]:
        item["current_period_start"] = PERIOD[0]
        item["current_period_end"] = PERIOD[1]
        item["plan"].pop("aggregate_usage", None)
    return obj


def invoice(inv_id: str, sub_id: str | None, reason: str, amount: int) -> dict[str, Any]:
    obj = era_2020.invoice(inv_id, sub_id or "", reason, amount)
    # source: https://docs.stripe.com/changelog/basil/2025-03-31/adds-new-parent-field-to-invoicing-objects
    # (basil: the invoice's `subscription` moves to `parent.subscription_details.subscription`)
    del obj["subscription"]
    obj["parent"] = (
        {
            "type": "subscription_details",
            "quote_details": None,
            "subscription_details": {"metadata": {}, "subscription": sub_id},
        }
        if sub_id
        else None
    )
    return obj


def cases() -> list[Case]:
    found: list[Case] = []
    for version in VERSIONS:
        t = version.split(".")[1]

        def ev(type: str, obj: dict[str, Any], n: str, *, v: str = version) -> dict[str, Any]:
            return envelope(v, type, obj, id=f"evt_{v}_{n}")

        basic = price(f"price_basic_{t}", 2900)
        seat = price(f"price_seat_{t}", 1500)
        yearly = price(f"price_yearly_{t}", 99000, interval="year")
        metered = price(f"price_api_{t}", 5, usage_type="metered")
        graduated = price(
            f"price_grad_{t}",
            None,
            scheme="tiered",
            tiers=era_2020.GRADUATED,
            tiers_mode="graduated",
        )
        volume = price(f"price_vol_{t}", None, scheme="tiered", tiers_mode="volume")
        found += [
            Case(
                "subscription-created-item-period",
                version,
                ev(
                    "customer.subscription.created",
                    subscription(f"sub_{t}_a", [(f"si_{t}_a", basic, 1)]),
                    "a",
                ),
                Mirror("active", 2900, (f"si_{t}_a",), products=(PRODUCT,)),
                frozenset({"item-period"}),
            ),
            Case(
                "subscription-plan-product-null",
                version,
                ev(
                    "customer.subscription.updated",
                    subscription(f"sub_{t}_n", [(f"si_{t}_n", seat, 2)], plan_product=None),
                    "n",
                ),
                Mirror("active", 3000, (f"si_{t}_n",), products=(PRODUCT,)),
                frozenset({"null-plan-product"}),
            ),
            Case(
                "subscription-multiple-items-metered-yearly",
                version,
                ev(
                    "customer.subscription.updated",
                    subscription(
                        f"sub_{t}_m",
                        [(f"si_{t}_m1", yearly, 2), (f"si_{t}_m2", metered, None)],
                    ),
                    "m",
                ),
                # 2 x 99000 / 12 = 16500; metered counts nothing
                Mirror("active", 16500, (f"si_{t}_m1", f"si_{t}_m2")),
                frozenset({"multiple-items", "metered", "yearly"}),
            ),
            Case(
                "subscription-graduated",
                version,
                ev(
                    "customer.subscription.updated",
                    subscription(f"sub_{t}_g", [(f"si_{t}_g", graduated, 5)]),
                    "g",
                ),
                Mirror("active", 7000, (f"si_{t}_g",)),
                frozenset({"tiered", "graduated"}),
            ),
            Case(
                "subscription-volume-without-tiers-past-due",
                version,
                ev(
                    "customer.subscription.updated",
                    subscription(f"sub_{t}_v", [(f"si_{t}_v", volume, 3)], status="past_due"),
                    "v",
                ),
                Mirror("past_due", 0, (f"si_{t}_v",)),
                frozenset({"tiered", "volume", "past_due"}),
            ),
            Case(
                "subscription-trialing",
                version,
                ev(
                    "customer.subscription.created",
                    subscription(f"sub_{t}_t", [(f"si_{t}_t", basic, 1)], status="trialing"),
                    "t",
                ),
                Mirror("trialing", 0, (f"si_{t}_t",)),
                frozenset({"trialing"}),
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
            # source: https://docs.stripe.com/api/events/types (customer.subscription.paused /
            # resumed / pending_update_applied / pending_update_expired carry the subscription)
            Case(
                "subscription-paused",
                version,
                ev(
                    "customer.subscription.paused",
                    subscription(f"sub_{t}_p", [(f"si_{t}_p", basic, 1)], status="paused"),
                    "p",
                ),
                Mirror("paused", 0, (f"si_{t}_p",)),
            ),
            Case(
                "subscription-resumed",
                version,
                ev(
                    "customer.subscription.resumed",
                    subscription(f"sub_{t}_r", [(f"si_{t}_r", basic, 1)]),
                    "r",
                ),
                Mirror("active", 2900, (f"si_{t}_r",)),
            ),
            Case(
                "subscription-pending-update-applied",
                version,
                ev(
                    "customer.subscription.pending_update_applied",
                    subscription(f"sub_{t}_u", [(f"si_{t}_u", seat, 5)]),
                    "u",
                ),
                Mirror("active", 7500, (f"si_{t}_u",)),
            ),
            Case(
                "subscription-pending-update-expired",
                version,
                ev(
                    "customer.subscription.pending_update_expired",
                    subscription(f"sub_{t}_e", [(f"si_{t}_e", seat, 1)]),
                    "e",
                ),
                Mirror("active", 1500, (f"si_{t}_e",)),
            ),
            Case(
                "price-created-graduated",
                version,
                ev("price.created", graduated, "p1"),
                CatalogPrice(f"price_grad_{t}", PRODUCT, None, "tiered", tiers=2, monthly=3000),
            ),
            Case(
                "price-updated",
                version,
                ev("price.updated", yearly, "p2"),
                CatalogPrice(f"price_yearly_{t}", PRODUCT, 99000, monthly=8250),
            ),
            Case(
                "price-deleted",
                version,
                ev("price.deleted", basic, "p3"),
                CatalogPrice(f"price_basic_{t}", PRODUCT, 2900, active=False, monthly=2900),
            ),
            Case(
                "plan-created-metered",
                version,
                ev("plan.created", era_2020.as_plan(metered), "p4"),
                CatalogPrice(f"price_api_{t}", PRODUCT, 5, usage_type="metered"),
            ),
            Case(
                "plan-updated",
                version,
                ev("plan.updated", era_2020.as_plan(seat), "p5"),
                CatalogPrice(f"price_seat_{t}", PRODUCT, 1500, monthly=1500),
            ),
            Case(
                "plan-deleted",
                version,
                ev("plan.deleted", era_2020.as_plan(seat), "p6"),
                CatalogPrice(f"price_seat_{t}", PRODUCT, 1500, active=False, monthly=1500),
            ),
            Case(
                "product-created",
                version,
                ev(
                    "product.created",
                    {
                        "id": PRODUCT,
                        "object": "product",
                        "name": "Pro",
                        "active": True,
                        "metadata": {},
                    },
                    "pr",
                ),
                CatalogProduct(PRODUCT, "Pro"),
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
                        "customer": {"id": CUSTOMER, "object": "customer"},
                        "mode": "subscription",
                        "status": "complete",
                        "subscription": f"sub_{t}_a",
                    },
                    "cs",
                ),
                Order(f"sub_{t}_a", 2900),
                frozenset({"expanded"}),
            ),
            Case(
                "invoice-paid-first-parent",
                version,
                ev(
                    "invoice.paid",
                    invoice(f"in_{t}_1", f"sub_{t}_a", "subscription_create", 2900),
                    "i1",
                ),
                Order(f"sub_{t}_a", 2900, subscription_id=f"sub_{t}_a"),
                frozenset({"invoice-parent"}),
            ),
            Case(
                "invoice-payment-succeeded-no-parent",
                version,
                ev("invoice.payment_succeeded", invoice(f"in_{t}_2", None, "manual", 500), "i2"),
                Order(None, subscription_id=None),
            ),
            Case(
                "invoice-payment-failed",
                version,
                ev(
                    "invoice.payment_failed",
                    invoice(f"in_{t}_3", f"sub_{t}_a", "subscription_cycle", 2900),
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
    # The deliberately unreadable: an item with neither a price nor a plan has nothing to count.
    empty = subscription("sub_empty", [("si_empty", price("price_x", 100), 1)])
    del empty["items"]["data"][0]["price"], empty["items"]["data"][0]["plan"]
    found.append(
        Case(
            "subscription-item-without-price",
            VERSIONS[-1],
            envelope(VERSIONS[-1], "customer.subscription.created", empty, id="evt_empty"),
            Refused("neither a price nor a plan"),
            frozenset({"unparseable"}),
        )
    )
    return found
