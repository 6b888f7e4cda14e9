"""The offers endpoint keeps a customer's answer only while it is still the answer.

Each test asks with one token (one identity), and lets each first exposure be written before
the next request (as it is moments later in a deployment), so a repeated request can be
answered from what the endpoint kept; the assertions are what a fresh evaluation would give.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from plugin.auth import MAX_TOKEN_TTL
from plugin.clock import FixedClock
from tests.factories import ADMIN, customer_headers
from tests.support import NOW

ACME = customer_headers("acme", ttl=MAX_TOKEN_TTL)
Ask = Callable[[], Awaitable[Any]]


@pytest.fixture
def ask(shop: httpx.AsyncClient, app: Starlette) -> Ask:
    """Acme's offers at the storage banner, each first exposure written before returning."""

    async def offers() -> Any:
        response = await shop.get("/api/v1/widget/offers?placement=storage_banner", headers=ACME)
        assert response.status_code == 200, response.text
        await app.state.services.exposures.flush()
        return response.json()["data"]

    return offers


async def _event(client: httpx.AsyncClient, kind: str) -> None:
    event = {"offer_id": "offer_basic_to_pro", "variant": "control", "type": kind}
    response = await client.post("/api/v1/widget/events", json=event, headers=ACME)
    assert response.status_code == 201, response.text


async def _patch(client: httpx.AsyncClient, body: dict[str, Any]) -> None:
    response = await client.patch(
        "/api/v1/admin/offers/offer_basic_to_pro", json=body, headers=ADMIN
    )
    assert response.status_code == 200, response.text


async def test_a_dismissal_hides_the_offer_at_once(shop: httpx.AsyncClient, ask: Ask) -> None:
    assert len(await ask()) == 1
    assert len(await ask()) == 1
    await _patch(shop, {"frequency": {"dismiss_cooldown": 3600}})
    await _event(shop, "dismiss")
    assert await ask() == []


async def test_the_offer_returns_the_second_its_cooldown_ends(
    shop: httpx.AsyncClient, ask: Ask, clock: FixedClock
) -> None:
    await _patch(shop, {"frequency": {"dismiss_cooldown": 3600}})
    await ask()
    await _event(shop, "dismiss")
    assert await ask() == []
    clock.advance(3599)
    assert await ask() == []
    clock.advance(1)
    assert [o["offer_id"] for o in await ask()] == ["offer_basic_to_pro"]


async def test_an_offer_leaves_the_second_its_schedule_ends(
    shop: httpx.AsyncClient, ask: Ask, clock: FixedClock
) -> None:
    """A countdown is recounted every second, and the offer goes when the schedule ends."""
    await _patch(shop, {"schedule": {"ends_at": clock.now() + 2}})
    assert [o["countdown_seconds"] for o in await ask()] == [2]
    assert [o["countdown_seconds"] for o in await ask()] == [2]
    clock.advance(1)
    assert [o["countdown_seconds"] for o in await ask()] == [1]
    clock.advance(1)
    assert await ask() == []


async def test_an_impression_cap_frees_up_as_the_impressions_age(
    shop: httpx.AsyncClient, ask: Ask, clock: FixedClock
) -> None:
    await _patch(shop, {"frequency": {"max_impressions": 1, "per_seconds": 600}})
    await ask()
    await _event(shop, "impression")
    clock.advance(10)
    assert await ask() == []
    clock.advance(589)
    assert await ask() == []
    clock.advance(1)
    assert len(await ask()) == 1


async def test_an_edited_offer_is_shown_as_edited(shop: httpx.AsyncClient, ask: Ask) -> None:
    (before,) = await ask()
    await _patch(shop, {"variants": [{"key": "control", "copy": {"title": "Room to grow, today"}}]})
    (after,) = await ask()
    assert (before["copy"]["title"], after["copy"]["title"]) == (
        "Running out of space?",
        "Room to grow, today",
    )


async def test_new_usage_changes_the_answer_at_once(shop: httpx.AsyncClient, ask: Ask) -> None:
    assert len(await ask()) == 1
    response = await shop.post(
        "/api/v1/usage",
        json={"customer": "acme", "metric": "storage_gb", "value": 2},
        headers={**ADMIN, "Idempotency-Key": "usage-2"},
    )
    assert response.status_code in (200, 201), response.text
    assert await ask() == []


async def test_a_clock_set_back_is_answered_for_its_own_time(
    shop: httpx.AsyncClient, ask: Ask, clock: FixedClock
) -> None:
    """An answer made at a later time is not reused for an earlier one."""
    await _patch(shop, {"schedule": {"starts_at": clock.now() + 10}})
    clock.advance(10)
    assert len(await ask()) == 1
    assert len(await ask()) == 1
    clock.advance(-5)
    assert await ask() == []


async def test_a_kept_countdown_is_recounted_whatever_the_copy_says(
    shop: httpx.AsyncClient, ask: Ask, clock: FixedClock
) -> None:
    """The kept answer is split at its countdown; copy that imitates one stays as written."""
    title = 'Only "countdown_seconds":-7355608000 left'
    variants = [{"key": "control", "copy": {"title": title, "body": "countdown_seconds"}}]
    await _patch(shop, {"schedule": {"ends_at": clock.now() + 100}, "variants": variants})
    for elapsed in (0, 0, 1, 40):
        clock.advance(elapsed)
        (offer,) = await ask()
        assert offer["copy"]["title"] == title
        assert offer["countdown_seconds"] == 100 - (clock.now() - NOW)


async def test_a_fresh_token_with_other_claims_gets_its_own_answer(
    shop: httpx.AsyncClient, app: Starlette
) -> None:
    """Tokens signed afresh (another expiry) share the customer's kept answer; a token whose
    claims differ (an attribute the record lacks) is answered for its own claims."""
    body = {"targeting": {"attribute": {"name": "industry", "in": ["fintech"]}}}
    await _patch(shop, body)

    async def offers(headers: dict[str, str]) -> Any:
        response = await shop.get("/api/v1/widget/offers?placement=storage_banner", headers=headers)
        assert response.status_code == 200, response.text
        await app.state.services.exposures.flush()
        return [o["offer_id"] for o in response.json()["data"]]

    fintech = {"industry": "fintech"}
    for ttl in (600, 900, 1200):
        token = customer_headers("acme", ttl=ttl, attrs=fintech)
        assert await offers(token) == ["offer_basic_to_pro"]
    assert await offers(customer_headers("acme", ttl=600, attrs={"industry": "retail"})) == []
    assert await offers(customer_headers("acme", ttl=300, attrs=fintech)) == ["offer_basic_to_pro"]
