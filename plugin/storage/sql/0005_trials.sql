-- Trial grants: N days of a higher plan's features without charging. One per customer and
-- offer (a retried accept, or a second click, finds the first). The trial ends by itself at
-- `ends_at`: entitlements stop showing it; converting to paid is a separate, consented upgrade.

CREATE TABLE trial_grants (
    id          TEXT    PRIMARY KEY,           -- tr_…
    customer_id TEXT    NOT NULL,              -- the SaaS's customer id (token `sub`)
    offer_id    TEXT    NOT NULL,
    variant     TEXT    NOT NULL,
    plan_id     TEXT    NOT NULL,              -- the plan whose features and limits apply
    starts_at   INTEGER NOT NULL,
    ends_at     INTEGER NOT NULL,
    created_at  INTEGER NOT NULL,
    UNIQUE (customer_id, offer_id)
);

CREATE INDEX trial_grants_customer ON trial_grants (customer_id, ends_at);
