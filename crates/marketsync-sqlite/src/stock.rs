//! The stock journal and targeted propagation on SQLite (migration 0007).
//!
//! [`journal_stock`] writes a batch's stock events inside `record_orders`' transaction, only for
//! the orders that batch newly imports; `(integration_id, channel_order_id)` is unique, so an
//! order is journalled once whatever runs overlap. Events are marked handed over one by one
//! (never with a cursor: a lower `seq` may commit after a higher one). A pending (integration,
//! SKU) pair keeps the `since` it was first marked with, and its `mark` grows each time it is marked
//! (the larger of the old mark + 1 and the new one); marking a pair makes its
//! integration's work changed (due at once), as `update_integration` does. Every write is one
//! `BEGIN IMMEDIATE` transaction.

use std::collections::{BTreeSet, HashSet};

use chrono::{DateTime, Utc};
use marketsync_core::ids::{IntegrationId, Sku};
use marketsync_core::listing::Listing;
use marketsync_core::store::{
    NewStockEvent, PendingSku, RecordedOrder, SightingOutcome, StockEvent, StockLine, StoreError,
};
use sqlx::SqliteConnection;

use crate::error::{backend, corrupt, encode_failed, out_of_range, write_failed};
use crate::store::SqliteStore;
use crate::work::due_text;

fn time_from_db(what: &str, text: &str) -> Result<DateTime<Utc>, StoreError> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| StoreError::Corrupt(format!("{what} {text:?} is not a time")))
}

fn seq_from_db(what: &str, v: i64) -> Result<u64, StoreError> {
    u64::try_from(v).map_err(|_| out_of_range(what))
}

fn limit_of(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

/// Journals the stock events of `stock` whose order this batch newly imported (its sighting in
/// `recorded` is `Imported`), inside `record_orders`' transaction. An order journalled before
/// is skipped.
pub(crate) async fn journal_stock(
    conn: &mut SqliteConnection,
    integration: IntegrationId,
    stock: &[NewStockEvent],
    recorded: &[RecordedOrder],
    operation: &str,
) -> Result<(), StoreError> {
    if stock.is_empty() {
        return Ok(());
    }
    let imported: HashSet<&str> = recorded
        .iter()
        .filter(|r| r.outcome == SightingOutcome::Imported)
        .map(|r| r.channel_order_id.as_str())
        .collect();
    let key = integration.to_string();
    for event in stock {
        if !imported.contains(event.channel_order_id.as_str()) {
            continue;
        }
        let lines = serde_json::to_string(&event.lines)
            .map_err(|e| encode_failed("stock event lines", e))?;
        sqlx::query(
            "INSERT INTO stock_events (integration_id, channel_order_id, lines, imported_at) \
             VALUES (?1, ?2, ?3, ?4) \
             ON CONFLICT (integration_id, channel_order_id) DO NOTHING",
        )
        .bind(&key)
        .bind(event.channel_order_id.as_str())
        .bind(lines)
        .bind(event.imported_at.to_rfc3339())
        .execute(&mut *conn)
        .await
        .map_err(|e| write_failed(operation, &key, e))?;
    }
    Ok(())
}

type EventRow = (i64, String, String, String, String);

fn event_from_row(
    (seq, integration, order, lines, imported_at): EventRow,
) -> Result<StockEvent, StoreError> {
    let lines: Vec<StockLine> =
        serde_json::from_str(&lines).map_err(|e| corrupt("stock event lines", &e))?;
    Ok(StockEvent {
        seq: seq_from_db("stock event seq", seq)?,
        integration_id: integration.parse().map_err(|_| {
            StoreError::Corrupt(format!("stock event integration id {integration:?}"))
        })?,
        channel_order_id: order
            .parse()
            .map_err(|_| StoreError::Corrupt(format!("stock event order id {order:?}")))?,
        lines,
        imported_at: time_from_db("stock event imported_at", &imported_at)?,
    })
}

type PendingRow = (String, String, String, i64);

fn pending_from_row((integration, sku, since, mark): PendingRow) -> Result<PendingSku, StoreError> {
    Ok(PendingSku {
        integration_id: integration.parse().map_err(|_| {
            StoreError::Corrupt(format!("pending SKU integration id {integration:?}"))
        })?,
        sku: Sku::new(&sku).map_err(|_| StoreError::Corrupt(format!("pending SKU {sku:?}")))?,
        since: time_from_db("pending SKU since", &since)?,
        mark: seq_from_db("pending SKU mark", mark)?,
    })
}

impl SqliteStore {
    pub(crate) async fn stock_pending_events(
        &self,
        limit: usize,
    ) -> Result<Vec<StockEvent>, StoreError> {
        const OP: &str = "pending_stock_events";
        if limit == 0 {
            return Ok(Vec::new());
        }
        let rows: Vec<EventRow> = sqlx::query_as(
            "SELECT seq, integration_id, channel_order_id, lines, imported_at FROM stock_events \
             WHERE handed_over = 0 ORDER BY seq LIMIT ?1",
        )
        .bind(limit_of(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(|e| backend(OP, e))?;
        rows.into_iter().map(event_from_row).collect()
    }

    pub(crate) async fn stock_finish_events(
        &self,
        seqs: &[u64],
        propagate: &[PendingSku],
    ) -> Result<(), StoreError> {
        const OP: &str = "finish_stock_events";
        if seqs.is_empty() && propagate.is_empty() {
            return Ok(());
        }
        let mut tx = self.begin(OP).await?;
        for &seq in seqs {
            // A seq beyond SQLite's integers names no event: nothing to mark.
            let Ok(seq) = i64::try_from(seq) else {
                continue;
            };
            sqlx::query(
                "UPDATE stock_events SET handed_over = 1, \
                 handed_over_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') \
                 WHERE seq = ?1 AND handed_over = 0",
            )
            .bind(seq)
            .execute(&mut *tx)
            .await
            .map_err(|e| backend(OP, e))?;
        }
        let mut due = BTreeSet::new();
        for p in propagate {
            let key = p.integration_id.to_string();
            let mark = i64::try_from(p.mark).map_err(|_| out_of_range("pending SKU mark"))?;
            sqlx::query(
                "INSERT INTO pending_skus (integration_id, sku, since, mark) \
                 VALUES (?1, ?2, ?3, ?4) \
                 ON CONFLICT (integration_id, sku) DO UPDATE SET \
                 mark = max(mark + 1, excluded.mark)",
            )
            .bind(&key)
            .bind(p.sku.as_str())
            .bind(due_text(p.since))
            .bind(mark)
            .execute(&mut *tx)
            .await
            .map_err(|e| write_failed(OP, &key, e))?;
            due.insert(key);
        }
        for key in &due {
            Self::work_changed(&mut tx, key, OP).await?;
        }
        tx.commit().await.map_err(|e| backend(OP, e))
    }

    pub(crate) async fn stock_pending_skus(
        &self,
        id: IntegrationId,
        limit: usize,
    ) -> Result<Vec<PendingSku>, StoreError> {
        const OP: &str = "pending_skus";
        if limit == 0 {
            return Ok(Vec::new());
        }
        // BINARY collation: byte order of UTF-8, the same order as Rust's `str`.
        let rows: Vec<PendingRow> = sqlx::query_as(
            "SELECT integration_id, sku, since, mark FROM pending_skus \
             WHERE integration_id = ?1 ORDER BY since, sku LIMIT ?2",
        )
        .bind(id.to_string())
        .bind(limit_of(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(|e| backend(OP, e))?;
        rows.into_iter().map(pending_from_row).collect()
    }

    pub(crate) async fn stock_integrations_pending(
        &self,
        limit: usize,
    ) -> Result<Vec<IntegrationId>, StoreError> {
        const OP: &str = "integrations_with_pending_skus";
        if limit == 0 {
            return Ok(Vec::new());
        }
        let rows: Vec<String> = sqlx::query_scalar(
            "SELECT integration_id FROM pending_skus GROUP BY integration_id \
             ORDER BY min(since), integration_id LIMIT ?1",
        )
        .bind(limit_of(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(|e| backend(OP, e))?;
        rows.iter()
            .map(|id| {
                id.parse()
                    .map_err(|_| StoreError::Corrupt(format!("pending SKU integration id {id:?}")))
            })
            .collect()
    }

    pub(crate) async fn stock_finish_propagation(
        &self,
        id: IntegrationId,
        done: &[(Sku, u64)],
    ) -> Result<(), StoreError> {
        const OP: &str = "finish_propagation";
        if done.is_empty() {
            return Ok(());
        }
        let key = id.to_string();
        let mut tx = self.begin(OP).await?;
        for (sku, mark) in done {
            // Every stored mark fits in SQLite's integers, so a larger one covers them all.
            let mark = i64::try_from(*mark).unwrap_or(i64::MAX);
            sqlx::query(
                "DELETE FROM pending_skus WHERE integration_id = ?1 AND sku = ?2 AND mark <= ?3",
            )
            .bind(&key)
            .bind(sku.as_str())
            .bind(mark)
            .execute(&mut *tx)
            .await
            .map_err(|e| backend(OP, e))?;
        }
        tx.commit().await.map_err(|e| backend(OP, e))
    }

    pub(crate) async fn stock_listings_for_skus(
        &self,
        skus: &[Sku],
    ) -> Result<Vec<Listing>, StoreError> {
        const OP: &str = "listings_for_skus";
        if skus.is_empty() {
            return Ok(Vec::new());
        }
        let wanted: Vec<&str> = skus.iter().map(Sku::as_str).collect();
        let wanted = serde_json::to_string(&wanted).map_err(|e| encode_failed("SKU list", e))?;
        // One bound JSON array, whatever the number of SKUs (no limit on bound variables).
        let rows: Vec<String> = sqlx::query_scalar(
            "SELECT listing FROM listings \
             WHERE sku IN (SELECT value FROM json_each(?1)) ORDER BY integration_id, sku",
        )
        .bind(wanted)
        .fetch_all(&self.pool)
        .await
        .map_err(|e| backend(OP, e))?;
        let mut listings = rows
            .iter()
            .map(|t| serde_json::from_str(t).map_err(|e| corrupt("listing", &e)))
            .collect::<Result<Vec<Listing>, StoreError>>()?;
        // By integration then SKU in the ids' own order (the text order of a UUID is its order
        // too; sorting again keeps that true whatever the column holds).
        listings.sort_by(|a, b| (a.integration_id, &a.sku).cmp(&(b.integration_id, &b.sku)));
        Ok(listings)
    }
}
