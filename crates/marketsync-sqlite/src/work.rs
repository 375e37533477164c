//! What several workers share through the SQLite store (migration 0005): versioned credentials,
//! named leases, the scheduled work of each integration, and paged reads.
//!
//! Lease expiry is decided by SQLite's clock: every lease end is written as
//! `strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '+N seconds')` and compared with
//! `strftime('%Y-%m-%dT%H:%M:%fZ', 'now')` inside the statement (one fixed width, so text order
//! is time order), never with a time the caller passed. When work is due is decided by the
//! caller's `now`, stored as [`due_text`]. Every claim and compare-and-swap is one `BEGIN
//! IMMEDIATE` transaction, so of several connections or processes one decides at a time.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Datelike, TimeZone, Utc};
use marketsync_core::ids::{ChannelOrderId, IntegrationId, Sku};
use marketsync_core::listing::Listing;
use marketsync_core::store::support::bad_page_token;
use marketsync_core::store::{
    IntegrationRecord, LedgerEntry, LedgerFilter, OutboxEntry, Page, PageRequest, RunTimes,
    StoreError, VersionedCredentials, WorkClaim, WorkerId,
};
use marketsync_core::vault::SealedCredentials;
use serde::Serialize;
use serde::de::DeserializeOwned;
use sqlx::SqliteConnection;

use crate::error::{backend, corrupt, encode_failed, out_of_range, write_failed};
use crate::store::SqliteStore;

/// The longest lease granted: a longer `lease_for` is held this long (ten years).
const MAX_LEASE: Duration = Duration::from_secs(10 * 365 * 24 * 60 * 60);

/// The `strftime` modifier that moves the database's `now` by a lease of `lease_for`, to the
/// millisecond (rounded up, so a lease never ends before `lease_for` passed).
pub(crate) fn lease_modifier(lease_for: Duration) -> String {
    let d = lease_for.min(MAX_LEASE);
    let mut secs = d.as_secs();
    let mut millis = d.subsec_nanos().div_ceil(1_000_000);
    if millis == 1000 {
        secs += 1;
        millis = 0;
    }
    format!("+{secs}.{millis:03} seconds")
}

/// A caller's time as `due_at` holds it: UTC with nanoseconds, one fixed width (years outside
/// 0000–9999 are clamped to its ends), so text order is time order.
pub(crate) fn due_text(t: DateTime<Utc>) -> String {
    let first = Utc.with_ymd_and_hms(0, 1, 1, 0, 0, 0).single();
    let t = match first {
        Some(first) if t < first => first,
        _ if t.year() > 9999 => marketsync_core::store::never_due(),
        _ => t,
    };
    t.format("%Y-%m-%dT%H:%M:%S%.9fZ").to_string()
}

fn key_of(id: IntegrationId) -> String {
    id.to_string()
}

fn to_json<T: Serialize>(what: &str, value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| encode_failed(what, e))
}

fn from_json<T: DeserializeOwned>(what: &str, text: &str) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|e| corrupt(what, &e))
}

fn version_from_db(v: i64) -> Result<u64, StoreError> {
    u64::try_from(v).map_err(|_| out_of_range("credentials version"))
}

fn version_to_db(v: u64) -> Result<i64, StoreError> {
    i64::try_from(v).map_err(|_| out_of_range("credentials version"))
}

/// A page size as SQLite's `LIMIT`: the page and one more, to know whether another follows.
fn overfetch(page: &PageRequest) -> i64 {
    i64::try_from(page.limit.max(1).saturating_add(1)).unwrap_or(i64::MAX)
}

/// The key a key-ordered page starts after (`""`: the first page, every key is greater). A
/// token must read back as a key (`parse`), else it is not one this store gave.
fn after_key<K>(
    read: &str,
    page: &PageRequest,
    parse: impl Fn(&str) -> Option<K>,
) -> Result<String, StoreError> {
    match &page.after {
        None => Ok(String::new()),
        Some(token) => match parse(token) {
            Some(_) => Ok(token.clone()),
            None => Err(bad_page_token(read, token)),
        },
    }
}

fn not_held(integration: &str, worker: &WorkerId) -> StoreError {
    StoreError::Conflict(format!(
        "the work of integration {integration} is not held by worker {worker} (its lease lapsed and another worker took it, or it was released)"
    ))
}

impl SqliteStore {
    // ----- scheduled work rows, kept with the integration -----

    /// The work row of a new integration: due at once. Called inside `insert_integration`'s
    /// transaction.
    pub(crate) async fn work_created(
        conn: &mut SqliteConnection,
        id: &str,
        operation: &str,
    ) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO work (integration_id, changed) VALUES (?1, 1)")
            .bind(id)
            .execute(&mut *conn)
            .await
            .map_err(|e| write_failed(operation, id, e))?;
        Ok(())
    }

    /// Marks an integration's work changed: due at once, and still due when a lease held
    /// during the change is released. Called inside `update_integration`'s transaction.
    pub(crate) async fn work_changed(
        conn: &mut SqliteConnection,
        id: &str,
        operation: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO work (integration_id, changed) VALUES (?1, 1) \
             ON CONFLICT (integration_id) DO UPDATE SET changed = 1",
        )
        .bind(id)
        .execute(&mut *conn)
        .await
        .map_err(|e| write_failed(operation, id, e))?;
        Ok(())
    }

    // ----- paged reads -----

    pub(crate) async fn page_integrations(
        &self,
        page: &PageRequest,
    ) -> Result<Page<IntegrationRecord>, StoreError> {
        const OP: &str = "integrations_page";
        let after = after_key(OP, page, |t| t.parse::<IntegrationId>().ok())?;
        let rows: Vec<(i64, String)> = sqlx::query_as(
            "SELECT version, record FROM integrations WHERE id > ?1 ORDER BY id LIMIT ?2",
        )
        .bind(after)
        .bind(overfetch(page))
        .fetch_all(&self.pool)
        .await
        .map_err(|e| backend(OP, e))?;
        let items = rows
            .iter()
            .map(|(version, record)| {
                let mut r: IntegrationRecord = from_json("integration record", record)?;
                r.version =
                    u64::try_from(*version).map_err(|_| out_of_range("integration version"))?;
                Ok(r)
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        Ok(Page::from_overfetch(items, page.limit, |r| {
            r.id.to_string()
        }))
    }

    pub(crate) async fn page_listings(
        &self,
        id: IntegrationId,
        page: &PageRequest,
    ) -> Result<Page<Listing>, StoreError> {
        const OP: &str = "listings_page";
        let after = after_key(OP, page, |t| Sku::new(t).ok())?;
        // BINARY collation: byte order of UTF-8, the same order as Rust's `str`.
        let rows: Vec<String> = sqlx::query_scalar(
            "SELECT listing FROM listings WHERE integration_id = ?1 AND sku > ?2 \
             ORDER BY sku LIMIT ?3",
        )
        .bind(key_of(id))
        .bind(after)
        .bind(overfetch(page))
        .fetch_all(&self.pool)
        .await
        .map_err(|e| backend(OP, e))?;
        let items = rows
            .iter()
            .map(|t| from_json("listing", t))
            .collect::<Result<Vec<Listing>, StoreError>>()?;
        Ok(Page::from_overfetch(items, page.limit, |l| {
            l.sku.to_string()
        }))
    }

    pub(crate) async fn page_ledger(
        &self,
        id: IntegrationId,
        filter: LedgerFilter,
        page: &PageRequest,
    ) -> Result<Page<LedgerEntry>, StoreError> {
        const OP: &str = "ledger_page";
        let mut after = after_key(OP, page, |t| ChannelOrderId::new(t).ok())?;
        // The indexed outcome column narrows the rows read; `LedgerEntry::matches` decides, so
        // rows are read in chunks until the page (and one more) is full or the rows run out.
        let outcome = match filter {
            LedgerFilter::All => None,
            LedgerFilter::Held | LedgerFilter::NotImported | LedgerFilter::Unreadable => {
                Some("not_imported")
            }
            LedgerFilter::Unfulfilled => Some("imported"),
        };
        let want = page.limit.max(1).saturating_add(1);
        let chunk = overfetch(page);
        let mut items = Vec::new();
        loop {
            let rows: Vec<(String, String)> = sqlx::query_as(
                "SELECT channel_order_id, entry FROM ledger \
                 WHERE integration_id = ?1 AND channel_order_id > ?2 \
                 AND (?3 IS NULL OR outcome = ?3) \
                 ORDER BY channel_order_id LIMIT ?4",
            )
            .bind(key_of(id))
            .bind(&after)
            .bind(outcome)
            .bind(chunk)
            .fetch_all(&self.pool)
            .await
            .map_err(|e| backend(OP, e))?;
            let exhausted = i64::try_from(rows.len()).unwrap_or(i64::MAX) < chunk;
            for (order, text) in rows {
                let entry: LedgerEntry = from_json("ledger entry", &text)?;
                if entry.matches(filter) && items.len() < want {
                    items.push(entry);
                }
                after = order;
            }
            if exhausted || items.len() >= want {
                break;
            }
        }
        Ok(Page::from_overfetch(items, page.limit, |e| {
            e.channel_order_id.to_string()
        }))
    }

    pub(crate) async fn page_outbox(
        &self,
        id: IntegrationId,
        page: &PageRequest,
    ) -> Result<Page<OutboxEntry>, StoreError> {
        const OP: &str = "outbox_page";
        // The token is the `seq` of the page's last entry: entries in the order enqueued.
        let after: i64 = match &page.after {
            None => 0,
            Some(token) => token
                .parse::<i64>()
                .map_err(|_| bad_page_token(OP, token))?,
        };
        let rows: Vec<(i64, String)> = sqlx::query_as(
            "SELECT seq, entry FROM outbox WHERE integration_id = ?1 AND seq > ?2 \
             ORDER BY seq LIMIT ?3",
        )
        .bind(key_of(id))
        .bind(after)
        .bind(overfetch(page))
        .fetch_all(&self.pool)
        .await
        .map_err(|e| backend(OP, e))?;
        let items = rows
            .iter()
            .map(|(seq, t)| Ok((*seq, from_json::<OutboxEntry>("outbox entry", t)?)))
            .collect::<Result<Vec<_>, StoreError>>()?;
        let page = Page::from_overfetch(items, page.limit, |(seq, _)| seq.to_string());
        Ok(Page {
            items: page.items.into_iter().map(|(_, e)| e).collect(),
            next: page.next,
        })
    }

    // ----- versioned credentials -----

    pub(crate) async fn credentials_with_version(
        &self,
        id: IntegrationId,
    ) -> Result<Option<VersionedCredentials>, StoreError> {
        let row: Option<(String, Vec<u8>, Vec<u8>, i64)> = sqlx::query_as(
            "SELECT key_id, nonce, ciphertext, version FROM credentials WHERE integration_id = ?1",
        )
        .bind(key_of(id))
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| backend("credentials_versioned", e))?;
        row.map(|(key_id, nonce, ciphertext, version)| {
            Ok(VersionedCredentials {
                sealed: SealedCredentials {
                    key_id,
                    nonce,
                    ciphertext,
                },
                version: version_from_db(version)?,
            })
        })
        .transpose()
    }

    pub(crate) async fn swap_credentials(
        &self,
        id: IntegrationId,
        sealed: &SealedCredentials,
        expected_version: u64,
    ) -> Result<u64, StoreError> {
        const OP: &str = "replace_credentials";
        let id = key_of(id);
        let mut tx = self.begin(OP).await?;
        let stored: Option<i64> =
            sqlx::query_scalar("SELECT version FROM credentials WHERE integration_id = ?1")
                .bind(&id)
                .fetch_optional(&mut *tx)
                .await
                .map_err(|e| backend(OP, e))?;
        let stored = stored.map(version_from_db).transpose()?.unwrap_or(0);
        if stored != expected_version {
            return Err(StoreError::Conflict(format!(
                "the credentials of integration {id} were replaced concurrently (version {expected_version} expected, {stored} stored)"
            )));
        }
        let next = stored
            .checked_add(1)
            .ok_or_else(|| out_of_range("credentials version"))?;
        sqlx::query(
            "INSERT INTO credentials (integration_id, key_id, nonce, ciphertext, version) \
             VALUES (?1, ?2, ?3, ?4, ?5) \
             ON CONFLICT (integration_id) DO UPDATE SET key_id = excluded.key_id, \
             nonce = excluded.nonce, ciphertext = excluded.ciphertext, version = excluded.version",
        )
        .bind(&id)
        .bind(&sealed.key_id)
        .bind(&sealed.nonce)
        .bind(&sealed.ciphertext)
        .bind(version_to_db(next)?)
        .execute(&mut *tx)
        .await
        .map_err(|e| write_failed(OP, &id, e))?;
        tx.commit().await.map_err(|e| backend(OP, e))?;
        Ok(next)
    }

    // ----- named leases -----

    pub(crate) async fn take_lease(
        &self,
        name: &str,
        holder: &str,
        lease_for: Duration,
    ) -> Result<bool, StoreError> {
        const OP: &str = "try_lease";
        let mut tx = self.begin(OP).await?;
        // Taken when free (no row), lapsed by the database's clock, or held by `holder`.
        let taken = sqlx::query(
            "INSERT INTO leases (name, holder, expires_at) \
             VALUES (?1, ?2, strftime('%Y-%m-%dT%H:%M:%fZ', 'now', ?3)) \
             ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, \
             expires_at = excluded.expires_at \
             WHERE leases.holder = excluded.holder \
             OR leases.expires_at <= strftime('%Y-%m-%dT%H:%M:%fZ', 'now')",
        )
        .bind(name)
        .bind(holder)
        .bind(lease_modifier(lease_for))
        .execute(&mut *tx)
        .await
        .map_err(|e| backend(OP, e))?
        .rows_affected()
            == 1;
        tx.commit().await.map_err(|e| backend(OP, e))?;
        Ok(taken)
    }

    pub(crate) async fn give_back_lease(&self, name: &str, holder: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM leases WHERE name = ?1 AND holder = ?2")
            .bind(name)
            .bind(holder)
            .execute(&self.pool)
            .await
            .map_err(|e| backend("release_lease", e))?;
        Ok(())
    }

    // ----- scheduled work -----

    pub(crate) async fn claim_due_work(
        &self,
        worker: &WorkerId,
        now: DateTime<Utc>,
        lease_for: Duration,
        limit: usize,
    ) -> Result<Vec<WorkClaim>, StoreError> {
        const OP: &str = "claim_work";
        if limit == 0 {
            return Ok(Vec::new());
        }
        let mut tx = self.begin(OP).await?;
        // Due (changed, never released, or due by the caller's clock) and free (no holder, the
        // holder's lease lapsed by the database's clock, or held by this worker already); most
        // overdue first. The write lock is held from the start, so no other connection claims
        // between this read and the updates below.
        let rows: Vec<(String, String)> = sqlx::query_as(
            "SELECT integration_id, runs FROM work \
             WHERE (changed = 1 OR due_at IS NULL OR due_at <= ?1) \
             AND (holder IS NULL OR holder = ?2 \
             OR lease_expires_at <= strftime('%Y-%m-%dT%H:%M:%fZ', 'now')) \
             ORDER BY CASE WHEN changed = 1 OR due_at IS NULL THEN 0 ELSE 1 END, \
             due_at, integration_id \
             LIMIT ?3",
        )
        .bind(due_text(now))
        .bind(worker.as_str())
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&mut *tx)
        .await
        .map_err(|e| backend(OP, e))?;
        let mut claims = Vec::with_capacity(rows.len());
        for (id, runs) in rows {
            // A new holder reads the integration afresh, so the change is taken into account;
            // a holder claiming again keeps `changed` until its release.
            sqlx::query(
                "UPDATE work SET changed = CASE WHEN holder IS ?2 THEN changed ELSE 0 END, \
                 holder = ?2, lease_expires_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now', ?3) \
                 WHERE integration_id = ?1",
            )
            .bind(&id)
            .bind(worker.as_str())
            .bind(lease_modifier(lease_for))
            .execute(&mut *tx)
            .await
            .map_err(|e| backend(OP, e))?;
            claims.push(WorkClaim {
                integration: id
                    .parse()
                    .map_err(|_| out_of_range("work integration id"))?,
                worker: worker.clone(),
                runs: from_json("work runs", &runs)?,
            });
        }
        tx.commit().await.map_err(|e| backend(OP, e))?;
        Ok(claims)
    }

    /// Inside a write transaction: the runs of `id`'s work, if `worker` holds it (`NotFound`
    /// when the integration has no work row, `Conflict` when another holds it or none does).
    async fn held_work(
        conn: &mut SqliteConnection,
        id: &str,
        worker: &WorkerId,
        operation: &str,
    ) -> Result<String, StoreError> {
        let row: Option<(Option<String>, String)> =
            sqlx::query_as("SELECT holder, runs FROM work WHERE integration_id = ?1")
                .bind(id)
                .fetch_optional(&mut *conn)
                .await
                .map_err(|e| backend(operation, e))?;
        match row {
            None => Err(StoreError::NotFound(format!("integration {id}"))),
            Some((Some(holder), runs)) if holder == worker.as_str() => Ok(runs),
            Some(_) => Err(not_held(id, worker)),
        }
    }

    pub(crate) async fn renew_held_work(
        &self,
        integration: IntegrationId,
        worker: &WorkerId,
        lease_for: Duration,
    ) -> Result<(), StoreError> {
        const OP: &str = "renew_work";
        let id = key_of(integration);
        let mut tx = self.begin(OP).await?;
        Self::held_work(&mut tx, &id, worker, OP).await?;
        sqlx::query(
            "UPDATE work SET lease_expires_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now', ?2) \
             WHERE integration_id = ?1",
        )
        .bind(&id)
        .bind(lease_modifier(lease_for))
        .execute(&mut *tx)
        .await
        .map_err(|e| backend(OP, e))?;
        tx.commit().await.map_err(|e| backend(OP, e))
    }

    pub(crate) async fn record_held_run(
        &self,
        integration: IntegrationId,
        worker: &WorkerId,
        operation: &str,
        times: &RunTimes,
    ) -> Result<(), StoreError> {
        const OP: &str = "record_run";
        let id = key_of(integration);
        let mut tx = self.begin(OP).await?;
        let runs = Self::held_work(&mut tx, &id, worker, OP).await?;
        let mut runs: BTreeMap<String, RunTimes> = from_json("work runs", &runs)?;
        runs.insert(operation.to_owned(), *times);
        sqlx::query("UPDATE work SET runs = ?2 WHERE integration_id = ?1")
            .bind(&id)
            .bind(to_json("work runs", &runs)?)
            .execute(&mut *tx)
            .await
            .map_err(|e| backend(OP, e))?;
        tx.commit().await.map_err(|e| backend(OP, e))
    }

    pub(crate) async fn release_held_work(
        &self,
        integration: IntegrationId,
        worker: &WorkerId,
        next_due: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        const OP: &str = "release_work";
        let id = key_of(integration);
        let mut tx = self.begin(OP).await?;
        Self::held_work(&mut tx, &id, worker, OP).await?;
        // `changed` is left as it is: a change made while the lease was held keeps it due at
        // once.
        sqlx::query(
            "UPDATE work SET holder = NULL, lease_expires_at = NULL, due_at = ?2 \
             WHERE integration_id = ?1",
        )
        .bind(&id)
        .bind(due_text(next_due))
        .execute(&mut *tx)
        .await
        .map_err(|e| backend(OP, e))?;
        tx.commit().await.map_err(|e| backend(OP, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn due_text_orders_as_time() {
        let a = Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap();
        let b = a + chrono::TimeDelta::nanoseconds(1);
        let c = a + chrono::TimeDelta::milliseconds(500);
        assert_eq!(due_text(a), "2026-01-02T03:04:05.000000000Z");
        assert!(due_text(a) < due_text(b) && due_text(b) < due_text(c));
        assert!(due_text(c) < due_text(marketsync_core::store::never_due()));
        assert_eq!(
            due_text(DateTime::<Utc>::MAX_UTC),
            due_text(marketsync_core::store::never_due())
        );
        assert_eq!(
            due_text(DateTime::<Utc>::MIN_UTC),
            "0000-01-01T00:00:00.000000000Z"
        );
    }

    #[test]
    fn lease_modifier_rounds_up_to_the_millisecond() {
        assert_eq!(lease_modifier(Duration::from_millis(300)), "+0.300 seconds");
        assert_eq!(lease_modifier(Duration::from_nanos(1)), "+0.001 seconds");
        assert_eq!(
            lease_modifier(Duration::from_nanos(1_999_999_999)),
            "+2.000 seconds"
        );
        assert_eq!(lease_modifier(Duration::MAX), lease_modifier(MAX_LEASE));
    }
}
