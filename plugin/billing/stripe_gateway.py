"""The only module that talks to Stripe.

Everything goes through one `stripe.StripeClient` with the async httpx client, pointed at
`UPLIFT_STRIPE_API_BASE` (the local emulator in tests and the demo; Stripe itself otherwise).
Rules every call here follows:

- Every mutating call takes an explicit `idempotency_key`, derived by the caller from durable
  state (a quote id, a seed name). stripe-python's automatic key only covers its own retries
  inside one call; a restart or our own retry would send a new one (docs/reliability.md rule 6).
- Parameters are the stripe package's TypedDicts, so mypy checks them against Stripe's API;
  an item switch (price, quantity, prorations) is always built by `item_switch_params`.
- Stripe objects never leave this module: callers get the frozen values below, and Stripe's
  errors become `StripeUnavailable` (retry later) or `StripeRejected` (will not succeed as is).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar, cast

import stripe  # noqa: TID251 -- this is the Stripe gateway
from stripe.params import (  # noqa: TID251 -- this is the Stripe gateway
    CouponCreateParams,
    CustomerCreateParams,
    InvoiceCreateParams,
    InvoiceItemCreateParams,
    InvoiceLineItemListParams,
    InvoiceListParams,
    PriceCreateParams,
    PriceListParams,
    ProductCreateParams,
    ProductListParams,
    SubscriptionCreateParams,
    SubscriptionItemCreateParams,
    SubscriptionItemListParams,
    SubscriptionListParams,
    SubscriptionUpdateParams,
    SubscriptionUpdateParamsItem,
    WebhookEndpointCreateParams,
)

from plugin.billing.backfill import InvoiceRecord, ItemRecord, LineRecord, SubscriptionRecord
from plugin.billing.catalog import Price, Product, price_from_stripe
from plugin.errors import StripeError, StripeRejected, StripeUnavailable

T = TypeVar("T")
R = TypeVar("R")

DEFAULT_API_BASE = stripe.DEFAULT_API_BASE


@dataclass(frozen=True, slots=True)
class Customer:
    id: str
    email: str | None
    name: str | None
    metadata: dict[str, str] = field(default_factory=dict)
    default_payment_method: str | None = None
    balance: int = 0  # minor units; negative is a credit the next invoices use first


@dataclass(frozen=True, slots=True)
class SubscriptionItem:
    id: str
    price_id: str
    quantity: int
    current_period_start: int
    current_period_end: int
    discount_ids: tuple[str, ...] = ()  # the item's own discounts (di_…), not the subscription's


@dataclass(frozen=True, slots=True)
class Coupon:
    id: str
    percent_off: float | None
    amount_off: int | None
    currency: str | None
    duration: str  # once | repeating | forever
    duration_in_months: int | None


@dataclass(frozen=True, slots=True)
class Subscription:
    id: str
    customer_id: str
    status: str
    items: tuple[SubscriptionItem, ...]
    cancel_at_period_end: bool
    trial_end: int | None
    latest_invoice_id: str | None
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class InvoiceItem:
    id: str
    customer_id: str
    amount: int
    currency: str
    description: str | None
    invoice_id: str | None  # None while pending
    subscription_id: str | None


@dataclass(frozen=True, slots=True)
class InvoiceLine:
    id: str
    amount: int
    currency: str
    description: str | None
    period_start: int
    period_end: int


@dataclass(frozen=True, slots=True)
class Invoice:
    id: str
    customer_id: str
    subscription_id: str | None
    status: str  # draft | open | paid | uncollectible | void
    currency: str
    subtotal: int
    total: int
    amount_due: int
    amount_paid: int
    hosted_invoice_url: str | None
    lines: tuple[InvoiceLine, ...]
    metadata: dict[str, str] = field(default_factory=dict)
    billing_reason: str | None = None  # manual, subscription_update, subscription_cycle …


@dataclass(frozen=True, slots=True)
class WebhookEndpoint:
    id: str
    url: str
    enabled_events: tuple[str, ...]
    secret: str | None  # only returned by Stripe when the endpoint is created


def _metadata(obj: Any) -> dict[str, str]:
    raw = getattr(obj, "metadata", None)
    return {str(k): str(v) for k, v in raw.to_dict().items()} if raw else {}


def _id(value: Any) -> str:
    """An expandable field: either the id itself or the expanded object."""
    return value if isinstance(value, str) else cast(str, value.id)


def _product(obj: stripe.Product) -> Product:
    return Product(id=obj.id, name=obj.name, active=bool(obj.active), metadata=_metadata(obj))


def _price(obj: stripe.Price) -> Price:
    # `tiers` is on a Price only when the request expanded it (`expand=["tiers"]`); absent, the
    # tiers are unknown (None), not empty, and stripe-python raises AttributeError for them.
    return price_from_stripe(
        obj,
        product_id=_id(obj.product),
        metadata=_metadata(obj),
        tiers=getattr(obj, "tiers", None),
    )


def _customer(obj: stripe.Customer) -> Customer:
    settings = obj.invoice_settings
    default_pm = settings.default_payment_method if settings else None
    return Customer(
        id=obj.id,
        email=obj.email,
        name=obj.name,
        metadata=_metadata(obj),
        default_payment_method=_id(default_pm) if default_pm else None,
        balance=obj.balance or 0,
    )


def _invoice_item(obj: stripe.InvoiceItem) -> InvoiceItem:
    # `parent` since 2025-03-31.basil; the local emulator still sends only `subscription`.
    parent = getattr(obj, "parent", None)
    details = parent.subscription_details if parent else None
    return InvoiceItem(
        id=obj.id,
        customer_id=_id(obj.customer),
        amount=obj.amount,
        currency=obj.currency,
        description=obj.description,
        invoice_id=_id(obj.invoice) if obj.invoice else None,
        subscription_id=_id(details.subscription) if details else _legacy_subscription(obj),
    )


def _legacy_subscription(obj: stripe.StripeObject) -> str | None:
    # Before 2025-03-31.basil (and in the local emulator) the item names it at the top level.
    value = getattr(obj, "subscription", None)
    return _id(value) if value else None


def _invoice(obj: stripe.Invoice) -> Invoice:
    lines = tuple(
        InvoiceLine(
            id=line.id,
            amount=line.amount,
            currency=line.currency,
            description=line.description,
            period_start=line.period.start,
            period_end=line.period.end,
        )
        for line in obj.lines.data
    )
    parent = getattr(obj, "parent", None)
    details = parent.subscription_details if parent else None
    return Invoice(
        id=str(obj.id),
        customer_id=_id(obj.customer),
        subscription_id=_id(details.subscription) if details else _legacy_subscription(obj),
        status=obj.status or "draft",
        currency=obj.currency,
        subtotal=obj.subtotal,
        total=obj.total,
        amount_due=obj.amount_due,
        amount_paid=obj.amount_paid,
        hosted_invoice_url=obj.hosted_invoice_url,
        lines=lines,
        metadata=_metadata(obj),
        billing_reason=obj.billing_reason,
    )


def _subscription_item(item: stripe.SubscriptionItem) -> SubscriptionItem:
    return SubscriptionItem(
        id=item.id,
        price_id=item.price.id,
        quantity=item.quantity or 1,
        current_period_start=item.current_period_start,
        current_period_end=item.current_period_end,
        discount_ids=tuple(_id(d) for d in getattr(item, "discounts", None) or ()),
    )


def _subscription(obj: stripe.Subscription) -> Subscription:
    items = tuple(_subscription_item(item) for item in obj["items"].data)
    return Subscription(
        id=obj.id,
        customer_id=_id(obj.customer),
        status=obj.status,
        items=items,
        cancel_at_period_end=bool(obj.cancel_at_period_end),
        trial_end=obj.trial_end,
        latest_invoice_id=_id(obj.latest_invoice) if obj.latest_invoice else None,
        metadata=_metadata(obj),
    )


@dataclass(frozen=True, slots=True)
class Page(Generic[R]):
    """One page of a Stripe list: continue with `starting_after` = the last id while
    `has_more`."""

    data: tuple[R, ...]
    has_more: bool


def _item_record(item: stripe.SubscriptionItem) -> ItemRecord:
    # Metered items carry no quantity; a licensed item without one has the default 1.
    return ItemRecord(id=item.id, price=_price(item.price), quantity=item.quantity or 1)


def _subscription_record(obj: stripe.Subscription) -> SubscriptionRecord:
    listed = obj["items"]
    items = tuple(_item_record(item) for item in listed.data)
    first = listed.data[0] if listed.data else None
    # Since 2025-03-31.basil the billing period is on the items; before, on the subscription.
    start = getattr(first, "current_period_start", None) or getattr(
        obj, "current_period_start", None
    )
    end = getattr(first, "current_period_end", None) or getattr(obj, "current_period_end", None)
    return SubscriptionRecord(
        id=obj.id,
        customer_id=_id(obj.customer),
        status=obj.status,
        currency=getattr(obj, "currency", None),  # the local emulator omits it
        created=obj.created,
        start_date=obj.start_date,
        ended_at=obj.ended_at,
        canceled_at=obj.canceled_at,
        cancel_at_period_end=bool(obj.cancel_at_period_end),
        trial_start=obj.trial_start,
        trial_end=obj.trial_end,
        current_period_start=start,
        current_period_end=end,
        items=items,
        items_complete=not listed.has_more,
    )


def _line_record(line: stripe.InvoiceLineItem) -> LineRecord:
    # Since 2025-03-31.basil: the price under `pricing.price_details`, the subscription item
    # and the proration flag under `parent.subscription_item_details` (a one-off invoice
    # item's line has `invoice_item_details` instead); before, at the top level.
    pricing = getattr(line, "pricing", None)
    details = pricing.price_details if pricing else None
    legacy_price = getattr(line, "price", None) or getattr(line, "plan", None)
    price = details.price if details else legacy_price
    parent = getattr(line, "parent", None)
    item = parent.subscription_item_details if parent else None
    legacy_item = getattr(line, "subscription_item", None)
    proration = item.proration if item else bool(getattr(line, "proration", False))
    proration_details = item.proration_details if item else None
    credited = proration_details.credited_items if proration_details else None
    return LineRecord(
        id=line.id,
        price_id=_id(price) if price else None,
        subscription_item_id=item.subscription_item if item else legacy_item,
        quantity=line.quantity,
        amount=line.amount,
        period_start=line.period.start,
        period_end=line.period.end,
        proration=proration,
        # A credit names the debit it credits (`credited_items`); the local emulator leaves
        # that null, so a negative amount says it too.
        credit=proration and (credited is not None or line.amount < 0),
    )


def _invoice_record(obj: stripe.Invoice) -> InvoiceRecord:
    parent = getattr(obj, "parent", None)
    details = parent.subscription_details if parent else None
    transitions = getattr(obj, "status_transitions", None)
    return InvoiceRecord(
        id=str(obj.id),
        subscription_id=_id(details.subscription) if details else _legacy_subscription(obj),
        status=obj.status or "draft",
        billing_reason=obj.billing_reason,
        created=obj.created,
        paid_at=transitions.paid_at if transitions else None,
        lines=tuple(_line_record(line) for line in obj.lines.data),
        lines_complete=not obj.lines.has_more,
    )


def item_switch_params(
    *, item_id: str, price: str, quantity: int | None = None, prorate_at: int | None = None
) -> SubscriptionUpdateParams:
    """The update that moves one subscription item to `price` and `quantity` (None keeps the
    item's quantity).

    Without `prorate_at`, Stripe adds no prorations of its own (`proration_behavior="none"`):
    the change was invoiced by Uplift already, or it takes effect at the period end and charges
    nothing. With it, Stripe prorates as of that time, invoices the prorations at once and
    holds the change until that invoice is paid (`always_invoice`, `pending_if_incomplete`).
    """
    item: SubscriptionUpdateParamsItem = {"id": item_id, "price": price}
    if quantity is not None:
        item["quantity"] = quantity
    if prorate_at is None:
        return {"items": [item], "proration_behavior": "none"}
    return {
        "items": [item],
        "proration_date": prorate_at,
        "proration_behavior": "always_invoice",
        "payment_behavior": "pending_if_incomplete",
    }


def _translate(exc: stripe.StripeError) -> StripeError:
    if isinstance(exc, stripe.APIConnectionError | stripe.RateLimitError):
        return StripeUnavailable(exc.user_message or str(exc))
    if isinstance(exc, stripe.APIError) or (exc.http_status or 0) >= 500:
        return StripeUnavailable(exc.user_message or "Stripe had an internal error")
    error = exc.error
    return StripeRejected(
        exc.user_message or str(exc),
        code=exc.code,
        decline_code=getattr(error, "decline_code", None) if error else None,
        param=getattr(error, "param", None) if error else None,
        http_status=exc.http_status,
    )


async def _call(request: Callable[[], Awaitable[T]]) -> T:
    try:
        return await request()
    except stripe.StripeError as exc:
        raise _translate(exc) from None


def _options(idempotency_key: str) -> stripe.RequestOptions:
    if not idempotency_key or len(idempotency_key) > 255:
        raise ValueError("an idempotency key is 1 to 255 characters")
    return {"idempotency_key": idempotency_key}


class StripeGateway:
    def __init__(self, *, api_key: str, api_base: str | None = None, max_retries: int = 2):
        self._http = stripe.HTTPXClient()
        self._client = stripe.StripeClient(
            api_key,
            base_addresses={"api": api_base or DEFAULT_API_BASE},
            http_client=self._http,
            max_network_retries=max_retries,
        )

    async def close(self) -> None:
        await self._http.close_async()  # type: ignore[no-untyped-call]  # untyped upstream

    # Customers

    async def create_customer(
        self, params: CustomerCreateParams, *, idempotency_key: str
    ) -> Customer:
        obj = await _call(
            lambda: self._client.v1.customers.create_async(params, _options(idempotency_key))
        )
        return _customer(obj)

    async def retrieve_customer(self, customer_id: str) -> Customer:
        obj = await _call(lambda: self._client.v1.customers.retrieve_async(customer_id))
        return _customer(obj)

    async def set_default_payment_method(
        self, *, customer_id: str, payment_method: str, idempotency_key: str
    ) -> Customer:
        """Attach a saved payment method and make it what subscriptions charge."""
        await _call(
            lambda: self._client.v1.payment_methods.attach_async(
                payment_method, {"customer": customer_id}, _options(idempotency_key + ":attach")
            )
        )
        obj = await _call(
            lambda: self._client.v1.customers.update_async(
                customer_id,
                {"invoice_settings": {"default_payment_method": payment_method}},
                _options(idempotency_key + ":default"),
            )
        )
        return _customer(obj)

    # Catalog

    async def create_product(self, params: ProductCreateParams, *, idempotency_key: str) -> Product:
        obj = await _call(
            lambda: self._client.v1.products.create_async(params, _options(idempotency_key))
        )
        return _product(obj)

    async def create_price(self, params: PriceCreateParams, *, idempotency_key: str) -> Price:
        obj = await _call(
            lambda: self._client.v1.prices.create_async(params, _options(idempotency_key))
        )
        return _price(obj)

    async def retrieve_product(self, product_id: str) -> Product:
        obj = await _call(lambda: self._client.v1.products.retrieve_async(product_id))
        return _product(obj)

    async def retrieve_price(self, price_id: str) -> Price:
        # Stripe includes a tiered price's tiers only when asked (`expand[]=tiers`).
        obj = await _call(
            lambda: self._client.v1.prices.retrieve_async(price_id, {"expand": ["tiers"]})
        )
        return _price(obj)

    async def iter_products(
        self, params: ProductListParams | None = None
    ) -> AsyncIterator[Product]:
        page = await _call(
            lambda: self._client.v1.products.list_async({"limit": 100, **(params or {})})
        )
        try:
            async for obj in page.auto_paging_iter():
                yield _product(obj)
        except stripe.StripeError as exc:
            raise _translate(exc) from None

    async def iter_prices(self, params: PriceListParams | None = None) -> AsyncIterator[Price]:
        page = await _call(
            lambda: self._client.v1.prices.list_async({"limit": 100, **(params or {})})
        )
        try:
            async for obj in page.auto_paging_iter():
                yield _price(obj)
        except stripe.StripeError as exc:
            raise _translate(exc) from None

    # Subscriptions

    async def create_subscription(
        self, params: SubscriptionCreateParams, *, idempotency_key: str
    ) -> Subscription:
        obj = await _call(
            lambda: self._client.v1.subscriptions.create_async(params, _options(idempotency_key))
        )
        return _subscription(obj)

    async def retrieve_subscription(self, subscription_id: str) -> Subscription:
        obj = await _call(lambda: self._client.v1.subscriptions.retrieve_async(subscription_id))
        return _subscription(obj)

    async def update_subscription(
        self,
        subscription_id: str,
        params: SubscriptionUpdateParams,
        *,
        idempotency_key: str,
        coupon: str | None = None,
    ) -> Subscription:
        """`coupon`: attach it to the (one) item the update names, as that item's discount."""
        if coupon is not None:
            params = {
                **params,
                "items": [
                    {**item, "discounts": [{"coupon": coupon}]}
                    for item in params.get("items") or []
                ],
            }
        obj = await _call(
            lambda: self._client.v1.subscriptions.update_async(
                subscription_id, params, _options(idempotency_key)
            )
        )
        return _subscription(obj)

    async def create_subscription_item(
        self,
        params: SubscriptionItemCreateParams,
        *,
        idempotency_key: str,
        coupon: str | None = None,
    ) -> SubscriptionItem:
        """Add an item (an add-on's price) to an existing subscription: never a second
        subscription. `coupon`: the new item's own discount."""
        if coupon is not None:
            params = {**params, "discounts": [{"coupon": coupon}]}
        obj = await _call(
            lambda: self._client.v1.subscription_items.create_async(
                params, _options(idempotency_key)
            )
        )
        return _subscription_item(obj)

    # Coupons

    async def create_coupon(
        self,
        *,
        coupon_id: str,
        name: str,
        percent_off: int | None,
        amount_off: int | None,
        currency: str,
        duration_in_months: int | None,
        metadata: dict[str, str],
        idempotency_key: str,
    ) -> Coupon:
        """A coupon for one accepted offer: a percent or an amount (in `currency`) off,
        `repeating` for `duration_in_months`, else `once`. Attach it with `coupon=` on
        `create_subscription_item` / `update_subscription` (the item's own discounts)."""
        params: CouponCreateParams = {
            "id": coupon_id,
            "name": name,
            "metadata": metadata,
            "duration": "once" if duration_in_months is None else "repeating",
        }
        if duration_in_months is not None:
            params["duration_in_months"] = duration_in_months
        if amount_off is not None:
            params["amount_off"] = amount_off
            params["currency"] = currency
        else:
            params["percent_off"] = float(percent_off or 0)
        obj = await _call(
            lambda: self._client.v1.coupons.create_async(params, _options(idempotency_key))
        )
        return Coupon(
            id=obj.id,
            percent_off=obj.percent_off,
            amount_off=obj.amount_off,
            currency=obj.currency,
            duration=obj.duration,
            duration_in_months=obj.duration_in_months,
        )

    # Invoice items and invoices

    async def create_invoice_item(
        self, params: InvoiceItemCreateParams, *, idempotency_key: str
    ) -> InvoiceItem:
        obj = await _call(
            lambda: self._client.v1.invoice_items.create_async(params, _options(idempotency_key))
        )
        return _invoice_item(obj)

    async def delete_invoice_item(self, item_id: str) -> None:
        """Remove a pending (or draft) invoice item. A DELETE is idempotent by itself, so Stripe
        takes no idempotency key; a second delete is a 404, which is reported as done."""
        try:
            await self._client.v1.invoice_items.delete_async(item_id)
        except stripe.InvalidRequestError as exc:
            if exc.http_status != 404:
                raise _translate(exc) from None
        except stripe.StripeError as exc:
            raise _translate(exc) from None

    async def create_invoice(self, params: InvoiceCreateParams, *, idempotency_key: str) -> Invoice:
        obj = await _call(
            lambda: self._client.v1.invoices.create_async(params, _options(idempotency_key))
        )
        return _invoice(obj)

    async def retrieve_invoice(self, invoice_id: str) -> Invoice:
        obj = await _call(lambda: self._client.v1.invoices.retrieve_async(invoice_id))
        return _invoice(obj)

    async def finalize_invoice(self, invoice_id: str, *, idempotency_key: str) -> Invoice:
        # auto_advance=False: Uplift pays the invoice itself, right away, with its own key;
        # Stripe's automatic collection would otherwise attempt it again an hour later.
        obj = await _call(
            lambda: self._client.v1.invoices.finalize_invoice_async(
                invoice_id, {"auto_advance": False}, _options(idempotency_key)
            )
        )
        return _invoice(obj)

    async def pay_invoice(self, invoice_id: str, *, idempotency_key: str) -> Invoice:
        """Charge the customer's default payment method, off-session. A decline or a card that
        needs 3-D Secure raises `StripeRejected` (code `card_declined`,
        `invoice_payment_intent_requires_action` …); the invoice then stays open."""
        obj = await _call(
            lambda: self._client.v1.invoices.pay_async(
                invoice_id, {"off_session": True}, _options(idempotency_key)
            )
        )
        return _invoice(obj)

    async def void_invoice(self, invoice_id: str, *, idempotency_key: str) -> Invoice:
        obj = await _call(
            lambda: self._client.v1.invoices.void_invoice_async(
                invoice_id, None, _options(idempotency_key)
            )
        )
        return _invoice(obj)

    # Webhook endpoints

    async def create_webhook_endpoint(
        self,
        params: WebhookEndpointCreateParams,
        *,
        idempotency_key: str,
    ) -> WebhookEndpoint:
        obj = await _call(
            lambda: self._client.v1.webhook_endpoints.create_async(
                params, _options(idempotency_key)
            )
        )
        return WebhookEndpoint(
            id=obj.id,
            url=obj.url,
            enabled_events=tuple(obj.enabled_events),
            secret=obj.secret,
        )

    # Reading an account's past (`uplift import`): one page per call, so the caller can retry
    # a page (a 429 is not retried by stripe-python, see plugin/billing/importer.py) and resume
    # from its cursor. Stripe's lists take `limit` 1 to 100 and `starting_after` an object id
    # (docs.stripe.com/api/pagination).

    async def list_subscriptions(
        self,
        *,
        customer: str | None = None,
        limit: int = 100,
        starting_after: str | None = None,
    ) -> Page[SubscriptionRecord]:
        """Every status: without `status=all` Stripe lists only subscriptions not canceled
        (docs.stripe.com/api/subscriptions/list)."""
        params: SubscriptionListParams = {"status": "all", "limit": limit}
        if customer is not None:
            params["customer"] = customer
        if starting_after is not None:
            params["starting_after"] = starting_after
        page = await _call(lambda: self._client.v1.subscriptions.list_async(params))
        return Page(tuple(_subscription_record(obj) for obj in page.data), bool(page.has_more))

    async def list_subscription_items(
        self, subscription_id: str, *, limit: int = 100, starting_after: str | None = None
    ) -> Page[ItemRecord]:
        """A subscription's items beyond those embedded in it (`items.has_more`)."""
        params: SubscriptionItemListParams = {"subscription": subscription_id, "limit": limit}
        if starting_after is not None:
            params["starting_after"] = starting_after
        page = await _call(lambda: self._client.v1.subscription_items.list_async(params))
        return Page(tuple(_item_record(obj) for obj in page.data), bool(page.has_more))

    async def list_invoices(
        self, *, subscription: str, limit: int = 100, starting_after: str | None = None
    ) -> Page[InvoiceRecord]:
        """A subscription's invoices, every status, each with its first lines
        (`lines_complete` False when Stripe has more: `list_invoice_lines`)."""
        params: InvoiceListParams = {"subscription": subscription, "limit": limit}
        if starting_after is not None:
            params["starting_after"] = starting_after
        page = await _call(lambda: self._client.v1.invoices.list_async(params))
        return Page(tuple(_invoice_record(obj) for obj in page.data), bool(page.has_more))

    async def list_invoice_lines(
        self, invoice_id: str, *, limit: int = 100, starting_after: str | None = None
    ) -> Page[LineRecord]:
        params: InvoiceLineItemListParams = {"limit": limit}
        if starting_after is not None:
            params["starting_after"] = starting_after
        page = await _call(
            lambda: self._client.v1.invoices.line_items.list_async(invoice_id, params)
        )
        return Page(tuple(_line_record(obj) for obj in page.data), bool(page.has_more))
