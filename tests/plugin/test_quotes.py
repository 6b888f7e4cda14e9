"""Quote lifecycle: what a quote locks, when it expires, which changes it refuses."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from plugin import quotes, storage
from plugin.catalog import Price
from plugin.errors import Gone, NotFound, ValidationFailed
from plugin.quotes import SubscriptionState, Target
from plugin.storage import Database
from tests.support import NOW

DAY = 86400
START = NOW
END = NOW + 30 * DAY  # a 30-day period keeps the arithmetic readable

BASIC = Target(Price("price_basic", "prod_basic", "usd", 2900, "month"), "Basic")
PRO = Target(Price("price_pro", "prod_pro", "usd", 9900, "month"), "Pro")
PRO_ANNUAL = Target(Price("price_pro_y", "prod_pro", "usd", 99000, "year"), "Pro")
PRO_EUR = Target(Price("price_pro_eur", "prod_pro", "eur", 9900, "month"), "Pro")
STATE = SubscriptionState(
    subscription_id="sub_1",
    item_id="si_1",
    price="price_basic",
    quantity=1,
    period_start=START,
    period_end=END,
)


async def _create(db: Database, target: Target = PRO, **overrides: Any) -> quotes.QuoteRecord:
    args: dict[str, Any] = {
        "customer_id": "cus_1",
        "state": STATE,
        "current": BASIC,
        "target": target,
        "to_quantity": 1,
        "now": START + 15 * DAY,
    }
    args.update(overrides)
    return await quotes.create(db, **args)


async def test_quote_locks_t_lines_and_totals(db: Database) -> None:
    """Half-way through the period Basic ($29) → Pro ($99) credits $14.50, debits $49.50 and
    charges $35.00 now; the stored quote reads back exactly, bound to its subscription state."""
    quote = await _create(db)

    assert [line.amount for line in quote.lines] == [-1450, 4950]
    assert [line.description for line in quote.lines] == [
        "Unused time on Basic after 07 Dec 2026",
        "Remaining time on Pro after 07 Dec 2026",
    ]
    assert (quote.invoice_total, quote.amount_due_now, quote.mrr_delta) == (3500, 3500, 7000)
    assert (quote.proration_date, quote.expires_at) == (START + 15 * DAY, START + 15 * DAY + 600)
    assert (quote.execution, quote.timing) == ("uplift", "now")
    assert await storage.quotes.get(db, quote.id) == quote


async def test_quote_expires_after_its_ttl(db: Database) -> None:
    """A quote can be accepted until one second before `expires_at`; from then on it is 410."""
    quote = await _create(db, ttl=120)
    now = quote.created_at
    ok = await quotes.get_for_accept(db, quote_id=quote.id, customer_id="cus_1", now=now + 119)
    assert ok == quote
    with pytest.raises(Gone):
        await quotes.get_for_accept(db, quote_id=quote.id, customer_id="cus_1", now=now + 120)


async def test_quote_belongs_to_its_customer(db: Database) -> None:
    """Another customer's quote id is a 404, as is an unknown one."""
    quote = await _create(db)
    for customer, quote_id in (("cus_other", quote.id), ("cus_1", "qt_missing")):
        with pytest.raises(NotFound):
            await quotes.get_for_accept(
                db, quote_id=quote_id, customer_id=customer, now=quote.created_at
            )


async def test_any_change_to_the_subscription_makes_the_quote_stale(db: Database) -> None:
    """Item, price, quantity or period differing from the quoted state means stale."""
    quote = await _create(db)
    assert quotes.accepted_state_matches(quote, STATE)
    for changed in (
        replace(STATE, item_id="si_2"),
        replace(STATE, price="price_pro"),
        replace(STATE, quantity=2),
        replace(STATE, period_start=END, period_end=END + 31 * DAY),
    ):
        assert not quotes.accepted_state_matches(quote, changed)


async def test_downgrade_defaults_to_the_period_end_without_refund(db: Database) -> None:
    """Pro → Basic quotes no lines and nothing due, to apply at the period end; asked to apply
    now, it credits the unused difference (a negative total) instead."""
    pro_state = replace(STATE, price="price_pro")
    later = await _create(db, BASIC, state=pro_state, current=PRO)
    assert (later.timing, later.lines, later.amount_due_now) == ("period_end", (), 0)
    assert later.mrr_delta == -7000

    now = await _create(db, BASIC, state=pro_state, current=PRO, downgrade_timing="now")
    assert now.timing == "now"
    assert (now.invoice_total, now.amount_due_now) == (-3500, 0)


async def test_monthly_to_annual_bills_now_with_credit_and_is_left_to_stripe(
    db: Database,
) -> None:
    """An interval change credits the unused month and bills the year in full now; only Stripe
    can reset the billing anchor, so the quote is executed in stripe mode."""
    quote = await _create(db, PRO_ANNUAL)
    assert [(line.type, line.amount) for line in quote.lines] == [
        ("credit", -1450),
        ("subscription", 99000),
    ]
    assert quote.amount_due_now == 97550
    assert quote.execution == "stripe"


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"target": BASIC}, "price"),
        ({"target": PRO_EUR}, "price"),
        ({"to_quantity": 0}, "quantity"),
        ({"now": END + 1}, None),
    ],
    ids=["no-change", "other-currency", "zero-quantity", "outside-period"],
)
async def test_impossible_changes_are_refused(
    db: Database, overrides: dict[str, Any], field: str | None
) -> None:
    """No-op changes, currency changes, zero quantities and times outside the period are 422s."""
    with pytest.raises(ValidationFailed) as refused:
        await _create(db, **overrides)
    assert refused.value.field == field


# Add-ons --------------------------------------------------------------------------------------

REPORTS = Target(Price("price_reports", "prod_reports", "usd", 1900, "month"), "Advanced Reports")
SUPPORT = Target(Price("price_support", "prod_support", "usd", 4900, "month"), "Priority Support")
REPORTS_YEARLY = Target(Price("price_reports_y", "prod_reports", "usd", 19000, "year"), "Reports")
REPORTS_EUR = Target(Price("price_reports_eur", "prod_reports", "eur", 1900, "month"), "Reports")


async def _add(db: Database, *added: Target, **overrides: Any) -> quotes.QuoteRecord:
    args: dict[str, Any] = {
        "customer_id": "cus_1",
        "state": STATE,
        "current": BASIC,
        "added": added,
        "subscribed": frozenset({"price_basic"}),
        "now": START + 10 * DAY + 3600,
    }
    args.update(overrides)
    return await quotes.create_addition(db, **args)


async def test_addon_quote_bills_the_remaining_time_of_each_added_price(db: Database) -> None:
    """Adding Advanced Reports ($19) and Priority Support ($49) with 19 days 23 h of a 30-day
    period left debits each for that share, rounded on its own, nothing credited; due now is
    their sum; it reads back whole, with what it adds."""
    quote = await _add(db, REPORTS, SUPPORT)
    left = 30 * DAY - (10 * DAY + 3600)
    reports, support = round(1900 * left / (30 * DAY)), round(4900 * left / (30 * DAY))
    assert (reports, support) == (1264, 3260)  # 1264.03…, 3259.86…: no ties
    assert [(line.type, line.amount, line.price) for line in quote.lines] == [
        ("debit", reports, "price_reports"),
        ("debit", support, "price_support"),
    ]
    assert [line.description for line in quote.lines] == [
        "Remaining time on Advanced Reports after 02 Dec 2026",
        "Remaining time on Priority Support after 02 Dec 2026",
    ]
    assert all((line.period_start, line.period_end) == (quote.proration_date, END)
               for line in quote.lines)  # fmt: skip
    assert (quote.invoice_total, quote.amount_due_now, quote.mrr_delta) == (
        reports + support, reports + support, 1900 + 4900,
    )  # fmt: skip
    assert (quote.kind, quote.execution, quote.timing) == ("add", "uplift", "now")
    assert [(item.price, item.quantity) for item in quote.added] == [
        ("price_reports", 1),
        ("price_support", 1),
    ]
    assert quote.state == STATE
    assert await storage.quotes.get(db, quote.id) == quote


async def test_addon_quote_uses_the_customer_credit_first(db: Database) -> None:
    """A customer credit pays what it covers; under the minimum charge nothing is collected."""
    covered = await _add(db, REPORTS, starting_balance=-1000)
    assert covered.amount_due_now == covered.invoice_total - 1000
    late = await _add(db, REPORTS, now=END - 3600)
    assert (late.invoice_total, late.amount_due_now) == (3, 0)  # 1900 / 720 h ≈ 2.6 cents


async def test_an_addon_the_subscription_has_is_a_conflict(db: Database) -> None:
    """Stripe refuses a second item with the same price; the quote says so before that."""
    with pytest.raises(quotes.AlreadySubscribed) as refused:
        await _add(db, REPORTS, subscribed=frozenset({"price_basic", "price_reports"}))
    assert (refused.value.status, refused.value.code) == (409, "addon_already_subscribed")


@pytest.mark.parametrize(
    "added",
    [(), (REPORTS, REPORTS), (REPORTS_YEARLY,), (REPORTS_EUR,)],
    ids=["nothing", "twice", "another interval", "another currency"],
)
async def test_addons_the_subscription_cannot_bill_are_refused(
    db: Database, added: tuple[Target, ...]
) -> None:
    """An add-on quote needs prices that bill with the plan: same currency, same interval."""
    with pytest.raises(ValidationFailed):
        await _add(db, *added)
