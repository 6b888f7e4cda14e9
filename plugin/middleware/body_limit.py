"""The request body limit: 413 before the application reads a body over it."""

from __future__ import annotations

from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from plugin.api.errors import send_error
from plugin.errors import BadRequest, PayloadTooLarge, UpliftError


class BodyLimit:
    """A declared Content-Length over `max_bytes` is refused up front (`refusal`); a chunked
    body is counted as it streams, and the reader sees `PayloadTooLarge` from `receive()` once
    it passes (`limited`). The middleware below and the webhook fast path apply the same."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes

    def refusal(self, scope: Scope) -> UpliftError | None:
        """The error for a declared Content-Length that is not a number or over the limit."""
        for name, value in scope["headers"]:
            if name == b"content-length":
                if not value.isdigit():
                    return BadRequest("Content-Length is not a number.")
                if int(value) > self.max_bytes:
                    return self._too_large()
        return None

    def limited(self, receive: Receive) -> Receive:
        """`receive`, raising `PayloadTooLarge` once the body read so far passes the limit."""
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise self._too_large()
            return message

        return limited_receive

    def _too_large(self) -> PayloadTooLarge:
        return PayloadTooLarge(f"The request body is larger than {self.max_bytes} bytes.")


class BodyLimitMiddleware:
    """Refuse bodies over `max_bytes` with 413 before the application reads them (`BodyLimit`)."""

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.limit = BodyLimit(max_bytes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        refusal = self.limit.refusal(scope)
        if refusal is not None:
            await send_error(send, refusal)
            return
        await self.app(scope, self.limit.limited(receive), send)


async def read_body(receive: Receive) -> bytes:
    """The whole request body, as Starlette's `Request.body()` reads it."""
    chunks = []
    while True:
        message = await receive()
        if message["type"] == "http.request":
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                return b"".join(chunks)
        elif message["type"] == "http.disconnect":
            raise ClientDisconnect
