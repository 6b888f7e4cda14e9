"""Billing: money and the catalog as values, proration exactly as Stripe bills it, locked quotes,
the one path that charges (upgrades), trials, period-end upkeep, the Stripe gateway (the only
`import stripe`) and the subscription mirror that webhooks keep. Nothing runs on import."""
