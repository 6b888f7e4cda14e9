"""Quote lifecycle: what a quote locks, when it expires, which changes it refuses."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from plugin import storage
from plugin.api.errors import status_of
from plugin.billing import proration, quotes
from plugin.billing.catalog import Price
from plugin.billing.quotes import SubscriptionState, Target
from plugin.errors import Gone, NotFound, ValidationFailed
from plugin.offers.model import Discount
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


async def test_a_preview_quote_is_the_same_quote_and_is_not_stored(db: Database) -> None:
    """`store=False` (the admin console's preview): the lines and totals a stored quote has,
    and nothing to accept afterwards."""
    stored = await _create(db)
    previewed = await _create(db, store=False)
    assert (previewed.lines, previewed.amount_due_now, previewed.mrr_delta) == (
        stored.lines,
        stored.amount_due_now,
        stored.mrr_delta,
    )
    assert await storage.quotes.get(db, previewed.id) is None
    with pytest.raises(NotFound):
        await quotes.get_for_accept(db, quote_id=previewed.id, customer_id="cus_1", now=NOW)


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
    assert (status_of(refused.value), refused.value.code) == (409, "addon_already_subscribed")


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


async def test_a_discounted_offer_locks_its_discount_and_window_into_the_quote(
    db: Database,
) -> None:
    """30 % off Pro for 3 months, halfway through the period: Pro's remaining time is
    discounted ($49.50 - $14.85), Basic's unused time is credited in full, and the window
    ends 3 calendar months after the quote, as Stripe's repeating coupon would."""
    now = START + 15 * DAY
    quote = await _create(db, discount=Discount(percent_off=30, duration_months=3))

    assert [(line.amount, line.discount_amount) for line in quote.lines] == [
        (-1450, 0),
        (3465, 1485),
    ]
    assert quote.amount_due_now == 2015
    assert quote.discount == quotes.QuoteDiscount(
        percent_off=30,
        amount_off=None,
        duration_months=3,
        ends_at=proration.add_interval(now, "month", 3),
    )
    assert quote.mrr_delta == 7000  # MRR moves at list price; the discount is reported apart
    assert await storage.quotes.get(db, quote.id) == quote


@pytest.mark.parametrize(
    ("discount", "renewal", "coupon"),
    [
        (Discount(percent_off=30, duration_months=3), 6930, "repeating"),
        # one month from halfway still covers the renewal at the period end
        (Discount(percent_off=30, duration_months=1), 6930, "repeating"),
        # a one-time discount is used up by the invoice paid now
        (Discount(percent_off=30), 9900, None),
        (Discount(amount_off=1000, duration_months=2), 8900, "repeating"),
    ],
)
async def test_the_next_invoice_is_discounted_only_inside_the_window(
    db: Database, discount: Discount, renewal: int, coupon: str | None
) -> None:
    quote = await _create(db, discount=discount)
    assert quotes.renews_at(quote) == END
    assert quotes.next_invoice(quote, [9900]) == renewal
    assert quotes.coupon_duration(quote) == coupon


async def test_a_discount_stripe_cannot_apply_is_refused(db: Database) -> None:
    """An interval change is executed by Stripe as a pending update, which takes no discount:
    its invoice is not discounted, and a 3-month discount ends before the renewal a year later,
    so quoting it would promise what no invoice gives."""
    with pytest.raises(ValidationFailed, match="never apply"):
        await _create(db, target=PRO_ANNUAL, discount=Discount(percent_off=10, duration_months=3))


async def test_a_one_time_discount_on_a_stripe_executed_change_is_for_the_next_renewal(
    db: Database,
) -> None:
    """The annual invoice of the switch is at full price (Stripe's pending update); the coupon
    is attached once the switch is paid and discounts the next renewal."""
    quote = await _create(db, target=PRO_ANNUAL, discount=Discount(percent_off=10))
    subscription = [line for line in quote.lines if line.type == "subscription"]
    assert [(line.amount, line.discount_amount) for line in subscription] == [(99000, 0)]
    assert quotes.coupon_duration(quote) == "once"
    assert quotes.renews_at(quote) == subscription[0].period_end
    assert quotes.next_invoice(quote, [99000]) == 89100


async def test_a_retention_quote_keeps_the_plan_and_only_adds_the_coupon(db: Database) -> None:
    """The current price and quantity with a discount: nothing prorated or charged, MRR
    unchanged, the next renewal discounted; a one-time discount waits for that renewal."""
    for discount, coupon in (
        (Discount(percent_off=20, duration_months=3), "repeating"),
        (Discount(percent_off=20), "once"),
    ):
        quote = await _create(db, target=BASIC, discount=discount)
        assert (quote.lines, quote.amount_due_now, quote.mrr_delta) == ((), 0, 0)
        assert (quote.to_price, quote.timing) == ("price_basic", "now")
        assert quotes.next_invoice(quote, [2900]) == 2320
        assert quotes.coupon_duration(quote) == coupon
    with pytest.raises(ValidationFailed):
        await _create(db, target=BASIC)  # without a discount there is nothing to change


async def test_each_added_item_is_discounted_on_its_own(db: Database) -> None:
    quote = await quotes.create_addition(
        db,
        customer_id="cus_1",
        state=STATE,
        current=BASIC,
        added=(REPORTS,),
        subscribed=frozenset({"price_basic"}),
        now=START + 15 * DAY,
        discount=Discount(percent_off=30, duration_months=3),
    )
    assert [(line.amount, line.discount_amount) for line in quote.lines] == [(665, 285)]
    assert quotes.next_invoice(quote, [1900]) == 1330
    assert await storage.quotes.get(db, quote.id) == quote
