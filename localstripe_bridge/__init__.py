"""The local Stripe for Uplift's tests and `uplift demo`: localstripe, bridged where it falls short.

`python -m localstripe_bridge` serves localstripe's aiohttp app on loopback with extra routes and
middleware (Prices, subscription items with `price`, webhook endpoints, idempotency, Stripe-shaped
errors) so that stripe-python sends exactly the requests it would send to Stripe. See
docs/stripe-emulator.md for every gap and how it is bridged.

This package's `__init__` imports nothing: `localstripe_bridge.process` is imported by Uplift's
demo and test fixtures, which must not pull in localstripe or aiohttp.
"""
