"""Parameters the emulator accepts and validates, but does not act on yet.

localstripe raises a TypeError (HTTP 500) on `proration_behavior`, `billing_cycle_anchor` and
`payment_behavior`. On updates and previews billing.py acts on them; where Stripe would still
act and the emulator does not (`proration_behavior` and `default_incomplete` on create, a
default payment method), the bridge checks that the value
is one Stripe accepts (bad input is still a 400), drops it, and names every dropped parameter in
the `Localstripe-Bridge-Ignored` response header, so a test can tell what was not emulated.
docs/stripe-emulator.md lists them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiohttp import web

from localstripe_bridge.errors import invalid
from localstripe_bridge.params import Params

HEADER = "Localstripe-Bridge-Ignored"
PRORATION_BEHAVIORS = ("always_invoice", "create_prorations", "none")
PAYMENT_BEHAVIORS = (
    "allow_incomplete", "default_incomplete", "error_if_incomplete", "pending_if_incomplete",
)  # fmt: skip
ANCHORS = ("now", "unchanged")

Check = Callable[[Any, str], None]


def respond(body: dict[str, Any], ignored: list[str]) -> web.Response:
    response = web.json_response(body)
    if ignored:
        response.headers[HEADER] = ", ".join(ignored)
    return response


def strip(data: Params, name: str, check: Check, ignored: list[str]) -> None:
    """Validate `data[name]` if present, then drop it and record that it was ignored."""
    if name in data:
        check(data.pop(name), name)
        ignored.append(name)


def one_of(choices: tuple[str, ...]) -> Check:
    def check(value: Any, param: str) -> None:
        if value not in choices:
            raise invalid(f"Invalid {param}: must be one of {', '.join(choices)}", param=param)

    return check


def anchor(*, timestamps: bool) -> Check:
    """`billing_cycle_anchor`: `now`/`unchanged` as a string (before 2026-09-30.endive) or as
    `{"type": …}` (stripe-python 16); a preview of a new subscription may also give a time."""

    def check(value: Any, param: str) -> None:
        if isinstance(value, dict):
            if set(value) != {"type"} or value["type"] not in ANCHORS:
                raise invalid(f"Invalid {param}[type]: must be now or unchanged", param=param)
            return
        if value in ANCHORS or (timestamps and isinstance(value, str) and value.isdigit()):
            return
        raise invalid(f"Invalid {param}: must be now or unchanged", param=param)

    return check
