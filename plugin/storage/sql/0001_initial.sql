-- Foundation schema: admin keys and the catalog mirrored from Stripe.
-- Times are integer unix seconds; JSON is stored as text; money is integer minor units.

CREATE TABLE admin_keys (
    id           TEXT    PRIMARY KEY,          -- ak_…
    name         TEXT    NOT NULL,
    key_hash     TEXT    NOT NULL UNIQUE,      -- hex SHA-256 of the key; the key itself is never stored
    prefix       TEXT    NOT NULL,             -- first characters, so an operator can tell keys apart
    created_at   INTEGER NOT NULL,
    last_used_at INTEGER,
    revoked_at   INTEGER
);

CREATE TABLE stripe_products (
    id        TEXT    PRIMARY KEY,             -- prod_…
    name      TEXT    NOT NULL,
    active    INTEGER NOT NULL,
    metadata  TEXT    NOT NULL DEFAULT '{}',
    synced_at INTEGER NOT NULL
);

CREATE TABLE stripe_prices (
    id             TEXT    PRIMARY KEY,        -- price_…
    product_id     TEXT    NOT NULL REFERENCES stripe_products (id),
    currency       TEXT    NOT NULL,           -- ISO 4217, lower case as Stripe sends it
    unit_amount    INTEGER,                    -- minor units; NULL for non per-unit prices
    interval       TEXT,                       -- day | week | month | year; NULL for one-time
    interval_count INTEGER,
    lookup_key     TEXT,
    active         INTEGER NOT NULL,
    metadata       TEXT    NOT NULL DEFAULT '{}',
    synced_at      INTEGER NOT NULL
);

CREATE INDEX stripe_prices_product ON stripe_prices (product_id);
