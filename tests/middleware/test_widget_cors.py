"""The widget API's CORS layer: a request without an Origin header skips Starlette's
CORSMiddleware but must come out with exactly the headers it would have added."""

from __future__ import annotations

import pytest
from starlette.middleware.cors import CORSMiddleware
from starlette.types import Message, Receive, Scope, Send

from plugin.middleware.cors import WidgetCorsMiddleware

Headers = list[tuple[bytes, bytes]]


def _app(headers: Headers) -> object:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": list(headers)})
        await send({"type": "http.response.body", "body": b"{}"})

    return app


async def _answer(layer: object, request_headers: Headers) -> list[Message]:
    scope: Scope = {
        "type": "http",
        "method": "GET",
        "path": "/api/v1/widget/offers",
        "headers": request_headers,
        "query_string": b"",
    }
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b""}

    async def send(message: Message) -> None:
        sent.append(message)

    await layer(scope, receive, send)  # type: ignore[operator]
    return sent


@pytest.mark.parametrize(
    "response_headers",
    [
        [(b"content-type", b"application/json")],
        [(b"vary", b"Accept-Encoding"), (b"content-type", b"application/json")],
        [(b"vary", b"Accept"), (b"x-a", b"1"), (b"vary", b"Cookie"), (b"x-b", b"2")],
    ],
    ids=["no-vary", "one-vary", "two-vary"],
)
@pytest.mark.parametrize("origins", [[], ["https://saas.example"]], ids=["none", "one"])
async def test_an_answer_without_origin_gets_the_headers_starlettes_cors_gives(
    response_headers: Headers, origins: list[str]
) -> None:
    request_headers = [(b"authorization", b"Bearer x")]
    ours = await _answer(
        WidgetCorsMiddleware(_app(response_headers), allowed_origins=origins),  # type: ignore[arg-type]
        request_headers,
    )
    starlettes = await _answer(
        CORSMiddleware(
            _app(response_headers),  # type: ignore[arg-type]
            allow_origins=origins,
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type", "Idempotency-Key"],
            max_age=600,
        ),
        request_headers,
    )
    assert ours == starlettes


async def test_an_answer_to_a_browser_with_an_allowed_origin_is_still_cors() -> None:
    sent = await _answer(
        WidgetCorsMiddleware(_app([]), allowed_origins=["https://saas.example"]),  # type: ignore[arg-type]
        [(b"origin", b"https://saas.example")],
    )
    assert (b"access-control-allow-origin", b"https://saas.example") in sent[0]["headers"]
