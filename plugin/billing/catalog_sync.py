"""The catalog copied from Stripe: every product and price, replacing what Uplift had
(`uplift catalog sync`, the demo's setup). Webhooks keep it current afterwards."""

from __future__ import annotations

from plugin import storage
from plugin.billing.stripe_gateway import StripeGateway
from plugin.storage import Database


async def sync_catalog(db: Database, gateway: StripeGateway, *, now: int) -> tuple[int, int]:
    """Copies Stripe's products and prices; returns how many of each."""
    products = [product async for product in gateway.iter_products()]
    # Stripe includes a tiered price's tiers only when asked (`expand[]=data.tiers`).
    prices = [price async for price in gateway.iter_prices({"expand": ["data.tiers"]})]
    await storage.catalog.replace(db, products=products, prices=prices, now=now)
    return len(products), len(prices)
