"""The endpoint's SQL (plugin/storage/metrics.py `aggregated`) and the definitions over every
row (plugin.metrics.revenue.facts) agree on generated ledgers, not only on the hand-computed
one: customers with one or two subscriptions, in one or two currencies, moving up and down the
ladder, adding and dropping the add-on, churning and coming back, delivered in any order, plus
subscriptions in the mirror that no webhook ever told the ledger about.

Seeded, so a failure names the seed that reproduces it."""

from __future__ import annotations

import random

import httpx
import pytest

from plugin.metrics import cohorts, ltv
from plugin.storage import Database
from plugin.storage import cohorts as cohort_store
from plugin.storage import ltv as ltv_store
from plugin.storage import metrics as metrics_store
from plugin.storage import subscriptions as subscription_store
from tests.metrics.ladder import at, deliver, pure_facts, seed_ladder, subscription
from tests.support import NOW

PLAN_PRICES = {
    "usd": ["price_basic_usd", "price_pro_usd", "price_pro_usd_y", "price_ent_usd"],
    "eur": ["price_basic_eur_q", "price_pro_eur"],
    "jpy": ["price_basic_jpy", "price_pro_jpy_y", "price_ent_jpy"],
}
DAYS = [f"2026-{month:02}-{day:02}" for month in (1, 2, 3, 4) for day in (1, 5, 10, 15, 20, 28)]
PERIODS = [
    ("2026-02-01", "2026-03-01"), ("2026-03-01", "2026-04-01"), ("2026-02-15", "2026-04-10"),
    ("2026-01-01", "2026-05-01"), ("2026-03-10", "2026-03-20"),
]  # fmt: skip


def prices(rng: random.Random, currency: str) -> list[str]:
    """One to two plan items (a second one is rare, as in life), and the add-on now and then."""
    held = rng.sample(PLAN_PRICES[currency], k=1 if rng.random() < 0.85 else 2)
    if currency == "usd" and rng.random() < 0.3:
        held.append("price_reports_usd")
    return held


@pytest.mark.parametrize("seed", range(16))
async def test_sql_and_definitions_agree_on_generated_ledgers(
    client: httpx.AsyncClient, db: Database, seed: int
) -> None:
    """For every generated ledger and period, every fact (MRR, movements, NDR's cohort,
    paying counts, upgrades, conversion, time to upsell, attach rates, LTV's groups, the
    cohorts' running MRR) is the same both ways."""
    rng = random.Random(seed)  # noqa: S311 -- reproducible data, not secrets
    await seed_ladder(client, db)
    deliveries = []
    for c in range(rng.randint(3, 8)):
        customer = f"cus_{seed}_{c}"
        for k in range(1 if rng.random() < 0.7 else 2):
            sub = f"sub_{seed}_{c}_{k}"
            currency = rng.choice(list(PLAN_PRICES))
            for n, day in enumerate(sorted(rng.sample(DAYS, rng.randint(1, 5)))):
                status = "active" if n == 0 or rng.random() < 0.75 else rng.choice(
                    ["unpaid", "canceled"]
                )  # fmt: skip
                snapshot = subscription(sub, customer, status, prices(rng, currency))
                deliveries.append((f"evt_{sub}_{n}", snapshot, at(day, rng.randint(0, 23))))
    rng.shuffle(deliveries)  # Stripe does not deliver in order
    for event, snapshot, occurred_at in deliveries:
        await deliver(db, event, snapshot, occurred_at)
    async with db.transaction() as conn:
        for m in range(rng.randint(0, 2)):  # seeded into the mirror, no webhook
            seeded = subscription(f"sub_{seed}_seeded_{m}", f"cus_{seed}_seeded_{m}", "active",
                                  prices(rng, "usd"))  # fmt: skip
            await subscription_store.upsert(conn, subscription=seeded, now=NOW)
    async with db.read() as conn:
        rows = await metrics_store.movements(conn, before=at("2026-06-01", 0), tiers=True)
    for first, last in PERIODS:
        start, end = at(first, 0), at(last, 0)
        found, _ = await metrics_store.aggregated(db, start=start, end=end)
        assert found == await pure_facts(db, start=start, end=end), (seed, first, last)
        # LTV's and the cohorts' SQL (plugin/storage/ltv.py, cohorts.py) agree the same way.
        movers = await ltv_store.movers(db, start=start, end=end)
        expanded = await ltv_store.expanded(db, start=start, end=end)
        assert ltv.from_sums(found.currencies, movers, expanded, found.upgraders) == ltv.facts(
            rows, start=start, end=end
        ), (seed, first, last)
        sql = await cohort_store.facts(db, start=start, end=end, currency=None, feature=None)
        assert sql == cohorts.mrr_facts(rows, start=start, end=end), (seed, first, last)
