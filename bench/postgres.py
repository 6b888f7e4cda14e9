"""Webhook intake and the offers endpoint on PostgreSQL with 1 and 3 instances, and on SQLite
with one process for reference, in one run, on loopback.

    python3 bench/postgres.py [--seconds 8] [--repeat 1] [--dsn postgresql://…/postgres]

- The loads are bench/webhooks.py's (distinct `customer.subscription.created` events signed
  before the run; Uplift's worker mirrors each) and bench/offers_endpoint.py's (50 active
  offers, 2,000 customers, a different customer's token per request), driven by bench/wrk.py.
- N instances are N `uplift serve` processes on one database, each loaded by its own wrk with
  a share of the connections (as a load balancer would spread them); events/s and req/s are
  the sums, p50 the median and p99 the worst of the instances. Each instance's webhooks are
  distinct events (ids made unique per instance, re-signed).
- PostgreSQL: a throwaway cluster from tests/postgres.py, durable as in production (fsync
  and synchronous_commit on, like SQLite's synchronous=FULL here), unless `--dsn` names a
  server; a fresh database per run.

On a 2-core box three instances, PostgreSQL and wrk share two cores, so the 3-instance column
shows the cost of coordination more than any gain; on real hosts each instance has its own.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import os
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import asyncpg  # type: ignore[import-untyped]  # noqa: E402, TID251 -- creates the bench databases

from bench import offers_endpoint, webhooks, wrk  # noqa: E402
from plugin import storage  # noqa: E402
from tests import postgres as cluster  # noqa: E402

INSTANCES = (1, 3)
Target = tuple[str, Path, tuple[str, ...]]  # URL, wrk script, script arguments


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def _servers(count: int, env: dict[str, str], probe: str) -> Iterator[list[str]]:
    """`count` `uplift serve` processes; yields their base URLs."""
    started = []
    try:
        for _ in range(count):
            port = _free_port()
            url = f"http://127.0.0.1:{port}"
            started.append(
                (url, wrk.start([sys.executable, "-m", "plugin", "serve", "--port", str(port)],
                                env | {"PYTHONPATH": str(ROOT)}, url + probe))
            )  # fmt: skip
        yield [url for url, _ in started]
    finally:
        for _, process in started:
            wrk.stop(process)


def _load(
    binary: str, targets: list[Target], *, seconds: int, connections: int
) -> dict[str, float]:
    """One wrk per target at once, the connections split between them; the combined result."""
    share = max(2, connections // len(targets))
    with ThreadPoolExecutor(len(targets)) as pool:
        runs = list(
            pool.map(
                lambda t: wrk.run(
                    binary, t[0], t[1], seconds=seconds, connections=share, script_args=t[2]
                ),
                targets,
            )
        )
    return {
        "rps": sum(r["rps"] for r in runs),
        "p50_ms": statistics.median(r["p50_ms"] for r in runs),
        "p99_ms": max(r["p99_ms"] for r in runs),
        "errors": sum(r["errors"] for r in runs),
        "non2xx": sum(r["non2xx"] for r in runs),
    }


def _events_for(instance: int, source: Path, target: Path) -> None:
    """bench/webhooks.py's events with ids unique to one instance, signed again."""
    with source.open() as lines, target.open("w") as out:
        for line in lines:
            signature, body = line.rstrip("\n").split("\t", 1)
            t = signature.split(",")[0][2:]
            body = body.replace("_bench_", f"_bench{instance}_")
            digest = hmac.new(
                webhooks.SECRET.encode(), f"{t}.".encode() + body.encode(), hashlib.sha256
            )
            out.write(f"t={t},v1={digest.hexdigest()}\t{body}\n")


class _Redirect:
    """bench/offers_endpoint.seed opens a SQLite file by path; this hands it `url` instead, so
    both benchmarks serve the same seeded world."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.migrations = storage.migrations

    async def connect(self, _url: str, **kwargs: Any) -> storage.Database:
        return await storage.connect(self.url, **kwargs)


async def _seed_offers(url: str, now: int) -> list[str]:
    names = vars(offers_endpoint)
    real = names["storage"]
    names["storage"] = _Redirect(url)
    try:
        return await offers_endpoint.seed(Path("unused"), now)
    finally:
        names["storage"] = real


class Databases:
    def __init__(self, dsn: str, tmp: Path) -> None:
        self.dsn = dsn
        self.tmp = tmp
        self.made = 0

    def fresh(self, backend: str) -> str:
        self.made += 1
        if backend == "sqlite":
            return f"sqlite+aiosqlite:///{self.tmp / f'bench-{self.made}.db'}"
        name = f"uplift_bench_{os.getpid()}_{self.made}"

        async def create() -> None:
            conn = await asyncpg.connect(self.dsn)
            try:
                await conn.execute(f'CREATE DATABASE "{name}"')
            finally:
                await conn.close()

        asyncio.run(create())
        return cluster.uplift_url(cluster.with_database(self.dsn, name))


def _migrate(url: str, now: int) -> None:
    async def run() -> None:
        db = await storage.connect(url)
        try:
            await storage.migrations.apply(db, now=now)
        finally:
            await db.close()

    asyncio.run(run())


def _pending(url: str) -> int:
    async def run() -> int:
        db = await storage.connect(url)
        try:
            async with db.read() as conn:
                return int(
                    await conn.fetch_value(
                        "SELECT count(*) FROM webhook_events WHERE status = 'pending'"
                    )
                )
        finally:
            await db.close()

    return asyncio.run(run())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--webhook-connections", type=int, default=32)
    parser.add_argument("--offers-connections", type=int, default=64)
    parser.add_argument("--dsn", help="a PostgreSQL server (its `postgres` database) to use")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    binary = wrk.ensure_wrk()
    now = int(time.time())  # noqa: TID251 -- signatures and tokens must verify against the servers
    variants = [("sqlite", 1)] + [("postgresql", n) for n in INSTANCES]
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        started = None
        dsn = args.dsn
        if dsn is None:
            # A directory of its own: the server runs as `postgres`, which cannot enter `tmp`.
            started = Path(tempfile.mkdtemp(prefix="uplift-bench-pg-"))
            dsn = cluster.start(started, settings=cluster.DURABLE_SETTINGS)
        try:
            dbs = Databases(dsn, tmp)
            events = tmp / "events.tsv"
            webhooks.write_events(
                events, webhooks.RATE_CEILING * args.seconds, now, kind="subscription"
            )
            script = tmp / "webhooks.lua"
            script.write_text(webhooks.LUA)
            for k in range(max(INSTANCES)):
                _events_for(k, events, tmp / f"events-{k}.tsv")
            base_env = {k: v for k, v in os.environ.items() if not k.startswith("UPLIFT_")} | {
                "UPLIFT_STRIPE_API_KEY": "sk_test_bench",
                "UPLIFT_STRIPE_API_BASE": "http://127.0.0.1:9",  # never called here
                "UPLIFT_STRIPE_WEBHOOK_SECRETS": webhooks.SECRET,
                "UPLIFT_WIDGET_SECRET": offers_endpoint.SECRET,
            }
            for backend, count in variants:
                name = f"webhooks, {backend}, {count} instance{'s' if count > 1 else ''}"
                runs = []
                for _ in range(args.repeat):
                    url = dbs.fresh(backend)
                    _migrate(url, now)
                    env = base_env | {"UPLIFT_DATABASE_URL": url}
                    with _servers(count, env, "/webhooks/stripe") as urls:
                        targets: list[Target] = [
                            (u + "/webhooks/stripe", script, (str(tmp / f"events-{k}.tsv"),))
                            for k, u in enumerate(urls)
                        ]
                        result = _load(
                            binary, targets, seconds=args.seconds,
                            connections=args.webhook_connections,
                        )  # fmt: skip
                        result["pending_at_stop"] = _pending(url)
                    runs.append(result)
                    print(f"  {name}: {result}", file=sys.stderr)
                results[name] = {k: statistics.median(r[k] for r in runs) for k in runs[0]}

            for backend, count in variants:
                name = f"offers, {backend}, {count} instance{'s' if count > 1 else ''}"
                url = dbs.fresh(backend)
                tokens = asyncio.run(_seed_offers(url, now))
                offers_script = tmp / "offers.lua"
                offers_script.write_text(
                    offers_endpoint.LUA % ", ".join(json.dumps(t) for t in tokens) + wrk.RESULT_LUA
                )
                env = base_env | {"UPLIFT_DATABASE_URL": url}
                runs = []
                with _servers(count, env, "/api/v1/widget/offers") as urls:
                    for _ in range(args.repeat):
                        targets = [(u + "/api/v1/widget/offers", offers_script, ()) for u in urls]
                        runs.append(
                            _load(
                                binary, targets, seconds=args.seconds,
                                connections=args.offers_connections,
                            )
                        )  # fmt: skip
                        print(f"  {name}: {runs[-1]}", file=sys.stderr)
                results[name] = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
        finally:
            if started is not None:
                cluster.stop(started)
    print(f"{args.seconds} s per run, median of {args.repeat}; loopback, this machine")
    print(f"{'load':40} {'per s':>8} {'p50 ms':>7} {'p99 ms':>7} {'errors':>7} {'non-2xx':>8}")
    for name, r in results.items():
        print(
            f"{name:40} {r['rps']:8.0f} {r['p50_ms']:7.1f} {r['p99_ms']:7.1f}"
            f" {r['errors']:7.0f} {r['non2xx']:8.0f}"
        )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
