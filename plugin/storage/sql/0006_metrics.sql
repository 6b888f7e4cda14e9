-- Indexes for revenue metrics (GET /api/v1/admin/metrics, …/timeseries, the dashboard), so a
-- period reads its own rows and the customers who moved in it, never the whole history.
-- Each covers its query (the columns it reads follow the ones it seeks by).

-- The ledger per currency and kind, in time: totals before a period and in it, read in
-- index order (no sort), one range per (currency, kind).
CREATE INDEX IF NOT EXISTS mrr_movements_kind_time
    ON mrr_movements (currency, kind, occurred_at, amount);
-- Who moved since a time.
CREATE INDEX IF NOT EXISTS mrr_movements_time
    ON mrr_movements (occurred_at, customer_id, subscription_id);
-- The ledger by customer: the history of the customers who moved (NDR cohort, first payment).
CREATE INDEX IF NOT EXISTS mrr_movements_customer
    ON mrr_movements (customer_id, occurred_at, currency, kind, amount);
-- The ledger by subscription, in time: MRR at the period's start of those that moved since.
CREATE INDEX IF NOT EXISTS mrr_movements_subscription_time
    ON mrr_movements (subscription_id, occurred_at, amount);

-- When upgrades succeeded, by time; an upgrade's customer and subscription history.
CREATE INDEX IF NOT EXISTS upgrade_events_status_time ON upgrade_events (status, at, upgrade_id);
CREATE INDEX IF NOT EXISTS upgrades_customer ON upgrades (customer_id, status);
CREATE INDEX IF NOT EXISTS upgrades_subscription ON upgrades (subscription_id, created_at);
CREATE INDEX IF NOT EXISTS upgrades_created
    ON upgrades (created_at, status, subscription_id, customer_id, from_price);

-- A plan's subscriptions (the upsell conversion's denominator), and their MRR and customer.
CREATE INDEX IF NOT EXISTS subscription_items_price ON subscription_items (price_id, subscription_id);
CREATE INDEX IF NOT EXISTS subscriptions_mrr ON subscriptions (id, mrr, customer_id);

-- The offer funnel of a period: clicks and accepts, and first exposures, by time.
CREATE INDEX IF NOT EXISTS offer_events_type_time
    ON offer_events (type, at, offer_id, arm, customer_id);
CREATE INDEX IF NOT EXISTS offer_assignments_time
    ON offer_assignments (assigned_at, offer_id, arm);
