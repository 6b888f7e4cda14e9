"""Uplift: a self-hosted upsell and cross-sell server beside a SaaS and its Stripe account."""

__version__ = "0.1.0"
