-- Mappings are versioned for compare-and-swap (`Store::replace_mappings`): an edit is stored
-- only if nobody stored another one since it read the mappings, so concurrent edits never lose
-- one. Every write increments the version; existing rows start at 0.
ALTER TABLE mappings ADD COLUMN version INTEGER NOT NULL DEFAULT 0 CHECK (version >= 0);
