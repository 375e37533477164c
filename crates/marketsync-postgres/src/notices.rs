//! The notification outbox on PostgreSQL (migration 0002): notifications written with their
//! cause, one delivery row per (notification, transport), and the in-app message list.
//!
//! A notification is inserted inside the transaction of the change that causes it
//! ([`write_notifications`]); `(integration_id, dedupe_key)` is unique and a second insert of a
//! key does nothing. Deliveries are claimed with `FOR UPDATE SKIP LOCKED` (of several workers
//! each delivery goes to one) and a lease that ends by the database's clock
//! (`clock_timestamp()`); when a retry is due is the caller's time (`next_attempt_at`).

use std::time::Duration;

use chrono::{DateTime, Utc};
use marketsync_core::ids::IntegrationId;
use marketsync_core::lifecycle::AuditEvent;
use marketsync_core::store::support::bad_page_token;
use marketsync_core::store::{
    DeliveryFilter, DeliveryQuery, DeliveryState, DeliveryUpdate, IntegrationRecord, Lease,
    MarkRead, MessageQuery, NewNotification, NotificationDelivery, Page, PageRequest, ReadFilter,
    StoreError, StoredNotification, apply_delivery_update,
};
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Row};

use crate::error::{backend, too_large, write_failed};
use crate::store::{PostgresStore, from_json, key_of, to_json};

/// The longest delivery lease granted (ten years), so its end fits a `timestamptz`.
const MAX_LEASE: Duration = Duration::from_secs(10 * 365 * 24 * 60 * 60);

/// A lease's length in microseconds, rounded up.
fn micros(d: Duration) -> Result<i64, StoreError> {
    i64::try_from(d.min(MAX_LEASE).as_nanos().div_ceil(1_000)).map_err(|_| too_large("lease"))
}

fn limit(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Writes new notifications of `integration` inside the caller's transaction: each whose dedupe
/// key is new, with one pending delivery row per transport it names.
pub(crate) async fn write_notifications(
    conn: &mut PgConnection,
    integration: IntegrationId,
    notifications: &[NewNotification],
    operation: &str,
) -> Result<(), StoreError> {
    let key = key_of(integration);
    for n in notifications {
        let stored = StoredNotification::from_new(integration, n);
        let seq: Option<i64> = sqlx::query_scalar(
            "INSERT INTO notifications (id, integration_id, dedupe_key, created_at, record) \
             VALUES ($1, $2, $3, $4, $5::jsonb) \
             ON CONFLICT (integration_id, dedupe_key) DO NOTHING RETURNING seq",
        )
        .bind(&n.id)
        .bind(&key)
        .bind(&n.dedupe_key)
        .bind(n.created_at)
        .bind(to_json("notification", &stored)?)
        .fetch_optional(&mut *conn)
        .await
        .map_err(|e| write_failed(operation, &key, e))?;
        let Some(seq) = seq else {
            continue;
        };
        for transport in &n.transports {
            sqlx::query(
                "INSERT INTO notification_deliveries \
                 (notification_seq, transport, state, detail, next_attempt_at) \
                 VALUES ($1, $2, 'pending', $3::jsonb, $4) ON CONFLICT DO NOTHING",
            )
            .bind(seq)
            .bind(transport)
            .bind(to_json("delivery state", &DeliveryState::Pending)?)
            .bind(n.created_at)
            .execute(&mut *conn)
            .await
            .map_err(|e| write_failed(operation, &key, e))?;
        }
    }
    Ok(())
}

/// The columns a delivery is read from (`d`: the delivery, `n`: its notification).
macro_rules! delivery_columns {
    () => {
        "d.notification_seq, d.transport, d.detail::text AS detail, d.attempts, \
         d.next_attempt_at, d.lease_token, d.lease_until, d.last_error, \
         n.record::text AS record, n.read_at"
    };
}

fn notification_from_row(row: &PgRow) -> Result<StoredNotification, StoreError> {
    let text: String = row.try_get("record").map_err(|e| backend("read", e))?;
    let mut n: StoredNotification = from_json("notification", &text)?;
    n.read_at = row.try_get("read_at").map_err(|e| backend("read", e))?;
    Ok(n)
}

fn delivery_from_row(row: &PgRow) -> Result<(i64, NotificationDelivery), StoreError> {
    let get = |e: sqlx::Error| backend("read delivery", e);
    let seq: i64 = row.try_get("notification_seq").map_err(get)?;
    let detail: String = row.try_get("detail").map_err(get)?;
    let token: Option<String> = row.try_get("lease_token").map_err(get)?;
    let until: Option<DateTime<Utc>> = row.try_get("lease_until").map_err(get)?;
    let attempts: i32 = row.try_get("attempts").map_err(get)?;
    Ok((
        seq,
        NotificationDelivery {
            notification: notification_from_row(row)?,
            transport: row.try_get("transport").map_err(get)?,
            state: from_json("delivery state", &detail)?,
            attempts: u32::try_from(attempts).unwrap_or(0),
            next_attempt_at: row.try_get("next_attempt_at").map_err(get)?,
            lease: token
                .zip(until)
                .map(|(token, until)| Lease { token, until }),
            last_error: row.try_get("last_error").map_err(get)?,
        },
    ))
}

fn state_column(state: &DeliveryState) -> &'static str {
    match state {
        DeliveryState::Pending => "pending",
        DeliveryState::Delivered { .. } => "delivered",
        DeliveryState::Failed { .. } => "failed",
    }
}

pub(crate) async fn update_integration_notifying(
    store: &PostgresStore,
    record: &IntegrationRecord,
    audit: &[AuditEvent],
    notifications: &[NewNotification],
) -> Result<u64, StoreError> {
    const OP: &str = "update_integration_notifying";
    let mut tx = store.pool.begin().await.map_err(|e| backend(OP, e))?;
    let version = PostgresStore::update_in(&mut tx, record, audit, OP).await?;
    write_notifications(&mut tx, record.id, notifications, OP).await?;
    tx.commit().await.map_err(|e| backend(OP, e))?;
    Ok(version)
}

pub(crate) async fn notification(
    store: &PostgresStore,
    id: &str,
) -> Result<Option<StoredNotification>, StoreError> {
    let row =
        sqlx::query("SELECT record::text AS record, read_at FROM notifications WHERE id = $1")
            .bind(id)
            .fetch_optional(&store.pool)
            .await
            .map_err(|e| backend("notification", e))?;
    row.as_ref().map(notification_from_row).transpose()
}

pub(crate) async fn claim_deliveries(
    store: &PostgresStore,
    transport: &str,
    now: DateTime<Utc>,
    lease_for: Duration,
    max: usize,
) -> Result<Vec<NotificationDelivery>, StoreError> {
    const OP: &str = "claim_deliveries";
    let rows = sqlx::query(concat!(
        "WITH due AS (SELECT notification_seq, transport FROM notification_deliveries \
           WHERE transport = $1 AND state = 'pending' AND next_attempt_at <= $2 \
           AND (lease_until IS NULL OR lease_until <= clock_timestamp()) \
           ORDER BY notification_seq LIMIT $4 FOR UPDATE SKIP LOCKED), \
         claimed AS (UPDATE notification_deliveries x SET attempts = x.attempts + 1, \
           lease_token = 'delivery-' || gen_random_uuid()::text, \
           lease_until = clock_timestamp() + $3::bigint * interval '1 microsecond' \
           FROM due WHERE x.notification_seq = due.notification_seq \
           AND x.transport = due.transport RETURNING x.*) \
         SELECT ",
        delivery_columns!(),
        " FROM claimed d JOIN notifications n ON n.seq = d.notification_seq \
         ORDER BY d.notification_seq"
    ))
    .bind(transport)
    .bind(now)
    .bind(micros(lease_for)?)
    .bind(limit(max))
    .fetch_all(&store.pool)
    .await
    .map_err(|e| backend(OP, e))?;
    rows.iter()
        .map(|r| delivery_from_row(r).map(|(_, d)| d))
        .collect()
}

pub(crate) async fn finish_delivery(
    store: &PostgresStore,
    notification: &str,
    transport: &str,
    lease_token: &str,
    update: &DeliveryUpdate,
) -> Result<(), StoreError> {
    const OP: &str = "finish_delivery";
    let mut tx = store.pool.begin().await.map_err(|e| backend(OP, e))?;
    let row = sqlx::query(concat!(
        "SELECT ",
        delivery_columns!(),
        " FROM notification_deliveries d JOIN notifications n ON n.seq = d.notification_seq \
         WHERE n.id = $1 AND d.transport = $2 FOR UPDATE OF d"
    ))
    .bind(notification)
    .bind(transport)
    .fetch_optional(&mut *tx)
    .await
    .map_err(|e| backend(OP, e))?
    .ok_or_else(|| {
        StoreError::NotFound(format!(
            "no delivery of notification {notification} by {transport}"
        ))
    })?;
    let (seq, mut delivery) = delivery_from_row(&row)?;
    apply_delivery_update(&mut delivery, lease_token, update)?;
    sqlx::query(
        "UPDATE notification_deliveries SET state = $1, detail = $2::jsonb, \
         next_attempt_at = $3, lease_token = NULL, lease_until = NULL, last_error = $4 \
         WHERE notification_seq = $5 AND transport = $6",
    )
    .bind(state_column(&delivery.state))
    .bind(to_json("delivery state", &delivery.state)?)
    .bind(delivery.next_attempt_at)
    .bind(&delivery.last_error)
    .bind(seq)
    .bind(transport)
    .execute(&mut *tx)
    .await
    .map_err(|e| backend(OP, e))?;
    tx.commit().await.map_err(|e| backend(OP, e))
}

pub(crate) async fn deliveries(
    store: &PostgresStore,
    query: &DeliveryQuery,
    page: &PageRequest,
) -> Result<Page<NotificationDelivery>, StoreError> {
    const OP: &str = "deliveries";
    let (after_seq, after_transport) = match &page.after {
        None => (0, String::new()),
        Some(token) => token
            .split_once(':')
            .and_then(|(s, t)| Some((s.parse::<i64>().ok()?, t.to_owned())))
            .ok_or_else(|| bad_page_token(OP, token))?,
    };
    let state = match query.state {
        DeliveryFilter::All => None,
        DeliveryFilter::Pending => Some("pending"),
        DeliveryFilter::Delivered => Some("delivered"),
        DeliveryFilter::Failed => Some("failed"),
    };
    let rows = sqlx::query(concat!(
        "SELECT ",
        delivery_columns!(),
        " FROM notification_deliveries d JOIN notifications n ON n.seq = d.notification_seq \
         WHERE ($1::text IS NULL OR n.integration_id = $1) \
         AND ($2::text IS NULL OR d.transport = $2) AND ($3::text IS NULL OR d.state = $3) \
         AND (d.notification_seq, d.transport) > ($4, $5::text COLLATE \"C\") \
         ORDER BY d.notification_seq, d.transport LIMIT $6"
    ))
    .bind(query.integration.map(key_of))
    .bind(query.transport.as_deref())
    .bind(state)
    .bind(after_seq)
    .bind(after_transport)
    .bind(limit(page.limit.max(1).saturating_add(1)))
    .fetch_all(&store.pool)
    .await
    .map_err(|e| backend(OP, e))?;
    let items = rows
        .iter()
        .map(delivery_from_row)
        .collect::<Result<Vec<_>, _>>()?;
    let page = Page::from_overfetch(items, page.limit, |(seq, d)| {
        format!("{seq}:{}", d.transport)
    });
    Ok(Page {
        items: page.items.into_iter().map(|(_, d)| d).collect(),
        next: page.next,
    })
}

pub(crate) async fn messages(
    store: &PostgresStore,
    query: &MessageQuery,
    page: &PageRequest,
) -> Result<Page<StoredNotification>, StoreError> {
    const OP: &str = "messages";
    let before = match &page.after {
        None => i64::MAX,
        Some(token) => token.parse().map_err(|_| bad_page_token(OP, token))?,
    };
    let read = match query.read {
        ReadFilter::All => None,
        ReadFilter::Unread => Some(false),
        ReadFilter::Read => Some(true),
    };
    let rows = sqlx::query(
        "SELECT seq, record::text AS record, read_at FROM notifications \
         WHERE ($1::text IS NULL OR integration_id = $1) \
         AND ($2::boolean IS NULL OR (read_at IS NOT NULL) = $2) AND seq < $3 \
         ORDER BY seq DESC LIMIT $4",
    )
    .bind(query.integration.map(key_of))
    .bind(read)
    .bind(before)
    .bind(limit(page.limit.max(1).saturating_add(1)))
    .fetch_all(&store.pool)
    .await
    .map_err(|e| backend(OP, e))?;
    let items = rows
        .iter()
        .map(|r| {
            let seq: i64 = r.try_get("seq").map_err(|e| backend(OP, e))?;
            Ok((seq, notification_from_row(r)?))
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    let page = Page::from_overfetch(items, page.limit, |(seq, _)| seq.to_string());
    Ok(Page {
        items: page.items.into_iter().map(|(_, n)| n).collect(),
        next: page.next,
    })
}

pub(crate) async fn mark_read(
    store: &PostgresStore,
    mark: &MarkRead,
    at: DateTime<Utc>,
) -> Result<usize, StoreError> {
    const OP: &str = "mark_read";
    let result = match mark {
        MarkRead::Ids(ids) => {
            sqlx::query(
                "UPDATE notifications SET read_at = $1 WHERE id = ANY($2) AND read_at IS NULL",
            )
            .bind(at)
            .bind(ids)
            .execute(&store.pool)
            .await
        }
        MarkRead::Integration(integration) => sqlx::query(
            "UPDATE notifications SET read_at = $1 WHERE integration_id = $2 AND read_at IS NULL",
        )
        .bind(at)
        .bind(key_of(*integration))
        .execute(&store.pool)
        .await,
    };
    let marked = result.map_err(|e| backend(OP, e))?.rows_affected();
    Ok(usize::try_from(marked).unwrap_or(usize::MAX))
}
