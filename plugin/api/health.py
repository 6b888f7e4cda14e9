"""Liveness and readiness. `/readyz` answers 200 only when the database answers and its schema
is current, so a load balancer never sends traffic to a worker that cannot serve it."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse

from plugin import storage
from plugin.api.answers import HealthOut, ReadyOut
from plugin.errors import NotReady
from plugin.services import services


async def healthz(request: Request) -> JSONResponse:
    return JSONResponse(HealthOut(status="ok").document())


async def readyz(request: Request) -> JSONResponse:
    db = services(request).db
    try:  # reading which migrations are applied is also the check that the database answers
        waiting = await storage.migrations.pending(db)
    except Exception:
        raise NotReady("The database is not reachable.") from None
    if waiting:
        raise NotReady(
            f"The database schema is behind by {len(waiting)} migration(s); run `uplift migrate`."
        )
    version = storage.migrations.available()[-1].version
    return JSONResponse(ReadyOut(status="ready", schema_version=version).document())
