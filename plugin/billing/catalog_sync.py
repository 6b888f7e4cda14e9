"""The catalog copied from Stripe: every product and price, replacing what Uplift had
(`uplift catalog sync`, the demo's setup). Webhooks keep it current afterwards."""

from __future__ import annotations

from plugin import storage
from plugin.billing.stripe_gateway import StripeGateway
from plugin.storage import Database


async def sync_catalog(db: Database, gateway: StripeGateway, *, now: int) -> tuple[int, int]:
    """Copies Stripe's products and prices; returns how many of each."""
    products = [product async for product in gateway.iter_products()]
    prices = [price async for price in gateway.iter_prices()]
    await storage.catalog.replace(db, products=products, prices=prices, now=now)
    return len(products), len(prices)
