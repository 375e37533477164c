-- marketsync SQLite store, schema version 7: the stock journal and targeted propagation.
--
-- One stock event per imported order, written in the transaction that imports it (unique per
-- integration and channel order id, so an order is journalled once whatever runs overlap).
-- `seq` is the journal order (AUTOINCREMENT: never reused). `lines` is the order's stock lines
-- as JSON; `imported_at` is RFC 3339. `handed_over` turns 1 once the host's catalogue has the
-- event, at `handed_over_at` (the database's clock; a record, it decides nothing).
CREATE TABLE stock_events (
    seq              INTEGER PRIMARY KEY AUTOINCREMENT,
    integration_id   TEXT    NOT NULL REFERENCES integrations (id),
    channel_order_id TEXT    NOT NULL,
    lines            TEXT    NOT NULL,
    imported_at      TEXT    NOT NULL,
    handed_over      INTEGER NOT NULL DEFAULT 0 CHECK (handed_over IN (0, 1)),
    handed_over_at   TEXT,
    UNIQUE (integration_id, channel_order_id),
    CHECK ((handed_over = 1) = (handed_over_at IS NOT NULL))
) STRICT;
CREATE INDEX stock_events_pending ON stock_events (seq) WHERE handed_over = 0;

-- The (integration, SKU) pairs whose quantity must be sent again outside the regular sync.
-- `since` is when the pair first became pending (UTC with nanoseconds, one fixed width, so text
-- order is time order); `mark` the highest journal seq that marked it.
CREATE TABLE pending_skus (
    integration_id TEXT    NOT NULL REFERENCES integrations (id),
    sku            TEXT    NOT NULL,
    since          TEXT    NOT NULL,
    mark           INTEGER NOT NULL CHECK (mark >= 0),
    PRIMARY KEY (integration_id, sku)
) STRICT;
CREATE INDEX pending_skus_by_wait ON pending_skus (integration_id, since, sku);
CREATE INDEX pending_skus_oldest ON pending_skus (since, integration_id);

-- The listings of every integration for a SKU (which other channels list what just sold).
CREATE INDEX listings_by_sku ON listings (sku, integration_id);
