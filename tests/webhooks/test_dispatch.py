"""Processing: the subscription mirror, MRR ledger, orders, catalog, and order per object."""

from __future__ import annotations

import httpx
from starlette.applications import Starlette

from plugin import storage
from plugin.storage import Database
from plugin.storage import stripe_events as store
from tests.support import NOW
from tests.webhooks import factories as f
from tests.webhooks.support import deliver

DAY = 86400


async def _kinds(db: Database) -> list[tuple[str, int]]:
    movements = await storage.mrr.list_movements(db, subscription_id=f.SUBSCRIPTION)
    return [(m.kind, m.amount) for m in movements]


async def _status(db: Database, event_id: str) -> str:
    stored = await store.get(db, event_id)
    assert stored is not None
    return stored.status


async def test_subscription_created_fills_the_mirror(
    client: httpx.AsyncClient, app: Starlette, db: Database
) -> None:
    """customer.subscription.created mirrors items, price, quantity, status, period bounds,
    trial end and cancel_at_period_end, and records new MRR."""
    sub = f.subscription(quantity=3, trial_end=NOW - DAY, period=(NOW - DAY, NOW + 29 * DAY))
    await deliver(client, app, f.event("customer.subscription.created", sub, id="evt_c1"))
    mirrored = await storage.subscriptions.get(db, f.SUBSCRIPTION)
    assert mirrored is not None
    assert (mirrored.customer_id, mirrored.status, mirrored.currency) == (
        f.CUSTOMER,
        "active",
        "usd",
    )
    assert (mirrored.current_period_start, mirrored.current_period_end) == (
        NOW - DAY,
        NOW + 29 * DAY,
    )
    assert (mirrored.trial_end, mirrored.cancel_at_period_end) == (NOW - DAY, False)
    [item] = mirrored.items
    assert (item.id, item.price_id, item.product_id, item.quantity, item.unit_amount) == (
        "si_alice",
        f.MONTHLY,
        f.PRODUCT,
        3,
        9900,
    )
    assert mirrored.mrr() == 3 * 9900
    assert await _kinds(db) == [("new", 29700)]


async def test_mrr_ledger_records_each_kind_of_movement(
    client: httpx.AsyncClient, app: Starlette, db: Database
) -> None:
    """new → expansion (quantity up) → contraction (cheaper price) → churn (deleted) →
    reactivation (active again); an update that does not change MRR records nothing."""
    cheap = f.price("price_basic", unit_amount=2900)
    steps = [
        ("customer.subscription.created", f.subscription()),
        ("customer.subscription.updated", f.subscription(quantity=2)),
        ("customer.subscription.updated", f.subscription(quantity=2, cancel_at_period_end=True)),
        ("customer.subscription.updated", f.subscription(price_obj=cheap, quantity=2)),
        ("customer.subscription.deleted", f.subscription(status="canceled", canceled_at=NOW)),
        ("customer.subscription.updated", f.subscription()),
    ]
    for n, (kind, obj) in enumerate(steps):
        await deliver(client, app, f.event(kind, obj, id=f"evt_m{n}", created=NOW - 100 + n))
    assert await _kinds(db) == [
        ("new", 9900),
        ("expansion", 9900),
        ("contraction", -19800 + 5800),
        ("churn", -5800),
        ("reactivation", 9900),
    ]
    movements = await storage.mrr.list_movements(db, subscription_id=f.SUBSCRIPTION)
    assert all(m.upgrade_id is None and m.offer_id is None for m in movements)


async def test_yearly_prices_count_one_twelfth_per_month(
    client: httpx.AsyncClient, app: Starlette, db: Database
) -> None:
    """A yearly price contributes round(amount / 12) per unit to MRR, in minor units."""
    yearly = f.price(f.YEARLY, unit_amount=99000, interval="year")
    sub = f.subscription(price_obj=yearly, quantity=2)
    await deliver(client, app, f.event("customer.subscription.created", sub, id="evt_y1"))
    assert await _kinds(db) == [("new", 2 * 8250)]


async def test_trialing_subscription_adds_no_mrr_until_active(
    client: httpx.AsyncClient, app: Starlette, db: Database
) -> None:
    """A trial is not revenue: MRR starts (as new business) when the subscription turns active."""
    trial = f.subscription(status="trialing", trial_end=NOW + 14 * DAY)
    await deliver(client, app, f.event("customer.subscription.created", trial, id="evt_t1"))
    active = f.event(
        "customer.subscription.updated", f.subscription(), id="evt_t2", created=NOW + 1
    )
    await deliver(client, app, active)
    assert await _kinds(db) == [("new", 9900)]


async def test_older_snapshot_after_newer_keeps_the_newer_state_and_rederives_the_ledger(
    client: httpx.AsyncClient, app: Starlette, db: Database
) -> None:
    """Stripe does not deliver in order: an update created before the one already applied
    leaves the mirror on the newer state, and the ledger is what the two updates made in
    Stripe's order (1 → 2 → 5 seats), not one jump."""
    await deliver(
        client, app, f.event("customer.subscription.created", f.subscription(), id="evt_o0")
    )
    newer = f.event(
        "customer.subscription.updated", f.subscription(quantity=5), id="evt_o2", created=NOW + 20
    )
    older = f.event(
        "customer.subscription.updated", f.subscription(quantity=2), id="evt_o1", created=NOW + 10
    )
    await deliver(client, app, newer)
    await deliver(client, app, older)
    mirrored = await storage.subscriptions.get(db, f.SUBSCRIPTION)
    assert mirrored is not None
    assert [item.quantity for item in mirrored.items] == [5]
    assert await _status(db, "evt_o1") == "processed"
    assert await _kinds(db) == [("new", 9900), ("expansion", 9900), ("expansion", 3 * 9900)]


async def test_late_update_cannot_resurrect_a_deleted_subscription(
    client: httpx.AsyncClient, app: Starlette, db: Database
) -> None:
    """An `updated` snapshot older than the `deleted` one already applied leaves it deleted; the
    ledger counts the update at its time and the churn of what it left."""
    await deliver(
        client, app, f.event("customer.subscription.created", f.subscription(), id="evt_d0")
    )
    deleted = f.subscription(status="canceled", canceled_at=NOW + 50)
    await deliver(
        client,
        app,
        f.event("customer.subscription.deleted", deleted, id="evt_d2", created=NOW + 50),
    )
    stale = f.event(
        "customer.subscription.updated", f.subscription(quantity=3), id="evt_d1", created=NOW + 5
    )
    await deliver(client, app, stale)
    mirrored = await storage.subscriptions.get(db, f.SUBSCRIPTION)
    assert mirrored is not None
    assert (mirrored.status, mirrored.mrr()) == ("canceled", 0)
    assert await _kinds(db) == [("new", 9900), ("expansion", 2 * 9900), ("churn", -3 * 9900)]


async def test_unknown_event_type_is_stored_and_ignored(
    client: httpx.AsyncClient, app: Starlette, db: Database
) -> None:
    """A type Uplift does not handle is acknowledged, kept, and marked ignored."""
    obj = {"id": "po_1", "object": "payout", "amount": 100}
    await deliver(client, app, f.event("payout.paid", obj, id="evt_unknown"))
    assert await _status(db, "evt_unknown") == "ignored"


async def test_checkout_and_first_invoice_make_one_order(
    client: httpx.AsyncClient, app: Starlette, db: Database
) -> None:
    """checkout.session.completed and the first paid invoice of the same subscription are one
    order, with both ids; a renewal invoice is not an order."""
    await deliver(
        client, app, f.event("checkout.session.completed", f.checkout_session(), id="evt_cs")
    )
    await deliver(client, app, f.event("invoice.paid", f.invoice(), id="evt_ip", created=NOW + 1))
    renewal = f.invoice("in_renewal", billing_reason="subscription_cycle")
    await deliver(client, app, f.event("invoice.paid", renewal, id="evt_ren", created=NOW + 2))
    orders = await storage.orders.list_for_customer(db, customer_id=f.CUSTOMER)
    assert [(o.key, o.checkout_session_id, o.invoice_id, o.amount_total) for o in orders] == [
        (f.SUBSCRIPTION, "cs_alice", "in_first", 9900)
    ]


async def test_first_invoice_without_checkout_is_an_order(
    client: httpx.AsyncClient, app: Starlette, db: Database
) -> None:
    """A subscription created through the API (no Checkout) gets its order from the first
    invoice, whether Stripe sends invoice.paid or the legacy invoice.payment_succeeded."""
    other = f.invoice("in_bob", subscription="sub_bob", customer="cus_bob", amount_paid=2900)
    await deliver(client, app, f.event("invoice.payment_succeeded", other, id="evt_ps"))
    await deliver(client, app, f.event("invoice.paid", other, id="evt_ps2"))
    order = await storage.orders.get(db, "sub_bob")
    assert order is not None
    assert (order.customer_id, order.invoice_id, order.amount_total) == ("cus_bob", "in_bob", 2900)
    assert len(await storage.orders.list_for_customer(db, customer_id="cus_bob")) == 1


async def test_catalog_follows_product_and_price_events(
    client: httpx.AsyncClient, app: Starlette, db: Database
) -> None:
    """product.* and price.* (and localstripe's plan.*) keep the catalog in sync, even when a
    price arrives before its product."""
    await deliver(client, app, f.event("price.created", f.price(), id="evt_pr1"))
    await deliver(client, app, f.event("product.created", f.product(), id="evt_pd1"))
    plan = {
        "id": "plan_legacy",
        "object": "plan",
        "amount": 1900,
        "currency": "usd",
        "interval": "month",
        "interval_count": 1,
        "product": f.PRODUCT,
        "active": True,
        "metadata": {},
    }
    await deliver(client, app, f.event("plan.created", plan, id="evt_pl1"))
    renamed = f.event("product.updated", f.product(name="Pro+"), id="evt_pd2", created=NOW + 1)
    await deliver(client, app, renamed)
    archived = f.price(active=False)
    await deliver(client, app, f.event("price.updated", archived, id="evt_pr2", created=NOW + 1))
    [product] = await storage.catalog.list_products(db)
    assert (product.id, product.name) == (f.PRODUCT, "Pro+")
    prices = {p.id: p for p in await storage.catalog.list_prices(db)}
    assert prices[f.MONTHLY].active is False
    assert (prices["plan_legacy"].unit_amount, prices["plan_legacy"].interval) == (1900, "month")


async def test_event_that_can_never_be_read_fails_at_once_not_crashing(
    client: httpx.AsyncClient, app: Starlette, db: Database
) -> None:
    """A handled type whose object lacks what the handler needs is `failed` at its first
    attempt, with the error (retrying cannot change the payload); the worker carries on with
    the next event."""
    broken = {"id": "sub_broken", "object": "subscription"}
    await deliver(client, app, f.event("customer.subscription.updated", broken, id="evt_bad"))
    await deliver(client, app, f.event("product.created", f.product(), id="evt_after"))
    stored = await store.get(db, "evt_bad")
    assert stored is not None
    assert (stored.status, stored.attempts) == ("failed", 1)
    assert stored.last_error is not None
    assert "customer" in stored.last_error
    assert await _status(db, "evt_after") == "processed"


async def test_expansion_is_credited_to_the_uplift_upgrade_that_caused_it(
    client: httpx.AsyncClient, app: Starlette, db: Database
) -> None:
    """An expansion to the price an Uplift upgrade moved to carries that upgrade and its offer;
    a later change nobody in Uplift made carries neither."""
    from plugin.billing import quotes
    from plugin.billing.catalog import Price
    from plugin.storage.quotes import SubscriptionState
    from plugin.storage.upgrades import NewUpgrade

    basic = f.price("price_basic", unit_amount=2900)
    await deliver(
        client, app,
        f.event("customer.subscription.created", f.subscription(price_obj=basic), id="evt_a0",
                created=NOW - 100),
    )  # fmt: skip
    quote = await quotes.create(
        db,
        customer_id=f.CUSTOMER,
        state=SubscriptionState(
            f.SUBSCRIPTION, "si_alice", "price_basic", 1, NOW - DAY, NOW + 29 * DAY
        ),
        current=quotes.Target(Price("price_basic", f.PRODUCT, "usd", 2900, "month"), "Basic"),
        target=quotes.Target(Price(f.MONTHLY, f.PRODUCT, "usd", 9900, "month"), "Pro"),
        to_quantity=1,
        now=NOW - 50,
        offer_id="offer_basic_to_pro",
        variant="control",
    )
    await storage.upgrades.claim(
        db,
        upgrade=NewUpgrade(
            id="up_1", quote_id=quote.id, idempotency_key="k", customer_id=f.CUSTOMER,
            offer_id="offer_basic_to_pro", variant="control", execution="uplift",
            subscription_id=f.SUBSCRIPTION, subscription_item_id="si_alice",
            from_price="price_basic", from_quantity=1, to_price=f.MONTHLY, to_quantity=1,
            currency="usd", amount_quoted=quote.amount_due_now, mrr_delta=7000,
            status="succeeded", effective_at=NOW - 50,
        ),
        now=NOW - 50,
    )  # fmt: skip
    await deliver(
        client, app,
        f.event("customer.subscription.updated", f.subscription(), id="evt_a1", created=NOW - 40),
    )  # fmt: skip
    await deliver(
        client, app,
        f.event("customer.subscription.updated", f.subscription(quantity=2), id="evt_a2",
                created=NOW - 30),
    )  # fmt: skip
    movements = await storage.mrr.list_movements(db, subscription_id=f.SUBSCRIPTION)
    assert [(m.kind, m.amount, m.upgrade_id, m.offer_id) for m in movements] == [
        ("new", 2900, None, None),
        ("expansion", 7000, "up_1", "offer_basic_to_pro"),
        ("expansion", 9900, None, None),  # a seat added elsewhere: the upgrade is credited once
    ]
