"""API versions 2016-07-06 and 2017-08-15: subscription items exist, each with a `plan`; plans
have no product yet; the billing period is on the subscription; invoices name their
`subscription` at the top level."""

from __future__ import annotations

from typing import Any

from tests.webhooks.corpus import (
    CUSTOMER,
    PERIOD,
    Case,
    CatalogProduct,
    Mirror,
    Order,
    Refused,
    envelope,
)

VERSIONS = ("2016-07-06", "2017-08-15")


def _legacy_request(version: str) -> bool:
    # source: https://docs.stripe.com/changelog/2017-05-25 (event `request` became an object)
    return version < "2017-05-25"


def plan(id: str, amount: int, *, interval: str = "month") -> dict[str, Any]:
    # source: https://docs.stripe.com/changelog/2018-02-05/plans-link-individual-products-several-fields-moved
    # (until 2018-02-05 a plan has `name` and `statement_descriptor`, and no `product`)
    return {
        "id": id,
        "object": "plan",
        "amount": amount,
        "created": PERIOD[0],
        "currency": "usd",
        "interval": interval,
        "interval_count": 1,
        "livemode": False,
        "metadata": {},
        "name": id.title(),
        "statement_descriptor": None,
        "trial_period_days": None,
    }


def subscription(
    sub_id: str, items: list[tuple[str, dict[str, Any], int]], *, status: str = "active"
) -> dict[str, Any]:
    single = items[0] if len(items) == 1 else None
    return {
        "id": sub_id,
        "object": "subscription",
        "customer": CUSTOMER,
        "status": status,
        # assumed: the subscription-level `plan` and `quantity` stay beside `items` in these
        # versions (null when the subscription has several plans); Uplift reads `items` first
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
                    "quantity": quantity,
                }
                for item_id, plan_obj, quantity in items
            ],
            "has_more": False,
            "total_count": len(items),
            "url": f"/v1/subscription_items?subscription={sub_id}",
        },
        # source: https://docs.stripe.com/changelog/basil/2025-03-31/deprecate-subscription-current-period-start-and-end
        # (before basil the period is on the subscription)
        "current_period_start": PERIOD[0],
        "current_period_end": PERIOD[1],
        "start": PERIOD[0],
        "trial_start": None,
        "trial_end": NOW_TRIAL if status == "trialing" else None,
        "cancel_at_period_end": False,
        "canceled_at": PERIOD[0] + 86400 if status == "canceled" else None,
        "ended_at": None,
        "metadata": {},
        "tax_percent": None,
    }


NOW_TRIAL = PERIOD[1]


def invoice(inv_id: str, sub_id: str | None) -> dict[str, Any]:
    return {
        "id": inv_id,
        "object": "invoice",
        "amount_due": 2000,
        "attempted": True,
        "closed": True,
        "currency": "usd",
        "customer": CUSTOMER,
        "date": PERIOD[0],
        "paid": True,
        # source: https://docs.stripe.com/changelog/basil/2025-03-31/adds-new-parent-field-to-invoicing-objects
        # (before basil the invoice names its `subscription` at the top level)
        "subscription": sub_id,
        "total": 2000,
        # assumed: `billing_reason`, `amount_paid` and `hosted_invoice_url` are absent here
        # (Uplift then records no order from the invoice; Checkout or a later version does)
    }


def cases() -> list[Case]:
    found: list[Case] = []
    for version in VERSIONS:
        tag = version[:4]

        def ev(type: str, obj: dict[str, Any], n: str, *, v: str = version) -> dict[str, Any]:
            return envelope(v, type, obj, id=f"evt_{v}_{n}", legacy_request=_legacy_request(v))

        silver = plan("silver", 2000)
        seats = plan("seat", 1500)
        yearly = plan("gold_yearly", 99000, interval="year")
        found += [
            Case(
                "subscription-created",
                version,
                ev(
                    "customer.subscription.created",
                    subscription(f"sub_{tag}_a", [(f"si_{tag}_a", silver, 1)]),
                    "a",
                ),
                Mirror("active", 2000, (f"si_{tag}_a",), products=(None,)),
                frozenset({"legacy-plan"}),
            ),
            Case(
                "subscription-updated-multiple-items",
                version,
                ev(
                    "customer.subscription.updated",
                    subscription(
                        f"sub_{tag}_b", [(f"si_{tag}_b1", silver, 1), (f"si_{tag}_b2", seats, 3)]
                    ),
                    "b",
                ),
                Mirror("active", 6500, (f"si_{tag}_b1", f"si_{tag}_b2")),
                frozenset({"multiple-items", "seats"}),
            ),
            Case(
                "subscription-yearly-trialing",
                version,
                ev(
                    "customer.subscription.created",
                    subscription(f"sub_{tag}_c", [(f"si_{tag}_c", yearly, 1)], status="trialing"),
                    "c",
                ),
                Mirror("trialing", 0, (f"si_{tag}_c",)),
                frozenset({"yearly", "trialing"}),
            ),
            Case(
                "subscription-deleted",
                version,
                ev(
                    "customer.subscription.deleted",
                    subscription(f"sub_{tag}_d", [(f"si_{tag}_d", yearly, 1)], status="canceled"),
                    "d",
                ),
                Mirror("canceled", 0, (f"si_{tag}_d",)),
                frozenset({"canceled"}),
            ),
            Case(
                "plan-created-without-product",
                version,
                ev("plan.created", silver, "p1"),
                Refused("has no product"),
                frozenset({"legacy-plan"}),
            ),
            Case(
                "plan-updated-without-product",
                version,
                ev("plan.updated", silver, "p2"),
                Refused("2018-02-05"),
            ),
            Case(
                "plan-deleted-without-product",
                version,
                ev("plan.deleted", {**silver, "deleted": True}, "p3"),
                Refused("has no product"),
            ),
            Case(
                "product-created",
                version,
                ev(
                    "product.created",
                    {
                        "id": f"prod_{tag}",
                        "object": "product",
                        "name": "T-shirt",
                        "active": True,
                        "metadata": {},
                        # source: https://docs.stripe.com/changelog/2018-02-05/plans-link-individual-products-several-fields-moved
                        # (products of type=service came with plans' products in 2018)
                        "type": "good",
                    },
                    "pr",
                ),
                CatalogProduct(f"prod_{tag}", "T-shirt"),
            ),
            Case(
                "invoice-payment-succeeded",
                version,
                ev("invoice.payment_succeeded", invoice(f"in_{tag}", f"sub_{tag}_a"), "i"),
                Order(None, subscription_id=f"sub_{tag}_a"),
                frozenset({"invoice"}),
            ),
            Case(
                "invoice-payment-failed",
                version,
                ev("invoice.payment_failed", invoice(f"in_{tag}_f", f"sub_{tag}_a"), "f"),
                Order(None, subscription_id=f"sub_{tag}_a"),
            ),
        ]
    return found
