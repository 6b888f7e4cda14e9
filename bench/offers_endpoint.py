"""`GET /api/v1/widget/offers` against a bare Starlette endpoint, in one run, on loopback.

    python3 bench/offers_endpoint.py [--seconds 8] [--connections 64] [--repeat 3]

- baseline A (bench/baseline_app.py): a bare Starlette app answering a ~300-byte JSON, under
  the same uvicorn settings (one process, no access log, uvloop/httptools when installed);
- Uplift: `uplift serve` on a seeded SQLite file: 50 active offers (the mix of
  bench/eligibility.py), the plan ladder, 2,000 customers on Basic/Pro/Enterprise with usage,
  feature hits and offer history; every request carries a different customer's token.

Load: wrk (Debian's package, installed here if missing), 2 threads, `--connections`, for
`--seconds`; medians of `--repeat` runs. Reports requests/s, p50/p99 latency, non-2xx
responses and socket errors, the server's peak RSS, and the ratio Uplift / baseline.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import wrk  # noqa: E402
from bench.eligibility import make_offers  # noqa: E402
from plugin import auth, storage  # noqa: E402
from plugin.billing.catalog import Plan, Price, Product  # noqa: E402
from plugin.billing.mirror import MirrorItem, MirrorSubscription  # noqa: E402
from plugin.storage import audit as audit_store  # noqa: E402
from plugin.storage import catalog as catalog_store  # noqa: E402
from plugin.storage import customers as customer_store  # noqa: E402
from plugin.storage import offers as offer_store  # noqa: E402
from plugin.storage import plans as plan_store  # noqa: E402
from plugin.storage import subscriptions as subscription_store  # noqa: E402
from plugin.storage.steps import run  # noqa: E402

SECRET = "bench-widget-secret-" + "0123456789abcdef" * 3
CUSTOMERS = 2000
PLANS = [("basic", 2900), ("pro", 9900), ("enterprise", 29900)]
PLACEMENTS = ("banner", "settings", "post_order", "limits")


async def seed(path: Path, now: int, customers: int = CUSTOMERS) -> list[str]:
    """The database Uplift serves from; returns one token per customer."""
    db = await storage.connect(f"sqlite+aiosqlite:///{path}")
    await storage.migrations.apply(db, now=now)
    offers = make_offers(50)
    tokens = []
    async with db.transaction() as conn:
        for plan, amount in PLANS:
            await catalog_store.upsert_product(conn, product=Product(f"prod_{plan}", plan), now=now)
            await catalog_store.upsert_price(
                conn,
                price=Price(f"price_{plan}_monthly", f"prod_{plan}", "usd", amount, "month"),
                now=now,
            )
        await plan_store.replace(
            conn,
            plans=[
                Plan(plan, plan.title(), tier, (f"price_{plan}_monthly",),
                     {"storage_gb": 10 * tier, "users": 5 * tier})
                for tier, (plan, _) in enumerate(PLANS, start=1)
            ],
            now=now,
        )  # fmt: skip
        for offer in offers:
            await offer_store.insert(conn, offer=offer, now=now)
        await audit_store.record(
            conn, actor="bench", action="seed", target=None, detail={}, now=now
        )
        for n in range(customers):
            customer, cus = f"cust_{n:05d}", f"cus_{n:05d}"
            plan, amount = PLANS[n % 3]
            await customer_store.upsert(
                conn,
                customer_id=customer,
                stripe_customer=cus,
                attrs={"industry": ("fintech", "retail", "saas")[n % 3], "company_size": n % 300},
                signup_at=now - (n % 90) * 86_400,
                now=now,
            )
            await subscription_store.upsert(
                conn,
                subscription=MirrorSubscription(
                    id=f"sub_{n:05d}", customer_id=cus, status="active", currency="usd",
                    items=(MirrorItem(f"si_{n:05d}", f"price_{plan}_monthly", f"prod_{plan}", 1,
                                      amount, "usd", "month"),),
                    current_period_start=now - 86_400, current_period_end=now + 29 * 86_400,
                    trial_end=None, cancel_at_period_end=False, canceled_at=None,
                ),
                now=now,
            )  # fmt: skip
            for metric, value in (("storage_gb", n % 31), ("users", n % 17)):
                await run(conn, customer_store.apply_usage_steps(
                    customer_id=customer, metric=metric, value=value, mode="set",
                    idempotency_key=f"seed-{metric}", fingerprint="seed", now=now,
                ))  # fmt: skip
            await customer_store.record_feature_hit(
                conn, customer_id=customer, feature="sso", now=now - (n % 20) * 86_400
            )
            # Offer history: 7-8 impressions each, one a day over the past week, so most
            # customers have one in the last 24 h and still see offers; every 10th was shown
            # all of them in the last hours and is over the 5-a-day cap (sees nothing).
            for k, offer in enumerate(offers[n % 7 :: 7]):
                ago = 3600 * (n % 5) + (0 if n % 10 == 0 else 86_400 * k)
                await offer_store.record_event(
                    conn, offer_id=offer.id, customer_id=customer, arm="control",
                    event_type="impression", now=now - ago,
                )  # fmt: skip
            tokens.append(
                auth.issue_customer_token(
                    secret=SECRET, customer_id=customer, now=now, ttl=auth.MAX_TOKEN_TTL
                )
            )
    await db.close()
    return tokens


LUA = """
local tokens = {%s}
local placements = {"banner", "settings", "post_order", "limits"}
local counter = 0
request = function()
  counter = counter + 1
  local token = tokens[(counter %% #tokens) + 1]
  local placement = placements[(counter %% #placements) + 1]
  return wrk.format("GET", "/api/v1/widget/offers?placement=" .. placement,
                    {["Authorization"] = "Bearer " .. token})
end
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    wrk_bin = wrk.ensure_wrk()
    now = int(time.time())  # noqa: TID251 -- tokens must be valid against the server's clock
    with tempfile.TemporaryDirectory() as tmp:
        db_path = Path(tmp) / "bench.db"
        tokens = asyncio.run(seed(db_path, now))
        script = Path(tmp) / "offers.lua"
        script.write_text(LUA % ", ".join(json.dumps(t) for t in tokens) + wrk.RESULT_LUA)
        env = {k: v for k, v in os.environ.items() if not k.startswith("UPLIFT_")}
        env.update(
            UPLIFT_DATABASE_URL=f"sqlite+aiosqlite:///{db_path}",
            UPLIFT_STRIPE_API_KEY="sk_test_bench",
            UPLIFT_STRIPE_API_BASE="http://127.0.0.1:9",
            UPLIFT_WIDGET_SECRET=SECRET,
        )
        servers = {
            "baseline A (bare Starlette)": [
                sys.executable, "-m", "uvicorn", "bench.baseline_app:app", "--no-access-log",
                "--log-level", "warning", "--no-server-header",
            ],
            "uplift GET /api/v1/widget/offers": [sys.executable, "-m", "plugin", "serve"],
        }  # fmt: skip
        results: dict[str, dict[str, float]] = {}
        for name, command in servers.items():
            runs: list[dict[str, float]] = []
            rss = 0.0
            for _ in range(args.repeat):
                port = 18000 + len(results) * 10 + len(runs)
                url = f"http://127.0.0.1:{port}"
                process = wrk.start(
                    [*command, "--port", str(port)],
                    env | {"PYTHONPATH": str(ROOT)},
                    url + "/api/v1/widget/offers",
                )
                try:
                    runs.append(
                        wrk.run(
                            wrk_bin,
                            url + "/api/v1/widget/offers",
                            script,
                            seconds=args.seconds,
                            connections=args.connections,
                        )
                    )
                    print(f"  {name} run {len(runs)}: {runs[-1]}", file=sys.stderr)
                    rss = max(rss, wrk.peak_rss_mib(process.pid))
                finally:
                    wrk.stop(process)
            results[name] = {
                key: statistics.median(run[key] for run in runs) for key in runs[0]
            } | {"peak_rss_mib": rss}
    base = next(iter(results.values()))["rps"]
    print(
        f"GET /api/v1/widget/offers, {args.connections} connections, {args.seconds} s,"
        f" median of {args.repeat}"
    )
    print(
        f"{'server':34} {'req/s':>8} {'p50 ms':>7} {'p99 ms':>7} {'errors':>7}"
        f" {'non-2xx':>8} {'RSS MiB':>8} {'ratio':>6}"
    )
    for name, r in results.items():
        print(
            f"{name:34} {r['rps']:8.0f} {r['p50_ms']:7.2f} {r['p99_ms']:7.2f} {r['errors']:7.0f}"
            f" {r['non2xx']:8.0f} {r['peak_rss_mib']:8.1f} {r['rps'] / base:5.2f}x"
        )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
