"""Several quotes of one subscription accepted in every order that matters, against the local
Stripe: what the emulator charged is the outcome, not only Uplift's rows.

The interleavings are driven, not hoped for: `Paused` is the real gateway with a gate in front
of one call, so one accept can be held at the point where the first round's code read the
subscription and had not yet claimed it, while another accept runs to its end.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Coroutine
from typing import Any

import httpx
import pytest

from plugin import storage
from plugin.api.errors import status_of
from plugin.billing import quotes, quoting, upgrades
from plugin.billing.stripe_gateway import StripeGateway, Subscription
from plugin.errors import UpliftError
from plugin.offers.model import Discount
from plugin.storage import Database
from tests.support import STRIPE_TEST_KEY, Subscribed, subscribed_customer

DAY = 86400


class Paused(StripeGateway):
    """The real gateway; `retrieve_subscription` waits on `gate` (when set) after reading, and
    every call may sleep a random few milliseconds first (`jitter`), to shake interleavings."""

    def __init__(self, url: str, *, jitter: float = 0.0, seed: int = 0) -> None:
        super().__init__(api_key=STRIPE_TEST_KEY, api_base=url, max_retries=0)
        self.gate: asyncio.Event | None = None
        self.reached = asyncio.Event()
        self.jitter = jitter
        self._random = random.Random(seed)  # noqa: S311 -- timing jitter, not secrets

    async def _shake(self) -> None:
        if self.jitter:
            await asyncio.sleep(self._random.uniform(0, self.jitter))

    async def retrieve_subscription(self, subscription_id: str) -> Subscription:
        await self._shake()
        read = await super().retrieve_subscription(subscription_id)
        if self.gate is not None:
            self.reached.set()
            await self.gate.wait()
        return read

    async def create_invoice_item(self, *args: Any, **kwargs: Any) -> Any:
        await self._shake()
        return await super().create_invoice_item(*args, **kwargs)

    async def pay_invoice(self, *args: Any, **kwargs: Any) -> Any:
        await self._shake()
        return await super().pay_invoice(*args, **kwargs)


async def _paid(http: httpx.AsyncClient, world: Subscribed) -> list[int]:
    found = (await http.get("/v1/invoices", params={"customer": world.customer_id})).json()
    return [
        invoice["amount_paid"]
        for invoice in found["data"]
        if invoice["metadata"].get("uplift_quote") and invoice["status"] == "paid"
    ]


async def _quote(
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


def _accept(
    db: Database, gateway: StripeGateway, world: Subscribed, quote: quotes.QuoteRecord, *, key: str
) -> Callable[[int], Coroutine[Any, Any, Any]]:
    async def run(now: int) -> Any:
        try:
            return await upgrades.accept(
                db,
                gateway,
                quote_id=quote.id,
                customer_id=world.customer_id,
                idempotency_key=key,
                now=now,
            )
        except UpliftError as exc:
            return exc

    return run


async def test_a_second_quote_held_after_its_read_while_the_first_is_accepted_charges_once(
    db: Database, emulator_url: str, gateway: StripeGateway, stripe_http: httpx.AsyncClient
) -> None:
    """Q2's accept is held right after reading the subscription while Q1's runs to its end:
    whichever order they finish in, Stripe holds one paid invoice and one switch, and the
    accept that lost is a 409 naming the winner's upgrade (the same change)."""
    world = await subscribed_customer(gateway, name="race-held-read")
    now = world.period_start + 4 * DAY
    q1 = await _quote(db, gateway, world, now=now)
    q2 = await _quote(db, gateway, world, now=now + 1)
    held = Paused(emulator_url)
    held.gate = asyncio.Event()
    try:
        second = asyncio.create_task(_accept(db, held, world, q2, key="k-q2")(now + 2))
        await asyncio.wait_for(held.reached.wait(), 10)
        first = await _accept(db, gateway, world, q1, key="k-q1")(now + 3)
        held.gate.set()
        late = await asyncio.wait_for(second, 20)
    finally:
        await held.close()

    outcomes = [first, late]
    won = [o for o in outcomes if isinstance(o, storage.upgrades.UpgradeRecord)]
    lost = [o for o in outcomes if isinstance(o, UpliftError)]
    assert [w.status for w in won] == ["succeeded"]
    [loser] = lost
    assert status_of(loser) == 409
    assert loser.body()["error"]["code"] == "change_in_progress"
    assert loser.body()["error"]["upgrade_id"] == won[0].id
    assert await _paid(stripe_http, world) == [won[0].amount_paid]
    [item] = (await gateway.retrieve_subscription(world.subscription_id)).items
    assert item.price_id == world.pro


async def test_a_second_quote_accepted_after_the_first_applied_is_stale_naming_it(
    db: Database, gateway: StripeGateway, stripe_http: httpx.AsyncClient
) -> None:
    """Accepting Q2 once Q1's identical change is applied is the documented 409 `quote_stale`
    (not a 422), naming the upgrade that made the change; nothing more is charged, and the
    quote can be tried again with the same answer."""
    world = await subscribed_customer(gateway, name="race-stale-after")
    now = world.period_start + 4 * DAY
    q1 = await _quote(db, gateway, world, now=now)
    q2 = await _quote(db, gateway, world, now=now)
    first = await _accept(db, gateway, world, q1, key="k1")(now + 1)
    assert first.status == "succeeded"

    for attempt in range(2):
        late = await _accept(db, gateway, world, q2, key="k2")(now + 2 + attempt)
        assert isinstance(late, quotes.StaleQuote)
        error = late.body()["error"]
        assert (status_of(late), error["code"], error["upgrade_id"]) == (
            409,
            "quote_stale",
            first.id,
        )
        assert "fresh_quote_id" not in error
    assert await _paid(stripe_http, world) == [q1.amount_due_now]
    assert await storage.upgrades.by_quote(db, q2.id) is None


async def test_many_accepts_of_many_quotes_at_once_charge_one_change(
    db: Database, emulator_url: str, stripe_http: httpx.AsyncClient, gateway: StripeGateway
) -> None:
    """Four quotes of the upgrade, each accepted three times with its own key, all at once with
    random delays before every Stripe call, over several seeds: exactly one succeeds, Stripe
    holds exactly one paid invoice of its amount, and every other answer is a 409."""
    for seed in range(4):
        world = await subscribed_customer(gateway, name=f"race-brute-{seed}")
        now = world.period_start + (3 + seed) * DAY
        shaky = Paused(emulator_url, jitter=0.02, seed=seed)
        try:
            quoted = [await _quote(db, gateway, world, now=now + i) for i in range(4)]
            runs = [
                _accept(db, shaky, world, quote, key=f"k-{seed}-{i}-{n}")(now + 10)
                for i, quote in enumerate(quoted)
                for n in range(3)
            ]
            outcomes = await asyncio.gather(*runs)
        finally:
            await shaky.close()
        won = [o for o in outcomes if isinstance(o, storage.upgrades.UpgradeRecord)]
        assert {w.status for w in won} == {"succeeded"}, outcomes
        assert len({w.id for w in won}) == 1
        assert all(status_of(o) == 409 for o in outcomes if isinstance(o, UpliftError)), outcomes
        assert await _paid(stripe_http, world) == [won[0].amount_paid]
        [item] = (await gateway.retrieve_subscription(world.subscription_id)).items
        assert item.price_id == world.pro


async def test_an_addon_accepted_through_two_quotes_at_once_is_added_and_charged_once(
    db: Database, emulator_url: str, gateway: StripeGateway, stripe_http: httpx.AsyncClient
) -> None:
    """Two quotes for the same add-on price accepted together: one item added, one charge."""
    world = await subscribed_customer(gateway, name="race-addon")
    now = world.period_start + 5 * DAY
    product = await gateway.create_product({"name": "Reports"}, idempotency_key="race-addon:p")
    price = await gateway.create_price(
        {
            "product": product.id,
            "currency": "usd",
            "unit_amount": 1500,
            "recurring": {"interval": "month"},
        },
        idempotency_key="race-addon:price",
    )
    quoted = [
        await quoting.quote_addons(
            db,
            gateway,
            customer_id=world.customer_id,
            subscription_id=world.subscription_id,
            prices=(price.id,),
            now=now,
        )
        for _ in range(2)
    ]
    shaky = Paused(emulator_url, jitter=0.02, seed=7)
    try:
        outcomes = await asyncio.gather(
            *(
                _accept(db, shaky, world, q, key=f"k-addon-{i}")(now + 1)
                for i, q in enumerate(quoted)
            )
        )
    finally:
        await shaky.close()
    won = [o for o in outcomes if isinstance(o, storage.upgrades.UpgradeRecord)]
    assert [w.status for w in won] == ["succeeded"], outcomes
    assert await _paid(stripe_http, world) == [quoted[0].amount_due_now]
    items = (await gateway.retrieve_subscription(world.subscription_id)).items
    assert sorted(item.price_id for item in items) == sorted([world.basic, price.id])

    # And afterwards: the add-on is there, so the other quote is refused, not charged.
    [other] = [q for q in quoted if q.id != won[0].quote_id]
    again = await _accept(db, gateway, world, other, key="k-addon-late")(now + 2)
    assert isinstance(again, UpliftError)
    assert again.body()["error"]["code"] == "addon_already_subscribed"
    assert await _paid(stripe_http, world) == [quoted[0].amount_due_now]


async def test_a_retention_discount_is_granted_once_per_window(
    db: Database, gateway: StripeGateway
) -> None:
    """The same retention offer quoted and accepted three times: the first grants the coupon,
    the others are a 409 at accept (and the caps refuse a new quote), so the window is not
    restarted."""
    world = await subscribed_customer(gateway, name="retention-once")
    now = world.period_start + 2 * DAY
    off = Discount(percent_off=30, duration_months=3)
    quoted = [
        await _quote(db, gateway, world, now=now + i, to_price=None, offer_id="save", discount=off)
        for i in range(3)
    ]
    outcomes = [
        await _accept(db, gateway, world, q, key=f"k-save-{i}")(now + 10 + i)
        for i, q in enumerate(quoted)
    ]
    assert outcomes[0].status == "succeeded"
    for later in outcomes[1:]:
        assert isinstance(later, UpliftError)
        assert later.body()["error"]["code"] == "offer_already_accepted"
        assert later.body()["error"]["upgrade_id"] == outcomes[0].id
    granted = await storage.upgrades.get(db, outcomes[0].id)
    assert granted is not None
    assert granted.retention_until == quoted[0].discount.ends_at  # type: ignore[union-attr]

    # Another retention offer inside the window is refused too, at quote and at accept.
    problem = await upgrades.caps_problem(
        db,
        customer_id=world.customer_id,
        subscription_id=world.subscription_id,
        offer_id="save-again",
        retention=True,
        now=now + 20,
    )
    assert problem is not None
    assert problem.body()["error"]["code"] == "retention_discount_active"
    other = await _quote(
        db, gateway, world, now=now + 30, to_price=None, offer_id="save-again", discount=off
    )
    refused = await _accept(db, gateway, world, other, key="k-save-again")(now + 31)
    assert isinstance(refused, UpliftError)
    assert refused.body()["error"]["code"] == "retention_discount_active"


async def test_an_upgrade_accepted_while_a_downgrade_waits_supersedes_it(
    db: Database, gateway: StripeGateway
) -> None:
    """A period-end downgrade is scheduled, then the customer upgrades: at the period end the
    downgrade is not applied over the upgrade but recorded as superseded; a second downgrade
    cannot be scheduled beside the first."""
    world = await subscribed_customer(gateway, name="superseded", quantity=2)
    now = world.period_start + 6 * DAY
    down = await _quote(db, gateway, world, now=now, to_price=world.basic, to_quantity=1)
    scheduled = await _accept(db, gateway, world, down, key="k-down")(now + 1)
    assert scheduled.status == "scheduled"
    down2 = await _quote(db, gateway, world, now=now + 2, to_price=world.basic, to_quantity=1)
    twice = await _accept(db, gateway, world, down2, key="k-down-2")(now + 3)
    assert isinstance(twice, UpliftError)
    assert twice.body()["error"]["code"] == "change_in_progress"
    assert twice.body()["error"]["upgrade_id"] == scheduled.id

    up = await _quote(db, gateway, world, now=now + 10, to_quantity=2)
    upgraded = await _accept(db, gateway, world, up, key="k-up")(now + 11)
    assert upgraded.status == "succeeded"

    assert await upgrades.apply_due(db, gateway, now=world.period_end) == []
    [item] = (await gateway.retrieve_subscription(world.subscription_id)).items
    assert (item.price_id, item.quantity) == (world.pro, 2)
    done = await storage.upgrades.get(db, scheduled.id)
    assert done is not None
    assert (done.status, done.failure_reason) == ("failed", "superseded")


async def test_a_claim_whose_process_died_before_its_checks_is_checked_on_resume(
    db: Database, gateway: StripeGateway, stripe_http: httpx.AsyncClient
) -> None:
    """A claim left unverified (the process died between claiming and re-reading Stripe) for a
    quote the subscription no longer matches is released by `resume`, charging nothing."""
    world = await subscribed_customer(gateway, name="resume-unverified")
    now = world.period_start + 4 * DAY
    q1 = await _quote(db, gateway, world, now=now)
    q2 = await _quote(db, gateway, world, now=now)
    assert (await _accept(db, gateway, world, q1, key="r1")(now + 1)).status == "succeeded"
    claimed, _ = await storage.upgrades.claim(
        db,
        upgrade=storage.upgrades.NewUpgrade(
            id="up_unverified", quote_id=q2.id, idempotency_key="r2",
            customer_id=world.customer_id, offer_id=None, variant=None, execution="uplift",
            subscription_id=world.subscription_id, subscription_item_id=world.item_id,
            from_price=world.basic, from_quantity=1, to_price=world.pro, to_quantity=1,
            currency="usd", amount_quoted=q2.amount_due_now, mrr_delta=q2.mrr_delta,
            status="processing", effective_at=now + 2,
        ),
        now=now + 2,
    )  # fmt: skip
    assert claimed is not None

    with pytest.raises(quotes.StaleQuote):
        await upgrades.resume(db, gateway, upgrade_id="up_unverified", now=now + 100)
    assert await storage.upgrades.get(db, "up_unverified") is None
    assert await _paid(stripe_http, world) == [q1.amount_due_now]
