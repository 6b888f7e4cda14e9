"""Metrics: the upsell and cross-sell figures, pure arithmetic over facts the storage layer
gathers, each with its numerator and denominator, per currency. Nothing runs on import."""
