"""`POST /api/v1/events`: product events counted per customer and day, and the offers that
target them (`event`, and `feature_hit` with `at_least`)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from plugin.clock import FixedClock
from plugin.storage import Database
from plugin.storage.engagement import MAX_NAMES
from plugin.timespan import DAY
from tests.api.test_widget_api import offers_for
from tests.factories import ADMIN, customer_headers, offer_body
from tests.support import NOW

TODAY = NOW // DAY


def _key(key: str) -> dict[str, str]:
    return {**ADMIN, "Idempotency-Key": key}


async def _counts(db: Database) -> list[dict[str, Any]]:
    async with db.read() as conn:
        return await conn.fetch_all(
            "SELECT customer_id, kind, name, day, count FROM engagement_counts"
            " ORDER BY customer_id, kind, name, day"
        )


async def test_an_event_is_counted_once_per_key(client: httpx.AsyncClient, db: Database) -> None:
    """The first request counts and says so; a retry with the same key and body is answered
    from the first and counts nothing; the same key with another body is a 422."""
    body = {"customer": "acme", "event": "login", "count": 3}
    first = await client.post("/api/v1/events", json=body, headers=_key("e1"))
    assert first.status_code == 200, first.text
    assert first.json() == {
        "object": "event",
        "customer": "acme",
        "event": "login",
        "count": 3,
        "occurred_at": NOW,
        "replayed": False,
    }
    again = await client.post("/api/v1/events", json=body, headers=_key("e1"))
    assert again.json() == {**first.json(), "replayed": True}
    assert again.headers["Idempotent-Replayed"] == "true"
    other = await client.post("/api/v1/events", json={**body, "count": 4}, headers=_key("e1"))
    assert other.status_code == 422
    assert other.json()["error"]["code"] == "idempotency_key_reused"
    assert await _counts(db) == [
        {"customer_id": "acme", "kind": "event", "name": "login", "day": TODAY, "count": 3}
    ]


async def test_an_event_is_dated_by_occurred_at(client: httpx.AsyncClient, db: Database) -> None:
    """`occurred_at` puts the count on its own UTC day, back to the retention's first day."""
    oldest = (TODAY - 89) * DAY
    for key, at in (("e1", NOW - 1), ("e2", oldest), ("e3", NOW + 300)):
        body = {"customer": "acme", "event": "login", "occurred_at": at}
        answer = await client.post("/api/v1/events", json=body, headers=_key(key))
        assert answer.status_code == 200, answer.text
        assert answer.json()["occurred_at"] == at
    assert [(r["day"], r["count"]) for r in await _counts(db)] == [
        (TODAY - 89, 1),
        (TODAY - 1, 1),
        (TODAY, 1),
    ]


BAD_EVENTS: list[tuple[str, dict[str, Any], str, str]] = [
    ("no event", {"customer": "acme"}, "event", "invalid_field"),
    ("bad name", {"customer": "acme", "event": "log in"}, "event", "invalid_field"),
    ("count zero", {"customer": "acme", "event": "login", "count": 0}, "count", "invalid_field"),
    (
        "count too big",
        {"customer": "acme", "event": "login", "count": 10_001},
        "count",
        "invalid_field",
    ),
    ("count as text", {"customer": "acme", "event": "x", "count": "2"}, "count", "invalid_field"),
    ("unknown field", {"customer": "acme", "event": "x", "at": 1}, "at", "invalid_field"),
    (
        "in the future",
        {"customer": "acme", "event": "login", "occurred_at": NOW + 301},
        "occurred_at",
        "event_in_future",
    ),
    (
        "older than the retention",
        {"customer": "acme", "event": "login", "occurred_at": (TODAY - 89) * DAY - 1},
        "occurred_at",
        "event_too_old",
    ),
]


@pytest.mark.parametrize(
    ("body", "field", "code"), [c[1:] for c in BAD_EVENTS], ids=[c[0] for c in BAD_EVENTS]
)
async def test_bad_events_are_refused_and_change_nothing(
    client: httpx.AsyncClient, db: Database, body: dict[str, Any], field: str, code: str
) -> None:
    """A bad event is a JSON 422 naming the field; nothing is counted, and its key is not
    taken (the corrected request with the same key counts)."""
    response = await client.post("/api/v1/events", json=body, headers=_key("e1"))
    assert response.status_code == 422
    assert response.json()["error"]["field"] == field
    assert response.json()["error"]["code"] == code
    assert await _counts(db) == []
    fixed = {"customer": "acme", "event": "login"}
    assert (await client.post("/api/v1/events", json=fixed, headers=_key("e1"))).json()[
        "replayed"
    ] is False


async def test_events_need_an_admin_key_and_an_idempotency_key(
    client: httpx.AsyncClient, db: Database
) -> None:
    """Without the admin key a 401, without an Idempotency-Key a 400; neither counts."""
    body = {"customer": "acme", "event": "login"}
    anonymous = await client.post("/api/v1/events", json=body, headers={"Idempotency-Key": "e"})
    assert anonymous.status_code == 401
    as_customer = await client.post(
        "/api/v1/events", json=body, headers={**customer_headers("acme"), "Idempotency-Key": "e"}
    )
    assert as_customer.status_code == 401
    no_key = await client.post("/api/v1/events", json=body, headers=ADMIN)
    assert no_key.status_code == 400
    assert no_key.json()["error"]["code"] == "idempotency_key_required"
    assert await _counts(db) == []


async def test_a_customer_counts_at_most_fifty_event_names(
    client: httpx.AsyncClient, db: Database
) -> None:
    """The 51st name is a 422 `too_many_event_names` on `event`; the fifty go on counting and
    other customers are not affected."""
    for n in range(MAX_NAMES):
        body = {"customer": "acme", "event": f"event_{n}"}
        assert (await client.post("/api/v1/events", json=body, headers=_key(f"e{n}"))).is_success
    more = {"customer": "acme", "event": "one_more"}
    refused = await client.post("/api/v1/events", json=more, headers=_key("more"))
    assert refused.status_code == 422
    assert refused.json()["error"] | {"message": ""} == {
        "code": "too_many_event_names",
        "message": "",
        "field": "event",
    }
    known = {"customer": "acme", "event": "event_0"}
    assert (await client.post("/api/v1/events", json=known, headers=_key("again"))).is_success
    other = {"customer": "other", "event": "one_more"}
    assert (await client.post("/api/v1/events", json=other, headers=_key("more"))).is_success
    names = {(r["customer_id"], r["name"]) for r in await _counts(db)}
    assert len(names) == MAX_NAMES + 1
    assert ("acme", "one_more") not in names


async def test_an_offer_targeted_on_an_event_shows_once_the_events_are_posted(
    shop: httpx.AsyncClient, app: Starlette, db: Database, clock: FixedClock
) -> None:
    """Active users (20 logins in 30 days) see the offer as soon as the 20th login is posted
    (the customer was just read: tests/customers/test_facts_cache.py holds the cache to the
    write); once the first logins leave the window, not."""
    body = offer_body(
        id="offer_power_users",
        placements=["dashboard"],
        targeting={
            "all": [
                {"plan": {"in": ["basic"]}},
                {"event": {"name": "login", "at_least": 20, "within_days": 30}},
            ]
        },
    )
    assert (await shop.post("/api/v1/admin/offers", json=body, headers=ADMIN)).status_code == 201
    if db.dialect == "sqlite":  # one process alone on its file: the facts cache is in play
        assert app.state.services.db.facts.enabled
    for n, at in enumerate((NOW - 10 * DAY, NOW)):
        login = {"customer": "acme", "event": "login", "count": 10, "occurred_at": at}
        assert await offers_for(shop, "acme", placement="dashboard") == []
        assert (await shop.post("/api/v1/events", json=login, headers=_key(f"l{n}"))).is_success
    (offer,) = await offers_for(shop, "acme", placement="dashboard")
    assert offer["offer_id"] == "offer_power_users"
    explained = await shop.get(
        "/api/v1/admin/offers/offer_power_users/explain?customer=acme", headers=ADMIN
    )
    gate = next(g for g in explained.json()["gates"] if g["gate"] == "event")
    assert gate["passed"] is True
    assert gate["detail"] == "event 'login' 20 times in the last 30 days; wanted at least 20"
    clock.advance(21 * DAY)  # the first ten logins are 31 days old
    later = await shop.get(
        "/api/v1/widget/offers?placement=dashboard",
        headers=customer_headers("acme", now=clock.now()),
    )
    assert later.json()["data"] == []


async def test_an_offer_targeted_on_repeated_feature_hits_waits_for_the_count(
    shop: httpx.AsyncClient,
) -> None:
    """`feature_hit` with `at_least` 3: two hits are not enough, the third is."""
    body = offer_body(
        id="offer_sso_fans",
        placements=["feature_gate"],
        targeting={"feature_hit": {"feature": "sso", "within_days": 7, "at_least": 3}},
    )
    assert (await shop.post("/api/v1/admin/offers", json=body, headers=ADMIN)).status_code == 201
    hit = {"customer": "acme", "feature": "sso"}
    for _ in range(2):
        assert (await shop.post("/api/v1/feature-events", json=hit, headers=ADMIN)).is_success
        assert await offers_for(shop, "acme", placement="feature_gate") == []
    assert (await shop.post("/api/v1/feature-events", json=hit, headers=ADMIN)).is_success
    (offer,) = await offers_for(shop, "acme", placement="feature_gate")
    assert offer["offer_id"] == "offer_sso_fans"


async def test_a_rule_looking_back_beyond_the_retention_is_refused(
    client: httpx.AsyncClient,
) -> None:
    """An `event` rule over more than 90 days could never be answered: 422 naming it."""
    body = offer_body(targeting={"event": {"name": "login", "at_least": 1, "within_days": 91}})
    refused = await client.post("/api/v1/admin/offers", json=body, headers=ADMIN)
    assert refused.status_code == 422
    assert refused.json()["error"]["field"] == "targeting.event.within_days"
