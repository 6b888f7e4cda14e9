"""Nothing lost, nothing twice: a burst of signed events to `uplift serve`, SIGKILLed twice
midway and restarted on the same database, with a sender that retries every event that got no
2xx (as Stripe does). Checked on the SQLite file afterwards (docs/reliability.md §4.3)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sqlite3  # noqa: TID251 -- the test inspects the server's file directly, as an operator would
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from plugin.clock import SystemClock
from tests.conftest import Served
from tests.support import WEBHOOK_SECRET, sign_webhook, sqlite_only
from tests.webhooks import factories as f

pytestmark = pytest.mark.e2e

EVENTS = 600
CONCURRENCY = 16
KILL_AFTER = (EVENTS // 4, EVENTS // 2)  # SIGKILL once this many events have been acked
MAX_TRIES = 100
SETTLE_DEADLINE = 30.0
WALL = SystemClock()


class Sender:
    """Stripe's side: re-sign every attempt, retry until a 2xx, follow the restarted server."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.up = asyncio.Event()
        self.up.set()
        self.acked: set[str] = set()
        self.server_errors: list[int] = []
        self.enough = {n: asyncio.Event() for n in KILL_AFTER}

    async def send(self, http: httpx.AsyncClient, event: dict[str, Any]) -> None:
        payload = f.body(event)
        for _ in range(MAX_TRIES):
            await self.up.wait()
            try:
                response = await http.post(
                    f"{self.url}/webhooks/stripe",
                    content=payload,
                    headers={"Stripe-Signature": sign_webhook(payload, WEBHOOK_SECRET, WALL.now())},
                )
            except httpx.TransportError:
                await asyncio.sleep(0.01)  # the server is gone; `up` is cleared until it is back
                continue
            if response.status_code >= 500:
                self.server_errors.append(response.status_code)
            if 200 <= response.status_code < 300:
                self.acked.add(event["id"])
                for n, reached in self.enough.items():
                    if len(self.acked) >= n:
                        reached.set()
                return
        raise AssertionError(f"{event['id']} was never acknowledged")


def _descendants(pid: int) -> list[int]:
    """Child processes (uvicorn's workers under `--workers N`), from /proc, deepest first."""
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        children = (task / "children").read_text().split()
        for child in map(int, children):
            found += [*_descendants(child), child]
    return found


def _sigkill(served: Served) -> None:
    """SIGKILL the server and, under `--workers N`, each worker it spawned: only processes
    this test started, by pid."""
    for pid in _descendants(served.process.pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    served.process.kill()
    served.process.wait(5)


def _query(path: Path, sql: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(path, timeout=5) as conn:
        return conn.execute(sql).fetchall()


@sqlite_only  # PostgreSQL: tests/test_multi_instance.py
@pytest.mark.parametrize("workers", [1, 2], ids=["one-process", "two-workers"])
async def test_sigkill_midway_loses_and_doubles_nothing(
    serve: Callable[..., Served], tmp_path: Path, workers: int
) -> None:
    """Every acknowledged event is stored; every event is stored once and its effect recorded
    once; all finish after the restarts; no 5xx; the database passes integrity_check. With two
    worker processes, both write the one SQLite file and both process events."""
    path = tmp_path / "crash.db"
    settings = {
        "database_url": f"sqlite+aiosqlite:///{path}",
        "stripe_webhook_secrets": WEBHOOK_SECRET,
    }
    served = serve("--workers", str(workers), **settings)
    sender = Sender(served.url)
    events = f.burst(EVENTS, "crash")
    queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    for event in events + events[: EVENTS // 10]:  # a tenth delivered twice, as Stripe may
        queue.put_nowait(event)

    async def worker(http: httpx.AsyncClient) -> None:
        while not queue.empty():
            await sender.send(http, queue.get_nowait())

    async def killer() -> None:
        nonlocal served
        for n in KILL_AFTER:
            await sender.enough[n].wait()
            sender.up.clear()
            assert len(sender.acked) < EVENTS  # midway: the burst is still going
            _sigkill(served)
            served = await asyncio.to_thread(serve, "--workers", str(workers), **settings)
            sender.url = served.url
            sender.up.set()

    started = time.monotonic()
    async with httpx.AsyncClient(timeout=10) as http:
        kills = asyncio.create_task(killer())
        await asyncio.gather(*(worker(http) for _ in range(CONCURRENCY)))
        async with asyncio.timeout(SETTLE_DEADLINE):
            await kills
    assert time.monotonic() - started < 120

    deadline = time.monotonic() + SETTLE_DEADLINE
    while _query(path, "SELECT count(*) FROM webhook_events WHERE status = 'pending'") != [(0,)]:
        assert time.monotonic() < deadline, "events left unfinished after the restarts"
        await asyncio.sleep(0.1)

    assert sender.server_errors == []
    ids = {event["id"] for event in events}
    assert sender.acked == ids
    assert _query(path, "SELECT count(*), count(DISTINCT id) FROM webhook_events") == [
        (EVENTS, EVENTS)
    ]
    stored = {row[0] for row in _query(path, "SELECT id FROM webhook_events")}
    assert stored == ids
    statuses = dict(_query(path, "SELECT status, count(*) FROM webhook_events GROUP BY status"))
    assert statuses == {"processed": 2 * EVENTS // 3, "ignored": EVENTS // 3}
    # Each effect exactly once: one `new` movement per subscription, one order per session.
    assert _query(path, "SELECT count(*), count(DISTINCT subscription_id) FROM mrr_movements") == [
        (EVENTS // 3, EVENTS // 3)
    ]
    assert _query(path, "SELECT count(*) FROM subscriptions") == [(EVENTS // 3,)]
    assert _query(path, "SELECT count(*) FROM orders") == [(EVENTS // 3,)]
    assert _query(path, "PRAGMA integrity_check") == [("ok",)]
