-- Quotes and upgrades. Times are integer unix seconds; money is integer minor units; JSON is text.

-- A quote locks `proration_date` and the subscription state it was computed from, so accepting it
-- charges exactly what was shown, or refuses (expired: 410; subscription changed since: 409).
CREATE TABLE quotes (
    id                   TEXT    PRIMARY KEY,      -- qt_…
    customer_id          TEXT    NOT NULL,         -- Stripe customer (cus_…)
    offer_id             TEXT,
    variant              TEXT,
    execution            TEXT    NOT NULL CHECK (execution IN ('uplift', 'stripe')),
    timing               TEXT    NOT NULL CHECK (timing IN ('now', 'period_end')),
    subscription_id      TEXT    NOT NULL,
    subscription_item_id TEXT    NOT NULL,
    from_price           TEXT    NOT NULL,
    from_quantity        INTEGER NOT NULL,
    to_price             TEXT    NOT NULL,
    to_quantity          INTEGER NOT NULL,
    period_start         INTEGER NOT NULL,
    period_end           INTEGER NOT NULL,
    proration_date       INTEGER NOT NULL,         -- `t`, sent to Stripe as is
    currency             TEXT    NOT NULL,
    lines                TEXT    NOT NULL,         -- JSON list of the engine's lines
    invoice_total        INTEGER NOT NULL,
    amount_due_now       INTEGER NOT NULL,
    mrr_delta            INTEGER NOT NULL,
    created_at           INTEGER NOT NULL,
    expires_at           INTEGER NOT NULL
);

CREATE INDEX quotes_customer ON quotes (customer_id, created_at);

-- One row per accepted quote. UNIQUE (quote_id) is what makes two concurrent accepts charge
-- once: both try to insert, one wins, the loser reads the winner's row (insert first, no
-- check-then-act). The accept request's Idempotency-Key is unique per customer.
CREATE TABLE upgrades (
    id                   TEXT    PRIMARY KEY,      -- up_…
    quote_id             TEXT    NOT NULL UNIQUE REFERENCES quotes (id),
    idempotency_key      TEXT    NOT NULL,
    customer_id          TEXT    NOT NULL,
    offer_id             TEXT,
    variant              TEXT,
    execution            TEXT    NOT NULL,
    subscription_id      TEXT    NOT NULL,
    subscription_item_id TEXT    NOT NULL,
    from_price           TEXT    NOT NULL,
    from_quantity        INTEGER NOT NULL,
    to_price             TEXT    NOT NULL,
    to_quantity          INTEGER NOT NULL,
    currency             TEXT    NOT NULL,
    amount_quoted        INTEGER NOT NULL,         -- the quote's amount due now
    amount_paid          INTEGER,                  -- what Stripe's invoice says was paid
    mrr_delta            INTEGER NOT NULL,
    status               TEXT    NOT NULL CHECK (status IN (
                             'processing', 'requires_action', 'scheduled', 'succeeded', 'failed')),
    invoice_id           TEXT,
    hosted_invoice_url   TEXT,
    failure_reason       TEXT,
    effective_at         INTEGER NOT NULL,         -- when the plan switch applies
    created_at           INTEGER NOT NULL,
    updated_at           INTEGER NOT NULL,
    UNIQUE (customer_id, idempotency_key)
);

CREATE INDEX upgrades_invoice ON upgrades (invoice_id);
CREATE INDEX upgrades_due ON upgrades (status, effective_at);

-- Every status an upgrade went through, in order, with why.
CREATE TABLE upgrade_events (
    seq        INTEGER PRIMARY KEY,
    upgrade_id TEXT    NOT NULL REFERENCES upgrades (id),
    status     TEXT    NOT NULL,
    detail     TEXT,
    at         INTEGER NOT NULL
);

CREATE INDEX upgrade_events_upgrade ON upgrade_events (upgrade_id, seq);
