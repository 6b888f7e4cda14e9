"""Constants and helpers the tests share (fixtures live in conftest.py)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx
import pytest
from starlette.applications import Starlette

from plugin.billing.catalog import Product
from plugin.billing.mirror import MirrorItem, MirrorSubscription
from plugin.billing.stripe_gateway import StripeGateway
from plugin.storage import Database
from plugin.storage import catalog as catalog_store
from plugin.storage import subscriptions as subscription_store

# 2026-11-22T00:00:00Z: tests pin time; nothing reads the wall clock.
NOW = 1795305600
STRIPE_TEST_KEY = "sk_test_uplift_tests"
WIDGET_SECRET = "widget-secret-for-tests-" + "0123456789abcdef" * 3
ADMIN_KEY = "uplift_sk_bootstrap_admin_key_for_tests"
WEBHOOK_SECRET = "whsec_tests_0123456789abcdef"

# The backend the suite runs on (tests/conftest.py `database_url`): SQLite unless
# UPLIFT_TEST_DATABASE=postgres.
ON_POSTGRES = os.environ.get("UPLIFT_TEST_DATABASE", "sqlite") == "postgres"
sqlite_only = pytest.mark.skipif(ON_POSTGRES, reason="about SQLite itself (its file, pragmas)")


@asynccontextmanager
async def started(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    """A client for `app`, with the app's lifespan entered: ASGITransport does not run it
    (httpx #350)."""
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://uplift.test"
        ) as http,
    ):
        yield http


def same_answer(a: httpx.Response, b: httpx.Response) -> None:
    """Assert two answers are the same: status, body, and every header but the request id."""
    assert a.status_code == b.status_code
    assert a.content == b.content
    drop = {"x-request-id"}
    assert [h for h in a.headers.multi_items() if h[0] not in drop] == [
        h for h in b.headers.multi_items() if h[0] not in drop
    ]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def uplift_env(**values: str) -> dict[str, str]:
    """The process environment minus any UPLIFT_* the developer has set, plus `values`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("UPLIFT_")}
    env.update({f"UPLIFT_{k.upper()}": v for k, v in values.items()})
    return env


def run_uplift(
    *args: str, env: dict[str, str], stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "plugin", *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def wait_until_ready(url: str, process: subprocess.Popen[str], *, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode}")
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"{url} was not ready after {timeout} s")


def stop(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


def sign_webhook(payload: bytes, secret: str | list[str], timestamp: int) -> str:
    """A `Stripe-Signature` header exactly as Stripe makes it (stripe-python's
    `WebhookSignature.generate_header`), one `v1` per secret. Written out here rather than
    borrowed from `plugin.webhooks.signature`, so the tests do not check the verifier against
    itself."""
    import hashlib
    import hmac

    secrets = [secret] if isinstance(secret, str) else secret
    signed = str(timestamp).encode() + b"." + payload
    signatures = [hmac.new(s.encode(), signed, hashlib.sha256).hexdigest() for s in secrets]
    return ",".join([f"t={timestamp}", *(f"v1={sig}" for sig in signatures)])


@dataclass(frozen=True)
class Subscribed:
    """A customer on Basic monthly in the emulator, with Pro monthly and Pro annual to move to."""

    customer_id: str
    subscription_id: str
    item_id: str
    basic: str  # 2900 / month
    pro: str  # 9900 / month
    pro_annual: str  # 99000 / year
    period_start: int
    period_end: int


async def subscribed_customer(
    gateway: StripeGateway, *, name: str, card: str = "pm_card_visa", quantity: int = 1
) -> Subscribed:
    """Set up through the gateway with keys named after `name` (the emulator is shared by the
    whole session, so each test passes its own name). The subscription is paid with a Visa
    card; `card` then becomes the default payment method for what follows."""
    key = f"test:{name}"
    customer = await gateway.create_customer(
        {"email": f"{name}@example.com", "name": name}, idempotency_key=f"{key}:customer"
    )
    await gateway.set_default_payment_method(
        customer_id=customer.id, payment_method="pm_card_visa", idempotency_key=f"{key}:visa"
    )
    basic_product = await gateway.create_product({"name": "Basic"}, idempotency_key=f"{key}:b")
    pro_product = await gateway.create_product({"name": "Pro"}, idempotency_key=f"{key}:p")
    prices = {}
    for label, product, amount, interval in (
        ("basic", basic_product.id, 2900, "month"),
        ("pro", pro_product.id, 9900, "month"),
        ("pro_annual", pro_product.id, 99000, "year"),
    ):
        price = await gateway.create_price(
            {
                "product": product,
                "currency": "usd",
                "unit_amount": amount,
                "recurring": {"interval": interval},
            },
            idempotency_key=f"{key}:price:{label}",
        )
        prices[label] = price.id
    subscription = await gateway.create_subscription(
        {"customer": customer.id, "items": [{"price": prices["basic"], "quantity": quantity}]},
        idempotency_key=f"{key}:subscription",
    )
    if card != "pm_card_visa":
        await gateway.set_default_payment_method(
            customer_id=customer.id, payment_method=card, idempotency_key=f"{key}:card"
        )
    [item] = subscription.items
    return Subscribed(
        customer_id=customer.id,
        subscription_id=subscription.id,
        item_id=item.id,
        basic=prices["basic"],
        pro=prices["pro"],
        pro_annual=prices["pro_annual"],
        period_start=item.current_period_start,
        period_end=item.current_period_end,
    )


async def mirror_basic(
    db: Database, *, subscription_id: str, customer_id: str, item_id: str, price: str,
    period_start: int, period_end: int, now: int,
) -> None:  # fmt: skip
    """Uplift's mirror of an active $29/month single-item subscription, as its webhook would
    have written it (for tests that start from a customer already on Basic)."""
    async with db.transaction() as conn:
        await subscription_store.upsert(
            conn,
            subscription=MirrorSubscription(
                id=subscription_id, customer_id=customer_id, status="active", currency="usd",
                items=(MirrorItem(item_id, price, "prod_basic", 1, 2900, "usd", "month"),),
                current_period_start=period_start, current_period_end=period_end,
                trial_end=None, cancel_at_period_end=False, canceled_at=None,
            ),
            now=now,
        )  # fmt: skip


async def mirrored_customer(
    gateway: StripeGateway, db: Database, name: str, *, now: int, card: str = "pm_card_visa"
) -> Subscribed:
    """`subscribed_customer`, with its prices in Uplift's catalog and its subscription in
    Uplift's mirror, as the webhooks would have written them."""
    world = await subscribed_customer(gateway, name=name, card=card)
    await mirror_world(gateway, db, world, now=now)
    return world


async def mirror_world(
    gateway: StripeGateway, db: Database, world: Subscribed, *, now: int
) -> None:
    """`world`'s prices in Uplift's catalog and its subscription in Uplift's mirror, as the
    webhooks would have written them."""
    async with db.transaction() as conn:
        for price_id in (world.basic, world.pro, world.pro_annual):
            price = await gateway.retrieve_price(price_id)
            await catalog_store.upsert_product(
                conn, product=Product(price.product_id, "Plan"), now=now
            )
            await catalog_store.upsert_price(conn, price=price, now=now)
    await mirror_basic(
        db, subscription_id=world.subscription_id, customer_id=world.customer_id,
        item_id=world.item_id, price=world.basic, period_start=world.period_start,
        period_end=world.period_end, now=now,
    )  # fmt: skip


async def pay_with_3ds(stripe_http: httpx.AsyncClient, invoice_id: str) -> None:
    """The customer's side of 3-D Secure on an open invoice: they authenticate on the hosted
    page (the emulator's test route for it), which no Uplift code path does."""
    invoice = (await stripe_http.get(f"/v1/invoices/{invoice_id}")).json()
    intent = (await stripe_http.get(f"/v1/payment_intents/{invoice['payment_intent']}")).json()
    authenticated = await stripe_http.post(
        f"/v1/payment_intents/{intent['id']}/_authenticate",
        data={"client_secret": intent["client_secret"], "success": "true"},
    )
    assert authenticated.status_code == 200, authenticated.text
