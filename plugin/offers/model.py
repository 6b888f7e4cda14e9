"""Offers as values: what is offered, to whom, when, how often, and in which variants.

An `Offer` is a frozen value checked once, when it is built: storage rebuilds offers from rows
with the same constructor, so an invalid offer can never be loaded into the eligibility
snapshot. The rules per kind:

    kind             target prices        also
    upgrade          1 (a higher tier)    proration now | period_end | stripe
    interval_switch  1 (the longer one)   e.g. monthly -> annual, billed now with credit
    cross_sell       1 add-on price       added to the existing subscription
    post_order       1 add-on price       shown within `order` minutes after an order
    bundle           2..10 add-on prices  usually with a discount
    trial            1 (the tier tried)   `trial_days` 1..90, converts only with consent
    retention        0..1                 shown on downgrade/cancel; optional discount
    survey           0                    one question (`survey`): choices or a 1-5 scale

Copy is data: titles and bodies are stored and sent as text and rendered with `textContent`;
"<b>" in a title is shown as the four characters it is.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from plugin.email import templates
from plugin.errors import InvalidDocument
from plugin.offers import targeting
from plugin.offers.experiments import Design, ExperimentError, Variant, assign
from plugin.offers.schedule import FrequencyCap, ScheduleError, Window
from plugin.offers.targeting import EVERYONE, Predicate, Rule

Kind = Literal[
    "upgrade",
    "interval_switch",
    "cross_sell",
    "post_order",
    "bundle",
    "trial",
    "retention",
    "survey",
]
SurveyType = Literal["choice", "scale"]
SurveyDisplay = Literal["banner", "modal"]
Status = Literal["draft", "active", "paused", "archived"]
ProrationPolicy = Literal["now", "period_end", "stripe"]
Placement = str  # chosen by the SaaS: "settings_billing", "storage_banner", "post_order", …

MAX_TITLE = 120
MAX_BODY = 1000
MAX_CTA = 40
MAX_PLACEMENTS = 20
MAX_REASONS = 10
MAX_REASON_TEXT = 500  # characters of free text a customer may add to a reason
ARMS_KEPT = 100_000  # customers whose arm one offer remembers in one process
_TARGETS: dict[str, tuple[int, int]] = {
    "upgrade": (1, 1),
    "interval_switch": (1, 1),
    "cross_sell": (1, 1),
    "post_order": (1, 1),
    "bundle": (2, 10),
    "trial": (1, 1),
    "retention": (0, 1),
    "survey": (0, 0),
}
MAX_QUESTION = 200
MAX_EMAIL = 20_000  # characters of an email body template
SCALE = (1, 5)  # a scale answer's lowest and highest score


class OfferError(InvalidDocument):
    """An offer that cannot exist; `field` is the path of the offending value."""

    field: str

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message, field=field)


@dataclass(frozen=True, slots=True)
class LocalCopy:
    """A variant's copy in another language (`language`: an ISO 639-1 code, "ko"); a field
    left None falls back to the variant's own copy."""

    language: str
    title: str | None = None
    body: str | None = None
    cta: str | None = None
    decline: str | None = None

    def document(self) -> dict[str, str]:
        fields = {"title": self.title, "body": self.body, "cta": self.cta}
        fields["decline"] = self.decline
        return {name: value for name, value in fields.items() if value is not None}


MAX_LOCALES = 20
LANGUAGE = re.compile(r"^[a-z]{2}$")


@dataclass(frozen=True, slots=True)
class Copy:
    title: str
    body: str = ""
    cta: str = "Upgrade"
    decline: str = "No thanks"
    # The same words in other languages: the widget shows a customer whose language it is
    # each field given there instead (issue 23).
    locales: tuple[LocalCopy, ...] = ()

    def locales_document(self) -> dict[str, dict[str, str]]:
        return {local.language: local.document() for local in self.locales}


def load_copy(doc: Mapping[str, Any]) -> Copy:
    """A variant's `copy` as documented (`locales`: language → the fields given)."""
    locales = tuple(
        LocalCopy(language, **fields) for language, fields in (doc.get("locales") or {}).items()
    )
    return Copy(**{k: v for k, v in doc.items() if k != "locales"}, locales=locales)


@dataclass(frozen=True, slots=True)
class Reason:
    """A reason a customer may give for declining or dismissing (or, on the retention screen,
    for downgrading): a stable `key` the SaaS's systems read, a `label` the customer sees."""

    key: str
    label: str


@dataclass(frozen=True, slots=True)
class Survey:
    """A survey offer's one question: a choice among `choices` (their keys are the answers),
    or a score on the 1-5 scale; `comment`: the customer may add free text."""

    question: str
    type: SurveyType = "choice"
    choices: tuple[Reason, ...] = ()
    comment: bool = False
    display: SurveyDisplay = "banner"


# What an offer's email copy may say, Jinja2 variables filled in for each customer
# (plugin/email/campaign.py): the customer's, the offer's copy as the widget shows it, the plan,
# the first price, the usage its rule reads, and the two links.
EMAIL_VARIABLES = (
    "customer_id", "name", "email", "title", "body", "cta", "plan", "price", "metric", "used",
    "limit", "trial_days", "link", "unsubscribe_url",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class EmailChannel:
    """An offer's lifecycle email: sent once to each customer when its targeting first holds
    for them. `link_url` is the SaaS's page the email links to; the link adds a signed
    `uplift_offer` parameter there that opens this offer's modal."""

    subject: str
    text: str
    html: str = ""
    link_url: str = ""


@dataclass(frozen=True, slots=True)
class OfferVariant:
    key: str
    copy: Copy
    weight: int = 1


@dataclass(frozen=True, slots=True)
class Discount:
    """A Stripe coupon to apply: percent (1..100) or an amount in the price's currency."""

    percent_off: int | None = None
    amount_off: int | None = None  # minor units of the target price's currency
    duration_months: int | None = None  # None: once (the first invoice); else repeating

    def __post_init__(self) -> None:
        if (self.percent_off is None) == (self.amount_off is None):
            raise OfferError("a discount is a percent or an amount, exactly one", field="discount")
        if self.percent_off is not None and not 1 <= self.percent_off <= 100:
            raise OfferError("percent_off must be 1..100", field="discount.percent_off")
        if self.amount_off is not None and self.amount_off <= 0:
            raise OfferError("amount_off must be positive", field="discount.amount_off")
        if self.duration_months is not None and not 1 <= self.duration_months <= 36:
            raise OfferError("duration_months must be 1..36", field="discount.duration_months")

    def apply(self, amount: int) -> int:
        """The discounted amount in minor units, rounded half away from zero, never below 0."""
        if self.percent_off is not None:
            off = (abs(amount) * self.percent_off * 2 + 100) // 200
            return max(0, amount - off) if amount >= 0 else amount + off
        return max(0, amount - (self.amount_off or 0))


@dataclass(frozen=True, slots=True)
class Offer:
    id: str
    name: str
    kind: Kind
    variants: tuple[OfferVariant, ...]
    target_prices: tuple[str, ...] = ()
    placements: tuple[Placement, ...] = ()
    status: Status = "draft"
    priority: int = 0  # higher first
    proration: ProrationPolicy = "now"
    discount: Discount | None = None
    trial_days: int | None = None
    targeting: Rule = EVERYONE
    window: Window = field(default_factory=Window)
    frequency: FrequencyCap = field(default_factory=FrequencyCap)
    holdout_bp: int = 0
    reasons: tuple[Reason, ...] = ()
    survey: Survey | None = None
    email: EmailChannel | None = None
    # Built once from `variants`, `holdout_bp` and `targeting`: eligibility asks for them on
    # every request.
    design: Design = field(init=False, repr=False, compare=False)
    matches: Predicate = field(init=False, repr=False, compare=False)
    by_key: dict[str, OfferVariant] = field(init=False, repr=False, compare=False)
    _arms: dict[str, str] = field(init=False, repr=False, compare=False)  # see `arm_for`
    # `live(now)` as plain values: active, and the window as [opens, closes) in unix seconds
    active: bool = field(init=False, repr=False, compare=False)
    opens: int | float = field(init=False, repr=False, compare=False)
    closes: int | float = field(init=False, repr=False, compare=False)
    # Every span of time its targeting and frequency cap measure (`eligibility.stable_until`)
    spans: frozenset[int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.kind not in get_args(Kind):
            raise OfferError(f"kind must be one of {list(get_args(Kind))}", field="kind")
        if self.status not in get_args(Status):
            raise OfferError(f"status must be one of {list(get_args(Status))}", field="status")
        if self.proration not in get_args(ProrationPolicy):
            raise OfferError(
                f"proration must be one of {list(get_args(ProrationPolicy))}", field="proration"
            )
        _text(self.name, "name", 1, MAX_TITLE)
        low, high = _TARGETS[self.kind]
        if not low <= len(self.target_prices) <= high:
            want = str(low) if low == high else f"{low} to {high}"
            raise OfferError(
                f"a {self.kind} offer takes {want} target prices", field="target_prices"
            )
        if len(set(self.target_prices)) != len(self.target_prices):
            raise OfferError("target prices must be distinct", field="target_prices")
        for i, price in enumerate(self.target_prices):
            if not price.startswith("price_"):
                raise OfferError(f"{price!r} is not a Stripe price id", field=f"target_prices[{i}]")
        if not self.placements or len(self.placements) > MAX_PLACEMENTS:
            raise OfferError(f"an offer needs 1 to {MAX_PLACEMENTS} placements", field="placements")
        for i, placement in enumerate(self.placements):
            _text(placement, f"placements[{i}]", 1, 64)
        if self.kind == "trial":
            if self.trial_days is None or not 1 <= self.trial_days <= 90:
                raise OfferError("a trial offer needs trial_days 1..90", field="trial_days")
        elif self.trial_days is not None:
            raise OfferError("only trial offers have trial_days", field="trial_days")
        if self.kind == "trial" and self.discount is not None:
            # A trial charges nothing now and its conversion is not Uplift's to discount: a
            # discount shown on it would be a price the customer is not then charged.
            raise OfferError("a trial offer cannot carry a discount", field="discount")
        if len(self.reasons) > MAX_REASONS:
            raise OfferError(f"at most {MAX_REASONS} reasons", field="reasons")
        for i, reason in enumerate(self.reasons):
            _text(reason.key, f"reasons[{i}].key", 1, 32)
            _text(reason.label, f"reasons[{i}].label", 1, MAX_CTA * 2)
        if len({r.key for r in self.reasons}) != len(self.reasons):
            raise OfferError("reason keys must be distinct", field="reasons")
        _check_survey(self.kind, self.survey)
        _check_email(self.email)
        if not -1000 <= self.priority <= 1000:
            raise OfferError("priority must be -1000..1000", field="priority")
        for i, variant in enumerate(self.variants):
            here = f"variants[{i}]"
            _text(variant.key, f"{here}.key", 1, 32)
            _text(variant.copy.title, f"{here}.copy.title", 1, MAX_TITLE)
            _text(variant.copy.body, f"{here}.copy.body", 0, MAX_BODY)
            _text(variant.copy.cta, f"{here}.copy.cta", 1, MAX_CTA)
            _text(variant.copy.decline, f"{here}.copy.decline", 1, MAX_CTA)
            _check_locales(variant.copy.locales, f"{here}.copy.locales")
        try:
            design = Design(
                tuple(Variant(v.key, v.weight) for v in self.variants), holdout_bp=self.holdout_bp
            )
        except ExperimentError as exc:
            raise OfferError(str(exc), field=exc.field) from None
        object.__setattr__(self, "design", design)
        object.__setattr__(self, "matches", targeting.compile_rule(self.targeting))
        object.__setattr__(self, "by_key", {v.key: v for v in self.variants})
        object.__setattr__(self, "_arms", {})
        object.__setattr__(self, "active", self.status == "active")
        starts, ends = self.window.starts_at, self.window.ends_at
        object.__setattr__(self, "opens", float("-inf") if starts is None else starts)
        object.__setattr__(self, "closes", float("inf") if ends is None else ends)
        cap = self.frequency
        spans = (cap.per_seconds, cap.dismiss_cooldown, cap.decline_cooldown)
        object.__setattr__(self, "spans", frozenset((*targeting.spans(self.targeting), *spans)))

    def variant(self, key: str) -> OfferVariant | None:
        return self.by_key.get(key)

    def reason(self, key: str) -> Reason | None:
        return next((r for r in self.reasons if r.key == key), None)

    def arm_for(self, customer_id: str) -> str:
        """`experiments.assign` for this offer's design, remembered (up to `ARMS_KEPT`
        customers): the offers endpoint asks again on every request for each eligible offer
        whose arm is not recorded yet, and one that was eligible but not shown (better offers
        filled the slots) is never recorded. New weights make a new `Offer`, and a new memory."""
        arm = self._arms.get(customer_id)
        if arm is None:
            if len(self._arms) >= ARMS_KEPT:
                self._arms.clear()
            arm = assign(self.design, offer_id=self.id, customer_id=customer_id)
            self._arms[customer_id] = arm
        return arm

    def forget_arms(self) -> None:
        """Empty the memory of `arm_for` (benchmarks measure the hashing itself)."""
        self._arms.clear()

    def live(self, now: int) -> bool:
        """Active and inside its schedule window at `now`."""
        return self.active and self.opens <= now < self.closes


def _check_survey(kind: str, survey: Survey | None) -> None:
    if (kind == "survey") != (survey is not None):
        raise OfferError("a survey offer, and only one, has a `survey`", field="survey")
    if survey is None:
        return
    _text(survey.question, "survey.question", 1, MAX_QUESTION)
    if survey.type not in get_args(SurveyType):
        raise OfferError(f"type must be one of {list(get_args(SurveyType))}", field="survey.type")
    if survey.display not in get_args(SurveyDisplay):
        raise OfferError(
            f"display must be one of {list(get_args(SurveyDisplay))}", field="survey.display"
        )
    if survey.type == "choice" and not 2 <= len(survey.choices) <= MAX_REASONS:
        raise OfferError(
            f"a choice question has 2 to {MAX_REASONS} choices", field="survey.choices"
        )
    if survey.type == "scale" and survey.choices:
        raise OfferError("a scale question has no choices", field="survey.choices")
    for i, choice in enumerate(survey.choices):
        _text(choice.key, f"survey.choices[{i}].key", 1, 32)
        _text(choice.label, f"survey.choices[{i}].label", 1, MAX_CTA * 2)
    if len({c.key for c in survey.choices}) != len(survey.choices):
        raise OfferError("choice keys must be distinct", field="survey.choices")


def _check_email(channel: EmailChannel | None) -> None:
    if channel is None:
        return
    copy = templates.EmailCopy(channel.subject, channel.text, channel.html)
    for name, problem in templates.validate(copy, EMAIL_VARIABLES):
        raise OfferError(problem, field=f"email.{name}")
    if len(channel.text) > MAX_EMAIL or len(channel.html) > MAX_EMAIL:
        raise OfferError(f"an email body is at most {MAX_EMAIL} characters", field="email")
    url = channel.link_url
    if (
        not url.startswith(("https://", "http://"))
        or len(url) > 500
        or any(c in url for c in ' <>"\n')
    ):
        raise OfferError(
            "link_url must be the http(s) URL of the page to open", field="email.link_url"
        )


def _check_locales(locales: tuple[LocalCopy, ...], here: str) -> None:
    if len(locales) > MAX_LOCALES:
        raise OfferError(f"at most {MAX_LOCALES} languages", field=here)
    if len({local.language for local in locales}) != len(locales):
        raise OfferError("each language once", field=here)
    for local in locales:
        at = f"{here}.{local.language}"
        if not LANGUAGE.match(local.language):
            raise OfferError("a language is a two-letter ISO 639-1 code (ko, fr)", field=here)
        for name, text, least, most in (
            ("title", local.title, 1, MAX_TITLE),
            ("body", local.body, 0, MAX_BODY),
            ("cta", local.cta, 1, MAX_CTA),
            ("decline", local.decline, 1, MAX_CTA),
        ):
            if text is not None:
                _text(text, f"{at}.{name}", least, most)


def _text(value: str, path: str, minimum: int, maximum: int) -> None:
    if not isinstance(value, str) or not minimum <= len(value) <= maximum:
        raise OfferError(f"must be {minimum} to {maximum} characters", field=path)
    if any(ord(ch) < 32 and ch not in "\n\t" for ch in value):
        raise OfferError("must not contain control characters", field=path)


# The stored document ---------------------------------------------------------------------------


def dump(offer: Offer) -> dict[str, Any]:
    """The offer as the JSON document stored in the database and returned by the admin API."""
    discount = offer.discount
    return {
        "id": offer.id,
        "name": offer.name,
        "kind": offer.kind,
        "status": offer.status,
        "priority": offer.priority,
        "placements": list(offer.placements),
        "target_prices": list(offer.target_prices),
        "proration": offer.proration,
        "discount": None
        if discount is None
        else {
            "percent_off": discount.percent_off,
            "amount_off": discount.amount_off,
            "duration_months": discount.duration_months,
        },
        "trial_days": offer.trial_days,
        "targeting": targeting.dump(offer.targeting),
        "schedule": {"starts_at": offer.window.starts_at, "ends_at": offer.window.ends_at},
        "frequency": {
            "max_impressions": offer.frequency.max_impressions,
            "per_seconds": offer.frequency.per_seconds,
            "dismiss_cooldown": offer.frequency.dismiss_cooldown,
            "decline_cooldown": offer.frequency.decline_cooldown,
            "max_declines": offer.frequency.max_declines,
        },
        "holdout_bp": offer.holdout_bp,
        "reasons": [{"key": r.key, "label": r.label} for r in offer.reasons],
        "survey": None if offer.survey is None else survey_document(offer.survey),
        "email": None
        if offer.email is None
        else {
            "subject": offer.email.subject,
            "text": offer.email.text,
            "html": offer.email.html,
            "link_url": offer.email.link_url,
        },
        "variants": [
            {
                "key": v.key,
                "weight": v.weight,
                "copy": {
                    "title": v.copy.title,
                    "body": v.copy.body,
                    "cta": v.copy.cta,
                    "decline": v.copy.decline,
                    **({"locales": v.copy.locales_document()} if v.copy.locales else {}),
                },
            }
            for v in offer.variants
        ],
    }


def survey_document(survey: Survey) -> dict[str, Any]:
    return {
        "question": survey.question,
        "type": survey.type,
        "choices": [{"key": c.key, "label": c.label} for c in survey.choices],
        "comment": survey.comment,
        "display": survey.display,
    }


def _load_survey(doc: dict[str, Any] | None) -> Survey | None:
    if doc is None:
        return None
    return Survey(
        question=doc["question"],
        type=doc.get("type", "choice"),
        choices=tuple(Reason(c["key"], c["label"]) for c in doc.get("choices", ())),
        comment=doc.get("comment", False),
        display=doc.get("display", "banner"),
    )


def load(doc: dict[str, Any]) -> Offer:
    """Rebuild an offer from its document; every rule in `Offer` is checked again."""
    discount = doc.get("discount")
    schedule_doc = doc.get("schedule") or {}
    frequency_doc = doc.get("frequency") or {}
    try:
        window = Window(schedule_doc.get("starts_at"), schedule_doc.get("ends_at"))
        frequency = FrequencyCap(**frequency_doc)
    except ScheduleError as exc:
        raise OfferError(str(exc), field=exc.field) from None
    try:
        rule = targeting.parse(doc.get("targeting", {"all": []}))
    except targeting.TargetingError as exc:
        raise OfferError(str(exc), field=exc.field) from None
    return Offer(
        id=doc["id"],
        name=doc["name"],
        kind=doc["kind"],
        status=doc["status"],
        priority=doc.get("priority", 0),
        placements=tuple(doc["placements"]),
        target_prices=tuple(doc.get("target_prices", ())),
        proration=doc.get("proration", "now"),
        discount=None if discount is None else Discount(**discount),
        trial_days=doc.get("trial_days"),
        targeting=rule,
        window=window,
        frequency=frequency,
        holdout_bp=doc.get("holdout_bp", 0),
        reasons=tuple(Reason(r["key"], r["label"]) for r in doc.get("reasons", ())),
        survey=_load_survey(doc.get("survey")),
        email=None if doc.get("email") is None else EmailChannel(**doc["email"]),
        variants=tuple(
            OfferVariant(key=v["key"], weight=v.get("weight", 1), copy=load_copy(v["copy"]))
            for v in doc["variants"]
        ),
    )
