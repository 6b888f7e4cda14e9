"""Idempotent requests (`Idempotency-Key`).

localstripe ignores the header, so a retried create makes a second object. stripe-python sends a
key with every POST (its own, or the caller's), and Uplift derives keys from durable state so that
a retry after a crash cannot double-charge; tests of that need the emulator to honour them.

Stripe's rules, as far as the emulator needs them: keys are per account (here: per API key); a
repeat with the same parameters returns the saved status and body with `Idempotent-Replayed:
true`; a repeat with different parameters or on another endpoint is a 400 `idempotency_error`;
a repeat while the first is still running is a 409. Results are saved once the request executed,
so validation errors (400, 404) are not saved and a corrected retry runs.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from dataclasses import dataclass

from aiohttp import web
from aiohttp.typedefs import Handler
from localstripe.errors import UserError

from localstripe_bridge.errors import invalid

MAX_KEYS = 10_000  # Stripe keeps keys for 24 hours; an emulator run is shorter than that


@dataclass(frozen=True)
class _Saved:
    fingerprint: str
    status: int | None = None  # None: still running
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = ()


def _saved_headers(response: web.Response) -> tuple[tuple[str, str], ...]:
    keep = ("Content-Type", "Localstripe-Bridge-Ignored")
    return tuple((name, response.headers[name]) for name in keep if name in response.headers)


class Idempotency:
    def __init__(self) -> None:
        self._saved: OrderedDict[tuple[str, str], _Saved] = OrderedDict()

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        key = request.headers.get("Idempotency-Key")
        if request.method != "POST" or not key or not request.path.startswith("/v1/"):
            return await handler(request)
        scope = (request.headers.get("Authorization", ""), key)
        body = await request.read()
        fingerprint = hashlib.sha256(
            b"\0".join([request.method.encode(), request.path_qs.encode(), body])
        ).hexdigest()
        saved = self._saved.get(scope)
        if saved is not None:
            return self._replay(saved, fingerprint, key)
        self._saved[scope] = _Saved(fingerprint)
        try:
            try:
                response = await handler(request)
            except UserError as exc:
                response = exc.to_response()
        except BaseException:
            del self._saved[scope]
            raise
        if (
            isinstance(response, web.Response)
            and isinstance(response.body, bytes)
            and (response.status < 400 or response.status == 402)
        ):
            # 402 is a declined card: the request ran (and Stripe would replay the decline).
            self._saved[scope] = _Saved(
                fingerprint, response.status, response.body, _saved_headers(response)
            )
            while len(self._saved) > MAX_KEYS:
                self._saved.popitem(last=False)
        else:
            del self._saved[scope]
        return response

    @staticmethod
    def _replay(saved: _Saved, fingerprint: str, key: str) -> web.StreamResponse:
        if saved.fingerprint != fingerprint:
            # Its own error type, which stripe-python raises as IdempotencyError.
            message = (
                "Keys for idempotent requests can only be used with the same parameters they "
                f"were first used with. Try using a key other than '{key}' if you meant to "
                "execute a different request."
            )
            return web.json_response(
                {"error": {"type": "idempotency_error", "message": message}}, status=400
            )
        if saved.status is None:
            raise invalid(
                "There is currently another in-progress request using this Idempotent Key "
                f"(that probably means you submitted twice, and the other request is still "
                f"going through): {key}. Please try again later.",
                code="idempotency_key_in_use",
                status=409,
            )
        response = web.Response(status=saved.status, body=saved.body)
        for name, value in saved.headers:
            response.headers[name] = value
        response.headers["Idempotent-Replayed"] = "true"
        return response
