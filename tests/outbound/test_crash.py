"""A `uplift serve` killed with SIGKILL while it holds announced events loses none and sends
none the receiver cannot dedupe: an event mid-attempt (the receiver has the request and has
not answered) and events committed but not yet delivered all arrive after the restart, each
under the `webhook-id` it was announced with."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable

import httpx
import pytest

from plugin.clock import SystemClock
from tests.conftest import Served
from tests.factories import ADMIN, customer_headers
from tests.outbound.receiver import receiver
from tests.support import ADMIN_KEY, WIDGET_SECRET

pytestmark = pytest.mark.e2e

OFFER = {
    "id": "offer_crash_stay", "name": "Stay", "kind": "retention", "status": "active",
    "placements": ["downgrade"], "reasons": [{"key": "price", "label": "Price"}],
    "variants": [{"key": "a", "copy": {"title": "Before you go"}}],
}  # fmt: skip


def _decline(url: str, customer: str) -> None:
    headers = customer_headers(customer, now=SystemClock().now())
    event = {"offer_id": OFFER["id"], "variant": "a", "type": "decline",
             "reason": {"key": "price", "text": customer}}  # fmt: skip
    posted = httpx.post(f"{url}/api/v1/widget/events", json=event, headers=headers)
    assert posted.status_code == 201, posted.text


def test_a_killed_server_loses_and_duplicates_nothing(serve: Callable[..., Served]) -> None:
    settings = {
        "admin_key": ADMIN_KEY,
        "widget_secret": WIDGET_SECRET,
        "outbound_allow_private_networks": "true",
        # On PostgreSQL the killed attempt's lease runs out (2 s + 10 s) rather than being
        # released at the restart (other instances could be mid-attempt).
        "outbound_timeout": "2",
    }
    with receiver() as hooks:
        hooks.hang = threading.Event()  # the first request is held, unanswered
        first = serve(**settings)
        made = httpx.post(
            f"{first.url}/api/v1/admin/webhook-endpoints", json={"url": hooks.url}, headers=ADMIN
        )
        assert made.status_code == 201, made.text
        endpoint, secret = made.json()["id"], made.json()["secret"]
        assert httpx.post(f"{first.url}/api/v1/admin/offers", json=OFFER, headers=ADMIN).is_success
        _decline(first.url, "ann")
        assert hooks.hang.wait(15), "the first delivery never arrived"
        _decline(first.url, "bob")  # committed while the worker waits on ann's (2 s at most)
        first.process.send_signal(signal.SIGKILL)
        first.process.wait(10)

        second = serve(**settings)  # the same database
        hooks.wait_for(5, timeout=40)
        verified = hooks.verified(secret)
        deliveries = httpx.get(
            f"{second.url}/api/v1/admin/webhook-endpoints/{endpoint}/deliveries", headers=ADMIN
        ).json()["data"]

    # Each decline of a retention offer is two events: offer.declined, downgrade.requested.
    by_id: dict[str, list[tuple[str, str]]] = {}
    for webhook_id, body in verified:
        by_id.setdefault(webhook_id, []).append((body["data"]["customer_id"], body["type"]))
    assert sorted(pairs[0] for pairs in by_id.values()) == [
        ("ann", "downgrade.requested"), ("ann", "offer.declined"),
        ("bob", "downgrade.requested"), ("bob", "offer.declined"),
    ]  # fmt: skip
    assert all(len(set(pairs)) == 1 for pairs in by_id.values())  # one id, one event
    assert len(verified) == 5  # the killed attempt came again under its id
    assert {d["status"] for d in deliveries} == {"succeeded"}
    [again] = [d for d in deliveries if len(d["attempts"]) == 2]
    assert again["attempts"][0]["error"].startswith("interrupted")
    assert again["attempts"][1]["status_code"] == 200
