-- marketsync PostgreSQL store, schema version 3: the stock journal and targeted propagation.
--
-- One stock event per imported order, written in the transaction that imports it (unique per
-- integration and channel order id, so an order is journalled once whatever runs or workers
-- overlap). `seq` is the journal order (an identity: never reused; a lower one may commit after
-- a higher one, so events are marked handed over one by one, never with a cursor). `lines` is
-- the order's stock lines; `handed_over` turns true once the host's catalogue has the event, at
-- `handed_over_at` (the database's clock; a record, it decides nothing).
CREATE TABLE stock_events (
    seq              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    integration_id   text COLLATE "C" NOT NULL REFERENCES integrations (id),
    channel_order_id text COLLATE "C" NOT NULL,
    lines            jsonb NOT NULL,
    imported_at      timestamptz NOT NULL,
    handed_over      boolean NOT NULL DEFAULT false,
    handed_over_at   timestamptz,
    UNIQUE (integration_id, channel_order_id),
    CHECK (handed_over = (handed_over_at IS NOT NULL))
);
CREATE INDEX stock_events_pending ON stock_events (seq) WHERE NOT handed_over;

-- The (integration, SKU) pairs whose quantity must be sent again outside the regular sync:
-- `since` is when the pair first became pending, `mark` the highest journal seq that marked it.
CREATE TABLE pending_skus (
    integration_id text COLLATE "C" NOT NULL REFERENCES integrations (id),
    sku            text COLLATE "C" NOT NULL,
    since          timestamptz NOT NULL,
    mark           bigint NOT NULL CHECK (mark >= 0),
    PRIMARY KEY (integration_id, sku)
);
CREATE INDEX pending_skus_by_wait ON pending_skus (integration_id, since, sku);
CREATE INDEX pending_skus_oldest ON pending_skus (since, integration_id);

-- The listings of every integration for a SKU (which other channels list what just sold).
CREATE INDEX listings_by_sku ON listings (sku, integration_id);
