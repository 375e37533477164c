-- marketsync SQLite store, schema version 6: the notification outbox and the in-app message list.
--
-- A notification is written in the transaction of the change that causes it; its dedupe key is
-- unique per integration and a second write of a key does nothing (one notice per cause).
-- `seq` orders them as written (the message list reads newest first). `record` is the stored
-- notification as JSON; `read_at` is when the seller marked the message read (NULL: unread).
CREATE TABLE notifications (
    seq            INTEGER PRIMARY KEY AUTOINCREMENT,
    id             TEXT    NOT NULL UNIQUE,
    integration_id TEXT    NOT NULL REFERENCES integrations (id),
    dedupe_key     TEXT    NOT NULL,
    created_at     TEXT    NOT NULL,
    record         TEXT    NOT NULL,
    read_at        TEXT,
    UNIQUE (integration_id, dedupe_key)
) STRICT;
CREATE INDEX notifications_by_integration ON notifications (integration_id, seq);

-- One delivery per (notification, transport). `next_attempt_at` is the caller's time (UTC with
-- nanoseconds, one fixed width); the lease ends by the database's clock (`lease_expires_at`,
-- strftime('%Y-%m-%dT%H:%M:%fZ', 'now', ...)). `detail` is the delivery state as JSON, `state`
-- its name for filtering.
CREATE TABLE notification_deliveries (
    notification_seq INTEGER NOT NULL REFERENCES notifications (seq),
    transport        TEXT    NOT NULL,
    state            TEXT    NOT NULL CHECK (state IN ('pending', 'delivered', 'failed')),
    detail           TEXT    NOT NULL,
    attempts         INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at  TEXT    NOT NULL,
    lease_token      TEXT,
    lease_expires_at TEXT,
    last_error       TEXT,
    PRIMARY KEY (notification_seq, transport),
    CHECK ((lease_token IS NULL) = (lease_expires_at IS NULL))
) STRICT;
CREATE INDEX deliveries_due ON notification_deliveries (transport, state, next_attempt_at);
