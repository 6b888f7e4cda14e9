"""localstripe's aiohttp application with the bridges installed, and serving it.

localstripe's `start()` binds `::` (every interface) on a fixed port and reads the shared pickle
in /tmp; the bridge instead serves the same `app` object on a loopback socket it binds itself
(network.py), after pointing the store at memory or at the caller's state file (state.py).
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from pathlib import Path

from aiohttp import web
from localstripe.resources import store
from localstripe.server import app as localstripe_app

from localstripe_bridge import (
    discounts,
    errors,
    events,
    invoice_items,
    invoices,
    patches,
    payment_methods,
    previews,
    prices,
    state,
    subscription_items,
    subscriptions,
    webhook_endpoints,
)
from localstripe_bridge.idempotency import Idempotency
from localstripe_bridge.routes import Router


class _Installed:
    done = False


def build_app(state_file: Path | None) -> web.Application:
    """localstripe's (process-wide) app, bridged; call once per process."""
    if _Installed.done:
        raise RuntimeError("the bridge is already installed in this process")
    _Installed.done = True
    state.use(state_file)
    store.try_load_from_disk()
    patches.install()
    payment_methods.install()
    router = Router()
    bridges = (
        prices,
        discounts,
        subscriptions,
        subscription_items,
        previews,
        invoice_items,
        invoices,
        webhook_endpoints,
    )
    for module in bridges:
        module.register(router)
    webhook_endpoints.register_stored()

    # Order, outermost first: Stripe-shaped errors for anything that escapes; then localstripe's
    # own error, auth and save-to-disk middleware; then idempotency (so replays are per API
    # key and a replay's objects are already saved); then events (what the route changed, so
    # replays send none); then the bridged routes.
    localstripe_app.middlewares.insert(0, errors.stripe_errors)
    localstripe_app.middlewares.append(Idempotency().middleware)
    events.install(localstripe_app)
    localstripe_app.middlewares.append(router.middleware)
    app: web.Application = localstripe_app
    return app


async def serve(
    sock: socket.socket,
    app: web.Application,
    stop: asyncio.Event,
    ready: Callable[[], None],
) -> None:
    """Serve `app` on `sock`, call `ready()` once it accepts requests, return when `stop` is set."""
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    try:
        await web.SockSite(runner, sock).start()
        ready()
        await stop.wait()
    finally:
        await runner.cleanup()
