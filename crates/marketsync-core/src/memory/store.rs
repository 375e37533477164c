use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::Bound;
use std::str::FromStr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, TimeDelta, Utc};

use crate::channel::Cursor;
use crate::clock::{Clock, SystemClock};
use crate::ids::{ChannelOrderId, IntegrationId, Sku};
use crate::lifecycle::AuditEvent;
use crate::listing::Listing;
use crate::mapping::MappingSet;
use crate::order::IdempotencyKey;
use crate::store::support::{apply_finish, apply_write, bad_page_token, check_key_reuse};
use crate::store::{
    IntegrationRecord, Lease, LedgerEntry, LedgerFilter, OrderBatch, OutboxEntry, OutboxItem,
    OutboxState, OutboxUpdate, Page, PageRequest, PendingSku, RecordedOrder, RunTimes,
    SightingOutcome, StockEvent, Store, StoreError, VersionedCredentials, VersionedMappings,
    WorkClaim, WorkerId,
};
use crate::vault::SealedCredentials;

use super::notices::NoticeBook;

/// The longest lease the store grants: a longer `lease_for` is held this long (ten years).
const MAX_LEASE: Duration = Duration::from_secs(10 * 365 * 24 * 60 * 60);

/// A named lease ([`Store::try_lease`]).
#[derive(Debug)]
struct NamedLease {
    holder: String,
    until: DateTime<Utc>,
}

/// The scheduled work of one integration ([`Store::claim_work`]).
#[derive(Debug, Default)]
struct WorkRow {
    /// When it is due again (caller's clock); `None` until first released: due at once.
    due_at: Option<DateTime<Utc>>,
    /// Changed (inserted or updated) since it was last claimed: due at once.
    changed: bool,
    /// The worker holding it and until when (lease clock).
    lease: Option<(WorkerId, DateTime<Utc>)>,
    /// Run times by operation name.
    runs: BTreeMap<String, RunTimes>,
}

impl WorkRow {
    fn is_due(&self, now: DateTime<Utc>) -> bool {
        self.changed || self.due_at.is_none_or(|due| due <= now)
    }

    fn is_free_for(&self, worker: &WorkerId, lease_now: DateTime<Utc>) -> bool {
        match &self.lease {
            None => true,
            Some((holder, until)) => holder == worker || *until <= lease_now,
        }
    }

    /// Whether `worker` holds the lease (lapsed or not, as long as nobody took it over).
    fn is_held_by(&self, worker: &WorkerId) -> bool {
        self.lease
            .as_ref()
            .is_some_and(|(holder, _)| holder == worker)
    }

    /// The sort key of "most overdue first": due at once (changed, never released) first, then
    /// by due time.
    fn overdue_key(&self) -> Option<DateTime<Utc>> {
        if self.changed { None } else { self.due_at }
    }
}

#[derive(Debug, Default)]
struct Inner {
    integrations: BTreeMap<IntegrationId, IntegrationRecord>,
    audit: HashMap<IntegrationId, Vec<AuditEvent>>,
    credentials: HashMap<IntegrationId, SealedCredentials>,
    /// The version of each integration's credentials (absent: 0, none stored).
    credential_versions: HashMap<IntegrationId, u64>,
    mappings: HashMap<IntegrationId, MappingSet>,
    /// The version of each integration's mappings (absent: 0).
    mapping_versions: HashMap<IntegrationId, u64>,
    listings: HashMap<IntegrationId, BTreeMap<Sku, Listing>>,
    ledger: HashMap<IntegrationId, BTreeMap<ChannelOrderId, LedgerEntry>>,
    cursors: HashMap<IntegrationId, Cursor>,
    outbox: Vec<OutboxEntry>,
    /// Keys are unique per integration.
    outbox_index: HashMap<(IntegrationId, IdempotencyKey), usize>,
    next_lease: u64,
    leases: HashMap<String, NamedLease>,
    work: BTreeMap<IntegrationId, WorkRow>,
    /// The notification outbox and message list.
    notices: NoticeBook,
    /// The stock journal by `seq`, with whether each event was handed to the host.
    stock_events: BTreeMap<u64, (StockEvent, bool)>,
    /// The journalled orders: an order is journalled once.
    stock_journalled: BTreeSet<(IntegrationId, ChannelOrderId)>,
    /// The last `seq` given out (0: none yet).
    stock_seq: u64,
    /// Pending (integration, SKU) pairs of the targeted propagation.
    pending_skus: BTreeMap<(IntegrationId, Sku), PendingSku>,
}

/// A [`Store`] kept in memory: every call is atomic under one lock. For tests, examples and
/// programs that keep nothing between runs.
///
/// Lease expiry ([`Store::try_lease`], [`Store::claim_work`], [`Store::renew_work`],
/// [`Store::claim_outbox`], [`Store::claim_deliveries`]) is decided
/// by the store's own lease clock, never by the caller's `now`: the system clock unless made with
/// [`MemoryStore::with_lease_clock`], which tests use to let leases lapse without waiting. When
/// work is due is decided by the caller's `now`, as in every store. A `lease_for` longer than
/// ten years is held for ten years.
#[derive(Debug)]
pub struct MemoryStore {
    inner: Mutex<Inner>,
    /// Decides lease expiry only.
    lease_clock: Arc<dyn Clock>,
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::with_lease_clock(Arc::new(SystemClock))
    }
}

impl MemoryStore {
    /// An empty store whose leases expire by the system clock.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty store whose leases expire by `clock` (for tests: a
    /// [`ManualClock`](crate::ManualClock) moved forward lets a lease lapse at once). Nothing
    /// else in the store reads this clock.
    pub fn with_lease_clock(clock: Arc<dyn Clock>) -> Self {
        Self {
            inner: Mutex::default(),
            lease_clock: clock,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Now by the lease clock, and the end of a lease of `lease_for` taken now.
    fn lease_times(&self, lease_for: Duration) -> (DateTime<Utc>, DateTime<Utc>) {
        let now = self.lease_clock.now();
        let delta = TimeDelta::from_std(lease_for.min(MAX_LEASE)).unwrap_or(TimeDelta::MAX);
        let until = now
            .checked_add_signed(delta)
            .unwrap_or(DateTime::<Utc>::MAX_UTC);
        (now, until)
    }
}

/// [`Store::update_integration`] under the store's lock (shared with
/// [`Store::update_integration_notifying`]).
fn update_locked(
    s: &mut Inner,
    record: &IntegrationRecord,
    audit: &[AuditEvent],
) -> Result<u64, StoreError> {
    let stored = s
        .integrations
        .get_mut(&record.id)
        .ok_or_else(|| StoreError::NotFound(format!("integration {}", record.id)))?;
    if stored.version != record.version {
        return Err(StoreError::Conflict(format!(
            "integration {} was changed concurrently (version {} expected, {} stored)",
            record.id, record.version, stored.version
        )));
    }
    let mut next = record.clone();
    next.version += 1;
    let v = next.version;
    *stored = next;
    s.work.entry(record.id).or_default().changed = true;
    s.audit
        .entry(record.id)
        .or_default()
        .extend_from_slice(audit);
    Ok(v)
}

/// Where a key-ordered page starts: after the key in the token (which must read back as a key).
fn after_key<K: FromStr>(read: &str, page: &PageRequest) -> Result<Bound<K>, StoreError> {
    match &page.after {
        None => Ok(Bound::Unbounded),
        Some(token) => K::from_str(token)
            .map(Bound::Excluded)
            .map_err(|_| bad_page_token(read, token)),
    }
}

fn not_held(integration: IntegrationId, worker: &WorkerId) -> StoreError {
    StoreError::Conflict(format!(
        "the work of integration {integration} is not held by worker {worker} (its lease lapsed and another worker took it, or it was released)"
    ))
}

#[async_trait]
impl Store for MemoryStore {
    async fn insert_integration(
        &self,
        record: &IntegrationRecord,
        audit: &[AuditEvent],
    ) -> Result<(), StoreError> {
        let mut s = self.lock();
        if s.integrations.contains_key(&record.id) {
            return Err(StoreError::Conflict(format!(
                "integration {} already exists",
                record.id
            )));
        }
        s.integrations.insert(record.id, record.clone());
        s.work.insert(
            record.id,
            WorkRow {
                changed: true,
                ..WorkRow::default()
            },
        );
        s.audit
            .entry(record.id)
            .or_default()
            .extend_from_slice(audit);
        Ok(())
    }

    async fn integration(
        &self,
        id: IntegrationId,
    ) -> Result<Option<IntegrationRecord>, StoreError> {
        Ok(self.lock().integrations.get(&id).cloned())
    }

    async fn integrations(&self) -> Result<Vec<IntegrationRecord>, StoreError> {
        // Kept by id.
        Ok(self.lock().integrations.values().cloned().collect())
    }

    async fn update_integration(
        &self,
        record: &IntegrationRecord,
        audit: &[AuditEvent],
    ) -> Result<u64, StoreError> {
        update_locked(&mut self.lock(), record, audit)
    }

    async fn audit_log(&self, id: IntegrationId) -> Result<Vec<AuditEvent>, StoreError> {
        Ok(self.lock().audit.get(&id).cloned().unwrap_or_default())
    }

    async fn put_credentials(
        &self,
        id: IntegrationId,
        sealed: &SealedCredentials,
    ) -> Result<(), StoreError> {
        let mut s = self.lock();
        s.credentials.insert(id, sealed.clone());
        *s.credential_versions.entry(id).or_default() += 1;
        Ok(())
    }

    async fn credentials(
        &self,
        id: IntegrationId,
    ) -> Result<Option<SealedCredentials>, StoreError> {
        Ok(self.lock().credentials.get(&id).cloned())
    }

    async fn put_mappings(
        &self,
        id: IntegrationId,
        mappings: &MappingSet,
    ) -> Result<(), StoreError> {
        let mut s = self.lock();
        s.mappings.insert(id, mappings.clone());
        *s.mapping_versions.entry(id).or_default() += 1;
        Ok(())
    }

    async fn mappings_versioned(&self, id: IntegrationId) -> Result<VersionedMappings, StoreError> {
        let s = self.lock();
        Ok(VersionedMappings {
            mappings: s.mappings.get(&id).cloned().unwrap_or_default(),
            version: s.mapping_versions.get(&id).copied().unwrap_or(0),
        })
    }

    async fn replace_mappings(
        &self,
        id: IntegrationId,
        mappings: &MappingSet,
        expected_version: u64,
        audit: &[AuditEvent],
    ) -> Result<u64, StoreError> {
        let mut s = self.lock();
        if !s.integrations.contains_key(&id) {
            return Err(StoreError::NotFound(format!("integration {id}")));
        }
        let stored = s.mapping_versions.get(&id).copied().unwrap_or(0);
        if stored != expected_version {
            return Err(StoreError::Conflict(format!(
                "the mappings of integration {id} were changed concurrently (version {expected_version} expected, {stored} stored)"
            )));
        }
        let next = stored + 1;
        s.mappings.insert(id, mappings.clone());
        s.mapping_versions.insert(id, next);
        s.audit.entry(id).or_default().extend_from_slice(audit);
        Ok(next)
    }

    async fn mappings(&self, id: IntegrationId) -> Result<MappingSet, StoreError> {
        Ok(self.lock().mappings.get(&id).cloned().unwrap_or_default())
    }

    async fn put_listing(&self, listing: &Listing) -> Result<(), StoreError> {
        self.lock()
            .listings
            .entry(listing.integration_id)
            .or_default()
            .insert(listing.sku.clone(), listing.clone());
        Ok(())
    }

    async fn remove_listing(&self, id: IntegrationId, sku: &Sku) -> Result<(), StoreError> {
        if let Some(l) = self.lock().listings.get_mut(&id) {
            l.remove(sku);
        }
        Ok(())
    }

    async fn listings(&self, id: IntegrationId) -> Result<Vec<Listing>, StoreError> {
        Ok(self
            .lock()
            .listings
            .get(&id)
            .map(|m| m.values().cloned().collect())
            .unwrap_or_default())
    }

    async fn record_orders(
        &self,
        id: IntegrationId,
        batch: &OrderBatch,
    ) -> Result<Vec<RecordedOrder>, StoreError> {
        let mut s = self.lock();
        // Work on a copy of the touched rows, then commit all at once.
        let ledger = s.ledger.entry(id).or_default();
        let mut staged: BTreeMap<ChannelOrderId, LedgerEntry> = BTreeMap::new();
        let mut results = Vec::with_capacity(batch.writes.len());
        for w in &batch.writes {
            let existing = staged
                .remove(&w.channel_order_id)
                .or_else(|| ledger.get(&w.channel_order_id).cloned());
            let (entry, outcome) = apply_write(id, existing, w, batch.seen_at);
            staged.insert(w.channel_order_id.clone(), entry);
            results.push(RecordedOrder {
                channel_order_id: w.channel_order_id.clone(),
                outcome,
            });
        }
        ledger.extend(staged);
        if let Some(c) = &batch.cursor {
            s.cursors.insert(id, c.clone());
        }
        s.notices.write(id, &batch.notifications);
        // Journal the stock of the orders imported at this sighting, once per order.
        for new in &batch.stock {
            let imported_now = results.iter().any(|r| {
                r.channel_order_id == new.channel_order_id && r.outcome == SightingOutcome::Imported
            });
            if !imported_now
                || !s
                    .stock_journalled
                    .insert((id, new.channel_order_id.clone()))
            {
                continue;
            }
            s.stock_seq += 1;
            let seq = s.stock_seq;
            let event = StockEvent {
                seq,
                integration_id: id,
                channel_order_id: new.channel_order_id.clone(),
                lines: new.lines.clone(),
                imported_at: new.imported_at,
            };
            s.stock_events.insert(seq, (event, false));
        }
        Ok(results)
    }

    async fn ledger_entry(
        &self,
        id: IntegrationId,
        order: &ChannelOrderId,
    ) -> Result<Option<LedgerEntry>, StoreError> {
        Ok(self
            .lock()
            .ledger
            .get(&id)
            .and_then(|l| l.get(order))
            .cloned())
    }

    async fn ledger(
        &self,
        id: IntegrationId,
        filter: LedgerFilter,
    ) -> Result<Vec<LedgerEntry>, StoreError> {
        Ok(self
            .lock()
            .ledger
            .get(&id)
            .map(|l| l.values().filter(|e| e.matches(filter)).cloned().collect())
            .unwrap_or_default())
    }

    async fn cursor(&self, id: IntegrationId) -> Result<Option<Cursor>, StoreError> {
        Ok(self.lock().cursors.get(&id).cloned())
    }

    async fn enqueue_outbox(&self, item: &OutboxItem) -> Result<OutboxEntry, StoreError> {
        let mut s = self.lock();
        let index = (item.integration_id, item.idempotency_key.clone());
        if let Some(&i) = s.outbox_index.get(&index) {
            check_key_reuse(&s.outbox[i].item, item)?;
            return Ok(s.outbox[i].clone());
        }
        let entry = OutboxEntry {
            item: item.clone(),
            state: OutboxState::Pending,
            attempts: 0,
            next_attempt_at: item.created_at,
            lease: None,
            last_error: None,
        };
        let i = s.outbox.len();
        s.outbox.push(entry.clone());
        s.outbox_index.insert(index, i);
        Ok(entry)
    }

    async fn claim_outbox(
        &self,
        id: IntegrationId,
        now: DateTime<Utc>,
        lease_for: Duration,
        limit: usize,
    ) -> Result<Vec<OutboxEntry>, StoreError> {
        let (lease_now, lease_until) = self.lease_times(lease_for);
        let mut s = self.lock();
        let mut claimed = Vec::new();
        for i in 0..s.outbox.len() {
            if claimed.len() >= limit {
                break;
            }
            let due = {
                let e = &s.outbox[i];
                e.item.integration_id == id
                    && e.state == OutboxState::Pending
                    && e.next_attempt_at <= now
                    && e.lease.as_ref().is_none_or(|l| l.until <= lease_now)
            };
            if !due {
                continue;
            }
            s.next_lease += 1;
            let token = format!("lease-{}-{}", s.next_lease, uuid::Uuid::new_v4());
            let e = &mut s.outbox[i];
            e.attempts += 1;
            e.lease = Some(Lease {
                token,
                until: lease_until,
            });
            claimed.push(e.clone());
        }
        Ok(claimed)
    }

    async fn finish_outbox(
        &self,
        id: IntegrationId,
        key: &IdempotencyKey,
        lease_token: &str,
        update: &OutboxUpdate,
    ) -> Result<(), StoreError> {
        let mut s = self.lock();
        let i = *s
            .outbox_index
            .get(&(id, key.clone()))
            .ok_or_else(|| StoreError::NotFound(format!("outbox entry {key}")))?;
        apply_finish(&mut s.outbox[i], key, lease_token, update)
    }

    async fn outbox(&self, id: IntegrationId) -> Result<Vec<OutboxEntry>, StoreError> {
        Ok(self
            .lock()
            .outbox
            .iter()
            .filter(|e| e.item.integration_id == id)
            .cloned()
            .collect())
    }

    async fn integrations_page(
        &self,
        page: &PageRequest,
    ) -> Result<Page<IntegrationRecord>, StoreError> {
        let after = after_key::<IntegrationId>("integrations_page", page)?;
        let items: Vec<IntegrationRecord> = self
            .lock()
            .integrations
            .range((after, Bound::Unbounded))
            .take(page.limit.max(1) + 1)
            .map(|(_, r)| r.clone())
            .collect();
        Ok(Page::from_overfetch(items, page.limit, |r| {
            r.id.to_string()
        }))
    }

    async fn listings_page(
        &self,
        id: IntegrationId,
        page: &PageRequest,
    ) -> Result<Page<Listing>, StoreError> {
        let after = after_key::<Sku>("listings_page", page)?;
        let items: Vec<Listing> = self
            .lock()
            .listings
            .get(&id)
            .map(|l| {
                l.range((after, Bound::Unbounded))
                    .take(page.limit.max(1) + 1)
                    .map(|(_, l)| l.clone())
                    .collect()
            })
            .unwrap_or_default();
        Ok(Page::from_overfetch(items, page.limit, |l| {
            l.sku.to_string()
        }))
    }

    async fn ledger_page(
        &self,
        id: IntegrationId,
        filter: LedgerFilter,
        page: &PageRequest,
    ) -> Result<Page<LedgerEntry>, StoreError> {
        let after = after_key::<ChannelOrderId>("ledger_page", page)?;
        let items: Vec<LedgerEntry> = self
            .lock()
            .ledger
            .get(&id)
            .map(|l| {
                l.range((after, Bound::Unbounded))
                    .map(|(_, e)| e)
                    .filter(|e| e.matches(filter))
                    .take(page.limit.max(1) + 1)
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        Ok(Page::from_overfetch(items, page.limit, |e| {
            e.channel_order_id.to_string()
        }))
    }

    async fn outbox_page(
        &self,
        id: IntegrationId,
        page: &PageRequest,
    ) -> Result<Page<OutboxEntry>, StoreError> {
        // The token is the position (in the whole outbox, all integrations) of the page's last
        // entry; entries are never removed, so positions are stable.
        let start = match &page.after {
            None => 0,
            Some(token) => token
                .parse::<usize>()
                .map_err(|_| bad_page_token("outbox_page", token))?
                .saturating_add(1),
        };
        let s = self.lock();
        let items: Vec<(usize, OutboxEntry)> = s
            .outbox
            .iter()
            .enumerate()
            .skip(start)
            .filter(|(_, e)| e.item.integration_id == id)
            .take(page.limit.max(1) + 1)
            .map(|(i, e)| (i, e.clone()))
            .collect();
        let page = Page::from_overfetch(items, page.limit, |(i, _)| i.to_string());
        Ok(Page {
            items: page.items.into_iter().map(|(_, e)| e).collect(),
            next: page.next,
        })
    }

    async fn credentials_versioned(
        &self,
        id: IntegrationId,
    ) -> Result<Option<VersionedCredentials>, StoreError> {
        let s = self.lock();
        Ok(s.credentials.get(&id).map(|sealed| VersionedCredentials {
            sealed: sealed.clone(),
            version: s.credential_versions.get(&id).copied().unwrap_or(0),
        }))
    }

    async fn replace_credentials(
        &self,
        id: IntegrationId,
        sealed: &SealedCredentials,
        expected_version: u64,
    ) -> Result<u64, StoreError> {
        let mut s = self.lock();
        let stored = if s.credentials.contains_key(&id) {
            s.credential_versions.get(&id).copied().unwrap_or(0)
        } else {
            0
        };
        if stored != expected_version {
            return Err(StoreError::Conflict(format!(
                "the credentials of integration {id} were replaced concurrently (version {expected_version} expected, {stored} stored)"
            )));
        }
        let next = stored + 1;
        s.credentials.insert(id, sealed.clone());
        s.credential_versions.insert(id, next);
        Ok(next)
    }

    async fn try_lease(
        &self,
        name: &str,
        holder: &str,
        lease_for: Duration,
    ) -> Result<bool, StoreError> {
        let (now, until) = self.lease_times(lease_for);
        let mut s = self.lock();
        if let Some(lease) = s.leases.get(name)
            && lease.holder != holder
            && lease.until > now
        {
            return Ok(false);
        }
        s.leases.insert(
            name.to_owned(),
            NamedLease {
                holder: holder.to_owned(),
                until,
            },
        );
        Ok(true)
    }

    async fn release_lease(&self, name: &str, holder: &str) -> Result<(), StoreError> {
        let mut s = self.lock();
        if s.leases.get(name).is_some_and(|l| l.holder == holder) {
            s.leases.remove(name);
        }
        Ok(())
    }

    async fn claim_work(
        &self,
        worker: &WorkerId,
        now: DateTime<Utc>,
        lease_for: Duration,
        limit: usize,
    ) -> Result<Vec<WorkClaim>, StoreError> {
        let (lease_now, until) = self.lease_times(lease_for);
        let mut s = self.lock();
        let mut due: Vec<(Option<DateTime<Utc>>, IntegrationId)> = s
            .work
            .iter()
            .filter(|(_, w)| w.is_due(now) && w.is_free_for(worker, lease_now))
            .map(|(id, w)| (w.overdue_key(), *id))
            .collect();
        due.sort_unstable();
        due.truncate(limit);
        let mut claims = Vec::with_capacity(due.len());
        for (_, id) in due {
            let Some(row) = s.work.get_mut(&id) else {
                continue;
            };
            if !row.is_held_by(worker) {
                // A new holder reads the integration afresh: the change is taken into account.
                row.changed = false;
            }
            row.lease = Some((worker.clone(), until));
            claims.push(WorkClaim {
                integration: id,
                worker: worker.clone(),
                runs: row.runs.clone(),
            });
        }
        Ok(claims)
    }

    async fn renew_work(
        &self,
        integration: IntegrationId,
        worker: &WorkerId,
        lease_for: Duration,
    ) -> Result<(), StoreError> {
        let (_, until) = self.lease_times(lease_for);
        let mut s = self.lock();
        let row = s
            .work
            .get_mut(&integration)
            .ok_or_else(|| StoreError::NotFound(format!("integration {integration}")))?;
        if !row.is_held_by(worker) {
            return Err(not_held(integration, worker));
        }
        row.lease = Some((worker.clone(), until));
        Ok(())
    }

    async fn record_run(
        &self,
        integration: IntegrationId,
        worker: &WorkerId,
        operation: &str,
        times: &RunTimes,
    ) -> Result<(), StoreError> {
        let mut s = self.lock();
        let row = s
            .work
            .get_mut(&integration)
            .ok_or_else(|| StoreError::NotFound(format!("integration {integration}")))?;
        if !row.is_held_by(worker) {
            return Err(not_held(integration, worker));
        }
        row.runs.insert(operation.to_owned(), *times);
        Ok(())
    }

    async fn release_work(
        &self,
        integration: IntegrationId,
        worker: &WorkerId,
        next_due: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut s = self.lock();
        let row = s
            .work
            .get_mut(&integration)
            .ok_or_else(|| StoreError::NotFound(format!("integration {integration}")))?;
        if !row.is_held_by(worker) {
            return Err(not_held(integration, worker));
        }
        row.lease = None;
        // A change made while the lease was held keeps `changed` set: due at once regardless.
        row.due_at = Some(next_due);
        Ok(())
    }

    // ----- notifications -----

    async fn update_integration_notifying(
        &self,
        record: &IntegrationRecord,
        audit: &[AuditEvent],
        notifications: &[crate::store::NewNotification],
    ) -> Result<u64, StoreError> {
        let mut s = self.lock();
        let v = update_locked(&mut s, record, audit)?;
        s.notices.write(record.id, notifications);
        Ok(v)
    }

    async fn notification(
        &self,
        id: &str,
    ) -> Result<Option<crate::store::StoredNotification>, StoreError> {
        Ok(self.lock().notices.notification(id))
    }

    async fn claim_deliveries(
        &self,
        transport: &str,
        now: DateTime<Utc>,
        lease_for: Duration,
        limit: usize,
    ) -> Result<Vec<crate::store::NotificationDelivery>, StoreError> {
        let (lease_now, until) = self.lease_times(lease_for);
        let mut s = self.lock();
        Ok(s.notices.claim(transport, now, lease_now, until, limit))
    }

    async fn finish_delivery(
        &self,
        notification: &str,
        transport: &str,
        lease_token: &str,
        update: &crate::store::DeliveryUpdate,
    ) -> Result<(), StoreError> {
        self.lock()
            .notices
            .finish(notification, transport, lease_token, update)
    }

    async fn deliveries(
        &self,
        query: &crate::store::DeliveryQuery,
        page: &PageRequest,
    ) -> Result<Page<crate::store::NotificationDelivery>, StoreError> {
        self.lock().notices.deliveries(query, page)
    }

    async fn messages(
        &self,
        query: &crate::store::MessageQuery,
        page: &PageRequest,
    ) -> Result<Page<crate::store::StoredNotification>, StoreError> {
        self.lock().notices.messages(query, page)
    }

    async fn mark_read(
        &self,
        mark: &crate::store::MarkRead,
        at: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        Ok(self.lock().notices.mark_read(mark, at))
    }

    // ----- the stock journal and targeted propagation -----

    async fn pending_stock_events(&self, limit: usize) -> Result<Vec<StockEvent>, StoreError> {
        Ok(self
            .lock()
            .stock_events
            .values()
            .filter(|(_, handed)| !handed)
            .take(limit)
            .map(|(e, _)| e.clone())
            .collect())
    }

    async fn finish_stock_events(
        &self,
        seqs: &[u64],
        propagate: &[PendingSku],
    ) -> Result<(), StoreError> {
        let mut s = self.lock();
        for seq in seqs {
            if let Some((_, handed)) = s.stock_events.get_mut(seq) {
                *handed = true;
            }
        }
        for p in propagate {
            let key = (p.integration_id, p.sku.clone());
            match s.pending_skus.get_mut(&key) {
                Some(existing) => existing.mark = (existing.mark + 1).max(p.mark),
                None => {
                    s.pending_skus.insert(key, p.clone());
                }
            }
            s.work.entry(p.integration_id).or_default().changed = true;
        }
        Ok(())
    }

    async fn pending_skus(
        &self,
        id: IntegrationId,
        limit: usize,
    ) -> Result<Vec<PendingSku>, StoreError> {
        let s = self.lock();
        let mut out: Vec<PendingSku> = s
            .pending_skus
            .values()
            .filter(|p| p.integration_id == id)
            .cloned()
            .collect();
        out.sort_by(|a, b| a.since.cmp(&b.since).then_with(|| a.sku.cmp(&b.sku)));
        out.truncate(limit);
        Ok(out)
    }

    async fn integrations_with_pending_skus(
        &self,
        limit: usize,
    ) -> Result<Vec<IntegrationId>, StoreError> {
        let s = self.lock();
        let mut oldest: BTreeMap<IntegrationId, DateTime<Utc>> = BTreeMap::new();
        for p in s.pending_skus.values() {
            let since = oldest.entry(p.integration_id).or_insert(p.since);
            *since = (*since).min(p.since);
        }
        let mut ids: Vec<(DateTime<Utc>, IntegrationId)> =
            oldest.into_iter().map(|(id, since)| (since, id)).collect();
        ids.sort_unstable();
        Ok(ids.into_iter().take(limit).map(|(_, id)| id).collect())
    }

    async fn finish_propagation(
        &self,
        id: IntegrationId,
        done: &[(Sku, u64)],
    ) -> Result<(), StoreError> {
        let mut s = self.lock();
        for (sku, mark) in done {
            let key = (id, sku.clone());
            if s.pending_skus.get(&key).is_some_and(|p| p.mark <= *mark) {
                s.pending_skus.remove(&key);
            }
        }
        Ok(())
    }

    async fn listings_for_skus(&self, skus: &[Sku]) -> Result<Vec<Listing>, StoreError> {
        let s = self.lock();
        let wanted: BTreeSet<&Sku> = skus.iter().collect();
        let mut ids: Vec<&IntegrationId> = s.listings.keys().collect();
        ids.sort_unstable();
        let mut out = Vec::new();
        for id in ids {
            out.extend(
                s.listings[id]
                    .values()
                    .filter(|l| wanted.contains(&l.sku))
                    .cloned(),
            );
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::ManualClock;
    use crate::ids::ChannelKind;
    use crate::lifecycle::{Actor, ChannelRules, Context, Lifecycle};
    use crate::money::Currency;
    use crate::settings::IntegrationSettings;
    use crate::store::NoticeState;

    const TEN_MINUTES: Duration = Duration::from_secs(600);

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap()
    }

    async fn store_with_one_integration() -> (MemoryStore, Arc<ManualClock>, IntegrationId) {
        let clock = Arc::new(ManualClock::new(t0()));
        let store = MemoryStore::with_lease_clock(clock.clone());
        let id = IntegrationId::new();
        let ctx = Context::at(Actor::User("ann".into()), t0());
        let (lifecycle, created) = Lifecycle::create(ChannelRules::default(), &ctx);
        let record = IntegrationRecord {
            id,
            name: "shop".into(),
            channel: ChannelKind::Reverb,
            lifecycle,
            settings: IntegrationSettings::new(ChannelKind::Reverb, Currency::USD),
            notices: NoticeState::default(),
            version: 0,
        };
        store.insert_integration(&record, &[created]).await.unwrap();
        (store, clock, id)
    }

    /// Workers whose clocks are 10 minutes ahead or behind (or years ahead) never take work
    /// another holds: only the store's lease clock lets a lease lapse.
    #[tokio::test]
    async fn work_leases_lapse_by_the_lease_clock_whatever_the_callers_clock() {
        let (store, clock, id) = store_with_one_integration().await;
        let (w1, w2) = (WorkerId::new("w1"), WorkerId::new("w2"));
        let claims = store.claim_work(&w1, t0(), TEN_MINUTES, 10).await.unwrap();
        assert_eq!(claims.len(), 1);
        for skew in [
            TimeDelta::minutes(10),
            TimeDelta::minutes(-10),
            TimeDelta::days(3650),
        ] {
            let taken = store
                .claim_work(&w2, t0() + skew, TEN_MINUTES, 10)
                .await
                .unwrap();
            assert!(taken.is_empty(), "a caller skewed by {skew} took held work");
        }
        clock.advance(TimeDelta::minutes(9));
        assert!(
            store
                .claim_work(&w2, t0(), TEN_MINUTES, 10)
                .await
                .unwrap()
                .is_empty()
        );
        store.renew_work(id, &w1, TEN_MINUTES).await.unwrap();
        clock.advance(TimeDelta::minutes(9));
        assert!(
            store
                .claim_work(&w2, t0(), TEN_MINUTES, 10)
                .await
                .unwrap()
                .is_empty(),
            "a renewed lease runs from the renewal"
        );
        clock.advance(TimeDelta::minutes(2));
        let taken = store.claim_work(&w2, t0(), TEN_MINUTES, 10).await.unwrap();
        assert_eq!(
            taken.iter().map(|c| c.integration).collect::<Vec<_>>(),
            [id]
        );
        assert!(matches!(
            store.renew_work(id, &w1, TEN_MINUTES).await,
            Err(StoreError::Conflict(_))
        ));
    }

    #[tokio::test]
    async fn named_leases_lapse_by_the_lease_clock() {
        let (store, clock, _) = store_with_one_integration().await;
        assert!(store.try_lease("renew", "w1", TEN_MINUTES).await.unwrap());
        clock.advance(TimeDelta::minutes(9));
        assert!(!store.try_lease("renew", "w2", TEN_MINUTES).await.unwrap());
        clock.advance(TimeDelta::minutes(2));
        assert!(store.try_lease("renew", "w2", TEN_MINUTES).await.unwrap());
        assert!(!store.try_lease("renew", "w1", TEN_MINUTES).await.unwrap());
    }
}
