"""Stripe webhook intake: signature checks, the event store, processing. Nothing runs on import."""
