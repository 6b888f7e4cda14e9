"""Single-process micro-benchmarks, pinned to one core, printed as one JSON document.

    python3 -m bench.micro [--customers 5000] [--quotes 20000] [--repeat 3]

- eligibility: `plugin.eligibility.evaluate` for one customer against 50 active offers
  (bench/eligibility.py's mix), customers/s, against the bare loop measured in the same run;
- quotes: `plugin.proration.prorate`, quotes/s, against one `Fraction` multiply per line.

`python3 -m bench` runs this in a child process so that pinning (os.sched_setaffinity) does not
follow the servers it starts.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics

from bench import eligibility, quotes


def pin() -> int:
    """Pin this process to one core (the first it may use); returns the core."""
    core = min(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {core})
    return core


def run(*, customers: int, n_quotes: int, repeat: int) -> dict[str, object]:
    core = pin()
    offers = eligibility.make_offers(50)
    states = eligibility.make_customers(customers, offers)
    changes = quotes.changes(n_quotes)
    eligibility.uplift(offers, states[:500])  # warm up
    quotes.engine(changes[:1000])
    runs: dict[str, list[float]] = {"bare": [], "evaluate": [], "fraction": [], "prorate": []}
    for _ in range(repeat):
        runs["bare"].append(eligibility.bare_loop(offers, states))
        runs["evaluate"].append(eligibility.uplift(offers, states))
        runs["fraction"].append(quotes.baseline(changes))
        runs["prorate"].append(quotes.engine(changes))
    med = {name: statistics.median(rates) for name, rates in runs.items()}
    return {
        "core": core,
        "eligibility": {
            "offers": len(offers),
            "customers": customers,
            "bare_loop_per_s": med["bare"],
            "customers_per_s": med["evaluate"],
            "us_per_customer": 1e6 / med["evaluate"],
            "ratio": med["evaluate"] / med["bare"],
            "runs": runs["evaluate"],
        },
        "quotes": {
            "quotes": n_quotes,
            "fraction_baseline_per_s": med["fraction"],
            "quotes_per_s": med["prorate"],
            "us_per_quote": 1e6 / med["prorate"],
            "ratio": med["prorate"] / med["fraction"],
            "runs": runs["prorate"],
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=5000)
    parser.add_argument("--quotes", type=int, default=20000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(
        json.dumps(
            run(customers=args.customers, n_quotes=args.quotes, repeat=args.repeat), indent=2
        )
    )


if __name__ == "__main__":
    main()
