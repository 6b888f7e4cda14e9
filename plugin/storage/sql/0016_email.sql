-- Lifecycle email (issue 21): each offer's email to each customer, at most once (UNIQUE), and
-- the customers who asked for no more.

-- Written when the offer's targeting first holds for the customer (the decision, in one
-- transaction with the impression it counts against the shared frequency budget), then sent.
-- `id` is the Message-ID's left part, the same on every attempt.
CREATE TABLE email_sends (
    seq             INTEGER PRIMARY KEY,
    id              TEXT    NOT NULL UNIQUE,       -- em_…
    offer_id        TEXT    NOT NULL,
    customer_id     TEXT    NOT NULL,
    variant         TEXT    NOT NULL,
    address         TEXT    NOT NULL,
    status          TEXT    NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'sent', 'failed', 'suppressed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,              -- also the lease of an attempt in flight
    last_error      TEXT,
    created_at      INTEGER NOT NULL,
    sent_at         INTEGER,
    UNIQUE (offer_id, customer_id)
);

CREATE INDEX email_sends_due ON email_sends (status, next_attempt_at);
CREATE INDEX email_sends_customer ON email_sends (customer_id, seq);

-- No email to these customers: they unsubscribed (one click, RFC 8058), or an admin said so.
CREATE TABLE email_suppressions (
    customer_id TEXT    PRIMARY KEY,
    reason      TEXT    NOT NULL CHECK (reason IN ('unsubscribed', 'admin')),
    at          INTEGER NOT NULL
);
