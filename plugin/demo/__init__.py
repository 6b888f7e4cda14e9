"""The self-contained demo (`uplift demo`): the local Stripe, a seeded Uplift, the demo SaaS's
pages and a simulated crowd of customers. Never imported by the server itself."""
