"""Trial offers: a signed zero-charge quote, one grant per customer and offer, entitlements of
the trial plan while it runs, and back to the paid plan when it ends."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from plugin.billing import trials
from plugin.clock import FixedClock
from plugin.errors import Gone, NotFound
from plugin.outbound import timers
from plugin.storage import Database
from plugin.storage import outbound as outbound_store
from tests.factories import (
    ADMIN,
    add_trial_offer_and_pro_customer,
    customer_headers,
)
from tests.support import NOW, WIDGET_SECRET

DAY = 86_400


@pytest.fixture
async def pro(shop: httpx.AsyncClient, db: Database) -> httpx.AsyncClient:
    """A Pro customer who just hit the gated audit log, and the 14-day Enterprise trial."""
    await add_trial_offer_and_pro_customer(shop, db)
    await shop.post(
        "/api/v1/feature-events", json={"customer": "pro1", "feature": "audit_log"}, headers=ADMIN
    )
    return shop


async def _quote(http: httpx.AsyncClient, now: int = NOW, customer: str = "pro1") -> Any:
    response = await http.post(
        "/api/v1/widget/quotes",
        json={"offer_id": "offer_enterprise_trial"},
        headers=customer_headers(customer, now=now),
    )
    assert response.status_code == 201, response.text
    return response.json()


async def _accept(
    http: httpx.AsyncClient, quote_id: str, *, key: str, now: int = NOW, customer: str = "pro1"
) -> httpx.Response:
    return await http.post(
        "/api/v1/widget/accept",
        json={"quote_id": quote_id},
        headers={**customer_headers(customer, now=now), "Idempotency-Key": key},
    )


async def test_trial_grants_the_plan_until_it_ends(
    pro: httpx.AsyncClient, clock: FixedClock
) -> None:
    """Nothing is charged; Enterprise features apply for 14 days, then Pro's again."""
    quote = await _quote(pro)
    assert (quote["kind"], quote["amount_due_now"], quote["trial_days"]) == ("trial", 0, 14)
    accepted = await _accept(pro, quote["quote_id"], key="k1")
    assert accepted.status_code == 200, accepted.text
    grant = accepted.json()
    assert (grant["status"], grant["plan"], grant["ends_at"]) == (
        "succeeded", "enterprise", NOW + 14 * DAY,
    )  # fmt: skip

    during = (await pro.get("/api/v1/customers/pro1/entitlements", headers=ADMIN)).json()
    assert during["plan"]["id"] == "pro"  # what they pay for
    assert "audit_log" in during["features"]  # what they may use
    assert during["limits"]["users"] is None
    assert during["trial"]["ends_at"] == NOW + 14 * DAY

    clock.advance(14 * DAY)
    after = (await pro.get("/api/v1/customers/pro1/entitlements", headers=ADMIN)).json()
    assert after["trial"] is None
    assert after["features"] == ["reports", "sso"]


async def test_a_trial_is_granted_once(pro: httpx.AsyncClient) -> None:
    """A second click, a retried request or a fresh quote all find the first grant; the offer
    stops showing once accepted."""
    first = (await _accept(pro, (await _quote(pro))["quote_id"], key="a")).json()
    second = (await _accept(pro, (await _quote(pro))["quote_id"], key="b")).json()
    assert second["id"] == first["id"]
    shown = await pro.get(
        "/api/v1/widget/offers?placement=feature_gate", headers=customer_headers("pro1")
    )
    assert shown.json()["data"] == []


async def test_trial_quotes_are_the_customers_own_and_expire(
    pro: httpx.AsyncClient, clock: FixedClock
) -> None:
    """Another customer's token gets 404; after 10 minutes the quote is 410."""
    quote = (await _quote(pro))["quote_id"]
    await pro.put("/api/v1/customers/eve", json={}, headers=ADMIN)
    assert (await _accept(pro, quote, key="x", customer="eve")).status_code == 404
    clock.advance(601)
    assert (await _accept(pro, quote, key="y", now=clock.now())).status_code == 410


def test_a_tampered_trial_quote_is_not_found() -> None:
    """The quote is signed: changing the trial length (or anything) breaks it."""
    quote = trials.TrialQuote("pro1", "offer_t", "control", "enterprise", 14, NOW + 600)
    signed = trials.sign(quote, secret=WIDGET_SECRET)
    assert trials.verify(signed, secret=WIDGET_SECRET, customer_id="pro1", now=NOW) == quote
    longer = trials.sign(
        trials.TrialQuote("pro1", "offer_t", "control", "enterprise", 365, NOW + 600),
        secret="another-secret",
    )
    forged = signed.split(".")[0] + "." + longer.split(".")[1]  # someone else's signature
    with pytest.raises(NotFound):
        trials.verify(forged, secret=WIDGET_SECRET, customer_id="pro1", now=NOW)
    with pytest.raises(NotFound):
        trials.verify(longer, secret=WIDGET_SECRET, customer_id="pro1", now=NOW)
    with pytest.raises(Gone):
        trials.verify(signed, secret=WIDGET_SECRET, customer_id="pro1", now=NOW + 600)


async def test_a_trial_is_announced_when_granted_ending_and_ended(
    pro: httpx.AsyncClient, clock: FixedClock, db: Database
) -> None:
    """`trial.started` with the accept (once, however often it is retried), `trial.ending`
    three days before the end and `trial.ended` at it, each once, from the outbound worker's
    timers."""
    quote = await _quote(pro)
    for _ in range(2):
        assert (await _accept(pro, quote["quote_id"], key="t-1")).status_code == 200
    types = [e.type for e in await outbound_store.events_of(db)]
    before = types.index("offer.accepted")  # the shop's usage reports announced before it
    assert types[before:] == ["offer.accepted", "trial.started"]
    for at, expected in (
        (NOW + 10 * DAY, 0),  # more than three days before the end
        (NOW + 11 * DAY, 1),  # trial.ending
        (NOW + 12 * DAY, 0),
        (NOW + 14 * DAY, 1),  # trial.ended
        (NOW + 15 * DAY, 0),
    ):
        assert await timers.announce_due(db, now=at, ending_days=3) == expected, at
    events = await outbound_store.events_of(db)
    assert [e.type for e in events][before + 2 :] == ["trial.ending", "trial.ended"]
    ended = json.loads(events[-1].body)
    assert ended["data"]["customer_id"] == "pro1"
    assert ended["data"]["trial"]["plan"] == "enterprise"
    assert ended["data"]["trial"]["ends_at"] == NOW + 14 * DAY
