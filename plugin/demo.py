"""`uplift demo`: everything on one machine, nothing to configure.

Starts the local Stripe emulator on a free loopback port, seeds the demo catalog from
CONTRACT.md into it (through the same gateway Uplift uses against real Stripe), mirrors the
catalog into a fresh SQLite file, registers a signed webhook endpoint, prints how to reach it
all, and serves until Ctrl-C, then stops what it started.
"""

from __future__ import annotations

import asyncio
import secrets
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from pydantic import SecretStr

from plugin import auth, storage
from plugin.cli import CommandError, sync_catalog
from plugin.clock import SystemClock
from plugin.settings import SQLITE_PREFIX, Settings
from plugin.stripe_gateway import StripeGateway, Subscription

# localstripe accepts any well-formed key; this one only ever reaches the loopback emulator.
DEMO_STRIPE_KEY = "sk_test_uplift_demo"


@dataclass(frozen=True, slots=True)
class DemoProduct:
    key: str
    name: str
    monthly: int  # USD cents
    annual: bool
    metadata: dict[str, str]


UNLIMITED = "unlimited"

DEMO_CATALOG = (
    DemoProduct(
        "basic", "Basic", 2900, True,
        {"uplift_kind": "plan", "tier": "1", "users": "5", "storage_gb": "10", "integrations": "3"},
    ),
    DemoProduct(
        "pro", "Pro", 9900, True,
        {"uplift_kind": "plan", "tier": "2", "users": "25", "storage_gb": "100",
         "integrations": "10"},
    ),
    DemoProduct(
        "enterprise", "Enterprise", 29900, True,
        {"uplift_kind": "plan", "tier": "3", "users": UNLIMITED, "storage_gb": "1000",
         "integrations": UNLIMITED},
    ),
    DemoProduct("advanced_reports", "Advanced Reports", 1900, False, {"uplift_kind": "addon"}),
    DemoProduct("priority_support", "Priority Support", 4900, False, {"uplift_kind": "addon"}),
    DemoProduct("extra_storage", "Extra Storage 100 GB", 1000, False,
                {"uplift_kind": "addon", "storage_gb": "100"}),
)  # fmt: skip

DEMO_CUSTOMER = "demo-customer"


@dataclass(frozen=True, slots=True)
class DemoSeed:
    prices: dict[str, str]  # lookup key (basic_monthly, pro_annual, …) → price id
    stripe_customer: str
    subscription: Subscription


async def seed_stripe(gateway: StripeGateway) -> DemoSeed:
    """Create the demo catalog, one customer with a card, and a Basic monthly subscription."""
    prices: dict[str, str] = {}
    for item in DEMO_CATALOG:
        product = await gateway.create_product(
            {"name": item.name, "metadata": {"uplift_key": item.key, **item.metadata}},
            idempotency_key=f"uplift:demo:product:{item.key}",
        )
        intervals = [("monthly", "month", item.monthly)]
        if item.annual:
            intervals.append(("annual", "year", item.monthly * 10))  # 2 months free
        for suffix, interval, amount in intervals:
            lookup_key = f"{item.key}_{suffix}"
            price = await gateway.create_price(
                {
                    "product": product.id,
                    "currency": "usd",
                    "unit_amount": amount,
                    "recurring": {"interval": interval},
                    "lookup_key": lookup_key,
                },
                idempotency_key=f"uplift:demo:price:{lookup_key}",
            )
            prices[lookup_key] = price.id
    customer = await gateway.create_customer(
        {
            "email": "demo@example.com",
            "name": "Demo Customer",
            "metadata": {"uplift_id": DEMO_CUSTOMER},
        },
        idempotency_key="uplift:demo:customer",
    )
    await gateway.set_default_payment_method(
        customer_id=customer.id, payment_method="pm_card_visa", idempotency_key="uplift:demo:card"
    )
    subscription = await gateway.create_subscription(
        {"customer": customer.id, "items": [{"price": prices["basic_monthly"]}]},
        idempotency_key="uplift:demo:subscription",
    )
    return DemoSeed(prices=prices, stripe_customer=customer.id, subscription=subscription)


async def prepare(settings: Settings, *, port: int) -> tuple[Settings, str, DemoSeed]:
    """Seed Stripe and the database; returns the settings to serve with and an admin key."""
    now = SystemClock().now()
    gateway = StripeGateway(api_key=DEMO_STRIPE_KEY, api_base=settings.stripe_api_base)
    db = await storage.connect(settings.database_url)
    try:
        await storage.migrations.apply(db, now=now)
        seed = await seed_stripe(gateway)
        await sync_catalog(db, gateway, now=now)
        admin_key, _ = await auth.create_admin_key(db, name="demo", now=now)
        endpoint = await gateway.create_webhook_endpoint(
            {"url": f"http://127.0.0.1:{port}/webhooks/stripe", "enabled_events": ["*"]},
            idempotency_key="uplift:demo:webhook-endpoint",
        )
    finally:
        await db.close()
        await gateway.close()
    if endpoint.secret is None:
        raise CommandError("the emulator returned no webhook secret")
    served = settings.model_copy(update={"stripe_webhook_secrets": [SecretStr(endpoint.secret)]})
    return served, admin_key, seed


def run_demo(settings: Settings, *, port: int) -> None:
    try:
        from localstripe_bridge.process import EmulatorProcess
    except ImportError:  # pragma: no cover - depends on how Uplift was installed
        raise CommandError('the demo needs its extra: pip install -e ".[demo]"') from None
    from plugin.server import run_server

    workdir = Path(tempfile.mkdtemp(prefix="uplift-demo-"))
    try:
        with EmulatorProcess() as emulator:
            base = settings.model_copy(
                update={
                    "database_url": f"{SQLITE_PREFIX}{workdir / 'uplift.db'}",
                    "stripe_api_key": SecretStr(DEMO_STRIPE_KEY),
                    "stripe_api_base": emulator.url,
                    "widget_secret": settings.widget_secret or SecretStr(secrets.token_urlsafe(32)),
                    "public_url": f"http://127.0.0.1:{port}",
                }
            )
            served, admin_key, seed = asyncio.run(prepare(base, port=port))
            assert served.widget_secret is not None  # noqa: S101 -- set just above
            token = auth.issue_customer_token(
                secret=served.widget_secret.get_secret_value(),
                customer_id=DEMO_CUSTOMER,
                now=SystemClock().now(),
                ttl=auth.MAX_TOKEN_TTL,
                stripe_customer=seed.stripe_customer,
            )
            print(
                "\n".join(
                    [
                        "Uplift demo",
                        f"  server:         {served.public_url}",
                        f"  readiness:      {served.public_url}/readyz",
                        f"  local Stripe:   {emulator.url}",
                        f"  database:       {workdir / 'uplift.db'}",
                        f"  admin key:      {admin_key}",
                        f"  customer token: {token}",
                        f"  demo customer:  {DEMO_CUSTOMER} ({seed.stripe_customer}),"
                        " on Basic monthly",
                        "Press Ctrl-C to stop.",
                    ]
                ),
                flush=True,
            )
            run_server(served, host="127.0.0.1", port=port)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
