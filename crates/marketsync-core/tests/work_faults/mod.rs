//! A store for the scheduler's tests: a [`MemoryStore`] whose work-lease calls can be made to
//! fail, and which records them with the (tokio) time they were made, so that tests can see
//! when the scheduler renewed, what it recorded and what it released.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use marketsync_core::channel::Cursor;
use marketsync_core::store::{
    DeliveryQuery, DeliveryUpdate, IntegrationRecord, LedgerEntry, LedgerFilter, MarkRead,
    MessageQuery, NewNotification, NotificationDelivery, OrderBatch, OutboxEntry, OutboxItem,
    OutboxUpdate, Page, PageRequest, RecordedOrder, RunTimes, StoredNotification,
    VersionedCredentials, VersionedMappings, WorkClaim, WorkerId,
};
use marketsync_core::{
    AuditEvent, ChannelOrderId, IdempotencyKey, IntegrationId, Listing, MappingSet, MemoryStore,
    SealedCredentials, Sku, Store, StoreError,
};
use tokio::time::Instant;

/// One work-lease call the scheduler made.
#[derive(Clone, Debug)]
pub enum WorkCall {
    /// `claim_work`, with the integrations it handed out.
    Claim(Vec<IntegrationId>),
    /// `renew_work`, and whether it succeeded.
    Renew(IntegrationId, bool),
    /// `record_run`.
    Record(IntegrationId, String, RunTimes),
    /// `release_work`.
    Release(IntegrationId),
}

/// A [`MemoryStore`] recording its work-lease calls, whose renewals can be made to fail.
#[derive(Debug, Default)]
pub struct WorkFaults {
    /// The store.
    pub inner: MemoryStore,
    /// How many of the next `renew_work` calls fail (with a passing backend error).
    pub renew_failures: AtomicUsize,
    /// Every `renew_work` call fails while set.
    pub renew_down: AtomicBool,
    /// The calls, with the (tokio) time each was made.
    pub calls: Mutex<VecDeque<(Instant, WorkCall)>>,
}

impl WorkFaults {
    /// Over `inner`.
    pub fn new(inner: MemoryStore) -> Self {
        Self {
            inner,
            ..Self::default()
        }
    }

    fn log(&self, at: Instant, call: WorkCall) {
        self.calls.lock().unwrap().push_back((at, call));
    }

    /// The calls so far.
    pub fn calls(&self) -> Vec<(Instant, WorkCall)> {
        self.calls.lock().unwrap().iter().cloned().collect()
    }

    fn renew_fails(&self) -> bool {
        self.renew_down.load(Ordering::SeqCst)
            || self
                .renew_failures
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok()
    }
}

#[async_trait]
impl Store for WorkFaults {
    async fn insert_integration(
        &self,
        record: &IntegrationRecord,
        audit: &[AuditEvent],
    ) -> Result<(), StoreError> {
        self.inner.insert_integration(record, audit).await
    }
    async fn integration(
        &self,
        id: IntegrationId,
    ) -> Result<Option<IntegrationRecord>, StoreError> {
        self.inner.integration(id).await
    }
    async fn integrations(&self) -> Result<Vec<IntegrationRecord>, StoreError> {
        self.inner.integrations().await
    }
    async fn update_integration(
        &self,
        record: &IntegrationRecord,
        audit: &[AuditEvent],
    ) -> Result<u64, StoreError> {
        self.inner.update_integration(record, audit).await
    }
    async fn audit_log(&self, id: IntegrationId) -> Result<Vec<AuditEvent>, StoreError> {
        self.inner.audit_log(id).await
    }
    async fn put_credentials(
        &self,
        id: IntegrationId,
        sealed: &SealedCredentials,
    ) -> Result<(), StoreError> {
        self.inner.put_credentials(id, sealed).await
    }
    async fn credentials(
        &self,
        id: IntegrationId,
    ) -> Result<Option<SealedCredentials>, StoreError> {
        self.inner.credentials(id).await
    }
    async fn put_mappings(
        &self,
        id: IntegrationId,
        mappings: &MappingSet,
    ) -> Result<(), StoreError> {
        self.inner.put_mappings(id, mappings).await
    }
    async fn mappings(&self, id: IntegrationId) -> Result<MappingSet, StoreError> {
        self.inner.mappings(id).await
    }
    async fn mappings_versioned(&self, id: IntegrationId) -> Result<VersionedMappings, StoreError> {
        self.inner.mappings_versioned(id).await
    }
    async fn replace_mappings(
        &self,
        id: IntegrationId,
        mappings: &MappingSet,
        expected_version: u64,
        audit: &[AuditEvent],
    ) -> Result<u64, StoreError> {
        self.inner
            .replace_mappings(id, mappings, expected_version, audit)
            .await
    }
    async fn put_listing(&self, listing: &Listing) -> Result<(), StoreError> {
        self.inner.put_listing(listing).await
    }
    async fn put_listings(&self, listings: &[Listing]) -> Result<(), StoreError> {
        self.inner.put_listings(listings).await
    }
    async fn remove_listing(&self, id: IntegrationId, sku: &Sku) -> Result<(), StoreError> {
        self.inner.remove_listing(id, sku).await
    }
    async fn listings(&self, id: IntegrationId) -> Result<Vec<Listing>, StoreError> {
        self.inner.listings(id).await
    }
    async fn record_orders(
        &self,
        id: IntegrationId,
        batch: &OrderBatch,
    ) -> Result<Vec<RecordedOrder>, StoreError> {
        self.inner.record_orders(id, batch).await
    }
    async fn ledger_entry(
        &self,
        id: IntegrationId,
        order: &ChannelOrderId,
    ) -> Result<Option<LedgerEntry>, StoreError> {
        self.inner.ledger_entry(id, order).await
    }
    async fn ledger(
        &self,
        id: IntegrationId,
        filter: LedgerFilter,
    ) -> Result<Vec<LedgerEntry>, StoreError> {
        self.inner.ledger(id, filter).await
    }
    async fn cursor(&self, id: IntegrationId) -> Result<Option<Cursor>, StoreError> {
        self.inner.cursor(id).await
    }
    async fn enqueue_outbox(&self, item: &OutboxItem) -> Result<OutboxEntry, StoreError> {
        self.inner.enqueue_outbox(item).await
    }
    async fn claim_outbox(
        &self,
        id: IntegrationId,
        now: DateTime<Utc>,
        lease_for: std::time::Duration,
        limit: usize,
    ) -> Result<Vec<OutboxEntry>, StoreError> {
        self.inner.claim_outbox(id, now, lease_for, limit).await
    }
    async fn finish_outbox(
        &self,
        id: IntegrationId,
        key: &IdempotencyKey,
        lease_token: &str,
        update: &OutboxUpdate,
    ) -> Result<(), StoreError> {
        self.inner.finish_outbox(id, key, lease_token, update).await
    }
    async fn outbox(&self, id: IntegrationId) -> Result<Vec<OutboxEntry>, StoreError> {
        self.inner.outbox(id).await
    }
    async fn integrations_page(
        &self,
        page: &PageRequest,
    ) -> Result<Page<IntegrationRecord>, StoreError> {
        self.inner.integrations_page(page).await
    }
    async fn listings_page(
        &self,
        id: IntegrationId,
        page: &PageRequest,
    ) -> Result<Page<Listing>, StoreError> {
        self.inner.listings_page(id, page).await
    }
    async fn ledger_page(
        &self,
        id: IntegrationId,
        filter: LedgerFilter,
        page: &PageRequest,
    ) -> Result<Page<LedgerEntry>, StoreError> {
        self.inner.ledger_page(id, filter, page).await
    }
    async fn outbox_page(
        &self,
        id: IntegrationId,
        page: &PageRequest,
    ) -> Result<Page<OutboxEntry>, StoreError> {
        self.inner.outbox_page(id, page).await
    }
    async fn credentials_versioned(
        &self,
        id: IntegrationId,
    ) -> Result<Option<VersionedCredentials>, StoreError> {
        self.inner.credentials_versioned(id).await
    }
    async fn replace_credentials(
        &self,
        id: IntegrationId,
        sealed: &SealedCredentials,
        expected_version: u64,
    ) -> Result<u64, StoreError> {
        self.inner
            .replace_credentials(id, sealed, expected_version)
            .await
    }
    async fn try_lease(
        &self,
        name: &str,
        holder: &str,
        lease_for: std::time::Duration,
    ) -> Result<bool, StoreError> {
        self.inner.try_lease(name, holder, lease_for).await
    }
    async fn release_lease(&self, name: &str, holder: &str) -> Result<(), StoreError> {
        self.inner.release_lease(name, holder).await
    }
    async fn claim_work(
        &self,
        worker: &WorkerId,
        now: DateTime<Utc>,
        lease_for: std::time::Duration,
        limit: usize,
    ) -> Result<Vec<WorkClaim>, StoreError> {
        let at = Instant::now();
        let claims: Vec<WorkClaim> = self.inner.claim_work(worker, now, lease_for, limit).await?;
        self.log(
            at,
            WorkCall::Claim(claims.iter().map(|c| c.integration).collect()),
        );
        Ok(claims)
    }
    async fn renew_work(
        &self,
        integration: IntegrationId,
        worker: &WorkerId,
        lease_for: std::time::Duration,
    ) -> Result<(), StoreError> {
        let at = Instant::now();
        if self.renew_fails() {
            self.log(at, WorkCall::Renew(integration, false));
            return Err(StoreError::backend("injected: the database did not answer"));
        }
        let r = self.inner.renew_work(integration, worker, lease_for).await;
        self.log(at, WorkCall::Renew(integration, r.is_ok()));
        r
    }
    async fn record_run(
        &self,
        integration: IntegrationId,
        worker: &WorkerId,
        operation: &str,
        times: &RunTimes,
    ) -> Result<(), StoreError> {
        let at = Instant::now();
        let r = self
            .inner
            .record_run(integration, worker, operation, times)
            .await;
        if r.is_ok() {
            self.log(
                at,
                WorkCall::Record(integration, operation.to_owned(), *times),
            );
        }
        r
    }
    async fn release_work(
        &self,
        integration: IntegrationId,
        worker: &WorkerId,
        next_due: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let at = Instant::now();
        let r = self.inner.release_work(integration, worker, next_due).await;
        if r.is_ok() {
            self.log(at, WorkCall::Release(integration));
        }
        r
    }
    async fn update_integration_notifying(
        &self,
        record: &IntegrationRecord,
        audit: &[AuditEvent],
        notifications: &[NewNotification],
    ) -> Result<u64, StoreError> {
        self.inner
            .update_integration_notifying(record, audit, notifications)
            .await
    }
    async fn notification(&self, id: &str) -> Result<Option<StoredNotification>, StoreError> {
        self.inner.notification(id).await
    }
    async fn claim_deliveries(
        &self,
        transport: &str,
        now: DateTime<Utc>,
        lease_for: std::time::Duration,
        limit: usize,
    ) -> Result<Vec<NotificationDelivery>, StoreError> {
        self.inner
            .claim_deliveries(transport, now, lease_for, limit)
            .await
    }
    async fn finish_delivery(
        &self,
        notification: &str,
        transport: &str,
        lease_token: &str,
        update: &DeliveryUpdate,
    ) -> Result<(), StoreError> {
        self.inner
            .finish_delivery(notification, transport, lease_token, update)
            .await
    }
    async fn deliveries(
        &self,
        query: &DeliveryQuery,
        page: &PageRequest,
    ) -> Result<Page<NotificationDelivery>, StoreError> {
        self.inner.deliveries(query, page).await
    }
    async fn messages(
        &self,
        query: &MessageQuery,
        page: &PageRequest,
    ) -> Result<Page<StoredNotification>, StoreError> {
        self.inner.messages(query, page).await
    }
    async fn mark_read(&self, mark: &MarkRead, at: DateTime<Utc>) -> Result<usize, StoreError> {
        self.inner.mark_read(mark, at).await
    }
    async fn pending_stock_events(
        &self,
        limit: usize,
    ) -> Result<Vec<marketsync_core::store::StockEvent>, StoreError> {
        self.inner.pending_stock_events(limit).await
    }
    async fn finish_stock_events(
        &self,
        seqs: &[u64],
        propagate: &[marketsync_core::store::PendingSku],
    ) -> Result<(), StoreError> {
        self.inner.finish_stock_events(seqs, propagate).await
    }
    async fn pending_skus(
        &self,
        id: IntegrationId,
        limit: usize,
    ) -> Result<Vec<marketsync_core::store::PendingSku>, StoreError> {
        self.inner.pending_skus(id, limit).await
    }
    async fn integrations_with_pending_skus(
        &self,
        limit: usize,
    ) -> Result<Vec<IntegrationId>, StoreError> {
        self.inner.integrations_with_pending_skus(limit).await
    }
    async fn finish_propagation(
        &self,
        id: IntegrationId,
        done: &[(Sku, u64)],
    ) -> Result<(), StoreError> {
        self.inner.finish_propagation(id, done).await
    }
    async fn listings_for_skus(&self, skus: &[Sku]) -> Result<Vec<Listing>, StoreError> {
        self.inner.listings_for_skus(skus).await
    }
}
