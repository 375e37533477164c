-- marketsync PostgreSQL store, schema version 2: the notification outbox and the in-app
-- message list.
--
-- A notification is written in the transaction of the change that causes it; its dedupe key is
-- unique per integration and a second write of a key does nothing (one notice per cause).
-- `seq` orders them as written (the message list reads newest first). `record` is the stored
-- notification; `read_at` is when the seller marked the message read (NULL: unread).
CREATE TABLE notifications (
    seq            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id             text COLLATE "C" NOT NULL UNIQUE,
    integration_id text COLLATE "C" NOT NULL REFERENCES integrations (id),
    dedupe_key     text COLLATE "C" NOT NULL,
    created_at     timestamptz NOT NULL,
    record         jsonb NOT NULL,
    read_at        timestamptz,
    UNIQUE (integration_id, dedupe_key)
);
CREATE INDEX notifications_by_integration ON notifications (integration_id, seq);

-- One delivery per (notification, transport). `next_attempt_at` is the caller's time; the
-- lease ends by the database's clock (`lease_until`, compared with clock_timestamp()).
-- `detail` is the delivery state, `state` its name for filtering.
CREATE TABLE notification_deliveries (
    notification_seq bigint NOT NULL REFERENCES notifications (seq),
    transport        text COLLATE "C" NOT NULL,
    state            text NOT NULL CHECK (state IN ('pending', 'delivered', 'failed')),
    detail           jsonb NOT NULL,
    attempts         integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at  timestamptz NOT NULL,
    lease_token      text,
    lease_until      timestamptz,
    last_error       text,
    PRIMARY KEY (notification_seq, transport),
    CHECK ((lease_token IS NULL) = (lease_until IS NULL))
);
CREATE INDEX notification_deliveries_due
    ON notification_deliveries (transport, state, next_attempt_at);
