"""Stripe event payloads as each pinned API version sends them, for the fields Uplift reads.

Stripe renders an event in the API version its webhook endpoint is pinned to, so Uplift meets
every shape from 2016-era endpoints to today's. Each era module (`era_2013`, `era_2016`,
`era_2018`, `era_2020`, `era_basil`) builds the payloads of its versions as Python dicts and puts
the source of every shape fact in a `# source:` comment beside it (Stripe's changelog or its
API reference for that version); a fact that no page states and that Uplift therefore only
tolerates is marked `# assumed:`. Python modules rather than JSON, so the sources sit next to
the fields they explain and the shared envelope is written once. The payloads are written for
Uplift, not copied from any project.

Every `Case` says what processing it must leave behind (`Expect`): `tests/webhooks/test_corpus.py`
runs each through `parse_event` and the handler `dispatch.HANDLERS` names for its type.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tests.support import NOW

CUSTOMER = "cus_corpus"
PERIOD = (NOW - 10 * 86400, NOW + 20 * 86400)
DAY = 86400


@dataclass(frozen=True)
class Mirror:
    """The mirrored subscription: its status, MRR (minor units), item ids and their products
    (None: unknown to the payload)."""

    status: str
    mrr: int
    items: tuple[str, ...]
    products: tuple[str | None, ...] | None = None
    currency: str = "usd"
    period: tuple[int, int] | None = PERIOD


@dataclass(frozen=True)
class CatalogPrice:
    id: str
    product_id: str
    unit_amount: int | None
    billing_scheme: str = "per_unit"
    tiers: int | None = None  # how many tiers the catalog knows (None: not known)
    usage_type: str = "licensed"
    active: bool = True
    monthly: int | None = None  # Price.monthly_amount() for quantity 1, when it has one


@dataclass(frozen=True)
class CatalogProduct:
    id: str
    name: str
    active: bool = True


@dataclass(frozen=True)
class Order:
    """The order a first invoice or a Checkout session records (None: this one records none);
    `subscription_id` is also what the handler read as the invoice's subscription."""

    key: str | None
    amount_total: int | None = None
    subscription_id: str | None = None


@dataclass(frozen=True)
class Refused:
    """`parse_event` or the handler raises `EventError` with `code` and a message containing
    `says`: a payload that can never be processed."""

    says: str
    code: str = "unexpected_object"


Expect = Mirror | CatalogPrice | CatalogProduct | Order | Refused


@dataclass(frozen=True)
class Case:
    name: str
    version: str
    document: dict[str, Any]
    expect: Expect
    tags: frozenset[str] = field(default_factory=frozenset)

    @property
    def id(self) -> str:
        return f"{self.version}-{self.name}"

    @property
    def type(self) -> str:
        return str(self.document["type"])


def envelope(
    version: str, type: str, obj: dict[str, Any], *, id: str, legacy_request: bool = False
) -> dict[str, Any]:
    """An event around `obj`, as API version `version` wraps it."""
    return {
        "id": id,
        "object": "event",
        "api_version": version,
        "created": NOW,
        "data": {"object": obj},
        "livemode": False,
        "pending_webhooks": 1,
        # source: https://docs.stripe.com/changelog/2017-05-25 (the event's `request` became an
        # object with `id` and `idempotency_key`; before, it was the request id as a string)
        "request": "req_corpus" if legacy_request else {"id": None, "idempotency_key": None},
        "type": type,
    }


def all_cases() -> list[Case]:
    from tests.webhooks.corpus import era_2013, era_2016, era_2018, era_2020, era_basil

    cases = [
        case
        for module in (era_2013, era_2016, era_2018, era_2020, era_basil)
        for case in module.cases()
    ]
    ids = [case.id for case in cases]
    duplicates = {i for i in ids if ids.count(i) > 1}
    if duplicates:
        raise ValueError(f"corpus case ids must be unique: {sorted(duplicates)}")
    return cases
