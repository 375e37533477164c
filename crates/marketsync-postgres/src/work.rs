//! What several worker processes share through the store: versioned credentials, named leases
//! and scheduled work. Every lease's expiry is decided by the database's clock
//! (`clock_timestamp()`), never by the caller's: a worker whose clock is wrong cannot take a
//! lease another worker still holds, nor keep one past its time.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use marketsync_core::ids::IntegrationId;
use marketsync_core::store::{RunTimes, StoreError, VersionedCredentials, WorkClaim, WorkerId};
use marketsync_core::vault::SealedCredentials;

use crate::error::{backend, too_large, write_failed};
use crate::store::{PostgresStore, from_json, key_of, to_json, version_from_db, version_to_db};

/// The longest lease granted: a longer `lease_for` is held this long (ten years), so the end
/// always fits a `timestamptz`.
const MAX_LEASE: Duration = Duration::from_secs(10 * 365 * 24 * 60 * 60);

/// A lease's length in microseconds (rounded up, so a lease never ends before `lease_for`
/// passed), bound as `$n::bigint * interval '1 microsecond'`.
pub(crate) fn micros(what: &str, d: Duration) -> Result<i64, StoreError> {
    let d = d.min(MAX_LEASE);
    i64::try_from(d.as_nanos().div_ceil(1_000)).map_err(|_| too_large(what))
}

// ----- versioned credentials -----

pub(crate) async fn put_credentials(
    store: &PostgresStore,
    id: IntegrationId,
    sealed: &SealedCredentials,
) -> Result<(), StoreError> {
    const OP: &str = "put_credentials";
    let key = key_of(id);
    sqlx::query(
        "INSERT INTO credentials (integration_id, key_id, nonce, ciphertext, version) \
         VALUES ($1, $2, $3, $4, 1) \
         ON CONFLICT (integration_id) DO UPDATE SET key_id = excluded.key_id, \
         nonce = excluded.nonce, ciphertext = excluded.ciphertext, \
         version = credentials.version + 1",
    )
    .bind(&key)
    .bind(&sealed.key_id)
    .bind(&sealed.nonce)
    .bind(&sealed.ciphertext)
    .execute(&store.pool)
    .await
    .map_err(|e| write_failed(OP, &key, e))?;
    Ok(())
}

pub(crate) async fn credentials_versioned(
    store: &PostgresStore,
    id: IntegrationId,
) -> Result<Option<VersionedCredentials>, StoreError> {
    let row: Option<(String, Vec<u8>, Vec<u8>, i64)> = sqlx::query_as(
        "SELECT key_id, nonce, ciphertext, version FROM credentials WHERE integration_id = $1",
    )
    .bind(key_of(id))
    .fetch_optional(&store.pool)
    .await
    .map_err(|e| backend("credentials", e))?;
    row.map(|(key_id, nonce, ciphertext, version)| {
        Ok(VersionedCredentials {
            sealed: SealedCredentials {
                key_id,
                nonce,
                ciphertext,
            },
            version: version_from_db("credentials version", version)?,
        })
    })
    .transpose()
}

pub(crate) async fn replace_credentials(
    store: &PostgresStore,
    id: IntegrationId,
    sealed: &SealedCredentials,
    expected_version: u64,
) -> Result<u64, StoreError> {
    const OP: &str = "replace_credentials";
    let key = key_of(id);
    // A compare-and-swap in one statement: the first version's insert conflicts with a
    // concurrent one; the update waits for a concurrent writer and re-checks the version.
    let written: Option<i64> = if expected_version == 0 {
        sqlx::query_scalar(
            "INSERT INTO credentials (integration_id, key_id, nonce, ciphertext, version) \
             VALUES ($1, $2, $3, $4, 1) \
             ON CONFLICT (integration_id) DO NOTHING RETURNING version",
        )
        .bind(&key)
        .bind(&sealed.key_id)
        .bind(&sealed.nonce)
        .bind(&sealed.ciphertext)
        .fetch_optional(&store.pool)
        .await
        .map_err(|e| write_failed(OP, &key, e))?
    } else {
        sqlx::query_scalar(
            "UPDATE credentials SET key_id = $2, nonce = $3, ciphertext = $4, \
             version = version + 1 WHERE integration_id = $1 AND version = $5 RETURNING version",
        )
        .bind(&key)
        .bind(&sealed.key_id)
        .bind(&sealed.nonce)
        .bind(&sealed.ciphertext)
        .bind(version_to_db("credentials version", expected_version)?)
        .fetch_optional(&store.pool)
        .await
        .map_err(|e| backend(OP, e))?
    };
    match written {
        Some(v) => version_from_db("credentials version", v),
        None => {
            let exists: Option<i32> =
                sqlx::query_scalar("SELECT 1 FROM integrations WHERE id = $1")
                    .bind(&key)
                    .fetch_optional(&store.pool)
                    .await
                    .map_err(|e| backend(OP, e))?;
            if exists.is_none() {
                return Err(StoreError::NotFound(format!("integration {key}")));
            }
            let stored = credentials_versioned(store, id)
                .await?
                .map_or(0, |c| c.version);
            Err(StoreError::Conflict(format!(
                "the credentials of integration {key} were replaced concurrently (version {expected_version} expected, {stored} stored)"
            )))
        }
    }
}

// ----- named leases -----

pub(crate) async fn try_lease(
    store: &PostgresStore,
    name: &str,
    holder: &str,
    lease_for: Duration,
) -> Result<bool, StoreError> {
    // One statement: a free name is inserted; a taken one is overwritten only when `holder`
    // holds it or it lapsed by the database's clock. Concurrent callers serialise on the row,
    // and each re-checks the condition on the version the previous one wrote.
    let got: Option<String> = sqlx::query_scalar(
        "INSERT INTO leases (name, holder, until) \
         VALUES ($1, $2, clock_timestamp() + $3::bigint * interval '1 microsecond') \
         ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, until = excluded.until \
         WHERE leases.holder = excluded.holder OR leases.until <= clock_timestamp() \
         RETURNING holder",
    )
    .bind(name)
    .bind(holder)
    .bind(micros("lease length", lease_for)?)
    .fetch_optional(&store.pool)
    .await
    .map_err(|e| backend("try_lease", e))?;
    Ok(got.is_some())
}

pub(crate) async fn release_lease(
    store: &PostgresStore,
    name: &str,
    holder: &str,
) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM leases WHERE name = $1 AND holder = $2")
        .bind(name)
        .bind(holder)
        .execute(&store.pool)
        .await
        .map_err(|e| backend("release_lease", e))?;
    Ok(())
}

// ----- scheduled work -----

pub(crate) async fn claim_work(
    store: &PostgresStore,
    worker: &WorkerId,
    now: DateTime<Utc>,
    lease_for: Duration,
    limit: usize,
) -> Result<Vec<WorkClaim>, StoreError> {
    const OP: &str = "claim_work";
    if limit == 0 {
        return Ok(Vec::new());
    }
    // Due rows (by the caller's clock) that are free (by the database's clock), most overdue
    // first, locked; rows another worker is claiming are skipped, and a row it claimed and
    // committed meanwhile is re-checked on its new holder and left out.
    let claimed: Vec<(String, Option<DateTime<Utc>>)> = sqlx::query_as(
        "WITH picked AS ( \
             SELECT integration_id FROM work \
             WHERE (due_at IS NULL OR due_at <= $2) \
             AND (holder IS NULL OR holder = $1 OR lease_until <= clock_timestamp()) \
             ORDER BY due_at ASC NULLS FIRST, integration_id \
             LIMIT $4 FOR UPDATE SKIP LOCKED) \
         UPDATE work AS w SET holder = $1, \
             lease_until = clock_timestamp() + $3::bigint * interval '1 microsecond', \
             claimed_seq = CASE WHEN w.holder = $1 THEN w.claimed_seq ELSE w.change_seq END \
         FROM picked WHERE w.integration_id = picked.integration_id \
         RETURNING w.integration_id, w.due_at",
    )
    .bind(worker.as_str())
    .bind(now)
    .bind(micros("work lease length", lease_for)?)
    .bind(i64::try_from(limit).unwrap_or(i64::MAX))
    .fetch_all(&store.pool)
    .await
    .map_err(|e| backend(OP, e))?;
    if claimed.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<String> = claimed.iter().map(|(id, _)| id.clone()).collect();
    let runs: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT integration_id, operation, times::text FROM work_runs \
         WHERE integration_id = ANY($1::text[])",
    )
    .bind(&ids)
    .fetch_all(&store.pool)
    .await
    .map_err(|e| backend(OP, e))?;
    let mut runs_of: BTreeMap<String, BTreeMap<String, RunTimes>> = BTreeMap::new();
    for (id, operation, times) in runs {
        runs_of
            .entry(id)
            .or_default()
            .insert(operation, from_json("run times", &times)?);
    }
    let mut claimed = claimed;
    // Most overdue first: due at once (NULL) before any time, then by time, then by id.
    claimed.sort_by(|(a_id, a_due), (b_id, b_due)| {
        (a_due.is_some(), a_due, a_id).cmp(&(b_due.is_some(), b_due, b_id))
    });
    claimed
        .into_iter()
        .map(|(id, _)| {
            Ok(WorkClaim {
                integration: id
                    .parse()
                    .map_err(|_| StoreError::Corrupt(format!("work row {id} has no valid id")))?,
                worker: worker.clone(),
                runs: runs_of.remove(&id).unwrap_or_default(),
            })
        })
        .collect()
}

/// The error when `worker` does not hold the work of `integration`: `NotFound` when the
/// integration does not exist, `Conflict` otherwise.
async fn not_held(
    store: &PostgresStore,
    integration: IntegrationId,
    worker: &WorkerId,
    operation: &str,
) -> StoreError {
    let exists: Result<Option<i32>, _> =
        sqlx::query_scalar("SELECT 1 FROM work WHERE integration_id = $1")
            .bind(key_of(integration))
            .fetch_optional(&store.pool)
            .await;
    match exists {
        Err(e) => backend(operation, e),
        Ok(None) => StoreError::NotFound(format!("integration {integration}")),
        Ok(Some(_)) => StoreError::Conflict(format!(
            "the work of integration {integration} is not held by worker {worker} (its lease lapsed and another worker took it, or it was released)"
        )),
    }
}

pub(crate) async fn renew_work(
    store: &PostgresStore,
    integration: IntegrationId,
    worker: &WorkerId,
    lease_for: Duration,
) -> Result<(), StoreError> {
    let renewed = sqlx::query(
        "UPDATE work SET lease_until = clock_timestamp() + $3::bigint * interval '1 microsecond' \
         WHERE integration_id = $1 AND holder = $2",
    )
    .bind(key_of(integration))
    .bind(worker.as_str())
    .bind(micros("work lease length", lease_for)?)
    .execute(&store.pool)
    .await
    .map_err(|e| backend("renew_work", e))?;
    if renewed.rows_affected() == 0 {
        return Err(not_held(store, integration, worker, "renew_work").await);
    }
    Ok(())
}

pub(crate) async fn record_run(
    store: &PostgresStore,
    integration: IntegrationId,
    worker: &WorkerId,
    operation: &str,
    times: &RunTimes,
) -> Result<(), StoreError> {
    const OP: &str = "record_run";
    let key = key_of(integration);
    let mut tx = store.pool.begin().await.map_err(|e| backend(OP, e))?;
    // The share lock keeps the lease with `worker` until the times are written.
    let held: Option<i32> = sqlx::query_scalar(
        "SELECT 1 FROM work WHERE integration_id = $1 AND holder = $2 FOR SHARE",
    )
    .bind(&key)
    .bind(worker.as_str())
    .fetch_optional(&mut *tx)
    .await
    .map_err(|e| backend(OP, e))?;
    if held.is_none() {
        drop(tx);
        return Err(not_held(store, integration, worker, OP).await);
    }
    sqlx::query(
        "INSERT INTO work_runs (integration_id, operation, times) VALUES ($1, $2, $3::jsonb) \
         ON CONFLICT (integration_id, operation) DO UPDATE SET times = excluded.times",
    )
    .bind(&key)
    .bind(operation)
    .bind(to_json("run times", times)?)
    .execute(&mut *tx)
    .await
    .map_err(|e| write_failed(OP, &key, e))?;
    tx.commit().await.map_err(|e| backend(OP, e))
}

pub(crate) async fn release_work(
    store: &PostgresStore,
    integration: IntegrationId,
    worker: &WorkerId,
    next_due: DateTime<Utc>,
) -> Result<(), StoreError> {
    // Due again at `next_due`, unless the integration changed while the lease was held
    // (`change_seq` moved past `claimed_seq`): then it stays due at once.
    let released = sqlx::query(
        "UPDATE work SET holder = NULL, lease_until = NULL, \
         due_at = CASE WHEN change_seq = claimed_seq THEN $3 ELSE NULL END \
         WHERE integration_id = $1 AND holder = $2",
    )
    .bind(key_of(integration))
    .bind(worker.as_str())
    .bind(next_due)
    .execute(&store.pool)
    .await
    .map_err(|e| backend("release_work", e))?;
    if released.rows_affected() == 0 {
        return Err(not_held(store, integration, worker, "release_work").await);
    }
    Ok(())
}
