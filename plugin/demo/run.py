"""`uplift demo`: everything on one machine, nothing to configure.

Starts the local Stripe emulator on a free loopback port, seeds the demo catalog from
docs/contract.md into it (through the same gateway Uplift uses against real Stripe), mirrors the
catalog into a fresh SQLite file, registers a signed webhook endpoint, prints how to reach it
all, and serves until Ctrl-C or SIGTERM (with the demo SaaS app at /demo, plugin/demo/site.py),
then stops what it started.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import shutil
import signal
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

from pydantic import SecretStr

from plugin import auth, storage
from plugin.billing.catalog import Plan
from plugin.billing.catalog_sync import sync_catalog
from plugin.billing.mirror import MirrorItem, MirrorSubscription
from plugin.billing.stripe_gateway import StripeGateway, Subscription
from plugin.clock import SystemClock
from plugin.demo.site import DEMO_CUSTOMERS, DemoCustomer
from plugin.errors import OperatorError, Terminated
from plugin.offers import model as offers
from plugin.offers.model import Offer
from plugin.settings import SQLITE_PREFIX, Settings
from plugin.storage import audit as audit_store
from plugin.storage import customers as customer_store
from plugin.storage import offers as offer_store
from plugin.storage import plans as plan_store
from plugin.storage import subscriptions as subscription_store
from plugin.storage.steps import run

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

DEMO_CUSTOMER = DEMO_CUSTOMERS[0].id


@dataclass(frozen=True, slots=True)
class SeededCustomer:
    customer: DemoCustomer
    stripe_customer: str
    subscription: Subscription


@dataclass(frozen=True, slots=True)
class DemoSeed:
    prices: dict[str, str]  # lookup key (basic_monthly, pro_annual, …) → price id
    products: dict[str, str]  # product key (basic, advanced_reports, …) → product id
    customers: tuple[SeededCustomer, ...]  # DEMO_CUSTOMERS, in order

    @property
    def stripe_customer(self) -> str:
        return self.customers[0].stripe_customer


async def seed_stripe(gateway: StripeGateway) -> DemoSeed:
    """Create the demo catalog, and each demo customer with a card and a plan subscription."""
    prices: dict[str, str] = {}
    products: dict[str, str] = {}
    for item in DEMO_CATALOG:
        product = await gateway.create_product(
            {"name": item.name, "metadata": {"uplift_key": item.key, **item.metadata}},
            idempotency_key=f"uplift:demo:product:{item.key}",
        )
        products[item.key] = product.id
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
    seeded = []
    for demo in DEMO_CUSTOMERS:
        customer = await gateway.create_customer(
            {
                "email": f"{demo.id}@example.com",
                "name": demo.name.partition(",")[0],
                "metadata": {"uplift_id": demo.id},
            },
            idempotency_key=f"uplift:demo:customer:{demo.id}",
        )
        await gateway.set_default_payment_method(
            customer_id=customer.id,
            payment_method="pm_card_visa",
            idempotency_key=f"uplift:demo:card:{demo.id}",
        )
        subscription = await gateway.create_subscription(
            {"customer": customer.id, "items": [{"price": prices[demo.price]}]},
            idempotency_key=f"uplift:demo:subscription:{demo.id}",
        )
        seeded.append(SeededCustomer(demo, customer.id, subscription))
    return DemoSeed(prices=prices, products=products, customers=tuple(seeded))


def demo_plans(seed: DemoSeed) -> list[Plan]:
    """The ladder from the catalog's metadata (tier, limits; "unlimited" is no limit)."""
    plans = []
    for item in DEMO_CATALOG:
        if item.metadata.get("uplift_kind") != "plan":
            continue
        limits = {
            metric: None if item.metadata[metric] == UNLIMITED else int(item.metadata[metric])
            for metric in ("users", "storage_gb", "integrations")
        }
        features = {"basic": ("reports",), "pro": ("reports", "sso")}.get(
            item.key, ("reports", "sso", "audit_log")
        )
        plans.append(
            Plan(
                id=item.key,
                name=item.name,
                tier=int(item.metadata["tier"]),
                prices=(seed.prices[f"{item.key}_monthly"], seed.prices[f"{item.key}_annual"]),
                limits=limits,
                features=features,
            )
        )
    return plans


def demo_offers(seed: DemoSeed) -> list[Offer]:
    """The demo offers of docs/contract.md ("Demo catalog")."""
    p = seed.prices
    documents: list[dict[str, Any]] = [
        {
            "id": "offer_basic_to_pro",
            "name": "Basic to Pro when storage is nearly full",
            "kind": "upgrade",
            "status": "active",
            "priority": 10,
            # "plans": the pricing table (GET /api/v1/widget/plans) opens the plan changes there.
            "placements": ["storage_banner", "billing", "plans"],
            "target_prices": [p["pro_monthly"]],
            "targeting": {
                "all": [
                    {"plan": {"in": ["basic"]}},
                    {"usage": {"metric": "storage_gb", "at_least_percent": 80}},
                ]
            },
            "holdout_bp": 1000,
            "variants": [
                {
                    "key": "control",
                    "copy": {
                        "title": "You're almost out of storage",
                        "body": "Pro gives you 100 GB, 25 users and SSO.",
                        "cta": "Upgrade to Pro",
                    },
                },
                {
                    "key": "value",
                    "copy": {
                        "title": "10x the storage for $70 more",
                        "body": "Move to Pro now; pay only for the rest of this month.",
                        "cta": "See my price",
                    },
                },
            ],
        },
        *[
            {
                "id": f"offer_{plan}_annual",
                "name": f"{plan.title()} monthly to annual: 2 months free",
                "kind": "interval_switch",
                "status": "active",
                "placements": ["billing", "plans"],
                "target_prices": [p[f"{plan}_annual"]],
                "targeting": {"plan": {"in": [plan], "interval": "month"}},
                "variants": [
                    {
                        "key": "control",
                        "copy": {
                            "title": "Switch to annual: 2 months free",
                            "cta": "Switch to annual",
                        },
                    }
                ],
            }
            for plan in ("basic", "pro")
        ],
        {
            "id": "offer_reports_post_order",
            "name": "Advanced Reports after an order, 30 % off for 3 months",
            "kind": "post_order",
            "status": "active",
            "placements": ["post_order"],
            "target_prices": [p["advanced_reports_monthly"]],
            "discount": {"percent_off": 30, "duration_months": 3},
            "targeting": {"order": {"within_minutes": 30}},
            "variants": [
                {
                    "key": "control",
                    "copy": {
                        "title": "Add Advanced Reports?",
                        "body": "30 % off your first 3 months.",
                        "cta": "Yes, add it",
                    },
                }
            ],
        },
        {
            "id": "offer_enterprise_trial",
            "name": "14-day Enterprise trial for Pro customers who hit a gated feature",
            "kind": "trial",
            "status": "active",
            "placements": ["feature_gate", "billing"],
            "target_prices": [p["enterprise_monthly"]],
            "trial_days": 14,
            "targeting": {
                "all": [
                    {"plan": {"in": ["pro"]}},
                    {"feature_hit": {"feature": "audit_log", "within_days": 7}},
                ]
            },
            "variants": [
                {
                    "key": "control",
                    "copy": {
                        "title": "Try Enterprise free for 14 days",
                        "body": "Audit log and unlimited users; no charge unless you stay.",
                        "cta": "Start my trial",
                    },
                }
            ],
        },
        {
            "id": "offer_retention",
            "name": "Stay and save 20 % for 3 months",
            "kind": "retention",
            "status": "active",
            "placements": ["downgrade"],
            "discount": {"percent_off": 20, "duration_months": 3},
            "targeting": {"plan": {"in": ["pro", "enterprise"]}},
            # Asked before the downgrade goes ahead (GET /api/v1/admin/feedback reads them).
            "reasons": [
                {"key": "price", "label": "It costs too much"},
                {"key": "missing_feature", "label": "A feature I need is missing"},
                {"key": "not_using", "label": "I don't use it enough"},
            ],
            "variants": [
                {
                    "key": "control",
                    "copy": {
                        "title": "Before you go: 20 % off for 3 months",
                        "cta": "Stay and save 20 %",
                        "decline": "Continue downgrade",
                    },
                }
            ],
        },
    ]
    return [offers.load(doc) for doc in documents]


async def seed_uplift(db: storage.Database, seed: DemoSeed, *, now: int) -> None:
    """The ladder, the offers, and the demo customers with their usage (the first at 9 of
    10 GB, so the banner shows) and feature hits."""
    async with db.transaction() as conn:
        await plan_store.replace(conn, plans=demo_plans(seed), now=now)
        for offer in demo_offers(seed):
            await offer_store.insert(conn, offer=offer, now=now)
        for seeded in seed.customers:
            await _seed_customer(conn, seed, seeded, now=now)
        await audit_store.record(
            conn, actor="demo", action="demo.seed", target=None, detail={}, now=now
        )


async def _seed_customer(
    conn: storage.Connection, seed: DemoSeed, seeded: SeededCustomer, *, now: int
) -> None:
    demo = seeded.customer
    await customer_store.upsert(
        conn,
        customer_id=demo.id,
        stripe_customer=seeded.stripe_customer,
        attrs={"industry": "saas", "company_size": 12},
        signup_at=now - 90 * 86_400,
        now=now,
    )
    await run(
        conn,
        customer_store.apply_usage_steps(
            customer_id=demo.id,
            metric="storage_gb",
            value=demo.storage_gb,
            mode="set",
            idempotency_key=f"demo-seed:{demo.id}",
            fingerprint=f"demo-seed:{demo.id}",
            now=now,
        ),
    )
    for feature in demo.feature_hits:
        await customer_store.record_feature_hit(conn, customer_id=demo.id, feature=feature, now=now)
    # Mirror the subscription now rather than wait for its webhook: the emulator sends
    # `customer.subscription.created` about a second after the change, possibly before the
    # webhook endpoint exists.
    sub = seeded.subscription
    item = sub.items[0]
    plan, _, suffix = demo.price.partition("_")
    monthly = next(p.monthly for p in DEMO_CATALOG if p.key == plan)
    annual = suffix == "annual"
    await subscription_store.upsert(
        conn,
        subscription=MirrorSubscription(
            id=sub.id,
            customer_id=sub.customer_id,
            status=sub.status,
            currency="usd",
            items=(
                MirrorItem(
                    id=item.id,
                    price_id=item.price_id,
                    product_id=seed.products[plan],
                    quantity=item.quantity,
                    unit_amount=monthly * 10 if annual else monthly,
                    currency="usd",
                    interval="year" if annual else "month",
                ),
            ),
            current_period_start=item.current_period_start,
            current_period_end=item.current_period_end,
            trial_end=sub.trial_end,
            cancel_at_period_end=sub.cancel_at_period_end,
            canceled_at=None,
        ),
        now=now,
    )


async def prepare(settings: Settings, *, port: int) -> tuple[Settings, str, DemoSeed]:
    """Seed Stripe and the database; returns the settings to serve with and an admin key."""
    now = SystemClock().now()
    gateway = StripeGateway(api_key=DEMO_STRIPE_KEY, api_base=settings.stripe_api_base)
    db = await storage.connect(settings.database_url)
    try:
        await storage.migrations.apply(db, now=now)
        seed = await seed_stripe(gateway)
        await sync_catalog(db, gateway, now=now)
        await seed_uplift(db, seed, now=now)
        admin_key, _ = await auth.create_admin_key(db, name="demo", now=now)
        endpoint = await gateway.create_webhook_endpoint(
            {"url": f"http://127.0.0.1:{port}/webhooks/stripe", "enabled_events": ["*"]},
            idempotency_key="uplift:demo:webhook-endpoint",
        )
    finally:
        await db.close()
        await gateway.close()
    if endpoint.secret is None:
        raise OperatorError("the emulator returned no webhook secret")
    served = settings.model_copy(update={"stripe_webhook_secrets": [SecretStr(endpoint.secret)]})
    return served, admin_key, seed


def demo_settings(settings: Settings, *, workdir: Path, emulator_url: str, port: int) -> Settings:
    """The demo's settings: a fresh SQLite file in `workdir`, the emulator as Stripe, a widget
    secret (the operator's, else a random one) and the loopback URL it serves at."""
    return settings.model_copy(
        update={
            "database_url": f"{SQLITE_PREFIX}{workdir / 'uplift.db'}",
            "stripe_api_key": SecretStr(DEMO_STRIPE_KEY),
            "stripe_api_base": emulator_url,
            "widget_secret": settings.widget_secret or SecretStr(secrets.token_urlsafe(32)),
            "public_url": f"http://127.0.0.1:{port}",
        }
    )


@contextlib.contextmanager
def sigterm_unwinds() -> Iterator[None]:
    """Inside, SIGTERM raises `Terminated` (so `finally` and `with` blocks run, as on Ctrl-C)
    instead of ending the process on the spot; the previous handler is back afterwards.

    Python's default for SIGTERM runs no cleanup, and uvicorn, which takes SIGTERM over while it
    serves, shuts down gracefully and then raises the signal again with the handler it found:
    this one. Only the first SIGTERM raises; one more during the cleanup must not cut it short.
    """
    terminating = False

    def terminate(signum: int, frame: FrameType | None) -> None:
        nonlocal terminating
        if not terminating:
            terminating = True
            raise Terminated

    previous = signal.signal(signal.SIGTERM, terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL if previous is None else previous)


@sigterm_unwinds()
def run_demo(settings: Settings, *, port: int) -> None:
    try:
        from localstripe_bridge.process import EmulatorProcess
    except ImportError:  # pragma: no cover - depends on how Uplift was installed
        raise OperatorError('the demo needs its extra: pip install -e ".[demo]"') from None
    from plugin.server import run_server

    workdir = Path(tempfile.mkdtemp(prefix="uplift-demo-"))
    try:
        with EmulatorProcess() as emulator:
            base = demo_settings(settings, workdir=workdir, emulator_url=emulator.url, port=port)
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
                        f"  demo app:       {served.public_url}/demo",
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
            run_server(served, host="127.0.0.1", port=port, demo=True)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
