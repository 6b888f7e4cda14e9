"""The parts of a Stripe event Uplift reads, checked at the edge (pydantic lives here only).

`parse_event` turns verified raw bytes into an `Event` or raises `EventError`; the objects inside
(`SubscriptionObject`, `InvoiceObject` …) are parsed from `event.data.object` by the handler that
needs them, so an event type we ignore never fails on a field we don't read. Field names are
Stripe's. localstripe sends API version 2017-08-15 payloads (with items bridged to today's shape),
so both the subscription-level and the item-level period bounds are accepted.
"""

from __future__ import annotations

import json
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, ValidationError

from plugin.errors import BadRequest


class EventError(BadRequest):
    """The verified body is not a Stripe snapshot event; `code` is the API error code."""

    def __init__(self, message: str, *, code: str) -> None:
        super().__init__(message, code=code)


class _In(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


_M = TypeVar("_M", bound=_In)


class EventData(_In):
    object: dict[str, Any]
    previous_attributes: dict[str, Any] | None = None


class Event(_In):
    id: str = Field(min_length=1, max_length=255)
    object: Literal["event"]
    type: str = Field(min_length=1, max_length=255)
    created: StrictInt
    livemode: StrictBool = False
    data: EventData

    @property
    def object_id(self) -> str | None:
        found = self.data.object.get("id")
        return found if isinstance(found, str) and found else None


def parse_event(payload: bytes) -> Event:
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        # stripe-python raises UnicodeDecodeError here, which would be a 500 (rule 1).
        raise EventError("The body is not valid UTF-8.", code="invalid_utf8") from None
    try:
        document = json.loads(text)
    except (ValueError, RecursionError):
        raise EventError("The body is not valid JSON.", code="invalid_json") from None
    if not isinstance(document, dict):
        raise EventError("The body is not a Stripe event object.", code="not_an_event")
    if document.get("object") == "v2.core.event":
        # Thin events carry no snapshot; they belong on an event destination, not this endpoint.
        raise EventError(
            "Thin (v2) events are not accepted on this endpoint.", code="thin_event_unsupported"
        )
    try:
        return Event.model_validate(document)
    except ValidationError as exc:
        first = exc.errors(include_input=False, include_url=False)[0]
        where = ".".join(str(part) for part in first["loc"]) or "body"
        raise EventError(
            f"The body is not a Stripe event ({where}: {first['msg']}).", code="not_an_event"
        ) from None


# Objects inside events. Expandable fields (`customer`, `product` …) may arrive as an id or as the
# expanded object; `expandable_id` takes either.


def expandable_id(value: object) -> str | None:
    if isinstance(value, str):
        return value or None
    if isinstance(value, dict):
        found = value.get("id")
        return found if isinstance(found, str) else None
    return None


class RecurringIn(_In):
    interval: Literal["day", "week", "month", "year"]
    interval_count: StrictInt = 1


class PriceObject(_In):
    """A Price, or a legacy Plan (localstripe sends `plan.*`; a Plan has `amount`, `interval`)."""

    id: str
    object: Literal["price", "plan"] = "price"
    product: str | dict[str, Any]
    currency: str
    unit_amount: StrictInt | None = None
    amount: StrictInt | None = None  # Plan
    recurring: RecurringIn | None = None
    interval: Literal["day", "week", "month", "year"] | None = None  # Plan
    interval_count: StrictInt | None = None  # Plan
    lookup_key: str | None = None
    active: StrictBool = True
    metadata: dict[str, Any] = Field(default_factory=dict)

    def as_price(self) -> PriceObject:
        """A Price as it is; a Plan as the Price it stands for (`amount` as `unit_amount`,
        `interval` and `interval_count` as `recurring`)."""
        if self.object == "price":
            return self
        recurring = (
            RecurringIn(interval=self.interval, interval_count=self.interval_count or 1)
            if self.interval
            else None
        )
        return self.model_copy(update={"unit_amount": self.amount, "recurring": recurring})


class ProductObject(_In):
    id: str
    name: str = ""
    active: StrictBool = True
    metadata: dict[str, Any] = Field(default_factory=dict)


class SubscriptionItemObject(_In):
    id: str
    price: PriceObject | None = None
    plan: PriceObject | None = None
    quantity: StrictInt | None = 1
    current_period_start: StrictInt | None = None
    current_period_end: StrictInt | None = None


class ItemList(_In):
    data: list[SubscriptionItemObject]


class SubscriptionObject(_In):
    id: str
    customer: str | dict[str, Any]
    status: str
    currency: str | None = None
    items: ItemList
    current_period_start: StrictInt | None = None
    current_period_end: StrictInt | None = None
    trial_end: StrictInt | None = None
    cancel_at_period_end: StrictBool = False
    canceled_at: StrictInt | None = None


class InvoiceObject(_In):
    id: str
    customer: str | dict[str, Any] | None = None
    subscription: str | dict[str, Any] | None = None
    billing_reason: str | None = None
    currency: str | None = None
    amount_paid: StrictInt | None = None
    total: StrictInt | None = None
    hosted_invoice_url: str | None = None
    last_finalization_error: dict[str, Any] | None = None
    parent: dict[str, Any] | None = None  # since basil: parent.subscription_details.subscription

    @property
    def subscription_id(self) -> str | None:
        found = expandable_id(self.subscription)
        if found is None and self.parent:
            details = self.parent.get("subscription_details") or {}
            found = expandable_id(details.get("subscription"))
        return found


class CheckoutSessionObject(_In):
    id: str
    customer: str | dict[str, Any] | None = None
    subscription: str | dict[str, Any] | None = None
    mode: str | None = None
    currency: str | None = None
    amount_total: StrictInt | None = None


def parse_object(model: type[_M], event: Event) -> _M:
    """`event.data.object` as `model`; a missing or mistyped field raises `EventError`."""
    try:
        return model.model_validate(event.data.object)
    except ValidationError as exc:
        first = exc.errors(include_input=False, include_url=False)[0]
        where = ".".join(str(part) for part in first["loc"])
        raise EventError(
            f"{event.type} data.object.{where}: {first['msg']}", code="unexpected_object"
        ) from None
