"""`/demo`: "Acme Analytics", a small fake SaaS app that embeds the widget exactly as a customer
would, mounted only when `uplift demo` runs (`create_app(..., demo=True)`; no setting or
environment variable turns it on).

Its pages (static/demo/) load `/widget/uplift.js` and their own script under a strict CSP, and
get each demo customer's widget token from `GET /demo/api/session`, the stand-in for a SaaS's
logged-in session. Everything the widget does goes through Uplift's real API; what a SaaS's own
backend would do (sell an add-on as an order, downgrade) is done here through the same Stripe
gateway, against the emulator, and comes back through its webhooks. The post-order cross-sell
is bought through Uplift itself (quote, accept), like any offer.

The emulator sends the events Stripe sends for these changes (`customer.subscription.created` and
`updated`, `invoice.paid` …, docs/stripe-emulator.md, Events) to the webhook endpoint the demo
registered, so they reach Uplift exactly as Stripe's would; nothing here builds an event.
"""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from plugin import auth
from plugin.api import dashboard
from plugin.api.bodies import read_json
from plugin.api.static import static_dir
from plugin.auth import CustomerIdentity
from plugin.billing.catalog import Plan, Price
from plugin.billing.money import Money
from plugin.billing.stripe_gateway import Subscription, item_switch_params
from plugin.customers import view as customers
from plugin.customers.view import CustomerView
from plugin.errors import NotFound, ValidationFailed
from plugin.offers.snapshot import Snapshot
from plugin.services import offer_snapshot, services
from plugin.storage import customers as customer_store
from plugin.storage import orders as order_store

DEMO_DIR = static_dir("demo")
PAGES = {"": "dashboard.html", "order": "order.html", "billing": "billing.html"}
ASSETS = {"demo.js": "text/javascript; charset=utf-8", "demo.css": "text/css; charset=utf-8"}
TOKEN_TTL = 15 * 60  # short, as a SaaS would issue them: the widget asks again on a 401
ADD_ONS = ("extra_storage", "priority_support")  # what the demo's shop sells as an order
# The admin dashboard's policy: this server's own script, style and API, nothing inline, no
# framing, Trusted Types required (the demo's script builds its DOM with textContent too).
HEADERS = {
    "Content-Security-Policy": dashboard.CSP,
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


@dataclass(frozen=True, slots=True)
class DemoCustomer:
    id: str
    name: str
    price: str  # lookup key of the plan price they start on
    storage_gb: int
    feature_hits: tuple[str, ...] = ()


# The first is the one `uplift demo` prints a token for.
DEMO_CUSTOMERS = (
    DemoCustomer("demo-customer", "Dana, Basic, storage nearly full", "basic_monthly", 9),
    DemoCustomer("demo-pro", "Priya, Pro monthly", "pro_monthly", 40, ("audit_log",)),
    DemoCustomer("demo-starter", "Sam, Basic, plenty of room", "basic_monthly", 2),
)


def _demo_customer(customer_id: object) -> DemoCustomer:
    found = next((c for c in DEMO_CUSTOMERS if c.id == customer_id), None)
    if found is None:
        raise NotFound("No such demo customer.", code="customer_not_found")
    return found


def _price(snapshot: Snapshot, lookup_key: str) -> Price:
    found = next((p for p in snapshot.prices.values() if p.lookup_key == lookup_key), None)
    if found is None:
        raise NotFound(f"The demo catalog has no price {lookup_key!r}.", code="price_not_found")
    return found


async def _body(request: Request, *fields: str) -> dict[str, str]:
    data = await read_json(request)
    if not isinstance(data, dict):
        raise ValidationFailed("The body must be a JSON object.")
    for name in fields:
        if not isinstance(data.get(name), str):
            raise ValidationFailed(f"{name} must be a string.", field=name)
    return {name: data[name] for name in fields}


async def _stripe_customer(request: Request, customer: DemoCustomer) -> str:
    async with services(request).db.read() as conn:
        record = await customer_store.get(conn, customer.id)
    if record is None or record.stripe_customer is None:
        raise NotFound("The demo customer has no Stripe customer.", code="customer_not_found")
    return record.stripe_customer


async def _view(request: Request, customer: DemoCustomer) -> tuple[CustomerView, Snapshot]:
    """The customer as the offers endpoint sees them (plan from the webhooks' mirror)."""
    ctx = services(request)
    snapshot = await offer_snapshot(request).get()
    now = ctx.clock.now()
    identity = CustomerIdentity(customer_id=customer.id, expires_at=now + TOKEN_TTL)
    return await customers.view(ctx.db, identity=identity, snapshot=snapshot, now=now), snapshot


def _paid(amount: int | None, currency: str) -> dict[str, Any]:
    paid = amount or 0
    return {"amount_paid": paid, "display": Money(paid, currency).format()}


# Pages and assets ---------------------------------------------------------------------------


def _file(request: Request, name: str) -> bytes:
    cache: dict[str, bytes] | None = getattr(request.app.state, "demo_files", None)
    if cache is None:
        cache = request.app.state.demo_files = {}
    if name not in cache:
        cache[name] = (DEMO_DIR / name).read_bytes()
    return cache[name]


async def page(request: Request) -> Response:
    name = PAGES.get(request.path_params.get("page", ""))
    if name is None:
        raise NotFound(f"No demo page {request.url.path!r}.")
    return Response(_file(request, name), headers=HEADERS, media_type="text/html; charset=utf-8")


async def asset(request: Request) -> Response:
    name = request.path_params["name"]
    if name not in ASSETS:
        raise NotFound(f"No demo asset named {name[:40]!r}.")
    return Response(_file(request, name), headers=HEADERS, media_type=ASSETS[name])


# The SaaS backend's part --------------------------------------------------------------------


async def list_customers(request: Request) -> JSONResponse:
    data = [{"id": c.id, "name": c.name} for c in DEMO_CUSTOMERS]
    return JSONResponse({"object": "list", "data": data, "has_more": False})


def _plan_document(plan: Plan | None) -> dict[str, Any] | None:
    return None if plan is None else {"id": plan.id, "name": plan.name, "tier": plan.tier}


async def session(request: Request) -> JSONResponse:
    """Who is signed in to Acme Analytics: plan, usage, and a fresh widget token."""
    ctx = services(request)
    customer = _demo_customer(request.query_params.get("customer"))
    secret = ctx.settings.widget_secret
    if secret is None:  # `uplift demo` always sets one
        raise NotFound("The demo has no widget secret.", code="widget_not_configured")
    view, snapshot = await _view(request, customer)
    lower = [p for p in snapshot.plans if view.plan is not None and p.tier < view.plan.tier]
    token = auth.issue_customer_token(
        secret=secret.get_secret_value(),
        customer_id=customer.id,
        now=ctx.clock.now(),
        ttl=TOKEN_TTL,
    )
    return JSONResponse(
        {
            "customer": customer.id,
            "name": customer.name,
            "plan": _plan_document(view.plan),
            "interval": view.context.plan.interval,
            "usage": dict(view.context.usage),
            "limits": dict(view.context.plan.limits),
            "lower_plan": _plan_document(max(lower, key=lambda p: p.tier) if lower else None),
            "token": token,
        },
        headers={"Cache-Control": "no-store"},
    )


async def _subscribe(
    request: Request, customer: DemoCustomer, price: Price, *, what: str
) -> tuple[Subscription, dict[str, Any]]:
    """A new subscription to `price`, charged now by the emulator: (it, what was paid)."""
    gateway = services(request).stripe()
    subscription = await gateway.create_subscription(
        {"customer": await _stripe_customer(request, customer), "items": [{"price": price.id}]},
        idempotency_key=f"uplift:demo:{what}:{secrets.token_hex(8)}",
    )
    invoice = subscription.latest_invoice_id
    paid = (await gateway.retrieve_invoice(invoice)).amount_paid if invoice else None
    return subscription, _paid(paid, price.currency)


async def create_order(request: Request) -> JSONResponse:
    """Buy an add-on (a new subscription, charged now by the emulator): an order, which makes
    the post-order cross-sell eligible once Uplift has heard of it."""
    ctx = services(request)
    body = await _body(request, "customer", "product")
    customer = _demo_customer(body["customer"])
    if body["product"] not in ADD_ONS:
        raise ValidationFailed(f"product must be one of {list(ADD_ONS)}.", field="product")
    price = _price(await offer_snapshot(request).get(), f"{body['product']}_monthly")
    subscription, paid = await _subscribe(request, customer, price, what="order")
    if subscription.latest_invoice_id is not None:
        # The order page offers the post-order cross-sell at once: wait (briefly) until the
        # emulator's `invoice.paid` has arrived and the webhook worker has recorded the order.
        for _ in range(50):
            if await order_store.get(ctx.db, subscription.id) is not None:
                break
            await asyncio.sleep(0.1)
    return JSONResponse(
        {"order": subscription.id, "product": body["product"], **paid}, status_code=201
    )


async def downgrade(request: Request) -> JSONResponse:
    """The downgrade the customer confirmed: the plan item moves to the lower plan's price on
    the same interval, from the next invoice (no proration), as many SaaS do it."""
    ctx = services(request)
    body = await _body(request, "customer", "plan")
    customer = _demo_customer(body["customer"])
    view, snapshot = await _view(request, customer)
    target = next((p for p in snapshot.plans if p.id == body["plan"]), None)
    if view.plan is None or view.subscription_id is None:
        raise NotFound("The demo customer has no plan to downgrade.", code="no_subscription")
    if target is None or target.tier >= view.plan.tier:
        raise ValidationFailed("plan must be a lower plan than the current one.", field="plan")
    suffix = "annual" if view.context.plan.interval == "year" else "monthly"
    price = _price(snapshot, f"{target.id}_{suffix}")
    gateway = ctx.stripe()
    current = await gateway.retrieve_subscription(view.subscription_id)
    await gateway.update_subscription(
        current.id,
        item_switch_params(item_id=current.items[0].id, price=price.id),
        idempotency_key=f"uplift:demo:downgrade:{secrets.token_hex(8)}",
    )
    return JSONResponse({"subscription": current.id, "plan": target.id})


def demo_routes() -> list[BaseRoute]:
    return [
        Route("/demo", page, methods=["GET"]),
        Route("/demo/static/{name}", asset, methods=["GET"]),
        Route("/demo/api/customers", list_customers, methods=["GET"]),
        Route("/demo/api/session", session, methods=["GET"]),
        Route("/demo/api/orders", create_order, methods=["POST"]),
        Route("/demo/api/downgrades", downgrade, methods=["POST"]),
        Route("/demo/{page}", page, methods=["GET"]),
    ]
