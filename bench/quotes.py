"""Quotes per second on one core, as a ratio to a baseline measured in the same run.

    python3 bench/quotes.py [--quotes 20000] [--stored 2000]

- `baseline: Fraction multiply per line`: the least any exact proration does: for the two lines
  of a change, one `Fraction` factor times the unit amount, rounded with `round()`. No periods,
  descriptions, validation or totals.
- `plugin.billing.proration.prorate`: the engine as `plugin.billing.quotes` calls it: validation,
  exact factor, two lines each rounded half away from zero, descriptions with dates, totals,
  customer balance and the minimum-charge rule. Changes vary over the period, quantities and prices.
- `plugin.billing.quotes.create (with storage)`: the engine plus building the quote and one durable
  INSERT through Uplift's `Database` (serialized writer, `BEGIN IMMEDIATE`, synchronous=FULL),
  into a temporary file.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from plugin import storage
from plugin.billing import proration, quotes
from plugin.billing.catalog import Price
from plugin.billing.quotes import SubscriptionState, Target

START = 1795305600  # 2026-11-22T00:00:00Z
END = START + 30 * 86400
BASIC = Target(Price("price_basic", "prod_basic", "usd", 2900, "month"), "Basic")
PRO = Target(Price("price_pro", "prod_pro", "usd", 9900, "month"), "Pro")


def changes(n: int) -> list[proration.Change]:
    return [
        proration.Change(
            currency="usd",
            old=proration.Item("price_basic", "Basic", 2900, 1 + i % 3),
            new=proration.Item("price_pro", "Pro", 9900 + i % 7, 1 + i % 5),
            period_start=START,
            period_end=END,
            change_time=START + (i * 7919) % (END - START),
            behavior="always_invoice",
        )
        for i in range(n)
    ]


def baseline(changes: list[proration.Change]) -> float:
    started = time.perf_counter()
    for change in changes:
        factor = Fraction(change.period_end - change.change_time, END - START)
        _ = round(change.old.unit_amount * change.old.quantity * factor)
        _ = round(change.new.unit_amount * change.new.quantity * factor)
    return len(changes) / (time.perf_counter() - started)


def engine(changes: list[proration.Change]) -> float:
    started = time.perf_counter()
    for change in changes:
        proration.prorate(change)
    return len(changes) / (time.perf_counter() - started)


async def stored(path: Path, n: int) -> float:
    db = await storage.connect(f"sqlite+aiosqlite:///{path}")
    await storage.migrations.apply(db, now=START)
    state = SubscriptionState("sub_bench", "si_bench", "price_basic", 1, START, END)
    started = time.perf_counter()
    for i in range(n):
        await quotes.create(
            db,
            customer_id=f"cus_{i % 100}",
            state=state,
            current=BASIC,
            target=PRO,
            to_quantity=1 + i % 5,
            now=START + (i * 7919) % (END - START),
        )
    elapsed = time.perf_counter() - started
    await db.close()
    return n / elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quotes", type=int, default=20000)
    parser.add_argument("--stored", type=int, default=2000)
    args = parser.parse_args()
    all_changes = changes(args.quotes)
    baseline(all_changes[:1000])  # warm up both loops
    engine(all_changes[:1000])
    results = {
        "baseline: Fraction multiply per line": baseline(all_changes),
        "plugin.billing.proration.prorate": engine(all_changes),
    }
    with tempfile.TemporaryDirectory(dir=".") as tmp:
        results["plugin.billing.quotes.create (with storage)"] = asyncio.run(
            stored(Path(tmp) / "quotes.db", args.stored)
        )
    base = results["baseline: Fraction multiply per line"]
    print(f"{'variant':40} {'quotes/s':>10} {'us/quote':>9} {'vs baseline':>12}")
    for name, rate in results.items():
        print(f"{name:40} {rate:10.0f} {1e6 / rate:9.1f} {rate / base:11.3f}x")


if __name__ == "__main__":
    main()
