//! The paged reads of [`Store`](marketsync_core::Store): each page is one indexed range query
//! (`WHERE key > $after ORDER BY key LIMIT n + 1`), so a worker's memory holds one page, never
//! the whole table. Tokens are the last key of the page: an integration id, a SKU, a channel
//! order id, or an outbox entry's sequence number.

use marketsync_core::ids::{ChannelOrderId, IntegrationId, Sku};
use marketsync_core::listing::Listing;
use marketsync_core::store::support::bad_page_token;
use marketsync_core::store::{
    IntegrationRecord, LedgerEntry, LedgerFilter, OutboxEntry, Page, PageRequest, StoreError,
};

use crate::error::backend;
use crate::store::{PostgresStore, from_json, integration_from_row, key_of, outcome_for};

/// Ledger rows read per query while filling a page of [`Store::ledger_page`]: the filter is
/// decided on each decoded row ([`LedgerEntry::matches`]), so a page may need several chunks.
///
/// [`Store::ledger_page`]: marketsync_core::Store::ledger_page
pub(crate) const LEDGER_CHUNK: usize = 200;

/// The page's `after` token, checked to be a key `parse` accepts (a token this store gave).
fn after_key<'a, K>(
    read: &str,
    page: &'a PageRequest,
    parse: impl Fn(&str) -> Option<K>,
) -> Result<Option<&'a str>, StoreError> {
    match page.after.as_deref() {
        None => Ok(None),
        Some(token) if parse(token).is_some() => Ok(Some(token)),
        Some(token) => Err(bad_page_token(read, token)),
    }
}

/// `limit + 1` (to learn whether there is a next page) as a bound parameter.
fn overfetch(page: &PageRequest) -> i64 {
    i64::try_from(page.limit.max(1)).unwrap_or(i64::MAX - 1) + 1
}

pub(crate) async fn integrations_page(
    store: &PostgresStore,
    page: &PageRequest,
) -> Result<Page<IntegrationRecord>, StoreError> {
    let rows: Vec<(i64, String)> = sqlx::query_as(
        "SELECT version, record::text FROM integrations \
         WHERE ($1::text IS NULL OR id > $1) ORDER BY id LIMIT $2",
    )
    .bind(after_key("integrations_page", page, |t| {
        t.parse::<IntegrationId>().ok()
    })?)
    .bind(overfetch(page))
    .fetch_all(&store.pool)
    .await
    .map_err(|e| backend("integrations_page", e))?;
    let items = rows
        .iter()
        .map(|(v, r)| integration_from_row(*v, r))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Page::from_overfetch(items, page.limit, |r| {
        r.id.to_string()
    }))
}

pub(crate) async fn listings_page(
    store: &PostgresStore,
    id: IntegrationId,
    page: &PageRequest,
) -> Result<Page<Listing>, StoreError> {
    let rows: Vec<String> = sqlx::query_scalar(
        "SELECT listing::text FROM listings \
         WHERE integration_id = $1 AND ($2::text IS NULL OR sku > $2) ORDER BY sku LIMIT $3",
    )
    .bind(key_of(id))
    .bind(after_key("listings_page", page, |t| Sku::new(t).ok())?)
    .bind(overfetch(page))
    .fetch_all(&store.pool)
    .await
    .map_err(|e| backend("listings_page", e))?;
    let items = rows
        .iter()
        .map(|t| from_json("listing", t))
        .collect::<Result<Vec<Listing>, _>>()?;
    Ok(Page::from_overfetch(items, page.limit, |l| {
        l.sku.to_string()
    }))
}

pub(crate) async fn ledger_page(
    store: &PostgresStore,
    id: IntegrationId,
    filter: LedgerFilter,
    page: &PageRequest,
) -> Result<Page<LedgerEntry>, StoreError> {
    let limit = page.limit.max(1);
    let chunk = i64::try_from(LEDGER_CHUNK).unwrap_or(i64::MAX);
    let mut after =
        after_key("ledger_page", page, |t| ChannelOrderId::new(t).ok())?.map(str::to_owned);
    let mut matched: Vec<LedgerEntry> = Vec::new();
    // Chunks of rows in id order (the indexed outcome column narrows them) until the page has
    // one more match than it shows, or the rows run out.
    loop {
        let rows: Vec<(String, String)> = sqlx::query_as(
            "SELECT channel_order_id, entry::text FROM ledger \
             WHERE integration_id = $1 AND ($2::text IS NULL OR outcome = $2) \
             AND ($3::text IS NULL OR channel_order_id > $3) \
             ORDER BY channel_order_id LIMIT $4",
        )
        .bind(key_of(id))
        .bind(outcome_for(filter))
        .bind(after.as_deref())
        .bind(chunk)
        .fetch_all(&store.pool)
        .await
        .map_err(|e| backend("ledger_page", e))?;
        let full = rows.len() == LEDGER_CHUNK;
        for (order, text) in rows {
            let entry: LedgerEntry = from_json("ledger entry", &text)?;
            after = Some(order);
            if entry.matches(filter) {
                matched.push(entry);
                if matched.len() > limit {
                    return Ok(Page::from_overfetch(matched, limit, |e| {
                        e.channel_order_id.to_string()
                    }));
                }
            }
        }
        if !full {
            return Ok(Page::from_overfetch(matched, limit, |e| {
                e.channel_order_id.to_string()
            }));
        }
    }
}

pub(crate) async fn outbox_page(
    store: &PostgresStore,
    id: IntegrationId,
    page: &PageRequest,
) -> Result<Page<OutboxEntry>, StoreError> {
    let after: i64 = match page.after.as_deref() {
        None => 0,
        Some(token) => token
            .parse()
            .map_err(|_| bad_page_token("outbox_page", token))?,
    };
    let rows: Vec<(i64, String)> = sqlx::query_as(
        "SELECT seq, entry::text FROM outbox \
         WHERE integration_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
    )
    .bind(key_of(id))
    .bind(after)
    .bind(overfetch(page))
    .fetch_all(&store.pool)
    .await
    .map_err(|e| backend("outbox_page", e))?;
    let limit = page.limit.max(1);
    let more = rows.len() > limit;
    let mut items = Vec::with_capacity(rows.len().min(limit));
    let mut last = None;
    for (seq, text) in rows.into_iter().take(limit) {
        items.push(from_json("outbox entry", &text)?);
        last = Some(seq);
    }
    Ok(Page {
        items,
        next: if more {
            last.map(|s| s.to_string())
        } else {
            None
        },
    })
}
