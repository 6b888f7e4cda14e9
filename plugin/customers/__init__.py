"""Customers: a customer as targeting sees them, assembled from what Uplift stores, and the
per-process cache of those facts. Nothing runs on import."""
