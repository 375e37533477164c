-- marketsync PostgreSQL store, schema version 1.
--
-- Records are kept as jsonb written by serde (amounts of money are strings in it, so they
-- round-trip exactly); the columns beside them are the keys rows are looked up by, the facts the
-- constraints enforce, and copies of the few fields queries select on. Key columns use the "C"
-- collation, so their order is the byte order of UTF-8, the same as Rust's `str` (and the same as
-- the SQLite store), whatever the database's default collation. Integrations are never deleted
-- (a deleted one stays as a tombstone), so every other table refers to them.

CREATE TABLE integrations (
    id      text COLLATE "C" NOT NULL PRIMARY KEY,
    -- Optimistic-concurrency version; authoritative over the copy inside `record`.
    version bigint NOT NULL CHECK (version >= 0),
    record  jsonb  NOT NULL
);

CREATE TABLE audit_events (
    seq            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    integration_id text COLLATE "C" NOT NULL REFERENCES integrations (id),
    event          jsonb NOT NULL
);
CREATE INDEX audit_events_by_integration ON audit_events (integration_id, seq);

-- Sealed credentials only: ciphertext, never a plaintext secret. Every write increments the
-- version (compare-and-swap renewals).
CREATE TABLE credentials (
    integration_id text COLLATE "C" NOT NULL PRIMARY KEY REFERENCES integrations (id),
    key_id         text   NOT NULL,
    nonce          bytea  NOT NULL,
    ciphertext     bytea  NOT NULL,
    version        bigint NOT NULL CHECK (version >= 1)
);

CREATE TABLE mappings (
    integration_id text COLLATE "C" NOT NULL PRIMARY KEY REFERENCES integrations (id),
    mappings       jsonb  NOT NULL,
    version        bigint NOT NULL CHECK (version >= 1)
);

CREATE TABLE listings (
    integration_id text COLLATE "C" NOT NULL REFERENCES integrations (id),
    sku            text COLLATE "C" NOT NULL,
    listing        jsonb NOT NULL,
    PRIMARY KEY (integration_id, sku)
);

-- The order ledger: one row per (integration, channel order id), so an order has exactly one
-- current outcome whatever runs or workers overlap.
CREATE TABLE ledger (
    integration_id   text COLLATE "C" NOT NULL REFERENCES integrations (id),
    channel_order_id text COLLATE "C" NOT NULL,
    outcome          text  NOT NULL CHECK (outcome IN ('imported', 'not_imported')),
    entry            jsonb NOT NULL,
    PRIMARY KEY (integration_id, channel_order_id)
);
CREATE INDEX ledger_by_outcome ON ledger (integration_id, outcome, channel_order_id);

-- One row each time an order's outcome became Imported, kept forever: exactly-once import means
-- exactly one row per order here.
CREATE TABLE import_log (
    seq              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    integration_id   text COLLATE "C" NOT NULL REFERENCES integrations (id),
    channel_order_id text COLLATE "C" NOT NULL,
    imported_at      timestamptz NOT NULL
);
CREATE INDEX import_log_by_order ON import_log (integration_id, channel_order_id);

CREATE TABLE cursors (
    integration_id text COLLATE "C" NOT NULL PRIMARY KEY REFERENCES integrations (id),
    cursor         text NOT NULL
);

-- Messages for the channel, recorded before they are sent; one per (integration, key).
-- `next_attempt_at` and `lease_until` copy the entry's times (to the microsecond) so claims can
-- select candidates with an index; the entry decides exactly.
CREATE TABLE outbox (
    seq             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    integration_id  text COLLATE "C" NOT NULL REFERENCES integrations (id),
    idempotency_key text COLLATE "C" NOT NULL,
    state           text  NOT NULL CHECK (state IN ('pending', 'sent', 'failed')),
    next_attempt_at timestamptz NOT NULL,
    lease_until     timestamptz,
    entry           jsonb NOT NULL,
    UNIQUE (integration_id, idempotency_key)
);
CREATE INDEX outbox_pending ON outbox (integration_id, seq) WHERE state = 'pending';

-- Named leases (one credential renewer at a time). Expiry is the database's clock.
CREATE TABLE leases (
    name   text COLLATE "C" NOT NULL PRIMARY KEY,
    holder text NOT NULL,
    until  timestamptz NOT NULL
);

-- Each integration's scheduled work: when it is due (NULL: at once), which worker holds it and
-- until when (the database's clock). `change_seq` counts changes of the integration;
-- `claimed_seq` is its value when the current holder claimed it, so a release can tell whether
-- the integration changed meanwhile.
CREATE TABLE work (
    integration_id text COLLATE "C" NOT NULL PRIMARY KEY REFERENCES integrations (id),
    due_at         timestamptz,
    holder         text,
    lease_until    timestamptz,
    change_seq     bigint NOT NULL DEFAULT 0,
    claimed_seq    bigint NOT NULL DEFAULT 0,
    CHECK ((holder IS NULL) = (lease_until IS NULL))
);
CREATE INDEX work_by_due ON work (due_at NULLS FIRST, integration_id);

-- The scheduler's frequency state: each operation's last start and finish (the caller's clock),
-- as serde writes `RunTimes` (exact to the nanosecond).
CREATE TABLE work_runs (
    integration_id text COLLATE "C" NOT NULL REFERENCES integrations (id),
    operation      text COLLATE "C" NOT NULL,
    times          jsonb NOT NULL,
    PRIMARY KEY (integration_id, operation)
);
