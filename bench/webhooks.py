"""Sustained webhook intake: Uplift's `POST /webhooks/stripe` against a bare Starlette endpoint
doing only the HMAC check and one INSERT, in one run, on loopback.

    python3 bench/webhooks.py [--seconds 8] [--connections 32] [--repeat 3]

- baseline W (`baseline_app` below): Starlette, one aiosqlite connection with the same pragmas
  as Uplift (WAL, synchronous=FULL, busy_timeout), an `asyncio.Lock` around each
  INSERT OR IGNORE + COMMIT, HMAC-SHA256 over `"{t}.{body}"` with `compare_digest`, 200;
- Uplift: `uplift serve` on a migrated SQLite file: header check, Stripe signature (both
  directions of tolerance, every secret), pydantic event parse, INSERT … ON CONFLICT DO NOTHING
  in a BEGIN IMMEDIATE transaction shared by the deliveries that arrived together (group commit,
  plugin/webhooks/intake.py), 200 after its COMMIT, then its worker processes each event in the same
  process (the events are `customer.subscription.created` for distinct subscriptions, so it
  writes the mirror and an MRR movement for each). The worker holds back while deliveries
  arrive (one event per 0.1 s), so nearly all of the processing happens after the load.

Both run under uvicorn in one process with no access log and no server header. Every request
is a distinct event, signed before the run (Stripe signs each delivery; signing is the
sender's cost, not the receiver's), so no request is a cheap duplicate. Load: wrk, 2 threads,
`--connections`, `--seconds`; medians of `--repeat` runs, each on a fresh database. Reports
events/s, p50/p99 latency, non-2xx and socket errors, rows stored, and for Uplift how many
events its worker had processed when the load stopped and how long it then took, with the
server still running and idle, to process the rest (`drain_s`, waited for up to
`DRAIN_LIMIT`; the events/s above count intake only). Each run signs its events just before
it starts.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import sqlite3  # noqa: TID251 -- the benchmark reads the stores directly
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import wrk  # noqa: E402

SECRET = "whsec_bench_0123456789abcdef"  # noqa: S105 -- a throwaway secret for loopback
# Events/s no server here reaches; sizes the set of distinct events. Past it, wrk starts over
# at the first line and every request is a redelivery (a cheaper one: nothing new to write),
# so a run that reaches it warns. Uplift passed the former 6,000.
RATE_CEILING = 12_000
TOLERANCE = 300  # the signatures are made once, so the whole run must fit in Stripe's window


# The baseline receivers (run by uvicorn as `bench.webhooks:baseline_app` / `:stripe_app`,
# `--factory`): one aiosqlite connection with Uplift's pragmas, an `asyncio.Lock` around each
# INSERT OR IGNORE + COMMIT (one commit per event), 200.


def _receiver(verify: Callable[[bytes, str], str | None]) -> object:
    """A Starlette app that stores an event when `verify(body, Stripe-Signature)` returns its
    id, and answers 400 when it returns None."""
    import asyncio

    import aiosqlite  # noqa: TID251 -- the baselines talk to SQLite directly
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    path = os.environ["BENCH_DB"]
    state: dict[str, aiosqlite.Connection] = {}
    lock = asyncio.Lock()

    async def receive(request: Request) -> JSONResponse:
        body = await request.body()
        event_id = verify(body, request.headers.get("stripe-signature", ""))
        if event_id is None:
            return JSONResponse({"error": "bad signature"}, status_code=400)
        async with lock:
            await state["db"].execute(
                "INSERT OR IGNORE INTO events (id, payload) VALUES (?, ?)",
                (event_id, body.decode()),
            )
            await state["db"].commit()
        return JSONResponse({"received": True})

    async def lifespan(app: Starlette):  # type: ignore[no-untyped-def]
        conn = await aiosqlite.connect(path)
        for pragma in ("journal_mode = WAL", "synchronous = FULL", "busy_timeout = 5000"):
            await conn.execute(f"PRAGMA {pragma}")
        await conn.execute("CREATE TABLE IF NOT EXISTS events (id TEXT PRIMARY KEY, payload TEXT)")
        await conn.commit()
        state["db"] = conn
        yield
        await conn.close()

    return Starlette(
        routes=[Route("/webhooks/stripe", receive, methods=["POST"])], lifespan=lifespan
    )


def baseline_app() -> object:
    """Baseline B: HMAC-SHA256 over `"{t}.{body}"` with `compare_digest`, `json.loads` for
    the id: the least a correct receiver does."""
    secret = os.environ["BENCH_SECRET"].encode()

    def verify(body: bytes, header: str) -> str | None:
        parts = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
        expected = hmac.new(secret, parts.get("t", "").encode() + b"." + body, hashlib.sha256)
        if not hmac.compare_digest(expected.hexdigest().encode(), parts.get("v1", "").encode()):
            return None
        event_id: str = json.loads(body)["id"]
        return event_id

    return _receiver(verify)


def stripe_app() -> object:
    """The receiver as Stripe's docs show it ("what users would write"):
    `stripe.Webhook.construct_event`, then the same one-commit-per-event insert."""
    import stripe  # noqa: TID251 -- this baseline is the stripe-python receiver

    secret = os.environ["BENCH_SECRET"]

    def verify(body: bytes, header: str) -> str | None:
        try:
            event = stripe.Webhook.construct_event(body, header, secret)
        except (ValueError, stripe.SignatureVerificationError):
            return None
        event_id: str = event.id
        return event_id

    return _receiver(verify)


# The load. Besides RESULT, the script prints per wrk thread how many requests it generated
# and how many were answered (THREAD tid generated answered), so the caller can tell which
# events were sent and check that every answered one is stored.

LUA = (
    wrk.THREADS_LUA
    + """
answered = 0
non2xx = 0
function init(args)
  reqs = {}
  for _, line in ipairs(thread_lines(args[1])) do
    local sig, body = line:match("^([^\\t]*)\\t(.*)$")
    table.insert(reqs, wrk.format("POST", "/webhooks/stripe",
      {["Stripe-Signature"] = sig, ["Content-Type"] = "application/json"}, body))
  end
end
response = function(status, headers, body)
  answered = answered + 1
  if status < 200 or status > 299 then non2xx = non2xx + 1 end
end
done = function(summary, latency, requests)
  local bad = 0
  for _, t in ipairs(threads) do
    io.write(string.format("THREAD %d %d %d\\n", t:get("tid"), t:get("counter"),
             t:get("answered")))
    bad = bad + t:get("non2xx")
  end
  io.write(string.format("RESULT %d %d %d %d %d\\n", summary.requests,
           latency:percentile(50), latency:percentile(99),
           summary.errors.connect + summary.errors.read + summary.errors.write
             + summary.errors.timeout + summary.errors.status, bad))
end
"""
)


def subscription_event(
    event_id: str, sub: str, customer: str, now: int, *, type: str, plan: str = "pro",
    amount: int = 9900,
) -> dict[str, object]:  # fmt: skip
    """A Stripe event about a one-item monthly subscription, as the API version Uplift pins
    sends it."""
    price = {
        "id": f"price_{plan}_monthly",
        "object": "price",
        "product": f"prod_{plan}",
        "currency": "usd",
        "unit_amount": amount,
        "recurring": {"interval": "month", "interval_count": 1},
        "active": True,
    }
    item = {
        "id": "si_" + sub.removeprefix("sub_"),
        "price": price,
        "quantity": 1,
        "current_period_start": now,
        "current_period_end": now + 30 * 86400,
    }
    return {
        "id": event_id,
        "object": "event",
        "api_version": "2026-10-28.endive",
        "type": type,
        "created": now,
        "livemode": False,
        "data": {
            "object": {
                "id": sub,
                "object": "subscription",
                "customer": customer,
                "status": "active",
                "currency": "usd",
                "items": {"object": "list", "data": [item]},
                "cancel_at_period_end": False,
                "trial_end": None,
                "canceled_at": None,
            }
        },
    }  # fmt: skip


def signed(event: dict[str, object], now: int) -> tuple[str, str]:
    """(Stripe-Signature, body) as Stripe signs a delivery at `now`."""
    body = json.dumps(event, separators=(",", ":"))
    digest = hmac.new(SECRET.encode(), f"{now}.{body}".encode(), hashlib.sha256)
    return f"t={now},v1={digest.hexdigest()}", body


def write_events(path: Path, count: int, now: int, *, kind: str, duplicate_every: int = 0) -> None:
    """One signed event per line: `signature<TAB>body`. `kind` "subscription" makes
    `customer.subscription.created` events (Uplift's worker mirrors each one); "ignored" makes
    `payout.paid` events (same envelope, a smaller object), which the worker only marks
    ignored: intake on its own, with processing nearly free. With `duplicate_every` N, every
    Nth line redelivers the event of the line N - 1 before it (a Stripe retry)."""
    with path.open("w") as out:
        for line in range(count):
            n = line
            if duplicate_every and line % duplicate_every == duplicate_every - 1:
                n = line - (duplicate_every - 1)
            event = subscription_event(
                f"evt_bench_{n:07d}", f"sub_bench_{n:07d}", f"cus_bench_{n:07d}", now,
                type="customer.subscription.created" if kind == "subscription" else "payout.paid",
            )  # fmt: skip
            signature, body = signed(event, now)
            out.write(f"{signature}\t{body}\n")


def ids(path: Path, table: str) -> set[str]:
    """Every event id stored in `table` (the receivers' tables all key on `id`)."""
    with sqlite3.connect(path, timeout=10) as conn:
        return {row[0] for row in conn.execute(f"SELECT id FROM {table}")}  # noqa: S608


def count(path: Path, sql: str) -> int:
    with sqlite3.connect(path, timeout=10) as conn:
        found: int = conn.execute(sql).fetchone()[0]
    return found


DRAIN_LIMIT = 300  # seconds the benchmarks wait, after the load, for the backlog to be processed


def drain_seconds(path: Path, *, limit: float = DRAIN_LIMIT) -> tuple[float, int]:
    """Wait, while the server keeps running, until its worker has processed every stored event;
    returns (seconds waited, events still pending: 0 unless `limit` ran out). Uplift's worker
    holds back while deliveries arrive, so most of a burst is processed here, after it."""
    started = time.monotonic()
    pending_sql = "SELECT count(*) FROM webhook_events WHERE status = 'pending'"
    while (pending := count(path, pending_sql)) and time.monotonic() - started < limit:
        time.sleep(0.25)
    return time.monotonic() - started, pending


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--events", choices=["subscription", "ignored"], default="subscription")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    wrk_bin = wrk.ensure_wrk()
    started = time.monotonic()
    if args.seconds + 10 > TOLERANCE - 30:
        parser.error(f"a run of {args.seconds} s would outlive the signatures' {TOLERANCE} s")
    with tempfile.TemporaryDirectory() as tmp:
        events = Path(tmp) / "events.tsv"
        script = Path(tmp) / "webhooks.lua"
        script.write_text(LUA)
        env = {k: v for k, v in os.environ.items() if not k.startswith("UPLIFT_")}
        env |= {"PYTHONPATH": str(ROOT)}
        servers = {
            "baseline W (HMAC + INSERT)": [
                sys.executable, "-m", "uvicorn", "bench.webhooks:baseline_app", "--factory",
                "--no-access-log", "--log-level", "warning", "--no-server-header",
                "--no-proxy-headers",
            ],
            "uplift POST /webhooks/stripe": [sys.executable, "-m", "plugin", "serve"],
        }  # fmt: skip
        results: dict[str, dict[str, float]] = {}
        for name, command in servers.items():
            runs = []
            for run in range(args.repeat):
                db = Path(tmp) / f"{len(results)}-{run}.db"
                server_env = env | {
                    "BENCH_DB": str(db),
                    "BENCH_SECRET": SECRET,
                    "UPLIFT_DATABASE_URL": f"sqlite+aiosqlite:///{db}",
                    "UPLIFT_STRIPE_API_KEY": "sk_test_bench",
                    "UPLIFT_STRIPE_API_BASE": "http://127.0.0.1:9",  # never called here
                    "UPLIFT_STRIPE_WEBHOOK_SECRETS": SECRET,
                }
                port = 18100 + len(results) * 10 + run
                url = f"http://127.0.0.1:{port}/webhooks/stripe"
                # Signed just before each run: Stripe's tolerance is 5 minutes, and a drain
                # can take longer than that.
                now = int(time.time())  # noqa: TID251 -- signatures must verify against the server
                write_events(events, RATE_CEILING * args.seconds, now, kind=args.events)
                process = wrk.start([*command, "--port", str(port)], server_env, url)
                try:
                    result = wrk.run(
                        wrk_bin,
                        url,
                        script,
                        seconds=args.seconds,
                        connections=args.connections,
                        script_args=(str(events),),
                    )
                    result["peak_rss_mib"] = wrk.peak_rss_mib(process.pid)
                    table = "webhook_events" if "uplift" in name else "events"
                    result["stored"] = count(db, f"SELECT count(*) FROM {table}")  # noqa: S608
                    if "uplift" in name:
                        result["processed_at_stop"] = count(
                            db, "SELECT count(*) FROM webhook_events WHERE status != 'pending'"
                        )
                        result["drain_s"], result["pending_after_drain"] = drain_seconds(db)
                    runs.append(result)
                    print(f"  {name} run {run + 1}: {result}", file=sys.stderr)
                finally:
                    wrk.stop(process)
            results[name] = {key: statistics.median(r[key] for r in runs) for key in runs[0]}
    if time.monotonic() - started > TOLERANCE:
        print("warning: the run outlived the signatures; late requests were 400s", file=sys.stderr)
    base = next(iter(results.values()))["rps"]
    print(
        f"POST /webhooks/stripe, distinct signed {args.events} events,"
        f" {args.connections} connections, {args.seconds} s, median of {args.repeat}"
    )
    print(
        f"{'server':30} {'events/s':>9} {'p50 ms':>7} {'p99 ms':>7} {'errors':>7}"
        f" {'non-2xx':>8} {'stored':>8} {'ratio':>6}"
    )
    for name, r in results.items():
        print(
            f"{name:30} {r['rps']:9.0f} {r['p50_ms']:7.2f} {r['p99_ms']:7.2f} {r['errors']:7.0f}"
            f" {r['non2xx']:8.0f} {r['stored']:8.0f} {r['rps'] / base:5.2f}x"
        )
    uplift = results["uplift POST /webhooks/stripe"]
    print(
        f"uplift's worker had finished {uplift['processed_at_stop']:.0f} of"
        f" {uplift['stored']:.0f} stored events when the load stopped, and the rest"
        f" {uplift['drain_s']:.0f} s later ({uplift['pending_after_drain']:.0f} still pending)"
    )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
