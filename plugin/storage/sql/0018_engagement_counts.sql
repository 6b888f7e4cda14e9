-- Engagement facts (issue 22): per customer, per UTC day, how often a product event
-- (`POST /api/v1/events`, kind 'event') happened or a gated feature was hit
-- (`POST /api/v1/feature-events`, kind 'feature'), for targeting's counted rules. Bounded: a
-- customer's rows older than 90 days are deleted when the customer's next count is written, and
-- at most 50 event names and 50 features are counted per customer over those 90 days.
CREATE TABLE engagement_counts (
    customer_id TEXT    NOT NULL,
    kind        TEXT    NOT NULL CHECK (kind IN ('event', 'feature')),
    name        TEXT    NOT NULL,
    day         INTEGER NOT NULL,          -- unix day: unix seconds // 86400 (UTC)
    count       INTEGER NOT NULL,
    PRIMARY KEY (customer_id, kind, name, day)
);

-- `POST /api/v1/events`' Idempotency-Key, per customer, kept 24 hours (as Stripe keeps its).
CREATE TABLE event_requests (
    customer_id     TEXT    NOT NULL,
    idempotency_key TEXT    NOT NULL,
    fingerprint     TEXT    NOT NULL,      -- sha256 of the request body: same key, other body = 422
    occurred_at     INTEGER NOT NULL,      -- the first request's, for the replayed answer
    created_at      INTEGER NOT NULL,
    PRIMARY KEY (customer_id, idempotency_key)
);
