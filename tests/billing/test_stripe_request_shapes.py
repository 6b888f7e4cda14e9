"""Every request the gateway sends, checked against Stripe's request schemas for the pinned API
version, not against what the emulator happens to accept.

A recording proxy (tests/stripe_proxy.py) sits between `StripeGateway(api_base=proxy.url)` and
the emulator; each test drives the gateway (directly with the parameters Uplift builds, or
through a real accept flow of plugin/billing/upgrades.py), then every recorded request is
decoded from Stripe's form encoding and validated against tests/data/stripe-spec/
operations.json: known parameters only, types and enums, required ones present, and Stripe's
pending-update restrictions when `payment_behavior=pending_if_incomplete`. Each request must
also carry the pinned `Stripe-Version`, and each POST an idempotency key.
"""

from __future__ import annotations

import functools
import inspect
import secrets
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from plugin.billing import catalog_sync, quotes, quoting, upgrades
from plugin.billing.stripe_gateway import StripeGateway, item_switch_params
from plugin.demo.run import DEMO_CATALOG
from plugin.offers.model import Discount
from plugin.storage import Database
from tests.stripe_proxy import (
    Recorded,
    RecordingProxy,
    decode_form,
    load_spec,
    operation_for,
    validate,
    validate_recorded,
)
from tests.support import STRIPE_TEST_KEY, Subscribed, pay_with_3ds, subscribed_customer

if TYPE_CHECKING:
    import httpx

    from localstripe_bridge.process import EmulatorProcess

DAY = 86400
SPEC = load_spec()
PINNED_VERSION = "2026-10-28.endive"

# Which public StripeGateway methods the tests below called (filled by `_track`).
EXERCISED: set[str] = set()
PUBLIC_METHODS = sorted(
    name
    for name, member in vars(StripeGateway).items()
    if not name.startswith("_") and inspect.isfunction(member)
)


@pytest.fixture(scope="module")
def proxy(emulator: EmulatorProcess) -> Iterator[RecordingProxy]:
    recorder = RecordingProxy(upstream=emulator.url).start()
    try:
        yield recorder
    finally:
        recorder.stop()


def _track(gateway: StripeGateway) -> None:
    """Note each public method's name in EXERCISED when it is called on this instance."""
    for name in PUBLIC_METHODS:
        method = getattr(gateway, name)
        if inspect.isasyncgenfunction(method):

            @functools.wraps(method)
            def generator(*args: Any, _m: Any = method, _n: str = name, **kw: Any) -> Any:
                EXERCISED.add(_n)
                return _m(*args, **kw)

            setattr(gateway, name, generator)
        else:

            @functools.wraps(method)
            async def coroutine(*args: Any, _m: Any = method, _n: str = name, **kw: Any) -> Any:
                EXERCISED.add(_n)
                return await _m(*args, **kw)

            setattr(gateway, name, coroutine)


@dataclass
class Recording:
    gateway: StripeGateway
    proxy: RecordingProxy
    mark: int

    def requests(self) -> list[Recorded]:
        return self.proxy.since(self.mark)

    def operations(self) -> set[str]:
        return {operation_for(SPEC, r.method, r.path) or r.path for r in self.requests()}

    def problems(self) -> list[str]:
        found = []
        for record in self.requests():
            found += [f"{p}\n    request: {record}" for p in validate_recorded(SPEC, record)]
            version = record.headers.get("stripe-version")
            if version != PINNED_VERSION:
                found.append(f"Stripe-Version {version!r}, not {PINNED_VERSION}: {record}")
            if record.method == "POST" and not record.headers.get("idempotency-key"):
                found.append(f"a POST without an idempotency key: {record}")
            # 402 is a card that was declined or needs 3-D Secure: the request was accepted.
            accepted = 200 <= record.status < 300 or record.status == 402
            if not (accepted or (record.method, record.status) == ("DELETE", 404)):
                found.append(f"answered {record.status}: {record}")
        return found

    def assert_valid(self, *expected: str) -> None:
        """No problem in any request since the mark, and each `expected` operation was sent."""
        assert self.requests(), "nothing was recorded"
        missing = set(expected) - self.operations()
        assert not missing, f"never sent: {sorted(missing)}"
        problems = self.problems()
        assert not problems, "\n".join(problems)


@pytest.fixture
async def recording(proxy: RecordingProxy) -> AsyncIterator[Recording]:
    gateway = StripeGateway(api_key=STRIPE_TEST_KEY, api_base=proxy.url, max_retries=0)
    _track(gateway)
    try:
        yield Recording(gateway, proxy, proxy.mark())
    finally:
        await gateway.close()


def _name(label: str) -> str:
    """Keys of the session-wide emulator stay unique however often this module runs."""
    return f"shapes-{label}-{secrets.token_hex(4)}"


async def _addon_price(gateway: StripeGateway, name: str, amount: int = 1900) -> str:
    product = await gateway.create_product(
        {"name": f"Advanced Reports {name}"}, idempotency_key=f"test:{name}:addon-product"
    )
    price = await gateway.create_price(
        {
            "product": product.id,
            "currency": "usd",
            "unit_amount": amount,
            "recurring": {"interval": "month"},
        },
        idempotency_key=f"test:{name}:addon-price",
    )
    return price.id


async def _accept(
    db: Database, gateway: StripeGateway, world: Subscribed, quote: quotes.QuoteRecord, now: int
) -> upgrades.UpgradeRecord:
    return await upgrades.accept(
        db,
        gateway,
        quote_id=quote.id,
        customer_id=world.customer_id,
        idempotency_key=f"idem-{quote.id}",
        now=now,
    )


async def _plan_quote(
    db: Database, gateway: StripeGateway, world: Subscribed, *, now: int, **kw: Any
) -> quotes.QuoteRecord:
    return await quoting.quote(
        db,
        gateway,
        customer_id=world.customer_id,
        subscription_id=world.subscription_id,
        to_price=kw.pop("to_price", world.pro),
        to_quantity=kw.pop("to_quantity", 1),
        now=now,
        **kw,
    )


# The validator itself ---------------------------------------------------------------------


def test_form_decoding_nests_items_lists_and_metadata() -> None:
    assert decode_form(
        "items[0][id]=si_1&items[0][price]=price_2&expand[]=a&expand[]=b"
        "&metadata[k]=v&metadata[empty]=&proration_date=17"
    ) == {
        "items": {"0": {"id": "si_1", "price": "price_2"}},
        "expand": {"0": "a", "1": "b"},
        "metadata": {"k": "v", "empty": ""},
        "proration_date": "17",
    }


BAD_SHAPES = [
    pytest.param(
        "POST",
        "/v1/subscriptions/sub_1",
        "items[0][id]=si_1&items[0][price]=price_2&items[0][discounts][0][coupon]=c"
        "&proration_behavior=always_invoice&payment_behavior=pending_if_incomplete",
        "items[0][discounts]: not allowed with payment_behavior=pending_if_incomplete",
        id="item-discounts-with-pending-update",
    ),
    pytest.param(
        "POST",
        "/v1/subscriptions/sub_1",
        "items[0][id]=si_1&items[0][price]=p&metadata[a]=b&payment_behavior=pending_if_incomplete",
        "metadata: not allowed with payment_behavior=pending_if_incomplete",
        id="metadata-with-pending-update",
    ),
    pytest.param(
        "POST",
        "/v1/subscription_items",
        "subscription=sub_1&price=p&discounts[0][coupon]=c&payment_behavior=pending_if_incomplete",
        "discounts: not allowed with payment_behavior=pending_if_incomplete",
        id="subscription-item-discounts-with-pending-update",
    ),
    pytest.param(
        "POST",
        "/v1/subscriptions/sub_1",
        "items[0][id]=si_1&coupon=c",
        "coupon: unknown parameter",
        id="unknown-parameter",
    ),
    pytest.param(
        "POST",
        "/v1/subscriptions/sub_1",
        "items[0][id]=si_1&items[0][prise]=p",
        "items[0][prise]: unknown parameter",
        id="unknown-nested-parameter",
    ),
    pytest.param(
        "POST",
        "/v1/subscriptions/sub_1",
        "items[0][id]=si_1&proration_behavior=always",
        "proration_behavior: 'always' is not one of",
        id="bad-enum",
    ),
    pytest.param(
        "POST",
        "/v1/coupons",
        "duration=once&percent_off=thirty",
        "percent_off: 'thirty' is not a number",
        id="bad-number",
    ),
    pytest.param(
        "POST",
        "/v1/invoices/in_1/pay",
        "off_session=yes",
        "off_session: 'yes' is not a boolean",
        id="bad-boolean",
    ),
    pytest.param(
        "POST",
        "/v1/coupons",
        "duration=once&percent_off=10&name=" + "x" * 41,
        "name: 41 characters, more than 40",
        id="too-long",
    ),
    pytest.param(
        "POST",
        "/v1/subscription_items",
        "price=price_1",
        "subscription: required, missing",
        id="required-missing",
    ),
    pytest.param(
        "POST",
        "/v1/invoiceitems",
        "customer=cus_1&period[start]=1",
        "period[end]: required, missing",
        id="nested-required-missing",
    ),
    pytest.param(
        "POST",
        "/v1/subscriptions",
        "customer=cus_1&items[1][price]=p",
        "items: expected a list",
        id="list-with-a-gap",
    ),
    pytest.param(
        "POST",
        "/v1/refunds",
        "charge=ch_1",
        "not an operation",
        id="operation-not-in-the-spec-file",
    ),
]


@pytest.mark.parametrize(("method", "path", "body", "expected"), BAD_SHAPES)
def test_the_validator_rejects_known_bad_shapes(
    method: str, path: str, body: str, expected: str
) -> None:
    """It cannot pass vacuously: each known-bad request is refused, with the reason."""
    problems = validate(SPEC, method, path, decode_form(body))
    assert any(expected in p for p in problems), problems


def test_the_validator_accepts_the_documented_pending_update() -> None:
    body = (
        "items[0][id]=si_1&items[0][price]=price_2&items[0][quantity]=1&proration_date=17"
        "&proration_behavior=always_invoice&payment_behavior=pending_if_incomplete"
        "&expand[0]=latest_invoice"
    )
    assert validate(SPEC, "POST", "/v1/subscriptions/sub_1", decode_form(body)) == []


def test_the_spec_file_is_for_the_pinned_version() -> None:
    import stripe  # noqa: TID251 -- reads the pinned version only

    assert SPEC["source"]["version"] == stripe.api_version == PINNED_VERSION
    assert "pending_if_incomplete" in str(
        SPEC["operations"]["POST /v1/subscriptions/{subscription_exposed_id}"]["properties"][
            "payment_behavior"
        ]
    )


def _without_max_length(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _without_max_length(v) for k, v in node.items() if k != "maxLength"}
    if isinstance(node, list):
        return [_without_max_length(v) for v in node]
    return node


def test_the_spec_file_matches_the_installed_stripe_python() -> None:
    """operations.json is what extract.py makes of the installed stripe-python's parameter
    types (its maxLength comes from the OpenAPI spec, README.md): a stripe upgrade that
    changes a shape fails here until the file is regenerated."""
    import importlib.util

    import stripe  # noqa: TID251 -- locates the installed package's params only

    path = Path(__file__).parents[1] / "data" / "stripe-spec" / "extract.py"
    spec = importlib.util.spec_from_file_location("stripe_spec_extract", path)
    assert spec is not None
    assert spec.loader is not None
    extract = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(extract)
    fresh = extract.from_sdk(Path(stripe.__file__).parent / "params")
    assert fresh == _without_max_length(SPEC["operations"])
    assert SPEC["pending_updates"] == extract.PENDING_UPDATES


# Each gateway method with the parameters Uplift builds ---------------------------------------


async def test_setup_calls_match_the_spec(recording: Recording) -> None:
    """What tests/support.py and plugin/demo set up through the gateway: customers, cards,
    products, prices, subscriptions, the webhook endpoint; and the reads of quoting.py."""
    gateway = recording.gateway
    name = _name("setup")
    world = await subscribed_customer(gateway, name=name, quantity=2)
    # plugin/demo/run.py and simulate.py
    customer = await gateway.create_customer(
        {"email": f"{name}@example.com", "name": name, "metadata": {"uplift_id": name}},
        idempotency_key=f"{name}:demo-customer",
    )
    await gateway.set_default_payment_method(
        customer_id=customer.id, payment_method="pm_card_visa", idempotency_key=f"{name}:visa"
    )
    item = DEMO_CATALOG[0]
    product = await gateway.create_product(
        {"name": item.name, "metadata": {"uplift_key": item.key, **item.metadata}},
        idempotency_key=f"{name}:demo-product",
    )
    price = await gateway.create_price(
        {
            "product": product.id,
            "currency": "usd",
            "unit_amount": item.monthly,
            "recurring": {"interval": "month"},
            "lookup_key": f"{name}_{item.key}_monthly",
        },
        idempotency_key=f"{name}:demo-price",
    )
    await gateway.create_subscription(
        {"customer": customer.id, "items": [{"price": price.id}]},
        idempotency_key=f"{name}:demo-subscription",
    )
    endpoint = await gateway.create_webhook_endpoint(
        {"url": "http://127.0.0.1:9/webhooks/stripe", "enabled_events": ["*"]},
        idempotency_key=f"{name}:webhook-endpoint",
    )
    assert endpoint.secret
    # plugin/billing/quoting.py's reads
    await gateway.retrieve_subscription(world.subscription_id)
    await gateway.retrieve_customer(world.customer_id)
    pro = await gateway.retrieve_price(world.pro)
    await gateway.retrieve_product(pro.product_id)

    recording.assert_valid(
        "POST /v1/customers",
        "POST /v1/payment_methods/{payment_method}/attach",
        "POST /v1/customers/{customer}",
        "POST /v1/products",
        "POST /v1/prices",
        "POST /v1/subscriptions",
        "POST /v1/webhook_endpoints",
        "GET /v1/subscriptions/{subscription_exposed_id}",
        "GET /v1/customers/{customer}",
        "GET /v1/prices/{price}",
        "GET /v1/products/{id}",
    )


async def test_catalog_sync_lists_match_the_spec(recording: Recording, db: Database) -> None:
    """plugin/billing/catalog_sync.py pages through every product and price (the emulator holds
    the whole session's, so the `starting_after` pages are sent too)."""
    products, prices = await catalog_sync.sync_catalog(db, recording.gateway, now=0)
    assert products
    assert prices
    recording.assert_valid("GET /v1/products", "GET /v1/prices")


async def test_import_reads_match_the_spec(recording: Recording) -> None:
    """The lists `uplift import` pages through (plugin/billing/importer.py): a customer's
    subscriptions of every status, a subscription's items, its invoices and an invoice's lines,
    first pages and `starting_after` pages."""
    gateway = recording.gateway
    world = await subscribed_customer(gateway, name=_name("import-reads"))
    subscriptions = await gateway.list_subscriptions(customer=world.customer_id, limit=1)
    assert [s.id for s in subscriptions.data] == [world.subscription_id]
    await gateway.list_subscriptions(starting_after=world.subscription_id, limit=2)
    items = await gateway.list_subscription_items(world.subscription_id, limit=1)
    await gateway.list_subscription_items(
        world.subscription_id, limit=1, starting_after=items.data[0].id
    )
    invoices = await gateway.list_invoices(subscription=world.subscription_id, limit=1)
    assert invoices.data
    lines = await gateway.list_invoice_lines(invoices.data[0].id, limit=1)
    assert lines.data
    recording.assert_valid(
        "GET /v1/subscriptions",
        "GET /v1/subscription_items",
        "GET /v1/invoices",
        "GET /v1/invoices/{invoice}/lines",
    )


async def test_direct_writes_match_the_spec(recording: Recording) -> None:
    """The writes of plugin/billing/upgrades.py, called directly with the parameters it
    builds: coupons (percent and amount, once and repeating), invoice items and an invoice,
    finalize, pay, delete, an item switch with a coupon, an added item with a coupon."""
    gateway = recording.gateway
    name = _name("direct")
    world = await subscribed_customer(gateway, name=name)
    repeating = await gateway.create_coupon(
        coupon_id=f"uplift_{name}_r",
        name="30 % off for 3 months",
        percent_off=30,
        amount_off=None,
        currency="usd",
        duration_in_months=3,
        metadata={"uplift_quote": name, "uplift_offer": "offer"},
        idempotency_key=f"{name}:coupon-r",
    )
    await gateway.create_coupon(
        coupon_id=f"uplift_{name}_o",
        name="$10.00 off once",
        percent_off=None,
        amount_off=1000,
        currency="usd",
        duration_in_months=None,
        metadata={"uplift_quote": name, "uplift_offer": ""},
        idempotency_key=f"{name}:coupon-o",
    )
    lines = [(1000, "Remaining time on Pro"), (-300, "Unused time on Basic")]
    items = [
        await gateway.create_invoice_item(
            {
                "customer": world.customer_id,
                "subscription": world.subscription_id,
                "amount": amount,
                "currency": "usd",
                "description": description,
                "period": {"start": world.period_start + DAY, "end": world.period_end},
                "metadata": {"uplift_quote": name, "uplift_line": str(index)},
            },
            idempotency_key=f"{name}:item:{index}",
        )
        for index, (amount, description) in enumerate(lines)
    ]
    draft = await gateway.create_invoice(
        {
            "customer": world.customer_id,
            "subscription": world.subscription_id,
            "pending_invoice_items_behavior": "include",
            "auto_advance": False,
            "collection_method": "charge_automatically",
            "description": "Plan change",
            "metadata": {"uplift_quote": name, "uplift_upgrade": "upg_1"},
        },
        idempotency_key=f"{name}:invoice",
    )
    await gateway.retrieve_invoice(draft.id)
    invoice = await gateway.finalize_invoice(draft.id, idempotency_key=f"{name}:finalize")
    if invoice.status != "paid":
        await gateway.pay_invoice(invoice.id, idempotency_key=f"{name}:pay")
    # A pending item taken back out, as upgrades.py does when the draft is not the quote.
    stray = await gateway.create_invoice_item(
        {"customer": world.customer_id, "amount": 100, "currency": "usd"},
        idempotency_key=f"{name}:stray",
    )
    await gateway.delete_invoice_item(stray.id)
    await gateway.delete_invoice_item(stray.id)  # a second delete is a 404, reported as done
    assert items
    # The item switch after payment (no prorations of Stripe's), with the offer's coupon.
    await gateway.update_subscription(
        world.subscription_id,
        item_switch_params(item_id=world.item_id, price=world.pro, quantity=1),
        idempotency_key=f"{name}:switch",
        coupon=repeating.id,
    )
    addon = await _addon_price(gateway, name)
    await gateway.create_subscription_item(
        {
            "subscription": world.subscription_id,
            "price": addon,
            "quantity": 1,
            "proration_behavior": "none",
            "metadata": {"uplift_quote": name, "uplift_upgrade": "upg_1"},
        },
        idempotency_key=f"{name}:add",
        coupon=repeating.id,
    )
    recording.assert_valid(
        "POST /v1/coupons",
        "POST /v1/invoiceitems",
        "DELETE /v1/invoiceitems/{invoiceitem}",
        "POST /v1/invoices",
        "GET /v1/invoices/{invoice}",
        "POST /v1/invoices/{invoice}/finalize",
        "POST /v1/subscriptions/{subscription_exposed_id}",
        "POST /v1/subscription_items",
    )


# Through the real accept flows -----------------------------------------------------------------


async def test_uplift_upgrade_matches_the_spec(recording: Recording, db: Database) -> None:
    gateway = recording.gateway
    world = await subscribed_customer(gateway, name=_name("uplift"))
    now = world.period_start + 10 * DAY
    upgrade = await _accept(db, gateway, world, await _plan_quote(db, gateway, world, now=now), now)
    assert upgrade.status == "succeeded"
    recording.assert_valid(
        "POST /v1/invoiceitems",
        "POST /v1/invoices",
        "POST /v1/invoices/{invoice}/finalize",
        "POST /v1/invoices/{invoice}/pay",
        "POST /v1/subscriptions/{subscription_exposed_id}",
    )


async def test_uplift_upgrade_with_an_offer_discount_matches_the_spec(
    recording: Recording, db: Database
) -> None:
    gateway = recording.gateway
    world = await subscribed_customer(gateway, name=_name("uplift-discount"))
    now = world.period_start + 10 * DAY
    quote = await _plan_quote(
        db,
        gateway,
        world,
        now=now,
        offer_id="upgrade-30",
        discount=Discount(percent_off=30, duration_months=3),
    )
    upgrade = await _accept(db, gateway, world, quote, now)
    assert upgrade.status == "succeeded"
    recording.assert_valid("POST /v1/coupons", "POST /v1/subscriptions/{subscription_exposed_id}")
    [switch] = [
        r
        for r in recording.requests()
        if r.method == "POST" and r.path.startswith("/v1/subscriptions/")
    ]
    assert "coupon" in str(switch.params["items"]["0"].get("discounts"))


@pytest.mark.parametrize(
    "discount", [None, Discount(amount_off=500, duration_months=2)], ids=["plain", "discount"]
)
async def test_addon_matches_the_spec(
    recording: Recording, db: Database, discount: Discount | None
) -> None:
    gateway = recording.gateway
    name = _name("addon")
    world = await subscribed_customer(gateway, name=name)
    addon = await _addon_price(gateway, name)
    now = world.period_start + 9 * DAY
    quote = await quoting.quote_addons(
        db,
        gateway,
        customer_id=world.customer_id,
        subscription_id=world.subscription_id,
        prices=(addon,),
        now=now,
        offer_id="addon-offer" if discount else None,
        discount=discount,
    )
    upgrade = await _accept(db, gateway, world, quote, now)
    assert upgrade.status == "succeeded"
    expected = ["POST /v1/invoices/{invoice}/pay", "POST /v1/subscription_items"]
    recording.assert_valid(*expected, *(["POST /v1/coupons"] if discount else []))


async def test_retention_discount_matches_the_spec(recording: Recording, db: Database) -> None:
    gateway = recording.gateway
    world = await subscribed_customer(gateway, name=_name("retention"))
    now = world.period_start + 2 * DAY
    quote = await _plan_quote(
        db,
        gateway,
        world,
        now=now,
        to_price=None,
        offer_id="save",
        discount=Discount(percent_off=20, duration_months=3),
    )
    upgrade = await _accept(db, gateway, world, quote, now)
    assert upgrade.status == "succeeded"
    recording.assert_valid("POST /v1/coupons", "POST /v1/subscriptions/{subscription_exposed_id}")


async def test_stripe_execution_matches_the_spec(recording: Recording, db: Database) -> None:
    """One pending update: only the parameters Stripe allows with pending_if_incomplete."""
    gateway = recording.gateway
    world = await subscribed_customer(gateway, name=_name("stripe"))
    now = world.period_start + 11 * DAY
    quote = await _plan_quote(db, gateway, world, now=now, execution="stripe")
    upgrade = await _accept(db, gateway, world, quote, now)
    assert upgrade.execution == "stripe"
    recording.assert_valid("POST /v1/subscriptions/{subscription_exposed_id}")
    pending = [r for r in recording.requests() if "pending_if_incomplete" in r.body]
    assert len(pending) == 1


async def test_stripe_execution_with_an_offer_discount_matches_the_spec(
    recording: Recording, db: Database
) -> None:
    """The offer's coupon cannot ride on the pending update (Stripe refuses `items[][discounts]`
    with pending_if_incomplete); it belongs in a separate update once the pending one has
    resolved. Whatever Uplift sends for it must be valid, and the coupon must be sent."""
    gateway = recording.gateway
    world = await subscribed_customer(gateway, name=_name("stripe-discount"))
    now = world.period_start + 11 * DAY
    quote = await _plan_quote(
        db,
        gateway,
        world,
        now=now,
        execution="stripe",
        offer_id="stripe-30",
        discount=Discount(percent_off=30, duration_months=3),
    )
    upgrade = await _accept(db, gateway, world, quote, now)
    if upgrade.status == "requires_action" and upgrade.invoice_id is not None:
        await upgrades.on_invoice_paid(db, gateway, invoice_id=upgrade.invoice_id, now=now + 60)
    recording.assert_valid("POST /v1/coupons", "POST /v1/subscriptions/{subscription_exposed_id}")
    updates = [r.params for r in recording.requests() if r.path.startswith("/v1/subscriptions/")]
    assert any(
        "discounts" in item
        for update in updates
        for item in update.get("items", {}).values()
        if isinstance(item, dict)
    ) or any("discounts" in update for update in updates), "the coupon was never applied"


async def test_period_end_downgrade_matches_the_spec(recording: Recording, db: Database) -> None:
    gateway = recording.gateway
    world = await subscribed_customer(gateway, name=_name("apply-due"), quantity=2)
    now = world.period_start + 6 * DAY
    quote = await _plan_quote(db, gateway, world, now=now, to_price=world.basic, to_quantity=1)
    upgrade = await _accept(db, gateway, world, quote, now)
    assert upgrade.status == "scheduled"
    applied = await upgrades.apply_due(db, gateway, now=world.period_end)
    assert [a.id for a in applied] == [upgrade.id]
    recording.assert_valid("POST /v1/subscriptions/{subscription_exposed_id}")


async def test_declined_card_and_expired_payment_match_the_spec(
    recording: Recording, db: Database, stripe_http: httpx.AsyncClient
) -> None:
    """A declined card voids the invoice; an unpaid 3-D Secure invoice is voided by
    `expire_unpaid`; a paid one is switched by `on_invoice_paid`."""
    gateway = recording.gateway
    declined = await subscribed_customer(
        gateway, name=_name("declined"), card="pm_card_chargeCustomerFail"
    )
    now = declined.period_start + 3 * DAY
    failed = await _accept(
        db, gateway, declined, await _plan_quote(db, gateway, declined, now=now), now
    )
    assert failed.status == "failed"

    abandoned = await subscribed_customer(
        gateway, name=_name("expire"), card="pm_card_authenticationRequired"
    )
    waiting = await _accept(
        db, gateway, abandoned, await _plan_quote(db, gateway, abandoned, now=now), now
    )
    assert waiting.status == "requires_action"
    ended = await upgrades.expire_unpaid(db, gateway, now=now + upgrades.PAYMENT_WINDOW + 1)
    assert [u.id for u in ended] == [waiting.id]

    later = now + upgrades.PAYMENT_WINDOW + 10
    paying = await subscribed_customer(
        gateway, name=_name("3ds"), card="pm_card_authenticationRequired"
    )
    pending = await _accept(
        db, gateway, paying, await _plan_quote(db, gateway, paying, now=later), later
    )
    assert pending.status == "requires_action"
    assert pending.invoice_id is not None
    await pay_with_3ds(stripe_http, pending.invoice_id)
    await upgrades.on_invoice_paid(db, gateway, invoice_id=pending.invoice_id, now=later + 60)
    recording.assert_valid(
        "POST /v1/invoices/{invoice}/void",
        "POST /v1/invoices/{invoice}/pay",
        "GET /v1/invoices/{invoice}",
    )


# Coverage of the gateway -------------------------------------------------------------------


def test_every_public_gateway_method_was_exercised(request: pytest.FixtureRequest) -> None:
    """Runs last in this module: each public StripeGateway method was called above through the
    recording proxy, so each kind of request was validated at least once."""
    assert PUBLIC_METHODS, "no public methods found: the introspection is broken"
    drivers = {name for name in globals() if name.startswith("test_") and "spec" in name}
    selected = {
        getattr(item, "originalname", item.name)
        for item in request.session.items
        if isinstance(item, pytest.Function) and item.module is request.module
    }
    if not drivers <= selected:
        pytest.skip("only part of this module was selected")
    assert sorted(set(PUBLIC_METHODS) - EXERCISED) == []
