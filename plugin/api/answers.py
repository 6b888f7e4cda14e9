"""Every JSON answer of the route table, key for key in the order it is sent (`…Out`), which
plugin/api/openapi.py documents. Pydantic lives here and in plugin/api/schemas.py (the request
bodies), not in the domain."""

from __future__ import annotations

from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    RootModel,
)
from pydantic.config import JsonDict
from pydantic.json_schema import SkipJsonSchema

from plugin.api.schemas import WidgetEventType
from plugin.billing.catalog import Interval
from plugin.metrics.revenue import BucketSize
from plugin.offers import model as offers
from plugin.storage.quotes import Execution, QuoteKind, Timing
from plugin.storage.stripe_events import Status as EventStatus
from plugin.storage.upgrades import Status as UpgradeStatus

# Every JSON answer of the route table, key for key in the order it is sent. The handlers of
# plugin/api/ build their answers through these (`_Out.document()`), so a model cannot drift
# from what is sent; the answers made on the hot paths (the widget's offers, the webhook intake)
# and the error documents of plugin/errors.py are held to them by
# tests/api/test_response_models.py. Strict: a value of another type is refused, never
# converted, so an answer built through a model is exactly the document it was given. A field
# with a default is a key that is only sometimes sent; every other key is always sent, null
# only where its type says `| None`.


def _no_defaults(schema: JsonDict) -> None:
    # An optional key of an answer is absent, not defaulted: a `default` in the document would
    # tell a client to assume a value the server never sent.
    properties = schema.get("properties")
    if isinstance(properties, dict):
        for field in properties.values():
            if isinstance(field, dict):
                field.pop("default", None)


class _Out(BaseModel):
    model_config = ConfigDict(
        extra="forbid", frozen=True, strict=True, json_schema_extra=_no_defaults
    )

    def document(self) -> dict[str, Any]:
        """The JSON document: every key in field order, an optional one only when given."""
        return self.model_dump(mode="json", by_alias=True, exclude_unset=True)


T = TypeVar("T")

Amount = Annotated[int, Field(description="integer minor units of its currency (cents for usd)")]
Currency = Annotated[
    str, Field(pattern=r"^[a-z]{3}$", description="ISO 4217, lower case, as Stripe writes it")
]
Display = Annotated[str, Field(description="an amount formatted for display, such as `$19.00`")]
Time = Annotated[int, Field(description="unix seconds")]
# A key that is absent when it has nothing to say, never null (JSON Schema without `null`).
Absent = SkipJsonSchema[None]
PublicUpgradeStatus = Literal["pending", "requires_action", "succeeded", "failed"]
# plugin.metrics.revenue.SERIES (tests/api/test_response_models.py keeps the two equal).
SeriesMetric = Literal[
    "mrr", "new_mrr", "expansion_mrr", "contraction_mrr", "churned_mrr", "reactivation_mrr",
    "net_new_mrr", "upgrades", "upgrade_expansion_mrr",
]  # fmt: skip


class Page(_Out, Generic[T]):
    """A Stripe-style list (docs/contract.md, "Lists")."""

    object: Literal["list"]
    data: list[T]
    has_more: bool


class ErrorDetailOut(_Out):
    code: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$", examples=["offer_not_found"])]
    message: str
    field: str | Absent = Field(
        default=None, description="the JSON path at fault, such as `variants[0].copy.title`"
    )
    fresh_quote_id: str | Absent = Field(
        default=None, description="a stale quote's 409: the quote to show instead"
    )
    upgrade_id: str | Absent = Field(
        default=None, description="a 409 about an upgrade of the customer's: that upgrade"
    )


class ErrorOut(_Out):
    """Every 4xx and 5xx answer (plugin/errors.py, plugin/api/errors.py)."""

    error: ErrorDetailOut


# Operations ---------------------------------------------------------------------------------


class HealthOut(_Out):
    status: Literal["ok"]


class ReadyOut(_Out):
    status: Literal["ready"]
    schema_version: int = Field(ge=1, description="the newest migration applied")


class OpenAPIInfoOut(_Out):
    title: str
    version: str


class OpenAPIOut(_Out):
    """This document (OpenAPI 3.1)."""

    openapi: Literal["3.1.0"]
    info: OpenAPIInfoOut
    paths: dict[str, dict[str, Any]]
    components: dict[str, Any]


class WebhookReceivedOut(_Out):
    """`POST /webhooks/stripe`: stored and committed (a redelivered id: `duplicate`)."""

    received: Literal[True]
    duplicate: bool


class WebhookEventOut(_Out):
    id: str
    object: Literal["webhook_event"]
    type: str
    created: Time
    livemode: bool
    status: EventStatus
    attempts: int = Field(ge=0)
    last_error: str | None
    received_at: Time
    processed_at: Time | None
    next_attempt_at: Time | None = Field(description="only while `status` is `pending`")


class WebhookEventListOut(Page[WebhookEventOut]):
    pass


# Plans, offers, results, audit ----------------------------------------------------------------


class PlanOut(_Out):
    object: Literal["plan"]
    id: str
    name: str
    tier: int
    prices: list[str]
    limits: dict[str, int | None] = Field(description="metric → cap; null: unlimited")
    features: list[str]


class PlanListOut(Page[PlanOut]):
    """The whole ladder, by tier."""

    has_more: Literal[False]


class OfferDiscountOut(_Out):
    percent_off: int | None
    amount_off: int | None = Field(description="minor units of the target price's currency")
    duration_months: int | None = Field(description="null: once")


class ScheduleOut(_Out):
    starts_at: Time | None
    ends_at: Time | None


class FrequencyOut(_Out):
    max_impressions: int | None
    per_seconds: int
    dismiss_cooldown: int
    decline_cooldown: int
    max_declines: int | None


class LocalCopyOut(_Out):
    title: str | Absent = None
    body: str | Absent = None
    cta: str | Absent = None
    decline: str | Absent = None


class CopyOut(_Out):
    title: str
    body: str
    cta: str
    decline: str
    locales: dict[str, LocalCopyOut] | Absent = Field(
        default=None, description="the same copy in other languages (only those given)"
    )


class ReasonOut(_Out):
    key: str
    label: str


class SurveyOut(_Out):
    question: str
    type: Literal["choice", "scale"]
    choices: list[ReasonOut]
    comment: bool
    display: Literal["banner", "modal"]


class EmailChannelOut(_Out):
    subject: str
    text: str
    html: str
    link_url: str


class VariantOut(_Out):
    key: str
    weight: int
    copy_: CopyOut = Field(alias="copy")


class OfferOut(_Out):
    """An offer as stored: the fields of `OfferIn`, all given, and its version."""

    object: Literal["offer"]
    id: str
    name: str
    kind: offers.Kind
    status: offers.Status
    priority: int
    placements: list[str]
    target_prices: list[str]
    proration: offers.ProrationPolicy
    discount: OfferDiscountOut | None
    trial_days: int | None
    # plugin.offers.targeting.dump; documented as the recursive `Rule` schema in
    # plugin/api/openapi.py.
    targeting: dict[str, Any]
    schedule: ScheduleOut
    frequency: FrequencyOut
    holdout_bp: int
    reasons: list[ReasonOut]
    survey: SurveyOut | None
    email: EmailChannelOut | None
    variants: list[VariantOut]
    version: int
    created_at: Time
    updated_at: Time


class AdminKeyOut(_Out):
    """An admin key as listed: never the key itself, only the first characters of it."""

    object: Literal["admin_key"]
    id: str
    name: str
    role: Literal["admin", "read_only"]
    prefix: str = Field(description="the key's first characters, to tell keys apart")
    created: Time
    last_used: Time | None
    revoked: Time | None


class AdminKeyCreatedOut(AdminKeyOut):
    key: str = Field(description="the key itself: shown in this answer only, never again")


class AdminKeyListOut(Page[AdminKeyOut]):
    pass


class WebhookEndpointOut(_Out):
    """An outbound webhook endpoint: never its secret, which is shown once (created, rotated)."""

    object: Literal["webhook_endpoint"]
    id: str
    url: str
    description: str
    events: list[str] = Field(description='event types it takes; ["*"]: every type')
    enabled: bool
    disabled_reason: str | None = Field(description="why Uplift disabled it, if it did")
    failing_since: Time | None = Field(description="first failure since the last success")
    created: Time
    updated: Time


class WebhookEndpointSecretOut(WebhookEndpointOut):
    secret: str = Field(description="whsec_…, to verify signatures with: shown in this answer only")


class WebhookEndpointListOut(Page[WebhookEndpointOut]):
    pass


class DeletedOut(_Out):
    object: str
    id: str
    deleted: Literal[True]


class WebhookAttemptOut(_Out):
    at: Time
    status_code: int | None = Field(description="the receiver's HTTP status; null: no answer")
    latency_ms: int
    error: str | None = Field(description="null: delivered")


class WebhookDeliveryOut(_Out):
    object: Literal["webhook_delivery"]
    id: str
    event_id: str = Field(description="the webhook-id header: the same on every attempt")
    event_type: str
    endpoint: str
    status: Literal["pending", "succeeded", "failed"]
    attempts: list[WebhookAttemptOut]
    next_attempt_at: Time | None
    created: Time
    updated: Time


class WebhookDeliveryListOut(Page[WebhookDeliveryOut]):
    pass


class FeedbackOut(_Out):
    """A customer's answer. `text` is theirs, as typed: hostile wherever it is shown."""

    object: Literal["feedback"]
    id: str
    at: Time
    customer_id: str
    offer_id: str
    variant: str | None
    kind: Literal["decline", "dismiss", "survey", "downgrade"]
    answer: str | None = Field(description="the reason's or the choice's key")
    label: str | None = Field(description="the label the offer gives that key now")
    score: int | None = Field(description="a 1-5 scale answer")
    text: str | None


class FeedbackListOut(Page[FeedbackOut]):
    pass


class EmailSendOut(_Out):
    """One offer's email to one customer (never its address: that is the customer's data)."""

    object: Literal["email_send"]
    id: str = Field(description="em_…: the Message-ID's left part")
    offer_id: str
    customer_id: str
    variant: str
    status: Literal["pending", "sent", "failed", "suppressed"]
    attempts: int
    last_error: str | None
    created: Time
    sent_at: Time | None


class EmailSendListOut(Page[EmailSendOut]):
    pass


class SuppressionOut(_Out):
    object: Literal["email_suppression"]
    customer_id: str
    reason: Literal["unsubscribed", "admin"]
    at: Time


class SuppressionListOut(Page[SuppressionOut]):
    pass


class OfferListOut(Page[OfferOut]):
    pass


class ArmResultOut(_Out):
    arm: str = Field(description="a variant's key, or `holdout`")
    control: bool
    exposed: int
    clicked: int
    accepted: int
    paid: int
    revenue: dict[str, int] = Field(description="currency → expansion MRR in minor units")
    conversion_rate: float | None
    interval_95: Annotated[list[float], Field(min_length=2, max_length=2)] | None
    p_value_vs_control: float | None = Field(
        description="two-proportion z-test: valid at one look, at a sample size fixed in advance"
    )
    always_valid_p_value: float | None = Field(
        description="mSPRT (tau 0.02) against the control: valid however often it is read"
    )
    probability_beats_control: float | None
    lift_vs_holdout: float | None


class OfferResultsOut(_Out):
    object: Literal["offer_results"]
    offer_id: str
    metric: Literal["paid conversions / exposed customers"]
    arms: list[ArmResultOut]
    warning: str | None


class AudienceEligibleOut(_Out):
    total: int  # pass every gate now
    held_out: int  # of those, in the experiment's holdout
    by_placement: dict[str, int]  # of the others, shown the offer at each placement now


class OfferAudienceOut(_Out):
    object: Literal["offer_audience"]
    offer_id: str | None  # None for a draft sent without an id
    at: Time
    considered: int  # every customer with a record
    eligible: AudienceEligibleOut
    excluded: dict[str, int]  # the first gate that keeps each other customer out


class GateOut(_Out):
    gate: str
    passed: bool
    detail: str
    rule: str | None  # a targeting rule's JSON path


class OfferExplanationOut(_Out):
    object: Literal["offer_explanation"]
    offer_id: str
    customer: str
    placement: str | None
    at: Time
    eligible: bool
    shown: bool  # eligible and not in the holdout
    variant: str | None  # the variant key, "holdout", or None when not eligible
    gates: list[GateOut]


class AuditEntryOut(_Out):
    object: Literal["audit_entry"]
    id: Annotated[str, Field(pattern=r"^audit_[0-9]+$")]
    actor: str
    action: str
    target: str | None
    detail: dict[str, Any]
    created: Time


class AuditListOut(Page[AuditEntryOut]):
    pass


# Upgrades and metrics -----------------------------------------------------------------------


class ItemOut(_Out):
    price: str
    quantity: int


class AdminUpgradeOut(_Out):
    object: Literal["upgrade"]
    id: str
    status: UpgradeStatus
    customer: str = Field(description="the Stripe customer")
    customer_id: str | None = Field(
        description="the SaaS's own id for that customer (PUT /api/v1/customers/{id}), if known"
    )
    offer_id: str | None
    variant: str | None
    quote_id: str
    execution: Execution
    subscription: str
    from_: ItemOut = Field(alias="from")
    to: ItemOut
    currency: Currency
    amount_quoted: Amount
    amount_paid: Amount | None
    mrr_delta: Amount
    invoice: str | None
    failure_reason: str | None
    effective_at: Time
    created: Time
    updated: Time


class AdminUpgradeListOut(Page[AdminUpgradeOut]):
    pass


class FigureOut(_Out):
    """A number with how it was computed; null when it is undefined (nothing to divide by)."""

    value: int | float | None
    numerator: int | float
    denominator: int | None
    note: str


class TimeToUpsellOut(_Out):
    median: FigureOut
    p90: FigureOut


class OfferMetricsOut(_Out):
    offer_id: str
    variant: str | None
    upgrades: int
    expansion_mrr: dict[str, int] = Field(description="currency → minor units")


class FunnelStepOut(_Out):
    offer_id: str
    variant: str
    exposed: int
    clicked: int
    accepted: int
    paid: int
    conversion: FigureOut


# `GET /api/v1/admin/metrics`: two families of figures named apart. `business` holds the shop's
# figures over every movement of the MRR ledger, whatever caused it; `uplift` what Uplift itself
# did (its offers, its upgrades, what the ledger credits to them); plugin/metrics/revenue.py
# defines each figure. The top-level `currencies`, `upsell_conversion`, `time_to_upsell_days`,
# `by_offer` and `funnel` are the shape before the families (0.x), kept for existing clients
# and deprecated.


class BusinessCurrencyOut(_Out):
    """One currency's business figures; money in its minor units."""

    mrr_start: Amount
    mrr_end: Amount
    new_mrr: Amount
    expansion_mrr: Amount
    contraction_mrr: Amount
    churned_mrr: Amount
    reactivation_mrr: Amount
    net_new_mrr: Amount
    ndr: FigureOut
    arpu_start: FigureOut
    arpu_end: FigureOut
    average_upgrade_value: FigureOut
    cross_sell_recurring: Amount
    cross_sell_one_off: Amount
    upgrades: int = Field(description="plan-ladder expansions in the ledger, in the period")


class RateIntervalOut(_Out):
    """A rate and its 95 % interval (Wilson, on the counts beside it)."""

    value: float | int | None
    low: float | int | None
    high: float | int | None


class LtvValueOut(_Out):
    value: Amount | None = Field(description="null when it cannot be estimated (`reason`)")
    low: Amount | None = Field(description="ARPU x margin / the monthly churn rate's high end")
    high: Amount | None = Field(
        description="ARPU x margin / the monthly churn rate's low end; null when unbounded"
    )
    reason: str | None


class LtvGroupOut(_Out):
    customers: int = Field(description="customers paying at the period's start (at risk)")
    churned: int = Field(description="of them, not paying at its end")
    churn_rate: FigureOut = Field(description="churned / customers, over the period")
    monthly_churn_rate: RateIntervalOut
    arpu: FigureOut = Field(description="MRR at end / customers paying at end (minor units)")
    ltv: LtvValueOut


class LtvUpliftOut(_Out):
    difference: Amount | None = Field(description="upgraded LTV - not-upgraded LTV")
    ratio: FigureOut | None = Field(description="upgraded LTV / not-upgraded LTV")
    reason: str | None


class LtvCurrencyOut(_Out):
    upgraded: LtvGroupOut
    not_upgraded: LtvGroupOut
    uplift: LtvUpliftOut


class LtvOut(_Out):
    """LTV = ARPU x gross margin / monthly churn rate, per currency (plugin/metrics/ltv.py)."""

    gross_margin: FigureOut = Field(description="UPLIFT_GROSS_MARGIN, in basis points")
    month_days: float = Field(description="the month the churn rate is per: 365.25 / 12 days")
    currencies: dict[str, LtvCurrencyOut]


class BusinessOut(_Out):
    upsell_conversion: FigureOut
    upgraded_customers: FigureOut
    time_to_upsell_days: TimeToUpsellOut
    cross_sell_rate: FigureOut
    currencies: dict[str, BusinessCurrencyOut]
    attach_rate: dict[str, dict[str, FigureOut]] = Field(
        description="currency → add-on product → customers holding it / paying customers, at end"
    )
    ltv: LtvOut
    definitions: dict[str, str] = Field(description="figure name → its one-line definition")


class UpliftCurrencyOut(_Out):
    upgrades: int = Field(description="succeeded upgrades Uplift executed in the period")
    average_upgrade_value: FigureOut
    attributed_expansion_mrr: Amount


class LiftOut(_Out):
    """One offer's customers shown it against those its experiment held out."""

    offer_id: str
    treated: FigureOut
    held_out: FigureOut
    difference: float | int | None = Field(
        description="treated rate - held-out rate; null when either has nobody"
    )


class UpliftOut(_Out):
    upsell_conversion: FigureOut
    offer_conversion: FigureOut
    currencies: dict[str, UpliftCurrencyOut]
    lift: list[LiftOut]
    by_offer: list[OfferMetricsOut]
    funnel: list[FunnelStepOut]
    definitions: dict[str, str] = Field(description="figure name → its one-line definition")


class MetricsOut(_Out):
    object: Literal["metrics"]
    from_: Time = Field(alias="from")
    to: Time
    business: BusinessOut
    uplift: UpliftOut
    currencies: dict[str, BusinessCurrencyOut] = Field(
        description="deprecated: business.currencies"
    )
    upsell_conversion: FigureOut = Field(description="deprecated: business.upsell_conversion")
    time_to_upsell_days: TimeToUpsellOut = Field(
        description="deprecated: business.time_to_upsell_days"
    )
    by_offer: list[OfferMetricsOut] = Field(description="deprecated: uplift.by_offer")
    funnel: list[FunnelStepOut] = Field(description="deprecated: uplift.funnel")


# `GET /api/v1/admin/metrics/cohorts` (plugin/metrics/cohorts.py defines each figure).


class CohortCellOut(_Out):
    month: int = Field(description="months since the signup month (0 is that month)")
    at: Time = Field(description="when it is measured: the month's end, or the period's")
    complete: bool = Field(description="whether the month had ended by `at`")
    value: float | int | None = Field(description="numerator / denominator; null over 0")
    numerator: int
    denominator: int


class CohortOut(_Out):
    cohort: str = Field(pattern=r"^[0-9]{4}-[0-9]{2}$", description="the signup month, UTC")
    start: Time = Field(description="its signups are in [start, end)")
    end: Time
    customers: int
    months: list[CohortCellOut]


class CohortsOut(_Out):
    object: Literal["cohorts"]
    kind: str = Field(pattern=r"^(mrr|feature:.+)$")
    from_: Time = Field(alias="from")
    to: Time
    currency: Currency | None = Field(description="the one currency asked for, or null: all")
    features: list[str] = Field(description="the gated features `kind=feature:<name>` takes")
    currencies: dict[str, list[CohortOut]] = Field(
        description="currency → its cohorts, oldest first"
    )
    definitions: dict[str, str] = Field(description="figure name → its one-line definition")


class BucketOut(_Out):
    start: Time
    end: Time


class TimeseriesOut(_Out):
    object: Literal["timeseries"]
    metric: SeriesMetric
    interval: BucketSize
    from_: Time = Field(alias="from")
    to: Time
    buckets: list[BucketOut]
    currencies: dict[str, list[int]] = Field(description="currency → one value per bucket")


# Customers ----------------------------------------------------------------------------------


class CustomerOut(_Out):
    object: Literal["customer"]
    id: str
    stripe_customer: str | None
    attrs: dict[str, str | int | bool]
    signup_at: Time | None
    created: Time
    updated: Time


class CustomerListOut(Page[CustomerOut]):
    pass


class CustomerPlanOut(_Out):
    id: str
    name: str
    tier: int


class FeatureUseOut(_Out):
    feature: str
    hits: int
    last_at: Time


class OfferHistoryOut(_Out):
    offer_id: str
    variant: str | None  # the recorded arm (a variant key or "holdout"), None before exposure
    impressions: int  # in the last 90 days
    last_impression_at: Time | None
    dismissed_at: Time | None
    declined_at: Time | None
    declines: int
    accepted_at: Time | None


class CustomerDetailOut(_Out):
    object: Literal["customer_detail"]
    customer: CustomerOut
    plan: CustomerPlanOut | None
    interval: str | None
    subscription: str | None
    currency: str | None
    limits: dict[str, int | None]
    usage: dict[str, int]
    features: list[FeatureUseOut]
    offers: list[OfferHistoryOut]
    upgrades: list[AdminUpgradeOut]


class UsageOut(_Out):
    object: Literal["usage"]
    customer: str
    metric: str
    value: int = Field(description="the metric's value after the report")
    replayed: bool = Field(description="answered from an earlier request with the same key")


class FeatureEventOut(_Out):
    object: Literal["feature_event"]
    customer: str
    feature: str
    at: Time


class EventOut(_Out):
    object: Literal["event"]
    customer: str
    event: str
    count: int = Field(description="occurrences added to the event's count for its day")
    occurred_at: Time
    replayed: bool = Field(description="answered from an earlier request with the same key")


class EntitledPlanOut(_Out):
    id: str
    name: str
    tier: int


class EntitledTrialOut(_Out):
    id: str
    offer_id: str
    plan: str
    starts_at: Time
    ends_at: Time


class EntitlementsOut(_Out):
    object: Literal["entitlements"]
    customer: str
    plan: EntitledPlanOut | None
    interval: Interval | None
    limits: dict[str, int | None] = Field(description="metric → cap; null: unlimited")
    features: list[str]
    usage: dict[str, int]
    trial: EntitledTrialOut | None


# The widget ---------------------------------------------------------------------------------


class WidgetPriceOut(_Out):
    price: str
    currency: Currency
    unit_amount: Amount
    display: Display
    interval: Interval | None
    interval_count: int
    discounted_amount: Amount | Absent = Field(default=None, description="with a discount")
    discounted_display: Display | Absent = Field(default=None, description="with a discount")
    discount_months: int | None = Field(
        default=None, description="with a discount: how many months (null: once)"
    )
    saving: WidgetSavingOut | Absent = Field(
        default=None,
        description="an interval switch to a yearly price: what it saves against twelve"
        " payments of the same plan's monthly price",
    )


class WidgetWordsOut(RootModel[dict[str, str]]):
    """A catalogue of the widget's words: a string per key of its `STRINGS`."""


class WidgetSavingOut(_Out):
    amount: Amount
    display: Display
    free_months: int | None = Field(
        description="the saving as a whole number of monthly payments, if it is one"
    )


class WidgetUsageOut(_Out):
    metric: str
    used: int
    limit: int


class WidgetOfferOut(_Out):
    object: Literal["widget_offer"]
    offer_id: str
    kind: offers.Kind
    variant: str
    copy_: CopyOut = Field(alias="copy")
    prices: list[WidgetPriceOut]
    discount: OfferDiscountOut | None
    trial_days: int | None
    ends_at: Time | None
    countdown_seconds: int | None = Field(description="seconds left until `ends_at`, if shown")
    usage: WidgetUsageOut | None
    reasons: list[ReasonOut] = Field(
        description="what the customer may answer on declining or dismissing (empty: none asked)"
    )
    survey: SurveyOut | None = Field(description="a survey offer's question")


class LimitLossOut(_Out):
    metric: str
    used: int | None
    current_limit: int | None = Field(description="null: unlimited")
    new_limit: int
    over: bool


class FeatureLossOut(_Out):
    feature: str
    uses: int | None
    last_used_at: Time | None


class DowngradeOut(_Out):
    from_plan: str
    from_plan_name: str
    to_plan: str
    to_plan_name: str
    limits: list[LimitLossOut]
    features: list[FeatureLossOut]


class OfferPreviewOut(_Out):
    object: Literal["offer_preview"]
    customer: str
    placement: str | None
    offer: WidgetOfferOut  # exactly the widget's document for it, in `variant`
    eligible: bool  # once active: whether this customer passes every gate now
    shown: bool  # eligible and not in the holdout
    gates: list[GateOut]
    quote: QuoteOut | TrialQuoteOut | None = Field(
        description="what POST /api/v1/widget/quotes would answer for it now (not stored; "
        "quote_id `qt_preview`), or null with `quote_unavailable` saying why"
    )
    quote_unavailable: str | None


class WidgetOfferListOut(Page[WidgetOfferOut]):
    """The offers to show now, all of them; with `to_plan`, also `downgrade`."""

    has_more: Literal[False]
    downgrade: DowngradeOut | None = Field(
        default=None,
        description="only with `to_plan`: what that plan takes away (null: not a lower tier)",
    )


class WidgetEventOut(_Out):
    object: Literal["widget_event"]
    offer_id: str
    variant: str
    type: WidgetEventType
    at: Time


class WidgetPlanPriceOut(_Out):
    price: str
    currency: Currency
    unit_amount: Amount
    interval: Interval
    interval_count: int
    current: bool = Field(
        description="the customer's plan billed at this interval (every 1 `interval`)"
    )


class WidgetYearlySavingOut(_Out):
    amount: Amount
    free_months: int | None = Field(
        description="the saving as a whole number of monthly payments, if it is one"
    )


class WidgetPlanOut(_Out):
    object: Literal["widget_plan"]
    id: str
    name: str
    tier: int
    features: list[str]
    limits: dict[str, int | None] = Field(description="metric → cap; null: unlimited")
    current: bool = Field(description="the customer's plan")
    prices: list[WidgetPlanPriceOut] = Field(
        description="its active recurring per-unit prices, in the customer's currency when"
        " they have a live subscription (every currency otherwise); empty: none to show"
    )
    yearly_saving: WidgetYearlySavingOut | None = Field(
        description="its first yearly price against twelve payments of its first monthly"
        " price in the same currency, listed above; null without both, or no saving"
    )


class PlanLadderOut(_Out):
    """The plan ladder for the widget's pricing table, by tier, with the customer's place."""

    object: Literal["plan_ladder"]
    currency: Currency | None = Field(
        description="what the customer's live subscription bills in; null: none"
    )
    current_plan: str | None
    current_interval: Interval | None
    plans: list[WidgetPlanOut]


class PeriodOut(_Out):
    start: Time
    end: Time


class QuoteLineOut(_Out):
    type: Literal["credit", "debit", "subscription"] = Field(
        description="credit: unused time on the old item; debit: remaining time on the new;"
        " subscription: a new period billed in full (for a widget that words the line itself)"
    )
    product: str | None = Field(description="the line's product name, when known")
    amount: Amount
    display: Display
    description: str = Field(description="Stripe's wording, in English")
    period: PeriodOut
    proration: bool
    price: str
    quantity: int
    discount_amount: Amount = Field(description="included in `amount`")


class QuoteDiscountOut(_Out):
    percent_off: int | None
    amount_off: int | None
    duration_months: int | None
    ends_at: Time | None = Field(description="when the coupon stops (null: once)")
    amount_off_now: Amount = Field(description="what it takes off today's invoice")


class QuoteOut(_Out):
    """A plan change (`change`) or add-ons added to the subscription (`add`)."""

    object: Literal["quote"]
    quote_id: str
    offer_id: str
    variant: str
    currency: Currency
    lines: list[QuoteLineOut]
    amount_due_now: Amount
    amount_due_now_display: Display
    invoice_total: Amount
    next_invoice_amount: Amount | None
    next_invoice_amount_display: Display | None
    next_invoice_at: Time
    recurring_amount: Amount | None = Field(description="full price per period")
    discount: QuoteDiscountOut | None
    next_renewal_at: Time | None
    applies: Timing
    expires_at: Time
    kind: QuoteKind
    added: list[ItemOut]


class TrialPlanOut(_Out):
    id: str
    name: str


class TrialQuoteOut(_Out):
    """A trial: nothing to charge; `quote_id` is a signed statement of what it gives."""

    object: Literal["quote"]
    quote_id: str
    offer_id: str
    variant: str
    kind: Literal["trial"]
    currency: Currency
    lines: Annotated[list[QuoteLineOut], Field(max_length=0)]
    amount_due_now: Literal[0]
    amount_due_now_display: Display
    invoice_total: Literal[0]
    next_invoice_amount: None
    trial_days: int
    plan: TrialPlanOut
    applies: Literal["now"]
    expires_at: Time


class QuoteAnswerOut(RootModel[Annotated[QuoteOut | TrialQuoteOut, Field(discriminator="kind")]]):
    """`POST /api/v1/widget/quotes`: a price quote or a trial's."""

    model_config = ConfigDict(frozen=True, strict=True)


class UpgradeOut(_Out):
    """An upgrade as the customer sees it."""

    object: Literal["upgrade"]
    id: str
    status: PublicUpgradeStatus
    offer_id: str | None
    variant: str | None
    currency: Currency
    amount_quoted: Amount
    amount_paid: Amount | None
    effective_at: Time
    hosted_invoice_url: str | None = Field(
        default=None, description="only while `requires_action`: where the customer pays"
    )
    failure_reason: str | None = Field(default=None, description="only when `failed`")


class TrialOut(_Out):
    """An accepted trial quote: the trial runs from `starts_at` to `ends_at`."""

    object: Literal["trial"]
    id: str
    status: Literal["succeeded"]
    offer_id: str
    variant: str
    plan: str
    starts_at: Time
    ends_at: Time


class AcceptAnswerOut(RootModel[Annotated[UpgradeOut | TrialOut, Field(discriminator="object")]]):
    """`POST /api/v1/widget/accept`: the upgrade, or the trial granted."""

    model_config = ConfigDict(frozen=True, strict=True)
