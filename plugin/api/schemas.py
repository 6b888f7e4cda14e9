"""Request bodies at the edges (HTTP and CLI), and the CLI's proration answer. Pydantic lives
here and in plugin/api/answers.py, not in the domain: `…In` models validate and convert into the
domain's frozen dataclasses; the route table's answers are in plugin/api/answers.py."""

from __future__ import annotations

from fractions import Fraction
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StringConstraints,
    model_validator,
)
from pydantic.config import JsonDict

from plugin.billing import proration
from plugin.billing.catalog import Plan
from plugin.offers import model as offers
from plugin.outbound.events import EventType

# Every integer a client sends is bounded by 2^53: the largest that JSON clients (JavaScript)
# read exactly, and far inside SQLite's 64-bit INTEGER, so no number can overflow storage
# (found by fuzzing: a 30-digit signup_at was a 500). Strict: 1.0 and "1" are not integers.
JSON_SAFE = 2**53


def _json_safe(value: int) -> int:
    if not -JSON_SAFE <= value <= JSON_SAFE:
        raise ValueError(
            f"must be between -2^53 and 2^53, got a {len(str(abs(value)))}-digit number"
        )
    return value


# A validator, not ge/le: pydantic lets constraints in an Annotated alias override a field's own
# `Field(ge=0)`, which would silently drop the field's bounds.
Int = Annotated[int, Field(strict=True), AfterValidator(_json_safe)]


class _In(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class ItemIn(_In):
    price: str = Field(min_length=1)
    product: str = Field(min_length=1)
    unit_amount: Int = Field(ge=0)  # minor units; a float here is refused, not rounded
    quantity: Int = Field(default=1, ge=0)
    interval: Literal["day", "week", "month", "year"] = "month"
    interval_count: Int = Field(default=1, ge=1)

    def to_domain(self) -> proration.Item:
        return proration.Item(
            price=self.price,
            product=self.product,
            unit_amount=self.unit_amount,
            quantity=self.quantity,
            interval=self.interval,
            interval_count=self.interval_count,
        )


class ProrationIn(_In):
    """One plan change, in the shape of `inputs` in tests/data/proration-examples.jsonl."""

    currency: str = Field(pattern=r"^[a-zA-Z]{3}$")
    old: ItemIn
    new: ItemIn
    period_start: Int
    period_end: Int
    change_time: Int
    proration_behavior: Literal["create_prorations", "always_invoice", "none"] = "create_prorations"
    billing_cycle_anchor: Literal["unchanged", "now"] = "unchanged"
    coupon_percent_off: Int | float | None = Field(default=None, ge=0, le=100)
    customer_starting_balance: Int = 0
    trialing: StrictBool = False

    @model_validator(mode="after")
    def _period(self) -> ProrationIn:
        if self.period_end <= self.period_start:
            raise ValueError("period_end must be after period_start")
        if not self.period_start <= self.change_time <= self.period_end:
            raise ValueError("change_time must fall inside [period_start, period_end]")
        return self

    def to_domain(self) -> proration.Change:
        # A percentage such as 33.3 is a decimal literal; Fraction(str) keeps it exact.
        pct = Fraction(str(self.coupon_percent_off)) if self.coupon_percent_off else Fraction(0)
        return proration.Change(
            currency=self.currency.lower(),
            old=self.old.to_domain(),
            new=self.new.to_domain(),
            period_start=self.period_start,
            period_end=self.period_end,
            change_time=self.change_time,
            behavior=self.proration_behavior,
            anchor=self.billing_cycle_anchor,
            percent_off=pct,
            starting_balance=self.customer_starting_balance,
            trialing=self.trialing,
        )


def quote_document(quote: proration.Quote) -> dict[str, Any]:
    """The quote in the shape of `expected` in tests/data/proration-examples.jsonl."""
    document: dict[str, Any] = {
        "currency": quote.currency,
        "proration_factor": str(quote.factor),
        "lines": [
            {
                "type": line.type,
                "amount": line.amount,
                "description": line.description,
                "period": {"start": line.period_start, "end": line.period_end},
                "proration": line.proration,
                "price": line.price,
                "quantity": line.quantity,
            }
            for line in quote.lines
        ],
        "net_proration_amount": quote.net_proration_amount,
        "invoice_now": quote.invoice_now,
        "invoice_total": quote.invoice_total,
        "amount_due_now": quote.amount_due_now,
    }
    if quote.invoice_now:
        document["customer_balance_after"] = quote.customer_balance_after
    else:
        document["pending_invoice_items_total"] = quote.pending_invoice_items_total
        document["next_renewal_invoice_total"] = quote.next_renewal_invoice_total
        document["next_renewal_amount_due"] = quote.next_renewal_amount_due
    return document


# Offers, plans, customers -------------------------------------------------------------------
# Unknown fields are refused here (extra="forbid"): a misspelt "max_impresions" silently ignored
# would be a cap that never applies.


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


KEY_PATTERN = r"^[A-Za-z0-9_.:-]+$"
Key = Annotated[str, Field(min_length=1, max_length=64, pattern=KEY_PATTERN)]
# JSON Schema for the keys of a dict keyed by `Key` (pydantic does not emit `propertyNames`).
_KEYS: JsonDict = {
    "propertyNames": {"type": "string", "minLength": 1, "maxLength": 64, "pattern": KEY_PATTERN}
}
PriceId = Annotated[str, Field(min_length=7, max_length=255, pattern=r"^price_[A-Za-z0-9_]+$")]
Percent = Annotated[int, Field(strict=True, ge=1, le=100)]


class PlanIn(_Strict):
    id: Key
    name: str = Field(min_length=1, max_length=120)
    tier: Int = Field(ge=0, le=1000)
    prices: list[PriceId] = Field(default_factory=list, max_length=20)
    limits: dict[Key, Annotated[int, Field(strict=True, ge=0)] | None] = Field(
        default_factory=dict, max_length=50, json_schema_extra=_KEYS
    )
    features: list[Key] = Field(default_factory=list, max_length=100)

    def to_domain(self) -> Plan:
        return Plan(
            id=self.id,
            name=self.name,
            tier=self.tier,
            prices=tuple(self.prices),
            limits=dict(self.limits),
            features=tuple(self.features),
        )


class PlansIn(_Strict):
    plans: list[PlanIn] = Field(max_length=50)

    @model_validator(mode="after")
    def _unique(self) -> PlansIn:
        for attr in ("id", "tier"):
            values = [getattr(p, attr) for p in self.plans]
            if len(set(values)) != len(values):
                raise ValueError(f"every plan needs its own {attr}")
        prices = [price for p in self.plans for price in p.prices]
        if len(set(prices)) != len(prices):
            raise ValueError("a price belongs to one plan only")
        return self


class LocalCopyIn(_Strict):
    """The copy in one more language; a field left out falls back to the variant's own."""

    title: str | None = Field(default=None, min_length=1, max_length=offers.MAX_TITLE)
    body: str | None = Field(default=None, max_length=offers.MAX_BODY)
    cta: str | None = Field(default=None, min_length=1, max_length=offers.MAX_CTA)
    decline: str | None = Field(default=None, min_length=1, max_length=offers.MAX_CTA)


Language = Annotated[str, StringConstraints(pattern=r"^[a-z]{2}$")]


class CopyIn(_Strict):
    title: str = Field(min_length=1, max_length=offers.MAX_TITLE)
    body: str = Field(default="", max_length=offers.MAX_BODY)
    cta: str = Field(default="Upgrade", min_length=1, max_length=offers.MAX_CTA)
    decline: str = Field(default="No thanks", min_length=1, max_length=offers.MAX_CTA)
    locales: dict[Language, LocalCopyIn] = Field(
        default_factory=dict,
        max_length=offers.MAX_LOCALES,
        description="the same copy in other languages, by ISO 639-1 code (`ko`, `fr`): the"
        " widget shows a customer whose language it is each field given there",
    )


class ReasonIn(_Strict):
    key: Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_-]+$")]
    label: str = Field(min_length=1, max_length=offers.MAX_CTA * 2)


class SurveyIn(_Strict):
    question: str = Field(min_length=1, max_length=offers.MAX_QUESTION)
    type: Literal["choice", "scale"] = "choice"
    choices: list[ReasonIn] = Field(default_factory=list, max_length=offers.MAX_REASONS)
    comment: bool = False
    display: Literal["banner", "modal"] = "banner"


class EmailIn(_Strict):
    subject: str = Field(min_length=1, max_length=200)
    text: str = Field(min_length=1, max_length=offers.MAX_EMAIL)
    html: str = Field(default="", max_length=offers.MAX_EMAIL)
    link_url: str = Field(min_length=1, max_length=500)


class VariantIn(_Strict):
    key: Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_-]+$")]
    weight: Int = Field(default=1, ge=0, le=10_000)
    copy_: CopyIn = Field(alias="copy")


class DiscountIn(_Strict):
    percent_off: Percent | None = None
    amount_off: Int | None = Field(default=None, ge=1)
    duration_months: Int | None = Field(default=None, ge=1, le=36)


class ScheduleIn(_Strict):
    starts_at: Int | None = Field(default=None, ge=0)
    ends_at: Int | None = Field(default=None, ge=0)


class FrequencyIn(_Strict):
    max_impressions: Int | None = Field(default=None, ge=1)
    per_seconds: Int = Field(default=86_400, ge=1, le=366 * 86_400)
    dismiss_cooldown: Int = Field(default=0, ge=0, le=366 * 86_400)
    decline_cooldown: Int = Field(default=7 * 86_400, ge=0, le=366 * 86_400)
    max_declines: Int | None = Field(default=3, ge=1)


READ_ONLY_OFFER_FIELDS = frozenset({"object", "version", "created_at", "updated_at"})


class OfferIn(_Strict):
    """An offer as admins send it; the same shape the admin API returns (its read-only fields
    are accepted and ignored)."""

    id: Annotated[str, Field(pattern=r"^offer_[A-Za-z0-9_]{1,60}$")] | None = None
    name: str = Field(min_length=1, max_length=offers.MAX_TITLE)
    kind: Literal[
        "upgrade", "interval_switch", "cross_sell", "post_order", "bundle", "trial", "retention",
        "survey",
    ]  # fmt: skip
    status: Literal["draft", "active", "paused", "archived"] = "draft"
    priority: Int = Field(default=0, ge=-1000, le=1000)
    placements: list[Key] = Field(min_length=1, max_length=offers.MAX_PLACEMENTS)
    target_prices: list[PriceId] = Field(default_factory=list, max_length=10)
    proration: Literal["now", "period_end", "stripe"] = "now"
    discount: DiscountIn | None = None
    trial_days: Int | None = Field(default=None, ge=1, le=90)
    # Checked by plugin.offers.targeting.parse (paths like `targeting.all[0].usage`); documented as
    # the recursive `Rule` schema in plugin/api/openapi.py.
    targeting: dict[str, Any] = Field(default_factory=lambda: {"all": []})
    schedule: ScheduleIn = Field(default_factory=ScheduleIn)
    frequency: FrequencyIn = Field(default_factory=FrequencyIn)
    holdout_bp: Int = Field(default=0, ge=0, le=9_999)
    variants: list[VariantIn] = Field(min_length=1, max_length=10)
    # What a customer may answer when declining or dismissing (the widget asks).
    reasons: list[ReasonIn] = Field(default_factory=list, max_length=offers.MAX_REASONS)
    # A survey offer's question (kind `survey` only).
    survey: SurveyIn | None = None
    # A lifecycle email sent when the targeting first holds for a customer (Jinja2 copy).
    email: EmailIn | None = None
    # `OfferOut`'s read-only fields: accepted, so that what GET returns can be sent back as it
    # is, and ignored (the server sets them).
    object: Literal["offer"] | None = Field(default=None, exclude=True)
    version: Int | None = Field(default=None, exclude=True)
    created_at: Int | None = Field(default=None, exclude=True)
    updated_at: Int | None = Field(default=None, exclude=True)

    def document(self, offer_id: str) -> dict[str, Any]:
        """The domain's document (plugin.offers.model.load builds and checks the offer from it)."""
        doc = self.model_dump(by_alias=True)
        doc["id"] = offer_id
        return doc


class _CustomerReadOnly(_Strict):
    """`CustomerOut`'s read-only fields: accepted, so that an answer can be sent back as it is,
    and ignored (the id is the path's; the server sets the others)."""

    object: Literal["customer"] | None = Field(default=None, exclude=True)
    id: Key | None = Field(default=None, exclude=True)
    created: Int | None = Field(default=None, exclude=True)
    updated: Int | None = Field(default=None, exclude=True)


class CustomerIn(_CustomerReadOnly):
    stripe_customer: Annotated[str, Field(pattern=r"^cus_[A-Za-z0-9]+$", max_length=255)] | None = (
        None
    )
    attrs: dict[Key, Annotated[str, Field(max_length=200)] | Int | StrictBool] = Field(
        default_factory=dict, max_length=50, json_schema_extra=_KEYS
    )
    signup_at: Int | None = Field(default=None, ge=0)


class CustomerPatchIn(_CustomerReadOnly):
    """A JSON merge patch of a customer (RFC 7396): a field left out keeps its value, `null`
    clears it; in `attrs`, a key set to `null` is removed and the others are set."""

    stripe_customer: Annotated[str, Field(pattern=r"^cus_[A-Za-z0-9]+$", max_length=255)] | None = (
        None
    )
    attrs: dict[Key, Annotated[str, Field(max_length=200)] | Int | StrictBool | None] | None = (
        Field(default=None, max_length=50, json_schema_extra=_KEYS)
    )
    signup_at: Int | None = Field(default=None, ge=0)


class OfferCloneIn(_Strict):
    """`POST /api/v1/admin/offers/{id}/clone`: both optional (the body may be left out)."""

    id: Annotated[str, Field(pattern=r"^offer_[A-Za-z0-9_]{1,60}$")] | None = None
    name: str | None = Field(default=None, min_length=1, max_length=offers.MAX_TITLE)


class OfferDraftIn(_Strict):
    """`POST /api/v1/admin/offers/audience`: a draft offer, as POST /api/v1/admin/offers takes
    it (not saved)."""

    offer: dict[str, Any]


class OfferPreviewIn(_Strict):
    """`POST /api/v1/admin/offers/preview`: a draft offer (as POST /api/v1/admin/offers takes
    it; not saved), the customer to show it to, and optionally the placement and variant."""

    offer: dict[str, Any]
    customer: Key
    placement: str | None = Field(default=None, min_length=1, max_length=64)
    variant: str | None = Field(default=None, min_length=1, max_length=64)


class AdminKeyIn(_Strict):
    name: str = Field(min_length=1, max_length=100, pattern=r"\S")
    role: Literal["admin", "read_only"] = "admin"


# An endpoint's `events`: types, or "*" for every type (those added later too).
EventFilter = Literal["*"] | EventType


class WebhookEndpointIn(_Strict):
    url: str = Field(min_length=1, max_length=2048)
    events: list[EventFilter] = Field(
        default_factory=lambda: list[EventFilter](["*"]), min_length=1, max_length=20
    )
    description: str = Field(default="", max_length=200)
    enabled: bool = True


class WebhookEndpointPatch(_Strict):
    url: str | None = Field(default=None, min_length=1, max_length=2048)
    events: list[EventFilter] | None = Field(default=None, min_length=1, max_length=20)
    description: str | None = Field(default=None, max_length=200)
    enabled: bool | None = None


class UsageIn(_Strict):
    customer: Key
    metric: Key
    value: Int = Field(ge=0, le=2**53)
    mode: Literal["set", "increment"] = "set"


class FeatureEventIn(_Strict):
    customer: Key
    feature: Key


class EventIn(_Strict):
    """A product event the SaaS already has (`login`, `project_created`, any name), counted
    per customer and UTC day for `event` targeting rules. `occurred_at` defaults to now; the
    handler bounds it by the clock (not ahead of it, not older than the retention)."""

    customer: Key
    event: Key
    count: Int = Field(default=1, ge=1, le=10_000)
    occurred_at: Int | None = Field(default=None, ge=0)


WidgetEventType = Literal["impression", "click", "dismiss", "decline", "answer"]


class ReasonAnswerIn(_Strict):
    key: Annotated[str, Field(min_length=1, max_length=32)]
    text: str | None = Field(default=None, max_length=offers.MAX_REASON_TEXT)


class SurveyAnswerIn(_Strict):
    choice: Annotated[str, Field(min_length=1, max_length=32)] | None = None
    score: Int | None = Field(default=None, ge=offers.SCALE[0], le=offers.SCALE[1])
    text: str | None = Field(default=None, max_length=offers.MAX_REASON_TEXT)


class WidgetEventIn(_Strict):
    offer_id: Annotated[str, Field(max_length=64)]
    variant: Annotated[str, Field(max_length=32)]
    type: WidgetEventType
    # Why (decline and dismiss only): a key of the offer's `reasons`, and optional free text.
    reason: ReasonAnswerIn | None = None
    # A survey's answer (type `answer` only): a choice's key or a 1-5 score, and a comment.
    answer: SurveyAnswerIn | None = None
    # The plan the customer is moving down to (a decline on the retention screen).
    to_plan: Annotated[str, Field(min_length=1, max_length=100)] | None = None


class QuoteIn(_Strict):
    offer_id: Annotated[str, Field(min_length=1, max_length=64)]


class AcceptIn(_Strict):
    # A price quote id is short (qt_…); a trial quote is a signed statement (tq_…, ~250 chars).
    quote_id: Annotated[str, Field(min_length=1, max_length=512)]
