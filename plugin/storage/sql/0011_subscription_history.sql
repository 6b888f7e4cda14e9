-- Every snapshot of a subscription Uplift has seen, so MRR movements are derived from its history
-- in Stripe's order rather than in delivery order (plugin/billing/history.py). A snapshot comes
-- from a webhook event (`source_id` = evt_…) or from `uplift import` (import:…).
CREATE TABLE subscription_snapshots (
    subscription_id TEXT    NOT NULL,
    source_id       TEXT    NOT NULL,
    occurred_at     INTEGER NOT NULL,          -- when Stripe says the snapshot was true
    seq             INTEGER NOT NULL,          -- arrival order, for snapshots of the same second
    customer_id     TEXT    NOT NULL,
    currency        TEXT    NOT NULL,
    mrr             INTEGER NOT NULL,          -- minor units of `currency`
    price_ids       TEXT    NOT NULL,          -- JSON list: the items' prices (for attribution)
    PRIMARY KEY (subscription_id, source_id)
);

-- Subscriptions mirrored before this migration: their history is what their ledger recorded
-- (each movement's MRR after it), so deriving again reproduces the ledger exactly.
INSERT INTO subscription_snapshots (subscription_id, source_id, occurred_at, seq, customer_id,
                                    currency, mrr, price_ids)
SELECT subscription_id, event_id, occurred_at, id, customer_id, currency, mrr_after, '[]'
FROM mrr_movements;
