"""`GET /api/v1/admin/offers/{id}/audience` over 20,000 customers and 50 active offers, in
process (ASGI, lifespan entered), as the console asks while an admin edits an offer.

    python3 -m bench.audience [--customers 20000] [--runs 9] [--db FILE] [--json]

Seeds with bench/offers_endpoint.py's shop (Uplift's own write path): the plan ladder, 50
active offers (bench/eligibility.py's mix: placements, priorities, holdouts, caps, windows),
`--customers` customers on Basic/Pro/Enterprise with usage, feature hits and offer history.
Then asks for the audience of five offers of different rules, `--runs` rounds after one warm-up,
and reports the median and p90 per request.

Baseline, measured in the same run on the same database: `GET /api/v1/admin/offers/{id}` (the
same admin key check and stack, one indexed read), so the ratio is the cost of reading every
customer and running the widget's gates over them. Nothing here asserts a time.
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

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.eligibility import NOW
from bench.offers_endpoint import seed
from plugin.app import create_app
from plugin.clock import FixedClock
from plugin.settings import Settings

ADMIN_KEY = "uplift_sk_bench_audience_admin_key"
OFFERS = ("offer_00", "offer_01", "offer_02", "offer_03", "offer_04")  # one per rule


async def measure(url: str, runs: int) -> dict[str, list[float]]:
    app = create_app(Settings(database_url=url, admin_key=ADMIN_KEY), clock=FixedClock(NOW))
    timings: dict[str, list[float]] = {"audience": [], "baseline": []}
    timings.update({offer: [] for offer in OFFERS})
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://b") as http,
    ):
        headers = {"Authorization": f"Bearer {ADMIN_KEY}"}
        for round_ in range(runs + 1):
            for offer in OFFERS:
                for name, path in (
                    ("baseline", f"/api/v1/admin/offers/{offer}"),
                    ("audience", f"/api/v1/admin/offers/{offer}/audience"),
                ):
                    started = time.perf_counter()
                    response = await http.get(path, headers=headers)
                    elapsed = (time.perf_counter() - started) * 1000
                    if response.status_code != 200:
                        raise SystemExit(f"{path} answered {response.status_code}")
                    if round_:  # the first round warms the caches and the snapshot
                        timings[name].append(elapsed)
                        if name == "audience":
                            timings[offer].append(elapsed)
    return timings


def _p90(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, -(-9 * len(ordered) // 10) - 1)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--db", type=Path, help="reuse this file if it exists (else seed it)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = args.db or Path(tmp) / "audience.db"
        seeded_s = 0.0
        if not path.exists():
            started = time.perf_counter()
            asyncio.run(seed(path, NOW, customers=args.customers))
            seeded_s = time.perf_counter() - started
        timings = asyncio.run(measure(f"sqlite+aiosqlite:///{path}", args.runs))
    audience, baseline = timings["audience"], timings["baseline"]
    median, base = statistics.median(audience), statistics.median(baseline)
    by_offer = {o: round(statistics.median(timings[o]), 1) for o in OFFERS}
    name = f"GET /api/v1/admin/offers/{{id}}/audience, {args.customers:,} customers, 50 offers"
    result = {
        "name": name, "value": round(median, 1), "unit": "ms", "median_ms": round(median, 1),
        "p90_ms": round(_p90(audience), 1), "max_ms": round(max(audience), 1),
        "baseline_median_ms": round(base, 2), "ratio": round(median / base, 1),
        "runs": len(audience), "seed_s": round(seeded_s, 1),
        "by_offer_median_ms": by_offer,
        "load_average": round(os.getloadavg()[0], 2),
    }  # fmt: skip
    if args.json:
        print(json.dumps(result))
        return
    print(
        f"{name}: median {median:.1f} ms, p90 {result['p90_ms']} ms, max {result['max_ms']} ms; "
        f"baseline GET /api/v1/admin/offers/{{id}} {base:.2f} ms (x{result['ratio']}); "
        f"{len(audience)} requests, load average {result['load_average']}; by offer: "
        + ", ".join(f"{o} {ms} ms" for o, ms in by_offer.items())
    )


if __name__ == "__main__":
    main()
