"""The parts of a Stripe event Uplift reads, checked at the edge (pydantic lives here only).

`parse_event` turns verified raw bytes into an `Event` or raises `EventError`; the objects inside
(`SubscriptionObject`, `InvoiceObject` …) are parsed from `event.data.object` by the handler that
needs them, so an event type we ignore never fails on a field we don't read. Field names are
Stripe's. A payload that does not fit (a field of the wrong type, a subscription without any
price) raises `EventError` with code `unexpected_object`: it never will fit, so it is not worth
retrying.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    ValidationError,
    field_validator,
)

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


# Objects inside events. Each model reads only the fields Uplift uses, newest shape first, and
# accepts every null Stripe's OpenAPI spec allows for them (and the absence of fields older API
# versions did not have): Stripe sends events in the API version the endpoint is pinned to, from
# 2016-era shapes to today's. tests/webhooks/corpus/ holds one payload per shape and its source.
# Expandable fields (`customer`, `product` …) may arrive as an id or as the expanded (or
# deleted) object; `expandable_id` takes either.


def expandable_id(value: object) -> str | None:
    if isinstance(value, str):
        return value or None
    if isinstance(value, dict):
        found = value.get("id")
        return found if isinstance(found, str) and found else None
    return None


Expandable = str | dict[str, Any] | None
Interval = Literal["day", "week", "month", "year"]
# `*_decimal` amounts are strings with up to 12 decimal places; a number is read through its
# text (never as a float) so that 0.1 stays 0.1.
DecimalText = Annotated[str | None, BeforeValidator(lambda v: _decimal_text(v))]


def _decimal_text(value: object) -> object:
    if isinstance(value, bool):
        return value  # refused by `str`
    if isinstance(value, int | float):
        return str(value)
    return value


class RecurringIn(_In):
    interval: Interval
    interval_count: StrictInt = 1
    usage_type: str | None = None  # licensed | metered; absent before metered billing (2018)


class TierIn(_In):
    """A price's (or plan's) tier. `up_to` is null for the last tier; Stripe's parameters call
    it "inf", which is accepted too."""

    up_to: StrictInt | None = None
    unit_amount: StrictInt | None = None
    unit_amount_decimal: DecimalText = None
    flat_amount: StrictInt | None = None
    flat_amount_decimal: DecimalText = None

    @field_validator("up_to", mode="before")
    @classmethod
    def _infinity(cls, value: object) -> object:
        return None if value == "inf" else value


class TransformIn(_In):
    divide_by: StrictInt = Field(ge=1)
    round: Literal["up", "down"]


class PriceObject(_In):
    """A Price, or a legacy Plan (a Plan has `amount`, `interval`, `usage_type` and
    `transform_usage` where a Price has `unit_amount`, `recurring` and `transform_quantity`;
    before 2018-02-05 a Plan had no `product`). `as_price` reads either as a Price."""

    id: str
    object: Literal["price", "plan"] = "price"
    product: Expandable = None
    currency: str
    unit_amount: StrictInt | None = None
    unit_amount_decimal: DecimalText = None
    billing_scheme: str | None = None  # per_unit | tiered; absent before tiers (2018)
    tiers_mode: str | None = None
    tiers: list[TierIn] | None = None  # only when expanded: None is "not sent", not "no tiers"
    transform_quantity: TransformIn | None = None
    recurring: RecurringIn | None = None
    lookup_key: str | None = None
    active: StrictBool = True
    metadata: dict[str, Any] | None = None
    # Plan
    amount: StrictInt | None = None
    amount_decimal: DecimalText = None
    interval: Interval | None = None
    interval_count: StrictInt | None = None
    usage_type: str | None = None
    transform_usage: TransformIn | None = None

    def as_price(self) -> PriceObject:
        """A Price as it is; a Plan as the Price it stands for (`amount` as `unit_amount`,
        `interval`, `interval_count` and `usage_type` as `recurring`, `transform_usage` as
        `transform_quantity`)."""
        if self.object == "price":
            return self
        recurring = (
            RecurringIn(
                interval=self.interval,
                interval_count=self.interval_count or 1,
                usage_type=self.usage_type,
            )
            if self.interval
            else None
        )
        return self.model_copy(
            update={
                "unit_amount": self.amount,
                "unit_amount_decimal": self.amount_decimal,
                "recurring": recurring,
                "transform_quantity": self.transform_usage,
            }
        )


class ProductObject(_In):
    id: str
    name: str | None = None
    active: StrictBool = True
    metadata: dict[str, Any] | None = None


class SubscriptionItemObject(_In):
    id: str
    price: PriceObject | None = None  # since Prices (2020); `plan` is the legacy twin
    plan: PriceObject | None = None
    quantity: StrictInt | None = None  # absent for metered items
    current_period_start: StrictInt | None = None  # since 2025-03-31.basil
    current_period_end: StrictInt | None = None


class ItemList(_In):
    data: list[SubscriptionItemObject] = Field(default_factory=list)


class SubscriptionObject(_In):
    id: str
    customer: Expandable = None
    status: str
    currency: str | None = None  # absent in older API versions: the items' currency then
    items: ItemList | None = None  # absent in 2013-era payloads: `plan` and `quantity` then
    plan: PriceObject | None = None  # legacy single-plan subscription
    quantity: StrictInt | None = None
    current_period_start: StrictInt | None = None  # before 2025-03-31.basil
    current_period_end: StrictInt | None = None
    trial_end: StrictInt | None = None
    cancel_at_period_end: StrictBool = False
    canceled_at: StrictInt | None = None


class InvoiceObject(_In):
    id: str
    customer: Expandable = None
    subscription: Expandable = None  # before 2025-03-31.basil
    billing_reason: str | None = None
    currency: str | None = None
    amount_paid: StrictInt | None = None
    total: StrictInt | None = None
    hosted_invoice_url: str | None = None
    last_finalization_error: dict[str, Any] | None = None
    parent: dict[str, Any] | None = None  # since basil: parent.subscription_details.subscription

    @property
    def subscription_id(self) -> str | None:
        """Newest shape first: `parent.subscription_details.subscription` (basil and later),
        then the top-level `subscription` of earlier versions."""
        details = (self.parent or {}).get("subscription_details")
        found = expandable_id(details.get("subscription")) if isinstance(details, dict) else None
        return found or expandable_id(self.subscription)


class CheckoutSessionObject(_In):
    id: str
    customer: Expandable = None
    subscription: Expandable = None
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
