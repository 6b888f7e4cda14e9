"""The webhook worker: how fast it applies stored events, and how far behind intake it runs
under a steady stream.

    python3 -m bench.worker [--events 20000] [--repeat 3] [--rate 500] [--seconds 10] [--json F]

- applied: `--events` stored events (new subscriptions, then a change of plan and quantity for
  each, as Stripe sends them: `customer.subscription.created` / `.updated`, every event a
  mirror write and an MRR movement) in a fresh SQLite file, then one `Worker.run_once` in this
  process, timed (events/s, CPU per event). Baseline: the same events processed the way the
  worker did before issue 24, one at a time (claim one, `dispatch.process`: its own
  transactions), interleaved with the batched runs; medians of `--repeat`.
- lag: `uplift serve` on a fresh file, signed `customer.subscription.created` deliveries at a
  steady `--rate` per second for `--seconds` over 4 keep-alive connections (Stripe keeps few
  deliveries in flight), while a reader polls the file every 20 ms for how many events are
  applied. The lag of the k-th delivery is the time from its 200 to the first poll that saw
  k events applied (events are applied in the order stored). Reports p50/p99/max lag, the
  deliveries' own latency, and the server's CPU.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sqlite3  # noqa: TID251 -- the benchmark reads the store directly
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import webhooks as webhook_bench  # noqa: E402

NOW = 1_795_305_600
POLL = 0.02  # seconds between the lag reader's looks
CONNECTIONS = 4


def _events(count: int, now: int) -> list[dict[str, Any]]:
    """`count` events: subscriptions created, then each one changed (plan and quantity)."""
    events = []
    for n in range(count):
        k = n // 2
        event = webhook_bench.subscription_event(
            f"evt_w{n:07d}", f"sub_w{k:07d}", f"cus_w{k:07d}", now + n % 2,
            type="customer.subscription.created" if n % 2 == 0
            else "customer.subscription.updated",
            plan="pro" if n % 2 == 0 else "max", amount=9900 if n % 2 == 0 else 19900,
        )  # fmt: skip
        events.append(event)
    return events


async def _applied_once(events: list[dict[str, Any]], *, batched: bool) -> dict[str, float]:
    from plugin import storage
    from plugin.clock import FixedClock
    from plugin.settings import SQLITE_PREFIX
    from plugin.storage import stripe_events as store
    from plugin.webhooks import dispatch
    from plugin.webhooks.handlers import Context
    from plugin.webhooks.worker import Worker

    with tempfile.TemporaryDirectory() as tmp:
        db = await storage.connect(SQLITE_PREFIX + str(Path(tmp) / "worker.db"))
        try:
            await storage.migrations.apply(db, now=NOW)
            rows = [
                store.NewEvent(
                    id=e["id"], type=e["type"], object_id=e["data"]["object"]["id"],
                    created=e["created"], livemode=False,
                    payload=json.dumps(e, separators=(",", ":")), received_at=NOW,
                )
                for e in events
            ]  # fmt: skip
            for start in range(0, len(rows), 500):
                await store.insert_many(db, events=rows[start : start + 500])
            clock = FixedClock(NOW + 5)
            started, cpu = time.perf_counter(), time.process_time()
            if batched:
                done = await Worker(db=db, gateway=None, clock=clock).run_once()
            else:
                done = 0
                while claimed := await store.claim_due(
                    db, now=clock.now(), lease=dispatch.LEASE, limit=1
                ):
                    ctx = Context(db=db, gateway=None, now=clock.now())
                    await dispatch.process(ctx, claimed[0])
                    done += 1
            wall = time.perf_counter() - started
            cpu = time.process_time() - cpu
            counts = await store.counts(db)
        finally:
            await db.close()
    if counts != {"processed": len(events)}:
        raise RuntimeError(f"not every event was applied: {counts}")
    return {"events": done, "events_per_s": done / wall, "cpu_us_per_event": 1e6 * cpu / done}


def applied(count: int, repeat: int) -> dict[str, Any]:
    events = _events(count, NOW)
    runs: dict[str, list[dict[str, float]]] = {"one at a time": [], "batched": []}
    for rep in range(repeat):
        for name in runs:
            result = asyncio.run(_applied_once(events, batched=name == "batched"))
            runs[name].append(result)
            shown = {k: round(v) for k, v in result.items()}
            print(f"  worker {name} #{rep + 1}: {shown}", file=sys.stderr, flush=True)
    medians = {
        name: {k: statistics.median(r[k] for r in found) for k in found[0]}
        for name, found in runs.items()
    }
    return {"events": count, "runs": runs, "medians": medians}


# Lag under a steady stream ----------------------------------------------------------------------


class _Poller(threading.Thread):
    """Counts the applied events in the server's file every `POLL` seconds."""

    def __init__(self, path: Path) -> None:
        super().__init__(daemon=True)
        self.path = path
        self.seen: list[tuple[float, int]] = []
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                with sqlite3.connect(self.path, timeout=1) as conn:
                    while not self.stop.is_set():
                        found = conn.execute(
                            "SELECT count(*) FROM webhook_events WHERE status != 'pending'"
                        ).fetchone()[0]
                        self.seen.append((time.monotonic(), int(found)))
                        time.sleep(POLL)
            except sqlite3.Error:
                time.sleep(POLL)  # the file is not there yet


async def _send(url: str, lines: list[tuple[str, str]], rate: int) -> list[tuple[float, float]]:
    """Deliver `lines` at `rate` per second; returns (sent at, answered at) per delivery."""
    import httpx

    answered: list[tuple[float, float]] = [(0.0, 0.0)] * len(lines)
    begin = time.monotonic()
    gate = asyncio.Semaphore(CONNECTIONS)
    limits = httpx.Limits(max_connections=CONNECTIONS, max_keepalive_connections=CONNECTIONS)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=30) as http:

        async def one(n: int, signature: str, body: str) -> None:
            async with gate:
                sent = time.monotonic()
                response = await http.post(
                    "/webhooks/stripe",
                    content=body,
                    headers={"Stripe-Signature": signature, "Content-Type": "application/json"},
                )
                if response.status_code != 200:
                    raise RuntimeError(f"delivery {n}: {response.status_code}")
                answered[n] = (sent, time.monotonic())

        tasks = []
        for n, (signature, body) in enumerate(lines):
            due = begin + n / rate
            pause = due - time.monotonic()
            if pause > 0:
                await asyncio.sleep(pause)
            tasks.append(asyncio.create_task(one(n, signature, body)))
        await asyncio.gather(*tasks)
    return answered


def lag(rate: int, seconds: int) -> dict[str, Any]:
    from bench.__main__ import cpu_of_tree, server, webhook_env

    now = int(time.time())  # noqa: TID251 -- the server checks the signatures against its clock
    count = rate * seconds
    lines = [
        webhook_bench.signed(
            webhook_bench.subscription_event(
                f"evt_l{n:07d}", f"sub_l{n:07d}", f"cus_l{n:07d}", now,
                type="customer.subscription.created",
            ),
            now,
        )
        for n in range(count)
    ]  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "lag.db"
        env = webhook_env(path)
        command = [sys.executable, "-m", "plugin", "serve", "--host", "127.0.0.1"]
        with server(command, env, "/webhooks/stripe") as (url, pid):
            poller = _Poller(path)
            poller.start()
            cpu_before = cpu_of_tree(pid)
            answered = asyncio.run(_send(url, lines, rate))
            deadline = time.monotonic() + 60
            while (not poller.seen or poller.seen[-1][1] < count) and time.monotonic() < deadline:
                time.sleep(POLL)
            cpu = cpu_of_tree(pid) - cpu_before
            poller.stop.set()
            poller.join()
    seen = poller.seen
    lags, i = [], 0
    for k, (_, acked) in enumerate(answered):
        while i < len(seen) and seen[i][1] < k + 1:
            i += 1
        if i == len(seen):
            raise RuntimeError(f"only {seen[-1][1] if seen else 0} of {count} events applied")
        lags.append(max(0.0, seen[i][0] - acked))
    lags.sort()
    latency = sorted(done - sent for sent, done in answered)
    return {
        "rate": rate,
        "seconds": seconds,
        "events": count,
        "lag_p50_ms": 1e3 * lags[len(lags) // 2],
        "lag_p99_ms": 1e3 * lags[int(len(lags) * 0.99)],
        "lag_max_ms": 1e3 * lags[-1],
        "delivery_p50_ms": 1e3 * latency[len(latency) // 2],
        "delivery_p99_ms": 1e3 * latency[int(len(latency) * 0.99)],
        "server_cpu_share": cpu / (answered[-1][1] - answered[0][0]),
        "poll_ms": 1e3 * POLL,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--rate", type=int, default=500)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    found = {"applied": applied(args.events, args.repeat), "lag": lag(args.rate, args.seconds)}
    print(json.dumps(found, indent=1, default=str)[:4000])
    if args.json:
        args.json.write_text(json.dumps(found, indent=1))


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    main()
