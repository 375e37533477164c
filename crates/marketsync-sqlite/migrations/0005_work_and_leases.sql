-- marketsync SQLite store, schema version 5: what several workers share through the store.
--
-- Lease expiry is decided by the database's clock: `expires_at` and `lease_expires_at` are
-- written and compared as strftime('%Y-%m-%dT%H:%M:%fZ', 'now', ...) (UTC, milliseconds, one
-- fixed width, so text order is time order), never as a time the caller passed. When work is
-- due is the caller's time: `due_at` is UTC with nanoseconds, again one fixed width.

-- 1. Credentials are versioned for compare-and-swap (`Store::replace_credentials`): every write
--    increments the version. Credentials stored before start at 1.
ALTER TABLE credentials ADD COLUMN version INTEGER NOT NULL DEFAULT 1 CHECK (version >= 1);

-- 2. Named leases (one credential renewer at a time): a lease is held by `holder` until the
--    database's clock passes `expires_at`.
CREATE TABLE leases (
    name       TEXT NOT NULL PRIMARY KEY,
    holder     TEXT NOT NULL,
    expires_at TEXT NOT NULL
) STRICT;

-- 3. The scheduled work of each integration, claimed by one worker at a time with a lease.
--    `due_at` NULL: never released, due at once; `changed` 1: inserted or updated since it was
--    last claimed, due at once. `runs` is a JSON object: operation name -> last started and
--    finished times.
CREATE TABLE work (
    integration_id   TEXT    NOT NULL PRIMARY KEY REFERENCES integrations (id),
    due_at           TEXT,
    changed          INTEGER NOT NULL DEFAULT 1 CHECK (changed IN (0, 1)),
    holder           TEXT,
    lease_expires_at TEXT,
    runs             TEXT    NOT NULL DEFAULT '{}',
    CHECK ((holder IS NULL) = (lease_expires_at IS NULL))
) STRICT;
CREATE INDEX work_by_due ON work (changed, due_at);

-- Every existing integration is due at once.
INSERT INTO work (integration_id) SELECT id FROM integrations ORDER BY id;
