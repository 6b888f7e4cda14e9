"""What the SaaS's receiver hears, through the real API: a usage report crossing 80 % and
100 % of the plan's limit, an upgrade charged through the emulator, a retention offer declined
with a reason (a downgrade requested), a trial granted; each delivery verified with the
`standardwebhooks` package, each event once with its own id."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from plugin.app import create_app
from plugin.billing.stripe_gateway import StripeGateway
from plugin.clock import FixedClock, SystemClock
from plugin.settings import Settings
from plugin.storage import Database
from plugin.storage import outbound as store
from tests.factories import ADMIN, customer_headers
from tests.outbound.receiver import Receiver, receiver
from tests.support import Subscribed, mirrored_customer, started


@dataclass
class Shop:
    http: httpx.AsyncClient
    db: Database
    world: Subscribed
    clock: FixedClock
    hooks: Receiver
    secret: str

    def as_acme(self) -> dict[str, str]:
        return customer_headers("acme", now=self.clock.now())

    async def heard(self, count: int) -> list[tuple[str, dict[str, Any]]]:
        await self.hooks.arrived(count)
        return self.hooks.verified(self.secret)


@pytest.fixture
async def shop(
    settings: Settings,
    db: Database,
    gateway: StripeGateway,
    emulator_url: str,
    request: pytest.FixtureRequest,
) -> AsyncIterator[Shop]:
    name = "outbound-" + hashlib.sha256(request.node.nodeid.encode()).hexdigest()[:12]
    world = await mirrored_customer(gateway, db, name, now=SystemClock().now())
    # A minute into the period, near the wall clock: `standardwebhooks` checks a delivery's
    # timestamp against the wall clock (5 minutes either way).
    clock = FixedClock(max(SystemClock().now(), world.period_start + 60))
    app = create_app(settings.model_copy(update={"stripe_api_base": emulator_url}), clock=clock)
    with receiver() as hooks:
        async with started(app) as http:
            plans = {"plans": [
                {"id": "basic", "name": "Basic", "tier": 1, "prices": [world.basic],
                 "limits": {"storage_gb": 10}},
                {"id": "pro", "name": "Pro", "tier": 2, "prices": [world.pro, world.pro_annual],
                 "limits": {"storage_gb": 100}, "features": ["sso"]},
            ]}  # fmt: skip
            assert (await http.put("/api/v1/admin/plans", json=plans, headers=ADMIN)).is_success
            customer = {"stripe_customer": world.customer_id}
            assert (
                await http.put("/api/v1/customers/acme", json=customer, headers=ADMIN)
            ).is_success
            made = await http.post(
                "/api/v1/admin/webhook-endpoints", json={"url": hooks.url}, headers=ADMIN
            )
            assert made.status_code == 201, made.text
            yield Shop(http, db, world, clock, hooks, made.json()["secret"])


async def _usage(shop: Shop, value: int, key: str) -> None:
    body = {"customer": "acme", "metric": "storage_gb", "value": value}
    answer = await shop.http.post(
        "/api/v1/usage", json=body, headers={**ADMIN, "Idempotency-Key": key}
    )
    assert answer.status_code == 200, answer.text


async def test_a_limit_crossed_is_announced_once_per_threshold(shop: Shop) -> None:
    await _usage(shop, 7, "u1")
    await _usage(shop, 8, "u2")  # 80 %
    await _usage(shop, 8, "u2")  # the same report again: a replay, nothing new
    await _usage(shop, 9, "u3")
    await _usage(shop, 12, "u4")  # 100 %
    # Deliveries run concurrently: a receiver orders by the body's `timestamp`, not arrival.
    heard = sorted(await shop.heard(2), key=lambda pair: pair[1]["data"]["threshold"])
    assert [
        (body["type"], body["data"]["threshold"], body["data"]["usage"]) for _, body in heard
    ] == [
        ("usage.threshold_crossed", 80, 8),
        ("usage.threshold_crossed", 100, 12),
    ]
    assert heard[0][1]["data"] == {
        "customer_id": "acme", "metric": "storage_gb", "usage": 8, "limit": 10,
        "threshold": 80, "plan": "basic",
    }  # fmt: skip
    assert len({webhook_id for webhook_id, _ in heard}) == 2


async def test_an_upgrade_is_announced_with_the_offer_and_what_was_charged(shop: Shop) -> None:
    offer = {
        "id": "offer_hook_pro", "name": "Pro", "kind": "upgrade", "status": "active",
        "placements": ["billing"], "target_prices": [shop.world.pro],
        "variants": [{"key": "control", "copy": {"title": "Go Pro"}}],
    }  # fmt: skip
    assert (await shop.http.post("/api/v1/admin/offers", json=offer, headers=ADMIN)).is_success
    quoted = await shop.http.post(
        "/api/v1/widget/quotes", json={"offer_id": "offer_hook_pro"}, headers=shop.as_acme()
    )
    assert quoted.status_code == 201, quoted.text
    accepted = await shop.http.post(
        "/api/v1/widget/accept",
        json={"quote_id": quoted.json()["quote_id"]},
        headers={**shop.as_acme(), "Idempotency-Key": "hook-1"},
    )
    assert accepted.json()["status"] == "succeeded", accepted.text
    heard = {body["type"]: body for _, body in await shop.heard(2)}
    assert set(heard) == {"upgrade.succeeded", "offer.accepted"}
    upgrade = heard["upgrade.succeeded"]["data"]
    assert upgrade["customer_id"] == "acme"
    assert upgrade["upgrade"]["id"] == accepted.json()["id"]
    assert upgrade["upgrade"]["offer"] == {"id": "offer_hook_pro", "variant": "control"}
    assert upgrade["upgrade"]["amount_paid"] == quoted.json()["amount_due_now"]
    assert upgrade["upgrade"]["stripe_customer"] == shop.world.customer_id
    assert heard["offer.accepted"]["data"] == {
        "customer_id": "acme",
        "offer": {"id": "offer_hook_pro", "variant": "control", "kind": "upgrade"},
        "upgrade": accepted.json()["id"],
    }


async def test_a_decline_with_a_reason_is_announced_and_kept(shop: Shop) -> None:
    offer = {
        "id": "offer_hook_stay", "name": "Stay", "kind": "retention", "status": "active",
        "placements": ["downgrade"],
        "reasons": [{"key": "too_expensive", "label": "It costs too much"},
                    {"key": "missing_feature", "label": "A feature I need is missing"}],
        "variants": [{"key": "a", "copy": {"title": "Before you go"}}],
    }  # fmt: skip
    made = await shop.http.post("/api/v1/admin/offers", json=offer, headers=ADMIN)
    assert made.status_code == 201, made.text
    assert made.json()["reasons"][0] == {"key": "too_expensive", "label": "It costs too much"}
    shown = await shop.http.get(
        "/api/v1/widget/offers?placement=downgrade&to_plan=basic", headers=shop.as_acme()
    )
    assert shown.json()["data"][0]["reasons"] == made.json()["reasons"]
    hostile = "<img src=x onerror=alert(1)> too pricey"
    event = {"offer_id": "offer_hook_stay", "variant": "a", "type": "decline", "to_plan": "basic",
             "reason": {"key": "too_expensive", "text": hostile}}  # fmt: skip
    posted = await shop.http.post("/api/v1/widget/events", json=event, headers=shop.as_acme())
    assert posted.status_code == 201, posted.text
    heard = {body["type"]: body["data"] for _, body in await shop.heard(2)}
    reason = {"key": "too_expensive", "label": "It costs too much", "text": hostile}
    assert heard["offer.declined"] == {
        "customer_id": "acme",
        "offer": {"id": "offer_hook_stay", "variant": "a", "kind": "retention"},
        "reason": reason,
    }
    assert heard["downgrade.requested"]["to_plan"] == "basic"
    assert heard["downgrade.requested"]["reason"] == reason


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"reason": {"key": "nope"}}, "reason.key"),
        ({"type": "impression", "reason": {"key": "too_expensive"}}, "reason"),
        ({"reason": {"key": "too_expensive", "text": "x" * 501}}, "reason.text"),
        ({"reason": {"key": "too_expensive", "text": "bell\x07"}}, "reason.text"),
        ({"type": "dismiss", "to_plan": "basic"}, "to_plan"),
    ],
)
async def test_a_bad_reason_is_a_422_and_announces_nothing(
    shop: Shop, change: dict[str, Any], field: str
) -> None:
    offer = {
        "id": "offer_hook_why", "name": "Why", "kind": "retention", "status": "active",
        "placements": ["downgrade"], "reasons": [{"key": "too_expensive", "label": "Price"}],
        "variants": [{"key": "a", "copy": {"title": "Before you go"}}],
    }  # fmt: skip
    assert (await shop.http.post("/api/v1/admin/offers", json=offer, headers=ADMIN)).is_success
    event = {"offer_id": "offer_hook_why", "variant": "a", "type": "decline", **change}
    posted = await shop.http.post("/api/v1/widget/events", json=event, headers=shop.as_acme())
    assert posted.status_code == 422, posted.text
    assert posted.json()["error"]["field"].startswith(field)
    assert await store.events_of(shop.db) == []


async def test_loopback_endpoints_are_refused_unless_allowed(
    settings: Settings, db: Database
) -> None:
    strict = create_app(settings.model_copy(update={"outbound_allow_private_networks": False}))
    async with started(strict) as http:
        for url in ("http://127.0.0.1:8000/hook", "http://localhost/hook", "http://[::1]/",
                    "http://169.254.169.254/latest/meta-data", "http://10.0.0.5/"):  # fmt: skip
            refused = await http.post(
                "/api/v1/admin/webhook-endpoints", json={"url": url}, headers=ADMIN
            )
            assert refused.status_code == 422, url
            assert refused.json()["error"]["code"] == "url_not_allowed"
        assert (await http.get("/api/v1/admin/webhook-endpoints", headers=ADMIN)).json()[
            "data"
        ] == []
