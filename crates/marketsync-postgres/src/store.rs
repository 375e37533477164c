//! [`PostgresStore`]: the [`Store`] on PostgreSQL, and the methods every backend has had from
//! the start (integrations, credentials, mappings, listings, the ledger, the outbox). The
//! methods many workers need are in [`work`](crate::work), the paged reads in
//! [`pages`](crate::pages); the `impl Store` below hands those over.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use marketsync_core::channel::Cursor;
use marketsync_core::ids::{ChannelOrderId, IntegrationId, Sku};
use marketsync_core::lifecycle::AuditEvent;
use marketsync_core::listing::Listing;
use marketsync_core::mapping::MappingSet;
use marketsync_core::order::IdempotencyKey;
use marketsync_core::store::support::{apply_finish, apply_write, check_key_reuse};
use marketsync_core::store::{
    IntegrationRecord, Lease, LedgerEntry, LedgerFilter, OrderBatch, OrderOutcome, OutboxEntry,
    OutboxItem, OutboxState, OutboxUpdate, Page, PageRequest, RecordedOrder, RunTimes,
    SightingOutcome, Store, StoreError, VersionedCredentials, VersionedMappings, WorkClaim,
    WorkerId,
};
use marketsync_core::vault::SealedCredentials;
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use serde::de::DeserializeOwned;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{Connection, PgConnection};

use crate::error::{
    backend, corrupt, encode_failed, is_unique_violation, out_of_range, store_error_is_retryable,
    too_large, write_failed,
};
use crate::migrations::migrate;
use crate::{notices, pages, stock, work};

/// Connections a store opened with [`PostgresStore::connect`] keeps at most.
pub const DEFAULT_POOL_SIZE: u32 = 10;

/// How long a call waits for a free connection of the pool before it fails with a temporary
/// [`StoreError::Backend`].
pub const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(30);

/// How many times a transaction that failed only because of a concurrent one (a deadlock the
/// server broke, a serialization failure) is run again before the failure is returned.
const TRANSACTION_ATTEMPTS: usize = 5;

/// One order's import as the import log keeps it: one entry each time an order became
/// `Imported`, kept forever (a ledger row keeps only its most recent sightings). With the
/// exactly-once guarantee every order has at most one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImportLogEntry {
    /// The order.
    pub channel_order_id: ChannelOrderId,
    /// When the batch that imported it was seen (to the microsecond).
    pub imported_at: DateTime<Utc>,
}

/// The [`Store`] on PostgreSQL: a connection pool over one schema, migrated on open.
///
/// Cloning is cheap and shares the pool. Its `Debug` output shows the pool's size and settings,
/// never the connection options (the password among them). See the [crate documentation](crate)
/// for the schema and how each guarantee is kept.
#[derive(Clone, Debug)]
pub struct PostgresStore {
    pub(crate) pool: PgPool,
}

impl PostgresStore {
    /// Connects to the database at `url` (`postgres://user:password@host:port/database`, with
    /// PostgreSQL's URL parameters, `options=-c search_path=…` among them) with a pool of
    /// [`DEFAULT_POOL_SIZE`] connections, and brings its schema up to date.
    ///
    /// The URL is a secret (it may hold a password): it is never logged nor put in an error.
    pub async fn connect(url: &SecretString) -> Result<Self, StoreError> {
        let options: PgConnectOptions = url.expose_secret().parse().map_err(|_| {
            // The parser's message may quote the URL: it is left out.
            StoreError::backend(
                "the PostgreSQL URL is not valid (expected postgres://user:password@host:port/database)",
            )
        })?;
        Self::connect_with(options, DEFAULT_POOL_SIZE).await
    }

    /// Connects with `options` and a pool of at most `pool_size` connections (at least 1), and
    /// brings the schema up to date: the migrations run on one connection of their own, under
    /// the advisory lock [`MIGRATION_LOCK`](crate::MIGRATION_LOCK), so several processes
    /// opening one database at once migrate it once.
    pub async fn connect_with(
        options: PgConnectOptions,
        pool_size: u32,
    ) -> Result<Self, StoreError> {
        let conn = PgConnection::connect_with(&options)
            .await
            .map_err(|e| backend("connect", e))?;
        migrate(conn).await?;
        let pool = PgPoolOptions::new()
            .max_connections(pool_size.max(1))
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options)
            .await
            .map_err(|e| backend("connect", e))?;
        Ok(Self { pool })
    }

    /// The connection pool (for a host's own queries, health checks, or closing).
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// The schema version of the database (the highest migration applied).
    pub async fn schema_version(&self) -> Result<i64, StoreError> {
        let v: Option<i64> =
            sqlx::query_scalar("SELECT max(version) FROM _sqlx_migrations WHERE success")
                .fetch_one(&self.pool)
                .await
                .map_err(|e| backend("schema_version", e))?;
        Ok(v.unwrap_or(0))
    }

    /// Every import of an integration's orders, oldest first.
    pub async fn import_log(&self, id: IntegrationId) -> Result<Vec<ImportLogEntry>, StoreError> {
        let rows: Vec<(String, DateTime<Utc>)> = sqlx::query_as(
            "SELECT channel_order_id, imported_at FROM import_log \
             WHERE integration_id = $1 ORDER BY seq",
        )
        .bind(key_of(id))
        .fetch_all(&self.pool)
        .await
        .map_err(|e| backend("import_log", e))?;
        rows.into_iter()
            .map(|(order, imported_at)| {
                Ok(ImportLogEntry {
                    channel_order_id: ChannelOrderId::new(order)
                        .map_err(|_| out_of_range("import log order id"))?,
                    imported_at,
                })
            })
            .collect()
    }

    /// Closes every connection (waiting for running calls). Later calls fail.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// The JSON column `sql` selects (as text) for one integration (bound as `$1`), each row
    /// decoded as a `what` (named in a corruption error); `op` names the operation.
    async fn json_rows<T: DeserializeOwned>(
        &self,
        op: &str,
        what: &str,
        sql: &'static str,
        id: IntegrationId,
    ) -> Result<Vec<T>, StoreError> {
        let rows: Vec<String> = sqlx::query_scalar(sql)
            .bind(key_of(id))
            .fetch_all(&self.pool)
            .await
            .map_err(|e| backend(op, e))?;
        rows.iter().map(|t| from_json(what, t)).collect()
    }

    /// The writes of [`Store::update_integration`] inside the caller's transaction (shared with
    /// [`Store::update_integration_notifying`]): the locked version check, the record, the work
    /// row and the audit events. Returns the new version.
    pub(crate) async fn update_in(
        conn: &mut PgConnection,
        record: &IntegrationRecord,
        audit: &[AuditEvent],
        operation: &str,
    ) -> Result<u64, StoreError> {
        let id = key_of(record.id);
        // The row lock makes the version check and the write one step: a concurrent update
        // waits here, then sees the new version. (NO KEY UPDATE does not block the key-share
        // locks that rows referring to the integration take.)
        let stored: Option<i64> =
            sqlx::query_scalar("SELECT version FROM integrations WHERE id = $1 FOR NO KEY UPDATE")
                .bind(&id)
                .fetch_optional(&mut *conn)
                .await
                .map_err(|e| backend(operation, e))?;
        let stored = match stored {
            None => return Err(StoreError::NotFound(format!("integration {id}"))),
            Some(v) => version_from_db("integration version", v)?,
        };
        if stored != record.version {
            return Err(StoreError::Conflict(format!(
                "integration {id} was changed concurrently (version {} expected, {stored} stored)",
                record.version
            )));
        }
        let mut next = record.clone();
        next.version = stored
            .checked_add(1)
            .ok_or_else(|| out_of_range("integration version"))?;
        sqlx::query("UPDATE integrations SET version = $1, record = $2::jsonb WHERE id = $3")
            .bind(version_to_db("integration version", next.version)?)
            .bind(to_json("integration record", &next)?)
            .bind(&id)
            .execute(&mut *conn)
            .await
            .map_err(|e| backend(operation, e))?;
        // A changed integration's work is due at once, and a worker holding it learns at
        // release that it changed (`change_seq` moved past its `claimed_seq`).
        sqlx::query(
            "INSERT INTO work (integration_id, change_seq) VALUES ($1, 1) \
             ON CONFLICT (integration_id) DO UPDATE \
             SET due_at = NULL, change_seq = work.change_seq + 1",
        )
        .bind(&id)
        .execute(&mut *conn)
        .await
        .map_err(|e| backend(operation, e))?;
        append_audit(conn, &id, audit, operation).await?;
        Ok(next.version)
    }

    /// One attempt at [`Store::record_orders`] (see the crate documentation for the locking).
    async fn record_orders_once(
        &self,
        id: IntegrationId,
        batch: &OrderBatch,
    ) -> Result<Vec<RecordedOrder>, StoreError> {
        const OP: &str = "record_orders";
        let key = key_of(id);
        let mut tx = self.pool.begin().await.map_err(|e| backend(OP, e))?;
        let orders: Vec<String> = batch
            .writes
            .iter()
            .map(|w| w.channel_order_id.as_str().to_owned())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        // 1. Every order of the batch gets a row (a placeholder `null` entry when it is new, in
        //    the order of its id), so the next statement can lock all of them: a concurrent
        //    batch inserting the same new order waits here for this transaction to end.
        sqlx::query(
            "INSERT INTO ledger (integration_id, channel_order_id, outcome, entry) \
             SELECT $1, o, 'not_imported', 'null'::jsonb \
             FROM unnest($2::text[]) AS o ORDER BY o COLLATE \"C\" \
             ON CONFLICT (integration_id, channel_order_id) DO NOTHING",
        )
        .bind(&key)
        .bind(&orders)
        .execute(&mut *tx)
        .await
        .map_err(|e| write_failed(OP, &key, e))?;
        // 2. Lock the rows, in the order of their ids (every batch locks in the same order, so
        //    two never deadlock), and read them: no other batch can change them until commit.
        let locked: Vec<(String, String)> = sqlx::query_as(
            "SELECT channel_order_id, entry::text FROM ledger \
             WHERE integration_id = $1 AND channel_order_id = ANY($2::text[]) \
             ORDER BY channel_order_id FOR UPDATE",
        )
        .bind(&key)
        .bind(&orders)
        .fetch_all(&mut *tx)
        .await
        .map_err(|e| backend(OP, e))?;
        let mut rows: BTreeMap<String, Option<LedgerEntry>> = BTreeMap::new();
        for (order, text) in locked {
            let entry: Option<LedgerEntry> = from_json("ledger entry", &text)?;
            rows.insert(order, entry);
        }
        // 3. Apply the shared rule, in the batch's order (the same order twice in a batch sees
        //    its own first write), then write each row once.
        let mut results = Vec::with_capacity(batch.writes.len());
        let mut imported = Vec::new();
        for write in &batch.writes {
            let slot = rows
                .entry(write.channel_order_id.as_str().to_owned())
                .or_default();
            let (entry, outcome) = apply_write(id, slot.take(), write, batch.seen_at);
            if outcome == SightingOutcome::Imported {
                imported.push(write.channel_order_id.as_str().to_owned());
            }
            *slot = Some(entry);
            results.push(RecordedOrder {
                channel_order_id: write.channel_order_id.clone(),
                outcome,
            });
        }
        let mut ids = Vec::with_capacity(rows.len());
        let mut outcomes = Vec::with_capacity(rows.len());
        let mut entries = Vec::with_capacity(rows.len());
        for (order, entry) in &rows {
            let Some(entry) = entry else { continue };
            ids.push(order.clone());
            outcomes.push(outcome_column(&entry.outcome).to_owned());
            entries.push(to_json("ledger entry", entry)?);
        }
        sqlx::query(
            "UPDATE ledger AS l SET outcome = v.outcome, entry = v.entry::jsonb \
             FROM unnest($2::text[], $3::text[], $4::text[]) AS v (id, outcome, entry) \
             WHERE l.integration_id = $1 AND l.channel_order_id = v.id",
        )
        .bind(&key)
        .bind(&ids)
        .bind(&outcomes)
        .bind(&entries)
        .execute(&mut *tx)
        .await
        .map_err(|e| write_failed(OP, &key, e))?;
        if !imported.is_empty() {
            sqlx::query(
                "INSERT INTO import_log (integration_id, channel_order_id, imported_at) \
                 SELECT $1, o, $3 FROM unnest($2::text[]) WITH ORDINALITY AS t (o, n) ORDER BY n",
            )
            .bind(&key)
            .bind(&imported)
            .bind(batch.seen_at)
            .execute(&mut *tx)
            .await
            .map_err(|e| write_failed(OP, &key, e))?;
        }
        if let Some(cursor) = &batch.cursor {
            sqlx::query(
                "INSERT INTO cursors (integration_id, cursor) VALUES ($1, $2) \
                 ON CONFLICT (integration_id) DO UPDATE SET cursor = excluded.cursor",
            )
            .bind(&key)
            .bind(&cursor.0)
            .execute(&mut *tx)
            .await
            .map_err(|e| write_failed(OP, &key, e))?;
        }
        crate::notices::write_notifications(&mut tx, id, &batch.notifications, OP).await?;
        crate::stock::journal_stock(&mut tx, id, &batch.stock, &results, OP).await?;
        tx.commit().await.map_err(|e| backend(OP, e))?;
        Ok(results)
    }
}

// ----- encoding -----

pub(crate) fn key_of(id: IntegrationId) -> String {
    id.to_string()
}

pub(crate) fn to_json<T: Serialize>(what: &str, value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| encode_failed(what, e))
}

pub(crate) fn from_json<T: DeserializeOwned>(what: &str, text: &str) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|e| corrupt(what, &e))
}

pub(crate) fn version_to_db(what: &str, v: u64) -> Result<i64, StoreError> {
    i64::try_from(v).map_err(|_| too_large(what))
}

pub(crate) fn version_from_db(what: &str, v: i64) -> Result<u64, StoreError> {
    u64::try_from(v).map_err(|_| out_of_range(what))
}

/// The ledger's `outcome` column: the serde tag of [`OrderOutcome`].
pub(crate) fn outcome_column(outcome: &OrderOutcome) -> &'static str {
    match outcome {
        OrderOutcome::Imported => "imported",
        OrderOutcome::NotImported { .. } => "not_imported",
    }
}

fn outbox_state_column(state: &OutboxState) -> &'static str {
    match state {
        OutboxState::Pending => "pending",
        OutboxState::Sent { .. } => "sent",
        OutboxState::Failed { .. } => "failed",
    }
}

pub(crate) fn integration_from_row(
    version: i64,
    record: &str,
) -> Result<IntegrationRecord, StoreError> {
    let mut r: IntegrationRecord = from_json("integration record", record)?;
    r.version = version_from_db("integration version", version)?;
    Ok(r)
}

/// Which ledger `outcome` column value can match a filter (`None`: any).
pub(crate) fn outcome_for(filter: LedgerFilter) -> Option<&'static str> {
    match filter {
        LedgerFilter::All => None,
        LedgerFilter::Held | LedgerFilter::NotImported | LedgerFilter::Unreadable => {
            Some("not_imported")
        }
        LedgerFilter::Unfulfilled => Some("imported"),
    }
}

pub(crate) async fn append_audit(
    conn: &mut PgConnection,
    id: &str,
    audit: &[AuditEvent],
    operation: &str,
) -> Result<(), StoreError> {
    if audit.is_empty() {
        return Ok(());
    }
    let events = audit
        .iter()
        .map(|e| to_json("audit event", e))
        .collect::<Result<Vec<_>, _>>()?;
    sqlx::query(
        "INSERT INTO audit_events (integration_id, event) \
         SELECT $1, e::jsonb FROM unnest($2::text[]) WITH ORDINALITY AS t (e, n) ORDER BY n",
    )
    .bind(id)
    .bind(&events)
    .execute(&mut *conn)
    .await
    .map_err(|e| write_failed(operation, id, e))?;
    Ok(())
}

/// The outbox entry of a key in an integration, locked for this transaction.
async fn outbox_row_for_update(
    conn: &mut PgConnection,
    id: IntegrationId,
    key: &IdempotencyKey,
    operation: &str,
) -> Result<Option<OutboxEntry>, StoreError> {
    let text: Option<String> = sqlx::query_scalar(
        "SELECT entry::text FROM outbox WHERE integration_id = $1 AND idempotency_key = $2 \
         FOR UPDATE",
    )
    .bind(key_of(id))
    .bind(key.as_str())
    .fetch_optional(&mut *conn)
    .await
    .map_err(|e| backend(operation, e))?;
    text.map(|t| from_json("outbox entry", &t)).transpose()
}

/// Writes an outbox entry back, with the columns copied from it.
async fn write_outbox_row(
    conn: &mut PgConnection,
    entry: &OutboxEntry,
    operation: &str,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE outbox SET state = $1, next_attempt_at = $2, lease_until = $3, entry = $4::jsonb \
         WHERE integration_id = $5 AND idempotency_key = $6",
    )
    .bind(outbox_state_column(&entry.state))
    .bind(entry.next_attempt_at)
    .bind(entry.lease.as_ref().map(|l| l.until))
    .bind(to_json("outbox entry", entry)?)
    .bind(key_of(entry.item.integration_id))
    .bind(entry.item.idempotency_key.as_str())
    .execute(&mut *conn)
    .await
    .map_err(|e| backend(operation, e))?;
    Ok(())
}

const UPSERT_LISTING: &str = "INSERT INTO listings (integration_id, sku, listing) \
     VALUES ($1, $2, $3::jsonb) \
     ON CONFLICT (integration_id, sku) DO UPDATE SET listing = excluded.listing";

#[async_trait]
impl Store for PostgresStore {
    async fn insert_integration(
        &self,
        record: &IntegrationRecord,
        audit: &[AuditEvent],
    ) -> Result<(), StoreError> {
        const OP: &str = "insert_integration";
        let id = key_of(record.id);
        let mut tx = self.pool.begin().await.map_err(|e| backend(OP, e))?;
        let inserted = sqlx::query(
            "INSERT INTO integrations (id, version, record) VALUES ($1, $2, $3::jsonb)",
        )
        .bind(&id)
        .bind(version_to_db("integration version", record.version)?)
        .bind(to_json("integration record", record)?)
        .execute(&mut *tx)
        .await;
        match inserted {
            Ok(_) => {}
            Err(e) if is_unique_violation(&e) => {
                return Err(StoreError::Conflict(format!(
                    "integration {id} already exists"
                )));
            }
            Err(e) => return Err(backend(OP, e)),
        }
        // A new integration's work is due at once (`due_at` NULL).
        sqlx::query("INSERT INTO work (integration_id) VALUES ($1)")
            .bind(&id)
            .execute(&mut *tx)
            .await
            .map_err(|e| backend(OP, e))?;
        append_audit(&mut tx, &id, audit, OP).await?;
        tx.commit().await.map_err(|e| backend(OP, e))
    }

    async fn integration(
        &self,
        id: IntegrationId,
    ) -> Result<Option<IntegrationRecord>, StoreError> {
        let row: Option<(i64, String)> =
            sqlx::query_as("SELECT version, record::text FROM integrations WHERE id = $1")
                .bind(key_of(id))
                .fetch_optional(&self.pool)
                .await
                .map_err(|e| backend("integration", e))?;
        row.map(|(v, r)| integration_from_row(v, &r)).transpose()
    }

    async fn integrations(&self) -> Result<Vec<IntegrationRecord>, StoreError> {
        let rows: Vec<(i64, String)> =
            sqlx::query_as("SELECT version, record::text FROM integrations ORDER BY id")
                .fetch_all(&self.pool)
                .await
                .map_err(|e| backend("integrations", e))?;
        rows.iter()
            .map(|(v, r)| integration_from_row(*v, r))
            .collect()
    }

    async fn update_integration(
        &self,
        record: &IntegrationRecord,
        audit: &[AuditEvent],
    ) -> Result<u64, StoreError> {
        const OP: &str = "update_integration";
        let mut tx = self.pool.begin().await.map_err(|e| backend(OP, e))?;
        let version = Self::update_in(&mut tx, record, audit, OP).await?;
        tx.commit().await.map_err(|e| backend(OP, e))?;
        Ok(version)
    }

    async fn audit_log(&self, id: IntegrationId) -> Result<Vec<AuditEvent>, StoreError> {
        self.json_rows(
            "audit_log",
            "audit event",
            "SELECT event::text FROM audit_events WHERE integration_id = $1 ORDER BY seq",
            id,
        )
        .await
    }

    async fn put_credentials(
        &self,
        id: IntegrationId,
        sealed: &SealedCredentials,
    ) -> Result<(), StoreError> {
        work::put_credentials(self, id, sealed).await
    }

    async fn credentials(
        &self,
        id: IntegrationId,
    ) -> Result<Option<SealedCredentials>, StoreError> {
        Ok(work::credentials_versioned(self, id)
            .await?
            .map(|v| v.sealed))
    }

    async fn put_mappings(
        &self,
        id: IntegrationId,
        mappings: &MappingSet,
    ) -> Result<(), StoreError> {
        const OP: &str = "put_mappings";
        let id = key_of(id);
        sqlx::query(
            "INSERT INTO mappings (integration_id, mappings, version) VALUES ($1, $2::jsonb, 1) \
             ON CONFLICT (integration_id) DO UPDATE \
             SET mappings = excluded.mappings, version = mappings.version + 1",
        )
        .bind(&id)
        .bind(to_json("mappings", mappings)?)
        .execute(&self.pool)
        .await
        .map_err(|e| write_failed(OP, &id, e))?;
        Ok(())
    }

    async fn mappings(&self, id: IntegrationId) -> Result<MappingSet, StoreError> {
        Ok(self.mappings_versioned(id).await?.mappings)
    }

    async fn mappings_versioned(&self, id: IntegrationId) -> Result<VersionedMappings, StoreError> {
        let row: Option<(String, i64)> = sqlx::query_as(
            "SELECT mappings::text, version FROM mappings WHERE integration_id = $1",
        )
        .bind(key_of(id))
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| backend("mappings_versioned", e))?;
        match row {
            Some((text, version)) => Ok(VersionedMappings {
                mappings: from_json("mappings", &text)?,
                version: version_from_db("mappings version", version)?,
            }),
            None => Ok(VersionedMappings::default()),
        }
    }

    async fn replace_mappings(
        &self,
        id: IntegrationId,
        mappings: &MappingSet,
        expected_version: u64,
        audit: &[AuditEvent],
    ) -> Result<u64, StoreError> {
        const OP: &str = "replace_mappings";
        let key = key_of(id);
        let text = to_json("mappings", mappings)?;
        let mut tx = self.pool.begin().await.map_err(|e| backend(OP, e))?;
        // A compare-and-swap in one statement: the insert of the first version conflicts with a
        // concurrent one, the update re-checks the version on the row it waited for.
        let written: Option<i64> = if expected_version == 0 {
            sqlx::query_scalar(
                "INSERT INTO mappings (integration_id, mappings, version) \
                 VALUES ($1, $2::jsonb, 1) \
                 ON CONFLICT (integration_id) DO NOTHING RETURNING version",
            )
            .bind(&key)
            .bind(&text)
            .fetch_optional(&mut *tx)
            .await
            .map_err(|e| write_failed(OP, &key, e))?
        } else {
            sqlx::query_scalar(
                "UPDATE mappings SET mappings = $2::jsonb, version = version + 1 \
                 WHERE integration_id = $1 AND version = $3 RETURNING version",
            )
            .bind(&key)
            .bind(&text)
            .bind(version_to_db("mappings version", expected_version)?)
            .fetch_optional(&mut *tx)
            .await
            .map_err(|e| backend(OP, e))?
        };
        let Some(next) = written else {
            drop(tx);
            if self.integration(id).await?.is_none() {
                return Err(StoreError::NotFound(format!("integration {key}")));
            }
            let stored = self.mappings_versioned(id).await?.version;
            return Err(StoreError::Conflict(format!(
                "the mappings of integration {key} were changed concurrently (version {expected_version} expected, {stored} stored)"
            )));
        };
        append_audit(&mut tx, &key, audit, OP).await?;
        tx.commit().await.map_err(|e| backend(OP, e))?;
        version_from_db("mappings version", next)
    }

    async fn put_listing(&self, listing: &Listing) -> Result<(), StoreError> {
        let id = key_of(listing.integration_id);
        sqlx::query(UPSERT_LISTING)
            .bind(&id)
            .bind(listing.sku.as_str())
            .bind(to_json("listing", listing)?)
            .execute(&self.pool)
            .await
            .map_err(|e| write_failed("put_listing", &id, e))?;
        Ok(())
    }

    async fn put_listings(&self, listings: &[Listing]) -> Result<(), StoreError> {
        const OP: &str = "put_listings";
        if listings.is_empty() {
            return Ok(());
        }
        let mut tx = self.pool.begin().await.map_err(|e| backend(OP, e))?;
        for listing in listings {
            let id = key_of(listing.integration_id);
            sqlx::query(UPSERT_LISTING)
                .bind(&id)
                .bind(listing.sku.as_str())
                .bind(to_json("listing", listing)?)
                .execute(&mut *tx)
                .await
                .map_err(|e| write_failed(OP, &id, e))?;
        }
        tx.commit().await.map_err(|e| backend(OP, e))
    }

    async fn remove_listing(&self, id: IntegrationId, sku: &Sku) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM listings WHERE integration_id = $1 AND sku = $2")
            .bind(key_of(id))
            .bind(sku.as_str())
            .execute(&self.pool)
            .await
            .map_err(|e| backend("remove_listing", e))?;
        Ok(())
    }

    async fn listings(&self, id: IntegrationId) -> Result<Vec<Listing>, StoreError> {
        self.json_rows(
            "listings",
            "listing",
            "SELECT listing::text FROM listings WHERE integration_id = $1 ORDER BY sku",
            id,
        )
        .await
    }

    async fn record_orders(
        &self,
        id: IntegrationId,
        batch: &OrderBatch,
    ) -> Result<Vec<RecordedOrder>, StoreError> {
        // Rows are locked in one order, so batches do not deadlock; should the server still
        // break one (or a future isolation level fail one), nothing was written and the batch
        // runs again.
        let mut attempt = 1;
        loop {
            match self.record_orders_once(id, batch).await {
                Err(e) if attempt < TRANSACTION_ATTEMPTS && store_error_is_retryable(&e) => {
                    tracing::debug!(
                        attempt,
                        "record_orders conflicted with a concurrent batch; running it again"
                    );
                    attempt += 1;
                }
                result => return result,
            }
        }
    }

    async fn ledger_entry(
        &self,
        id: IntegrationId,
        order: &ChannelOrderId,
    ) -> Result<Option<LedgerEntry>, StoreError> {
        let text: Option<String> = sqlx::query_scalar(
            "SELECT entry::text FROM ledger WHERE integration_id = $1 AND channel_order_id = $2",
        )
        .bind(key_of(id))
        .bind(order.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| backend("ledger_entry", e))?;
        // A placeholder (`null`) is never committed; reading one would mean a broken row.
        match text {
            None => Ok(None),
            Some(t) => from_json::<Option<LedgerEntry>>("ledger entry", &t)?
                .map(Some)
                .ok_or_else(|| StoreError::Corrupt("ledger entry is empty".into())),
        }
    }

    async fn ledger(
        &self,
        id: IntegrationId,
        filter: LedgerFilter,
    ) -> Result<Vec<LedgerEntry>, StoreError> {
        let mut out = Vec::new();
        let mut page = PageRequest::first(pages::LEDGER_CHUNK);
        loop {
            let got = self.ledger_page(id, filter, &page).await?;
            let next = page.after(&got);
            out.extend(got.items);
            match next {
                Some(n) => page = n,
                None => return Ok(out),
            }
        }
    }

    async fn cursor(&self, id: IntegrationId) -> Result<Option<Cursor>, StoreError> {
        let text: Option<String> =
            sqlx::query_scalar("SELECT cursor FROM cursors WHERE integration_id = $1")
                .bind(key_of(id))
                .fetch_optional(&self.pool)
                .await
                .map_err(|e| backend("cursor", e))?;
        Ok(text.map(Cursor))
    }

    async fn enqueue_outbox(&self, item: &OutboxItem) -> Result<OutboxEntry, StoreError> {
        const OP: &str = "enqueue_outbox";
        let key = key_of(item.integration_id);
        let entry = OutboxEntry {
            item: item.clone(),
            state: OutboxState::Pending,
            attempts: 0,
            next_attempt_at: item.created_at,
            lease: None,
            last_error: None,
        };
        // (integration, key) is UNIQUE: of two concurrent enqueues of one key, the second's
        // insert waits for the first to commit and then does nothing. The entry read after it
        // is the one stored, returned when it holds the same request (refused otherwise).
        let mut conn = self.pool.acquire().await.map_err(|e| backend(OP, e))?;
        sqlx::query(
            "INSERT INTO outbox (integration_id, idempotency_key, state, next_attempt_at, entry) \
             VALUES ($1, $2, 'pending', $3, $4::jsonb) \
             ON CONFLICT (integration_id, idempotency_key) DO NOTHING",
        )
        .bind(&key)
        .bind(item.idempotency_key.as_str())
        .bind(entry.next_attempt_at)
        .bind(to_json("outbox entry", &entry)?)
        .execute(&mut *conn)
        .await
        .map_err(|e| write_failed(OP, &key, e))?;
        let text: Option<String> = sqlx::query_scalar(
            "SELECT entry::text FROM outbox WHERE integration_id = $1 AND idempotency_key = $2",
        )
        .bind(&key)
        .bind(item.idempotency_key.as_str())
        .fetch_optional(&mut *conn)
        .await
        .map_err(|e| backend(OP, e))?;
        let stored: OutboxEntry = from_json(
            "outbox entry",
            &text.ok_or_else(|| StoreError::backend("the outbox entry vanished while enqueued"))?,
        )?;
        // A refused enqueue wrote nothing: the insert did nothing.
        check_key_reuse(&stored.item, item)?;
        Ok(stored)
    }

    async fn claim_outbox(
        &self,
        id: IntegrationId,
        now: DateTime<Utc>,
        lease_for: Duration,
        limit: usize,
    ) -> Result<Vec<OutboxEntry>, StoreError> {
        const OP: &str = "claim_outbox";
        if limit == 0 {
            return Ok(Vec::new());
        }
        let mut tx = self.pool.begin().await.map_err(|e| backend(OP, e))?;
        // Lease expiry by the database's clock, read once: when a lease lapses and when the new
        // ones end. The caller's `now` only decides which entries are due.
        let (lease_now, lease_until): (DateTime<Utc>, DateTime<Utc>) = sqlx::query_as(
            "SELECT clock_timestamp(), clock_timestamp() + $1::bigint * interval '1 microsecond'",
        )
        .bind(work::micros("outbox lease", lease_for)?)
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| backend(OP, e))?;
        // Candidates oldest first, locked; rows another claimer holds are skipped, and a row it
        // claimed and committed meanwhile is re-checked on its new lease and left out. The
        // columns are the entry's times to the microsecond (never later than the exact ones),
        // so this selects every due entry; the exact check on the entry follows.
        let rows: Vec<String> = sqlx::query_scalar(
            "SELECT entry::text FROM outbox \
             WHERE integration_id = $1 AND state = 'pending' AND next_attempt_at <= $2 \
             AND (lease_until IS NULL OR lease_until <= $4) \
             ORDER BY seq LIMIT $3 FOR UPDATE SKIP LOCKED",
        )
        .bind(key_of(id))
        .bind(now)
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .bind(lease_now)
        .fetch_all(&mut *tx)
        .await
        .map_err(|e| backend(OP, e))?;
        let mut claimed = Vec::new();
        for t in &rows {
            let mut entry: OutboxEntry = from_json("outbox entry", t)?;
            let due = entry.state == OutboxState::Pending
                && entry.next_attempt_at <= now
                && entry.lease.as_ref().is_none_or(|l| l.until <= lease_now);
            if !due {
                continue;
            }
            entry.attempts = entry.attempts.saturating_add(1);
            entry.lease = Some(Lease {
                token: format!("lease-{}", uuid::Uuid::new_v4()),
                until: lease_until,
            });
            write_outbox_row(&mut tx, &entry, OP).await?;
            claimed.push(entry);
        }
        tx.commit().await.map_err(|e| backend(OP, e))?;
        Ok(claimed)
    }

    async fn finish_outbox(
        &self,
        id: IntegrationId,
        key: &IdempotencyKey,
        lease_token: &str,
        update: &OutboxUpdate,
    ) -> Result<(), StoreError> {
        const OP: &str = "finish_outbox";
        let mut tx = self.pool.begin().await.map_err(|e| backend(OP, e))?;
        let mut entry = outbox_row_for_update(&mut tx, id, key, OP)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("outbox entry {key}")))?;
        apply_finish(&mut entry, key, lease_token, update)?;
        write_outbox_row(&mut tx, &entry, OP).await?;
        tx.commit().await.map_err(|e| backend(OP, e))
    }

    async fn outbox(&self, id: IntegrationId) -> Result<Vec<OutboxEntry>, StoreError> {
        self.json_rows(
            "outbox",
            "outbox entry",
            "SELECT entry::text FROM outbox WHERE integration_id = $1 ORDER BY seq",
            id,
        )
        .await
    }

    // ----- paged reads (pages.rs) -----

    async fn integrations_page(
        &self,
        page: &PageRequest,
    ) -> Result<Page<IntegrationRecord>, StoreError> {
        pages::integrations_page(self, page).await
    }

    async fn listings_page(
        &self,
        id: IntegrationId,
        page: &PageRequest,
    ) -> Result<Page<Listing>, StoreError> {
        pages::listings_page(self, id, page).await
    }

    async fn ledger_page(
        &self,
        id: IntegrationId,
        filter: LedgerFilter,
        page: &PageRequest,
    ) -> Result<Page<LedgerEntry>, StoreError> {
        pages::ledger_page(self, id, filter, page).await
    }

    async fn outbox_page(
        &self,
        id: IntegrationId,
        page: &PageRequest,
    ) -> Result<Page<OutboxEntry>, StoreError> {
        pages::outbox_page(self, id, page).await
    }

    // ----- what many workers share (work.rs) -----

    async fn credentials_versioned(
        &self,
        id: IntegrationId,
    ) -> Result<Option<VersionedCredentials>, StoreError> {
        work::credentials_versioned(self, id).await
    }

    async fn replace_credentials(
        &self,
        id: IntegrationId,
        sealed: &SealedCredentials,
        expected_version: u64,
    ) -> Result<u64, StoreError> {
        work::replace_credentials(self, id, sealed, expected_version).await
    }

    async fn try_lease(
        &self,
        name: &str,
        holder: &str,
        lease_for: Duration,
    ) -> Result<bool, StoreError> {
        work::try_lease(self, name, holder, lease_for).await
    }

    async fn release_lease(&self, name: &str, holder: &str) -> Result<(), StoreError> {
        work::release_lease(self, name, holder).await
    }

    async fn claim_work(
        &self,
        worker: &WorkerId,
        now: DateTime<Utc>,
        lease_for: Duration,
        limit: usize,
    ) -> Result<Vec<WorkClaim>, StoreError> {
        work::claim_work(self, worker, now, lease_for, limit).await
    }

    async fn renew_work(
        &self,
        integration: IntegrationId,
        worker: &WorkerId,
        lease_for: Duration,
    ) -> Result<(), StoreError> {
        work::renew_work(self, integration, worker, lease_for).await
    }

    async fn record_run(
        &self,
        integration: IntegrationId,
        worker: &WorkerId,
        operation: &str,
        times: &RunTimes,
    ) -> Result<(), StoreError> {
        work::record_run(self, integration, worker, operation, times).await
    }

    async fn release_work(
        &self,
        integration: IntegrationId,
        worker: &WorkerId,
        next_due: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        work::release_work(self, integration, worker, next_due).await
    }

    // ----- notifications (crate::notices) -----

    async fn update_integration_notifying(
        &self,
        record: &IntegrationRecord,
        audit: &[AuditEvent],
        notifications: &[marketsync_core::store::NewNotification],
    ) -> Result<u64, StoreError> {
        notices::update_integration_notifying(self, record, audit, notifications).await
    }

    async fn notification(
        &self,
        id: &str,
    ) -> Result<Option<marketsync_core::store::StoredNotification>, StoreError> {
        notices::notification(self, id).await
    }

    async fn claim_deliveries(
        &self,
        transport: &str,
        now: DateTime<Utc>,
        lease_for: Duration,
        limit: usize,
    ) -> Result<Vec<marketsync_core::store::NotificationDelivery>, StoreError> {
        notices::claim_deliveries(self, transport, now, lease_for, limit).await
    }

    async fn finish_delivery(
        &self,
        notification: &str,
        transport: &str,
        lease_token: &str,
        update: &marketsync_core::store::DeliveryUpdate,
    ) -> Result<(), StoreError> {
        notices::finish_delivery(self, notification, transport, lease_token, update).await
    }

    async fn deliveries(
        &self,
        query: &marketsync_core::store::DeliveryQuery,
        page: &PageRequest,
    ) -> Result<Page<marketsync_core::store::NotificationDelivery>, StoreError> {
        notices::deliveries(self, query, page).await
    }

    async fn messages(
        &self,
        query: &marketsync_core::store::MessageQuery,
        page: &PageRequest,
    ) -> Result<Page<marketsync_core::store::StoredNotification>, StoreError> {
        notices::messages(self, query, page).await
    }

    async fn mark_read(
        &self,
        mark: &marketsync_core::store::MarkRead,
        at: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        notices::mark_read(self, mark, at).await
    }

    // ----- the stock journal and targeted propagation (crate::stock) -----

    async fn pending_stock_events(
        &self,
        limit: usize,
    ) -> Result<Vec<marketsync_core::store::StockEvent>, StoreError> {
        stock::pending_stock_events(self, limit).await
    }

    async fn finish_stock_events(
        &self,
        seqs: &[u64],
        propagate: &[marketsync_core::store::PendingSku],
    ) -> Result<(), StoreError> {
        stock::finish_stock_events(self, seqs, propagate).await
    }

    async fn pending_skus(
        &self,
        id: IntegrationId,
        limit: usize,
    ) -> Result<Vec<marketsync_core::store::PendingSku>, StoreError> {
        stock::pending_skus(self, id, limit).await
    }

    async fn integrations_with_pending_skus(
        &self,
        limit: usize,
    ) -> Result<Vec<IntegrationId>, StoreError> {
        stock::integrations_with_pending_skus(self, limit).await
    }

    async fn finish_propagation(
        &self,
        id: IntegrationId,
        done: &[(Sku, u64)],
    ) -> Result<(), StoreError> {
        stock::finish_propagation(self, id, done).await
    }

    async fn listings_for_skus(&self, skus: &[Sku]) -> Result<Vec<Listing>, StoreError> {
        stock::listings_for_skus(self, skus).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcome_column_is_the_serde_tag() {
        use marketsync_core::store::NotImportedReason;
        for outcome in [
            OrderOutcome::Imported,
            OrderOutcome::NotImported {
                reason: NotImportedReason::LineWithoutSku {
                    line_id: "1".into(),
                },
            },
        ] {
            let json = serde_json::to_value(&outcome).unwrap();
            assert_eq!(json["outcome"], outcome_column(&outcome));
        }
    }
}
