"""The widget's purchase path over HTTP, against the local Stripe: offer → quote → accept →
upgrade, charged exactly as quoted, once, and visible only to its own customer."""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import AsyncIterator
from fractions import Fraction
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from plugin.app import create_app
from plugin.billing.catalog import Product
from plugin.billing.mirror import MirrorItem, MirrorSubscription
from plugin.billing.proration import add_interval
from plugin.billing.stripe_gateway import StripeGateway
from plugin.clock import FixedClock
from plugin.settings import Settings
from plugin.storage import Database
from plugin.storage import catalog as catalog_store
from plugin.storage import subscriptions as subscription_store
from tests.factories import ADMIN, customer_headers
from tests.support import STRIPE_TEST_KEY, Subscribed, subscribed_customer

DAY = 86_400


@pytest.fixture
async def shop(
    settings: Settings,
    db: Database,
    gateway: StripeGateway,
    emulator_url: str,
    request: pytest.FixtureRequest,
) -> AsyncIterator[tuple[httpx.AsyncClient, Subscribed, FixedClock]]:
    """Acme (Stripe customer on Basic, in the emulator) near its storage limit, and an active
    Basic→Pro offer with no holdout. The app talks to the emulator; time is inside the period."""
    # The emulator is shared by the session: a customer of its own per test.
    name = "api-" + hashlib.sha256(request.node.nodeid.encode()).hexdigest()[:12]
    world = await subscribed_customer(gateway, name=name)
    clock = FixedClock(world.period_start + 10 * DAY + 1234)
    async with db.transaction() as conn:
        for price_id in (world.basic, world.pro, world.pro_annual):
            price = await gateway.retrieve_price(price_id)
            await catalog_store.upsert_product(
                conn, product=Product(price.product_id, "Plan"), now=clock.now()
            )
            await catalog_store.upsert_price(conn, price=price, now=clock.now())
        await subscription_store.upsert(
            conn,
            subscription=MirrorSubscription(
                id=world.subscription_id, customer_id=world.customer_id, status="active",
                currency="usd",
                items=(MirrorItem(world.item_id, world.basic, "prod_basic", 1, 2900, "usd",
                                  "month"),),
                current_period_start=world.period_start, current_period_end=world.period_end,
                trial_end=None, cancel_at_period_end=False, canceled_at=None,
            ),
            now=clock.now(),
        )  # fmt: skip
    app: Starlette = create_app(
        settings.model_copy(update={"stripe_api_base": emulator_url}), clock=clock
    )
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http,
    ):
        plans = {
            "plans": [
                {"id": "basic", "name": "Basic", "tier": 1, "prices": [world.basic],
                 "limits": {"storage_gb": 10}},
                {"id": "pro", "name": "Pro", "tier": 2, "prices": [world.pro, world.pro_annual],
                 "limits": {"storage_gb": 100}},
            ]
        }  # fmt: skip
        assert (await http.put("/api/v1/admin/plans", json=plans, headers=ADMIN)).status_code == 200
        await http.put(
            "/api/v1/customers/acme", json={"stripe_customer": world.customer_id}, headers=ADMIN
        )
        await http.post(
            "/api/v1/usage",
            json={"customer": "acme", "metric": "storage_gb", "value": 9},
            headers={**ADMIN, "Idempotency-Key": "seed"},
        )
        offer = {
            "id": "offer_basic_to_pro", "name": "Basic to Pro", "kind": "upgrade",
            "status": "active", "placements": ["storage_banner"], "target_prices": [world.pro],
            "targeting": {"all": [{"plan": {"in": ["basic"]}},
                                  {"usage": {"metric": "storage_gb", "at_least_percent": 80}}]},
            "variants": [{"key": "control", "copy": {"title": "Running out of space?"}}],
        }  # fmt: skip
        created = await http.post("/api/v1/admin/offers", json=offer, headers=ADMIN)
        assert created.status_code == 201, created.text
        yield http, world, clock


def _as(clock: FixedClock, customer: str = "acme") -> dict[str, str]:
    return customer_headers(customer, now=clock.now())


async def test_the_amount_shown_is_the_amount_charged_once(
    shop: tuple[httpx.AsyncClient, Subscribed, FixedClock], gateway: StripeGateway
) -> None:
    """Quote: credit for unused Basic and debit for the rest of the period on Pro, each rounded
    on its own; accept charges exactly that; a retried accept returns the same upgrade."""
    http, world, clock = shop
    offers = await http.get("/api/v1/widget/offers?placement=storage_banner", headers=_as(clock))
    assert [o["offer_id"] for o in offers.json()["data"]] == ["offer_basic_to_pro"]

    quoted = await http.post(
        "/api/v1/widget/quotes", json={"offer_id": "offer_basic_to_pro"}, headers=_as(clock)
    )
    assert quoted.status_code == 201, quoted.text
    quote = quoted.json()
    f = Fraction(world.period_end - clock.now(), world.period_end - world.period_start)
    expected = -round(2900 * f) + round(9900 * f)  # no ties at this t (checked by the engine)
    assert quote["amount_due_now"] == expected
    assert sorted(line["amount"] for line in quote["lines"]) == [-round(2900 * f), round(9900 * f)]
    assert quote["next_invoice_amount"] == 9900

    accept = {"quote_id": quote["quote_id"]}
    key = {**_as(clock), "Idempotency-Key": "click-1"}
    accepted = await http.post("/api/v1/widget/accept", json=accept, headers=key)
    assert accepted.status_code == 200, accepted.text
    upgrade = accepted.json()
    assert (upgrade["status"], upgrade["amount_paid"]) == ("succeeded", expected)
    [item] = (await gateway.retrieve_subscription(world.subscription_id)).items
    assert item.price_id == world.pro

    again = await http.post("/api/v1/widget/accept", json=accept, headers=key)
    assert again.json()["id"] == upgrade["id"]
    status = await http.get(f"/api/v1/widget/upgrades/{upgrade['id']}", headers=_as(clock))
    assert status.json()["status"] == "succeeded"

    results = (
        await http.get("/api/v1/admin/offers/offer_basic_to_pro/results", headers=ADMIN)
    ).json()
    control = results["arms"][0]
    assert (control["exposed"], control["accepted"], control["paid"]) == (1, 1, 1)
    assert control["revenue"] == {"usd": 7000}
    as_csv = await http.get(
        "/api/v1/admin/offers/offer_basic_to_pro/results",
        headers={**ADMIN, "Accept": "text/csv"},
    )
    assert as_csv.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(as_csv.text)))
    by_arm = {row["arm"]: row for row in rows}
    assert set(by_arm) == {arm["arm"] for arm in results["arms"]}
    assert (by_arm["control"]["paid"], by_arm["control"]["currency"]) == ("1", "usd")
    assert by_arm["control"]["revenue"] == "7000"
    assert float(by_arm["control"]["conversion_rate"]) == control["conversion_rate"]
    after = await http.get("/api/v1/widget/offers?placement=storage_banner", headers=_as(clock))
    assert after.json()["data"] == []  # accepted offers never show again


async def test_others_cannot_see_or_accept_it(
    shop: tuple[httpx.AsyncClient, Subscribed, FixedClock],
) -> None:
    """Another customer's token gets 404 for the quote and the upgrade; no key is a 400."""
    http, _, clock = shop
    quote = (
        await http.post(
            "/api/v1/widget/quotes", json={"offer_id": "offer_basic_to_pro"}, headers=_as(clock)
        )
    ).json()
    await http.put("/api/v1/customers/mallory", json={}, headers=ADMIN)
    stolen = await http.post(
        "/api/v1/widget/accept",
        json={"quote_id": quote["quote_id"]},
        headers={**_as(clock, "mallory"), "Idempotency-Key": "k"},
    )
    assert stolen.status_code == 404
    no_key = await http.post(
        "/api/v1/widget/accept", json={"quote_id": quote["quote_id"]}, headers=_as(clock)
    )
    assert no_key.status_code == 400
    accepted = await http.post(
        "/api/v1/widget/accept",
        json={"quote_id": quote["quote_id"]},
        headers={**_as(clock), "Idempotency-Key": "k2"},
    )
    peek = await http.get(
        f"/api/v1/widget/upgrades/{accepted.json()['id']}", headers=_as(clock, "mallory")
    )
    assert peek.status_code == 404


@pytest.mark.parametrize(
    ("change", "status", "code"),
    [
        ({"offer_id": "offer_nope"}, 404, "offer_not_found"),
        ({"kind": "retention"}, 422, "offer_not_quotable"),
        ({"usage": 1}, 409, "offer_unavailable"),
    ],
    ids=["unknown offer", "kind not quoted", "no longer targeted"],
)
async def test_quotes_only_for_offers_the_customer_may_take(
    shop: tuple[httpx.AsyncClient, Subscribed, FixedClock],
    change: dict[str, Any],
    status: int,
    code: str,
) -> None:
    """Unknown offers, offers of a kind that is not quoted, and offers the customer no longer
    qualifies for are refused before anything is asked of Stripe."""
    http, _, clock = shop
    offer_id = change.get("offer_id", "offer_basic_to_pro")
    if "kind" in change:
        await http.patch(
            "/api/v1/admin/offers/offer_basic_to_pro", json={"kind": change["kind"]}, headers=ADMIN
        )
    if "usage" in change:
        await http.post(
            "/api/v1/usage",
            json={"customer": "acme", "metric": "storage_gb", "value": change["usage"]},
            headers={**ADMIN, "Idempotency-Key": "less"},
        )
    response = await http.post(
        "/api/v1/widget/quotes", json={"offer_id": offer_id}, headers=_as(clock)
    )
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code
    if code == "offer_unavailable":
        # The end customer reads this: no rule, no metric, no plan ids (issue 23).
        assert response.json()["error"]["message"] == "This offer is no longer available."


async def test_admin_sees_the_upgrade_and_what_it_earned(
    shop: tuple[httpx.AsyncClient, Subscribed, FixedClock],
) -> None:
    """The accepted upgrade is listed for admins and counts in the period's metrics, attributed
    to its offer and variant."""
    http, world, clock = shop
    quote = (
        await http.post(
            "/api/v1/widget/quotes", json={"offer_id": "offer_basic_to_pro"}, headers=_as(clock)
        )
    ).json()
    upgrade = (
        await http.post(
            "/api/v1/widget/accept",
            json={"quote_id": quote["quote_id"]},
            headers={**_as(clock), "Idempotency-Key": "admin-view"},
        )
    ).json()
    listed = (await http.get("/api/v1/admin/upgrades?status=succeeded", headers=ADMIN)).json()
    assert [u["id"] for u in listed["data"]] == [upgrade["id"]]
    row = listed["data"][0]
    assert (row["customer"], row["from"]["price"], row["to"]["price"]) == (
        world.customer_id, world.basic, world.pro,
    )  # fmt: skip
    assert row["customer_id"] == "acme"  # the SaaS's own id, beside Stripe's
    assert row["amount_paid"] == quote["amount_due_now"]
    as_csv = await http.get("/api/v1/admin/upgrades", headers={**ADMIN, "Accept": "text/csv"})
    assert as_csv.headers["content-type"] == "text/csv; charset=utf-8"
    [header, line] = as_csv.text.splitlines()
    cells = dict(zip(header.split(","), line.split(","), strict=True))
    assert (cells["id"], cells["customer_id"], cells["stripe_customer"]) == (
        upgrade["id"], "acme", world.customer_id,
    )  # fmt: skip
    assert (cells["amount_paid"], cells["currency"]) == (str(quote["amount_due_now"]), "usd")
    assert cells["created"].endswith("Z")
    assert (await http.get("/api/v1/admin/upgrades?status=failed", headers=ADMIN)).json()[
        "data"
    ] == []

    period = f"from={clock.now() - DAY}&to={clock.now() + DAY}"
    report = (await http.get(f"/api/v1/admin/metrics?{period}", headers=ADMIN)).json()
    # Uplift's own figures count the upgrade it executed. The business family counts the MRR
    # ledger's movements, which come from Stripe's webhooks; none was delivered here.
    value = report["uplift"]["currencies"]["usd"]["average_upgrade_value"]
    assert (value["value"], value["numerator"], value["denominator"]) == (7000, 7000, 1)
    assert report["uplift"]["currencies"]["usd"]["upgrades"] == 1
    assert report["uplift"]["by_offer"] == report["by_offer"]
    assert report["by_offer"] == [
        {
            "offer_id": "offer_basic_to_pro",
            "variant": "control",
            "upgrades": 1,
            "expansion_mrr": {"usd": 7000},
        }
    ]


@pytest.mark.parametrize(
    ("query", "field"),
    [("from=yesterday", "from"), ("from=200&to=100", "from"), ("status=won", "status")],
)
async def test_bad_periods_and_filters_are_422(
    shop: tuple[httpx.AsyncClient, Subscribed, FixedClock], query: str, field: str
) -> None:
    """Unparseable or backwards periods and unknown statuses name their field."""
    http, _, _ = shop
    path = "/api/v1/admin/upgrades" if query.startswith("status") else "/api/v1/admin/metrics"
    response = await http.get(f"{path}?{query}", headers=ADMIN)
    assert response.status_code == 422
    assert response.json()["error"]["field"] == field


# Add-ons: cross-sell, post-order and bundle offers add items to the same subscription --------


async def _addon_offer(
    http: httpx.AsyncClient,
    gateway: StripeGateway,
    db: Database,
    clock: FixedClock,
    *,
    offer_id: str,
    kind: str,
    amounts: tuple[int, ...],
    discount: dict[str, int] | None = None,
    currency: str = "usd",
) -> list[str]:
    """Monthly add-on prices (in the emulator and Uplift's catalog) and an active offer of
    `kind` selling them to everyone (with `discount`, if given); returns the prices."""
    prices = []
    for amount in amounts:
        product = await gateway.create_product(
            {"name": f"Add-on {amount}"}, idempotency_key=f"test:{offer_id}:product:{amount}"
        )
        price = await gateway.create_price(
            {"product": product.id, "currency": currency, "unit_amount": amount,
             "recurring": {"interval": "month"}},
            idempotency_key=f"test:{offer_id}:price:{amount}:{currency}",
        )  # fmt: skip
        async with db.transaction() as conn:
            await catalog_store.upsert_product(conn, product=product, now=clock.now())
            await catalog_store.upsert_price(conn, price=price, now=clock.now())
        prices.append(price.id)
    offer: dict[str, Any] = {
        "id": offer_id, "name": offer_id, "kind": kind, "status": "active",
        "placements": ["billing"], "target_prices": prices,
        "variants": [{"key": "control", "copy": {"title": "Add it?"}}],
    }  # fmt: skip
    if discount is not None:
        offer["discount"] = discount
    created = await http.post("/api/v1/admin/offers", json=offer, headers=ADMIN)
    assert created.status_code == 201, created.text
    return prices


async def _paid_invoices(http: httpx.AsyncClient, customer_id: str, emulator_url: str) -> list[Any]:
    async with httpx.AsyncClient(
        base_url=emulator_url, headers={"Authorization": f"Bearer {STRIPE_TEST_KEY}"}
    ) as stripe_http:
        found = (await stripe_http.get("/v1/invoices", params={"customer": customer_id})).json()
    return [
        invoice
        for invoice in found["data"]
        if invoice["metadata"].get("uplift_quote") and invoice["status"] == "paid"
    ]


async def test_a_cross_sell_adds_the_item_for_exactly_the_amount_shown_once(
    shop: tuple[httpx.AsyncClient, Subscribed, FixedClock],
    gateway: StripeGateway,
    db: Database,
    emulator_url: str,
) -> None:
    """A cross-sell is quoted as the add-on's remaining time this period (one line, rounded
    as Stripe does); accepting it charges exactly that in one paid invoice and adds the price
    as a new item of the same subscription. A second accept (same or another key) charges
    nothing more; quoting it again is a 409; admins and metrics see a cross-sell."""
    http, world, clock = shop
    [addon] = await _addon_offer(
        http, gateway, db, clock, offer_id="offer_reports", kind="cross_sell", amounts=(1900,)
    )
    quoted = await http.post(
        "/api/v1/widget/quotes", json={"offer_id": "offer_reports"}, headers=_as(clock)
    )
    assert quoted.status_code == 201, quoted.text
    quote = quoted.json()
    f = Fraction(world.period_end - clock.now(), world.period_end - world.period_start)
    assert [(line["amount"], line["price"]) for line in quote["lines"]] == [
        (round(1900 * f), addon)
    ]
    assert quote["lines"][0]["description"].startswith("Remaining time on Add-on 1900 after ")
    assert (quote["amount_due_now"], quote["next_invoice_amount"]) == (round(1900 * f), 1900)
    assert (quote["kind"], quote["added"]) == ("add", [{"price": addon, "quantity": 1}])

    accept = {"quote_id": quote["quote_id"]}
    accepted = await http.post(
        "/api/v1/widget/accept", json=accept, headers={**_as(clock), "Idempotency-Key": "yes-1"}
    )
    assert accepted.status_code == 200, accepted.text
    upgrade = accepted.json()
    assert (upgrade["status"], upgrade["amount_paid"]) == ("succeeded", quote["amount_due_now"])
    [paid] = await _paid_invoices(http, world.customer_id, emulator_url)
    assert paid["amount_paid"] == quote["amount_due_now"]
    subscription = await gateway.retrieve_subscription(world.subscription_id)
    assert [i.price_id for i in subscription.items] == [world.basic, addon]
    assert subscription.items[0].id == world.item_id  # the plan item is untouched

    for key in ("yes-1", "yes-2"):
        again = await http.post(
            "/api/v1/widget/accept", json=accept, headers={**_as(clock), "Idempotency-Key": key}
        )
        assert again.json()["id"] == upgrade["id"]
    assert len(await _paid_invoices(http, world.customer_id, emulator_url)) == 1
    assert len((await gateway.retrieve_subscription(world.subscription_id)).items) == 2

    twice = await http.post(
        "/api/v1/widget/quotes", json={"offer_id": "offer_reports"}, headers=_as(clock)
    )
    assert (twice.status_code, twice.json()["error"]["code"]) in (
        (409, "addon_already_subscribed"),
        (409, "offer_unavailable"),  # accepted offers are not offered again
        (409, "offer_already_accepted"),  # nor quoted again
    )

    listed = (await http.get("/api/v1/admin/upgrades?offer=offer_reports", headers=ADMIN)).json()
    [row] = listed["data"]
    assert (row["id"], row["offer_id"], row["variant"], row["mrr_delta"]) == (
        upgrade["id"], "offer_reports", "control", 1900,
    )  # fmt: skip
    period = f"from={clock.now() - DAY}&to={clock.now() + DAY}"
    report = (await http.get(f"/api/v1/admin/metrics?{period}", headers=ADMIN)).json()
    usd = report["currencies"]["usd"]
    assert (usd["cross_sell_recurring"], usd["cross_sell_one_off"]) == (
        1900, quote["amount_due_now"],
    )  # fmt: skip


async def test_a_declined_cross_sell_adds_nothing(
    shop: tuple[httpx.AsyncClient, Subscribed, FixedClock],
    gateway: StripeGateway,
    db: Database,
    emulator_url: str,
) -> None:
    """A declined card fails the add-on: nothing paid, no item added."""
    http, world, clock = shop
    await _addon_offer(
        http, gateway, db, clock, offer_id="offer_support", kind="post_order", amounts=(4900,)
    )
    await gateway.set_default_payment_method(
        customer_id=world.customer_id,
        payment_method="pm_card_chargeCustomerFail",
        idempotency_key=f"test:{world.customer_id}:declining",
    )
    quote = (
        await http.post(
            "/api/v1/widget/quotes", json={"offer_id": "offer_support"}, headers=_as(clock)
        )
    ).json()
    accepted = await http.post(
        "/api/v1/widget/accept",
        json={"quote_id": quote["quote_id"]},
        headers={**_as(clock), "Idempotency-Key": "declined"},
    )
    assert accepted.json()["status"] == "failed", accepted.text
    assert await _paid_invoices(http, world.customer_id, emulator_url) == []
    [item] = (await gateway.retrieve_subscription(world.subscription_id)).items
    assert item.price_id == world.basic


async def test_a_bundle_is_one_quote_one_charge_and_every_item(
    shop: tuple[httpx.AsyncClient, Subscribed, FixedClock],
    gateway: StripeGateway,
    db: Database,
    emulator_url: str,
) -> None:
    """A bundle's prices are quoted together (a line each) and charged in one invoice; every
    price becomes an item of the same subscription. Another customer cannot accept it."""
    http, world, clock = shop
    prices = await _addon_offer(
        http, gateway, db, clock, offer_id="offer_bundle", kind="bundle", amounts=(1900, 1000)
    )
    quote = (
        await http.post(
            "/api/v1/widget/quotes", json={"offer_id": "offer_bundle"}, headers=_as(clock)
        )
    ).json()
    f = Fraction(world.period_end - clock.now(), world.period_end - world.period_start)
    assert sorted(line["amount"] for line in quote["lines"]) == [round(1000 * f), round(1900 * f)]
    assert quote["amount_due_now"] == round(1000 * f) + round(1900 * f)
    assert quote["next_invoice_amount"] == 2900

    await http.put("/api/v1/customers/mallory", json={}, headers=ADMIN)
    stolen = await http.post(
        "/api/v1/widget/accept",
        json={"quote_id": quote["quote_id"]},
        headers={**_as(clock, "mallory"), "Idempotency-Key": "steal"},
    )
    assert stolen.status_code == 404

    upgrade = (
        await http.post(
            "/api/v1/widget/accept",
            json={"quote_id": quote["quote_id"]},
            headers={**_as(clock), "Idempotency-Key": "bundle"},
        )
    ).json()
    assert (upgrade["status"], upgrade["amount_paid"]) == ("succeeded", quote["amount_due_now"])
    [paid] = await _paid_invoices(http, world.customer_id, emulator_url)
    assert paid["amount_paid"] == quote["amount_due_now"]
    items = (await gateway.retrieve_subscription(world.subscription_id)).items
    assert [i.price_id for i in items] == [world.basic, *prices]


async def test_a_post_order_offer_adds_an_add_on_but_changes_to_a_plan_of_the_ladder(
    shop: tuple[httpx.AsyncClient, Subscribed, FixedClock],
    gateway: StripeGateway,
    db: Database,
) -> None:
    """Post-order offers sell either: an add-on price is quoted as a new item (`add`), a price
    of the plan ladder (here annual Pro) as a plan change (`change`), like an upgrade."""
    http, world, clock = shop
    [addon] = await _addon_offer(
        http, gateway, db, clock, offer_id="offer_after_order", kind="post_order", amounts=(1900,)
    )
    annual = {
        "id": "offer_annual_after_order", "name": "Annual after an order", "kind": "post_order",
        "status": "active", "placements": ["post_order"], "target_prices": [world.pro_annual],
        "variants": [{"key": "control", "copy": {"title": "Go annual?"}}],
    }  # fmt: skip
    assert (await http.post("/api/v1/admin/offers", json=annual, headers=ADMIN)).status_code == 201
    kinds = {}
    for offer_id in ("offer_after_order", "offer_annual_after_order"):
        quoted = await http.post(
            "/api/v1/widget/quotes", json={"offer_id": offer_id}, headers=_as(clock)
        )
        assert quoted.status_code == 201, quoted.text
        quote = quoted.json()
        kinds[offer_id] = (quote["kind"], [line["price"] for line in quote["lines"]])
    assert kinds["offer_after_order"] == ("add", [addon])
    assert kinds["offer_annual_after_order"][0] == "change"
    assert world.pro_annual in kinds["offer_annual_after_order"][1]


# Offer discounts: the quote is discounted, charged as quoted, and the coupon covers renewals ---


def _half_up(x: Fraction) -> int:
    return int(x + Fraction(1, 2))


async def _item_discounts(emulator_url: str, subscription_id: str) -> dict[str, list[Any]]:
    """Each item's discounts as Stripe shows them expanded, with each discount's coupon."""
    async with httpx.AsyncClient(
        base_url=emulator_url, headers={"Authorization": f"Bearer {STRIPE_TEST_KEY}"}
    ) as stripe_http:
        sub = (
            await stripe_http.get(
                f"/v1/subscriptions/{subscription_id}",
                params={"expand[]": "items.data.discounts"},
            )
        ).json()
        found: dict[str, list[Any]] = {}
        for item in sub["items"]["data"]:
            found[item["price"]["id"]] = []
            for discount in item["discounts"]:
                coupon = discount["source"]["coupon"]
                if isinstance(coupon, str):
                    coupon = (await stripe_http.get(f"/v1/coupons/{coupon}")).json()
                found[item["price"]["id"]].append({**discount, "coupon": coupon})
    return found


async def test_a_discounted_cross_sell_is_charged_as_shown_and_its_renewals_discounted(
    shop: tuple[httpx.AsyncClient, Subscribed, FixedClock],
    gateway: StripeGateway,
    db: Database,
    emulator_url: str,
) -> None:
    """Advanced Reports at 30 % off for 3 months: the offer shows $13.30/mo, the quote
    charges the rest of this period at 30 % off and says the renewals cost $13.30 until the
    window ends, then $19.00; the paid invoice is exactly the quote, and the new item (only
    it) carries a 3-month repeating 30 % coupon, so Stripe bills the renewals as promised."""
    http, world, clock = shop
    [addon] = await _addon_offer(
        http, gateway, db, clock, offer_id="offer_reports_30", kind="cross_sell",
        amounts=(1900,), discount={"percent_off": 30, "duration_months": 3},
    )  # fmt: skip
    offers = (await http.get("/api/v1/widget/offers?placement=billing", headers=_as(clock))).json()
    [shown] = [o for o in offers["data"] if o["offer_id"] == "offer_reports_30"]
    assert (shown["prices"][0]["discounted_amount"], shown["prices"][0]["discount_months"]) == (
        1330, 3,
    )  # fmt: skip

    quoted = await http.post(
        "/api/v1/widget/quotes", json={"offer_id": "offer_reports_30"}, headers=_as(clock)
    )
    assert quoted.status_code == 201, quoted.text
    quote = quoted.json()
    f = Fraction(world.period_end - clock.now(), world.period_end - world.period_start)
    gross, off = _half_up(1900 * f), _half_up(1900 * f * Fraction(3, 10))
    assert [(line["amount"], line["discount_amount"]) for line in quote["lines"]] == [
        (gross - off, off)
    ]
    assert quote["amount_due_now"] == gross - off
    assert (quote["next_invoice_amount"], quote["recurring_amount"]) == (1330, 1900)
    assert quote["next_invoice_at"] == world.period_end
    assert quote["discount"] == {
        "percent_off": 30, "amount_off": None, "duration_months": 3,
        "ends_at": add_interval(clock.now(), "month", 3), "amount_off_now": off,
    }  # fmt: skip

    accepted = await http.post(
        "/api/v1/widget/accept",
        json={"quote_id": quote["quote_id"]},
        headers={**_as(clock), "Idempotency-Key": "discounted"},
    )
    assert accepted.json()["status"] == "succeeded", accepted.text
    [paid] = await _paid_invoices(http, world.customer_id, emulator_url)
    assert paid["amount_paid"] == quote["amount_due_now"] == accepted.json()["amount_paid"]

    discounts = await _item_discounts(emulator_url, world.subscription_id)
    assert discounts[world.basic] == []
    [discount] = discounts[addon]
    coupon = discount["coupon"]
    assert (coupon["percent_off"], coupon["duration"], coupon["duration_in_months"]) == (
        30, "repeating", 3,
    )  # fmt: skip
    assert coupon["id"] == f"uplift_{quote['quote_id']}"
    assert discount["end"] is not None


async def test_a_retention_discount_keeps_the_plan_and_charges_nothing_now(
    shop: tuple[httpx.AsyncClient, Subscribed, FixedClock],
    gateway: StripeGateway,
    emulator_url: str,
) -> None:
    """ "Stay and save 20 % for 3 months": quoted as the same plan at $23.20 instead of $29.00
    from the next renewal, nothing due now; accepting invoices nothing, keeps the plan, and
    puts the coupon on the plan item only."""
    http, world, clock = shop
    offer = {
        "id": "offer_stay", "name": "Stay", "kind": "retention", "status": "active",
        "placements": ["downgrade"], "discount": {"percent_off": 20, "duration_months": 3},
        "variants": [{"key": "control", "copy": {"title": "Before you go"}}],
    }  # fmt: skip
    created = await http.post("/api/v1/admin/offers", json=offer, headers=ADMIN)
    assert created.status_code == 201, created.text

    quoted = await http.post(
        "/api/v1/widget/quotes", json={"offer_id": "offer_stay"}, headers=_as(clock)
    )
    assert quoted.status_code == 201, quoted.text
    quote = quoted.json()
    assert (quote["lines"], quote["amount_due_now"]) == ([], 0)
    assert (quote["next_invoice_amount"], quote["recurring_amount"]) == (2320, 2900)
    assert quote["next_invoice_at"] == world.period_end

    accepted = await http.post(
        "/api/v1/widget/accept",
        json={"quote_id": quote["quote_id"]},
        headers={**_as(clock), "Idempotency-Key": "stay"},
    )
    assert (accepted.json()["status"], accepted.json()["amount_paid"]) == ("succeeded", 0)
    assert await _paid_invoices(http, world.customer_id, emulator_url) == []
    subscription = await gateway.retrieve_subscription(world.subscription_id)
    assert [(i.id, i.price_id) for i in subscription.items] == [(world.item_id, world.basic)]
    [discount] = (await _item_discounts(emulator_url, world.subscription_id))[world.basic]
    assert (discount["coupon"]["percent_off"], discount["coupon"]["duration_in_months"]) == (20, 3)


async def test_offers_in_another_currency_are_neither_shown_nor_quoted(
    shop: tuple[httpx.AsyncClient, Subscribed, FixedClock],
    gateway: StripeGateway,
    db: Database,
    emulator_url: str,
) -> None:
    """A USD subscriber sees and can quote the USD add-on but not the EUR one (409, nothing in
    Stripe); a EUR subscriber on the same plan sees the EUR add-on and neither USD offer."""
    http, world, clock = shop
    [usd] = await _addon_offer(
        http, gateway, db, clock, offer_id="offer_usd", kind="cross_sell", amounts=(1900,)
    )
    [eur] = await _addon_offer(
        http, gateway, db, clock, offer_id="offer_eur", kind="cross_sell", amounts=(1700,),
        currency="eur",
    )  # fmt: skip

    async def listed(customer: str) -> dict[str, list[str]]:
        found = {}
        for placement in ("billing", "storage_banner"):
            answer = await http.get(
                f"/api/v1/widget/offers?placement={placement}", headers=_as(clock, customer)
            )
            assert answer.status_code == 200, answer.text
            found[placement] = [o["offer_id"] for o in answer.json()["data"]]
            shown = [p for o in answer.json()["data"] for p in o.get("prices", [])]
            assert {p["currency"] for p in shown} <= {"usd" if customer == "acme" else "eur"}
        return found

    assert await listed("acme") == {
        "billing": ["offer_usd"],
        "storage_banner": ["offer_basic_to_pro"],
    }
    refused = await http.post(
        "/api/v1/widget/quotes", json={"offer_id": "offer_eur"}, headers=_as(clock)
    )
    assert (refused.status_code, refused.json()["error"]["code"]) == (409, "offer_unavailable")
    ok = await http.post(
        "/api/v1/widget/quotes", json={"offer_id": "offer_usd"}, headers=_as(clock)
    )
    assert ok.status_code == 201, ok.text
    assert (ok.json()["currency"], ok.json()["added"][0]["price"]) == ("usd", usd)
    assert await _paid_invoices(http, world.customer_id, emulator_url) == []

    # A customer on Basic billed in EUR.
    euro = await gateway.create_customer({"name": "euro"}, idempotency_key=f"{eur}:euro")
    basic_eur = await gateway.create_price(
        {"product": (await gateway.retrieve_price(world.basic)).product_id, "currency": "eur",
         "unit_amount": 2700, "recurring": {"interval": "month"}},
        idempotency_key=f"{eur}:basic-eur",
    )  # fmt: skip
    async with db.transaction() as conn:
        await catalog_store.upsert_price(conn, price=basic_eur, now=clock.now())
        await subscription_store.upsert(
            conn,
            subscription=MirrorSubscription(
                id="sub_euro", customer_id=euro.id, status="active", currency="eur",
                items=(MirrorItem("si_euro", basic_eur.id, "prod_basic", 1, 2700, "eur",
                                  "month"),),
                current_period_start=world.period_start, current_period_end=world.period_end,
                trial_end=None, cancel_at_period_end=False, canceled_at=None,
            ),
            now=clock.now(),
        )  # fmt: skip
    plans = {
        "plans": [
            {"id": "basic", "name": "Basic", "tier": 1, "prices": [world.basic, basic_eur.id],
             "limits": {"storage_gb": 10}},
            {"id": "pro", "name": "Pro", "tier": 2, "prices": [world.pro, world.pro_annual],
             "limits": {"storage_gb": 100}},
        ]
    }  # fmt: skip
    assert (await http.put("/api/v1/admin/plans", json=plans, headers=ADMIN)).status_code == 200
    await http.put("/api/v1/customers/euro", json={"stripe_customer": euro.id}, headers=ADMIN)
    await http.post(
        "/api/v1/usage",
        json={"customer": "euro", "metric": "storage_gb", "value": 9},
        headers={**ADMIN, "Idempotency-Key": "seed-euro"},
    )
    assert await listed("euro") == {"billing": ["offer_eur"], "storage_banner": []}
    for offer_id in ("offer_usd", "offer_basic_to_pro"):
        refused = await http.post(
            "/api/v1/widget/quotes", json={"offer_id": offer_id}, headers=_as(clock, "euro")
        )
        assert (refused.status_code, refused.json()["error"]["code"]) == (409, "offer_unavailable")
