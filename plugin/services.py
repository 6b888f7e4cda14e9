"""What a request handler can reach: settings, database, clock, the Stripe gateway, and the
app's own state that requests share (the offer snapshot, the exposure recorder, the customer
token verifier and rate limiter, small memos of what requests send).

Built once by `create_app`'s lifespan and stored on `app.state`; handlers get it with
`services(request)`. No module keeps state of its own: a cache belongs to the app that fills
it, here (or, for one route's own answers, to the fast answer `create_app` makes per app).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from starlette.requests import Request

from plugin.auth import CustomerTokens
from plugin.billing.stripe_gateway import StripeGateway
from plugin.clock import Clock
from plugin.errors import NotReady
from plugin.offers.exposures import ExposureRecorder
from plugin.offers.snapshot import OfferSnapshot
from plugin.ratelimit import RateLimiter
from plugin.settings import Settings
from plugin.storage import Database

# Per customer, per app: a page view makes one or two widget calls; 60 at once and 2 a second
# after that is far above any person and far below a script hammering the server.
CUSTOMER_BURST = 60
CUSTOMER_PER_SECOND = 2.0


@dataclass(slots=True)
class Services:
    settings: Settings
    db: Database
    clock: Clock
    gateway: StripeGateway | None
    snapshot: OfferSnapshot
    exposures: ExposureRecorder
    customer_limiter: RateLimiter = field(
        default_factory=lambda: RateLimiter(rate=CUSTOMER_PER_SECOND, burst=CUSTOMER_BURST)
    )
    # Made on the first widget request (the secret may be unset: the widget API then says so).
    customer_tokens: CustomerTokens | None = None
    # The offers endpoint's query strings, parsed once each (plugin/api/widget.py).
    offers_queries: dict[bytes, tuple[str | None, str | None]] = field(default_factory=dict)

    def stripe(self) -> StripeGateway:
        if self.gateway is None:
            raise NotReady(
                "Stripe is not configured (UPLIFT_STRIPE_API_KEY).", code="stripe_not_configured"
            )
        return self.gateway


def services(request: Request) -> Services:
    found: Services = request.app.state.services
    return found


def offer_snapshot(request: Request) -> OfferSnapshot:
    """The app's offer snapshot, shared by its requests."""
    return services(request).snapshot


def exposure_recorder(request: Request) -> ExposureRecorder:
    """The app's recorder of first exposures (started and stopped by the lifespan)."""
    return services(request).exposures
