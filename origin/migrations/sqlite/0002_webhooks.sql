-- Webhook event store + processing queue (SQLite). Times are unix milliseconds.
-- One row per (provider, event id): the UNIQUE constraint is what makes a re-delivery a duplicate.
-- A worker leases a row by setting `locked_until`/`locked_by`; an expired lease is claimable again.
CREATE TABLE webhook_events (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    provider        TEXT NOT NULL,
    event_id        TEXT NOT NULL,
    event_type      TEXT NOT NULL,
    payload         BLOB NOT NULL,
    received_at     INTEGER NOT NULL,
    request_id      TEXT,
    status          TEXT NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'retry', 'done', 'ignored', 'dead')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    locked_until    INTEGER,
    locked_by       TEXT,
    last_error      TEXT,
    note            TEXT,
    finished_at     INTEGER,
    UNIQUE (provider, event_id)
);
-- Only the queue part is indexed for the claim; finished rows stay out of it.
CREATE INDEX webhook_events_due ON webhook_events(next_attempt_at) WHERE status IN ('pending', 'retry');
CREATE INDEX webhook_events_received ON webhook_events(received_at);

-- One row per claim: `finished_at` NULL while running (or forever, if the worker died and
-- the next claim marked it `abandoned`).
CREATE TABLE webhook_attempts (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    event_row   INTEGER NOT NULL REFERENCES webhook_events(id) ON DELETE CASCADE,
    attempt     INTEGER NOT NULL,
    lease       TEXT NOT NULL,
    started_at  INTEGER NOT NULL,
    finished_at INTEGER,
    outcome     TEXT CHECK (outcome IN ('done', 'ignored', 'error', 'abandoned')),
    error       TEXT
);
CREATE INDEX webhook_attempts_event ON webhook_attempts(event_row);

-- GitHub `ping` deliveries, recorded by the built-in handler (idempotent on the delivery id).
CREATE TABLE webhook_pings (
    provider    TEXT NOT NULL,
    event_id    TEXT NOT NULL,
    hook_id     TEXT,
    zen         TEXT,
    recorded_at INTEGER NOT NULL,
    PRIMARY KEY (provider, event_id)
);

-- Subscription status per Stripe customer, from customer.subscription.* events.
-- `event_created` (the event's own `created`, unix seconds) keeps an older event that arrives
-- late from overwriting a newer state; `event_id` makes re-running the same event a no-op.
CREATE TABLE subscriptions (
    customer_id     TEXT PRIMARY KEY,
    subscription_id TEXT NOT NULL,
    status          TEXT NOT NULL,
    event_id        TEXT NOT NULL,
    event_created   INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
);

INSERT INTO permissions (name, description, created_at) VALUES ('webhooks:admin', 'inspect and re-queue webhook events; read subscription status', 0);
INSERT INTO role_permissions (role, permission) VALUES ('admin', 'webhooks:admin');
