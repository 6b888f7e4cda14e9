"""Delivering signed events to the app under test and waiting for the worker."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from starlette.applications import Starlette

from plugin.app import create_app
from plugin.clock import Clock
from plugin.settings import Settings
from plugin.webhooks.worker import Worker
from tests.support import NOW, WEBHOOK_SECRET, sign_webhook, started
from tests.webhooks.factories import body

IDLE_TIMEOUT = 10


async def post_signed(
    client: httpx.AsyncClient,
    payload: bytes,
    *,
    secret: str | list[str] = WEBHOOK_SECRET,
    timestamp: int = NOW,
) -> httpx.Response:
    return await client.post(
        "/webhooks/stripe",
        content=payload,
        headers={
            "Stripe-Signature": sign_webhook(payload, secret, timestamp),
            "Content-Type": "application/json",
        },
    )


async def settle(app: Starlette) -> None:
    """Wait (bounded) until the app's webhook worker has nothing due."""
    worker: Worker = app.state.webhook_worker
    async with asyncio.timeout(IDLE_TIMEOUT):
        await worker.wait_idle()


async def deliver(
    client: httpx.AsyncClient, app: Starlette, document: dict[str, Any], *, timestamp: int = NOW
) -> None:
    """Post `document` signed as Stripe would, expect the 200, and wait until it is processed."""
    response = await post_signed(client, body(document), timestamp=timestamp)
    assert response.status_code == 200, response.text
    await settle(app)


@asynccontextmanager
async def running_app(
    settings: Settings, clock: Clock
) -> AsyncIterator[tuple[Starlette, httpx.AsyncClient]]:
    """An app started inside the test (for tests that prepare the store before it runs)."""
    app = create_app(settings, clock=clock)
    async with started(app) as http:
        yield app, http
