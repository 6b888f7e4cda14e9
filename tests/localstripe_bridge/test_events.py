"""The events the emulator sends for what a request did, as Stripe sends them: which types, in
which order, with `previous_attributes`, signed, to a real receiver on a loopback port."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import stripe  # noqa: TID251 -- tests drive the emulator exactly as stripe-python does
from aiohttp import web

from tests.localstripe_bridge.support import STRIPE_PYTHON_HTTPX_WARNING, Catalog

pytestmark = STRIPE_PYTHON_HTTPX_WARNING

DELIVERY_TIMEOUT = 15  # events are delivered about a second after they happen
DEFAULT_API_VERSION = "2026-10-28.endive"
SUBSCRIPTION_EVENTS = ("customer.subscription.created", "customer.subscription.updated")


@dataclass
class Hook:
    """A webhook endpoint registered with the emulator, and every event it received (each
    checked with stripe-python's signature verification)."""

    secret: str
    received: list[dict[str, Any]] = field(default_factory=list)
    arrived: asyncio.Condition = field(default_factory=asyncio.Condition)

    async def wait_for(self, event_type: str, object_id: str) -> dict[str, Any]:
        """The first event of `event_type` about `object_id` (the session's emulator is shared:
        events about other objects are ignored)."""
        async with asyncio.timeout(DELIVERY_TIMEOUT), self.arrived:
            while True:
                for event in self.received:
                    if (event["type"], event["data"]["object"]["id"]) == (event_type, object_id):
                        return event
                await self.arrived.wait()

    async def wait_until(self, done: Callable[[list[dict[str, Any]]], bool]) -> None:
        async with asyncio.timeout(DELIVERY_TIMEOUT), self.arrived:
            await self.arrived.wait_for(lambda: done(self.received))

    def about(self, *object_ids: str) -> list[dict[str, Any]]:
        """Events about these objects (invoices, subscriptions …), in the order received."""
        return [e for e in self.received if e["data"]["object"]["id"] in object_ids]

    def types(self, *object_ids: str) -> list[str]:
        return [event["type"] for event in self.about(*object_ids)]


@contextlib.asynccontextmanager
async def _registered(http: httpx.AsyncClient, **endpoint: str) -> AsyncIterator[Hook]:
    """A real receiver on a loopback port, registered as a webhook endpoint (`endpoint`: the
    create parameters besides `url`); every delivery's signature is checked on arrival."""
    hook = Hook("")

    async def receive(request: web.Request) -> web.Response:
        payload = await request.read()
        event = stripe.Webhook.construct_event(
            payload.decode(), request.headers["Stripe-Signature"], hook.secret
        )
        assert event.object == "event"
        async with hook.arrived:
            hook.received.append(json.loads(payload))
            hook.arrived.notify_all()
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/hook", receive)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    port = runner.addresses[0][1]
    try:
        created = await http.post(
            "/v1/webhook_endpoints", data={"url": f"http://127.0.0.1:{port}/hook", **endpoint}
        )
        assert created.status_code == 200, created.text
        hook.secret = created.json()["secret"]
        try:
            yield hook
        finally:
            await http.delete(f"/v1/webhook_endpoints/{created.json()['id']}")
    finally:
        await runner.cleanup()


@pytest.fixture
async def hook(http: httpx.AsyncClient) -> AsyncIterator[Hook]:
    """An endpoint subscribed to every event type."""
    async with _registered(http, **{"enabled_events[0]": "*"}) as registered:
        yield registered


async def _use_card(client: stripe.StripeClient, customer: str, card: str) -> None:
    attached = await client.v1.payment_methods.attach_async(card, {"customer": customer})
    await client.v1.customers.update_async(
        customer, {"invoice_settings": {"default_payment_method": attached.id}}
    )


async def _subscribe(client: stripe.StripeClient, customer: str, price: str) -> stripe.Subscription:
    return await client.v1.subscriptions.create_async(
        {"customer": customer, "items": [{"price": price}]}
    )


async def _one_off_invoice(
    client: stripe.StripeClient, customer: str, amount: int | None
) -> stripe.Invoice:
    """A draft holding one pending item of `amount` (none: an empty, zero draft)."""
    if amount is not None:
        await client.v1.invoice_items.create_async(
            {"customer": customer, "amount": amount, "currency": "usd"}
        )
    return await client.v1.invoices.create_async(
        {"customer": customer, "pending_invoice_items_behavior": "include", "auto_advance": False}
    )


async def _get(http: httpx.AsyncClient, path: str) -> dict[str, Any]:
    response = await http.get(path)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _changed(before: dict[str, Any], after: dict[str, Any]) -> set[str]:
    return {key for key in before.keys() | after.keys() if before.get(key) != after.get(key)}


async def test_creating_a_subscription_sends_created_then_its_paid_first_invoice(
    stripe_client: stripe.StripeClient, catalog: Catalog, customer: str, hook: Hook
) -> None:
    """customer.subscription.created (already active), then the first invoice's created,
    finalized, payment_succeeded and paid; no subscription.updated for the creation itself."""
    sub = await _subscribe(stripe_client, customer, catalog.monthly)
    invoice = str(sub.latest_invoice)
    await hook.wait_for("invoice.paid", invoice)
    created = await hook.wait_for("customer.subscription.created", sub.id)
    assert created["data"]["object"]["status"] == "active"
    assert created["data"]["object"]["items"]["data"][0]["price"]["id"] == catalog.monthly
    assert hook.types(sub.id, invoice) == [
        "customer.subscription.created",
        "invoice.created",
        "invoice.finalized",
        "invoice.payment_succeeded",
        "invoice.paid",
    ]
    # A later change is the subscription's first `updated`: the creation sent none.
    await stripe_client.v1.subscriptions.update_async(sub.id, {"cancel_at_period_end": True})
    updated = await hook.wait_for("customer.subscription.updated", sub.id)
    assert updated["data"]["previous_attributes"] == {"cancel_at_period_end": False}


async def test_subscription_update_sends_updated_with_exactly_the_changed_fields(
    stripe_client: stripe.StripeClient,
    http: httpx.AsyncClient,
    catalog: Catalog,
    customer: str,
    hook: Hook,
) -> None:
    """previous_attributes holds the old values of exactly the top-level fields that changed;
    data.object is the subscription as GET shows it afterwards."""
    sub = await _subscribe(stripe_client, customer, catalog.monthly)
    before = await _get(http, f"/v1/subscriptions/{sub.id}")
    cancel_at = sub["items"].data[0].current_period_end - 60
    await stripe_client.v1.subscriptions.update_async(
        sub.id, {"cancel_at_period_end": True, "cancel_at": cancel_at}
    )
    updated = await hook.wait_for("customer.subscription.updated", sub.id)
    after = await _get(http, f"/v1/subscriptions/{sub.id}")
    assert updated["data"]["object"] == after
    previous = updated["data"]["previous_attributes"]
    assert set(previous) == _changed(before, after)
    assert (previous["cancel_at_period_end"], previous["cancel_at"]) == (False, None)


async def test_price_change_reports_the_whole_previous_items_list(
    stripe_client: stripe.StripeClient,
    http: httpx.AsyncClient,
    catalog: Catalog,
    customer: str,
    hook: Hook,
) -> None:
    """Stripe gives a changed list attribute whole: previous_attributes.items is the list
    object as it was, with the old price."""
    sub = await _subscribe(stripe_client, customer, catalog.monthly)
    before = await _get(http, f"/v1/subscriptions/{sub.id}")
    item = sub["items"].data[0].id
    await stripe_client.v1.subscriptions.update_async(
        sub.id,
        {"items": [{"id": item, "price": catalog.premium}], "proration_behavior": "none"},
    )
    updated = await hook.wait_for("customer.subscription.updated", sub.id)
    after = await _get(http, f"/v1/subscriptions/{sub.id}")
    previous = updated["data"]["previous_attributes"]
    assert previous["items"] == before["items"]
    assert previous["items"]["data"][0]["price"]["id"] == catalog.monthly
    assert updated["data"]["object"]["items"]["data"][0]["price"]["id"] == catalog.premium
    assert set(previous) == _changed(before, after)


async def test_update_that_invoices_sends_invoice_events_then_subscription_updated(
    stripe_client: stripe.StripeClient,
    http: httpx.AsyncClient,
    catalog: Catalog,
    customer: str,
    hook: Hook,
) -> None:
    """Moving to a yearly price invoices at once: invoice.created, invoice.finalized,
    invoice.payment_succeeded, invoice.paid, then customer.subscription.updated whose previous
    attributes include the old latest_invoice."""
    sub = await _subscribe(stripe_client, customer, catalog.monthly)
    first = str(sub.latest_invoice)
    item = sub["items"].data[0].id
    await stripe_client.v1.subscriptions.update_async(
        sub.id, {"items": [{"id": item, "price": catalog.annual}]}
    )
    updated = await hook.wait_for("customer.subscription.updated", sub.id)
    invoice = updated["data"]["object"]["latest_invoice"]
    assert invoice != first
    assert updated["data"]["previous_attributes"]["latest_invoice"] == first
    invoice_events = [
        e["type"] for e in hook.about(sub.id, invoice) if e["type"] not in SUBSCRIPTION_EVENTS
    ]
    assert invoice_events == [
        "invoice.created",
        "invoice.finalized",
        "invoice.payment_succeeded",
        "invoice.paid",
    ]
    assert hook.types(sub.id, invoice)[-1] == "customer.subscription.updated"
    paid = await hook.wait_for("invoice.paid", invoice)
    assert paid["data"]["object"] == await _get(http, f"/v1/invoices/{invoice}")


async def test_adding_and_removing_an_item_sends_updated_with_the_previous_items(
    stripe_client: stripe.StripeClient, catalog: Catalog, customer: str, hook: Hook
) -> None:
    sub = await _subscribe(stripe_client, customer, catalog.monthly)
    added = await stripe_client.v1.subscription_items.create_async(
        {"subscription": sub.id, "price": catalog.premium, "proration_behavior": "none"}
    )
    await hook.wait_until(lambda _: len(hook.types(sub.id)) >= 2)
    first = hook.about(sub.id)[1]
    assert first["type"] == "customer.subscription.updated"
    previous_items = first["data"]["previous_attributes"]["items"]["data"]
    assert [i["price"]["id"] for i in previous_items] == [catalog.monthly]
    now_items = first["data"]["object"]["items"]["data"]
    assert [i["price"]["id"] for i in now_items] == [catalog.monthly, catalog.premium]

    await stripe_client.v1.subscription_items.delete_async(added.id, {"proration_behavior": "none"})
    await hook.wait_until(lambda _: len(hook.types(sub.id)) >= 3)
    second = hook.about(sub.id)[2]
    assert second["type"] == "customer.subscription.updated"
    previous_items = second["data"]["previous_attributes"]["items"]["data"]
    assert [i["id"] for i in previous_items] == [i["id"] for i in now_items]
    assert len(second["data"]["object"]["items"]["data"]) == 1


async def test_attaching_and_clearing_a_discount_sends_updated(
    stripe_client: stripe.StripeClient,
    http: httpx.AsyncClient,
    catalog: Catalog,
    customer: str,
    hook: Hook,
) -> None:
    sub = await _subscribe(stripe_client, customer, catalog.monthly)
    coupon = await stripe_client.v1.coupons.create_async({"percent_off": 10, "duration": "once"})
    attached = await http.post(
        f"/v1/subscriptions/{sub.id}", data={"discounts[0][coupon]": coupon.id}
    )
    assert attached.status_code == 200, attached.text
    discount = attached.json()["discounts"][0]
    await hook.wait_until(lambda _: len(hook.types(sub.id)) >= 2)
    first = hook.about(sub.id)[1]
    assert first["type"] == "customer.subscription.updated"
    assert first["data"]["previous_attributes"]["discounts"] == []
    assert first["data"]["object"]["discounts"] == [discount]

    cleared = await http.post(f"/v1/subscriptions/{sub.id}", data={"discounts": ""})
    assert cleared.status_code == 200, cleared.text
    await hook.wait_until(lambda _: len(hook.types(sub.id)) >= 3)
    second = hook.about(sub.id)[2]
    assert second["data"]["previous_attributes"]["discounts"] == [discount]
    assert second["data"]["object"]["discounts"] == []


async def test_one_off_invoice_is_finalized_then_paid_after_payment_succeeded(
    stripe_client: stripe.StripeClient, http: httpx.AsyncClient, customer: str, hook: Hook
) -> None:
    draft = await _one_off_invoice(stripe_client, customer, 1234)
    invoice = str(draft.id)
    await stripe_client.v1.invoices.finalize_invoice_async(invoice)
    finalized = await hook.wait_for("invoice.finalized", invoice)
    assert finalized["data"]["object"]["status"] == "open"
    await stripe_client.v1.invoices.pay_async(invoice, {"off_session": True})
    paid = await hook.wait_for("invoice.paid", invoice)
    assert paid["data"]["object"]["status"] == "paid"
    assert hook.types(invoice) == [
        "invoice.created",
        "invoice.finalized",
        "invoice.payment_succeeded",
        "invoice.paid",
    ]
    created = hook.about(invoice)[0]
    assert created["data"]["object"]["status"] == "draft"
    assert created["data"]["object"]["billing_reason"] == "manual"


async def test_paying_a_draft_finalizes_it_first(
    stripe_client: stripe.StripeClient, customer: str, hook: Hook
) -> None:
    draft = await _one_off_invoice(stripe_client, customer, 800)
    invoice = str(draft.id)
    await stripe_client.v1.invoices.pay_async(invoice)
    await hook.wait_for("invoice.paid", invoice)
    assert hook.types(invoice) == [
        "invoice.created",
        "invoice.finalized",
        "invoice.payment_succeeded",
        "invoice.paid",
    ]


async def test_zero_invoice_is_paid_at_finalization(
    stripe_client: stripe.StripeClient, customer: str, hook: Hook
) -> None:
    draft = await _one_off_invoice(stripe_client, customer, None)
    invoice = str(draft.id)
    finalized = await stripe_client.v1.invoices.finalize_invoice_async(invoice)
    assert finalized.status == "paid"
    await hook.wait_for("invoice.paid", invoice)
    assert hook.types(invoice) == [
        "invoice.created",
        "invoice.finalized",
        "invoice.payment_succeeded",
        "invoice.paid",
    ]


async def test_declined_payment_sends_payment_failed_once(
    stripe_client: stripe.StripeClient, customer: str, hook: Hook
) -> None:
    await _use_card(stripe_client, customer, "pm_card_chargeCustomerFail")
    draft = await _one_off_invoice(stripe_client, customer, 2000)
    invoice = str(draft.id)
    await stripe_client.v1.invoices.finalize_invoice_async(invoice)
    with pytest.raises(stripe.CardError):
        await stripe_client.v1.invoices.pay_async(invoice, {"off_session": True})
    await hook.wait_for("invoice.payment_failed", invoice)
    # A retry is a second attempt, and a second failure.
    with pytest.raises(stripe.CardError):
        await stripe_client.v1.invoices.pay_async(invoice, {"off_session": True})
    voided = await stripe_client.v1.invoices.void_invoice_async(invoice)
    assert voided.status == "void"
    await hook.wait_for("invoice.voided", invoice)
    assert hook.types(invoice) == [
        "invoice.created",
        "invoice.finalized",
        "invoice.payment_failed",
        "invoice.payment_failed",
        "invoice.voided",
    ]


async def test_card_needing_authentication_sends_action_required_then_paid(
    stripe_client: stripe.StripeClient, http: httpx.AsyncClient, customer: str, hook: Hook
) -> None:
    await _use_card(stripe_client, customer, "pm_card_authenticationRequired")
    draft = await _one_off_invoice(stripe_client, customer, 3100)
    invoice = str(draft.id)
    with pytest.raises(stripe.CardError) as needs_action:
        await stripe_client.v1.invoices.pay_async(invoice, {"off_session": True})
    assert needs_action.value.code == "invoice_payment_intent_requires_action"
    required = await hook.wait_for("invoice.payment_action_required", invoice)
    assert required["data"]["object"]["status"] == "open"
    assert hook.types(invoice) == [
        "invoice.created",
        "invoice.finalized",
        "invoice.payment_action_required",
    ]

    intent_id = required["data"]["object"]["payment_intent"]
    intent = await _get(http, f"/v1/payment_intents/{intent_id}")
    done = await http.post(
        f"/v1/payment_intents/{intent_id}/_authenticate",
        data={"client_secret": intent["client_secret"], "success": "true"},
    )
    assert done.status_code == 200, done.text
    await hook.wait_for("invoice.paid", invoice)
    assert hook.types(invoice)[3:] == ["invoice.payment_succeeded", "invoice.paid"]


async def test_first_invoice_needing_authentication_activates_the_subscription_once_paid(
    stripe_client: stripe.StripeClient,
    http: httpx.AsyncClient,
    catalog: Catalog,
    customer: str,
    hook: Hook,
) -> None:
    await _use_card(stripe_client, customer, "pm_card_authenticationRequired")
    sub = await _subscribe(stripe_client, customer, catalog.monthly)
    assert sub.status == "incomplete"
    invoice = str(sub.latest_invoice)
    required = await hook.wait_for("invoice.payment_action_required", invoice)
    assert hook.types(sub.id, invoice) == [
        "customer.subscription.created",
        "invoice.created",
        "invoice.finalized",
        "invoice.payment_action_required",
    ]
    intent_id = required["data"]["object"]["payment_intent"]
    intent = await _get(http, f"/v1/payment_intents/{intent_id}")
    done = await http.post(
        f"/v1/payment_intents/{intent_id}/_authenticate",
        data={"client_secret": intent["client_secret"], "success": "true"},
    )
    assert done.status_code == 200, done.text
    updated = await hook.wait_for("customer.subscription.updated", sub.id)
    assert updated["data"]["object"]["status"] == "active"
    assert updated["data"]["previous_attributes"]["status"] == "incomplete"
    assert hook.types(sub.id, invoice)[4:] == [
        "invoice.payment_succeeded",
        "invoice.paid",
        "customer.subscription.updated",
    ]


async def test_canceling_sends_deleted_and_no_updated(
    stripe_client: stripe.StripeClient, catalog: Catalog, customer: str, hook: Hook
) -> None:
    sub = await _subscribe(stripe_client, customer, catalog.monthly)
    await stripe_client.v1.subscriptions.cancel_async(sub.id)
    deleted = await hook.wait_for("customer.subscription.deleted", sub.id)
    assert deleted["data"]["object"]["status"] == "canceled"
    assert hook.types(sub.id) == ["customer.subscription.created", "customer.subscription.deleted"]


async def test_unchanged_update_sends_nothing(
    stripe_client: stripe.StripeClient, catalog: Catalog, customer: str, hook: Hook
) -> None:
    sub = await _subscribe(stripe_client, customer, catalog.monthly)
    for cancel in (True, True, False):
        await stripe_client.v1.subscriptions.update_async(sub.id, {"cancel_at_period_end": cancel})
    await hook.wait_until(lambda _: len(hook.types(sub.id)) >= 3)
    updates = [e for e in hook.about(sub.id) if e["type"] == "customer.subscription.updated"]
    # The second update changed nothing and sent nothing: the next one is the third's.
    assert [e["data"]["previous_attributes"] for e in updates[:2]] == [
        {"cancel_at_period_end": False},
        {"cancel_at_period_end": True},
    ]


async def test_events_of_one_object_arrive_in_order_with_non_decreasing_created(
    stripe_client: stripe.StripeClient, catalog: Catalog, customer: str, hook: Hook
) -> None:
    sub = await _subscribe(stripe_client, customer, catalog.monthly)
    base = sub["items"].data[0].current_period_end - 600
    for n in range(1, 6):
        await stripe_client.v1.subscriptions.update_async(sub.id, {"cancel_at": base + n})
    await hook.wait_until(lambda _: len(hook.types(sub.id)) >= 6)
    updates = hook.about(sub.id)[1:]
    assert [e["data"]["object"]["cancel_at"] - base for e in updates] == [1, 2, 3, 4, 5]
    previous = [e["data"]["previous_attributes"]["cancel_at"] for e in updates]
    assert previous == [None, base + 1, base + 2, base + 3, base + 4]
    created = [e["created"] for e in hook.about(sub.id)]
    assert created == sorted(created)


async def test_envelope_is_stripes_with_the_endpoints_api_version(
    stripe_client: stripe.StripeClient, http: httpx.AsyncClient, customer: str, hook: Hook
) -> None:
    """`api_version` is the endpoint's when it was created with one, else the version
    stripe-python pins, for localstripe's own events too; `request` names the request."""
    pinned_endpoint = {
        "enabled_events[0]": "customer.updated",
        "enabled_events[1]": "invoice.finalized",
        "api_version": "2024-06-20",
    }
    async with _registered(http, **pinned_endpoint) as pinned:
        response = await http.post(
            f"/v1/customers/{customer}",
            data={"metadata[k]": "v"},
            headers={"Idempotency-Key": "events-envelope-" + customer},
        )
        assert response.status_code == 200
        draft = await _one_off_invoice(stripe_client, customer, 100)
        await stripe_client.v1.invoices.finalize_invoice_async(str(draft.id))

        for target, version in ((hook, DEFAULT_API_VERSION), (pinned, "2024-06-20")):
            own = await target.wait_for("customer.updated", customer)  # localstripe's own
            mine = await target.wait_for("invoice.finalized", str(draft.id))
            for event in (own, mine):
                assert event["api_version"] == version
                assert event["id"].startswith("evt_")
                assert (event["object"], event["livemode"]) == ("event", False)
                assert isinstance(event["created"], int)
                assert event["pending_webhooks"] >= 1
            assert own["request"] == {
                "id": response.headers["Request-Id"],
                "idempotency_key": "events-envelope-" + customer,
            }
            assert mine["request"]["id"].startswith("req_")
        assert {e["type"] for e in pinned.received} <= {"customer.updated", "invoice.finalized"}

        stored = await _get(http, f"/v1/events/{mine['id']}")
        assert (stored["type"], stored["data"]["object"]["id"]) == ("invoice.finalized", draft.id)


async def test_idempotent_replay_sends_no_second_event(
    http: httpx.AsyncClient,
    stripe_client: stripe.StripeClient,
    catalog: Catalog,
    customer: str,
    hook: Hook,
) -> None:
    sub = await _subscribe(stripe_client, customer, catalog.monthly)
    key = {"Idempotency-Key": f"events-replay-{sub.id}"}
    for _ in range(2):
        response = await http.post(
            f"/v1/subscriptions/{sub.id}", data={"cancel_at_period_end": "true"}, headers=key
        )
        assert response.status_code == 200, response.text
    assert response.headers.get("Idempotent-Replayed") == "true"
    await stripe_client.v1.subscriptions.update_async(sub.id, {"cancel_at_period_end": False})
    await hook.wait_until(lambda _: len(hook.types(sub.id)) >= 3)
    updates = [e for e in hook.about(sub.id) if e["type"] == "customer.subscription.updated"]
    assert [e["data"]["previous_attributes"] for e in updates] == [
        {"cancel_at_period_end": False},
        {"cancel_at_period_end": True},
    ]
    assert updates[0]["request"]["idempotency_key"] == key["Idempotency-Key"]
