"""Failed admin keys are throttled per client address (plugin/api/admin.py `require_admin`):
a bucket of `admin_failure_burst` failures refilled at `admin_failure_per_minute` by the app's
clock; while it is empty every admin request from that address is a 429 with Retry-After."""

from __future__ import annotations

import json
import logging
import signal
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack

import httpx
import pytest
from starlette.applications import Starlette

from plugin import auth, storage
from plugin.app import create_app
from plugin.clock import FixedClock
from plugin.logs import JsonFormatter, Redactor
from plugin.settings import Settings
from plugin.storage import Database
from tests.conftest import Served
from tests.support import ADMIN_KEY, NOW

PATH = "/api/v1/admin/plans"
# Not shaped like any secret the log redactor knows, so only its absence keeps it out of a line.
WRONG = "not-the-admin-key-CANARY-0123456789"
RIGHT = {"Authorization": f"Bearer {ADMIN_KEY}"}
BAD = {"Authorization": f"Bearer {WRONG}"}
Peer = Callable[[str], httpx.AsyncClient]


@pytest.fixture
async def peer(app: Starlette) -> AsyncIterator[Peer]:
    """Clients of the started app, each from the client address it is given (the ASGI
    `client`, which uvicorn fills with the socket peer)."""
    async with AsyncExitStack() as stack:
        await stack.enter_async_context(app.router.lifespan_context(app))

        def make(host: str) -> httpx.AsyncClient:
            transport = httpx.ASGITransport(app=app, client=(host, 50_000))
            http = httpx.AsyncClient(transport=transport, base_url="http://uplift.test")
            stack.push_async_callback(http.aclose)
            return http

        yield make


async def _statuses(http: httpx.AsyncClient, count: int, headers: dict[str, str]) -> list[int]:
    return [(await http.get(PATH, headers=headers)).status_code for _ in range(count)]


async def test_wrong_keys_beyond_the_budget_answer_429_with_retry_after(peer: Peer) -> None:
    """200 wrong keys at once: the first 10 (the default burst) are 401, the other 190 are 429
    `too_many_failed_attempts` with Retry-After: 6 (10 a minute refill one token in 6 s)."""
    http = peer("203.0.113.7")
    answers = [await http.get(PATH, headers=BAD) for _ in range(200)]
    assert [a.status_code for a in answers] == [401] * 10 + [429] * 190
    assert {a.json()["error"]["code"] for a in answers[:10]} == {"invalid_admin_key"}
    assert {a.json()["error"]["code"] for a in answers[10:]} == {"too_many_failed_attempts"}
    assert {a.headers["retry-after"] for a in answers[10:]} == {"6"}


async def test_the_right_key_is_refused_while_the_address_is_blocked(
    peer: Peer, clock: FixedClock
) -> None:
    """A lockout holds for every key: the right one is a 429 too until Retry-After has passed,
    then it works again."""
    http = peer("203.0.113.8")
    assert await _statuses(http, 10, BAD) == [401] * 10
    blocked = await http.get(PATH, headers=RIGHT)
    assert blocked.status_code == 429
    clock.advance(int(blocked.headers["retry-after"]))
    assert (await http.get(PATH, headers=RIGHT)).status_code == 200


async def test_another_address_is_not_blocked(peer: Peer) -> None:
    """One address's failures spend only its own budget."""
    assert await _statuses(peer("203.0.113.9"), 11, BAD) == [401] * 10 + [429]
    other = peer("198.51.100.20")
    assert (await other.get(PATH, headers=RIGHT)).status_code == 200
    assert await _statuses(other, 1, BAD) == [401]


async def test_the_budget_refills_with_the_app_clock(peer: Peer, clock: FixedClock) -> None:
    """One failure more every 6 s of the app's clock, up to the whole burst after a minute."""
    http = peer("203.0.113.10")
    assert await _statuses(http, 11, BAD) == [401] * 10 + [429]
    clock.advance(5)
    assert await _statuses(http, 1, BAD) == [429]
    clock.advance(1)
    assert await _statuses(http, 2, BAD) == [401, 429]
    clock.advance(600)
    assert await _statuses(http, 11, BAD) == [401] * 10 + [429]


async def test_a_success_gives_no_failures_back(peer: Peer) -> None:
    """The right key in between does not reset the count: 9 failures, a success, then the
    10th failure empties the bucket."""
    http = peer("203.0.113.11")
    assert await _statuses(http, 9, BAD) == [401] * 9
    assert await _statuses(http, 1, RIGHT) == [200]
    assert await _statuses(http, 2, BAD) == [401, 429]


async def test_a_revoked_key_counts_as_a_failure(peer: Peer, db: Database) -> None:
    """A revoked key's 401 spends the budget like an unknown key's."""
    key, record = await auth.create_admin_key(db, name="old", now=NOW)
    assert await storage.admin_keys.revoke(db, key_id=record.id, now=NOW)
    http = peer("203.0.113.12")
    revoked = {"Authorization": f"Bearer {key}"}
    assert await _statuses(http, 11, revoked) == [401] * 10 + [429]


async def test_requests_without_a_key_are_not_counted(peer: Peer) -> None:
    """No Bearer credential guesses nothing: those 401s leave the budget whole."""
    http = peer("203.0.113.13")
    assert await _statuses(http, 50, {}) == [401] * 50
    assert await _statuses(http, 50, {"Authorization": "Basic dXNlcjpwYXNz"}) == [401] * 50
    assert await _statuses(http, 11, BAD) == [401] * 10 + [429]


async def test_every_admin_route_shares_the_budget(peer: Peer) -> None:
    """Failures on one admin route block the others, the ingest routes behind the key too."""
    http = peer("203.0.113.14")
    assert await _statuses(http, 10, BAD) == [401] * 10
    for method, path in [
        ("GET", "/api/v1/admin/webhook-events"),
        ("GET", "/api/v1/admin/offers"),
        ("GET", "/api/v1/customers/acme/entitlements"),
        ("POST", "/api/v1/feature-events"),
    ]:
        response = await http.request(method, path, headers=RIGHT)
        assert (response.status_code, response.json()["error"]["code"]) == (
            429,
            "too_many_failed_attempts",
        )


async def test_ipv6_addresses_share_a_budget_per_64(peer: Peer) -> None:
    """An IPv6 client is counted by its /64, which one host gets whole: another address in
    the same /64 is blocked with it, one in another /64 is not."""
    assert await _statuses(peer("2001:db8:1:2::1"), 10, BAD) == [401] * 10
    assert await _statuses(peer("2001:db8:1:2:ffff::9"), 1, RIGHT) == [429]
    assert await _statuses(peer("2001:db8:1:3::1"), 1, RIGHT) == [200]


async def test_the_budget_follows_the_settings(
    settings: Settings, clock: FixedClock, db: Database
) -> None:
    """`admin_failure_burst` failures at once, then `admin_failure_per_minute` a minute."""
    app = create_app(
        settings.model_copy(update={"admin_failure_burst": 3, "admin_failure_per_minute": 2}),
        clock=clock,
    )
    async with app.router.lifespan_context(app), httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, client=("203.0.113.15", 1)),
        base_url="http://uplift.test",
    ) as http:  # fmt: skip
        assert await _statuses(http, 4, BAD) == [401] * 3 + [429]
        assert (await http.get(PATH, headers=BAD)).headers["retry-after"] == "30"
        clock.advance(30)
        assert await _statuses(http, 2, BAD) == [401, 429]


async def test_refusals_are_logged_with_the_address_and_never_the_key(
    peer: Peer, caplog: pytest.LogCaptureFixture
) -> None:
    """Each refused key is a warning naming the address and the reason; the throttled
    attempts after it say so; no line holds the presented key, in any form."""
    caplog.set_level(logging.INFO, logger="uplift.auth")
    http = peer("203.0.113.16")
    await _statuses(http, 11, BAD)
    formatter = JsonFormatter(Redactor())  # no exact secrets: the key is not one it knows
    lines = [json.loads(formatter.format(r)) for r in caplog.records if r.name == "uplift.auth"]
    refused = [line for line in lines if line["event"] == "admin key refused"]
    throttled = [line for line in lines if line["event"] == "admin key throttled"]
    assert len(refused) == 10
    assert {(line["level"], line["client"], line["reason"]) for line in refused} == {
        ("warning", "203.0.113.16", "invalid_admin_key")
    }
    assert [line["blocked_for"] for line in refused] == [None] * 9 + [6]
    assert [(line["client"], line["retry_after"]) for line in throttled] == [("203.0.113.16", 6)]
    everything = "\n".join(formatter.format(r) for r in caplog.records)
    assert "CANARY" not in everything
    assert WRONG[:12] not in everything


@pytest.mark.e2e
def test_uplift_serve_throttles_by_the_socket_peer_and_logs_no_key(
    serve: Callable[..., Served],
) -> None:
    """A real server counts failures by the connection's address, whatever `X-Forwarded-For`
    claims, and its log names that address but never the key."""
    served = serve(admin_key=ADMIN_KEY)
    with httpx.Client(base_url=served.url, timeout=5) as http:
        statuses = [
            http.get(PATH, headers={**BAD, "X-Forwarded-For": f"192.0.2.{i}"}).status_code
            for i in range(12)
        ]
        assert statuses == [401] * 10 + [429] * 2
        assert http.get(PATH, headers=RIGHT).status_code == 429
    served.process.send_signal(signal.SIGTERM)
    served.process.wait(10)
    lines = [json.loads(line) for line in served.log().splitlines() if line.startswith("{")]
    refused = [line for line in lines if line.get("event") == "admin key refused"]
    assert {line["client"] for line in refused} == {"127.0.0.1"}
    assert "CANARY" not in served.log()
