"""`GET /api/v1/admin/metrics` (LTV included) and `GET /api/v1/admin/metrics/cohorts` over a year
of a large shop, in process (ASGI, lifespan entered), against a baseline measured in the same run.

    python3 -m bench.metrics [--customers 50000] [--upgrades 100000] [--events 1000000]
                             [--runs 15] [--db FILE] [--json]

Seeds, straight into a migrated SQLite file with executemany (the bench's own SQL, not
Uplift's write path, which would take minutes): the plan ladder, `--customers` subscriptions
(nine in ten in USD, the rest in EUR), each one's `new` movement, `--upgrades` upgrades
(Basic→Pro, then Pro→Enterprise; 90 % succeeded with their expansion in the ledger and their
status history, 10 % failed), 3 % churn, ten offers, four exposures per customer and
`--events` offer events spread over the year, a customer record for each and the `sso` feature
hit by three in ten of them (`audit_log` by one in ten). Then times, interleaved, `--runs` times
each after one warm-up: the baseline `GET /api/v1/admin/plans` (the admin key check and one
small read), the metrics for their default period (the last 30 days), and the cohorts for theirs
(twelve months of signups), as MRR retention and as the adoption of `sso`; prints each median
(and p90, max) and its ratio to the baseline's.

With `--json`, prints one JSON object: {"name", "value", "unit", "median_ms", "p90_ms",
"max_ms", "runs", "rows", …} for the metrics (what `python3 -m bench` reads), with `baseline`,
`cohorts` and `cohorts_feature` beside them, each {"path", "median_ms", "p90_ms", "max_ms",
"cpu_median_ms", "vs_baseline"}. Nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sqlite3  # noqa: TID251 -- the bench seeds its rows with direct SQL, in bulk
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from plugin import storage
from plugin.app import create_app
from plugin.clock import FixedClock
from plugin.settings import Settings

NOW = 1795305600  # 2026-11-22T00:00:00Z
DAY = 86_400
YEAR = 365 * DAY
ADMIN_KEY = "uplift_sk_bench_metrics_admin_key"
PLANS = (("basic", 1, "price_basic", 2900), ("pro", 2, "price_pro", 9900),
         ("enterprise", 3, "price_enterprise", 29900))  # fmt: skip
OFFERS = [(f"offer_{i}", kind) for i, kind in enumerate(
    ["upgrade"] * 6 + ["post_order"] * 2 + ["interval_switch"] * 2)]  # fmt: skip
EVENT_TYPES = ("impression", "impression", "impression", "click", "dismiss", "decline", "accept")


def _chunks(rows: Iterator[tuple[Any, ...]], size: int = 50_000) -> Iterator[list[tuple[Any, ...]]]:
    chunk: list[tuple[Any, ...]] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def seed(path: Path, *, customers: int, upgrades: int, events: int) -> dict[str, int]:
    rng = random.Random(7)  # noqa: S311 -- reproducible data, not secrets
    db = sqlite3.connect(path)
    db.execute("PRAGMA synchronous = OFF")
    counts: dict[str, int] = {}

    def put(table: str, sql: str, rows: Iterator[tuple[Any, ...]]) -> None:
        for chunk in _chunks(rows):
            db.executemany(sql, chunk)
            counts[table] = counts.get(table, 0) + len(chunk)

    # Indexes are dropped for the bulk insert and built again after it: one sort per index
    # instead of a million B-tree insertions.
    indexes = [
        sql for (sql,) in db.execute(
            "SELECT sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL")
    ]  # fmt: skip
    for (name,) in db.execute(
        "SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
    ).fetchall():
        db.execute(f"DROP INDEX {name}")
    with db:
        for plan, tier, price, _ in PLANS:
            db.execute("INSERT INTO plans (id, name, tier, updated_at) VALUES (?, ?, ?, ?)",
                       (plan, plan.title(), tier, NOW))  # fmt: skip
            db.execute("INSERT INTO plan_prices (price_id, plan_id) VALUES (?, ?)", (price, plan))
        for offer_id, kind in OFFERS:
            db.execute(
                "INSERT INTO offers (id, kind, status, document, version, created_at, updated_at)"
                " VALUES (?, ?, 'active', '{}', 1, ?, ?)",
                (offer_id, kind, NOW - YEAR, NOW - YEAR),
            )
        start = [NOW - YEAR + rng.randrange(YEAR - 60 * DAY) for _ in range(customers)]
        currency = ["eur" if i % 10 == 9 else "usd" for i in range(customers)]
        # Each customer's upgrades, in order: Basic→Pro, then Pro→Enterprise.
        steps: list[list[tuple[int, int]]] = [[] for _ in range(customers)]  # (time, tier)
        for j in range(upgrades):
            c = j % customers
            previous = steps[c][-1][0] if steps[c] else start[c]
            steps[c].append((previous + rng.randrange(1, max(2, (NOW - previous) // 2)), 0))
        ledger: list[tuple[Any, ...]] = []
        quotes: list[tuple[Any, ...]] = []
        ups: list[tuple[Any, ...]] = []
        history: list[tuple[Any, ...]] = []
        final_price: list[str] = []
        for c in range(customers):
            cus, sub, cur = f"cus_{c:07}", f"sub_{c:07}", currency[c]
            mrr, tier = 2900, 0
            ledger.append((f"evt_new_{c}", sub, cus, "new", cur, 2900, 0, 2900, start[c], None,
                           None))  # fmt: skip
            last = start[c]
            for n, (at, _) in enumerate(steps[c]):
                if tier + 1 >= len(PLANS):
                    break
                up, quote = f"up_{c}_{n}", f"qt_{c}_{n}"
                offer = OFFERS[(c + n) % 6][0]
                old, new = PLANS[tier], PLANS[tier + 1]
                delta = new[3] - old[3]
                ok = rng.random() < 0.9
                quotes.append((quote, cus, offer, "control", sub, f"si_{c:07}", old[2], new[2],
                               start[c], start[c] + 30 * DAY, at, cur, delta, at))  # fmt: skip
                ups.append((up, quote, f"key_{c}_{n}", cus, offer, "control", sub, f"si_{c:07}",
                            old[2], new[2], cur, delta, delta if ok else None, delta,
                            "succeeded" if ok else "failed", at, at, at))  # fmt: skip
                history.append((up, "processing", at))
                history.append((up, "succeeded" if ok else "failed", at + 2))
                if ok:
                    ledger.append((f"evt_up_{c}_{n}", sub, cus, "expansion", cur, delta, mrr,
                                   mrr + delta, at + 5, up, offer))  # fmt: skip
                    mrr += delta
                    tier += 1
                    last = at + 5
            if c % 33 == 0 and last < NOW - DAY:
                ledger.append((f"evt_churn_{c}", sub, cus, "churn", cur, -mrr, mrr, 0,
                               last + rng.randrange(1, NOW - last), None, None))  # fmt: skip
                mrr = 0
            final_price.append(PLANS[tier][2] if mrr else PLANS[0][2])
        put(
            "subscriptions",
            "INSERT INTO subscriptions (id, customer_id, status, currency,"
            " cancel_at_period_end, mrr, updated_at) VALUES (?, ?, 'active', ?, 0, ?, ?)",
            ((f"sub_{c:07}", f"cus_{c:07}", currency[c], 0, NOW) for c in range(customers)),
        )
        put("subscription_items", "INSERT INTO subscription_items (id, subscription_id, price_id,"
            " product_id, quantity, currency, interval) VALUES (?, ?, ?, 'prod', 1, ?, 'month')",
            ((f"si_{c:07}", f"sub_{c:07}", final_price[c], currency[c])
             for c in range(customers)))  # fmt: skip
        put("mrr_movements", "INSERT INTO mrr_movements (event_id, subscription_id, customer_id,"
            " kind, currency, amount, mrr_before, mrr_after, occurred_at, upgrade_id, offer_id)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", iter(ledger))  # fmt: skip
        put("quotes", "INSERT INTO quotes (id, customer_id, offer_id, variant, execution, timing,"
            " subscription_id, subscription_item_id, from_price, from_quantity, to_price,"
            " to_quantity, period_start, period_end, proration_date, currency, lines,"
            " invoice_total, amount_due_now, mrr_delta, created_at, expires_at) VALUES"
            " (?, ?, ?, ?, 'uplift', 'now', ?, ?, ?, 1, ?, 1, ?, ?, ?, ?, '[]', 0, 0, ?, ?, 0)",
            iter(quotes))  # fmt: skip
        put("upgrades", "INSERT INTO upgrades (id, quote_id, idempotency_key, customer_id,"
            " offer_id, variant, execution, subscription_id, subscription_item_id, from_price,"
            " from_quantity, to_price, to_quantity, currency, amount_quoted, amount_paid,"
            " mrr_delta, status, effective_at, created_at, updated_at) VALUES"
            " (?, ?, ?, ?, ?, ?, 'uplift', ?, ?, ?, 1, ?, 1, ?, ?, ?, ?, ?, ?, ?, ?)",
            iter(ups))  # fmt: skip
        put("upgrade_events", "INSERT INTO upgrade_events (upgrade_id, status, at)"
            " VALUES (?, ?, ?)", iter(history))  # fmt: skip
        put("offer_assignments", "INSERT INTO offer_assignments (offer_id, customer_id, arm,"
            " assigned_at) VALUES (?, ?, ?, ?)",
            ((OFFERS[(c + k) % len(OFFERS)][0], f"cus_{c:07}",
              "holdout" if (c + k) % 10 == 0 else "control", start[c] + k * DAY)
             for c in range(customers) for k in range(4)))  # fmt: skip
        put(
            "customers",
            "INSERT INTO customers (id, stripe_customer, attrs, signup_at,"
            " created_at, updated_at) VALUES (?, ?, '{}', ?, ?, ?)",
            ((f"saas_{c:07}", f"cus_{c:07}", start[c], start[c], NOW) for c in range(customers)),
        )
        put("feature_hits", "INSERT INTO feature_hits (customer_id, feature, hits, first_at,"
            " last_at) VALUES (?, ?, 1, ?, ?)",
            ((f"saas_{c:07}", feature, start[c] + offset, start[c] + offset)
             for c in range(customers)
             for feature, share in (("sso", 3), ("audit_log", 1)) if c % 10 < share
             for offset in (rng.randrange(1, max(2, NOW - start[c])),)))  # fmt: skip
        put("offer_events", "INSERT INTO offer_events (offer_id, customer_id, arm, type, at)"
            " VALUES (?, ?, ?, ?, ?)",
            ((OFFERS[i % len(OFFERS)][0], f"cus_{rng.randrange(customers):07}", "control",
              EVENT_TYPES[i % len(EVENT_TYPES)], NOW - YEAR + rng.randrange(YEAR))
             for i in range(events)))  # fmt: skip
    with db:
        for sql in indexes:
            db.execute(sql)
    db.execute("ANALYZE")
    db.close()
    return counts


# What is timed, interleaved so a busy machine slows each alike; the baseline first.
PATHS = {
    "baseline": "/api/v1/admin/plans",
    "metrics": "/api/v1/admin/metrics",
    "cohorts": "/api/v1/admin/metrics/cohorts",
    "cohorts_feature": "/api/v1/admin/metrics/cohorts?kind=feature:sso",
}


async def measure(database_url: str, runs: int) -> dict[str, tuple[list[float], list[float]]]:
    """Per path, wall-clock and CPU milliseconds per request. CPU time is the process's, every
    thread (SQLite runs on aiosqlite's): on a busy machine it says what the wall clock cannot."""
    settings = Settings(database_url=database_url, admin_key=ADMIN_KEY)
    app = create_app(settings, clock=FixedClock(NOW))
    found: dict[str, tuple[list[float], list[float]]] = {name: ([], []) for name in PATHS}
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://b") as http,
    ):
        headers = {"Authorization": f"Bearer {ADMIN_KEY}"}
        for i in range(runs + 1):
            for name, path in PATHS.items():
                started, cpu_started = time.perf_counter(), time.process_time()
                response = await http.get(path, headers=headers)
                elapsed = (time.perf_counter() - started) * 1000
                used = (time.process_time() - cpu_started) * 1000
                if response.status_code != 200:
                    raise SystemExit(f"{path} answered {response.status_code}: {response.text}")
                if i:  # the first request warms the caches (and the admin key lookup)
                    found[name][0].append(elapsed)
                    found[name][1].append(used)
    return found


def _summary(wall: list[float], cpu: list[float], base: float) -> dict[str, Any]:
    timings = sorted(wall)
    median = statistics.median(timings)
    return {
        "median_ms": round(median, 1), "p90_ms": round(_p90(timings), 1),
        "max_ms": round(timings[-1], 1), "cpu_median_ms": round(statistics.median(cpu), 1),
        "vs_baseline": round(median / base, 1) if base else None,
    }  # fmt: skip


def _p90(timings: list[float]) -> float:
    return timings[max(0, -(-9 * len(timings) // 10) - 1)]


async def prepare(path: Path) -> str:
    url = f"sqlite+aiosqlite:///{path}"
    db = await storage.connect(url)
    try:
        await storage.migrations.apply(db, now=NOW)
    finally:
        await db.close()
    return url


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=50_000)
    parser.add_argument("--upgrades", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--db", type=Path, help="reuse this file if it exists (else seed it)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = args.db or Path(tmp) / "metrics.db"
        rows: dict[str, int] = {}
        seeded_s = 0.0
        fresh = not path.exists()
        url = asyncio.run(prepare(path))
        if fresh:
            started = time.perf_counter()
            rows = seed(path, customers=args.customers, upgrades=args.upgrades, events=args.events)
            seeded_s = time.perf_counter() - started
        measured = asyncio.run(measure(url, args.runs))
        load = os.getloadavg()[0]
    base = statistics.median(measured["baseline"][0])
    summaries = {name: _summary(*measured[name], base) for name in PATHS}
    timings = sorted(measured["metrics"][0])
    median = statistics.median(timings)
    name = (f"GET /api/v1/admin/metrics, {args.upgrades:,} upgrades and {args.events:,} offer"
            " events, last 30 days")  # fmt: skip
    if args.json:
        print(json.dumps({
            "name": name, "value": round(median, 1), "unit": "ms",
            "median_ms": round(median, 1), "p90_ms": round(_p90(timings), 1),
            "max_ms": round(timings[-1], 1), "runs": len(timings), "rows": rows,
            "cpu_median_ms": summaries["metrics"]["cpu_median_ms"],
            "load_average": round(load, 2), "seed_s": round(seeded_s, 1),
            **{key: {"path": PATHS[key], **summaries[key]}
               for key in ("baseline", "metrics", "cohorts", "cohorts_feature")},
        }))  # fmt: skip
        return
    if rows:
        print(f"seeded in {seeded_s:.1f} s: " + ", ".join(f"{n:,} {t}" for t, n in rows.items()))
    print(
        f"{args.upgrades:,} upgrades, {args.events:,} offer events, {args.customers:,}"
        f" customers; {len(timings)} runs each, in process, load average {load:.2f}"
    )
    for key, path in PATHS.items():
        s = summaries[key]
        print(
            f"  GET {path}: median {s['median_ms']} ms ({s['vs_baseline']}x the baseline),"
            f" p90 {s['p90_ms']} ms, max {s['max_ms']} ms; CPU median {s['cpu_median_ms']} ms"
        )


if __name__ == "__main__":
    main()
