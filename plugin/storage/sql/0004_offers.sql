-- Offers and what they need to decide: the plan ladder, customers, usage, feature hits,
-- experiment assignments, offer events, and the admin audit log.
-- Times are integer unix seconds; JSON is text.

-- The admin's plan ladder: what Stripe does not know (tier order, limits, features).
CREATE TABLE plans (
    id         TEXT    PRIMARY KEY,            -- the admin's key, e.g. "basic"
    name       TEXT    NOT NULL,
    tier       INTEGER NOT NULL UNIQUE,        -- higher is more; defines upgrade and downgrade
    limits     TEXT    NOT NULL DEFAULT '{}',  -- {"storage_gb": 10, "users": null (unlimited)}
    features   TEXT    NOT NULL DEFAULT '[]',  -- ["sso", "audit_log"]
    updated_at INTEGER NOT NULL
);

-- Which Stripe prices put a customer on which plan (monthly and annual of one tier, say).
CREATE TABLE plan_prices (
    price_id TEXT PRIMARY KEY,                 -- price_…
    plan_id  TEXT NOT NULL REFERENCES plans (id) ON DELETE CASCADE
);

-- The SaaS's customers, keyed by the SaaS's own id (the token's `sub`).
CREATE TABLE customers (
    id              TEXT    PRIMARY KEY,
    stripe_customer TEXT    UNIQUE,            -- cus_…
    attrs           TEXT    NOT NULL DEFAULT '{}',
    signup_at       INTEGER,
    last_order_at   INTEGER,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
);

CREATE TABLE usage (
    customer_id TEXT    NOT NULL,
    metric      TEXT    NOT NULL,
    value       INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    PRIMARY KEY (customer_id, metric)
);

-- `POST /api/v1/usage` is idempotent by key: the first request's outcome is kept and replayed.
CREATE TABLE usage_requests (
    customer_id     TEXT    NOT NULL,
    idempotency_key TEXT    NOT NULL,
    fingerprint     TEXT    NOT NULL,          -- sha256 of the request body: same key, other body = 422
    value           INTEGER NOT NULL,          -- the value after the request
    created_at      INTEGER NOT NULL,
    PRIMARY KEY (customer_id, idempotency_key)
);

CREATE TABLE feature_hits (
    customer_id TEXT    NOT NULL,
    feature     TEXT    NOT NULL,
    hits        INTEGER NOT NULL,
    first_at    INTEGER NOT NULL,
    last_at     INTEGER NOT NULL,
    PRIMARY KEY (customer_id, feature)
);

-- The whole offer as its validated JSON document; the columns beside it are what queries need.
-- `version` rises on every change so other processes can tell their snapshot is stale.
CREATE TABLE offers (
    id         TEXT    PRIMARY KEY,            -- offer_…
    kind       TEXT    NOT NULL,
    status     TEXT    NOT NULL,
    document   TEXT    NOT NULL,
    version    INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

-- The arm a customer got on first exposure; sticky from then on (PRIMARY KEY: first one wins).
CREATE TABLE offer_assignments (
    offer_id    TEXT    NOT NULL,
    customer_id TEXT    NOT NULL,
    arm         TEXT    NOT NULL,              -- a variant key or "holdout"
    assigned_at INTEGER NOT NULL,
    PRIMARY KEY (customer_id, offer_id)
);

CREATE INDEX offer_assignments_offer ON offer_assignments (offer_id, arm);

-- exposure (eligible, incl. holdout), impression, click, dismiss, decline, accept.
CREATE TABLE offer_events (
    seq         INTEGER PRIMARY KEY,
    offer_id    TEXT    NOT NULL,
    customer_id TEXT    NOT NULL,
    arm         TEXT    NOT NULL,
    type        TEXT    NOT NULL CHECK (type IN (
                    'exposure', 'impression', 'click', 'dismiss', 'decline', 'accept')),
    at          INTEGER NOT NULL
);

-- The per-customer read of the offers endpoint: one range scan over this index.
CREATE INDEX offer_events_customer ON offer_events (customer_id, at);
CREATE INDEX offer_events_offer ON offer_events (offer_id, type, arm);

CREATE TABLE audit_log (
    seq      INTEGER PRIMARY KEY,
    actor    TEXT    NOT NULL,                 -- the admin key's id (never the key)
    action   TEXT    NOT NULL,                 -- e.g. offer.create, plans.replace
    target   TEXT,
    detail   TEXT    NOT NULL DEFAULT '{}',    -- JSON: what changed
    at       INTEGER NOT NULL
);
