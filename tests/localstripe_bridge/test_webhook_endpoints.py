"""Webhook endpoints: created through the Stripe API, they receive signed events."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
import stripe  # noqa: TID251 -- tests drive the emulator exactly as stripe-python does
from aiohttp import web

from tests.localstripe_bridge.support import STRIPE_PYTHON_HTTPX_WARNING

pytestmark = STRIPE_PYTHON_HTTPX_WARNING

DELIVERY_TIMEOUT = 10  # localstripe sends each event about a second after it happens


@dataclass(frozen=True)
class Delivery:
    path: str  # with the query string, which tells endpoints sharing the receiver apart
    signature: str
    body: bytes

    def about(self) -> tuple[str, str]:
        """(event type, id of the object the event is about)."""
        event = json.loads(self.body)
        return event["type"], event["data"]["object"]["id"]


@dataclass
class Receiver:
    url: str
    deliveries: asyncio.Queue[Delivery] = field(default_factory=asyncio.Queue)
    seen: list[Delivery] = field(default_factory=list)

    async def wait_for(self, event_type: str, object_id: str, *, path: str = "/hook") -> Delivery:
        """The delivery of `event_type` about `object_id` to `path`. The emulator is shared by
        the session, so events of earlier tests may still arrive; they are recorded, not taken."""
        async with asyncio.timeout(DELIVERY_TIMEOUT):
            while True:
                delivery = await self.deliveries.get()
                self.seen.append(delivery)
                if delivery.about() == (event_type, object_id) and delivery.path == path:
                    return delivery


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    """A webhook receiver on a free loopback port that records every POST."""
    queue: asyncio.Queue[Delivery] = asyncio.Queue()

    async def receive(request: web.Request) -> web.Response:
        signature = request.headers.get("Stripe-Signature", "")
        await queue.put(Delivery(request.path_qs, signature, await request.read()))
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/hook", receive)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield Receiver(f"http://127.0.0.1:{port}/hook", queue)
    finally:
        await runner.cleanup()


def _verify(signature: str, body: bytes, secret: str) -> None:
    """Stripe's scheme: `t=…,v1=…`, v1 = hex HMAC-SHA256(secret, "{t}.{body}")."""
    parts = dict(part.split("=", 1) for part in signature.split(","))
    signed = f"{parts['t']}.".encode() + body
    expected = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(parts["v1"], expected)


async def test_registered_endpoint_receives_signed_customer_created(
    stripe_client: stripe.StripeClient, receiver: Receiver
) -> None:
    """An endpoint created with the API gets `customer.created`, signed with its secret."""
    endpoint = await stripe_client.v1.webhook_endpoints.create_async(
        {"url": receiver.url, "enabled_events": ["customer.created"]}
    )
    assert endpoint.id.startswith("we_")
    assert (endpoint.url, endpoint.status) == (receiver.url, "enabled")
    assert list(endpoint.enabled_events) == ["customer.created"]
    assert endpoint.secret is not None
    assert endpoint.secret.startswith("whsec_")
    try:
        customer = await stripe_client.v1.customers.create_async({"email": "hook@example.com"})
        delivery = await receiver.wait_for("customer.created", customer.id)
        _verify(delivery.signature, delivery.body, endpoint.secret)
        event = stripe.Webhook.construct_event(
            delivery.body.decode(), delivery.signature, endpoint.secret
        )
        assert event.data.object["id"] == customer.id
    finally:
        await stripe_client.v1.webhook_endpoints.delete_async(endpoint.id)


async def test_endpoint_gets_only_its_enabled_events(
    stripe_client: stripe.StripeClient, receiver: Receiver
) -> None:
    """An endpoint for `product.created` is not sent `customer.created`; `*` is every event."""
    products_only = await stripe_client.v1.webhook_endpoints.create_async(
        {"url": receiver.url + "?only=products", "enabled_events": ["product.created"]}
    )
    everything = await stripe_client.v1.webhook_endpoints.create_async(
        {"url": receiver.url, "enabled_events": ["*"]}
    )
    try:
        customer = await stripe_client.v1.customers.create_async({"email": "star@example.com"})
        product = await stripe_client.v1.products.create_async({"name": "Hooked"})
        await receiver.wait_for("customer.created", customer.id)
        await receiver.wait_for("product.created", product.id, path="/hook?only=products")
        await receiver.wait_for("product.created", product.id)
        assert all(
            d.about()[0] == "product.created" for d in receiver.seen if "only=products" in d.path
        )
    finally:
        for endpoint in (products_only, everything):
            await stripe_client.v1.webhook_endpoints.delete_async(endpoint.id)


async def test_secret_is_shown_on_create_only_and_delete_stops_delivery(
    stripe_client: stripe.StripeClient, receiver: Receiver
) -> None:
    """Retrieve and list omit the secret; a deleted endpoint is gone and gets nothing."""
    endpoints = stripe_client.v1.webhook_endpoints
    created = await endpoints.create_async(
        {"url": receiver.url + "?deleted", "enabled_events": ["customer.created"],
         "metadata": {"k": "v"}}
    )  # fmt: skip
    witness = await endpoints.create_async(
        {"url": receiver.url + "?witness", "enabled_events": ["customer.created"]}
    )
    fetched = await endpoints.retrieve_async(created.id)
    assert "secret" not in fetched.to_dict()
    assert fetched.metadata.to_dict() == {"k": "v"}
    listed = await endpoints.list_async({"limit": 100})
    assert created.id in {e.id for e in listed.data}

    deleted = await endpoints.delete_async(created.id)
    assert deleted.deleted is True
    with pytest.raises(stripe.InvalidRequestError):
        await endpoints.retrieve_async(created.id)
    try:
        customer = await stripe_client.v1.customers.create_async({"email": "late@example.com"})
        # localstripe posts each event to its endpoints in registration order, so once the
        # witness has it, the deleted endpoint would have had it too.
        await receiver.wait_for("customer.created", customer.id, path="/hook?witness")
        assert not [d for d in receiver.seen if d.path == "/hook?deleted"]
    finally:
        await endpoints.delete_async(witness.id)


async def test_endpoint_needs_a_url_and_events(stripe_client: stripe.StripeClient) -> None:
    """Missing or non-HTTP urls and empty events are 400s naming the parameter."""
    endpoints = stripe_client.v1.webhook_endpoints
    with pytest.raises(stripe.InvalidRequestError) as no_events:
        await endpoints.create_async({"url": "http://127.0.0.1:9/x", "enabled_events": []})
    assert no_events.value.param == "enabled_events"
    with pytest.raises(stripe.InvalidRequestError) as bad_url:
        await endpoints.create_async({"url": "ftp://example.com", "enabled_events": ["*"]})
    assert bad_url.value.param == "url"
