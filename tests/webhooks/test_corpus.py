"""Every payload shape in tests/webhooks/corpus/ (API versions 2014 to 2026-10-28.endive, every
event type `dispatch.HANDLERS` names) goes through `parse_event` and its handler against a real
database and leaves the outcome its case expects; the unreadable ones raise `EventError`."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest

from plugin import storage
from plugin.billing.catalog import Price, Product, Tier
from plugin.billing.stripe_gateway import StripeGateway
from plugin.storage import Database
from plugin.webhooks import dispatch
from plugin.webhooks.events import (
    EventError,
    InvoiceObject,
    SubscriptionObject,
    parse_event,
    parse_object,
)
from plugin.webhooks.handlers import Context
from plugin.webhooks.snapshots import mirror_of
from tests.support import NOW, STRIPE_TEST_KEY, free_port
from tests.webhooks import corpus
from tests.webhooks.corpus import CatalogPrice, CatalogProduct, Mirror, Order, Refused
from tests.webhooks.factories import body

CASES = corpus.all_cases()


@pytest.fixture
async def gateway() -> AsyncIterator[StripeGateway]:
    """A real gateway that nothing answers: the invoice handlers take one, and for invoices no
    Uplift upgrade is waiting on they never call it (a call would fail the test)."""
    unreachable = StripeGateway(
        api_key=STRIPE_TEST_KEY, api_base=f"http://127.0.0.1:{free_port()}", max_retries=0
    )
    try:
        yield unreachable
    finally:
        await unreachable.close()


async def _process(ctx: Context, case: corpus.Case) -> None:
    event = parse_event(body(case.document))
    await dispatch.HANDLERS[event.type](ctx, event)


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
async def test_every_corpus_payload_is_processed_as_its_shape_says(
    case: corpus.Case, db: Database, gateway: StripeGateway
) -> None:
    """Each fixture parses and its handler leaves the mirror row, MRR, catalog row or order its
    case names; a payload that can never be read raises EventError (`unexpected_object`)."""
    # Subscription events run without a Stripe key: a tiered price whose tiers the payload
    # lacks stays unpriced (MRR 0) instead of being read from Stripe.
    subscription = str(case.document["type"]).startswith("customer.subscription.")
    ctx = Context(db=db, gateway=None if subscription else gateway, now=NOW)
    expect = case.expect
    if isinstance(expect, Refused):
        with pytest.raises(EventError) as refused:
            await _process(ctx, case)
        assert refused.value.code == expect.code
        assert expect.says in str(refused.value)
        return
    await _process(ctx, case)
    obj = case.document["data"]["object"]
    if isinstance(expect, Mirror):
        mirrored = await storage.subscriptions.get(db, obj["id"])
        assert mirrored is not None
        assert (mirrored.status, mirrored.mrr(), mirrored.currency) == (
            expect.status,
            expect.mrr,
            expect.currency,
        )
        assert tuple(item.id for item in mirrored.items) == tuple(sorted(expect.items))
        if expect.products is not None:
            assert tuple(item.product_id for item in mirrored.items) == expect.products
        if expect.period is not None:
            assert (mirrored.current_period_start, mirrored.current_period_end) == expect.period
        async with db.read() as conn:
            stored_mrr = await conn.fetch_value(
                "SELECT mrr FROM subscriptions WHERE id = :id", {"id": obj["id"]}
            )
        assert stored_mrr == expect.mrr
    elif isinstance(expect, CatalogPrice):
        price = await storage.catalog.get_price(db, expect.id)
        assert price is not None
        assert (
            price.product_id,
            price.unit_amount,
            price.billing_scheme,
            None if price.tiers is None else len(price.tiers),
            price.usage_type,
            price.active,
        ) == (
            expect.product_id,
            expect.unit_amount,
            expect.billing_scheme,
            expect.tiers,
            expect.usage_type,
            expect.active,
        )
        monthly = price.monthly_amount()
        assert (monthly.amount if monthly else None) == expect.monthly
    elif isinstance(expect, CatalogProduct):
        products = {p.id: p for p in await storage.catalog.list_products(db)}
        assert (products[expect.id].name, products[expect.id].active) == (
            expect.name,
            expect.active,
        )
    else:
        assert isinstance(expect, Order)
        if obj["object"] == "invoice":
            event = parse_event(body(case.document))
            assert parse_object(InvoiceObject, event).subscription_id == expect.subscription_id
        if expect.key is None:
            assert await storage.orders.list_for_customer(db, customer_id=corpus.CUSTOMER) == []
        else:
            order = await storage.orders.get(db, expect.key)
            assert order is not None
            assert order.amount_total == expect.amount_total


def test_corpus_covers_every_handled_type_in_every_claimed_version() -> None:
    """The corpus has, for each API version it claims, a subscription payload, and across
    versions every event type Uplift handles; and the tricky shapes are all there."""
    versions = {case.version for case in CASES}
    assert {
        "2016-07-06", "2017-08-15", "2018-02-28", "2019-12-03", "2020-08-27", "2022-08-01",
        "2022-11-15", "2023-10-16", "2024-06-20", "2024-09-30.acacia", "2025-03-31.basil",
        "2025-09-30.clover", "2026-10-28.endive",
    } <= versions  # fmt: skip
    for version in versions:
        assert any(
            c.type.startswith("customer.subscription.") for c in CASES if c.version == version
        )
    assert {case.type for case in CASES} == set(dispatch.HANDLERS)
    tags = set().union(*(case.tags for case in CASES))
    assert {
        "null-plan-product", "no-items", "metered", "tiered", "graduated", "volume",
        "multiple-items", "yearly", "expanded", "trialing", "past_due", "canceled",
        "transform_quantity", "item-period", "invoice-parent", "unparseable",
    } <= tags  # fmt: skip


async def test_tiers_and_products_the_payload_lacks_come_from_the_catalog(db: Database) -> None:
    """A tiered item whose payload carries no tiers, and a legacy plan without a product, are
    completed from the catalog when the event is handled: the mirror's MRR counts the tiers."""
    volume = next(
        c for c in CASES if c.id == "2025-03-31.basil-subscription-volume-without-tiers-past-due"
    )
    legacy = next(c for c in CASES if c.id == "2016-07-06-subscription-created")
    tiers = (
        Tier(up_to=2, unit_amount=Decimal(1000)),
        Tier(up_to=None, unit_amount=Decimal("700.5")),
    )
    async with db.transaction() as conn:
        await storage.catalog.upsert_product(conn, product=storage_product("prod_2020"), now=NOW)
        await storage.catalog.upsert_product(conn, product=storage_product("prod_silver"), now=NOW)
        await storage.catalog.upsert_price(
            conn,
            price=Price(id="price_vol_basil", product_id="prod_2020", currency="usd",
                        unit_amount=None, interval="month", billing_scheme="tiered",
                        tiers_mode="volume", tiers=tiers),
            now=NOW,
        )  # fmt: skip
        await storage.catalog.upsert_price(
            conn,
            price=Price(id="silver", product_id="prod_silver", currency="usd", unit_amount=2000,
                        interval="month"),
            now=NOW,
        )  # fmt: skip
    for case, mrr, product in ((volume, 2102, "prod_2020"), (legacy, 2000, "prod_silver")):
        event = parse_event(body(case.document))
        snapshot = mirror_of(parse_object(SubscriptionObject, event))
        assert snapshot.items[0].product_id != product or snapshot.mrr() != mrr
        await _process(Context(db=db, gateway=None, now=NOW), case)
        mirrored = await storage.subscriptions.get(db, snapshot.id)
        assert mirrored is not None
        # 3 units, all at the second tier's 700.5: 2101.5 rounds half up
        assert (mirrored.mrr(), mirrored.items[0].product_id) == (mrr, product)
        movements = await storage.mrr.list_movements(db, subscription_id=snapshot.id)
        assert sum(m.amount for m in movements) == mrr


def storage_product(product_id: str) -> Product:
    return Product(id=product_id, name=product_id)


async def test_a_tiers_less_price_snapshot_keeps_the_tiers_the_catalog_knows(db: Database) -> None:
    """price.updated without `tiers` (Stripe sends them only expanded) does not erase them."""
    tiers = (Tier(up_to=None, unit_amount=Decimal("12.5")),)
    known = Price(
        id="price_t", product_id="prod_t", currency="usd", unit_amount=None, interval="month",
        billing_scheme="tiered", tiers_mode="graduated", tiers=tiers,
    )  # fmt: skip
    async with db.transaction() as conn:
        await storage.catalog.upsert_product(conn, product=storage_product("prod_t"), now=NOW)
        await storage.catalog.upsert_price(conn, price=known, now=NOW)
        await storage.catalog.upsert_price(
            conn, price=dataclasses.replace(known, tiers=None, lookup_key="t"), now=NOW
        )
    stored = await storage.catalog.get_price(db, "price_t")
    assert stored is not None
    assert (stored.tiers, stored.lookup_key) == (tiers, "t")
