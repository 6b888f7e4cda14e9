"""Outbound webhooks to the SaaS's own systems, per the Standard Webhooks specification.

- `events`: the event types and the body of each (pure).
- `signing`: `whsec_` secrets and the `webhook-signature` header (pure; `standardwebhooks`).
- `backoff`: when a failed delivery is tried again, and when it is given up (pure).
- `addresses`: which addresses a delivery may go to (SSRF), and resolving a URL's host.
- `delivery`: one attempt over HTTP: pinned to the checked address, 10 s, no redirects.
- `outbox`: announcing an event inside the transaction of the fact it reports.
- `worker`: fans the outbox out to endpoints and delivers what is due, at least once.
"""
