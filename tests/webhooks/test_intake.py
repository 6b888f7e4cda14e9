"""POST /webhooks/stripe: verify, store once, acknowledge; a rejection is a 400 storing nothing."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import httpx
import pytest
from starlette.applications import Starlette

from plugin.app import MAX_BODY_BYTES
from plugin.clock import FixedClock
from plugin.settings import Settings
from plugin.storage import Database
from plugin.storage import stripe_events as store
from tests.support import NOW, WEBHOOK_SECRET, sign_webhook
from tests.webhooks import factories as f
from tests.webhooks.support import post_signed, running_app, settle

OLD_SECRET = "whsec_old_secret_still_signing"
EVENT = f.event("customer.subscription.created", f.subscription(), id="evt_intake_1")
PAYLOAD = f.body(EVENT)


async def _stored(db: Database) -> int:
    async with db.read() as conn:
        count: int = await conn.fetch_value("SELECT count(*) FROM webhook_events")
    return count


def _error_code(response: httpx.Response) -> str:
    code: str = response.json()["error"]["code"]
    return code


async def test_valid_event_is_stored_then_acknowledged(
    client: httpx.AsyncClient, app: Starlette, db: Database
) -> None:
    """A correctly signed event answers 200 only once its row is committed."""
    response = await post_signed(client, PAYLOAD)
    assert response.status_code == 200
    assert response.json() == {"received": True, "duplicate": False}
    stored = await store.get(db, "evt_intake_1")
    assert stored is not None
    assert (stored.type, stored.object_id, stored.created) == (
        "customer.subscription.created",
        f.SUBSCRIPTION,
        NOW,
    )
    assert stored.payload.encode() == PAYLOAD  # the verified bytes, verbatim
    await settle(app)
    processed = await store.get(db, "evt_intake_1")
    assert processed is not None
    assert processed.status == "processed"


async def test_duplicate_event_is_stored_and_processed_once(
    client: httpx.AsyncClient, app: Starlette, db: Database
) -> None:
    """The same event id delivered three times answers 200 each time, leaves one row, and is
    processed once (one MRR movement)."""
    answers = []
    for _ in range(3):
        response = await post_signed(client, PAYLOAD)
        assert response.status_code == 200
        answers.append(response.json()["duplicate"])
        await settle(app)
    assert answers == [False, True, True]
    assert await _stored(db) == 1
    stored = await store.get(db, "evt_intake_1")
    assert stored is not None
    assert (stored.status, stored.attempts) == ("processed", 1)
    async with db.read() as conn:
        movements = await conn.fetch_value("SELECT count(*) FROM mrr_movements")
    assert movements == 1


async def test_concurrent_duplicates_are_stored_once(
    client: httpx.AsyncClient, app: Starlette, db: Database
) -> None:
    """Deliveries of one id racing each other all get 200 and leave exactly one row."""
    responses = await asyncio.gather(*(post_signed(client, PAYLOAD) for _ in range(5)))
    assert [r.status_code for r in responses] == [200] * 5
    assert sorted(r.json()["duplicate"] for r in responses) == [False, True, True, True, True]
    await settle(app)
    assert await _stored(db) == 1


async def _rejected(
    client: httpx.AsyncClient, db: Database, payload: bytes, headers: dict[str, str]
) -> str:
    response = await client.post("/webhooks/stripe", content=payload, headers=headers)
    assert response.status_code == 400, response.text
    assert await _stored(db) == 0
    return _error_code(response)


@pytest.mark.parametrize(
    ("header", "code"),
    [
        (sign_webhook(PAYLOAD, "whsec_not_ours", NOW), "signature_mismatch"),
        (sign_webhook(PAYLOAD, WEBHOOK_SECRET, NOW - 301), "signature_expired"),
        (sign_webhook(PAYLOAD, WEBHOOK_SECRET, NOW + 301), "signature_from_future"),
        ("t=,v1=", "signature_malformed"),
        (f"t={NOW}", "signature_malformed"),
        ("v1=" + "0" * 64, "signature_malformed"),
        (sign_webhook(PAYLOAD, WEBHOOK_SECRET, NOW).replace("v1=", "v0="), "signature_malformed"),
    ],
    ids=["wrong-secret", "stale", "future", "empty-parts", "no-v1", "no-t", "only-v0"],
)
async def test_bad_signature_is_rejected_and_nothing_stored(
    client: httpx.AsyncClient, db: Database, header: str, code: str
) -> None:
    """Wrong secret, stale or future timestamp, malformed header: 400 with the reason, no row."""
    assert await _rejected(client, db, PAYLOAD, {"Stripe-Signature": header}) == code


async def test_missing_signature_header_is_rejected(
    client: httpx.AsyncClient, db: Database
) -> None:
    """Without Stripe-Signature the request is refused before anything is stored."""
    assert await _rejected(client, db, PAYLOAD, {}) == "signature_missing"


async def test_tampered_body_is_rejected(client: httpx.AsyncClient, db: Database) -> None:
    """A body changed after signing does not verify."""
    header = sign_webhook(PAYLOAD, WEBHOOK_SECRET, NOW)
    tampered = PAYLOAD.replace(b'"active"', b'"canceled"')
    assert tampered != PAYLOAD
    assert await _rejected(client, db, tampered, {"Stripe-Signature": header}) == (
        "signature_mismatch"
    )


async def test_several_v1_values_one_matching_is_accepted(
    client: httpx.AsyncClient, db: Database
) -> None:
    """A header carrying one v1 per secret Stripe is signing with verifies if any matches."""
    response = await post_signed(client, PAYLOAD, secret=["whsec_rolled_away", WEBHOOK_SECRET])
    assert response.status_code == 200
    assert await _stored(db) == 1


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        (b"{not json", "invalid_json"),
        (b'{"id": "evt_\xff\xfe"}', "invalid_utf8"),
        (b"[1, 2]", "not_an_event"),
        (b'{"id": "evt_x", "object": "customer"}', "not_an_event"),
        (json.dumps({"id": "evt_x", "object": "event", "type": "x"}).encode(), "not_an_event"),
        (
            json.dumps(
                {
                    "id": "evt_thin",
                    "object": "v2.core.event",
                    "type": "v1.customer.updated",
                    "related_object": {"id": "cus_1", "type": "customer", "url": "/v1/customers"},
                }
            ).encode(),
            "thin_event_unsupported",
        ),
    ],
    ids=["malformed-json", "invalid-utf8", "array", "not-an-event", "no-data", "thin-event"],
)
async def test_validly_signed_body_that_is_not_a_snapshot_event_is_rejected(
    client: httpx.AsyncClient, db: Database, payload: bytes, code: str
) -> None:
    """Malformed JSON, invalid UTF-8 (stripe-python's UnicodeDecodeError) and bodies that are
    not Stripe snapshot events are a 400 even with a valid signature, never a 500."""
    header = sign_webhook(payload, WEBHOOK_SECRET, NOW)
    assert await _rejected(client, db, payload, {"Stripe-Signature": header}) == code


async def test_invalid_utf8_without_signature_is_a_400(
    client: httpx.AsyncClient, db: Database
) -> None:
    """An unsigned attacker sending invalid UTF-8 gets a 400 too."""
    header = f"t={NOW},v1={'0' * 64}"
    assert await _rejected(client, db, b"\xff\xfe\xfd", {"Stripe-Signature": header}) == (
        "signature_mismatch"
    )


async def test_oversized_body_is_413_and_nothing_stored(
    client: httpx.AsyncClient, db: Database
) -> None:
    """A body over 1 MiB is refused with 413, declared or streamed."""
    big = b"{" + b" " * MAX_BODY_BYTES + b"}"
    header = {"Stripe-Signature": sign_webhook(big, WEBHOOK_SECRET, NOW)}
    response = await client.post("/webhooks/stripe", content=big, headers=header)
    assert response.status_code == 413
    assert _error_code(response) == "payload_too_large"

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(17):
            yield b" " * (64 * 1024)

    streamed = await client.post("/webhooks/stripe", content=chunks(), headers=header)
    assert streamed.status_code == 413
    assert _error_code(streamed) == "payload_too_large"
    assert await _stored(db) == 0


async def test_rotated_secrets_both_verify(
    settings: Settings, clock: FixedClock, db: Database
) -> None:
    """With UPLIFT_STRIPE_WEBHOOK_SECRETS=new,old, events signed by either secret are stored."""
    rotated = Settings(
        database_url=settings.database_url,
        stripe_api_key=settings.stripe_api_key,
        stripe_webhook_secrets=f"{WEBHOOK_SECRET},{OLD_SECRET}",
    )
    async with running_app(rotated, clock) as (_, http):
        for n, secret in enumerate([WEBHOOK_SECRET, OLD_SECRET]):
            payload = f.body(f.event("product.created", f.product(), id=f"evt_rot_{n}"))
            response = await post_signed(http, payload, secret=secret)
            assert response.status_code == 200, response.text
        stranger = f.body(f.event("product.created", f.product(), id="evt_rot_x"))
        response = await post_signed(http, stranger, secret="whsec_third_party")
        assert response.status_code == 400
    assert await _stored(db) == 2


async def test_no_configured_secret_rejects_every_event(
    settings: Settings, clock: FixedClock, db: Database
) -> None:
    """Fail closed: without UPLIFT_STRIPE_WEBHOOK_SECRETS no event is accepted."""
    unconfigured = Settings(
        database_url=settings.database_url, stripe_api_key=settings.stripe_api_key
    )
    async with running_app(unconfigured, clock) as (_, http):
        response = await post_signed(http, PAYLOAD)
    assert response.status_code == 400
    assert _error_code(response) == "webhook_secret_not_configured"
    assert await _stored(db) == 0


async def test_signature_secret_never_appears_in_the_answer(client: httpx.AsyncClient) -> None:
    """Error bodies name the problem, never the configured secret."""
    header = sign_webhook(PAYLOAD, "whsec_not_ours", NOW)
    response = await client.post(
        "/webhooks/stripe", content=PAYLOAD, headers={"Stripe-Signature": header}
    )
    assert WEBHOOK_SECRET not in response.text
