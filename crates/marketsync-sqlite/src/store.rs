//! [`SqliteStore`]: the [`Store`] on SQLite.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
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
    OutboxItem, OutboxState, OutboxUpdate, RecordedOrder, SightingOutcome, Store, StoreError,
    VersionedMappings,
};
use marketsync_core::vault::SealedCredentials;
use serde::Serialize;
use serde::de::DeserializeOwned;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Sqlite, SqliteConnection, Transaction};

use crate::error::{
    backend, corrupt, encode_failed, is_unique_violation, out_of_range, write_failed,
};
use crate::migrations::{SCHEMA_VERSION, migrator};

/// How long a connection waits for another connection's (or process's) write lock before the
/// call fails with a temporary [`StoreError::Backend`].
pub const DEFAULT_BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Connections kept for a database file (SQLite has one writer at a time; WAL lets readers run
/// beside it).
const FILE_CONNECTIONS: u32 = 4;

/// Every write transaction starts with this: it takes the database's write lock at once, so two
/// connections (or processes) never both read rows and then both write them, and never deadlock
/// upgrading a read lock to a write lock (a plain `BEGIN` could).
const BEGIN_IMMEDIATE: &str = "BEGIN IMMEDIATE";

/// Where a [`SqliteStore`] keeps its data.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Location {
    /// A database file (created when missing).
    File(PathBuf),
    /// A private in-memory database, gone when the store (and every clone of it) is dropped or
    /// closed.
    Memory,
}

/// Options for opening a [`SqliteStore`].
#[derive(Clone, Debug)]
pub struct SqliteOptions {
    location: Location,
    busy_timeout: Duration,
}

impl SqliteOptions {
    /// A database file, created (with its schema) when missing.
    pub fn file(path: impl AsRef<Path>) -> Self {
        Self {
            location: Location::File(path.as_ref().to_path_buf()),
            busy_timeout: DEFAULT_BUSY_TIMEOUT,
        }
    }

    /// A private in-memory database.
    pub fn memory() -> Self {
        Self {
            location: Location::Memory,
            busy_timeout: DEFAULT_BUSY_TIMEOUT,
        }
    }

    /// How long to wait for another writer's lock ([`DEFAULT_BUSY_TIMEOUT`] unless set).
    pub fn busy_timeout(mut self, timeout: Duration) -> Self {
        self.busy_timeout = timeout;
        self
    }

    /// Where the data is kept.
    pub fn location(&self) -> &Location {
        &self.location
    }
}

/// One order's import as the import log keeps it: one entry each time an order became
/// `Imported`, kept forever (a ledger row keeps only its most recent sightings). With the
/// exactly-once guarantee every order has at most one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImportLogEntry {
    /// The order.
    pub channel_order_id: ChannelOrderId,
    /// When the batch that imported it was seen.
    pub imported_at: DateTime<Utc>,
}

/// The [`Store`] on SQLite: a database file (or an in-memory database), migrated on open.
///
/// See the [crate documentation](crate) for the schema and the guarantees.
#[derive(Clone, Debug)]
pub struct SqliteStore {
    pub(crate) pool: SqlitePool,
    location: Location,
}

impl SqliteStore {
    /// The JSON column `sql` selects for one integration (bound as `?1`), each row decoded as a
    /// `what` (named in a corruption error); `op` names the operation in a backend error.
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

    /// Opens (creating when missing) the database file at `path` and brings its schema up to
    /// date.
    pub async fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        Self::open_with(SqliteOptions::file(path)).await
    }

    /// Opens a new, private in-memory database (for tests and programs that keep nothing).
    pub async fn open_in_memory() -> Result<Self, StoreError> {
        Self::open_with(SqliteOptions::memory()).await
    }

    /// Opens a store with options.
    pub async fn open_with(options: SqliteOptions) -> Result<Self, StoreError> {
        let base = SqliteConnectOptions::new()
            .foreign_keys(true)
            .busy_timeout(options.busy_timeout);
        let pool = match &options.location {
            Location::File(path) => {
                let connect = base
                    .filename(path)
                    .create_if_missing(true)
                    // WAL: readers never block the writer nor the writer them, and a crash
                    // leaves the database consistent.
                    .journal_mode(SqliteJournalMode::Wal)
                    // FULL: a committed transaction is on disk before the commit returns, even
                    // with WAL. The ledger is the exactly-once promise: losing a committed
                    // import on power loss could import the order again, so durability is
                    // worth the fsync.
                    .synchronous(SqliteSynchronous::Full);
                SqlitePoolOptions::new()
                    .max_connections(FILE_CONNECTIONS)
                    .connect_with(connect)
                    .await
                    .map_err(|e| backend("open", e))?
            }
            Location::Memory => {
                // One connection, never closed: every query must see the same in-memory
                // database, which lives exactly as long as its connection.
                let connect = base
                    .in_memory(true)
                    .journal_mode(SqliteJournalMode::Memory)
                    .synchronous(SqliteSynchronous::Full);
                SqlitePoolOptions::new()
                    .max_connections(1)
                    .min_connections(1)
                    .idle_timeout(None)
                    .max_lifetime(None)
                    .connect_with(connect)
                    .await
                    .map_err(|e| backend("open", e))?
            }
        };
        let store = Self {
            pool,
            location: options.location,
        };
        store.migrate().await?;
        Ok(store)
    }

    /// Runs the pending migrations in one `BEGIN IMMEDIATE` transaction, so processes opening the
    /// same file at once migrate it once (the others wait, then find it up to date).
    async fn migrate(&self) -> Result<(), StoreError> {
        let mut tx = self.begin("migrate").await?;
        migrator(SCHEMA_VERSION)
            .run_direct(None, &mut *tx, false)
            .await
            .map_err(migrate_failed)?;
        tx.commit().await.map_err(|e| backend("migrate", e))
    }

    /// Where the data is kept.
    pub fn location(&self) -> &Location {
        &self.location
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

    /// Runs SQLite's `PRAGMA integrity_check`: `Ok(())` when the database is consistent, the
    /// problems found otherwise (as `StoreError::Corrupt`).
    pub async fn integrity_check(&self) -> Result<(), StoreError> {
        let rows: Vec<String> = sqlx::query_scalar("PRAGMA integrity_check")
            .fetch_all(&self.pool)
            .await
            .map_err(|e| backend("integrity_check", e))?;
        if rows == ["ok"] {
            Ok(())
        } else {
            Err(StoreError::Corrupt(format!(
                "integrity check failed: {}",
                rows.join("; ")
            )))
        }
    }

    /// Every import of an integration's orders, oldest first.
    pub async fn import_log(&self, id: IntegrationId) -> Result<Vec<ImportLogEntry>, StoreError> {
        let rows: Vec<(String, String)> = sqlx::query_as(
            "SELECT channel_order_id, imported_at FROM import_log \
             WHERE integration_id = ?1 ORDER BY seq",
        )
        .bind(key_of(id))
        .fetch_all(&self.pool)
        .await
        .map_err(|e| backend("import_log", e))?;
        rows.into_iter()
            .map(|(order, at)| {
                Ok(ImportLogEntry {
                    channel_order_id: ChannelOrderId::new(order)
                        .map_err(|_| out_of_range("import log order id"))?,
                    imported_at: DateTime::parse_from_rfc3339(&at)
                        .map_err(|_| out_of_range("import log time"))?
                        .with_timezone(&Utc),
                })
            })
            .collect()
    }

    /// Closes every connection (waiting for running calls). Later calls fail.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// The writes of [`Store::update_integration`] inside the caller's transaction (shared with
    /// [`Store::update_integration_notifying`]): the version check, the record, the work row and
    /// the audit events. Returns the new version.
    pub(crate) async fn update_in(
        conn: &mut SqliteConnection,
        record: &IntegrationRecord,
        audit: &[AuditEvent],
        operation: &str,
    ) -> Result<u64, StoreError> {
        let id = key_of(record.id);
        let stored: Option<i64> =
            sqlx::query_scalar("SELECT version FROM integrations WHERE id = ?1")
                .bind(&id)
                .fetch_optional(&mut *conn)
                .await
                .map_err(|e| backend(operation, e))?;
        let stored = match stored {
            None => return Err(StoreError::NotFound(format!("integration {id}"))),
            Some(v) => version_from_db(v)?,
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
        sqlx::query("UPDATE integrations SET version = ?1, record = ?2 WHERE id = ?3")
            .bind(version_to_db(next.version)?)
            .bind(to_json("integration record", &next)?)
            .bind(&id)
            .execute(&mut *conn)
            .await
            .map_err(|e| backend(operation, e))?;
        Self::work_changed(conn, &id, operation).await?;
        append_audit(conn, &id, audit, operation).await?;
        Ok(next.version)
    }

    pub(crate) async fn begin(
        &self,
        operation: &str,
    ) -> Result<Transaction<'static, Sqlite>, StoreError> {
        self.pool
            .begin_with(BEGIN_IMMEDIATE)
            .await
            .map_err(|e| backend(operation, e))
    }
}

/// SQLite's `now`, and its `now` moved by a lease of `lease_for`: when an outbox lease lapses
/// and when a new one ends, by the database's clock (to the millisecond).
async fn outbox_lease_times(
    conn: &mut SqliteConnection,
    lease_for: Duration,
    operation: &str,
) -> Result<(DateTime<Utc>, DateTime<Utc>), StoreError> {
    let (now, until): (String, String) = sqlx::query_as(
        "SELECT strftime('%Y-%m-%dT%H:%M:%fZ', 'now'), strftime('%Y-%m-%dT%H:%M:%fZ', 'now', ?1)",
    )
    .bind(crate::work::lease_modifier(lease_for))
    .fetch_one(conn)
    .await
    .map_err(|e| backend(operation, e))?;
    let parse = |text: &str| {
        DateTime::parse_from_rfc3339(text)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|e| StoreError::Corrupt(format!("the database clock read {text:?}: {e}")))
    };
    Ok((parse(&now)?, parse(&until)?))
}

fn migrate_failed(e: sqlx::migrate::MigrateError) -> StoreError {
    use sqlx::migrate::MigrateError as M;
    let message = match &e {
        M::VersionMissing(v) => format!(
            "the database was migrated by a newer marketsync (schema migration {v} is unknown to this build, which knows up to {SCHEMA_VERSION}): upgrade marketsync"
        ),
        M::VersionMismatch(v) => format!(
            "schema migration {v} applied to this database differs from this build's: the database or the build was modified"
        ),
        M::Dirty(v) => format!(
            "schema migration {v} failed part-way earlier: the database needs manual repair"
        ),
        _ => "migrating the database schema failed".to_owned(),
    };
    StoreError::Backend {
        message,
        source: Some(Box::new(e)),
    }
}

// ----- encoding -----

fn key_of(id: IntegrationId) -> String {
    id.to_string()
}

fn to_json<T: Serialize>(what: &str, value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| encode_failed(what, e))
}

fn from_json<T: DeserializeOwned>(what: &str, text: &str) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|e| corrupt(what, &e))
}

fn version_to_db(v: u64) -> Result<i64, StoreError> {
    i64::try_from(v).map_err(|_| out_of_range("integration version"))
}

fn version_from_db(v: i64) -> Result<u64, StoreError> {
    u64::try_from(v).map_err(|_| out_of_range("integration version"))
}

/// The ledger's `outcome` column: the serde tag of [`OrderOutcome`] (migration 0002 backfills it
/// from the JSON with the same values).
fn outcome_column(outcome: &OrderOutcome) -> &'static str {
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

fn integration_from_row(version: i64, record: &str) -> Result<IntegrationRecord, StoreError> {
    let mut r: IntegrationRecord = from_json("integration record", record)?;
    r.version = version_from_db(version)?;
    Ok(r)
}

async fn append_audit(
    conn: &mut SqliteConnection,
    id: &str,
    audit: &[AuditEvent],
    operation: &str,
) -> Result<(), StoreError> {
    for event in audit {
        sqlx::query("INSERT INTO audit_events (integration_id, event) VALUES (?1, ?2)")
            .bind(id)
            .bind(to_json("audit event", event)?)
            .execute(&mut *conn)
            .await
            .map_err(|e| write_failed(operation, id, e))?;
    }
    Ok(())
}

async fn ledger_row(
    conn: &mut SqliteConnection,
    id: &str,
    order: &ChannelOrderId,
    operation: &str,
) -> Result<Option<LedgerEntry>, StoreError> {
    let text: Option<String> = sqlx::query_scalar(
        "SELECT entry FROM ledger WHERE integration_id = ?1 AND channel_order_id = ?2",
    )
    .bind(id)
    .bind(order.as_str())
    .fetch_optional(&mut *conn)
    .await
    .map_err(|e| backend(operation, e))?;
    text.map(|t| from_json("ledger entry", &t)).transpose()
}

/// The ledger rows of a batch's orders, read with a few `IN (…)` queries instead of one query
/// an order.
async fn ledger_rows(
    conn: &mut SqliteConnection,
    id: &str,
    writes: &[marketsync_core::store::LedgerWrite],
    operation: &str,
) -> Result<HashMap<String, LedgerEntry>, StoreError> {
    // Well under SQLite's limit of host parameters in one statement.
    const IDS_PER_QUERY: usize = 400;
    let mut rows = HashMap::new();
    let ids: BTreeSet<&str> = writes.iter().map(|w| w.channel_order_id.as_str()).collect();
    let ids: Vec<&str> = ids.into_iter().collect();
    for chunk in ids.chunks(IDS_PER_QUERY) {
        let mut query = sqlx::QueryBuilder::<Sqlite>::new(
            "SELECT channel_order_id, entry FROM ledger WHERE integration_id = ",
        );
        query.push_bind(id).push(" AND channel_order_id IN (");
        let mut list = query.separated(", ");
        for order in chunk {
            list.push_bind(*order);
        }
        list.push_unseparated(")");
        for (order, text) in query
            .build_query_as::<(String, String)>()
            .fetch_all(&mut *conn)
            .await
            .map_err(|e| backend(operation, e))?
        {
            rows.insert(order, from_json("ledger entry", &text)?);
        }
    }
    Ok(rows)
}

/// The outbox entry of a key in an integration (keys are unique per integration).
async fn outbox_row(
    conn: &mut SqliteConnection,
    id: IntegrationId,
    key: &IdempotencyKey,
    operation: &str,
) -> Result<Option<OutboxEntry>, StoreError> {
    let text: Option<String> = sqlx::query_scalar(
        "SELECT entry FROM outbox WHERE integration_id = ?1 AND idempotency_key = ?2",
    )
    .bind(key_of(id))
    .bind(key.as_str())
    .fetch_optional(&mut *conn)
    .await
    .map_err(|e| backend(operation, e))?;
    text.map(|t| from_json("outbox entry", &t)).transpose()
}

async fn write_outbox_row(
    conn: &mut SqliteConnection,
    entry: &OutboxEntry,
    operation: &str,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE outbox SET state = ?1, entry = ?2 WHERE integration_id = ?3 AND idempotency_key = ?4",
    )
    .bind(outbox_state_column(&entry.state))
    .bind(to_json("outbox entry", entry)?)
    .bind(key_of(entry.item.integration_id))
    .bind(entry.item.idempotency_key.as_str())
    .execute(&mut *conn)
    .await
    .map_err(|e| backend(operation, e))?;
    Ok(())
}

#[async_trait]
impl Store for SqliteStore {
    async fn insert_integration(
        &self,
        record: &IntegrationRecord,
        audit: &[AuditEvent],
    ) -> Result<(), StoreError> {
        const OP: &str = "insert_integration";
        let id = key_of(record.id);
        let mut tx = self.begin(OP).await?;
        let inserted =
            sqlx::query("INSERT INTO integrations (id, version, record) VALUES (?1, ?2, ?3)")
                .bind(&id)
                .bind(version_to_db(record.version)?)
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
        Self::work_created(&mut tx, &id, OP).await?;
        append_audit(&mut tx, &id, audit, OP).await?;
        tx.commit().await.map_err(|e| backend(OP, e))
    }

    async fn integration(
        &self,
        id: IntegrationId,
    ) -> Result<Option<IntegrationRecord>, StoreError> {
        let row: Option<(i64, String)> =
            sqlx::query_as("SELECT version, record FROM integrations WHERE id = ?1")
                .bind(key_of(id))
                .fetch_optional(&self.pool)
                .await
                .map_err(|e| backend("integration", e))?;
        row.map(|(v, r)| integration_from_row(v, &r)).transpose()
    }

    async fn integrations(&self) -> Result<Vec<IntegrationRecord>, StoreError> {
        let rows: Vec<(i64, String)> =
            sqlx::query_as("SELECT version, record FROM integrations ORDER BY id")
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
        let mut tx = self.begin(OP).await?;
        let version = Self::update_in(&mut tx, record, audit, OP).await?;
        tx.commit().await.map_err(|e| backend(OP, e))?;
        Ok(version)
    }

    async fn audit_log(&self, id: IntegrationId) -> Result<Vec<AuditEvent>, StoreError> {
        self.json_rows(
            "audit_log",
            "audit event",
            "SELECT event FROM audit_events WHERE integration_id = ?1 ORDER BY seq",
            id,
        )
        .await
    }

    async fn put_credentials(
        &self,
        id: IntegrationId,
        sealed: &SealedCredentials,
    ) -> Result<(), StoreError> {
        const OP: &str = "put_credentials";
        let id = key_of(id);
        sqlx::query(
            "INSERT INTO credentials (integration_id, key_id, nonce, ciphertext) \
             VALUES (?1, ?2, ?3, ?4) \
             ON CONFLICT (integration_id) DO UPDATE SET \
             key_id = excluded.key_id, nonce = excluded.nonce, ciphertext = excluded.ciphertext, \
             version = credentials.version + 1",
        )
        .bind(&id)
        .bind(&sealed.key_id)
        .bind(&sealed.nonce)
        .bind(&sealed.ciphertext)
        .execute(&self.pool)
        .await
        .map_err(|e| write_failed(OP, &id, e))?;
        Ok(())
    }

    async fn credentials(
        &self,
        id: IntegrationId,
    ) -> Result<Option<SealedCredentials>, StoreError> {
        let row: Option<(String, Vec<u8>, Vec<u8>)> = sqlx::query_as(
            "SELECT key_id, nonce, ciphertext FROM credentials WHERE integration_id = ?1",
        )
        .bind(key_of(id))
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| backend("credentials", e))?;
        Ok(row.map(|(key_id, nonce, ciphertext)| SealedCredentials {
            key_id,
            nonce,
            ciphertext,
        }))
    }

    async fn put_mappings(
        &self,
        id: IntegrationId,
        mappings: &MappingSet,
    ) -> Result<(), StoreError> {
        const OP: &str = "put_mappings";
        let id = key_of(id);
        sqlx::query(
            "INSERT INTO mappings (integration_id, mappings, version) VALUES (?1, ?2, 1) \
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
        let text: Option<String> =
            sqlx::query_scalar("SELECT mappings FROM mappings WHERE integration_id = ?1")
                .bind(key_of(id))
                .fetch_optional(&self.pool)
                .await
                .map_err(|e| backend("mappings", e))?;
        match text {
            Some(t) => from_json("mappings", &t),
            None => Ok(MappingSet::default()),
        }
    }

    async fn mappings_versioned(&self, id: IntegrationId) -> Result<VersionedMappings, StoreError> {
        let row: Option<(String, i64)> =
            sqlx::query_as("SELECT mappings, version FROM mappings WHERE integration_id = ?1")
                .bind(key_of(id))
                .fetch_optional(&self.pool)
                .await
                .map_err(|e| backend("mappings_versioned", e))?;
        match row {
            Some((text, version)) => Ok(VersionedMappings {
                mappings: from_json("mappings", &text)?,
                version: version_from_db(version)?,
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
        let id = key_of(id);
        let mut tx = self.begin(OP).await?;
        let exists: Option<i64> = sqlx::query_scalar("SELECT 1 FROM integrations WHERE id = ?1")
            .bind(&id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(|e| backend(OP, e))?;
        if exists.is_none() {
            return Err(StoreError::NotFound(format!("integration {id}")));
        }
        let stored: Option<i64> =
            sqlx::query_scalar("SELECT version FROM mappings WHERE integration_id = ?1")
                .bind(&id)
                .fetch_optional(&mut *tx)
                .await
                .map_err(|e| backend(OP, e))?;
        let stored = stored.map(version_from_db).transpose()?.unwrap_or(0);
        if stored != expected_version {
            return Err(StoreError::Conflict(format!(
                "the mappings of integration {id} were changed concurrently (version {expected_version} expected, {stored} stored)"
            )));
        }
        let next = stored
            .checked_add(1)
            .ok_or_else(|| out_of_range("mappings version"))?;
        sqlx::query(
            "INSERT INTO mappings (integration_id, mappings, version) VALUES (?1, ?2, ?3) \
             ON CONFLICT (integration_id) DO UPDATE \
             SET mappings = excluded.mappings, version = excluded.version",
        )
        .bind(&id)
        .bind(to_json("mappings", mappings)?)
        .bind(version_to_db(next)?)
        .execute(&mut *tx)
        .await
        .map_err(|e| write_failed(OP, &id, e))?;
        append_audit(&mut tx, &id, audit, OP).await?;
        tx.commit().await.map_err(|e| backend(OP, e))?;
        Ok(next)
    }

    async fn put_listing(&self, listing: &Listing) -> Result<(), StoreError> {
        const OP: &str = "put_listing";
        let id = key_of(listing.integration_id);
        sqlx::query(
            "INSERT INTO listings (integration_id, sku, listing) VALUES (?1, ?2, ?3) \
             ON CONFLICT (integration_id, sku) DO UPDATE SET listing = excluded.listing",
        )
        .bind(&id)
        .bind(listing.sku.as_str())
        .bind(to_json("listing", listing)?)
        .execute(&self.pool)
        .await
        .map_err(|e| write_failed(OP, &id, e))?;
        Ok(())
    }

    async fn put_listings(&self, listings: &[Listing]) -> Result<(), StoreError> {
        const OP: &str = "put_listings";
        if listings.is_empty() {
            return Ok(());
        }
        // One transaction (one fsync) for the whole batch.
        let mut tx = self.begin(OP).await?;
        for listing in listings {
            let id = key_of(listing.integration_id);
            sqlx::query(
                "INSERT INTO listings (integration_id, sku, listing) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (integration_id, sku) DO UPDATE SET listing = excluded.listing",
            )
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
        sqlx::query("DELETE FROM listings WHERE integration_id = ?1 AND sku = ?2")
            .bind(key_of(id))
            .bind(sku.as_str())
            .execute(&self.pool)
            .await
            .map_err(|e| backend("remove_listing", e))?;
        Ok(())
    }

    async fn listings(&self, id: IntegrationId) -> Result<Vec<Listing>, StoreError> {
        // BINARY collation: byte order of UTF-8, the same order as Rust's `str`.
        self.json_rows(
            "listings",
            "listing",
            "SELECT listing FROM listings WHERE integration_id = ?1 ORDER BY sku",
            id,
        )
        .await
    }

    async fn record_orders(
        &self,
        id: IntegrationId,
        batch: &OrderBatch,
    ) -> Result<Vec<RecordedOrder>, StoreError> {
        const OP: &str = "record_orders";
        let key = key_of(id);
        // The write lock is taken first, so the rows read below cannot change before this
        // transaction commits: whatever runs or processes overlap, an order imported by one
        // batch is `AlreadyImported` for every later one. Any error drops the transaction, which
        // rolls everything back, the cursor included.
        let mut tx = self.begin(OP).await?;
        let mut rows = ledger_rows(&mut tx, &key, &batch.writes, OP).await?;
        let mut results = Vec::with_capacity(batch.writes.len());
        for write in &batch.writes {
            let existing = rows.remove(write.channel_order_id.as_str());
            let (entry, outcome) = apply_write(id, existing, write, batch.seen_at);
            sqlx::query(
                "INSERT INTO ledger (integration_id, channel_order_id, outcome, entry) \
                 VALUES (?1, ?2, ?3, ?4) \
                 ON CONFLICT (integration_id, channel_order_id) DO UPDATE SET \
                 outcome = excluded.outcome, entry = excluded.entry",
            )
            .bind(&key)
            .bind(write.channel_order_id.as_str())
            .bind(outcome_column(&entry.outcome))
            .bind(to_json("ledger entry", &entry)?)
            .execute(&mut *tx)
            .await
            .map_err(|e| write_failed(OP, &key, e))?;
            if outcome == SightingOutcome::Imported {
                sqlx::query(
                    "INSERT INTO import_log (integration_id, channel_order_id, imported_at) \
                     VALUES (?1, ?2, ?3)",
                )
                .bind(&key)
                .bind(write.channel_order_id.as_str())
                .bind(batch.seen_at.to_rfc3339())
                .execute(&mut *tx)
                .await
                .map_err(|e| write_failed(OP, &key, e))?;
            }
            results.push(RecordedOrder {
                channel_order_id: write.channel_order_id.clone(),
                outcome,
            });
            // The same order twice in one batch sees its own first write.
            rows.insert(write.channel_order_id.as_str().to_owned(), entry);
        }
        if let Some(cursor) = &batch.cursor {
            sqlx::query(
                "INSERT INTO cursors (integration_id, cursor) VALUES (?1, ?2) \
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

    async fn ledger_entry(
        &self,
        id: IntegrationId,
        order: &ChannelOrderId,
    ) -> Result<Option<LedgerEntry>, StoreError> {
        let mut conn = self
            .pool
            .acquire()
            .await
            .map_err(|e| backend("ledger_entry", e))?;
        ledger_row(&mut conn, &key_of(id), order, "ledger_entry").await
    }

    async fn ledger(
        &self,
        id: IntegrationId,
        filter: LedgerFilter,
    ) -> Result<Vec<LedgerEntry>, StoreError> {
        // The indexed outcome column narrows the rows read; `LedgerEntry::matches` decides.
        let outcome = match filter {
            LedgerFilter::All => None,
            LedgerFilter::Held | LedgerFilter::NotImported | LedgerFilter::Unreadable => {
                Some("not_imported")
            }
            LedgerFilter::Unfulfilled => Some("imported"),
        };
        let query = match outcome {
            None => sqlx::query_scalar(
                "SELECT entry FROM ledger WHERE integration_id = ?1 ORDER BY channel_order_id",
            )
            .bind(key_of(id)),
            Some(outcome) => sqlx::query_scalar(
                "SELECT entry FROM ledger WHERE integration_id = ?1 AND outcome = ?2 \
                 ORDER BY channel_order_id",
            )
            .bind(key_of(id))
            .bind(outcome),
        };
        let rows: Vec<String> = query
            .fetch_all(&self.pool)
            .await
            .map_err(|e| backend("ledger", e))?;
        let mut out = Vec::new();
        for t in &rows {
            let entry: LedgerEntry = from_json("ledger entry", t)?;
            if entry.matches(filter) {
                out.push(entry);
            }
        }
        Ok(out)
    }

    async fn cursor(&self, id: IntegrationId) -> Result<Option<Cursor>, StoreError> {
        let text: Option<String> =
            sqlx::query_scalar("SELECT cursor FROM cursors WHERE integration_id = ?1")
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
        let mut tx = self.begin(OP).await?;
        // (integration, idempotency key) is UNIQUE: an existing entry is kept unchanged, and
        // returned when it holds the same request (a conflict otherwise).
        sqlx::query(
            "INSERT INTO outbox (idempotency_key, integration_id, state, entry) \
             VALUES (?1, ?2, ?3, ?4) ON CONFLICT (integration_id, idempotency_key) DO NOTHING",
        )
        .bind(item.idempotency_key.as_str())
        .bind(&key)
        .bind(outbox_state_column(&entry.state))
        .bind(to_json("outbox entry", &entry)?)
        .execute(&mut *tx)
        .await
        .map_err(|e| write_failed(OP, &key, e))?;
        let stored = outbox_row(&mut tx, item.integration_id, &item.idempotency_key, OP)
            .await?
            .ok_or_else(|| StoreError::backend("the outbox entry vanished while enqueued"))?;
        // A refused enqueue wrote nothing (the insert did nothing); the transaction is dropped.
        check_key_reuse(&stored.item, item)?;
        tx.commit().await.map_err(|e| backend(OP, e))?;
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
        let mut tx = self.begin(OP).await?;
        // Lease expiry by SQLite's clock, read once inside the write transaction: the lease
        // times in an entry's JSON are all written from it, never from the caller's `now`.
        let (lease_now, lease_until) = outbox_lease_times(&mut tx, lease_for, OP).await?;
        // Pending entries oldest first; due-ness (caller's clock) and lapsed leases (SQLite's
        // clock) are decided on the exact timestamps below, inside the same write transaction.
        let rows: Vec<String> = sqlx::query_scalar(
            "SELECT entry FROM outbox WHERE integration_id = ?1 AND state = 'pending' ORDER BY seq",
        )
        .bind(key_of(id))
        .fetch_all(&mut *tx)
        .await
        .map_err(|e| backend(OP, e))?;
        let mut claimed = Vec::new();
        for t in &rows {
            if claimed.len() >= limit {
                break;
            }
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
        let mut tx = self.begin(OP).await?;
        let mut entry = outbox_row(&mut tx, id, key, OP)
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
            "SELECT entry FROM outbox WHERE integration_id = ?1 ORDER BY seq",
            id,
        )
        .await
    }

    // ----- paged reads, versioned credentials, leases, scheduled work (in work.rs) -----

    async fn integrations_page(
        &self,
        page: &marketsync_core::store::PageRequest,
    ) -> Result<marketsync_core::store::Page<IntegrationRecord>, StoreError> {
        self.page_integrations(page).await
    }

    async fn listings_page(
        &self,
        id: IntegrationId,
        page: &marketsync_core::store::PageRequest,
    ) -> Result<marketsync_core::store::Page<Listing>, StoreError> {
        self.page_listings(id, page).await
    }

    async fn ledger_page(
        &self,
        id: IntegrationId,
        filter: LedgerFilter,
        page: &marketsync_core::store::PageRequest,
    ) -> Result<marketsync_core::store::Page<LedgerEntry>, StoreError> {
        self.page_ledger(id, filter, page).await
    }

    async fn outbox_page(
        &self,
        id: IntegrationId,
        page: &marketsync_core::store::PageRequest,
    ) -> Result<marketsync_core::store::Page<OutboxEntry>, StoreError> {
        self.page_outbox(id, page).await
    }

    async fn credentials_versioned(
        &self,
        id: IntegrationId,
    ) -> Result<Option<marketsync_core::store::VersionedCredentials>, StoreError> {
        self.credentials_with_version(id).await
    }

    async fn replace_credentials(
        &self,
        id: IntegrationId,
        sealed: &SealedCredentials,
        expected_version: u64,
    ) -> Result<u64, StoreError> {
        self.swap_credentials(id, sealed, expected_version).await
    }

    async fn try_lease(
        &self,
        name: &str,
        holder: &str,
        lease_for: Duration,
    ) -> Result<bool, StoreError> {
        self.take_lease(name, holder, lease_for).await
    }

    async fn release_lease(&self, name: &str, holder: &str) -> Result<(), StoreError> {
        self.give_back_lease(name, holder).await
    }

    async fn claim_work(
        &self,
        worker: &marketsync_core::store::WorkerId,
        now: DateTime<Utc>,
        lease_for: Duration,
        limit: usize,
    ) -> Result<Vec<marketsync_core::store::WorkClaim>, StoreError> {
        self.claim_due_work(worker, now, lease_for, limit).await
    }

    async fn renew_work(
        &self,
        integration: IntegrationId,
        worker: &marketsync_core::store::WorkerId,
        lease_for: Duration,
    ) -> Result<(), StoreError> {
        self.renew_held_work(integration, worker, lease_for).await
    }

    async fn record_run(
        &self,
        integration: IntegrationId,
        worker: &marketsync_core::store::WorkerId,
        operation: &str,
        times: &marketsync_core::store::RunTimes,
    ) -> Result<(), StoreError> {
        self.record_held_run(integration, worker, operation, times)
            .await
    }

    async fn release_work(
        &self,
        integration: IntegrationId,
        worker: &marketsync_core::store::WorkerId,
        next_due: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.release_held_work(integration, worker, next_due).await
    }

    // ----- notifications (crate::notices) -----

    async fn update_integration_notifying(
        &self,
        record: &IntegrationRecord,
        audit: &[AuditEvent],
        notifications: &[marketsync_core::store::NewNotification],
    ) -> Result<u64, StoreError> {
        self.notices_update_integration(record, audit, notifications)
            .await
    }

    async fn notification(
        &self,
        id: &str,
    ) -> Result<Option<marketsync_core::store::StoredNotification>, StoreError> {
        self.notices_notification(id).await
    }

    async fn claim_deliveries(
        &self,
        transport: &str,
        now: DateTime<Utc>,
        lease_for: Duration,
        limit: usize,
    ) -> Result<Vec<marketsync_core::store::NotificationDelivery>, StoreError> {
        self.notices_claim(transport, now, lease_for, limit).await
    }

    async fn finish_delivery(
        &self,
        notification: &str,
        transport: &str,
        lease_token: &str,
        update: &marketsync_core::store::DeliveryUpdate,
    ) -> Result<(), StoreError> {
        self.notices_finish(notification, transport, lease_token, update)
            .await
    }

    async fn deliveries(
        &self,
        query: &marketsync_core::store::DeliveryQuery,
        page: &marketsync_core::store::PageRequest,
    ) -> Result<
        marketsync_core::store::Page<marketsync_core::store::NotificationDelivery>,
        StoreError,
    > {
        self.notices_deliveries(query, page).await
    }

    async fn messages(
        &self,
        query: &marketsync_core::store::MessageQuery,
        page: &marketsync_core::store::PageRequest,
    ) -> Result<marketsync_core::store::Page<marketsync_core::store::StoredNotification>, StoreError>
    {
        self.notices_messages(query, page).await
    }

    async fn mark_read(
        &self,
        mark: &marketsync_core::store::MarkRead,
        at: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        self.notices_mark_read(mark, at).await
    }

    // ----- the stock journal and targeted propagation (crate::stock) -----

    async fn pending_stock_events(
        &self,
        limit: usize,
    ) -> Result<Vec<marketsync_core::store::StockEvent>, StoreError> {
        self.stock_pending_events(limit).await
    }

    async fn finish_stock_events(
        &self,
        seqs: &[u64],
        propagate: &[marketsync_core::store::PendingSku],
    ) -> Result<(), StoreError> {
        self.stock_finish_events(seqs, propagate).await
    }

    async fn pending_skus(
        &self,
        id: IntegrationId,
        limit: usize,
    ) -> Result<Vec<marketsync_core::store::PendingSku>, StoreError> {
        self.stock_pending_skus(id, limit).await
    }

    async fn integrations_with_pending_skus(
        &self,
        limit: usize,
    ) -> Result<Vec<IntegrationId>, StoreError> {
        self.stock_integrations_pending(limit).await
    }

    async fn finish_propagation(
        &self,
        id: IntegrationId,
        done: &[(Sku, u64)],
    ) -> Result<(), StoreError> {
        self.stock_finish_propagation(id, done).await
    }

    async fn listings_for_skus(&self, skus: &[Sku]) -> Result<Vec<Listing>, StoreError> {
        self.stock_listings_for_skus(skus).await
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
