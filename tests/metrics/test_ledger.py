"""Every metric of March 2026 [Mar 1, Apr 1) UTC on a hand-computed ledger, through the pure
path (plugin.metrics.revenue over every row), the SQL path (plugin/storage/metrics.py
`aggregated`) and the API (`GET /api/v1/admin/metrics`, JSON and CSV).

The ledger is made the way Stripe's webhooks make it: each subscription snapshot goes through
plugin.billing.ledger.apply_snapshot, some delivered out of order, and the ledger is derived
from them. Plan ladder: Basic 1, Pro 2, Enterprise 3 (the top); Advanced Reports is an add-on,
off the ladder. Prices: usd Basic 2900/mo, Pro 9900/mo or 99000/yr (8250/mo), Enterprise
29900/mo, Reports 1900/mo; eur Basic 7500 a quarter (2500/mo), Pro 8500/mo; jpy (zero-decimal)
Basic ¥3000/mo, Pro ¥120000/yr (10000/mo), Enterprise ¥30000/mo. Every event is at 12:00 UTC.

USD
  A  Basic from Jan 10; Uplift upgrade to Pro Mar 5 (+7000, offer_pro); Reports add-on
     through Uplift's cross-sell Mar 7 (+1900, 1000 charged today; tier stays 2)
  B  Basic from Feb 1; to Pro yearly in the Stripe dashboard Mar 8 (+5350, outside Uplift);
     adds Reports there Mar 20 (+1900): the Mar 20 event is delivered before the Mar 8 one
  C  one subscription, two plan items: Basic + Enterprise from Jan 15 (32800): on the top tier
  D  Basic from Jan 1; unpaid Feb 10 (churn -2900); paid again Mar 15 (reactivation +2900),
     the Mar 15 event delivered before the Feb 10 one
  E  Basic from Feb 10; Uplift upgrade Mar 12 fails (card declined): no movement
  F  Basic from Jan 5; to Pro outside Uplift Jan 20 (+7000, its first upgrade); cancels
     Mar 25 (churn -9900)
  N  new on Basic Mar 3; Uplift upgrade to Pro Mar 18 (+7000): upgraded, but not an existing
     customer, so not in the conversion
  T  Enterprise from Jan 2 (top)
  S  Basic in the mirror only (seeded without a webhook): no ledger, pays nothing anywhere
EUR
  H  Basic quarterly from Feb 1; to Pro monthly outside Uplift Mar 2 (+6000), the Mar 2 event
     delivered first
  G  Pro from Jan 20; down to Basic quarterly Mar 10 (contraction -6000)
JPY
  J  Basic from Jan 25; Uplift upgrade to Pro yearly Mar 20 (+7000, offer_pro_jpy)
  K  Enterprise from Feb 5 (top)

Offers shown in March (first exposures): offer_pro control A, E, F, N and holdout B;
offer_reports (cross-sell) A, B, F; offer_pro_jpy J.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import httpx
import pytest

from plugin.billing.ledger import apply_snapshot
from plugin.billing.mirror import MirrorSubscription
from plugin.metrics import revenue as metrics
from plugin.storage import Database
from plugin.storage import metrics as metrics_store
from plugin.storage import offers as offer_store
from plugin.storage import quotes as quote_store
from plugin.storage import subscriptions as subscription_store
from plugin.storage import upgrades as upgrade_store
from plugin.storage.quotes import QuoteRecord, SubscriptionState
from plugin.storage.upgrades import NewUpgrade
from tests.factories import ADMIN, offer_body
from tests.metrics.ladder import PRICES, at, pure_facts, seed_ladder, subscription
from tests.support import NOW

START, END = at("2026-03-01", 0), at("2026-04-01", 0)
MARCH = f"from={START}&to={END}"


# (event, customer, day, status, prices): each subscription's snapshots, in delivery order.
SNAPSHOTS = [
    ("evt_a1", "A", "2026-01-10", "active", ["price_basic_usd"]),
    ("evt_b1", "B", "2026-02-01", "active", ["price_basic_usd"]),
    ("evt_b3", "B", "2026-03-20", "active", ["price_pro_usd_y", "price_reports_usd"]),  # before b2
    ("evt_b2", "B", "2026-03-08", "active", ["price_pro_usd_y"]),
    ("evt_c1", "C", "2026-01-15", "active", ["price_basic_usd", "price_ent_usd"]),
    ("evt_d1", "D", "2026-01-01", "active", ["price_basic_usd"]),
    ("evt_d3", "D", "2026-03-15", "active", ["price_basic_usd"]),  # before d2
    ("evt_d2", "D", "2026-02-10", "unpaid", ["price_basic_usd"]),
    ("evt_e1", "E", "2026-02-10", "active", ["price_basic_usd"]),
    ("evt_f1", "F", "2026-01-05", "active", ["price_basic_usd"]),
    ("evt_f2", "F", "2026-01-20", "active", ["price_pro_usd"]),
    ("evt_f3", "F", "2026-03-25", "canceled", ["price_pro_usd"]),
    ("evt_n1", "N", "2026-03-03", "active", ["price_basic_usd"]),
    ("evt_t1", "T", "2026-01-02", "active", ["price_ent_usd"]),
    ("evt_h2", "H", "2026-03-02", "active", ["price_pro_eur"]),  # before h1
    ("evt_h1", "H", "2026-02-01", "active", ["price_basic_eur_q"]),
    ("evt_g1", "G", "2026-01-20", "active", ["price_pro_eur"]),
    ("evt_g2", "G", "2026-03-10", "active", ["price_basic_eur_q"]),
    ("evt_j1", "J", "2026-01-25", "active", ["price_basic_jpy"]),
    ("evt_k1", "K", "2026-02-05", "active", ["price_ent_jpy"]),
]


@dataclass(frozen=True)
class UpliftUpgrade:
    """An upgrade Uplift executed: created and settled at 10:00 on `day`; the webhook of the
    change it made (`snapshot`, if any) follows at 12:00, as Stripe's event would."""

    id: str
    customer: str
    offer_id: str
    from_price: str
    to_price: str
    mrr_delta: int
    paid: int
    day: str
    status: str
    snapshot: tuple[str, list[str]] | None


UPGRADES = [
    UpliftUpgrade("up_a", "A", "offer_pro", "price_basic_usd", "price_pro_usd", 7000, 5000,
                  "2026-03-05", "succeeded", ("evt_a2", ["price_pro_usd"])),
    UpliftUpgrade("up_a2", "A", "offer_reports", "price_pro_usd", "price_reports_usd", 1900,
                  1000, "2026-03-07", "succeeded",
                  ("evt_a3", ["price_pro_usd", "price_reports_usd"])),
    UpliftUpgrade("up_e", "E", "offer_pro", "price_basic_usd", "price_pro_usd", 7000, 0,
                  "2026-03-12", "failed", None),
    UpliftUpgrade("up_n", "N", "offer_pro", "price_basic_usd", "price_pro_usd", 7000, 4000,
                  "2026-03-18", "succeeded", ("evt_n2", ["price_pro_usd"])),
    UpliftUpgrade("up_j", "J", "offer_pro_jpy", "price_basic_jpy", "price_pro_jpy_y", 7000,
                  60000, "2026-03-20", "succeeded", ("evt_j2", ["price_pro_jpy_y"])),
]  # fmt: skip
# (offer, arm, customers, day): first exposures.
EXPOSURES = [
    ("offer_pro", "control", ["A"], "2026-03-04"),
    ("offer_pro", "holdout", ["B"], "2026-03-04"),
    ("offer_pro", "control", ["F"], "2026-03-06"),
    ("offer_reports", "control", ["A", "B", "F"], "2026-03-06"),
    ("offer_pro", "control", ["E"], "2026-03-11"),
    ("offer_pro", "control", ["N"], "2026-03-17"),
    ("offer_pro_jpy", "control", ["J"], "2026-03-19"),
]


def snapshot(customer: str, status: str, prices: list[str]) -> MirrorSubscription:
    # The first item is the plan Uplift changes; the others are named after their product.
    return subscription(
        f"sub_{customer.lower()}", customer, status, prices, item=f"si_{customer.lower()}"
    )


async def apply(db: Database, event: str, customer: str, day: str, status: str,
                prices: list[str]) -> None:  # fmt: skip
    async with db.transaction() as conn:
        await apply_snapshot(
            conn, snapshot=snapshot(customer, status, prices), source_id=event,
            occurred_at=at(day), now=NOW,
        )  # fmt: skip


async def execute(db: Database, u: UpliftUpgrade) -> None:
    created = at(u.day, 10)
    sub, price = f"sub_{u.customer.lower()}", PRICES[u.to_price]
    await quote_store.insert(
        db,
        quote=QuoteRecord(
            id=f"qt_{u.id}", customer_id=u.customer, offer_id=u.offer_id, variant="control",
            execution="uplift", timing="now",
            state=SubscriptionState(sub, f"si_{u.customer.lower()}", u.from_price, 1,
                                    created, created + 30 * 86_400),
            to_price=u.to_price, to_quantity=1, proration_date=created, currency=price.currency,
            lines=(), invoice_total=u.paid, amount_due_now=u.paid, mrr_delta=u.mrr_delta,
            created_at=created, expires_at=created + 600,
        ),
    )  # fmt: skip
    made, _ = await upgrade_store.claim(
        db,
        upgrade=NewUpgrade(
            id=u.id, quote_id=f"qt_{u.id}", idempotency_key=u.id, customer_id=u.customer,
            offer_id=u.offer_id, variant="control", execution="uplift", subscription_id=sub,
            subscription_item_id=f"si_{u.customer.lower()}", from_price=u.from_price,
            from_quantity=1, to_price=u.to_price, to_quantity=1, currency=price.currency,
            amount_quoted=u.paid, mrr_delta=u.mrr_delta, status="processing",
            effective_at=created,
        ),
        now=created,
    )  # fmt: skip
    assert made is not None
    settled = {"amount_paid": u.paid} if u.status == "succeeded" else {
        "failure_reason": "card_declined"
    }  # fmt: skip
    assert await upgrade_store.transition(
        db, upgrade_id=u.id, status="succeeded" if u.status == "succeeded" else "failed",
        allowed_from=("processing",), now=created, **settled,
    )  # fmt: skip
    if u.snapshot is not None:
        event, prices = u.snapshot
        await apply(db, event, u.customer, u.day, "active", prices)


@pytest.fixture
async def shop(client: httpx.AsyncClient, db: Database) -> httpx.AsyncClient:
    await seed(client, db)
    return client


async def seed(client: httpx.AsyncClient, db: Database) -> None:
    """The ledger above: the plan ladder, three offers, the snapshots, Uplift's upgrades, S's
    mirror-only subscription and the first exposures (also read by the dashboard's browser
    test, tests/admin/test_dashboard_ledger_browser.py)."""
    await seed_ladder(client, db)
    for body in (
        offer_body(id="offer_pro", target_prices=["price_pro_usd"]),
        offer_body(id="offer_pro_jpy", target_prices=["price_pro_jpy_y"]),
        offer_body(id="offer_reports", kind="cross_sell", target_prices=["price_reports_usd"]),
    ):
        made = await client.post("/api/v1/admin/offers", json=body, headers=ADMIN)
        assert made.status_code == 201, made.text
    for row in SNAPSHOTS:
        await apply(db, *row)
    for u in UPGRADES:
        await execute(db, u)
    async with db.transaction() as conn:
        seeded = snapshot("S", "active", ["price_basic_usd"])  # the mirror only, no webhook
        await subscription_store.upsert(conn, subscription=seeded, now=NOW)
        for offer_id, arm, customers, day in EXPOSURES:
            for customer in customers:
                await offer_store.assign(
                    conn, offer_id=offer_id, customer_id=customer, arm=arm, now=at(day, 9)
                )


# The hand-computed figures ---------------------------------------------------------------
#
# USD at start: A 2900 + B 2900 + C 32800 + E 2900 + F 9900 + T 29900 = 81300 from 6 paying
# (D unpaid since Feb 10, N not yet, S never in the ledger). March: new 2900 (N); expansion
# 7000 + 1900 (A) + 5350 + 1900 (B) + 7000 (N) = 23150; reactivation 2900 (D); churn 9900 (F).
# Net new 19050, at end 100350 from 7 (A 11800, B 10150, C 32800, D 2900, E 2900, N 9900,
# T 29900). NDR: the cohort {A, B, C, E, F, T} moved +8900 +7250 -9900 = +6250 → 87550 / 81300.
# ARPU 81300 / 6 = 13550; 100350 / 7 = 14335.71… → 14336. Upgrades (tier up): A, B, N →
# 7000 + 5350 + 7000 = 19350 / 3 = 6450; Uplift's: A, N → 14000 / 2; credited to offers:
# A 7000 + 1900, N 7000 = 15900. Cross-sell: A's Reports, 1900 a month, 1000 today.
# EUR at start: H 2500 + G 8500 = 11000 from 2; expansion 6000 (H), contraction 6000 (G);
# NDR 11000 / 11000; ARPU 5500 both; one upgrade (H, 6000), none through Uplift.
# JPY at start: J 3000 + K 30000 = 33000 from 2; expansion 7000 (J) → 40000, NDR 40000 /
# 33000; ARPU 16500 and 20000; one upgrade, through Uplift, 7000 credited.
CURRENCIES: dict[str, dict[str, Any]] = {
    "usd": {
        "mrr_start": 81300, "mrr_end": 100350, "new_mrr": 2900, "expansion_mrr": 23150,
        "contraction_mrr": 0, "churned_mrr": 9900, "reactivation_mrr": 2900,
        "net_new_mrr": 19050, "ndr": (87550, 81300), "arpu_start": (13550, 81300, 6),
        "arpu_end": (14336, 100350, 7), "average_upgrade_value": (19350, 3),
        "cross_sell_recurring": 1900, "cross_sell_one_off": 1000, "upgrades": 3,
    },
    "eur": {
        "mrr_start": 11000, "mrr_end": 11000, "new_mrr": 0, "expansion_mrr": 6000,
        "contraction_mrr": 6000, "churned_mrr": 0, "reactivation_mrr": 0, "net_new_mrr": 0,
        "ndr": (11000, 11000), "arpu_start": (5500, 11000, 2), "arpu_end": (5500, 11000, 2),
        "average_upgrade_value": (6000, 1), "cross_sell_recurring": 0, "cross_sell_one_off": 0,
        "upgrades": 1,
    },
    "jpy": {
        "mrr_start": 33000, "mrr_end": 40000, "new_mrr": 0, "expansion_mrr": 7000,
        "contraction_mrr": 0, "churned_mrr": 0, "reactivation_mrr": 0, "net_new_mrr": 7000,
        "ndr": (40000, 33000), "arpu_start": (16500, 33000, 2), "arpu_end": (20000, 40000, 2),
        "average_upgrade_value": (7000, 1), "cross_sell_recurring": 0, "cross_sell_one_off": 0,
        "upgrades": 1,
    },
}  # fmt: skip
# currency -> (Uplift upgrades, their MRR change, expansion credited to offers)
UPLIFT = {"usd": (2, 14000, 15900), "eur": (0, 0, 0), "jpy": (1, 7000, 7000)}
# Eligible at start (paying, below the top): A, B, E, F (usd; C holds an Enterprise item, T is
# on it), H, G (eur), J (jpy; K is on Enterprise) = 7. Upgraded in March among them: A, B, H,
# J = 4; through Uplift: A, J = 2 (N upgraded through Uplift too, but joined in March).
# Upgraded customers: A, B, N, H, J = 5.
ELIGIBLE, CONVERTED, THROUGH_UPLIFT, UPGRADED = 7, 4, 2, 5
# First upgrade in March, days from first payment: N 15 (Mar 3 → 18), H 29 (Feb 1 → Mar 2),
# B 35 (Feb 1 → Mar 8), A 54 (Jan 10 → Mar 5), J 54 (Jan 25 → Mar 20); F's was in January.
# Median 35; p90 by nearest rank: ceil(0.9 * 5) = 5th → 54.
UPSELL_DAYS = [15, 29, 35, 54, 54]
# Funnel: offer_pro control exposed 4, paid 2 (A, N; E failed); holdout 1, paid 0;
# offer_reports 3, paid 1; offer_pro_jpy 1, paid 1. Offer conversion (2 + 0 + 1 + 1) / 9;
# cross-sell rate 1 / 3.
# Upgraded at or after their first exposure, any cause: offer_pro control A (Mar 5 after Mar 4)
# and N (Mar 18 after Mar 17) of A, E, F, N; its holdout B (Mar 8, in the dashboard) of B;
# offer_reports B (Mar 8 after Mar 6; A's was the day before); offer_pro_jpy J. Only offer_pro
# has held-out customers: lift = 2/4 - 1/1 = -1/2 (the one held-out customer upgraded anyway).
# Attach rate at the end: Advanced Reports is the one add-on (no plan price); A and B hold it of
# the 7 usd customers paying at the end → 2 / 7; no eur or jpy customer holds an add-on.
ATTACHED = {"usd": {"prod_reports": (2, 7)}}
ARMS = {
    ("offer_pro", "control"): (4, 2), ("offer_pro", "holdout"): (1, 1),
    ("offer_pro_jpy", "control"): (1, 1), ("offer_reports", "control"): (3, 1),
}  # fmt: skip
FUNNEL = {
    ("offer_pro", "control"): (4, 2), ("offer_pro", "holdout"): (1, 0),
    ("offer_pro_jpy", "control"): (1, 1), ("offer_reports", "control"): (3, 1),
}  # fmt: skip


async def pure(db: Database) -> metrics.Facts:
    return await pure_facts(db, start=START, end=END)


def check(result: metrics.Metrics) -> None:
    """Every hand-computed figure, on the domain's values."""
    assert sorted(result.currencies) == ["eur", "jpy", "usd"]
    for cur, expected in CURRENCIES.items():
        m = result.currencies[cur]
        got = {
            "mrr_start": m.mrr_start, "mrr_end": m.mrr_end, "new_mrr": m.new,
            "expansion_mrr": m.expansion, "contraction_mrr": m.contraction,
            "churned_mrr": m.churn, "reactivation_mrr": m.reactivation, "net_new_mrr": m.net_new,
            "ndr": (m.ndr.numerator, m.ndr.denominator),
            "arpu_start": (m.arpu_start.value, m.arpu_start.numerator, m.arpu_start.denominator),
            "arpu_end": (m.arpu_end.value, m.arpu_end.numerator, m.arpu_end.denominator),
            "average_upgrade_value": (m.average_upgrade_value.numerator,
                                      m.average_upgrade_value.denominator),
            "cross_sell_recurring": m.cross_sell_recurring,
            "cross_sell_one_off": m.cross_sell_one_off, "upgrades": m.upgrades,
        }  # fmt: skip
        assert got == expected, cur
        mine = m.uplift_average_upgrade_value
        assert (m.uplift_upgrades, mine.numerator, m.attributed_expansion) == UPLIFT[cur], cur
    usd = result.currencies["usd"]
    assert usd.ndr.value == Fraction(87550, 81300)
    assert usd.average_upgrade_value.value == 6450
    assert result.currencies["jpy"].ndr.value == Fraction(40, 33)
    conversion = result.upsell_conversion
    assert (conversion.numerator, conversion.denominator, conversion.value) == (
        CONVERTED, ELIGIBLE, Fraction(4, 7),
    )  # fmt: skip
    mine = result.uplift_upsell_conversion
    assert (mine.numerator, mine.denominator) == (THROUGH_UPLIFT, ELIGIBLE)
    assert result.upgraded_customers.value == UPGRADED
    assert result.time_to_upsell_median_days.value == 35
    assert result.time_to_upsell_p90_days.value == 54
    assert result.time_to_upsell_median_days.numerator == len(UPSELL_DAYS)
    attach = {
        cur: {p: (f.numerator, f.denominator) for p, f in m.attach_rate.items()}
        for cur, m in result.currencies.items()
        if m.attach_rate
    }
    assert attach == ATTACHED
    [offer_pro] = result.lift
    assert (offer_pro.offer_id, offer_pro.treated, offer_pro.held_out) == (
        "offer_pro",
        (2, 4),
        (1, 1),
    )
    assert offer_pro.difference == Fraction(-1, 2)


async def test_the_pure_path_gives_every_hand_computed_figure(
    shop: httpx.AsyncClient, db: Database
) -> None:
    """plugin.metrics.revenue over every row of the ledger, whatever order the events came
    in, gives the figures worked out in the module's comments."""
    found = await pure(db)
    assert sorted(found.upsell_days) == UPSELL_DAYS
    assert {(a.offer_id, a.arm): (a.assigned, a.upgraded) for a in found.arms} == ARMS
    check(metrics.summarise(found))


async def test_the_sql_path_gives_the_same_facts(shop: httpx.AsyncClient, db: Database) -> None:
    """The endpoint's SQL aggregates and the pure path agree fact for fact, so they give the
    hand-computed figures too (C's two-item subscription is on Enterprise in both, and S's
    mirror-only subscription is nobody's MRR in both)."""
    found, _ = await metrics_store.aggregated(db, start=START, end=END)
    assert found == await pure(db)
    check(metrics.summarise(found))


async def test_a_subscription_with_two_plan_items_is_on_the_higher_in_both_paths(
    shop: httpx.AsyncClient, db: Database
) -> None:
    """C's one subscription holds Basic and Enterprise: it is on Enterprise, the top, so C
    cannot be upsold, in the pure path (its tier at start) and in the SQL path (which counts C
    among the customers who did not move, in SQL): both count the same 7 eligible."""
    async with db.read() as conn:
        tiers = await metrics_store.tiers_at(conn, at=START)
    assert (tiers["sub_c"], tiers["sub_a"], tiers["sub_f"]) == (3, 1, 2)
    found, _ = await metrics_store.aggregated(db, start=START, end=END)
    assert found.eligible == (await pure(db)).eligible == ELIGIBLE


async def test_the_api_answers_the_same_figures_as_json_and_as_csv(
    shop: httpx.AsyncClient,
) -> None:
    """`GET /api/v1/admin/metrics`: the business and Uplift families hold the hand-computed
    figures, the deprecated top-level copies are the business family's and Uplift's, and each
    CSV row is the JSON figure with the same value, numerator and denominator."""
    document = (await shop.get(f"/api/v1/admin/metrics?{MARCH}", headers=ADMIN)).json()
    business, uplift = document["business"], document["uplift"]
    for cur, expected in CURRENCIES.items():
        got = business["currencies"][cur]
        for name, value in expected.items():
            if name == "ndr" or name == "average_upgrade_value":
                assert (got[name]["numerator"], got[name]["denominator"]) == value
            elif name.startswith("arpu"):
                f = got[name]
                assert (f["value"], f["numerator"], f["denominator"]) == value
            else:
                assert got[name] == value, (cur, name)
        upgrades, mrr, credited = UPLIFT[cur]
        mine = uplift["currencies"][cur]
        assert (mine["upgrades"], mine["average_upgrade_value"]["numerator"],
                mine["attributed_expansion_mrr"]) == (upgrades, mrr, credited)  # fmt: skip
    assert business["currencies"]["usd"]["average_upgrade_value"]["value"] == 6450
    assert business["currencies"]["usd"]["ndr"]["value"] == float(Fraction(87550, 81300))
    figure = business["upsell_conversion"]
    assert (figure["numerator"], figure["denominator"]) == (CONVERTED, ELIGIBLE)
    assert figure["value"] == 4 / 7
    assert uplift["upsell_conversion"]["numerator"] == THROUGH_UPLIFT
    assert business["upgraded_customers"]["value"] == UPGRADED
    assert business["time_to_upsell_days"]["median"]["value"] == 35
    assert (business["cross_sell_rate"]["numerator"],
            business["cross_sell_rate"]["denominator"]) == (1, 3)  # fmt: skip
    assert (uplift["offer_conversion"]["numerator"],
            uplift["offer_conversion"]["denominator"]) == (4, 9)  # fmt: skip
    assert {(r["offer_id"], r["variant"]): (r["exposed"], r["paid"]) for r in uplift["funnel"]} == (
        FUNNEL
    )
    assert {
        cur: {p: (f["numerator"], f["denominator"]) for p, f in per.items()}
        for cur, per in business["attach_rate"].items()
    } == ATTACHED
    [lift] = uplift["lift"]
    assert (lift["offer_id"], lift["difference"]) == ("offer_pro", -0.5)
    assert (lift["treated"]["numerator"], lift["treated"]["denominator"]) == (2, 4)
    assert (lift["held_out"]["numerator"], lift["held_out"]["denominator"]) == (1, 1)
    assert document["currencies"] == business["currencies"]
    assert document["upsell_conversion"] == business["upsell_conversion"]
    assert (document["by_offer"], document["funnel"]) == (uplift["by_offer"], uplift["funnel"])
    assert set(business["definitions"]) >= set(business["currencies"]["usd"])

    response = await shop.get(f"/api/v1/admin/metrics?{MARCH}",
                              headers={**ADMIN, "Accept": "text/csv"})  # fmt: skip
    rows = {
        (r["scope"], r["variant"], r["currency"], r["metric"]): r
        for r in csv.DictReader(io.StringIO(response.text))
    }

    def same(key: tuple[str, str, str, str], value: Any) -> None:
        row = rows[key]
        if isinstance(value, dict):
            assert (row["value"], row["numerator"], row["denominator"]) == tuple(
                "" if v is None else str(v)
                for v in (value["value"], value["numerator"], value["denominator"])
            ), key
        else:
            assert row["value"] == str(value), key

    seen = 0
    for cur, figures in business["currencies"].items():
        for name, value in figures.items():
            same(("all", "", cur, name), value)
            seen += 1
    for cur, figures in uplift["currencies"].items():
        for name, value in figures.items():
            same(("uplift", "", cur, name), value)
            seen += 1
    for name in ("upsell_conversion", "upgraded_customers", "cross_sell_rate"):
        same(("all", "", "", name), business[name])
    for name in ("upsell_conversion", "offer_conversion"):
        same(("uplift", "", "", name), uplift[name])
    for which in ("median", "p90"):
        same(("all", "", "", f"time_to_upsell_days_{which}"),
             {**business["time_to_upsell_days"][which], "denominator": None})  # fmt: skip
    for row in uplift["funnel"]:
        same((row["offer_id"], row["variant"], "", "offer_conversion"), row["conversion"])
    same(("all", "", "usd", "attach_rate_prod_reports"),
         business["attach_rate"]["usd"]["prod_reports"])  # fmt: skip
    same(("offer_pro", "", "", "lift_treated"), lift["treated"])
    same(("offer_pro", "", "", "lift_held_out"), lift["held_out"])
    same(("offer_pro", "", "", "lift"), lift["difference"])
    assert seen == 3 * (15 + 3)
    assert rows[("all", "", "usd", "mrr_start")]["note"] == business["definitions"]["mrr_start"]


async def test_a_failed_upgrade_shows_no_mrr_change(shop: httpx.AsyncClient) -> None:
    """E's declined upgrade is listed with its failure and an MRR change of 0: it moved
    nothing, whatever its quote offered; the succeeded ones keep theirs."""
    listed = (await shop.get("/api/v1/admin/upgrades", headers=ADMIN)).json()["data"]
    changes = {u["id"]: (u["status"], u["mrr_delta"]) for u in listed}
    assert changes == {
        "up_a": ("succeeded", 7000), "up_a2": ("succeeded", 1900), "up_e": ("failed", 0),
        "up_n": ("succeeded", 7000), "up_j": ("succeeded", 7000),
    }  # fmt: skip


async def test_figures_of_one_period_agree_with_each_other(shop: httpx.AsyncClient) -> None:
    """What made "0 / 1 beside 7000 / 1 and Paid = 1" possible cannot happen: the converted
    are among the upgraded customers, who made the business upgrades; every customer Uplift
    upgraded made one; the funnel's paid upgrades are Uplift's upgrades and cross-sells; and
    the time series of upgrades add up to the period's upgrades and the MRR they added."""
    document = (await shop.get(f"/api/v1/admin/metrics?{MARCH}", headers=ADMIN)).json()
    business, uplift = document["business"], document["uplift"]
    ups = sum(c["upgrades"] for c in business["currencies"].values())
    mine = sum(c["upgrades"] for c in uplift["currencies"].values())
    converted = business["upsell_conversion"]["numerator"]
    assert converted <= business["upgraded_customers"]["value"] <= ups
    assert uplift["upsell_conversion"]["numerator"] <= converted
    assert (
        uplift["upsell_conversion"]["denominator"] == business["upsell_conversion"]["denominator"]
    )
    paid = sum(row["paid"] for row in uplift["funnel"])
    assert paid == mine + business["cross_sell_rate"]["numerator"] == 4
    assert sum(r["upgrades"] for r in uplift["by_offer"]) == paid
    # The time series of upgrades are the same upgrades, bucket by bucket.
    expected = {
        "upgrades": {cur: c["upgrades"] for cur, c in business["currencies"].items()},
        "upgrade_expansion_mrr": {
            cur: c["average_upgrade_value"]["numerator"]
            for cur, c in business["currencies"].items()
        },
    }
    for metric, per_currency in expected.items():
        url = f"/api/v1/admin/metrics/timeseries?metric={metric}&interval=week&{MARCH}"
        series = (await shop.get(url, headers=ADMIN)).json()["currencies"]
        assert {cur: sum(v) for cur, v in series.items()} == {
            cur: n for cur, n in per_currency.items() if n
        }
