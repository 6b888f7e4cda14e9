"""`uplift import` against the local Stripe: the mirror and the ledger it seeds are what the
webhooks would have made, and what Stripe bills now."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from plugin import storage
from plugin.billing.importer import Summary, import_account
from plugin.billing.stripe_gateway import StripeGateway
from plugin.clock import FixedClock, SystemClock
from plugin.errors import StripeUnavailable
from plugin.storage import Database
from plugin.storage import stripe_events as store
from plugin.webhooks.worker import Worker
from tests.support import NOW, STRIPE_TEST_KEY, free_port, run_uplift, uplift_env
from tests.webhooks import factories as f

BASIC, PRO, SEAT, ANNUAL = 2900, 9900, 500, 99000


@pytest.fixture
async def gateway(emulator_url: str) -> AsyncIterator[StripeGateway]:
    client = StripeGateway(api_key=STRIPE_TEST_KEY, api_base=emulator_url)
    yield client
    await client.close()


@dataclass
class Seeded:
    """What the test did in the emulator, and the webhook events Stripe would have sent."""

    customers: list[str] = field(default_factory=list)
    expected: dict[str, int] = field(default_factory=dict)  # subscription → MRR Stripe bills now
    events: list[dict[str, Any]] = field(default_factory=list)


class Account:
    """Seeding through the emulator's HTTP API, each state kept as its webhook event."""

    def __init__(self, http: httpx.AsyncClient, name: str) -> None:
        self.http, self.name, self.seeded = http, name, Seeded()
        self._prices: dict[tuple[int, str], str] = {}

    async def _post(self, path: str, data: dict[str, Any]) -> dict[str, Any]:
        response = await self.http.post(path, data=data)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def price(self, amount: int, interval: str = "month") -> str:
        if (amount, interval) not in self._prices:
            product = await self._post("/v1/products", {"name": f"{self.name} {amount}"})
            price = await self._post(
                "/v1/prices",
                {
                    "product": product["id"],
                    "currency": "usd",
                    "unit_amount": amount,
                    "recurring[interval]": interval,
                },
            )
            self._prices[(amount, interval)] = price["id"]
        return self._prices[(amount, interval)]

    async def customer(self, label: str) -> str:
        customer = await self._post("/v1/customers", {"email": f"{self.name}-{label}@example.com"})
        card = await self._post(
            "/v1/payment_methods/pm_card_visa/attach", {"customer": customer["id"]}
        )
        await self._post(
            f"/v1/customers/{customer['id']}",
            {"invoice_settings[default_payment_method]": card["id"]},
        )
        self.seeded.customers.append(customer["id"])
        return str(customer["id"])

    def _event(self, kind: str, obj: dict[str, Any], created: int) -> None:
        # The emulator runs on the wall clock: an event is dated when the change was made.
        n = len(self.seeded.events)
        self.seeded.events.append(
            f.event(
                f"customer.subscription.{kind}", obj, id=f"evt_{obj['id']}_{n}", created=created
            )
        )

    async def subscribe(self, customer: str, amount: int, *, quantity: int = 1, **kw: str) -> str:
        price = await self.price(amount, **kw)
        sub = await self._post(
            "/v1/subscriptions",
            {"customer": customer, "items[0][price]": price, "items[0][quantity]": quantity},
        )
        self._event("created", sub, sub["created"])
        return str(sub["id"])

    async def _changed(self, sub_id: str) -> None:
        sub = (await self.http.get(f"/v1/subscriptions/{sub_id}")).json()
        self._event("updated", sub, SystemClock().now())

    async def switch(self, sub_id: str, amount: int, *, quantity: int | None = None) -> None:
        """Change the plan item's price (and quantity), invoiced at once as Uplift does."""
        sub = (await self.http.get(f"/v1/subscriptions/{sub_id}")).json()
        data = {
            "items[0][id]": sub["items"]["data"][0]["id"],
            "items[0][price]": await self.price(amount),
            "proration_behavior": "always_invoice",
        }
        if quantity is not None:
            data["items[0][quantity]"] = str(quantity)
        await self._post(f"/v1/subscriptions/{sub_id}", data)
        await self._changed(sub_id)

    async def add_item(self, sub_id: str, amount: int, *, quantity: int) -> None:
        price = await self.price(amount)
        await self._post(
            "/v1/subscription_items",
            {
                "subscription": sub_id,
                "price": price,
                "quantity": quantity,
                "proration_behavior": "always_invoice",
            },
        )
        await self._changed(sub_id)

    async def cancel(self, sub_id: str) -> None:
        response = await self.http.delete(f"/v1/subscriptions/{sub_id}")
        assert response.status_code == 200, response.text
        sub = response.json()
        self._event("deleted", sub, sub["ended_at"])


async def seed_account(http: httpx.AsyncClient, name: str) -> Seeded:
    """Three customers: two plans on one subscription with an add-on, one canceled, one
    upgraded, one yearly."""
    account = Account(http, name)
    ann = await account.customer("ann")
    seats = await account.subscribe(ann, BASIC, quantity=2)
    await account.add_item(seats, SEAT, quantity=3)
    gone = await account.subscribe(ann, PRO)
    await account.cancel(gone)
    bob = await account.customer("bob")
    upgraded = await account.subscribe(bob, BASIC)
    await account.switch(upgraded, PRO)
    cat = await account.customer("cat")
    yearly = await account.subscribe(cat, ANNUAL, interval="year")
    account.seeded.expected = {
        seats: 2 * BASIC + 3 * SEAT,
        gone: 0,
        upgraded: PRO,
        yearly: round(ANNUAL / 12),
    }
    return account.seeded


async def deliver(db: Database, events: list[dict[str, Any]]) -> None:
    """The events as the webhook endpoint stores them, processed one by one by the worker."""
    for document in events:
        await store.insert(
            db,
            event=store.NewEvent(
                id=document["id"],
                type=document["type"],
                object_id=document["data"]["object"]["id"],
                created=document["created"],
                livemode=False,
                payload=f.body(document).decode(),
                received_at=NOW,
            ),
        )
        await Worker(db=db, gateway=None, clock=FixedClock(NOW)).run_once()


async def run_import(db: Database, gateway: StripeGateway, seeded: Seeded, **kw: Any) -> Summary:
    return await import_account(
        db, gateway, now=SystemClock().now(), customers=seeded.customers, **kw
    )


async def ledger(db: Database, subscription_id: str) -> list[tuple[str, int]]:
    movements = await storage.mrr.list_movements(db, subscription_id=subscription_id)
    return [(m.kind, m.amount) for m in movements]


async def rows(db: Database, subscription_ids: list[str]) -> list[object]:
    """Everything the import writes about these subscriptions."""
    found: list[object] = []
    for sub_id in subscription_ids:
        async with db.read() as conn:
            found.append(await storage.history.load(conn, subscription_id=sub_id))
        found.append(await storage.mrr.list_movements(db, subscription_id=sub_id))
        found.append(await storage.subscriptions.get(db, sub_id))
    return found


async def test_import_reproduces_what_webhooks_would_have_recorded(
    db: Database,
    gateway: StripeGateway,
    stripe_http: httpx.AsyncClient,
    new_database_url: Callable[..., str],
) -> None:
    """Each imported subscription's mirror MRR and ledger sum are what Stripe bills now, and its
    movements are the ones the same states delivered as webhooks make."""
    seeded = await seed_account(stripe_http, "import-reproduces")
    summary = await run_import(db, gateway, seeded)

    webhooks = await storage.connect(new_database_url("webhooks.db"))
    try:
        await storage.migrations.apply(webhooks, now=NOW)
        await deliver(webhooks, seeded.events)
        for sub_id, expected in seeded.expected.items():
            mirror = await storage.subscriptions.get(db, sub_id)
            assert mirror is not None
            assert mirror.mrr() == expected, sub_id
            imported = await ledger(db, sub_id)
            assert sum(amount for _, amount in imported) == expected, sub_id
            assert imported == await ledger(webhooks, sub_id), sub_id
    finally:
        await webhooks.close()
    assert summary.subscriptions == 4
    assert len(summary.customers) == 3
    assert summary.mrr == {"usd": sum(seeded.expected.values())}
    assert await ledger(db, next(iter(seeded.expected))) == [("new", 5800), ("expansion", 1500)]


async def test_running_the_import_twice_changes_nothing(
    db: Database, gateway: StripeGateway, stripe_http: httpx.AsyncClient
) -> None:
    """A second run finds every state under the same source id: no row added or changed."""
    seeded = await seed_account(stripe_http, "import-twice")
    first = await run_import(db, gateway, seeded)
    before = await rows(db, list(seeded.expected))
    second = await run_import(db, gateway, seeded)
    assert first.added > 0
    assert second.added == 0
    assert await rows(db, list(seeded.expected)) == before


@pytest.mark.parametrize("webhooks_first", [True, False], ids=["webhooks-first", "import-first"])
async def test_webhooks_and_the_import_leave_one_ledger(
    db: Database, gateway: StripeGateway, stripe_http: httpx.AsyncClient, webhooks_first: bool
) -> None:
    """Webhooks delivered before the import, or late after it, leave one "new" and one
    "expansion"; a change after the import moves the mirror and the ledger as usual."""
    account = Account(stripe_http, f"import-webhooks-{webhooks_first}")
    customer = await account.customer("dan")
    sub_id = await account.subscribe(customer, BASIC)
    await asyncio.sleep(1.1)  # the upgrade a second later, as changes in real accounts are
    await account.switch(sub_id, PRO)
    events = list(account.seeded.events)
    if webhooks_first:
        await deliver(db, events)
    summary = await run_import(db, gateway, account.seeded)
    if not webhooks_first:
        await deliver(db, events)
    assert await ledger(db, sub_id) == [("new", BASIC), ("expansion", PRO - BASIC)]
    assert summary.added == (1 if webhooks_first else 3)  # webhooks first: only "now"

    await account.switch(sub_id, PRO, quantity=2)
    await deliver(db, account.seeded.events[len(events) :])
    mirror = await storage.subscriptions.get(db, sub_id)
    assert mirror is not None
    assert mirror.mrr() == 2 * PRO
    assert sum(amount for _, amount in await ledger(db, sub_id)) == 2 * PRO


async def test_import_pages_through_every_list(
    db: Database, gateway: StripeGateway, stripe_http: httpx.AsyncClient
) -> None:
    """With one object per page, every subscription and invoice is still read, and progress
    reports each page of subscriptions; items and lines page the same way."""
    account = Account(stripe_http, "import-pages")
    customer = await account.customer("eve")
    subs = [await account.subscribe(customer, BASIC) for _ in range(2)]
    await account.switch(subs[1], PRO)
    await account.add_item(subs[0], SEAT, quantity=2)
    lines: list[str] = []
    summary = await run_import(db, gateway, account.seeded, page_size=1, progress=lines.append)
    assert lines == ["subscriptions: 1 (" + subs[0] + ")", "subscriptions: 2 (" + subs[1] + ")"]
    assert summary.invoices == 4
    assert summary.mrr == {"usd": BASIC + 2 * SEAT + PRO}

    first = await gateway.list_subscription_items(subs[0], limit=1)
    rest = await gateway.list_subscription_items(subs[0], limit=1, starting_after=first.data[-1].id)
    assert (len(first.data), first.has_more, len(rest.data), rest.has_more) == (1, True, 1, False)
    invoices = (await gateway.list_invoices(subscription=subs[1])).data
    update = next(i for i in invoices if i.billing_reason == "subscription_update")
    page = await gateway.list_invoice_lines(update.id, limit=1)
    assert (len(page.data), page.has_more) == (1, True)


async def test_stripe_outage_is_retried_then_reported(db: Database) -> None:
    """Stripe unreachable: each attempt waits its delay, then the import stops with
    `StripeUnavailable`, having written nothing."""
    dead = StripeGateway(
        api_key=STRIPE_TEST_KEY, api_base=f"http://127.0.0.1:{free_port()}", max_retries=0
    )
    waited: list[float] = []
    lines: list[str] = []

    async def sleep(seconds: float) -> None:
        waited.append(seconds)

    try:
        with pytest.raises(StripeUnavailable):
            await import_account(
                db, dead, now=NOW, delays=(1.0, 3.0), sleep=sleep, progress=lines.append
            )
    finally:
        await dead.close()
    assert waited == [1.0, 3.0]
    assert len(lines) == 2
    assert all("listing subscriptions again in" in line for line in lines)


async def test_cli_import_reports_progress_and_never_prints_the_key(
    empty_database_url: str, emulator_url: str, stripe_http: httpx.AsyncClient
) -> None:
    """`uplift import` exits 0 with a line per page and a summary on stderr, nothing on stdout,
    and no secret anywhere; with the schema not migrated it is one line and exit 2."""
    account = Account(stripe_http, "import-cli")
    customer = await account.customer("fay")
    subs = [await account.subscribe(customer, amount) for amount in (BASIC, PRO)]
    env = uplift_env(
        database_url=empty_database_url,
        stripe_api_key=STRIPE_TEST_KEY,
        stripe_api_base=emulator_url,
    )
    args = ("import", "--customer", customer, "--page-size", "1")

    unmigrated = await asyncio.to_thread(run_uplift, *args, env=env)
    migrated = await asyncio.to_thread(run_uplift, "migrate", env=env)
    result = await asyncio.to_thread(run_uplift, *args, env=env)

    assert unmigrated.returncode == 2
    assert unmigrated.stderr.strip().splitlines() == [
        "uplift: the database schema is not current; run `uplift migrate` first"
    ]
    assert migrated.returncode == 0, migrated.stderr
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    progress = result.stderr.strip().splitlines()
    assert progress[:2] == [f"subscriptions: 1 ({subs[0]})", f"subscriptions: 2 ({subs[1]})"]
    assert progress[2] == (
        "imported 2 subscriptions of 1 customers, 2 invoices read, 4 snapshots added; "
        "MRR now: usd: $128.00"
    )
    for output in (unmigrated, result):
        assert STRIPE_TEST_KEY not in output.stdout + output.stderr
