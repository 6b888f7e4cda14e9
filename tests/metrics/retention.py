"""A hand-computed ledger for LTV and cohorts (tests/metrics/test_ltv.py, test_cohorts.py):
January to March 2026 on tests/metrics/ladder.py's plan ladder, every event at 12:00 UTC,
some delivered out of order, each snapshot through the webhook handler's path.

usd (Basic 2900/mo, Pro 9900/mo or 99000/yr = 8250/mo)
  U1  Basic Jan 10; to Pro monthly Mar 5 (+7000)
  U2  Basic Jan 15; to Pro yearly Mar 8 (+5350); cancels Mar 20 (-8250), delivered first
  U3  Basic Feb 1
  U4  Pro monthly Jan 20; cancels Mar 12
  U5  Basic Jan 5; unpaid Feb 10; paid again Mar 15 (reactivation, delivered before Feb 10's)
  U6  Basic Feb 3; unpaid Mar 10; paid again Mar 25: churned and back within March
  U7  Basic Jan 2
  U8  Basic Feb 20; to Pro monthly Mar 2
  U9  Basic Mar 3; to Pro monthly Mar 18 (new in March)
eur (Basic 7500 a quarter = 2500/mo, Pro 8500/mo)
  E1  Basic quarterly Jan 20; to Pro monthly Mar 6 (+6000)
  E2  Basic quarterly Feb 1; cancels Mar 15
  E3  Pro Jan 10
jpy, zero-decimal (Basic ¥3000/mo, Pro ¥120000/yr = ¥10000/mo, Enterprise ¥30000/mo)
  J1  Basic Jan 25; to Pro yearly Mar 20 (+7000)
  J2  Basic Feb 5; to Enterprise Mar 4 (+27000); cancels Mar 28
  J3  Basic Jan 8
  J4  Basic Feb 14; cancels Mar 9
  J5  Basic Jan 3

Customer records (the SaaS's ids) exist for U1, U2, U3, U9 and J2 only. Gated features hit
(first hit): sso by U1 Jan 20, U2 Feb 15 (and again Mar 1), U3 Mar 3, U9 Feb 1 (before
paying); audit_log by J2 Mar 5 and by U1 Apr 10.
"""

from __future__ import annotations

import httpx

from plugin.storage import Database
from plugin.storage import customers as customer_store
from tests.metrics.ladder import at, deliver, seed_ladder, subscription
from tests.support import NOW

BASIC, PRO, PRO_Y = "price_basic_usd", "price_pro_usd", "price_pro_usd_y"
# (customer, day, status, price), in delivery order.
SNAPSHOTS = [
    ("U1", "2026-01-10", "active", BASIC), ("U1", "2026-03-05", "active", PRO),
    ("U2", "2026-01-15", "active", BASIC), ("U2", "2026-03-20", "canceled", PRO_Y),
    ("U2", "2026-03-08", "active", PRO_Y),
    ("U3", "2026-02-01", "active", BASIC),
    ("U4", "2026-01-20", "active", PRO), ("U4", "2026-03-12", "canceled", PRO),
    ("U5", "2026-01-05", "active", BASIC), ("U5", "2026-03-15", "active", BASIC),
    ("U5", "2026-02-10", "unpaid", BASIC),
    ("U6", "2026-02-03", "active", BASIC), ("U6", "2026-03-10", "unpaid", BASIC),
    ("U6", "2026-03-25", "active", BASIC),
    ("U7", "2026-01-02", "active", BASIC),
    ("U8", "2026-02-20", "active", BASIC), ("U8", "2026-03-02", "active", PRO),
    ("U9", "2026-03-03", "active", BASIC), ("U9", "2026-03-18", "active", PRO),
    ("E1", "2026-01-20", "active", "price_basic_eur_q"),
    ("E1", "2026-03-06", "active", "price_pro_eur"),
    ("E2", "2026-02-01", "active", "price_basic_eur_q"),
    ("E2", "2026-03-15", "canceled", "price_basic_eur_q"),
    ("E3", "2026-01-10", "active", "price_pro_eur"),
    ("J1", "2026-01-25", "active", "price_basic_jpy"),
    ("J1", "2026-03-20", "active", "price_pro_jpy_y"),
    ("J2", "2026-02-05", "active", "price_basic_jpy"),
    ("J2", "2026-03-04", "active", "price_ent_jpy"),
    ("J2", "2026-03-28", "canceled", "price_ent_jpy"),
    ("J3", "2026-01-08", "active", "price_basic_jpy"),
    ("J4", "2026-02-14", "active", "price_basic_jpy"),
    ("J4", "2026-03-09", "canceled", "price_basic_jpy"),
    ("J5", "2026-01-03", "active", "price_basic_jpy"),
]  # fmt: skip
RECORDS = ("U1", "U2", "U3", "U9", "J2")
HITS = [
    ("U1", "sso", "2026-01-20"), ("U2", "sso", "2026-02-15"), ("U2", "sso", "2026-03-01"),
    ("U3", "sso", "2026-03-03"), ("U9", "sso", "2026-02-01"),
    ("J2", "audit_log", "2026-03-05"), ("U1", "audit_log", "2026-04-10"),
]  # fmt: skip


def stripe_id(customer: str) -> str:
    return f"cus_{customer.lower()}"


async def seed(client: httpx.AsyncClient, db: Database) -> None:
    await seed_ladder(client, db)
    seen: dict[str, int] = {}
    for customer, day, status, price in SNAPSHOTS:
        n = seen[customer] = seen.get(customer, 0) + 1
        snapshot = subscription(f"sub_{customer.lower()}", stripe_id(customer), status, [price])
        await deliver(db, f"evt_{customer.lower()}_{day}_{n}", snapshot, at(day))
    async with db.transaction() as conn:
        for customer in RECORDS:
            await customer_store.upsert(
                conn, customer_id=f"saas_{customer.lower()}", stripe_customer=stripe_id(customer),
                attrs={}, signup_at=None, now=NOW,
            )  # fmt: skip
        for customer, feature, day in HITS:
            await customer_store.record_feature_hit(
                conn, customer_id=f"saas_{customer.lower()}", feature=feature, now=at(day)
            )
