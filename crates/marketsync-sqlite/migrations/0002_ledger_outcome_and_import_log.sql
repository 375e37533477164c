-- marketsync SQLite store, schema version 2.
--
-- 1. The ledger gets its outcome as a column (backfilled from the JSON), indexed, so the held,
--    not-imported and unfulfilled views read only the rows that can match.
-- 2. An append-only import log: one row each time an order's outcome became Imported, kept
--    forever (a ledger row keeps only its most recent sightings). Exactly-once import means
--    exactly one row per order here; existing imported orders are backfilled.

ALTER TABLE ledger ADD COLUMN outcome TEXT NOT NULL DEFAULT 'not_imported'
    CHECK (outcome IN ('imported', 'not_imported'));

UPDATE ledger SET outcome = json_extract(entry, '$.outcome.outcome');

CREATE INDEX ledger_by_outcome ON ledger (integration_id, outcome);

CREATE TABLE import_log (
    seq              INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    integration_id   TEXT    NOT NULL REFERENCES integrations (id),
    channel_order_id TEXT    NOT NULL,
    imported_at      TEXT    NOT NULL
) STRICT;
CREATE INDEX import_log_by_order ON import_log (integration_id, channel_order_id);

INSERT INTO import_log (integration_id, channel_order_id, imported_at)
    SELECT integration_id, channel_order_id,
           coalesce(json_extract(entry, '$.imported.imported_at'), json_extract(entry, '$.first_seen_at'))
    FROM ledger
    WHERE outcome = 'imported'
    ORDER BY rowid;
