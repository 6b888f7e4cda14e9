-- At most one change of a subscription in flight, whatever the number of requests, processes
-- and instances: a second claim for a subscription that has an upgrade `processing` (charging
-- now) or `requires_action` (an open invoice the customer is paying) conflicts, as does a second
-- scheduled (period-end) change. Quotes are many; this index is the one place where the
-- accepts of different quotes for one subscription take turns.
CREATE UNIQUE INDEX upgrades_one_in_flight ON upgrades (subscription_id)
    WHERE status IN ('processing', 'requires_action');
CREATE UNIQUE INDEX upgrades_one_scheduled ON upgrades (subscription_id)
    WHERE status = 'scheduled';

-- When the accept that claimed the upgrade re-read the subscription and found it still as
-- quoted, before anything was sent to Stripe. A claim never verified made no Stripe call and
-- may be released (deleted); earlier upgrades count as verified.
ALTER TABLE upgrades ADD COLUMN verified_at INTEGER;
UPDATE upgrades SET verified_at = created_at;

-- Until when a retention discount granted by this upgrade runs (NULL: not a retention
-- discount): another is not granted to the subscription before then.
ALTER TABLE upgrades ADD COLUMN retention_until INTEGER;

CREATE INDEX upgrades_offer ON upgrades (customer_id, offer_id);
