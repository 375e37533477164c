//! Fault injection: random failures of the channel and of the store between any two steps,
//! operations re-run until they succeed. Every channel order must be imported exactly once,
//! every shipment, refund and cancellation sent exactly once, and no cursor may skip an order.
//! Also: overlapping runs of the same import import each order once.

mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use common::*;
use marketsync_core::channel::Cursor;
use marketsync_core::memory::FailureRule;
use marketsync_core::store::{
    IntegrationRecord, LedgerEntry, LedgerFilter, OrderBatch, OutboxEntry, OutboxItem,
    OutboxUpdate, RecordedOrder, SightingOutcome,
};
use marketsync_core::{
    AdjustmentReason, AuditEvent, Cancellation, ChannelKind, ChannelOrderId, Currency, Engine,
    ErrorKind, Feature, IdempotencyKey, IntegrationId, IntegrationSettings, Listing, MappingSet,
    MemoryCatalog, MemoryChannel, MemoryNotifier, MemoryStore, Operation, OrderOutcome, Refund,
    SealedCredentials, Shipment, Sku, Store, StoreError,
};

/// A small deterministic generator (xorshift64*), so every run of a seed is the same.
#[derive(Debug)]
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

/// A store that fails at random, before or after the inner store commits (a commit whose answer
/// is lost, as in a crash). Counts committed `Imported` sightings per order independently.
#[derive(Debug)]
struct FaultyStore {
    inner: MemoryStore,
    armed: AtomicBool,
    rng: Mutex<Rng>,
    failures: AtomicU64,
    imported: Mutex<HashMap<ChannelOrderId, u32>>,
}

enum Fault {
    None,
    Before,
    After,
}

impl FaultyStore {
    /// Leases lapse by `lease_clock` (the test's clock), so advancing it lets a claim left by
    /// a lost answer lapse without waiting.
    fn new(seed: u64, lease_clock: Arc<marketsync_core::ManualClock>) -> Self {
        Self {
            inner: MemoryStore::with_lease_clock(lease_clock),
            armed: AtomicBool::new(false),
            rng: Mutex::new(Rng(seed | 1)),
            failures: AtomicU64::new(0),
            imported: Mutex::new(HashMap::new()),
        }
    }

    fn fault(&self) -> Fault {
        if !self.armed.load(Ordering::SeqCst) {
            return Fault::None;
        }
        let mut r = self.rng.lock().unwrap();
        if r.chance(12) {
            self.failures.fetch_add(1, Ordering::SeqCst);
            if r.chance(50) {
                Fault::Before
            } else {
                Fault::After
            }
        } else {
            Fault::None
        }
    }

    fn err() -> StoreError {
        StoreError::backend("injected store failure")
    }
}

macro_rules! faulty {
    ($self:ident, $call:expr) => {{
        match $self.fault() {
            Fault::Before => Err(Self::err()),
            Fault::After => {
                let _ = $call.await;
                Err(Self::err())
            }
            Fault::None => $call.await,
        }
    }};
}

#[async_trait]
impl Store for FaultyStore {
    async fn insert_integration(
        &self,
        r: &IntegrationRecord,
        a: &[AuditEvent],
    ) -> Result<(), StoreError> {
        faulty!(self, self.inner.insert_integration(r, a))
    }
    async fn integration(
        &self,
        id: IntegrationId,
    ) -> Result<Option<IntegrationRecord>, StoreError> {
        faulty!(self, self.inner.integration(id))
    }
    async fn integrations(&self) -> Result<Vec<IntegrationRecord>, StoreError> {
        faulty!(self, self.inner.integrations())
    }
    async fn update_integration(
        &self,
        r: &IntegrationRecord,
        a: &[AuditEvent],
    ) -> Result<u64, StoreError> {
        faulty!(self, self.inner.update_integration(r, a))
    }
    async fn update_integration_notifying(
        &self,
        r: &IntegrationRecord,
        a: &[AuditEvent],
        n: &[marketsync_core::store::NewNotification],
    ) -> Result<u64, StoreError> {
        faulty!(self, self.inner.update_integration_notifying(r, a, n))
    }
    async fn notification(
        &self,
        id: &str,
    ) -> Result<Option<marketsync_core::store::StoredNotification>, StoreError> {
        self.inner.notification(id).await
    }
    async fn audit_log(&self, id: IntegrationId) -> Result<Vec<AuditEvent>, StoreError> {
        faulty!(self, self.inner.audit_log(id))
    }
    async fn put_credentials(
        &self,
        id: IntegrationId,
        s: &SealedCredentials,
    ) -> Result<(), StoreError> {
        faulty!(self, self.inner.put_credentials(id, s))
    }
    async fn credentials(
        &self,
        id: IntegrationId,
    ) -> Result<Option<SealedCredentials>, StoreError> {
        faulty!(self, self.inner.credentials(id))
    }
    async fn put_mappings(&self, id: IntegrationId, m: &MappingSet) -> Result<(), StoreError> {
        faulty!(self, self.inner.put_mappings(id, m))
    }
    async fn mappings(&self, id: IntegrationId) -> Result<MappingSet, StoreError> {
        faulty!(self, self.inner.mappings(id))
    }
    async fn mappings_versioned(
        &self,
        id: IntegrationId,
    ) -> Result<marketsync_core::VersionedMappings, StoreError> {
        faulty!(self, self.inner.mappings_versioned(id))
    }
    async fn replace_mappings(
        &self,
        id: IntegrationId,
        m: &MappingSet,
        v: u64,
        a: &[AuditEvent],
    ) -> Result<u64, StoreError> {
        faulty!(self, self.inner.replace_mappings(id, m, v, a))
    }
    async fn put_listing(&self, l: &Listing) -> Result<(), StoreError> {
        faulty!(self, self.inner.put_listing(l))
    }
    async fn remove_listing(&self, id: IntegrationId, s: &Sku) -> Result<(), StoreError> {
        faulty!(self, self.inner.remove_listing(id, s))
    }
    async fn listings(&self, id: IntegrationId) -> Result<Vec<Listing>, StoreError> {
        faulty!(self, self.inner.listings(id))
    }
    async fn record_orders(
        &self,
        id: IntegrationId,
        b: &OrderBatch,
    ) -> Result<Vec<RecordedOrder>, StoreError> {
        let fault = self.fault();
        if let Fault::Before = fault {
            return Err(Self::err());
        }
        let recorded = self.inner.record_orders(id, b).await?;
        {
            let mut counts = self.imported.lock().unwrap();
            for r in &recorded {
                if r.outcome == SightingOutcome::Imported {
                    *counts.entry(r.channel_order_id.clone()).or_default() += 1;
                }
            }
        }
        match fault {
            Fault::After => Err(Self::err()),
            _ => Ok(recorded),
        }
    }
    async fn ledger_entry(
        &self,
        id: IntegrationId,
        o: &ChannelOrderId,
    ) -> Result<Option<LedgerEntry>, StoreError> {
        faulty!(self, self.inner.ledger_entry(id, o))
    }
    async fn ledger(
        &self,
        id: IntegrationId,
        f: LedgerFilter,
    ) -> Result<Vec<LedgerEntry>, StoreError> {
        faulty!(self, self.inner.ledger(id, f))
    }
    async fn cursor(&self, id: IntegrationId) -> Result<Option<Cursor>, StoreError> {
        faulty!(self, self.inner.cursor(id))
    }
    async fn enqueue_outbox(&self, i: &OutboxItem) -> Result<OutboxEntry, StoreError> {
        faulty!(self, self.inner.enqueue_outbox(i))
    }
    async fn claim_outbox(
        &self,
        id: IntegrationId,
        now: DateTime<Utc>,
        lease_for: std::time::Duration,
        limit: usize,
    ) -> Result<Vec<OutboxEntry>, StoreError> {
        faulty!(self, self.inner.claim_outbox(id, now, lease_for, limit))
    }
    async fn finish_outbox(
        &self,
        id: IntegrationId,
        k: &IdempotencyKey,
        t: &str,
        u: &OutboxUpdate,
    ) -> Result<(), StoreError> {
        faulty!(self, self.inner.finish_outbox(id, k, t, u))
    }
    async fn outbox(&self, id: IntegrationId) -> Result<Vec<OutboxEntry>, StoreError> {
        faulty!(self, self.inner.outbox(id))
    }
    async fn credentials_versioned(
        &self,
        id: IntegrationId,
    ) -> Result<Option<marketsync_core::store::VersionedCredentials>, StoreError> {
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
        worker: &marketsync_core::store::WorkerId,
        now: chrono::DateTime<chrono::Utc>,
        lease_for: std::time::Duration,
        limit: usize,
    ) -> Result<Vec<marketsync_core::store::WorkClaim>, StoreError> {
        self.inner.claim_work(worker, now, lease_for, limit).await
    }
    async fn renew_work(
        &self,
        integration: IntegrationId,
        worker: &marketsync_core::store::WorkerId,
        lease_for: std::time::Duration,
    ) -> Result<(), StoreError> {
        self.inner.renew_work(integration, worker, lease_for).await
    }
    async fn record_run(
        &self,
        integration: IntegrationId,
        worker: &marketsync_core::store::WorkerId,
        operation: &str,
        times: &marketsync_core::store::RunTimes,
    ) -> Result<(), StoreError> {
        self.inner
            .record_run(integration, worker, operation, times)
            .await
    }
    async fn release_work(
        &self,
        integration: IntegrationId,
        worker: &marketsync_core::store::WorkerId,
        next_due: chrono::DateTime<chrono::Utc>,
    ) -> Result<(), StoreError> {
        self.inner.release_work(integration, worker, next_due).await
    }
    async fn claim_deliveries(
        &self,
        transport: &str,
        now: chrono::DateTime<chrono::Utc>,
        lease_for: std::time::Duration,
        limit: usize,
    ) -> Result<Vec<marketsync_core::store::NotificationDelivery>, StoreError> {
        self.inner
            .claim_deliveries(transport, now, lease_for, limit)
            .await
    }
    async fn finish_delivery(
        &self,
        notification: &str,
        transport: &str,
        lease_token: &str,
        update: &marketsync_core::store::DeliveryUpdate,
    ) -> Result<(), StoreError> {
        self.inner
            .finish_delivery(notification, transport, lease_token, update)
            .await
    }
    async fn deliveries(
        &self,
        query: &marketsync_core::store::DeliveryQuery,
        page: &marketsync_core::store::PageRequest,
    ) -> Result<
        marketsync_core::store::Page<marketsync_core::store::NotificationDelivery>,
        StoreError,
    > {
        self.inner.deliveries(query, page).await
    }
    async fn messages(
        &self,
        query: &marketsync_core::store::MessageQuery,
        page: &marketsync_core::store::PageRequest,
    ) -> Result<marketsync_core::store::Page<marketsync_core::store::StoredNotification>, StoreError>
    {
        self.inner.messages(query, page).await
    }
    async fn mark_read(
        &self,
        mark: &marketsync_core::store::MarkRead,
        at: chrono::DateTime<chrono::Utc>,
    ) -> Result<usize, StoreError> {
        self.inner.mark_read(mark, at).await
    }
    async fn pending_stock_events(
        &self,
        limit: usize,
    ) -> Result<Vec<marketsync_core::store::StockEvent>, StoreError> {
        faulty!(self, self.inner.pending_stock_events(limit))
    }
    async fn finish_stock_events(
        &self,
        seqs: &[u64],
        propagate: &[marketsync_core::store::PendingSku],
    ) -> Result<(), StoreError> {
        faulty!(self, self.inner.finish_stock_events(seqs, propagate))
    }
    async fn pending_skus(
        &self,
        id: IntegrationId,
        limit: usize,
    ) -> Result<Vec<marketsync_core::store::PendingSku>, StoreError> {
        faulty!(self, self.inner.pending_skus(id, limit))
    }
    async fn integrations_with_pending_skus(
        &self,
        limit: usize,
    ) -> Result<Vec<IntegrationId>, StoreError> {
        faulty!(self, self.inner.integrations_with_pending_skus(limit))
    }
    async fn finish_propagation(
        &self,
        id: IntegrationId,
        done: &[(Sku, u64)],
    ) -> Result<(), StoreError> {
        faulty!(self, self.inner.finish_propagation(id, done))
    }
    async fn listings_for_skus(&self, skus: &[Sku]) -> Result<Vec<Listing>, StoreError> {
        faulty!(self, self.inner.listings_for_skus(skus))
    }
}

async fn setup(
    store: Arc<FaultyStore>,
    channel: MemoryChannel,
    clock: Arc<marketsync_core::ManualClock>,
) -> (Arc<Engine>, IntegrationId, Arc<MemoryCatalog>) {
    let catalog = Arc::new(MemoryCatalog::new());
    for s in ["A", "B", "C"] {
        catalog.upsert(item(s, "10", 5, true));
    }
    let engine = Arc::new(
        Engine::new(
            store.clone(),
            catalog.clone(),
            Arc::new(MemoryNotifier::new()),
            clock,
        )
        .with_credential_key(key()),
    );
    let id = engine
        .create_integration(
            "chaos",
            Arc::new(channel),
            IntegrationSettings::new(ChannelKind::Reverb, Currency::USD),
            seller(),
        )
        .await
        .unwrap();
    activate(&engine, id, &[Feature::Orders]).await;
    (engine, id, catalog)
}

/// Runs `op` until it succeeds, advancing the clock between attempts (so outbox retries fall
/// due); at most `limit` attempts.
macro_rules! until_ok {
    ($clock:expr, $limit:expr, $op:expr) => {{
        let mut n = 0;
        loop {
            n += 1;
            match $op.await {
                Ok(v) => break v,
                Err(e) if n < $limit => {
                    let _ = e;
                    $clock.advance(days(1));
                }
                Err(e) => panic!("still failing after {n} attempts: {e}"),
            }
        }
    }};
}

fn inject_channel_fault(rng: &mut Rng, channel: &MemoryChannel) {
    const OPS: [Operation; 5] = [
        Operation::FetchOrders,
        Operation::Ship,
        Operation::Refund,
        Operation::Cancel,
        Operation::Verify,
    ];
    if rng.chance(35) {
        let op = OPS[(rng.next() % OPS.len() as u64) as usize];
        let kind = if rng.chance(70) {
            ErrorKind::Transient
        } else {
            ErrorKind::RateLimited
        };
        channel.add_failure(FailureRule {
            operation: op,
            on_call: None,
            times: 1 + (rng.next() % 2) as u32,
            kind,
            after_applying: rng.chance(50),
        });
    }
}

async fn chaos_run(seed: u64) {
    let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    let clock = Arc::new(marketsync_core::ManualClock::new(t0()));
    let store = Arc::new(FaultyStore::new(seed, clock.clone()));
    let channel = MemoryChannel::new(ChannelKind::Reverb)
        .with_capabilities(reverb_caps())
        .with_page_size(3)
        .with_clock(clock.clone());
    let (engine, id, _catalog) = setup(store.clone(), channel.clone(), clock.clone()).await;
    store.armed.store(true, Ordering::SeqCst);

    let mut total = 0usize;
    for round in 0..6 {
        let fresh = 1 + (rng.next() % 6) as usize;
        for _ in 0..fresh {
            total += 1;
            let skus = ["A", "B", "C"];
            let n = 1 + (rng.next() % 3) as usize;
            channel.add_order(order(
                &format!("O{total}"),
                clock_now(&clock),
                &skus[..n],
                "Std",
            ));
        }
        // Orders edited outside come round again.
        if total > 2 && rng.chance(50) {
            let o = oid(&format!("O{}", 1 + rng.next() % total as u64));
            channel.edit_order_outside(&o, |o| o.updated_at = Some(t0()));
        }
        inject_channel_fault(&mut rng, &channel);
        until_ok!(clock, 200, engine.import_orders(id));
        // Ship, refund or cancel every imported order, once each (a fixed key per order and action,
        // as a host that retries its own call after a crash would use).
        for i in 1..=total {
            let o = oid(&format!("O{i}"));
            let action = i % 3;
            let key = IdempotencyKey::new(format!("act-{i}-{action}")).unwrap();
            if store
                .inner
                .ledger_entry(id, &o)
                .await
                .unwrap()
                .map(|e| e.outcome)
                != Some(OrderOutcome::Imported)
            {
                continue;
            }
            match action {
                0 => until_ok!(
                    clock,
                    200,
                    engine.ship(
                        id,
                        &o,
                        Shipment {
                            carrier: Some("UPS".into()),
                            method: None,
                            tracking_number: Some(format!("T{i}")),
                            shipped_at: t0(),
                            lines: vec![],
                            delivery: Default::default()
                        },
                        Some(key.clone())
                    )
                ),
                1 => until_ok!(
                    clock,
                    200,
                    engine.refund(
                        id,
                        &o,
                        Refund {
                            amount: None,
                            lines: vec![],
                            reason: AdjustmentReason::GeneralAdjustment,
                            restock: false,
                            note: None
                        },
                        Some(key.clone())
                    )
                ),
                _ => until_ok!(
                    clock,
                    200,
                    engine.cancel(
                        id,
                        &o,
                        Cancellation {
                            lines: vec![],
                            reason: AdjustmentReason::BuyerCancelled
                        },
                        Some(key.clone())
                    )
                ),
            };
        }
        inject_channel_fault(&mut rng, &channel);
        until_ok!(clock, 200, engine.sync_orders(id));
        let _ = round;
    }

    // Calm: no more faults; finish everything.
    store.armed.store(false, Ordering::SeqCst);
    channel.clear_failures();
    clock.advance(days(2));
    engine.import_orders(id).await.unwrap();
    for _ in 0..5 {
        engine.sync_orders(id).await.unwrap();
        clock.advance(days(1));
    }

    // Every channel order imported exactly once; none skipped by a cursor.
    let counts = store.imported.lock().unwrap().clone();
    for i in 1..=total {
        let o = oid(&format!("O{i}"));
        assert_eq!(
            counts.get(&o),
            Some(&1),
            "seed {seed}: order {o} imported {:?} times",
            counts.get(&o)
        );
        let e = store.inner.ledger_entry(id, &o).await.unwrap().unwrap();
        assert_eq!(e.outcome, OrderOutcome::Imported, "seed {seed}: {o}");
    }
    assert_eq!(counts.len(), total, "seed {seed}");
    // Every action received by the channel exactly once.
    let mut received: HashMap<(String, ChannelOrderId), usize> = HashMap::new();
    for s in channel.shipments() {
        *received.entry(("ship".into(), s.order_id)).or_default() += 1;
    }
    for r in channel.refunds() {
        *received.entry(("refund".into(), r.order_id)).or_default() += 1;
    }
    for c in channel.cancellations() {
        *received.entry(("cancel".into(), c.order_id)).or_default() += 1;
    }
    assert_eq!(
        received.len(),
        total,
        "seed {seed}: every order got its one action: {received:?}"
    );
    assert!(
        received.values().all(|n| *n == 1),
        "seed {seed}: {received:?}"
    );
    let outbox = store.inner.outbox(id).await.unwrap();
    assert_eq!(
        outbox.len(),
        total,
        "seed {seed}: one outbox entry per action"
    );
    assert!(
        outbox
            .iter()
            .all(|e| matches!(e.state, marketsync_core::store::OutboxState::Sent { .. })),
        "seed {seed}: {outbox:?}"
    );
    assert!(
        store.failures.load(Ordering::SeqCst) > 0,
        "seed {seed}: the store never failed"
    );
}

fn clock_now(clock: &marketsync_core::ManualClock) -> DateTime<Utc> {
    use marketsync_core::Clock;
    clock.now()
}

#[tokio::test]
async fn random_channel_and_store_failures_never_duplicate_or_lose_anything() {
    for seed in 1..=40 {
        chaos_run(seed).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn overlapping_runs_of_the_same_import_import_each_order_once() {
    for round in 0..20u64 {
        let clock = Arc::new(marketsync_core::ManualClock::new(t0()));
        let store = Arc::new(FaultyStore::new(round, clock.clone()));
        let channel = MemoryChannel::new(ChannelKind::Reverb)
            .with_capabilities(reverb_caps())
            .with_page_size(2)
            .with_clock(clock.clone());
        let (engine, id, catalog) = setup(store.clone(), channel.clone(), clock.clone()).await;
        for i in 0..25 {
            channel.add_order(order(&format!("O{i}"), t0(), &["A"], "Std"));
        }
        // A second engine over the same store stands in for a second process.
        let other = Arc::new(
            Engine::new(
                store.clone(),
                catalog,
                Arc::new(MemoryNotifier::new()),
                clock.clone(),
            )
            .with_credential_key(key()),
        );
        other.register_channel(id, Arc::new(channel.clone()));
        let mut tasks = tokio::task::JoinSet::new();
        for k in 0..4 {
            let e = if k % 2 == 0 {
                engine.clone()
            } else {
                other.clone()
            };
            tasks.spawn(async move { e.import_orders(id).await.map(|r| r.imported.len()) });
        }
        let mut reported = 0;
        while let Some(r) = tasks.join_next().await {
            reported += r.unwrap().unwrap();
        }
        let counts = store.imported.lock().unwrap().clone();
        assert_eq!(counts.len(), 25, "round {round}");
        assert!(
            counts.values().all(|n| *n == 1),
            "round {round}: {counts:?}"
        );
        assert_eq!(
            reported, 25,
            "round {round}: the runs' reports add up to each order once"
        );
    }
}
