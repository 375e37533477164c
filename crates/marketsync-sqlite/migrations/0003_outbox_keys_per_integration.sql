-- marketsync SQLite store, schema version 3.
--
-- Outbox idempotency keys are scoped per integration: several integrations may use the same key
-- (a host building keys as "ship-{order}" for every shop), each gets its own entry. The key was
-- UNIQUE across the whole table (a column constraint, which SQLite cannot drop), so the table
-- is rebuilt with a unique index on (integration_id, idempotency_key) instead, keeping every
-- row and its seq (the order entries are claimed in).

CREATE TABLE outbox_v3 (
    seq             INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    idempotency_key TEXT    NOT NULL,
    integration_id  TEXT    NOT NULL REFERENCES integrations (id),
    state           TEXT    NOT NULL CHECK (state IN ('pending', 'sent', 'failed')),
    entry           TEXT    NOT NULL
) STRICT;

INSERT INTO outbox_v3 (seq, idempotency_key, integration_id, state, entry)
    SELECT seq, idempotency_key, integration_id, state, entry FROM outbox ORDER BY seq;

DROP TABLE outbox;

ALTER TABLE outbox_v3 RENAME TO outbox;

CREATE UNIQUE INDEX outbox_key_per_integration ON outbox (integration_id, idempotency_key);
CREATE INDEX outbox_by_integration ON outbox (integration_id, state, seq);
