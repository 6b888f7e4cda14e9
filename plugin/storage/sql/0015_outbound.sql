-- Outbound webhooks (issue 21): the SaaS's own endpoints, the outbox of what happened, and each
-- event's delivery to each endpoint with its attempts. Standard Webhooks: the event id is the
-- `webhook-id` every attempt carries, so a receiver dedupes on it.

-- An endpoint of the SaaS's. `events` is a JSON array of event types, or ["*"] for all. The
-- signing secret is kept to sign with (it cannot be a hash); after a rotation the previous one
-- also signs until `previous_secret_until`, so receivers can switch without losing a delivery.
CREATE TABLE webhook_endpoints (
    id                    TEXT    PRIMARY KEY,     -- we_…
    url                   TEXT    NOT NULL,
    description           TEXT    NOT NULL DEFAULT '',
    events                TEXT    NOT NULL,
    enabled               INTEGER NOT NULL DEFAULT 1,
    secret                TEXT    NOT NULL,
    previous_secret       TEXT,
    previous_secret_until INTEGER,
    disabled_reason       TEXT,                    -- set when Uplift turned it off, and why
    failing_since         INTEGER,                 -- first failure since the last success
    created_at            INTEGER NOT NULL,
    updated_at            INTEGER NOT NULL,
    deleted_at            INTEGER                  -- deleted: kept for its deliveries' history
);

-- The outbox: one row per event, written in the transaction of the fact it reports. `fanned_out`
-- turns 1 once a delivery row exists for every endpoint that wanted it (the worker does that).
CREATE TABLE outbound_events (
    seq         INTEGER PRIMARY KEY,
    id          TEXT    NOT NULL UNIQUE,           -- msg_…: the webhook-id
    type        TEXT    NOT NULL,
    occurred_at INTEGER NOT NULL,
    payload     TEXT    NOT NULL,                  -- the body sent, verbatim (type, timestamp, data)
    fanned_out  INTEGER NOT NULL DEFAULT 0
);

CREATE INDEX outbound_events_pending ON outbound_events (fanned_out, seq);

-- An event on its way to one endpoint. `next_attempt_at` is also the lease: a worker taking a
-- delivery moves it past the attempt's timeout, so another worker (or this one after a crash)
-- takes it again only if the attempt never finished.
CREATE TABLE webhook_deliveries (
    seq              INTEGER PRIMARY KEY,
    id               TEXT    NOT NULL UNIQUE,      -- wd_…
    event_id         TEXT    NOT NULL REFERENCES outbound_events (id),
    endpoint_id      TEXT    NOT NULL REFERENCES webhook_endpoints (id),
    status           TEXT    NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'succeeded', 'failed')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  INTEGER NOT NULL,
    last_status_code INTEGER,
    last_error       TEXT,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    UNIQUE (event_id, endpoint_id)
);

CREATE INDEX webhook_deliveries_due ON webhook_deliveries (status, next_attempt_at);
CREATE INDEX webhook_deliveries_endpoint ON webhook_deliveries (endpoint_id, seq);

-- Every attempt: when, what came back (or why nothing did), how long it took.
CREATE TABLE webhook_attempts (
    seq         INTEGER PRIMARY KEY,
    delivery_id TEXT    NOT NULL REFERENCES webhook_deliveries (id),
    at          INTEGER NOT NULL,
    status_code INTEGER,
    latency_ms  INTEGER NOT NULL,
    error       TEXT
);

CREATE INDEX webhook_attempts_delivery ON webhook_attempts (delivery_id, seq);

-- usage.threshold_crossed fires once per crossing: the highest threshold each customer's metric
-- is at or above now. Falling below a threshold lowers it, so crossing again fires again.
CREATE TABLE usage_thresholds (
    customer_id TEXT    NOT NULL,
    metric      TEXT    NOT NULL,
    percent     INTEGER NOT NULL,
    PRIMARY KEY (customer_id, metric)
);

-- Why a customer declined or dismissed an offer, or what they answered to a survey: the reason
-- key from the offer's list, and optional free text (hostile wherever it is shown).
CREATE TABLE feedback (
    seq         INTEGER PRIMARY KEY,
    customer_id TEXT    NOT NULL,
    offer_id    TEXT    NOT NULL,
    variant     TEXT,
    kind        TEXT    NOT NULL CHECK (kind IN ('decline', 'dismiss', 'survey', 'downgrade')),
    answer      TEXT,                              -- a reason key or a survey choice
    score       INTEGER,                           -- a 1-5 scale answer
    text        TEXT,
    at          INTEGER NOT NULL
);

CREATE INDEX feedback_offer ON feedback (offer_id, seq);
CREATE INDEX feedback_customer ON feedback (customer_id, seq);

-- trial.ending and trial.ended are announced once per grant; a grant's flag turns 1 in the
-- transaction that announces it. Grants that ended before this migration are never announced
-- (the worker only looks a day back).
ALTER TABLE trial_grants ADD COLUMN ending_announced INTEGER NOT NULL DEFAULT 0;
ALTER TABLE trial_grants ADD COLUMN ended_announced INTEGER NOT NULL DEFAULT 0;
CREATE INDEX trial_grants_ends ON trial_grants (ends_at);
