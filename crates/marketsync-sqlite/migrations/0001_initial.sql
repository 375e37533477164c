-- marketsync SQLite store, schema version 1.
--
-- Records are kept as JSON text written by serde (amounts of money are strings in it, so they
-- round-trip exactly); the columns beside them are the keys the store looks rows up by and the
-- facts its constraints enforce. Integrations are never deleted (a deleted one stays as a
-- tombstone), so every other table refers to them.

CREATE TABLE integrations (
    id      TEXT    NOT NULL PRIMARY KEY,
    -- Optimistic-concurrency version; authoritative over the copy inside `record`.
    version INTEGER NOT NULL CHECK (version >= 0),
    record  TEXT    NOT NULL
) STRICT;

CREATE TABLE audit_events (
    seq            INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    integration_id TEXT    NOT NULL REFERENCES integrations (id),
    event          TEXT    NOT NULL
) STRICT;
CREATE INDEX audit_events_by_integration ON audit_events (integration_id, seq);

-- Sealed credentials only: ciphertext, never a plaintext secret.
CREATE TABLE credentials (
    integration_id TEXT NOT NULL PRIMARY KEY REFERENCES integrations (id),
    key_id         TEXT NOT NULL,
    nonce          BLOB NOT NULL,
    ciphertext     BLOB NOT NULL
) STRICT;

CREATE TABLE mappings (
    integration_id TEXT NOT NULL PRIMARY KEY REFERENCES integrations (id),
    mappings       TEXT NOT NULL
) STRICT;

CREATE TABLE listings (
    integration_id TEXT NOT NULL REFERENCES integrations (id),
    sku            TEXT NOT NULL,
    listing        TEXT NOT NULL,
    PRIMARY KEY (integration_id, sku)
) STRICT;

-- The order ledger: one row per (integration, channel order id), so an order has exactly one
-- current outcome whatever runs overlap.
CREATE TABLE ledger (
    integration_id   TEXT NOT NULL REFERENCES integrations (id),
    channel_order_id TEXT NOT NULL,
    entry            TEXT NOT NULL,
    PRIMARY KEY (integration_id, channel_order_id)
) STRICT;

CREATE TABLE cursors (
    integration_id TEXT NOT NULL PRIMARY KEY REFERENCES integrations (id),
    cursor         TEXT NOT NULL
) STRICT;

-- Messages for the channel, recorded before they are sent; one per idempotency key.
CREATE TABLE outbox (
    seq             INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    idempotency_key TEXT    NOT NULL UNIQUE,
    integration_id  TEXT    NOT NULL REFERENCES integrations (id),
    state           TEXT    NOT NULL CHECK (state IN ('pending', 'sent', 'failed')),
    entry           TEXT    NOT NULL
) STRICT;
CREATE INDEX outbox_by_integration ON outbox (integration_id, state, seq);
