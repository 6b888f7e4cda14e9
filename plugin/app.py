"""`create_app(settings)`: the one place the ASGI application is assembled.

Nothing happens at import. The lifespan opens the database and the Stripe gateway, starts the
webhook worker, and stops them in reverse on shutdown; migrations are applied by `uplift serve` /
`uplift migrate` before any worker starts, and `/readyz` stays 503 until they are.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute

from plugin import storage
from plugin.api import Limits, fast_routes, routes
from plugin.api.errors import INTERNAL_ERROR_BODY, status_of, to_response
from plugin.billing.stripe_gateway import StripeGateway
from plugin.billing.upkeep import Upkeep
from plugin.clock import Clock, SystemClock
from plugin.customers import facts as customer_facts
from plugin.customers.population import Population
from plugin.email.smtp import Mailer, SmtpConfig
from plugin.email.worker import EmailWorker
from plugin.errors import UpliftError
from plugin.logs import get_logger
from plugin.middleware.access_log import AccessLogMiddleware, private_path
from plugin.middleware.body_limit import BodyLimitMiddleware
from plugin.middleware.cors import WidgetCorsMiddleware
from plugin.middleware.fast_path import FastPathMiddleware
from plugin.offers.exposures import ExposureRecorder
from plugin.offers.snapshot import OfferSnapshot
from plugin.outbound.worker import OutboundWorker
from plugin.services import Services
from plugin.settings import Settings
from plugin.webhooks.intake import IntakeQueue
from plugin.webhooks.worker import Worker

MAX_BODY_BYTES = 1 << 20  # 1 MiB: far above any JSON body or Stripe event we accept

log = get_logger("app")

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_field",
    429: "rate_limited",
}


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, UpliftError)  # noqa: S101 -- registered for UpliftError only
    if status_of(exc) is None:  # an error no request should end with: a bug, logged as one
        return await _internal_error(request, exc)
    return to_response(exc)


async def _http_error(request: Request, exc: Exception) -> Response:
    """Starlette's own 404 (no route) and 405 (wrong method), in the contract's error shape."""
    assert isinstance(exc, HTTPException)  # noqa: S101 -- registered for HTTPException only
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    if exc.status_code == 404:
        message = f"No route for {request.url.path}."
    elif exc.status_code == 405:
        message = f"{request.method} is not allowed on {request.url.path}."
    else:
        message = str(exc.detail)
    return JSONResponse(
        {"error": {"code": code, "message": message}},
        status_code=exc.status_code,
        headers=dict(exc.headers or {}),
    )


async def _internal_error(request: Request, exc: Exception) -> Response:
    # The traceback goes to the (redacting) log; the client gets a generic body.
    log.error("unhandled error", exc_info=exc, extra={"path": request.url.path})
    # Sent by the server-error layer, outside AccessLogMiddleware, which adds this to the rest.
    private = private_path(request.scope["path"])
    headers = {"Cache-Control": "no-store"} if private else None
    return JSONResponse(INTERNAL_ERROR_BODY, status_code=500, headers=headers)


def _email_worker(
    settings: Settings,
    db: storage.Database,
    clock: Clock,
    services: Services,
    population: Population,
) -> EmailWorker | None:
    if settings.smtp_url is None:
        return None
    if settings.email_from is None or settings.widget_secret is None:
        log.warning(
            "lifecycle email is off: UPLIFT_SMTP_URL is set, but it needs UPLIFT_EMAIL_FROM"
            " and UPLIFT_WIDGET_SECRET (the links' key) too"
        )
        return None
    return EmailWorker(
        db=db,
        clock=clock,
        snapshot=services.snapshot,
        population=population,
        mailer=Mailer(SmtpConfig.parse(settings.smtp_url.get_secret_value())),
        sender=settings.email_from,
        widget_secret=settings.widget_secret.get_secret_value(),
        public_url=settings.public_url,
        link_days=settings.email_link_days,
    )


def create_app(settings: Settings, *, clock: Clock | None = None, demo: bool = False) -> Starlette:
    """The app. `demo` (only `uplift demo` passes it, never a setting, so no environment
    variable can turn it on) also serves the demo SaaS app at /demo, which hands out widget
    tokens for the seeded demo customers."""
    the_clock = clock or SystemClock()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        # Every write in this process goes through `db`, which keeps the offers endpoint's
        # cache of customer facts current (plugin/customers/facts.py); `shared`: --workers N.
        db = customer_facts.tracked(
            await storage.connect(settings.database_url),
            database_url=settings.database_url,
            shared=getattr(app.state, "shared_database", True),
        )
        gateway = None
        if settings.stripe_api_key is not None:
            gateway = StripeGateway(
                api_key=settings.stripe_api_key.get_secret_value(),
                api_base=settings.stripe_api_base,
            )
        # Concurrent webhook deliveries share one write transaction (group commit).
        intake = IntakeQueue(db=db)
        app.state.webhook_intake = intake
        # Processes stored webhook events after their 200 (holding back while deliveries
        # arrive); on start, whatever a crash left.
        worker = Worker(db=db, gateway=gateway, clock=the_clock, intake=intake)
        app.state.webhook_worker = worker
        await worker.start()
        await intake.start()
        # First exposures are written in batches after the response (plugin/offers/exposures.py).
        exposures = ExposureRecorder(db=db)
        app.state.services = Services(
            settings=settings,
            db=db,
            clock=the_clock,
            gateway=gateway,
            snapshot=OfferSnapshot(db),
            exposures=exposures,
        )
        exposures.start()
        # Outbound webhooks: the outbox fanned out to endpoints and delivered, at least once.
        outbound = OutboundWorker(
            db=db,
            clock=the_clock,
            allow_private=settings.outbound_allow_private_networks,
            timeout=settings.outbound_timeout,
            trial_ending_days=settings.trial_ending_days,
        )
        app.state.outbound_worker = outbound
        await outbound.start()
        # Lifecycle email, when a relay, a sender and the links' secret are configured. It reads
        # the customers through the population the admin's audience counts keep.
        population = app.state.population = Population()
        mailer = _email_worker(settings, db, the_clock, app.state.services, population)
        app.state.email_worker = mailer
        if mailer is not None:
            mailer.start()
        # Period-end changes and abandoned upgrades, on a timer (plugin/billing/upkeep.py).
        upkeep = Upkeep(db=db, gateway=gateway, clock=the_clock) if gateway is not None else None
        if upkeep is not None:
            upkeep.start()
        try:
            yield
        finally:
            if upkeep is not None:
                await upkeep.stop()
            if mailer is not None:
                await mailer.stop()
            await outbound.stop()
            await exposures.stop()
            await intake.stop()
            await worker.stop()
            if gateway is not None:
                await gateway.close()
            await db.close()

    extra: list[BaseRoute] = []
    if demo:  # `uplift demo` only: the fake SaaS app embedding the widget
        from plugin.demo.site import demo_routes

        extra = demo_routes()
    return Starlette(
        routes=routes() + extra,
        # Outermost first. Starlette puts its server-error layer outside these (the 500 of
        # `_internal_error`) and its exception layer and router inside them.
        middleware=[
            # Every answer below passes here, the fast paths' too: one log line, the request
            # id, `nosniff`, and no-store on private paths.
            Middleware(AccessLogMiddleware),
            # The hot routes of the route table answer here and BYPASS EVERYTHING BELOW: CORS,
            # the body limit, the router and the exception layer (each fast answer does itself
            # what it skips; plugin/middleware/fast_path.py). A layer every request must pass
            # goes above this line. tests/middleware/test_stack_order.py pins the order.
            Middleware(FastPathMiddleware, routes=fast_routes(Limits(MAX_BODY_BYTES))),
            Middleware(WidgetCorsMiddleware, allowed_origins=list(settings.allowed_origins)),
            Middleware(BodyLimitMiddleware, max_bytes=MAX_BODY_BYTES),
        ],
        exception_handlers={
            UpliftError: _api_error,
            HTTPException: _http_error,
            Exception: _internal_error,
        },
        lifespan=lifespan,
    )
