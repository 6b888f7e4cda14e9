"""Coupons, and the discounts they become on subscription items (and subscriptions): created,
shown, expanded, replaced and kept as Stripe does, and applied to the lines they discount."""

from __future__ import annotations

import calendar
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import stripe  # noqa: TID251 -- tests drive the emulator exactly as stripe-python does

from localstripe_bridge.process import EmulatorProcess
from tests.localstripe_bridge.support import STRIPE_PYTHON_HTTPX_WARNING, Catalog
from tests.support import STRIPE_TEST_KEY

pytestmark = STRIPE_PYTHON_HTTPX_WARNING

IGNORED = "Localstripe-Bridge-Ignored"
AUTH = {"Authorization": f"Bearer {STRIPE_TEST_KEY}"}


def _months_later(timestamp: int, months: int) -> int:
    """Calendar months in UTC, clamped to the end of a shorter month (Jan 31 + 1 = Feb 28)."""
    start = datetime.fromtimestamp(timestamp, UTC)
    year = start.year + (start.month - 1 + months) // 12
    month = (start.month - 1 + months) % 12 + 1
    day = min(start.day, calendar.monthrange(year, month)[1])
    return int(start.replace(year=year, month=month, day=day).timestamp())


async def _coupon(client: stripe.StripeClient, **extra: Any) -> stripe.Coupon:
    """A 30 % coupon for 3 months, unless `extra` says otherwise."""
    params: dict[str, Any] = {
        "id": f"uplift_qt_{uuid.uuid4().hex[:12]}",
        "percent_off": 30.0,
        "duration": "repeating",
        "duration_in_months": 3,
        **extra,
    }
    return await client.v1.coupons.create_async(params)  # type: ignore[arg-type]


async def _subscription(
    client: stripe.StripeClient, catalog: Catalog, customer: str
) -> stripe.Subscription:
    return await client.v1.subscriptions.create_async(
        {"customer": customer, "items": [{"price": catalog.monthly}]}
    )


def _discounts(item: stripe.SubscriptionItem) -> list[stripe.Discount]:
    expanded = [d for d in item.discounts if isinstance(d, stripe.Discount)]
    assert len(expanded) == len(item.discounts), "discounts were not expanded"
    return expanded


def _coupon_id(discount: stripe.Discount) -> str:
    coupon = discount.source.coupon
    return coupon.id if isinstance(coupon, stripe.Coupon) else str(coupon)


async def test_coupon_with_a_name_round_trips(stripe_client: stripe.StripeClient) -> None:
    """`name`, `max_redemptions` and metadata are kept and shown on create and retrieve; a
    coupon without a name shows `name: null`."""
    name = "Advanced Reports: 30 % off for 3 months"
    created = await _coupon(stripe_client, name=name, max_redemptions=5, metadata={"offer": "qt_1"})
    assert (created.name, created.percent_off, created.duration) == (name, 30.0, "repeating")
    assert (created.duration_in_months, created.max_redemptions) == (3, 5)
    assert (created.times_redeemed, created.valid) == (0, True)
    again = await stripe_client.v1.coupons.retrieve_async(created.id)
    assert again.metadata is not None
    assert (again.name, again.metadata.to_dict()) == (name, {"offer": "qt_1"})
    assert again.applies_to is None

    unnamed = await _coupon(stripe_client, duration="once", duration_in_months=None)
    assert unnamed.name is None
    renamed = await stripe_client.v1.coupons.update_async(unnamed.id, {"name": "Renamed"})
    assert renamed.name == "Renamed"


async def test_coupon_create_refuses_like_stripe(
    stripe_client: stripe.StripeClient, http: httpx.AsyncClient
) -> None:
    """A duplicate id is Stripe's `resource_already_exists`; `applies_to` is not emulated;
    localstripe's own checks still run."""
    first = await _coupon(stripe_client)
    with pytest.raises(stripe.InvalidRequestError) as duplicate:
        await _coupon(stripe_client, id=first.id)
    assert (duplicate.value.http_status, duplicate.value.code) == (400, "resource_already_exists")

    scoped = await http.post(
        "/v1/coupons", data={"percent_off": "10", "applies_to[products][0]": "prod_x"}
    )
    assert (scoped.status_code, scoped.json()["error"]["code"]) == (400, "not_emulated")
    both = await http.post("/v1/coupons", data={"percent_off": "10", "amount_off": "100"})
    assert both.status_code == 400


async def test_idempotent_coupon_create_replays_the_same_coupon(
    stripe_client: stripe.StripeClient,
) -> None:
    """Uplift creates each offer's coupon under an Idempotency-Key: a retry gets the first one."""
    key = f"test-{uuid.uuid4()}"
    params: stripe.params.CouponCreateParams = {
        "id": f"uplift_qt_{uuid.uuid4().hex[:12]}",
        "percent_off": 30.0,
        "duration": "once",
        "name": "Once",
    }
    first = await stripe_client.v1.coupons.create_async(params, {"idempotency_key": key})
    second = await stripe_client.v1.coupons.create_async(params, {"idempotency_key": key})
    assert (second.id, second.created, second.name) == (first.id, first.created, "Once")
    assert second.last_response is not None
    assert second.last_response.headers.get("Idempotent-Replayed") == "true"


async def test_added_item_with_a_repeating_coupon_has_its_discount(
    stripe_client: stripe.StripeClient, catalog: Catalog, customer: str
) -> None:
    """An item added with `discounts[0][coupon]` shows the discount's id, and with
    `expand[]=discounts` the Discount: its coupon, start now, end N calendar months later, the
    customer, subscription and item. The coupon counts the redemption."""
    coupon = await _coupon(stripe_client)
    sub = await _subscription(stripe_client, catalog, customer)
    added = await stripe_client.v1.subscription_items.create_async(
        {
            "subscription": sub.id,
            "price": catalog.premium,
            "discounts": [{"coupon": coupon.id}],
            "proration_behavior": "none",
            "expand": ["discounts", "discounts.source.coupon"],
        }
    )
    assert added.last_response is not None
    assert added.last_response.headers.get(IGNORED) is None
    [discount] = _discounts(added)
    assert discount.object == "discount"
    assert discount.id.startswith("di_")
    assert discount.source.type == "coupon"
    assert isinstance(discount.source.coupon, stripe.Coupon)
    assert discount.source.coupon.id == coupon.id
    # Attached now, on the emulator's clock: when the item was made, give or take a second.
    assert added.created <= discount.start <= added.created + 1
    assert discount.end == _months_later(discount.start, 3)
    assert (discount.customer, discount.subscription) == (customer, sub.id)
    assert discount.subscription_item == added.id
    assert (discount.invoice, discount.invoice_item, discount.promotion_code) == (None, None, None)

    plain = await stripe_client.v1.subscription_items.retrieve_async(added.id)
    assert plain.discounts == [discount.id]
    shown = await stripe_client.v1.subscriptions.retrieve_async(sub.id)
    assert [i.discounts for i in shown.items.data] == [[], [discount.id]]
    assert shown.discounts == []
    redeemed = await stripe_client.v1.coupons.retrieve_async(coupon.id)
    assert redeemed.times_redeemed == 1


async def test_once_coupon_discount_has_no_end(
    stripe_client: stripe.StripeClient, catalog: Catalog, customer: str
) -> None:
    """`once` (and `forever`) discounts have `end: null`; `source.coupon` is the coupon's id
    unless expanded."""
    once = await _coupon(stripe_client, duration="once", duration_in_months=None)
    sub = await _subscription(stripe_client, catalog, customer)
    added = await stripe_client.v1.subscription_items.create_async(
        {
            "subscription": sub.id,
            "price": catalog.premium,
            "discounts": [{"coupon": once.id}],
            "proration_behavior": "none",
            "expand": ["discounts"],
        }
    )
    [discount] = _discounts(added)
    assert (discount.end, discount.source.coupon) == (None, once.id)


async def test_changing_the_price_with_a_discount_keeps_the_item_and_the_discount(
    stripe_client: stripe.StripeClient, catalog: Catalog, customer: str
) -> None:
    """Uplift's plan change: `items[0][id]`, a new price and `items[0][discounts]` keep the
    item's id; the discount names that id and stays through a later price change; the
    subscription, retrieved with `items.data.discounts`, shows it expanded; a new list
    replaces the discounts and `discounts=""` clears them."""
    coupon = await _coupon(stripe_client, name="Premium: 30 % off for 3 months")
    sub = await _subscription(stripe_client, catalog, customer)
    item_id = sub.items.data[0].id
    changed = await stripe_client.v1.subscriptions.update_async(
        sub.id,
        {
            "items": [
                {"id": item_id, "price": catalog.premium, "discounts": [{"coupon": coupon.id}]}
            ],
            "proration_behavior": "none",
            "expand": ["items.data.discounts"],
        },
    )
    [item] = changed.items.data
    assert (item.id, item.price.id) == (item_id, catalog.premium)
    [discount] = _discounts(item)
    assert (_coupon_id(discount), discount.subscription_item) == (coupon.id, item_id)

    back = await stripe_client.v1.subscriptions.update_async(
        sub.id,
        {"items": [{"id": item_id, "price": catalog.monthly}], "proration_behavior": "none"},
    )
    assert [(i.id, i.discounts) for i in back.items.data] == [(item_id, [discount.id])]

    retrieved = await stripe_client.v1.subscriptions.retrieve_async(
        sub.id, {"expand": ["items.data.discounts"]}
    )
    [kept] = _discounts(retrieved.items.data[0])
    assert (kept.id, kept.subscription_item, kept.start) == (
        discount.id,
        item_id,
        discount.start,
    )

    other = await _coupon(stripe_client, duration="once", duration_in_months=None)
    replaced = await stripe_client.v1.subscription_items.update_async(
        item_id,
        {
            "discounts": [{"coupon": other.id}],
            "proration_behavior": "none",
            "expand": ["discounts"],
        },
    )
    [new] = _discounts(replaced)
    assert (new.id != discount.id, _coupon_id(new)) == (True, other.id)
    cleared = await stripe_client.v1.subscription_items.update_async(item_id, {"discounts": ""})
    assert cleared.discounts == []


async def test_unknown_coupon_is_refused_naming_the_param(
    stripe_client: stripe.StripeClient, catalog: Catalog, customer: str, http: httpx.AsyncClient
) -> None:
    """Stripe's "No such coupon" message, naming the parameter, on each route; nothing
    changes."""
    sub = await _subscription(stripe_client, catalog, customer)
    item_id = sub.items.data[0].id
    refusals = [
        ("/v1/subscription_items", {"subscription": sub.id, "price": catalog.premium},
         "discounts[0][coupon]"),
        (f"/v1/subscriptions/{sub.id}", {"items[0][id]": item_id, "items[0][price]":
         catalog.premium}, "items[0][discounts][0][coupon]"),
        (f"/v1/subscription_items/{item_id}", {}, "discounts[0][coupon]"),
    ]  # fmt: skip
    for url, data, param in refusals:
        prefix = param.removesuffix("[0][coupon]")
        response = await http.post(url, data={**data, f"{prefix}[0][coupon]": "no_such_coupon"})
        assert response.status_code == 400, url
        error = response.json()["error"]
        assert (error["param"], error["message"]) == (param, "No such coupon: 'no_such_coupon'")
    after = await stripe_client.v1.subscriptions.retrieve_async(sub.id)
    assert [(i.id, i.price.id, i.discounts) for i in after.items.data] == [
        (item_id, catalog.monthly, [])
    ]


async def test_promotion_codes_and_discounts_at_creation_are_not_emulated(
    stripe_client: stripe.StripeClient, catalog: Catalog, customer: str
) -> None:
    """A promotion code, or a discount on a new subscription (whose first invoice would not be
    discounted), is a 400 `not_emulated`."""
    coupon = await _coupon(stripe_client)
    sub = await _subscription(stripe_client, catalog, customer)
    with pytest.raises(stripe.InvalidRequestError) as promotion:
        await stripe_client.v1.subscription_items.create_async(
            {
                "subscription": sub.id,
                "price": catalog.premium,
                "discounts": [{"promotion_code": "promo_x"}],
            }
        )
    assert (promotion.value.code, promotion.value.param) == (
        "not_emulated",
        "discounts[0][promotion_code]",
    )
    with pytest.raises(stripe.InvalidRequestError) as at_creation:
        await stripe_client.v1.subscriptions.create_async(
            {
                "customer": customer,
                "items": [{"price": catalog.monthly, "discounts": [{"coupon": coupon.id}]}],
            }
        )
    assert at_creation.value.code == "not_emulated"


async def test_subscription_level_discount_is_shown_on_the_subscription(
    stripe_client: stripe.StripeClient, catalog: Catalog, customer: str
) -> None:
    """`discounts` on a subscription update attaches to the subscription, not to an item."""
    coupon = await _coupon(stripe_client, duration="forever", duration_in_months=None)
    sub = await _subscription(stripe_client, catalog, customer)
    updated = await stripe_client.v1.subscriptions.update_async(
        sub.id, {"discounts": [{"coupon": coupon.id}], "expand": ["discounts"]}
    )
    [discount] = [d for d in updated.discounts if isinstance(d, stripe.Discount)]
    assert (discount.subscription, discount.subscription_item, discount.end) == (
        sub.id,
        None,
        None,
    )
    assert [i.discounts for i in updated.items.data] == [[]]


async def test_an_items_discount_is_applied_to_its_renewal_preview(
    stripe_client: stripe.StripeClient, catalog: Catalog, customer: str
) -> None:
    """The next invoice discounts the item's line (`discount_amounts`, `total_discount_amounts`,
    total after discount); discounts given in the preview itself are checked, dropped and named
    as ignored."""
    coupon = await _coupon(stripe_client)
    sub = await _subscription(stripe_client, catalog, customer)
    item_id = sub.items.data[0].id
    updated = await stripe_client.v1.subscriptions.update_async(
        sub.id, {"items": [{"id": item_id, "discounts": [{"coupon": coupon.id}]}]}
    )
    [discount_id] = updated.items.data[0].discounts
    renewal = await stripe_client.v1.invoices.create_preview_async({"subscription": sub.id})
    assert (renewal.subtotal, renewal.total, renewal.amount_due) == (1000, 700, 700)
    [line] = renewal.lines.data
    assert line.discount_amounts is not None
    assert [(d.amount, d.discount) for d in line.discount_amounts] == [(300, discount_id)]
    assert line.discounts == [discount_id]
    assert renewal.total_discount_amounts is not None
    assert [(d.amount, d.discount) for d in renewal.total_discount_amounts] == [(300, discount_id)]
    assert line.period.start == renewal.lines.data[0].period.start
    assert line.period.start == sub.items.data[0].current_period_end
    changed = await stripe_client.v1.invoices.create_preview_async(
        {
            "subscription": sub.id,
            "subscription_details": {
                "items": [{"id": item_id, "discounts": [{"coupon": coupon.id}]}]
            },
        }
    )
    assert changed.last_response is not None
    assert changed.last_response.headers.get(IGNORED) == (
        "subscription_details[items][0][discounts]"
    )


def test_discounts_survive_a_state_file_restart(tmp_path: Path) -> None:
    """Coupons (with their name) and an item's discounts are kept by `--state-file`."""
    state = tmp_path / "emulator.pickle"
    with (
        EmulatorProcess(state_file=state) as emu,
        httpx.Client(base_url=emu.url, headers=AUTH) as client,
    ):
        customer = client.post("/v1/customers", data={"name": "Kept"}).json()["id"]
        client.post("/v1/payment_methods/pm_card_visa/attach", data={"customer": customer})
        client.post(
            f"/v1/customers/{customer}",
            data={"invoice_settings[default_payment_method]": "pm_card_visa"},
        )
        price = client.post(
            "/v1/prices",
            data={"currency": "usd", "unit_amount": "700", "product_data[name]": "Kept",
                  "recurring[interval]": "month"},
        ).json()["id"]  # fmt: skip
        coupon = client.post(
            "/v1/coupons",
            data={"id": "kept_coupon", "percent_off": "30", "duration": "repeating",
                  "duration_in_months": "3", "name": "Kept: 30 % off"},
        ).json()  # fmt: skip
        sub = client.post(
            "/v1/subscriptions", data={"customer": customer, "items[0][price]": price}
        ).json()
        item_id = sub["items"]["data"][0]["id"]
        attached = client.post(
            f"/v1/subscriptions/{sub['id']}",
            data={"items[0][id]": item_id, "items[0][discounts][0][coupon]": coupon["id"],
                  "expand[]": "items.data.discounts"},
        ).json()  # fmt: skip
        [discount] = attached["items"]["data"][0]["discounts"]
    with (
        EmulatorProcess(state_file=state) as emu,
        httpx.Client(base_url=emu.url, headers=AUTH) as client,
    ):
        again = client.get(
            f"/v1/subscription_items/{item_id}", params={"expand[]": "discounts"}
        ).json()
        assert again["discounts"] == [discount]
        kept = client.get(f"/v1/coupons/{coupon['id']}").json()
        assert (kept["name"], kept["times_redeemed"]) == ("Kept: 30 % off", 1)
