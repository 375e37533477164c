//! The stock journal and targeted propagation on PostgreSQL (migration 0003).
//!
//! [`journal_stock`] writes a batch's stock events inside `record_orders`' transaction, only for
//! the orders that batch newly imports (their ledger rows are locked there, so of two
//! concurrent batches one imports and journals); `(integration_id, channel_order_id)` is unique
//! besides, so an order is journalled once. Events are marked handed over one by one (never
//! with a cursor: a lower `seq` may commit after a higher one). A pending (integration, SKU)
//! pair keeps the `since` it was first marked with, and its `mark` grows each time it is marked
//! (the larger of the old mark + 1 and the new one); marking a pair makes its integration's work due at once and counts a change (`change_seq`), as
//! `update_integration` does. Rows are locked in key order, so concurrent calls wait rather than deadlock; should
//! the server still break one, nothing was written and it runs again.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use chrono::{DateTime, Utc};
use marketsync_core::ids::{IntegrationId, Sku};
use marketsync_core::listing::Listing;
use marketsync_core::store::{
    NewStockEvent, PendingSku, RecordedOrder, SightingOutcome, StockEvent, StockLine, StoreError,
};
use sqlx::PgConnection;

use crate::error::{backend, out_of_range, store_error_is_retryable, write_failed};
use crate::store::{PostgresStore, from_json, key_of, to_json};

/// How many times a transaction broken only by a concurrent one runs again.
const ATTEMPTS: usize = 5;

fn limit_of(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

fn seq_from_db(what: &str, v: i64) -> Result<u64, StoreError> {
    u64::try_from(v).map_err(|_| out_of_range(what))
}

fn integration_from_db(what: &str, text: &str) -> Result<IntegrationId, StoreError> {
    text.parse()
        .map_err(|_| StoreError::Corrupt(format!("{what} {text:?} is not an integration id")))
}

/// Runs `once` again (up to [`ATTEMPTS`] times) while it fails only because of a concurrent
/// transaction.
async fn retrying<T, F, Fut>(operation: &str, mut once: F) -> Result<T, StoreError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, StoreError>>,
{
    let mut attempt = 1;
    loop {
        match once().await {
            Err(e) if attempt < ATTEMPTS && store_error_is_retryable(&e) => {
                tracing::debug!(
                    attempt,
                    operation,
                    "conflicted with a concurrent transaction; running it again"
                );
                attempt += 1;
            }
            result => return result,
        }
    }
}

/// Journals the stock events of `stock` whose order this batch newly imported (its sighting in
/// `recorded` is `Imported`), inside `record_orders`' transaction, in the batch's order. An
/// order journalled before is skipped.
pub(crate) async fn journal_stock(
    conn: &mut PgConnection,
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
    let mut seen = HashSet::new();
    let mut orders = Vec::new();
    let mut lines = Vec::new();
    let mut times = Vec::new();
    for event in stock {
        let order = event.channel_order_id.as_str();
        // The first event of an order counts, as the unique journal would decide.
        if imported.contains(order) && seen.insert(order) {
            orders.push(order.to_owned());
            lines.push(to_json("stock event lines", &event.lines)?);
            times.push(event.imported_at);
        }
    }
    if orders.is_empty() {
        return Ok(());
    }
    let key = key_of(integration);
    sqlx::query(
        "INSERT INTO stock_events (integration_id, channel_order_id, lines, imported_at) \
         SELECT $1, o, l::jsonb, t \
         FROM unnest($2::text[], $3::text[], $4::timestamptz[]) WITH ORDINALITY AS v (o, l, t, n) \
         ORDER BY n \
         ON CONFLICT (integration_id, channel_order_id) DO NOTHING",
    )
    .bind(&key)
    .bind(&orders)
    .bind(&lines)
    .bind(&times)
    .execute(&mut *conn)
    .await
    .map_err(|e| write_failed(operation, &key, e))?;
    Ok(())
}

type EventRow = (i64, String, String, String, DateTime<Utc>);

fn event_from_row(
    (seq, integration, order, lines, imported_at): EventRow,
) -> Result<StockEvent, StoreError> {
    let lines: Vec<StockLine> = from_json("stock event lines", &lines)?;
    Ok(StockEvent {
        seq: seq_from_db("stock event seq", seq)?,
        integration_id: integration_from_db("stock event integration", &integration)?,
        channel_order_id: order
            .parse()
            .map_err(|_| StoreError::Corrupt(format!("stock event order id {order:?}")))?,
        lines,
        imported_at,
    })
}

type PendingRow = (String, String, DateTime<Utc>, i64);

fn pending_from_row((integration, sku, since, mark): PendingRow) -> Result<PendingSku, StoreError> {
    Ok(PendingSku {
        integration_id: integration_from_db("pending SKU integration", &integration)?,
        sku: Sku::new(&sku).map_err(|_| StoreError::Corrupt(format!("pending SKU {sku:?}")))?,
        since,
        mark: seq_from_db("pending SKU mark", mark)?,
    })
}

/// Up to `limit` events not yet handed over, lowest `seq` first.
pub(crate) async fn pending_stock_events(
    store: &PostgresStore,
    limit: usize,
) -> Result<Vec<StockEvent>, StoreError> {
    const OP: &str = "pending_stock_events";
    if limit == 0 {
        return Ok(Vec::new());
    }
    let rows: Vec<EventRow> = sqlx::query_as(
        "SELECT seq, integration_id, channel_order_id, lines::text, imported_at \
         FROM stock_events WHERE NOT handed_over ORDER BY seq LIMIT $1",
    )
    .bind(limit_of(limit))
    .fetch_all(&store.pool)
    .await
    .map_err(|e| backend(OP, e))?;
    rows.into_iter().map(event_from_row).collect()
}

/// Marks events handed over and pairs pending, and makes their integrations due, in one
/// transaction.
pub(crate) async fn finish_stock_events(
    store: &PostgresStore,
    seqs: &[u64],
    propagate: &[PendingSku],
) -> Result<(), StoreError> {
    const OP: &str = "finish_stock_events";
    // Seqs beyond the column's range name no event: nothing to mark.
    let seqs: Vec<i64> = seqs
        .iter()
        .filter_map(|&s| i64::try_from(s).ok())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    // One row per pair (the `since` it is first named with, the largest `mark`), in key order.
    let mut pairs: BTreeMap<(String, &str), (DateTime<Utc>, i64)> = BTreeMap::new();
    for p in propagate {
        let mark = i64::try_from(p.mark).map_err(|_| out_of_range("pending SKU mark"))?;
        pairs
            .entry((key_of(p.integration_id), p.sku.as_str()))
            .and_modify(|(_, m)| *m = (*m).max(mark))
            .or_insert((p.since, mark));
    }
    if seqs.is_empty() && pairs.is_empty() {
        return Ok(());
    }
    let mut ids = Vec::with_capacity(pairs.len());
    let mut skus = Vec::with_capacity(pairs.len());
    let mut sinces = Vec::with_capacity(pairs.len());
    let mut marks = Vec::with_capacity(pairs.len());
    for ((id, sku), (since, mark)) in &pairs {
        ids.push(id.clone());
        skus.push((*sku).to_owned());
        sinces.push(*since);
        marks.push(*mark);
    }
    let due: Vec<String> = ids
        .iter()
        .cloned()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    retrying(OP, || async {
        let mut tx = store.pool.begin().await.map_err(|e| backend(OP, e))?;
        if !seqs.is_empty() {
            sqlx::query(
                "UPDATE stock_events SET handed_over = true, handed_over_at = clock_timestamp() \
                 WHERE seq IN (SELECT seq FROM stock_events \
                 WHERE seq = ANY($1::bigint[]) AND NOT handed_over ORDER BY seq FOR UPDATE)",
            )
            .bind(&seqs)
            .execute(&mut *tx)
            .await
            .map_err(|e| backend(OP, e))?;
        }
        if !ids.is_empty() {
            sqlx::query(
                "INSERT INTO pending_skus (integration_id, sku, since, mark) \
                 SELECT i, s, t, m \
                 FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::bigint[]) \
                 WITH ORDINALITY AS v (i, s, t, m, n) ORDER BY n \
                 ON CONFLICT (integration_id, sku) DO UPDATE SET \
                 mark = GREATEST(pending_skus.mark + 1, excluded.mark)",
            )
            .bind(&ids)
            .bind(&skus)
            .bind(&sinces)
            .bind(&marks)
            .execute(&mut *tx)
            .await
            .map_err(|e| write_failed(OP, &ids.join(", "), e))?;
            // Due at once, and a worker holding the work learns at release that it changed,
            // exactly as `update_integration` leaves it.
            sqlx::query(
                "INSERT INTO work (integration_id, change_seq) \
                 SELECT i, 1 FROM unnest($1::text[]) WITH ORDINALITY AS v (i, n) ORDER BY n \
                 ON CONFLICT (integration_id) DO UPDATE \
                 SET due_at = NULL, change_seq = work.change_seq + 1",
            )
            .bind(&due)
            .execute(&mut *tx)
            .await
            .map_err(|e| write_failed(OP, &due.join(", "), e))?;
        }
        tx.commit().await.map_err(|e| backend(OP, e))
    })
    .await
}

/// Up to `limit` pending SKUs of one integration, oldest `since` first, then by SKU.
pub(crate) async fn pending_skus(
    store: &PostgresStore,
    id: IntegrationId,
    limit: usize,
) -> Result<Vec<PendingSku>, StoreError> {
    const OP: &str = "pending_skus";
    if limit == 0 {
        return Ok(Vec::new());
    }
    let rows: Vec<PendingRow> = sqlx::query_as(
        "SELECT integration_id, sku, since, mark FROM pending_skus \
         WHERE integration_id = $1 ORDER BY since, sku LIMIT $2",
    )
    .bind(key_of(id))
    .bind(limit_of(limit))
    .fetch_all(&store.pool)
    .await
    .map_err(|e| backend(OP, e))?;
    rows.into_iter().map(pending_from_row).collect()
}

/// Integrations with a pending SKU, oldest wait first.
pub(crate) async fn integrations_with_pending_skus(
    store: &PostgresStore,
    limit: usize,
) -> Result<Vec<IntegrationId>, StoreError> {
    const OP: &str = "integrations_with_pending_skus";
    if limit == 0 {
        return Ok(Vec::new());
    }
    let rows: Vec<String> = sqlx::query_scalar(
        "SELECT integration_id FROM pending_skus GROUP BY integration_id \
         ORDER BY min(since), integration_id LIMIT $1",
    )
    .bind(limit_of(limit))
    .fetch_all(&store.pool)
    .await
    .map_err(|e| backend(OP, e))?;
    rows.iter()
        .map(|id| integration_from_db("pending SKU integration", id))
        .collect()
}

/// Removes the pairs covered by the marks they were read with.
pub(crate) async fn finish_propagation(
    store: &PostgresStore,
    id: IntegrationId,
    done: &[(Sku, u64)],
) -> Result<(), StoreError> {
    const OP: &str = "finish_propagation";
    // One mark per SKU (the largest given covers the others), in key order.
    let mut by_sku: BTreeMap<&str, i64> = BTreeMap::new();
    for (sku, mark) in done {
        // Every stored mark fits a bigint, so a larger one covers them all.
        let mark = i64::try_from(*mark).unwrap_or(i64::MAX);
        let m = by_sku.entry(sku.as_str()).or_insert(mark);
        *m = (*m).max(mark);
    }
    if by_sku.is_empty() {
        return Ok(());
    }
    let key = key_of(id);
    let skus: Vec<String> = by_sku.keys().map(|s| (*s).to_owned()).collect();
    let marks: Vec<i64> = by_sku.values().copied().collect();
    retrying(OP, || async {
        sqlx::query(
            "DELETE FROM pending_skus AS p USING unnest($2::text[], $3::bigint[]) AS v (s, m) \
             WHERE p.integration_id = $1 AND p.sku = v.s AND p.mark <= v.m",
        )
        .bind(&key)
        .bind(&skus)
        .bind(&marks)
        .execute(&store.pool)
        .await
        .map_err(|e| backend(OP, e))?;
        Ok(())
    })
    .await
}

/// The listings of every integration for these SKUs, by integration then SKU.
pub(crate) async fn listings_for_skus(
    store: &PostgresStore,
    skus: &[Sku],
) -> Result<Vec<Listing>, StoreError> {
    const OP: &str = "listings_for_skus";
    if skus.is_empty() {
        return Ok(Vec::new());
    }
    let wanted: Vec<String> = skus.iter().map(|s| s.as_str().to_owned()).collect();
    let rows: Vec<String> = sqlx::query_scalar(
        "SELECT listing::text FROM listings WHERE sku = ANY($1::text[]) \
         ORDER BY integration_id, sku",
    )
    .bind(&wanted)
    .fetch_all(&store.pool)
    .await
    .map_err(|e| backend(OP, e))?;
    let mut listings = rows
        .iter()
        .map(|t| from_json("listing", t))
        .collect::<Result<Vec<Listing>, StoreError>>()?;
    // By integration then SKU in the ids' own order (the "C" text order of a UUID is its order
    // too; sorting again keeps that true whatever the column holds).
    listings.sort_by(|a, b| (a.integration_id, &a.sku).cmp(&(b.integration_id, &b.sku)));
    Ok(listings)
}
