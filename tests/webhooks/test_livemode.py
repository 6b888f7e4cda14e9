"""An event whose `livemode` is not the Stripe key's mode is a 400 `livemode_mismatch` that
stores nothing, on the fast path and through the full stack alike; without a key either mode
is taken."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import cast

import httpx
import pytest
from pydantic import SecretStr

from plugin.app import create_app
from plugin.clock import FixedClock
from plugin.middleware.fast_path import FastPathMiddleware
from plugin.settings import Settings
from plugin.storage import Database
from plugin.storage import stripe_events as store
from tests.support import ADMIN_KEY, STRIPE_TEST_KEY, WEBHOOK_SECRET, started
from tests.webhooks import factories as f
from tests.webhooks.support import post_signed

LIVE_KEY = "sk_live_uplift_tests_never_used"
ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}
Instance = Callable[[str | None, str], AbstractAsyncContextManager[httpx.AsyncClient]]
PATHS = ["fast-path", "full-stack"]


@pytest.fixture
def instance(settings: Settings, clock: FixedClock, db: Database) -> Instance:
    """A started app with the given Stripe key (None: no key), with its webhook fast path or
    without it (the route through the router). Its Stripe calls could only reach a closed
    port: nothing here may talk to a real Stripe with a live key."""

    @asynccontextmanager
    async def start(key: str | None, path: str) -> AsyncIterator[httpx.AsyncClient]:
        app = create_app(
            settings.model_copy(
                update={
                    "stripe_api_key": SecretStr(key) if key is not None else None,
                    "stripe_api_base": "http://127.0.0.1:9",
                }
            ),
            clock=clock,
        )
        if path == "full-stack":
            kept = [m for m in app.user_middleware if cast(object, m.cls) is not FastPathMiddleware]
            assert len(kept) == len(app.user_middleware) - 1
            app.user_middleware = kept
        async with started(app) as http:
            yield http

    return start


def _payload(event_id: str, *, livemode: bool) -> bytes:
    document = f.event("customer.subscription.created", f.subscription(), id=event_id)
    return f.body({**document, "livemode": livemode})


async def _listed(http: httpx.AsyncClient) -> list[str]:
    response = await http.get("/api/v1/admin/webhook-events", headers=ADMIN)
    assert response.status_code == 200
    return [event["id"] for event in response.json()["data"]]


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize(
    ("key", "livemode", "words"),
    [
        (STRIPE_TEST_KEY, True, ("test-mode Stripe key", "is live-mode")),
        (LIVE_KEY, False, ("live-mode Stripe key", "is test-mode")),
    ],
    ids=["live-event-to-test-key", "test-event-to-live-key"],
)
async def test_an_event_of_the_other_mode_is_refused_and_not_stored(
    instance: Instance,
    db: Database,
    path: str,
    key: str,
    livemode: bool,
    words: tuple[str, str],
) -> None:
    """A verified event of the other mode is a 400 `livemode_mismatch` saying both modes, and
    it is in neither the store nor the admin API's list afterwards."""
    async with instance(key, path) as http:
        response = await post_signed(http, _payload("evt_other_mode", livemode=livemode))
        assert response.status_code == 400
        error = response.json()["error"]
        assert error["code"] == "livemode_mismatch"
        assert all(word in error["message"] for word in words)
        assert "evt_other_mode" in error["message"]
        assert await _listed(http) == []
    assert await store.get(db, "evt_other_mode") is None


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize(
    ("key", "livemode"),
    [(STRIPE_TEST_KEY, False), (LIVE_KEY, True), (None, False), (None, True)],
    ids=["test-test", "live-live", "no-key-test", "no-key-live"],
)
async def test_an_event_of_the_keys_mode_or_with_no_key_is_stored(
    instance: Instance, db: Database, path: str, key: str | None, livemode: bool
) -> None:
    """An event of the key's own mode is stored as before; without a key, either mode is."""
    async with instance(key, path) as http:
        response = await post_signed(http, _payload("evt_same_mode", livemode=livemode))
        assert response.status_code == 200, response.text
        assert await _listed(http) == ["evt_same_mode"]
    stored = await store.get(db, "evt_same_mode")
    assert stored is not None
    assert stored.livemode is livemode


@pytest.mark.parametrize("path", PATHS)
async def test_the_signature_is_checked_before_the_mode(instance: Instance, path: str) -> None:
    """A live-mode event with a bad signature is refused for its signature, as before: the
    mode of an unverified body says nothing."""
    async with instance(STRIPE_TEST_KEY, path) as http:
        payload = _payload("evt_unsigned_live", livemode=True)
        response = await post_signed(http, payload, secret="whsec_someone_else")
        assert response.status_code == 400
        assert response.json()["error"]["code"] == "signature_mismatch"


async def test_a_refused_event_is_logged_without_secrets(
    instance: Instance, caplog: pytest.LogCaptureFixture
) -> None:
    """The refusal is a warning naming the event and both modes, and no secret."""
    caplog.set_level(logging.WARNING, logger="uplift.webhooks")
    async with instance(STRIPE_TEST_KEY, "fast-path") as http:
        await post_signed(http, _payload("evt_logged_live", livemode=True))
    [record] = [r for r in caplog.records if "livemode" in r.getMessage()]
    assert record.levelno == logging.WARNING
    fields = vars(record)
    assert (fields["event_id"], fields["event_livemode"], fields["key_livemode"]) == (
        "evt_logged_live",
        True,
        False,
    )
    text = json.dumps(fields, default=str)
    assert STRIPE_TEST_KEY not in text
    assert WEBHOOK_SECRET not in text
