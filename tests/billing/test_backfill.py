"""Reconstructing a subscription's history from Stripe's records, with hand-made records."""

from __future__ import annotations

from dataclasses import replace

import pytest

from plugin.billing import backfill
from plugin.billing.backfill import InvoiceRecord, ItemRecord, LineRecord, State, SubscriptionRecord
from plugin.billing.catalog import Price
from plugin.webhooks.snapshots import mirror_item

DAY = 86400
T0 = 1_790_000_000  # the subscription's creation
NOW = T0 + 100 * DAY

BASIC = Price("price_basic", "prod_basic", "usd", 2900, "month")
PRO = Price("price_pro", "prod_pro", "usd", 9900, "month")
SEATS = Price("price_seat", "prod_seat", "usd", 500, "month")
PRICES = {p.id: p for p in (BASIC, PRO, SEATS)}


def sub(**overrides: object) -> SubscriptionRecord:
    values: dict[str, object] = {
        "id": "sub_1",
        "customer_id": "cus_1",
        "status": "active",
        "currency": "usd",
        "created": T0,
        "start_date": T0,
        "ended_at": None,
        "canceled_at": None,
        "cancel_at_period_end": False,
        "trial_start": None,
        "trial_end": None,
        "current_period_start": T0 + 90 * DAY,
        "current_period_end": T0 + 120 * DAY,
        "items": (ItemRecord("si_plan", BASIC, 1),),
    }
    values.update(overrides)
    return SubscriptionRecord(**values)  # type: ignore[arg-type]  # test data by keyword


def line(
    price: Price,
    quantity: int,
    *,
    item: str = "si_plan",
    start: int = T0,
    proration: bool = False,
    credit: bool = False,
) -> LineRecord:
    amount = (price.unit_amount or 0) * quantity * (-1 if credit else 1)
    return LineRecord(
        id=f"il_{item}_{price.id}_{start}_{credit}",
        price_id=price.id,
        subscription_item_id=item,
        quantity=quantity,
        amount=amount,
        period_start=start,
        period_end=start + 30 * DAY,
        proration=proration,
        credit=credit,
    )


def invoice(
    id: str,
    reason: str,
    *lines: LineRecord,
    created: int = T0,
    status: str = "paid",
    paid_at: int | None = None,
) -> InvoiceRecord:
    return InvoiceRecord(
        id=id,
        subscription_id="sub_1",
        status=status,
        billing_reason=reason,
        created=created,
        paid_at=(paid_at or created) if status == "paid" else None,
        lines=lines,
    )


def history(
    subscription: SubscriptionRecord, *invoices: InvoiceRecord, now: int = NOW
) -> list[State]:
    return backfill.reconstruct(
        subscription, invoices, prices=PRICES, make_item=mirror_item, now=now
    )


def timeline(states: list[State]) -> list[tuple[str, int, str, int]]:
    """(source id without the subscription prefix, time, status, MRR) per state."""
    return [
        (
            s.source_id.removeprefix("import:sub_1:"),
            s.occurred_at,
            s.snapshot.status,
            s.snapshot.mrr(),
        )
        for s in states
    ]


def _without_digest(rows: list[tuple[str, int, str, int]]) -> list[tuple[str, int, str, int]]:
    return [(r[0].split(":")[0] if r[0].startswith("current:") else r[0], *r[1:]) for r in rows]


def test_start_is_the_first_invoice_paid_and_now_is_the_import_time() -> None:
    """A subscription paid at creation starts then with its first invoice's items; its state now
    is dated at the import."""
    states = history(sub(), invoice("in_1", "subscription_create", line(BASIC, 1)))
    assert _without_digest(timeline(states)) == [
        ("start", T0, "active", 2900),
        ("current", NOW, "active", 2900),
    ]
    assert states[-1].current
    assert not states[0].current


def test_first_invoice_paid_later_starts_the_mrr_when_it_was_paid() -> None:
    """A subscription whose first invoice was paid an hour later (3-D Secure) was incomplete
    until then: its MRR starts at `paid_at`."""
    first = invoice("in_1", "subscription_create", line(BASIC, 1), paid_at=T0 + 3600)
    assert timeline(history(sub(), first))[0] == ("start", T0 + 3600, "active", 2900)


def test_unpaid_first_invoice_starts_incomplete_without_mrr() -> None:
    """Never paid: incomplete, then expired at `ended_at`, no MRR at any time."""
    first = invoice("in_1", "subscription_create", line(BASIC, 1), status="void")
    subscription = sub(status="incomplete_expired", ended_at=T0 + DAY)
    assert _without_digest(timeline(history(subscription, first))) == [
        ("start", T0, "incomplete", 0),
        ("ended", T0 + DAY, "incomplete_expired", 0),
        ("current", NOW, "incomplete_expired", 0),
    ]


def test_start_takes_the_first_invoice_items_not_the_current_ones() -> None:
    """Started on 3 seats of Basic, on Pro now after a renewal billed Pro: the start is Basic x3
    and the renewal's period start is when Pro began."""
    renewal_at = T0 + 30 * DAY
    states = history(
        sub(items=(ItemRecord("si_plan", PRO, 1),)),
        invoice("in_1", "subscription_create", line(BASIC, 3)),
        invoice("in_2", "subscription_cycle", line(PRO, 1, start=renewal_at), created=renewal_at),
    )
    assert _without_digest(timeline(states)) == [
        ("start", T0, "active", 8700),
        ("in_2", renewal_at, "active", 9900),
        ("current", NOW, "active", 9900),
    ]


def test_no_invoice_at_all_starts_with_the_current_items() -> None:
    """Without invoices (drafts deleted, or none kept), the start has the items Stripe has now."""
    assert timeline(history(sub()))[0] == ("start", T0, "active", 2900)


def test_proration_debit_is_the_new_price_at_the_proration_time() -> None:
    """An upgrade invoiced at once: the "Remaining time" debit names the new price, from the
    proration date; the add-on item it does not mention stays as it was."""
    at = T0 + 10 * DAY
    add_on = ItemRecord("si_seats", SEATS, 2)
    states = history(
        sub(items=(ItemRecord("si_plan", PRO, 1), add_on)),
        invoice(
            "in_1",
            "subscription_create",
            line(BASIC, 1),
            line(SEATS, 2, item="si_seats"),
        ),
        invoice(
            "in_2",
            "subscription_update",
            line(BASIC, 1, start=at, proration=True, credit=True),
            line(PRO, 1, start=at, proration=True),
            created=at,
        ),
    )
    assert _without_digest(timeline(states)) == [
        ("start", T0, "active", 3900),
        (f"in_2:{at}", at, "active", 10900),
        ("current", NOW, "active", 10900),
    ]


def test_quantity_change_and_removed_item_from_prorations_on_the_renewal() -> None:
    """Prorations left pending (`create_prorations`) reach the next renewal: the seat count
    changes at its proration time, an item with only a credit was removed then, and the renewal
    itself bills the whole set from the new period."""
    change_at, renewal_at = T0 + 12 * DAY, T0 + 30 * DAY
    states = history(
        sub(items=(ItemRecord("si_plan", BASIC, 4),)),
        invoice(
            "in_1",
            "subscription_create",
            line(BASIC, 1),
            line(SEATS, 2, item="si_seats"),
        ),
        invoice(
            "in_2",
            "subscription_cycle",
            line(BASIC, 1, start=change_at, proration=True, credit=True),
            line(BASIC, 4, start=change_at, proration=True),
            line(SEATS, 2, item="si_seats", start=change_at, proration=True, credit=True),
            line(BASIC, 4, start=renewal_at),
            created=renewal_at,
        ),
    )
    assert _without_digest(timeline(states)) == [
        ("start", T0, "active", 3900),
        (f"in_2:{change_at}", change_at, "active", 11600),
        ("in_2", renewal_at, "active", 11600),
        ("current", NOW, "active", 11600),
    ]
    assert [i.price_id for i in states[1].snapshot.items] == ["price_basic"]


@pytest.mark.parametrize("status", ["open", "void", "draft"])
def test_an_update_invoice_not_paid_changes_nothing(status: str) -> None:
    """An unpaid `subscription_update` invoice may be a pending update that never applied
    (`pending_if_incomplete`); void and draft invoices say nothing either."""
    at = T0 + 10 * DAY
    states = history(
        sub(),
        invoice("in_1", "subscription_create", line(BASIC, 1)),
        invoice(
            "in_2",
            "subscription_update",
            line(BASIC, 1, start=at, proration=True, credit=True),
            line(PRO, 1, start=at, proration=True),
            created=at,
            status=status,
        ),
    )
    assert [row[0] for row in _without_digest(timeline(states))] == ["start", "current"]


def test_trial_counts_from_its_end_once_converted() -> None:
    """Trialing from creation (no MRR), active at `trial_end` when a renewal billed a period
    from then on."""
    end = T0 + 14 * DAY
    subscription = sub(trial_start=T0, trial_end=end)
    states = history(
        subscription,
        invoice("in_1", "subscription_create", replace(line(BASIC, 1), amount=0)),
        invoice("in_2", "subscription_cycle", line(BASIC, 1, start=end), created=end),
    )
    assert _without_digest(timeline(states)) == [
        ("start", T0, "trialing", 0),
        ("trial_end", end, "active", 2900),
        ("in_2", end, "active", 2900),
        ("current", NOW, "active", 2900),
    ]


def test_trial_that_ended_unconverted_never_counts() -> None:
    """Canceled when the trial ended without a payment method: no MRR at any time."""
    end = T0 + 14 * DAY
    subscription = sub(status="canceled", trial_start=T0, trial_end=end, ended_at=end)
    states = history(
        subscription, invoice("in_1", "subscription_create", replace(line(BASIC, 1), amount=0))
    )
    assert [row[2:] for row in timeline(states)] == [
        ("trialing", 0),
        ("canceled", 0),
        ("canceled", 0),
    ]


def test_canceled_subscription_ends_at_ended_at_and_later_invoices_do_not_revive_it() -> None:
    """Canceled with a final proration credit invoiced after the end: canceled at `ended_at`."""
    end = T0 + 40 * DAY
    states = history(
        sub(status="canceled", ended_at=end, canceled_at=end),
        invoice("in_1", "subscription_create", line(BASIC, 1)),
        invoice(
            "in_2",
            "subscription_update",
            line(BASIC, 1, start=end, proration=True, credit=True),
            created=end,
        ),
    )
    assert _without_digest(timeline(states)) == [
        ("start", T0, "active", 2900),
        ("ended", end, "canceled", 0),
        ("current", NOW, "canceled", 0),
    ]
    assert states[1].snapshot.canceled_at == end


def test_source_ids_are_the_same_on_every_run_unless_stripe_changed() -> None:
    """Run again later with nothing changed: the same source ids (so nothing is added twice);
    a quantity changed without an invoice changes only the current state's id."""
    first = invoice("in_1", "subscription_create", line(BASIC, 1))
    once = [s.source_id for s in history(sub(), first, now=NOW)]
    again = [s.source_id for s in history(sub(), first, now=NOW + 7 * DAY)]
    changed = [
        s.source_id
        for s in history(sub(items=(ItemRecord("si_plan", BASIC, 2),)), first, now=NOW + 7 * DAY)
    ]
    assert once == again
    assert changed[:-1] == once[:-1]
    assert changed[-1] != once[-1]


def test_current_state_is_never_dated_before_what_stripe_dated() -> None:
    """With the import's clock behind Stripe's, the present still comes after the past."""
    states = history(sub(), invoice("in_1", "subscription_create", line(BASIC, 1)), now=T0 - 5)
    assert states[-1].occurred_at == T0


def test_current_state_is_the_mirror_stripe_has_now() -> None:
    """The last state carries what the mirror keeps: period, cancel flag, cancellation time."""
    subscription = sub(cancel_at_period_end=True, canceled_at=T0 + 95 * DAY)
    current = history(subscription)[-1].snapshot
    assert (current.current_period_start, current.current_period_end) == (
        T0 + 90 * DAY,
        T0 + 120 * DAY,
    )
    assert current.cancel_at_period_end
    assert current.canceled_at == T0 + 95 * DAY
    assert current.mrr() == 2900


def test_states_from_the_first_webhook_on_are_left_to_the_webhooks() -> None:
    """Where webhooks recorded the subscription from some time on, only the earlier states and
    the state now are added."""
    renewal_at = T0 + 30 * DAY
    states = history(
        sub(),
        invoice("in_1", "subscription_create", line(BASIC, 1)),
        invoice("in_2", "subscription_cycle", line(BASIC, 1, start=renewal_at), created=renewal_at),
    )
    kept = backfill.fill_before(states, first_event_at=renewal_at)
    assert [s.source_id for s in kept] == [states[0].source_id, states[-1].source_id]
    assert backfill.fill_before(states, first_event_at=None) == states


def test_a_price_nobody_resolved_is_an_error() -> None:
    """The caller must supply every price the records name."""
    with pytest.raises(ValueError, match="price_basic"):
        backfill.reconstruct(sub(), [], prices={}, make_item=mirror_item, now=NOW)
