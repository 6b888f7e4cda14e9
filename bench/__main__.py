"""`python3 -m bench`: every benchmark against its baseline, in one run, on 127.0.0.1.

    python3 -m bench [--quick] [--only mixed,offers,webhooks,intake,worker,widget,micro,metrics]
                     [--out DIR]
                     [--seconds 8] [--repeat 3] [--workers 1] [--customers 20000]

HTTP (each server started here, driven by wrk with 2 threads; baseline and Uplift runs are
interleaved, A U A U A U, so drift on this shared machine hits both alike; medians):
- mixed: baseline M (bare Starlette, the same shapes) vs Uplift on the mix a site sends (70 %
  GET offers, 20 % impressions, 5 % usage, 5 % signed webhooks) for `--customers` customers,
  64 connections, then each kind alone; any 429 misses the target (bench/mixed.py);
- offers: baseline A (bare Starlette, ~300-byte JSON) vs Uplift `GET /api/v1/widget/offers`
  for 2,000 distinct customers (valid tokens, 50 active offers, usage, feature hits and offer
  history), 64 connections;
- webhooks: baseline B (HMAC + INSERT, Uplift's pragmas), the `stripe.Webhook.construct_event`
  receiver, and Uplift `POST /webhooks/stripe`, unique signed events with 10 % redeliveries,
  32 connections; afterwards every answered event must be in the store. Uplift's worker holds
  back while deliveries arrive, so the report also gives how many events it had processed
  when the load stopped and how long the rest took afterwards (server idle; req/s is intake);
- intake: baseline B vs Uplift at 1, 4 and 8 connections (the 32-connection point is the
  webhooks run), 4 s runs: group commit must not cost a delivery that arrives alone;
- worker (bench/worker.py): stored events applied per second by the worker (batches sharing
  a transaction) against the same events one at a time, in process; and the lag from a
  delivery's 200 to its event applied under a steady 500 deliveries a second;
- widget: baseline S (the script's gzipped bytes in memory) vs Uplift `GET /widget/uplift.js`
  with gzip; and one If-None-Match request that must get 304.
Micro (a child process pinned to one core): eligibility and quotes; metrics from
`python3 -m bench.metrics --json` when that module exists.

Writes `DIR/latest.json` and `DIR/latest.md` (default `bench/results/`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx

from bench import mixed, report, wrk
from bench import webhooks as webhook_bench
from bench.eligibility import make_offers
from bench.offers_endpoint import LUA as OFFERS_LUA
from bench.offers_endpoint import SECRET as WIDGET_SECRET
from bench.offers_endpoint import seed

ROOT = Path(__file__).resolve().parent.parent
UVICORN = [
    sys.executable, "-m", "uvicorn", "--no-access-log", "--log-level", "warning",
    "--no-server-header", "--no-proxy-headers", "--host", "127.0.0.1",
]  # fmt: skip
UPLIFT = [sys.executable, "-m", "plugin", "serve", "--host", "127.0.0.1"]
SCENARIOS = ("mixed", "offers", "webhooks", "intake", "worker", "widget", "micro", "metrics")
OFFERS_WARMUP_LIMIT = 20  # seconds of warm-up load at most before the measured run

WIDGET_LUA = (
    """
wrk.headers["Accept-Encoding"] = "gzip, deflate, br"
"""
    + wrk.RESULT_LUA
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


@contextlib.contextmanager
def server(command: list[str], env: dict[str, str], path: str) -> Iterator[tuple[str, int]]:
    """Start `command` on a free port; yields (base url, pid); stops it afterwards."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    process = wrk.start([*command, "--port", str(port)], env, url + path)
    try:
        yield url, process.pid
    finally:
        wrk.stop(process)


def base_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("UPLIFT_", "BENCH_"))}
    return env | {"PYTHONPATH": str(ROOT)}


def summarise(runs: list[dict[str, float]]) -> dict[str, Any]:
    keys = [k for k in runs[0] if isinstance(runs[0][k], int | float)]
    medians = {k: statistics.median(r[k] for r in runs) for k in keys}
    medians["peak_rss_mib"] = max(r["peak_rss_mib"] for r in runs)
    return medians | {"runs": runs}


def interleaved(
    names: list[str], repeat: int, one: Callable[[str, int], dict[str, float]]
) -> dict[str, dict[str, Any]]:
    """Run `one(name, rep)` for every server, rep by rep (A U A U …), and take medians."""
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in names}
    for rep in range(repeat):
        for name in names:
            result = one(name, rep)
            runs[name].append(result)
            shown = {k: round(v, 2) for k, v in result.items() if isinstance(v, int | float)}
            print(f"  {name} #{rep + 1}: {shown}", file=sys.stderr, flush=True)
    return {name: summarise(r) for name, r in runs.items()}


# Offers ----------------------------------------------------------------------------------------


def bench_offers(args: argparse.Namespace, wrk_bin: str, tmp: Path) -> dict[str, Any]:
    now = int(time.time())  # noqa: TID251 -- tokens must be valid against the servers' clocks
    db_path = tmp / "offers.db"
    tokens = asyncio.run(seed(db_path, now))
    script = tmp / "offers.lua"
    script.write_text(OFFERS_LUA % ", ".join(json.dumps(t) for t in tokens) + wrk.RESULT_LUA)
    env = base_env() | {
        "UPLIFT_DATABASE_URL": f"sqlite+aiosqlite:///{db_path}",
        "UPLIFT_STRIPE_API_KEY": "sk_test_bench",
        "UPLIFT_STRIPE_API_BASE": "http://127.0.0.1:9",  # never called here
        "UPLIFT_WIDGET_SECRET": WIDGET_SECRET,
    }
    workers = ["--workers", str(args.workers)]
    commands = {
        "baseline A: bare Starlette, ~300-byte JSON": [
            *UVICORN, *workers, "bench.baseline_app:app"
        ],
        "Uplift GET /api/v1/widget/offers": [*UPLIFT, *workers],
    }  # fmt: skip
    path = "/api/v1/widget/offers"

    def one(name: str, rep: int) -> dict[str, float]:
        with server(commands[name], env, path) as (url, pid):
            # Warm-up, the same for both: until every customer has been asked for twice (the
            # tokens are used in turn), as on a server that has been up a while.
            warmed, deadline = 0.0, time.monotonic() + OFFERS_WARMUP_LIMIT
            while warmed < 2 * len(tokens) and time.monotonic() < deadline:
                warmed += wrk.run(
                    wrk_bin, url + path, script, seconds=1, connections=args.connections
                )["requests"]
            result = measured(
                wrk_bin, url + path, script, pid, seconds=args.seconds,
                connections=args.connections,
            )  # fmt: skip
            check = httpx.get(
                url + path + "?placement=banner",
                headers={"Authorization": f"Bearer {tokens[0]}"},
                timeout=10,
            )
            result["sample_status"] = check.status_code
            result["sample_bytes"] = len(check.content)
            result["peak_rss_mib"] = rss_of_tree(pid)
        return result

    servers = interleaved(list(commands), args.repeat, one)
    return {
        "what": f"GET {path}, {len(tokens)} distinct customers, 50 active offers",
        "connections": args.connections,
        "seconds": args.seconds,
        "workers": args.workers,
        "servers": servers,
    }


def cpu_of_tree(pid: int) -> float:
    """CPU seconds (user + system) the server process and its workers have used so far."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    pids = [pid]
    with contextlib.suppress(OSError):
        pids += [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    for one in pids:
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = Path(f"/proc/{one}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / ticks
    return total


def measured(
    wrk_bin: str,
    url: str,
    script: Path,
    pid: int,
    *,
    seconds: int,
    connections: int,
    script_args: tuple[str, ...] = (),
) -> dict[str, float]:
    """One wrk run, with the server's CPU time per answered request (microseconds): on a
    shared machine, throughput moves with everyone else's load; CPU per request much less."""
    before = cpu_of_tree(pid)
    result = wrk.run(
        wrk_bin, url, script, seconds=seconds, connections=connections, script_args=script_args
    )
    result["cpu_us_per_request"] = 1e6 * (cpu_of_tree(pid) - before) / max(1, result["requests"])
    return result  # fmt: skip


def rss_of_tree(pid: int) -> float:
    """Peak RSS of the server process, plus its children (uvicorn's workers) if any."""
    total = wrk.peak_rss_mib(pid)
    with contextlib.suppress(OSError):
        for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
            with contextlib.suppress(OSError, IndexError):
                total += wrk.peak_rss_mib(int(child))
    return total


# Webhooks --------------------------------------------------------------------------------------


def webhook_env(db: Path) -> dict[str, str]:
    """The environment of a webhook receiver (either kind) on the SQLite file `db`."""
    return base_env() | {
        "BENCH_DB": str(db),
        "BENCH_SECRET": webhook_bench.SECRET,
        "UPLIFT_DATABASE_URL": f"sqlite+aiosqlite:///{db}",
        "UPLIFT_STRIPE_API_KEY": "sk_test_bench",
        "UPLIFT_STRIPE_API_BASE": "http://127.0.0.1:9",  # never called here
        "UPLIFT_STRIPE_WEBHOOK_SECRETS": webhook_bench.SECRET,
    }


def bench_webhooks(args: argparse.Namespace, wrk_bin: str, tmp: Path) -> dict[str, Any]:
    script = tmp / "webhooks.lua"
    script.write_text(webhook_bench.LUA)
    commands = {
        "baseline B: HMAC + INSERT": [
            *UVICORN, "--factory", "bench.webhooks:baseline_app"
        ],
        "construct_event + INSERT (Stripe's docs)": [
            *UVICORN, "--factory", "bench.webhooks:stripe_app"
        ],
        "Uplift POST /webhooks/stripe": [*UPLIFT],
    }  # fmt: skip
    events_per_run = webhook_bench.RATE_CEILING * args.seconds

    def one(name: str, rep: int) -> dict[str, float]:
        # Signed just before the run: Stripe's tolerance is 5 minutes.
        now = int(time.time())  # noqa: TID251 -- signatures must verify against the server
        events = tmp / "events.tsv"
        webhook_bench.write_events(
            events, events_per_run, now, kind="subscription", duplicate_every=10
        )
        db = tmp / f"webhooks-{len(name)}-{rep}.db"
        env = webhook_env(db)
        with server(commands[name], env, "/webhooks/stripe") as (url, pid):
            cpu_before = cpu_of_tree(pid)
            out = subprocess.run(
                [wrk_bin, "-t2", f"-c{args.webhook_connections}", f"-d{args.seconds}s",
                 "-s", str(script), url + "/webhooks/stripe", "--", str(events)],
                capture_output=True, text=True, check=True, timeout=args.seconds + 60,
            ).stdout  # fmt: skip
            rss = wrk.peak_rss_mib(pid)
            cpu = cpu_of_tree(pid) - cpu_before
            table = "webhook_events" if name.startswith("Uplift") else "events"
            stored_ids = webhook_bench.ids(db, table)
            processed, drain, pending = 0, 0.0, 0
            if name.startswith("Uplift"):
                processed = webhook_bench.count(
                    db, "SELECT count(*) FROM webhook_events WHERE status != 'pending'"
                )
                # The server keeps running: how long its worker takes for the rest.
                drain, pending = webhook_bench.drain_seconds(db)
        result = wrk.parse(out, args.seconds)
        if result["requests"] > events_per_run:
            print(f"  warning: {name} sent more requests than distinct events", file=sys.stderr)
        result["cpu_us_per_request"] = 1e6 * cpu / max(1, result["requests"])
        sent, unanswered = sent_ids(events, out)
        missing = sent - stored_ids
        result |= {
            "peak_rss_mib": rss,
            "stored": len(stored_ids),
            "distinct_sent": len(sent),
            "unanswered_at_stop": unanswered,
            "missing": len(missing),
            "unexpected": len(stored_ids - sent),
            "processed_at_stop": processed,
            "drain_s": drain,
            "pending_after_drain": pending,
        }
        return result

    servers = interleaved(list(commands), args.repeat, one)
    for found in servers.values():
        found["lost_check"] = all(
            r["non2xx"] == 0 and r["missing"] <= r["unanswered_at_stop"] and r["unexpected"] == 0
            for r in found["runs"]
        )
    return {
        "what": "POST /webhooks/stripe, customer.subscription.created, unique signed events,"
        " every 10th a redelivery",
        "connections": args.webhook_connections,
        "seconds": args.seconds,
        "servers": servers,
    }


INTAKE_CURVE = (1, 4, 8)  # connections; the 32-connection point is the webhooks run above


def bench_intake(args: argparse.Namespace, wrk_bin: str, tmp: Path) -> dict[str, Any]:
    """Intake with few deliveries in flight, as Stripe delivers to one endpoint: baseline B
    and Uplift, interleaved, at each of `INTAKE_CURVE` connections (4 s runs)."""
    script = tmp / "intake.lua"
    script.write_text(webhook_bench.LUA)
    commands = {
        "baseline B: HMAC + INSERT": [*UVICORN, "--factory", "bench.webhooks:baseline_app"],
        "Uplift POST /webhooks/stripe": [*UPLIFT],
    }
    seconds = min(args.seconds, 4)
    points: dict[str, Any] = {}
    for connections in INTAKE_CURVE:

        def one(name: str, rep: int, connections: int = connections) -> dict[str, float]:
            now = int(time.time())  # noqa: TID251 -- signatures must verify against the server
            events = tmp / "intake.tsv"
            webhook_bench.write_events(
                events, webhook_bench.RATE_CEILING * seconds, now, kind="subscription"
            )
            db = tmp / f"intake-{connections}-{len(name)}-{rep}.db"
            env = webhook_env(db)
            with server(commands[name], env, "/webhooks/stripe") as (url, pid):
                cpu_before = cpu_of_tree(pid)
                result = wrk.run(
                    wrk_bin, url + "/webhooks/stripe", script, seconds=seconds,
                    connections=connections, script_args=(str(events),),
                )  # fmt: skip
                cpu = cpu_of_tree(pid) - cpu_before
            result["cpu_us_per_request"] = 1e6 * cpu / max(1, result["requests"])
            result["peak_rss_mib"] = 0.0
            return result

        print(f"  {connections} connection(s)", file=sys.stderr, flush=True)
        points[str(connections)] = interleaved(list(commands), args.repeat, one)
    return {"seconds": seconds, "points": points}


def bench_worker(args: argparse.Namespace) -> dict[str, Any]:
    """bench/worker.py: events applied per second (batched vs one at a time), and the lag
    behind a steady 500 deliveries a second."""
    from bench import worker

    events = 4_000 if args.quick else 20_000
    return {
        "applied": worker.applied(events, args.repeat),
        "lag": worker.lag(500, 4 if args.quick else 10),
    }


def sent_ids(events: Path, wrk_out: str) -> tuple[set[str], int]:
    """Event ids of every request wrk generated (per thread, in order) and how many of those
    had no answer when wrk stopped (in flight: they may or may not be stored)."""
    lines = events.read_text().splitlines()
    per_thread = [lines[0::2], lines[1::2]]
    sent: set[str] = set()
    unanswered = 0
    for row in wrk_out.splitlines():
        if not row.startswith("THREAD "):
            continue
        tid, generated, answered = map(int, row.split()[1:])
        mine = per_thread[tid]
        for i in range(min(generated, len(mine))):
            sent.add(json.loads(mine[i].split("\t", 1)[1])["id"])
        unanswered += generated - answered
    return sent, unanswered


# Mixed -----------------------------------------------------------------------------------------


def bench_mixed(args: argparse.Namespace, wrk_bin: str, tmp: Path) -> dict[str, Any]:
    """bench/mixed.py's stream against baseline M: the mix, then each kind alone."""
    now = int(time.time())  # noqa: TID251 -- tokens and signatures must verify against the server
    seeded = tmp / "mixed.db"
    tokens = asyncio.run(seed(seeded, now, customers=args.customers))
    offers = make_offers(50)
    script = tmp / "mixed.lua"
    script.write_text(mixed.LUA)
    warm = tmp / "warm.tsv"  # GETs only: a warm-up must not spend the measured run's events
    mixed.write_stream(warm, count=2 * len(tokens), tokens=tokens, offers=offers, now=now,
                       mix=mixed.ALONE["offers"])  # fmt: skip
    workloads = {"mix": mixed.MIX} | {f"{kind} only": mix for kind, mix in mixed.ALONE.items()}
    if args.quick:
        workloads = {"mix": mixed.MIX}
    commands = {
        "baseline M: bare Starlette, same shapes": [
            *UVICORN, "--workers", str(args.workers), "bench.baseline_app:app"
        ],
        "Uplift": [*UPLIFT, "--workers", str(args.workers)],
    }  # fmt: skip
    stream = tmp / "stream.tsv"
    count = mixed.RATE_CEILING * args.seconds
    found: dict[str, Any] = {}
    for workload, mix in workloads.items():
        print(f"  {workload}", file=sys.stderr, flush=True)

        def one(name: str, rep: int, mix: tuple[tuple[str, int], ...] = mix) -> dict[str, float]:
            db = tmp / f"mixed-run-{rep}.db"
            shutil.copyfile(seeded, db)
            made_at = int(time.time())  # noqa: TID251 -- signed just before the run
            made = mixed.write_stream(
                stream, count=count, tokens=tokens, offers=offers, now=made_at, mix=mix
            )
            env = base_env() | {
                "UPLIFT_DATABASE_URL": f"sqlite+aiosqlite:///{db}",
                "UPLIFT_STRIPE_API_KEY": "sk_test_bench",
                "UPLIFT_STRIPE_API_BASE": "http://127.0.0.1:9",  # never called here
                "UPLIFT_WIDGET_SECRET": WIDGET_SECRET,
                "UPLIFT_ADMIN_KEY": mixed.ADMIN_KEY,
                "UPLIFT_STRIPE_WEBHOOK_SECRETS": webhook_bench.SECRET,
            }
            path = "/api/v1/widget/offers"
            with server(commands[name], env, path) as (url, pid):
                wrk.run(wrk_bin, url + path, script, seconds=2, connections=args.connections,
                        script_args=(str(warm),))  # fmt: skip
                before = cpu_of_tree(pid)
                out = subprocess.run(
                    [wrk_bin, "-t2", f"-c{args.connections}", f"-d{args.seconds}s",
                     "-s", str(script), url + path, "--", str(stream)],
                    capture_output=True, text=True, check=True, timeout=args.seconds + 60,
                ).stdout  # fmt: skip
                cpu = cpu_of_tree(pid) - before
                result = wrk.parse(out, args.seconds) | mixed.parse(out)
                result["cpu_us_per_request"] = 1e6 * cpu / max(1, result["requests"])
                result["peak_rss_mib"] = rss_of_tree(pid)
            if result["generated_max"] > count // 2:
                print(f"  warning: {name} replayed its stream", file=sys.stderr)
            result["share_offers"] = made.get("offers", 0) / count
            return result

        found[workload] = {"servers": interleaved(list(commands), args.repeat, one)}
    return {
        "what": "70 % GET offers, 20 % impressions, 5 % usage, 5 % signed webhooks;"
        f" {len(tokens):,} customers, 50 active offers; then each kind alone",
        "connections": args.connections,
        "seconds": args.seconds,
        "workers": args.workers,
        "customers": len(tokens),
        "workloads": found,
    }


# Widget ----------------------------------------------------------------------------------------


def bench_widget(args: argparse.Namespace, wrk_bin: str, tmp: Path) -> dict[str, Any]:
    script = tmp / "widget.lua"
    script.write_text(WIDGET_LUA)
    db = tmp / "widget.db"
    env = base_env() | {
        "UPLIFT_DATABASE_URL": f"sqlite+aiosqlite:///{db}",
        "UPLIFT_STRIPE_API_KEY": "sk_test_bench",
        "UPLIFT_STRIPE_API_BASE": "http://127.0.0.1:9",
    }
    commands = {
        "baseline S: in-memory gzipped bytes": [*UVICORN, "bench.baseline_app:app"],
        "Uplift GET /widget/uplift.js": [*UPLIFT],
    }
    path = "/widget/uplift.js"

    def one(name: str, rep: int) -> dict[str, float]:
        with server(commands[name], env, path) as (url, pid):
            first = httpx.get(url + path, headers={"Accept-Encoding": "gzip"}, timeout=10)
            again = httpx.get(
                url + path,
                headers={"Accept-Encoding": "gzip", "If-None-Match": first.headers["etag"]},
                timeout=10,
            )
            wrk.run(wrk_bin, url + path, script, seconds=1, connections=args.connections)
            result = measured(
                wrk_bin, url + path, script, pid, seconds=args.seconds,
                connections=args.connections,
            )  # fmt: skip
            result["peak_rss_mib"] = wrk.peak_rss_mib(pid)
            result["gzip"] = int(first.headers.get("content-encoding") == "gzip")
            result["bytes"] = int(first.headers.get("content-length", 0))
            result["status_if_none_match"] = again.status_code
        return result

    servers = interleaved(list(commands), args.repeat, one)
    return {
        "what": f"GET {path} with Accept-Encoding: gzip",
        "connections": args.connections,
        "seconds": args.seconds,
        "servers": servers,
    }


# Micro and metrics -----------------------------------------------------------------------------


def bench_micro(args: argparse.Namespace) -> dict[str, Any]:
    command = [sys.executable, "-m", "bench.micro", "--repeat", str(max(5, args.repeat))]
    if args.quick:
        command += ["--customers", "1000", "--quotes", "5000"]
    out = subprocess.run(
        command, capture_output=True, text=True, check=True, env=base_env(), timeout=600
    )
    found: dict[str, Any] = json.loads(out.stdout)
    return found


def bench_metrics(args: argparse.Namespace) -> dict[str, Any]:
    if not (ROOT / "bench" / "metrics.py").exists():
        return {"available": False, "note": "not available (bench/metrics.py is not there)"}
    try:
        out = subprocess.run(
            [sys.executable, "-m", "bench.metrics", "--json"],
            capture_output=True, text=True, check=True, env=base_env(), timeout=600,
        )  # fmt: skip
        return {"available": True, "result": json.loads(out.stdout)}
    except (subprocess.SubprocessError, json.JSONDecodeError) as exc:
        return {"available": False, "note": f"not available ({type(exc).__name__}: {exc})"}


# The run ---------------------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem = 0
    with contextlib.suppress(OSError):
        mem = int(Path("/proc/meminfo").read_text().split()[1]) // 1024 // 1024
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "memory_gib": mem,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "load_average_at_start": os.getloadavg(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="python3 -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="2 s runs, one repetition")
    parser.add_argument("--only", default=",".join(SCENARIOS), help="comma-separated subset")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--webhook-connections", type=int, default=32)
    parser.add_argument("--workers", type=int, default=1, help="uvicorn processes, both sides")
    parser.add_argument("--customers", type=int, default=20_000, help="customers of the mix")
    args = parser.parse_args()
    if args.quick:
        args.seconds, args.repeat = 2, 1
    only = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = set(only) - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown --only {sorted(unknown)}; choose from {SCENARIOS}")
    wrk_bin = wrk.ensure_wrk()
    started = time.monotonic()
    results: dict[str, Any] = {
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "command": " ".join(["python3 -m bench", *sys.argv[1:]]),
        "machine": machine(),
        "settings": {
            "seconds": args.seconds,
            "repeat": args.repeat,
            "connections": args.connections,
            "webhook_connections": args.webhook_connections,
            "workers": args.workers,
            "wrk_threads": 2,
        },
    }
    with tempfile.TemporaryDirectory(prefix="uplift-bench-") as tmp_dir:
        tmp = Path(tmp_dir)
        if "mixed" in only:
            print("the mix a site sends", file=sys.stderr, flush=True)
            results["mixed"] = bench_mixed(args, wrk_bin, tmp)
        if "offers" in only:
            print("offers endpoint", file=sys.stderr, flush=True)
            results["offers"] = bench_offers(args, wrk_bin, tmp)
        if "webhooks" in only:
            print("webhook intake", file=sys.stderr, flush=True)
            results["webhooks"] = bench_webhooks(args, wrk_bin, tmp)
        if "intake" in only:
            print("webhook intake at few connections", file=sys.stderr, flush=True)
            results["intake"] = bench_intake(args, wrk_bin, tmp)
        if "worker" in only:
            print("webhook worker", file=sys.stderr, flush=True)
            results["worker"] = bench_worker(args)
        if "widget" in only:
            print("widget script", file=sys.stderr, flush=True)
            results["widget"] = bench_widget(args, wrk_bin, tmp)
    if "micro" in only:
        print("micro-benchmarks (one core)", file=sys.stderr, flush=True)
        results["micro"] = bench_micro(args)
    if "metrics" in only:
        results["metrics"] = bench_metrics(args)
    results["elapsed_s"] = round(time.monotonic() - started, 1)
    results["targets"] = report.targets(results)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "latest.json").write_text(json.dumps(results, indent=2) + "\n")
    markdown = report.markdown(results)
    (args.out / "latest.md").write_text(markdown)
    print(markdown)


if __name__ == "__main__":
    main()
