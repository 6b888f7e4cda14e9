-- How a price computes its amount, kept for the catalog's prices and the mirror's items, so MRR
-- counts tiered, metered and transformed prices the way Stripe bills them (Stripe's names):
--   unit_amount_decimal   exact decimal text when it says more than unit_amount (e.g. '0.5')
--   billing_scheme        per_unit | tiered
--   tiers_mode            graduated | volume (tiered only)
--   tiers                 JSON list of {"up_to", "unit_amount", "flat_amount"}, amounts as exact
--                         decimal strings, up_to null for infinity; NULL: not known (Stripe sends
--                         tiers only when expanded)
--   usage_type            licensed | metered
--   transform_divide_by / transform_round   transform_quantity (per-unit only)
-- Rows written before this migration are per-unit licensed prices, which the defaults say.

ALTER TABLE stripe_prices ADD COLUMN unit_amount_decimal TEXT;
ALTER TABLE stripe_prices ADD COLUMN billing_scheme TEXT NOT NULL DEFAULT 'per_unit';
ALTER TABLE stripe_prices ADD COLUMN tiers_mode TEXT;
ALTER TABLE stripe_prices ADD COLUMN tiers TEXT;
ALTER TABLE stripe_prices ADD COLUMN usage_type TEXT NOT NULL DEFAULT 'licensed';
ALTER TABLE stripe_prices ADD COLUMN transform_divide_by INTEGER;
ALTER TABLE stripe_prices ADD COLUMN transform_round TEXT;

-- The mirror's items also lose NOT NULL on product_id: a legacy plan (API versions before
-- 2018-02-05) names no product, and the catalog may not know it yet. SQLite cannot drop a NOT
-- NULL constraint in place, so the table is rebuilt (it is a mirror of Stripe, and nothing
-- refers to it).
CREATE TABLE subscription_items_0010 (
    id                  TEXT    PRIMARY KEY,   -- si_… (or sub_…:plan for an items-less legacy payload)
    subscription_id     TEXT    NOT NULL REFERENCES subscriptions (id) ON DELETE CASCADE,
    price_id            TEXT    NOT NULL,
    product_id          TEXT,
    quantity            INTEGER NOT NULL,
    unit_amount         INTEGER,
    currency            TEXT    NOT NULL,
    interval            TEXT,
    interval_count      INTEGER,
    unit_amount_decimal TEXT,
    billing_scheme      TEXT    NOT NULL DEFAULT 'per_unit',
    tiers_mode          TEXT,
    tiers               TEXT,
    usage_type          TEXT    NOT NULL DEFAULT 'licensed',
    transform_divide_by INTEGER,
    transform_round     TEXT
);

INSERT INTO subscription_items_0010 (id, subscription_id, price_id, product_id, quantity,
                                     unit_amount, currency, interval, interval_count)
SELECT id, subscription_id, price_id, product_id, quantity, unit_amount, currency, interval,
       interval_count
FROM subscription_items;

DROP TABLE subscription_items;
ALTER TABLE subscription_items_0010 RENAME TO subscription_items;

CREATE INDEX subscription_items_subscription ON subscription_items (subscription_id);
CREATE INDEX subscription_items_price ON subscription_items (price_id, subscription_id);
