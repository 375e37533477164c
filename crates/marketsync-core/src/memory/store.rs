use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard};

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::channel::Cursor;
use crate::ids::{ChannelOrderId, IntegrationId, Sku};
use crate::lifecycle::AuditEvent;
use crate::listing::Listing;
use crate::mapping::MappingSet;
use crate::order::IdempotencyKey;
use crate::store::support::{apply_finish, apply_write, check_key_reuse};
use crate::store::{
    IntegrationRecord, Lease, LedgerEntry, LedgerFilter, OrderBatch, OutboxEntry, OutboxItem,
    OutboxState, OutboxUpdate, RecordedOrder, Store, StoreError, VersionedMappings,
};
use crate::vault::SealedCredentials;

#[derive(Debug, Default)]
struct Inner {
    integrations: HashMap<IntegrationId, IntegrationRecord>,
    audit: HashMap<IntegrationId, Vec<AuditEvent>>,
    credentials: HashMap<IntegrationId, SealedCredentials>,
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
}

/// A [`Store`] kept in memory: every call is atomic under one lock. For tests, examples and
/// programs that keep nothing between runs.
#[derive(Debug, Default)]
pub struct MemoryStore {
    inner: Mutex<Inner>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
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
        let mut all: Vec<_> = self.lock().integrations.values().cloned().collect();
        all.sort_by_key(|r| r.id);
        Ok(all)
    }

    async fn update_integration(
        &self,
        record: &IntegrationRecord,
        audit: &[AuditEvent],
    ) -> Result<u64, StoreError> {
        let mut s = self.lock();
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
        s.audit
            .entry(record.id)
            .or_default()
            .extend_from_slice(audit);
        Ok(v)
    }

    async fn audit_log(&self, id: IntegrationId) -> Result<Vec<AuditEvent>, StoreError> {
        Ok(self.lock().audit.get(&id).cloned().unwrap_or_default())
    }

    async fn put_credentials(
        &self,
        id: IntegrationId,
        sealed: &SealedCredentials,
    ) -> Result<(), StoreError> {
        self.lock().credentials.insert(id, sealed.clone());
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
        lease_until: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<OutboxEntry>, StoreError> {
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
                    && e.lease.as_ref().is_none_or(|l| l.until <= now)
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
}
