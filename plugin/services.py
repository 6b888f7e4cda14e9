"""What a request handler can reach: settings, database, clock and the Stripe gateway.

Built once by `create_app`'s lifespan and stored on `app.state`; handlers get it with
`services(request)`. There are no module-level singletons.
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request

from plugin.billing.stripe_gateway import StripeGateway
from plugin.clock import Clock
from plugin.errors import NotReady
from plugin.offers.exposures import ExposureRecorder
from plugin.offers.snapshot import OfferSnapshot
from plugin.settings import Settings
from plugin.storage import Database


@dataclass(slots=True)
class Services:
    settings: Settings
    db: Database
    clock: Clock
    gateway: StripeGateway | None

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
    """The process's offer snapshot, made on first use (one per app, shared by its requests)."""
    found: OfferSnapshot | None = getattr(request.app.state, "offer_snapshot", None)
    if found is None:
        found = OfferSnapshot(services(request).db)
        request.app.state.offer_snapshot = found
    return found


def exposure_recorder(request: Request) -> ExposureRecorder:
    """The app's recorder (started by the lifespan); without one, a recorder that writes at
    once."""
    found: ExposureRecorder | None = getattr(request.app.state, "exposures", None)
    if found is None:
        found = ExposureRecorder(db=services(request).db)
        request.app.state.exposures = found
    return found
