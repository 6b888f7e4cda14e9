"""`POST /webhooks/stripe` through the fast path answers exactly as the full stack does.

`FastPathMiddleware` skips the router for every delivery; each case here is sent to an
app with it and to the same app without it, and the two answers must match byte for byte
(status, body, every header but the per-request id).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import cast

import httpx
import pytest

from plugin.app import MAX_BODY_BYTES, create_app
from plugin.clock import FixedClock
from plugin.middleware.fast_path import FastPathMiddleware
from plugin.settings import Settings
from plugin.storage import Database
from tests.support import NOW, WEBHOOK_SECRET, same_answer, sign_webhook, started
from tests.webhooks import factories as f

PATH = "/webhooks/stripe"
Send = Callable[[httpx.AsyncClient, str], Awaitable[httpx.Response]]


@pytest.fixture
async def both(
    settings: Settings, clock: FixedClock, db: Database
) -> AsyncIterator[tuple[httpx.AsyncClient, httpx.AsyncClient]]:
    """(with the fast path, without it): two apps on one database."""
    fast = create_app(settings, clock=clock)
    full = create_app(settings, clock=clock)
    full.user_middleware = [
        m for m in full.user_middleware if cast(object, m.cls) is not FastPathMiddleware
    ]
    assert len(full.user_middleware) == len(fast.user_middleware) - 1
    async with started(fast) as fast_http, started(full) as full_http:
        yield fast_http, full_http


def _signed(document_id: str) -> tuple[bytes, dict[str, str]]:
    payload = f.body(f.event("customer.subscription.created", f.subscription(), id=document_id))
    headers = {
        "Stripe-Signature": sign_webhook(payload, WEBHOOK_SECRET, NOW),
        "Content-Type": "application/json",
    }
    return payload, headers


async def _new_event(http: httpx.AsyncClient, name: str) -> httpx.Response:
    payload, headers = _signed(f"evt_fast_{name}")
    return await http.post(PATH, content=payload, headers=headers)


async def _redelivery(http: httpx.AsyncClient, name: str) -> httpx.Response:
    payload, headers = _signed(f"evt_fast_again_{name}")
    first = await http.post(PATH, content=payload, headers=headers)
    assert first.status_code == 200
    return await http.post(PATH, content=payload, headers=headers)


async def _bad_signature(http: httpx.AsyncClient, name: str) -> httpx.Response:
    payload, headers = _signed(f"evt_fast_bad_{name}")
    headers["Stripe-Signature"] = sign_webhook(payload, "whsec_someone_else", NOW)
    return await http.post(PATH, content=payload, headers=headers)


async def _not_json(http: httpx.AsyncClient, name: str) -> httpx.Response:
    payload = b"not json"
    headers = {"Stripe-Signature": sign_webhook(payload, WEBHOOK_SECRET, NOW)}
    return await http.post(PATH, content=payload, headers=headers)


async def _missing_header(http: httpx.AsyncClient, name: str) -> httpx.Response:
    payload, _ = _signed(f"evt_fast_unsigned_{name}")
    return await http.post(PATH, content=payload, headers={"Content-Type": "application/json"})


async def _declared_too_large(http: httpx.AsyncClient, name: str) -> httpx.Response:
    payload = b"{" + b" " * MAX_BODY_BYTES + b"}"
    headers = {"Stripe-Signature": sign_webhook(payload, WEBHOOK_SECRET, NOW)}
    return await http.post(PATH, content=payload, headers=headers)


async def _streamed_too_large(http: httpx.AsyncClient, name: str) -> httpx.Response:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(3):
            yield b" " * (MAX_BODY_BYTES // 2)

    return await http.post(PATH, content=chunks(), headers={"Stripe-Signature": "t=1,v1=00"})


async def _wrong_method(http: httpx.AsyncClient, name: str) -> httpx.Response:
    return await http.get(PATH)


CASES: dict[str, tuple[Send, int]] = {
    "new-event": (_new_event, 200),
    "redelivery": (_redelivery, 200),
    "bad-signature": (_bad_signature, 400),
    "signed-but-not-json": (_not_json, 400),
    "missing-signature-header": (_missing_header, 400),
    "declared-body-too-large": (_declared_too_large, 413),
    "streamed-body-too-large": (_streamed_too_large, 413),
    "wrong-method": (_wrong_method, 405),
}


@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
async def test_fast_path_answers_as_the_full_stack(
    both: tuple[httpx.AsyncClient, httpx.AsyncClient], case: str
) -> None:
    """Same status, body and headers with and without the fast path."""
    send, status = CASES[case]
    fast, full = both
    answer = await send(fast, "a")
    assert answer.status_code == status
    same_answer(answer, await send(full, "b"))
