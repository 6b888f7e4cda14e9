-- Stripe webhook intake: the event store, per-object ordering, the subscription mirror, the MRR
-- ledger and orders. Times are integer unix seconds; money is integer minor units.

-- Every verified event, stored once by its Stripe id before the 200 goes out. `seq` orders the
-- admin list (newest first) and gives the worker a stable FIFO.
CREATE TABLE webhook_events (
    seq             INTEGER PRIMARY KEY,
    id              TEXT    NOT NULL UNIQUE,   -- evt_…
    type            TEXT    NOT NULL,
    object_id       TEXT,                      -- data.object.id, when the object has one
    created         INTEGER NOT NULL,          -- Stripe's event.created
    livemode        INTEGER NOT NULL,
    payload         TEXT    NOT NULL,          -- the verified body, verbatim
    status          TEXT    NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'processed', 'ignored', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT,
    next_attempt_at INTEGER NOT NULL,          -- the worker leaves a pending event alone until then
    received_at     INTEGER NOT NULL,
    processed_at    INTEGER
);

CREATE INDEX webhook_events_due ON webhook_events (status, next_attempt_at);

-- Per object (subscription, customer, invoice, …), the event that last changed our picture of it;
-- an older snapshot arriving late is skipped instead of overwriting newer state.
CREATE TABLE webhook_object_versions (
    object_id     TEXT    PRIMARY KEY,
    event_created INTEGER NOT NULL,
    event_id      TEXT    NOT NULL
);

CREATE TABLE subscriptions (
    id                   TEXT    PRIMARY KEY,  -- sub_…
    customer_id          TEXT    NOT NULL,
    status               TEXT    NOT NULL,
    currency             TEXT    NOT NULL,
    current_period_start INTEGER,
    current_period_end   INTEGER,
    trial_end            INTEGER,
    cancel_at_period_end INTEGER NOT NULL,
    canceled_at          INTEGER,
    mrr                  INTEGER NOT NULL,     -- monthly recurring revenue in minor units of `currency`
    updated_at           INTEGER NOT NULL
);

CREATE INDEX subscriptions_customer ON subscriptions (customer_id);

CREATE TABLE subscription_items (
    id              TEXT    PRIMARY KEY,       -- si_…
    subscription_id TEXT    NOT NULL REFERENCES subscriptions (id) ON DELETE CASCADE,
    price_id        TEXT    NOT NULL,
    product_id      TEXT    NOT NULL,
    quantity        INTEGER NOT NULL,
    unit_amount     INTEGER,
    currency        TEXT    NOT NULL,
    interval        TEXT,
    interval_count  INTEGER
);

CREATE INDEX subscription_items_subscription ON subscription_items (subscription_id);

-- One row per MRR change. The event id makes recording it idempotent: a crash between the movement
-- and marking the event processed cannot count it twice.
CREATE TABLE mrr_movements (
    id              INTEGER PRIMARY KEY,
    event_id        TEXT    NOT NULL UNIQUE,
    subscription_id TEXT    NOT NULL,
    customer_id     TEXT    NOT NULL,
    kind            TEXT    NOT NULL
                    CHECK (kind IN ('new', 'expansion', 'contraction', 'churn', 'reactivation')),
    currency        TEXT    NOT NULL,
    amount          INTEGER NOT NULL,          -- signed change of MRR, minor units
    mrr_before      INTEGER NOT NULL,
    mrr_after       INTEGER NOT NULL,
    occurred_at     INTEGER NOT NULL,          -- the event's `created`
    upgrade_id      TEXT,                      -- attribution to an Uplift upgrade, when it caused this
    offer_id        TEXT
);

CREATE INDEX mrr_movements_subscription ON mrr_movements (subscription_id);

-- A completed purchase the widget can follow with a cross-sell. A subscription bought through
-- Checkout arrives twice (the session and its first invoice), so both map to one `key`.
CREATE TABLE orders (
    id                  INTEGER PRIMARY KEY,
    key                 TEXT    NOT NULL UNIQUE,  -- subscription id, else session or invoice id
    customer_id         TEXT,
    subscription_id     TEXT,
    checkout_session_id TEXT,
    invoice_id          TEXT,
    currency            TEXT,
    amount_total        INTEGER,
    created_at          INTEGER NOT NULL,         -- Stripe's event.created of the first sighting
    recorded_at         INTEGER NOT NULL
);

CREATE INDEX orders_customer ON orders (customer_id);
