"""Synthetic customers driven through the widget API against the Stripe emulator, so the
metrics and the dashboard have real rows to show: subscriptions, offer events, quotes,
charges, webhooks and the MRR ledger, each made the way production makes it.

Every customer gets a Basic monthly subscription in the emulator and 9 of 10 GB of storage in
Uplift, then plays one role, in turn:

- `upgrade`: sees the Basic→Pro offer, clicks, quotes, accepts with a good card;
- `decline`: sees it and declines;
- `declined_card`: accepts, but the bank refuses the card (a failed upgrade, no MRR);
- `annual`: takes the monthly→annual switch ("2 months free": a contraction of MRR);
- `cross_sell`: just bought (an order), sees and clicks the post-order Advanced Reports offer,
  quotes and accepts it: the add-on is charged for the rest of the period and added to the
  same subscription.

A customer the experiment holds out sees no offer, which is the holdout working, not a bug.

The emulator sends Stripe's events for each change (`customer.subscription.created` and
`updated`, `invoice.paid` …) to the endpoint the demo registered, about a second later, so the
ledger moves through the same webhook path as with Stripe; nothing here builds an event. It
finishes when Uplift has no webhook event left pending.

Names and idempotency keys carry `run`, so a run can be repeated against one emulator.
"""

from __future__ import annotations

import asyncio
import secrets
import shutil
import tempfile
import threading
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import httpx
import uvicorn

from plugin import logs
from plugin.app import create_app
from plugin.auth import issue_customer_token
from plugin.billing.stripe_gateway import StripeGateway
from plugin.clock import Clock, SystemClock
from plugin.demo import run as demo
from plugin.errors import OperatorError
from plugin.server import secret_values
from plugin.settings import Settings

Role = Literal["upgrade", "decline", "declined_card", "annual", "cross_sell"]
ROLES: tuple[Role, ...] = ("upgrade", "decline", "declined_card", "annual", "cross_sell")
PLACEMENTS: dict[Role, tuple[str, str]] = {  # where each role looks, and the kind it takes
    "upgrade": ("storage_banner", "upgrade"),
    "decline": ("storage_banner", "upgrade"),
    "declined_card": ("storage_banner", "upgrade"),
    "annual": ("billing", "interval_switch"),
    "cross_sell": ("post_order", "post_order"),
}
DECLINED_CARD = "pm_card_chargeCustomerFail"
UPGRADE_OFFER = "offer_basic_to_pro"
WAIT_SECONDS = 30.0


class SimulationError(OperatorError):
    """The simulation could not go on (Uplift or the emulator answered unexpectedly)."""


@dataclass(frozen=True, slots=True)
class World:
    uplift_url: str
    stripe_url: str
    stripe_key: str
    admin_key: str
    widget_secret: str
    webhook_secret: str
    prices: dict[str, str]  # the demo catalog's lookup keys (basic_monthly, …) -> price ids


@dataclass(frozen=True, slots=True)
class Outcome:
    customer: str
    role: Role
    offer_id: str | None
    result: str  # succeeded, failed, declined, held_out, or another upgrade status


@dataclass
class Report:
    outcomes: list[Outcome] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return dict(Counter(o.result for o in self.outcomes))

    def summary(self) -> str:
        counts = ", ".join(f"{n} {result}" for result, n in sorted(self.counts().items()))
        return f"simulated {len(self.outcomes)} customers: {counts or 'none'}"


class _Run:
    def __init__(
        self, world: World, *, run: str, clock: Clock, uplift: httpx.AsyncClient,
        gateway: StripeGateway,
    ) -> None:  # fmt: skip
        self.world, self.run, self.clock = world, run, clock
        self.uplift, self.gateway = uplift, gateway
        self.admin = {"Authorization": f"Bearer {world.admin_key}"}
        self.started = clock.now()

    async def call(
        self, method: str, path: str, *, headers: dict[str, str], **kwargs: Any
    ) -> dict[str, Any]:
        response = await self.uplift.request(method, path, headers=headers, **kwargs)
        if response.status_code >= 300:
            raise SimulationError(f"{method} {path}: {response.status_code} {response.text[:200]}")
        body: dict[str, Any] = response.json()
        return body

    async def customer(self, i: int) -> Outcome:
        role = ROLES[i % len(ROLES)]
        name = f"sim-{self.run}-{i}"
        key = f"uplift:sim:{self.run}:{i}"
        stripe_customer = await self.gateway.create_customer(
            {"email": f"{name}@example.com", "name": name, "metadata": {"uplift_id": name}},
            idempotency_key=f"{key}:customer",
        )
        await self.gateway.set_default_payment_method(
            customer_id=stripe_customer.id, payment_method="pm_card_visa",
            idempotency_key=f"{key}:visa",
        )  # fmt: skip
        basic = self.world.prices["basic_monthly"]
        paid_before = await self.paid_invoices()
        await self.gateway.create_subscription(
            {"customer": stripe_customer.id, "items": [{"price": basic}]},
            idempotency_key=f"{key}:subscription",
        )
        await self.call(
            "PUT", f"/api/v1/customers/{name}", headers=self.admin,
            json={"stripe_customer": stripe_customer.id, "signup_at": self.clock.now() - 86_400},
        )  # fmt: skip
        await self.call(
            "POST", "/api/v1/usage", headers={**self.admin, "Idempotency-Key": f"{key}:usage"},
            json={"customer": name, "metric": "storage_gb", "value": 9, "mode": "set"},
        )  # fmt: skip
        placement, kind = PLACEMENTS[role]
        # Its events processed (the mirror, and for the cross-sell the order), then it looks.
        await self.settled(lambda: self.mirrored(name))
        if role == "cross_sell":

            async def ordered() -> bool:
                return await self.paid_invoices() > paid_before

            await self.settled(ordered)
        await self.settled(self.nothing_pending)
        token = issue_customer_token(
            secret=self.world.widget_secret, customer_id=name, now=self.clock.now(),
            stripe_customer=stripe_customer.id,
        )  # fmt: skip
        auth = {"Authorization": f"Bearer {token}"}
        shown = (
            await self.call("GET", f"/api/v1/widget/offers?placement={placement}", headers=auth)
        )["data"]
        offer = next((o for o in shown if o["kind"] == kind), None)
        if offer is None:
            return Outcome(name, role, None, "held_out")
        offer_id = offer["offer_id"]
        event = {"offer_id": offer_id, "variant": offer["variant"]}
        await self.call("POST", "/api/v1/widget/events", headers=auth,
                        json={**event, "type": "impression"})  # fmt: skip
        if role == "decline":
            await self.call("POST", "/api/v1/widget/events", headers=auth,
                            json={**event, "type": "decline"})  # fmt: skip
            return Outcome(name, role, offer_id, "declined")
        await self.call("POST", "/api/v1/widget/events", headers=auth,
                        json={**event, "type": "click"})  # fmt: skip
        if role == "declined_card":
            await self.gateway.set_default_payment_method(
                customer_id=stripe_customer.id, payment_method=DECLINED_CARD,
                idempotency_key=f"{key}:declined-card",
            )  # fmt: skip
        quoted = await self.uplift.post(
            "/api/v1/widget/quotes", headers=auth, json={"offer_id": offer_id}
        )
        if quoted.status_code != 201:
            raise SimulationError(f"quote {offer_id}: {quoted.status_code} {quoted.text[:200]}")
        quote = quoted.json()
        upgrade = await self.call(
            "POST", "/api/v1/widget/accept", headers={**auth, "Idempotency-Key": f"{key}:accept"},
            json={"quote_id": quote["quote_id"]},
        )  # fmt: skip
        return Outcome(name, role, offer_id, upgrade["status"])

    async def mirrored(self, name: str) -> bool:
        found = await self.call("GET", f"/api/v1/customers/{name}/entitlements", headers=self.admin)
        return found["plan"] is not None

    async def paid_invoices(self) -> int:
        """How many `invoice.paid` events Uplift has processed (the emulator sends one for each
        subscription's first invoice: for the cross-sell, the order)."""
        found = await self.call(
            "GET", "/api/v1/admin/webhook-events?status=processed&limit=500", headers=self.admin
        )
        return sum(1 for e in found["data"] if e["type"] == "invoice.paid")

    async def nothing_pending(self) -> bool:
        pending = await self.call(
            "GET", "/api/v1/admin/webhook-events?status=pending&limit=1", headers=self.admin
        )
        return not pending["data"]

    async def none_failed(self) -> None:
        failed = await self.call(
            "GET", "/api/v1/admin/webhook-events?status=failed&limit=500", headers=self.admin
        )
        ours = [e for e in failed["data"] if e["received_at"] >= self.started]
        if ours:
            raise SimulationError(
                "webhook events failed: "
                + "; ".join(f"{e['id']} {e['type']}: {e['last_error']}" for e in ours)
            )

    async def settled(self, check: Any) -> None:
        for _ in range(int(WAIT_SECONDS / 0.1)):
            if await check():
                return
            await asyncio.sleep(0.1)
        raise SimulationError(f"gave up after {WAIT_SECONDS:.0f} s waiting for webhooks")


async def simulate(world: World, *, customers: int, run: str, clock: Clock) -> Report:
    """Drive `customers` synthetic customers one after another; returns what each one did,
    once every webhook event Uplift stored has been processed."""
    report = Report()
    gateway = StripeGateway(api_key=world.stripe_key, api_base=world.stripe_url)
    try:
        async with httpx.AsyncClient(base_url=world.uplift_url, timeout=30) as uplift:
            runner = _Run(world, run=run, clock=clock, uplift=uplift, gateway=gateway)
            for i in range(customers):
                report.outcomes.append(await runner.customer(i))
            # The emulator's own events come about a second after each change: wait for
            # them too, then make sure none failed.
            await runner.settled(runner.nothing_pending)
            await asyncio.sleep(1.5)
            await runner.settled(runner.nothing_pending)
            await runner.none_failed()
    finally:
        await gateway.close()
    return report


@demo.sigterm_unwinds()
def run_demo(settings: Settings, *, port: int, customers: int) -> None:
    """`uplift demo --simulate N`: the demo (plugin/demo/run.py: emulator, catalog, offers, signed
    webhook endpoint), served from a thread so that N customers can be simulated against it
    first; prints what they did and where to see it, then serves until Ctrl-C or SIGTERM."""
    try:
        from localstripe_bridge.process import EmulatorProcess
    except ImportError:  # pragma: no cover - depends on how Uplift was installed
        raise OperatorError('the demo needs its extra: pip install -e ".[demo]"') from None
    if customers < 1:
        raise OperatorError("--simulate needs at least one customer")
    workdir = Path(tempfile.mkdtemp(prefix="uplift-demo-"))
    try:
        with EmulatorProcess() as emulator:
            base = demo.demo_settings(
                settings, workdir=workdir, emulator_url=emulator.url, port=port
            )
            served, admin_key, seed = asyncio.run(demo.prepare(base, port=port))
            assert served.widget_secret is not None  # noqa: S101 -- set just above
            logs.configure(secrets=secret_values(served))
            server = uvicorn.Server(
                uvicorn.Config(
                    create_app(served, demo=True), host="127.0.0.1", port=port, log_config=None,
                    access_log=False, server_header=False,
                )
            )  # fmt: skip
            thread = threading.Thread(target=server.run, name="uplift-demo", daemon=True)
            thread.start()
            try:
                while not server.started:
                    if not thread.is_alive():
                        raise OperatorError(f"the demo server did not start on port {port}")
                    threading.Event().wait(0.05)
                world = World(
                    uplift_url=served.public_url, stripe_url=emulator.url,
                    stripe_key=demo.DEMO_STRIPE_KEY, admin_key=admin_key,
                    widget_secret=served.widget_secret.get_secret_value(),
                    webhook_secret=served.stripe_webhook_secrets[0].get_secret_value(),
                    prices=seed.prices,
                )  # fmt: skip
                report = asyncio.run(
                    simulate(
                        world, customers=customers, run=secrets.token_hex(4), clock=SystemClock()
                    )
                )
                print(  # noqa: T201 -- the demo prints what it did and where to look
                    "\n".join(
                        [
                            "Uplift demo, simulated",
                            f"  {report.summary()}",
                            f"  dashboard:    {served.public_url}/admin",
                            f"  metrics:      {served.public_url}/api/v1/admin/metrics",
                            f"  admin key:    {admin_key}",
                            f"  local Stripe: {emulator.url}",
                            "Press Ctrl-C to stop.",
                        ]
                    ),
                    flush=True,
                )
                while thread.is_alive():
                    thread.join(0.5)
            except KeyboardInterrupt:
                pass  # Ctrl-C ends it as it ends `uplift demo` without --simulate
            finally:  # Ctrl-C, SIGTERM (demo.sigterm_unwinds) or a failed simulation
                server.should_exit = True
                thread.join(10)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
