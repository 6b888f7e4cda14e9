"""plugin/billing/mirror.py: MRR per subscription and the movement each change records."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from plugin.billing.mirror import MirrorItem, MirrorSubscription, movement


def _sub(status: str, *items: MirrorItem) -> MirrorSubscription:
    return MirrorSubscription(
        id="sub_1",
        customer_id="cus_1",
        status=status,
        currency="usd",
        items=items,
        current_period_start=None,
        current_period_end=None,
        trial_end=None,
        cancel_at_period_end=False,
        canceled_at=None,
    )


def _item(
    unit_amount: int | None, interval: str | None, quantity: int = 1, count: int = 1
) -> MirrorItem:
    return MirrorItem(
        id="si_1",
        price_id="price_1",
        product_id="prod_1",
        quantity=quantity,
        unit_amount=unit_amount,
        currency="usd",
        interval=interval,  # type: ignore[arg-type]
        interval_count=count,
    )


@pytest.mark.parametrize(
    ("item", "mrr"),
    [
        (_item(9900, "month"), 9900),
        (_item(9900, "month", quantity=3), 29700),
        (_item(99000, "year"), 8250),
        (_item(1000, "year"), 83),  # 83.33… rounds down
        (_item(1002, "year"), 84),  # 83.5 rounds half up
        (_item(30000, "month", count=3), 10000),
        (_item(None, "month"), 0),
        (_item(500, None), 0),
    ],
    ids=["monthly", "quantity", "yearly", "yearly-round-down", "yearly-half-up", "quarterly",
         "no-unit-amount", "one-time"],
)  # fmt: skip
def test_items_count_their_monthly_amount(item: MirrorItem, mrr: int) -> None:
    """Each item adds its price per month (yearly / 12, half up) times its quantity."""
    assert _sub("active", item).mrr() == mrr


@pytest.mark.parametrize(
    "status", ["trialing", "incomplete", "incomplete_expired", "canceled", "unpaid", "paused"]
)
def test_only_billed_subscriptions_count(status: str) -> None:
    """Only `active` and `past_due` subscriptions are recurring revenue."""
    assert _sub(status, _item(9900, "month")).mrr() == 0
    assert _sub("past_due", _item(9900, "month")).mrr() == 9900


@given(st.lists(st.sampled_from([0, 0, 2900, 9900, 29900]), min_size=1, max_size=12))
def test_movements_add_up_to_the_mrr_change(history: list[int]) -> None:
    """Over any sequence of MRR values, the recorded movements sum to final - initial; a
    return from zero is `new` the first time and `reactivation` after that."""
    total = 0
    counted = False
    before = 0
    for after in history:
        change = movement(before=before, after=after, counted_before=counted)
        if after == before:
            assert change is None
        else:
            assert change is not None
            total += change.amount
            if before == 0:
                assert change.kind == ("reactivation" if counted else "new")
            elif after == 0:
                assert change.kind == "churn"
            else:
                assert change.kind == ("expansion" if after > before else "contraction")
        counted = counted or after > 0
        before = after
    assert total == history[-1]
