//! The notification outbox on SQLite (migration 0006): notifications written with their cause,
//! one delivery row per (notification, transport), and the in-app message list.
//!
//! A notification is inserted inside the transaction of the change that causes it
//! ([`write_notifications`]); `(integration_id, dedupe_key)` is unique and a second insert of a
//! key does nothing. Delivery leases expire by SQLite's clock (`lease_expires_at` is written and
//! compared as `strftime('%Y-%m-%dT%H:%M:%fZ', 'now', ...)`, like the leases of migration 0005);
//! when a retry is due is the caller's time (`next_attempt_at`, one fixed width).

use std::time::Duration;

use chrono::{DateTime, Utc};
use marketsync_core::ids::IntegrationId;
use marketsync_core::store::support::bad_page_token;
use marketsync_core::store::{
    DeliveryFilter, DeliveryQuery, DeliveryState, DeliveryUpdate, Lease, MarkRead, MessageQuery,
    NewNotification, NotificationDelivery, Page, PageRequest, ReadFilter, StoreError,
    StoredNotification, apply_delivery_update,
};
use sqlx::{Row, SqliteConnection};

use crate::error::{backend, corrupt, encode_failed, write_failed};
use crate::store::SqliteStore;
use crate::work::due_text;

/// The longest delivery lease granted (ten years).
const MAX_LEASE: Duration = Duration::from_secs(10 * 365 * 24 * 60 * 60);

/// The `strftime` modifier for a lease of `lease_for`, to the millisecond, rounded up.
fn lease_modifier(lease_for: Duration) -> String {
    let d = lease_for.min(MAX_LEASE);
    let mut secs = d.as_secs();
    let mut millis = d.subsec_nanos().div_ceil(1_000_000);
    if millis == 1000 {
        secs += 1;
        millis = 0;
    }
    format!("+{secs}.{millis:03} seconds")
}

fn to_json<T: serde::Serialize>(what: &str, value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| encode_failed(what, e))
}

fn from_json<T: serde::de::DeserializeOwned>(what: &str, text: &str) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|e| corrupt(what, &e))
}

fn time_from_db(what: &str, text: &str) -> Result<DateTime<Utc>, StoreError> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| StoreError::Corrupt(format!("{what} {text:?} is not a time")))
}

fn count(n: i64) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// Writes new notifications of `integration` inside the caller's transaction: each whose
/// dedupe key is new, with one pending delivery row per transport it names.
pub(crate) async fn write_notifications(
    conn: &mut SqliteConnection,
    integration: IntegrationId,
    notifications: &[NewNotification],
    operation: &str,
) -> Result<(), StoreError> {
    let key = &integration.to_string();
    for n in notifications {
        let stored = StoredNotification::from_new(integration, n);
        let seq: Option<i64> = sqlx::query_scalar(
            "INSERT INTO notifications (id, integration_id, dedupe_key, created_at, record) \
             VALUES (?1, ?2, ?3, ?4, ?5) \
             ON CONFLICT (integration_id, dedupe_key) DO NOTHING RETURNING seq",
        )
        .bind(&n.id)
        .bind(key)
        .bind(&n.dedupe_key)
        .bind(n.created_at.to_rfc3339())
        .bind(to_json("notification", &stored)?)
        .fetch_optional(&mut *conn)
        .await
        .map_err(|e| write_failed(operation, key, e))?;
        let Some(seq) = seq else {
            continue;
        };
        for transport in &n.transports {
            sqlx::query(
                "INSERT INTO notification_deliveries \
                 (notification_seq, transport, state, detail, next_attempt_at) \
                 VALUES (?1, ?2, 'pending', ?3, ?4) ON CONFLICT DO NOTHING",
            )
            .bind(seq)
            .bind(transport)
            .bind(to_json("delivery state", &DeliveryState::Pending)?)
            .bind(due_text(n.created_at))
            .execute(&mut *conn)
            .await
            .map_err(|e| write_failed(operation, key, e))?;
        }
    }
    Ok(())
}

/// The start of a query reading deliveries, their notification joined.
macro_rules! select_deliveries {
    () => {
        "SELECT d.notification_seq, d.transport, d.detail, d.attempts, d.next_attempt_at, \
         d.lease_token, d.lease_expires_at, d.last_error, n.record, n.read_at \
         FROM notification_deliveries d JOIN notifications n ON n.seq = d.notification_seq "
    };
}

fn notification_from_row(
    row: &sqlx::sqlite::SqliteRow,
    record: &str,
    read_at: &str,
) -> Result<StoredNotification, StoreError> {
    let text: String = row.try_get(record).map_err(|e| backend("read", e))?;
    let mut n: StoredNotification = from_json("notification", &text)?;
    let read: Option<String> = row.try_get(read_at).map_err(|e| backend("read", e))?;
    n.read_at = read.map(|t| time_from_db("read time", &t)).transpose()?;
    Ok(n)
}

fn delivery_from_row(
    row: &sqlx::sqlite::SqliteRow,
) -> Result<(i64, NotificationDelivery), StoreError> {
    let get = |e: sqlx::Error| backend("read delivery", e);
    let seq: i64 = row.try_get("notification_seq").map_err(get)?;
    let detail: String = row.try_get("detail").map_err(get)?;
    let next: String = row.try_get("next_attempt_at").map_err(get)?;
    let token: Option<String> = row.try_get("lease_token").map_err(get)?;
    let until: Option<String> = row.try_get("lease_expires_at").map_err(get)?;
    let lease = match (token, until) {
        (Some(token), Some(until)) => Some(Lease {
            token,
            until: time_from_db("lease end", &until)?,
        }),
        _ => None,
    };
    Ok((
        seq,
        NotificationDelivery {
            notification: notification_from_row(row, "record", "read_at")?,
            transport: row.try_get("transport").map_err(get)?,
            state: from_json("delivery state", &detail)?,
            attempts: count(row.try_get("attempts").map_err(get)?),
            next_attempt_at: time_from_db("next attempt", &next)?,
            lease,
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

impl SqliteStore {
    pub(crate) async fn notices_update_integration(
        &self,
        record: &marketsync_core::store::IntegrationRecord,
        audit: &[marketsync_core::lifecycle::AuditEvent],
        notifications: &[NewNotification],
    ) -> Result<u64, StoreError> {
        const OP: &str = "update_integration_notifying";
        let mut tx = self.begin(OP).await?;
        let version = Self::update_in(&mut tx, record, audit, OP).await?;
        write_notifications(&mut tx, record.id, notifications, OP).await?;
        tx.commit().await.map_err(|e| backend(OP, e))?;
        Ok(version)
    }

    pub(crate) async fn notices_notification(
        &self,
        id: &str,
    ) -> Result<Option<StoredNotification>, StoreError> {
        let row = sqlx::query("SELECT record, read_at FROM notifications WHERE id = ?1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| backend("notification", e))?;
        row.map(|r| notification_from_row(&r, "record", "read_at"))
            .transpose()
    }

    pub(crate) async fn notices_claim(
        &self,
        transport: &str,
        now: DateTime<Utc>,
        lease_for: Duration,
        limit: usize,
    ) -> Result<Vec<NotificationDelivery>, StoreError> {
        const OP: &str = "claim_deliveries";
        let mut tx = self.begin(OP).await?;
        let due: Vec<i64> = sqlx::query_scalar(
            "SELECT notification_seq FROM notification_deliveries \
             WHERE transport = ?1 AND state = 'pending' AND next_attempt_at <= ?2 \
             AND (lease_expires_at IS NULL \
                  OR lease_expires_at <= strftime('%Y-%m-%dT%H:%M:%fZ', 'now')) \
             ORDER BY notification_seq LIMIT ?3",
        )
        .bind(transport)
        .bind(due_text(now))
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&mut *tx)
        .await
        .map_err(|e| backend(OP, e))?;
        let modifier = lease_modifier(lease_for);
        let mut claimed = Vec::with_capacity(due.len());
        for seq in due {
            let token = format!("delivery-{}", uuid::Uuid::new_v4().simple());
            sqlx::query(
                "UPDATE notification_deliveries SET attempts = attempts + 1, lease_token = ?1, \
                 lease_expires_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now', ?2) \
                 WHERE notification_seq = ?3 AND transport = ?4",
            )
            .bind(&token)
            .bind(&modifier)
            .bind(seq)
            .bind(transport)
            .execute(&mut *tx)
            .await
            .map_err(|e| backend(OP, e))?;
            let row = sqlx::query(concat!(
                select_deliveries!(),
                "WHERE d.notification_seq = ?1 AND d.transport = ?2"
            ))
            .bind(seq)
            .bind(transport)
            .fetch_one(&mut *tx)
            .await
            .map_err(|e| backend(OP, e))?;
            claimed.push(delivery_from_row(&row)?.1);
        }
        tx.commit().await.map_err(|e| backend(OP, e))?;
        Ok(claimed)
    }

    pub(crate) async fn notices_finish(
        &self,
        notification: &str,
        transport: &str,
        lease_token: &str,
        update: &DeliveryUpdate,
    ) -> Result<(), StoreError> {
        const OP: &str = "finish_delivery";
        let mut tx = self.begin(OP).await?;
        let row = sqlx::query(concat!(
            select_deliveries!(),
            "WHERE n.id = ?1 AND d.transport = ?2"
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
            "UPDATE notification_deliveries SET state = ?1, detail = ?2, next_attempt_at = ?3, \
             lease_token = NULL, lease_expires_at = NULL, last_error = ?4 \
             WHERE notification_seq = ?5 AND transport = ?6",
        )
        .bind(state_column(&delivery.state))
        .bind(to_json("delivery state", &delivery.state)?)
        .bind(due_text(delivery.next_attempt_at))
        .bind(&delivery.last_error)
        .bind(seq)
        .bind(transport)
        .execute(&mut *tx)
        .await
        .map_err(|e| backend(OP, e))?;
        tx.commit().await.map_err(|e| backend(OP, e))?;
        Ok(())
    }

    pub(crate) async fn notices_deliveries(
        &self,
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
            select_deliveries!(),
            "WHERE (?1 IS NULL OR n.integration_id = ?1) AND (?2 IS NULL OR d.transport = ?2) \
             AND (?3 IS NULL OR d.state = ?3) \
             AND (d.notification_seq, d.transport) > (?4, ?5) \
             ORDER BY d.notification_seq, d.transport LIMIT ?6"
        ))
        .bind(query.integration.map(|i| i.to_string()))
        .bind(query.transport.as_deref())
        .bind(state)
        .bind(after_seq)
        .bind(after_transport)
        .bind(i64::try_from(page.limit.max(1).saturating_add(1)).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
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

    pub(crate) async fn notices_messages(
        &self,
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
            ReadFilter::Unread => Some(0),
            ReadFilter::Read => Some(1),
        };
        let rows = sqlx::query(
            "SELECT seq, record, read_at FROM notifications \
             WHERE (?1 IS NULL OR integration_id = ?1) \
             AND (?2 IS NULL OR (read_at IS NOT NULL) = ?2) AND seq < ?3 \
             ORDER BY seq DESC LIMIT ?4",
        )
        .bind(query.integration.map(|i| i.to_string()))
        .bind(read)
        .bind(before)
        .bind(i64::try_from(page.limit.max(1).saturating_add(1)).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await
        .map_err(|e| backend(OP, e))?;
        let items = rows
            .iter()
            .map(|r| {
                let seq: i64 = r.try_get("seq").map_err(|e| backend(OP, e))?;
                Ok((seq, notification_from_row(r, "record", "read_at")?))
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        let page = Page::from_overfetch(items, page.limit, |(seq, _)| seq.to_string());
        Ok(Page {
            items: page.items.into_iter().map(|(_, n)| n).collect(),
            next: page.next,
        })
    }

    pub(crate) async fn notices_mark_read(
        &self,
        mark: &MarkRead,
        at: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        const OP: &str = "mark_read";
        let mut tx = self.begin(OP).await?;
        let mut marked = 0u64;
        match mark {
            MarkRead::Ids(ids) => {
                for id in ids {
                    marked += sqlx::query(
                        "UPDATE notifications SET read_at = ?1 WHERE id = ?2 AND read_at IS NULL",
                    )
                    .bind(at.to_rfc3339())
                    .bind(id)
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| backend(OP, e))?
                    .rows_affected();
                }
            }
            MarkRead::Integration(integration) => {
                marked += sqlx::query(
                    "UPDATE notifications SET read_at = ?1 \
                     WHERE integration_id = ?2 AND read_at IS NULL",
                )
                .bind(at.to_rfc3339())
                .bind(integration.to_string())
                .execute(&mut *tx)
                .await
                .map_err(|e| backend(OP, e))?
                .rows_affected();
            }
        }
        tx.commit().await.map_err(|e| backend(OP, e))?;
        Ok(usize::try_from(marked).unwrap_or(usize::MAX))
    }
}
