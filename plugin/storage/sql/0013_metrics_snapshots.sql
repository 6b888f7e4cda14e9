-- Revenue metrics read the subscriptions' snapshots (issue 19): who changed plan since a
-- period's start (a plan change that kept the MRR makes a snapshot and no movement), found
-- by time rather than by a scan of the whole history.
CREATE INDEX IF NOT EXISTS subscription_snapshots_time
    ON subscription_snapshots (occurred_at, customer_id);
