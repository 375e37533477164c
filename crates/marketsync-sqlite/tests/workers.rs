//! Several schedulers (workers) over one SQLite file, each through its own pool as separate
//! processes would: each due run is done once and never two at once, whatever the workers'
//! clocks say (lease expiry is the database's clock), every order is imported once, and a killed
//! worker's integration is taken over once its lease lapses.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use chrono::TimeDelta;
use common::{TempDb, order, ready_integration, t0};
use marketsync_core::channel::{OrderPage, OrderQuery};
use marketsync_core::engine::scheduler::RunRecord;
use marketsync_core::store::{OrderOutcome, SightingOutcome, WorkerId};
use marketsync_core::{
    Capabilities, Channel, ChannelError, ChannelKind, CredentialKey, Engine, IntegrationId,
    ManualClock, MemoryCatalog, MemoryChannel, MemoryNotifier, Money, Operation,
    ScheduledOperation, Scheduler, Store,
};
use marketsync_sqlite::SqliteStore;
use marketsync_testkit::intercept::{Intercept, Intercepted};
use tokio::sync::Semaphore;

/// Counts how many order downloads of one integration run at once; optionally waits at a gate.
#[derive(Debug, Default)]
struct Counts {
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
}

#[derive(Debug)]
struct Probe {
    counts: Arc<Counts>,
    gate: Option<Arc<Semaphore>>,
}

/// Counts a call out when dropped (a killed worker's call is dropped where it waits).
struct Leave<'a>(&'a AtomicUsize);

impl Drop for Leave<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

#[async_trait]
impl Intercept for Probe {
    async fn fetch_orders(
        &self,
        inner: &dyn Channel,
        q: &OrderQuery,
    ) -> Result<OrderPage, ChannelError> {
        let now = self.counts.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.counts.max_in_flight.fetch_max(now, Ordering::SeqCst);
        let _out = Leave(&self.counts.in_flight);
        if let Some(gate) = &self.gate {
            drop(gate.acquire().await);
        }
        for _ in 0..5 {
            tokio::task::yield_now().await;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
        inner.fetch_orders(q).await
    }
}

fn usd() -> Money {
    Money::parse("10.00", "USD").unwrap()
}

struct Shop {
    id: IntegrationId,
    channel: MemoryChannel,
    counts: Arc<Counts>,
}

/// Workers over one database file: one pool (a `SqliteStore` opened on its own) and one engine
/// per clock.
struct Workers {
    _db: TempDb,
    stores: Vec<Arc<SqliteStore>>,
    engines: Vec<Arc<Engine>>,
}

impl Workers {
    async fn new(label: &str, clocks: &[Arc<ManualClock>]) -> Self {
        let db = TempDb::new(label);
        let catalog = Arc::new(MemoryCatalog::new());
        catalog.upsert(marketsync_core::InventoryItem {
            stock_version: None,
            sku: marketsync_core::Sku::new("SKU-1").unwrap(),
            title: "thing".into(),
            price: usd(),
            quantity: 500,
            labels: Default::default(),
        });
        let mut stores = Vec::new();
        let mut engines = Vec::new();
        for clock in clocks {
            let store = Arc::new(SqliteStore::open(db.path()).await.unwrap());
            engines.push(Arc::new(
                Engine::new(
                    store.clone(),
                    catalog.clone(),
                    Arc::new(MemoryNotifier::new()),
                    clock.clone(),
                )
                .with_credential_key(CredentialKey::new("k", [1; 32])),
            ));
            stores.push(store);
        }
        Self {
            _db: db,
            stores,
            engines,
        }
    }

    /// An integration importing orders, its channel (counted, optionally gated) registered in
    /// every worker's engine.
    async fn shop(&self, gate: Option<Arc<Semaphore>>) -> Shop {
        let channel = MemoryChannel::new(ChannelKind::Reverb).with_capabilities(Capabilities {
            orders_acknowledge: false,
            ..Capabilities::all()
        });
        let id = ready_integration(&self.engines[0], channel.clone()).await;
        let counts = Arc::new(Counts::default());
        let probed: Arc<dyn Channel> = Arc::new(Intercepted::new(
            channel.clone(),
            Probe {
                counts: counts.clone(),
                gate,
            },
        ));
        for e in &self.engines {
            e.register_channel(id, probed.clone());
        }
        Shop {
            id,
            channel,
            counts,
        }
    }

    /// `per_engine` schedulers per engine, each its own worker.
    fn schedulers(&self, per_engine: usize) -> Vec<Scheduler> {
        let mut out = Vec::new();
        for (i, e) in self.engines.iter().enumerate() {
            for j in 0..per_engine {
                out.push(
                    Scheduler::new(e.clone(), 4)
                        .with_worker(WorkerId::from_stored(format!("worker-{i}-{j}")))
                        .with_claim_batch(2),
                );
            }
        }
        out
    }

    async fn close(self) {
        for s in &self.stores {
            s.close().await;
        }
    }
}

async fn finish(handles: Vec<tokio::task::JoinHandle<RunRecord>>) -> Vec<RunRecord> {
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.unwrap());
    }
    out
}

/// Every scheduler makes a pass at the same time; then all their runs are awaited.
async fn concurrent_passes(schedulers: &[Scheduler]) -> Vec<RunRecord> {
    let passes: Vec<_> = schedulers
        .iter()
        .map(|s| {
            let s = s.clone();
            tokio::spawn(async move { s.tick().await })
        })
        .collect();
    let mut runs = Vec::new();
    for p in passes {
        let p = p.await.unwrap().unwrap();
        assert!(p.failed.is_empty(), "{:?}", p.failed);
        runs.extend(finish(p.runs).await);
    }
    runs
}

fn count(runs: &[RunRecord], id: IntegrationId, op: ScheduledOperation) -> usize {
    runs.iter()
        .filter(|r| r.integration == id && r.operation == op)
        .count()
}

/// Each order of each shop is in the ledger, imported at exactly one sighting.
async fn imported_once(store: &SqliteStore, shop: &Shop, orders: &[String]) {
    for o in orders {
        let e = store
            .ledger_entry(shop.id, &marketsync_core::ChannelOrderId::new(o).unwrap())
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("{o} downloaded"));
        assert_eq!(e.outcome, OrderOutcome::Imported, "{o}");
        let imports = e
            .sightings
            .iter()
            .filter(|s| s.outcome == SightingOutcome::Imported)
            .count();
        assert_eq!(imports, 1, "{o} imported once");
    }
}

async fn each_due_run_once_with(per_pool: usize) {
    let clock = Arc::new(ManualClock::new(t0()));
    let w = Workers::new("workers", &[clock.clone(), clock.clone()]).await;
    let mut shops = Vec::new();
    for _ in 0..5 {
        shops.push(w.shop(None).await);
    }
    let schedulers = w.schedulers(per_pool);
    const WINDOWS: usize = 3;
    let mut runs = Vec::new();
    let mut orders = Vec::new();
    for window in 0..WINDOWS {
        let name = format!("W-{window}");
        for s in &shops {
            s.channel.add_order(order(&name, "SKU-1", usd()));
        }
        orders.push(name);
        for _ in 0..4 {
            runs.extend(concurrent_passes(&schedulers).await);
        }
        clock.advance(TimeDelta::minutes(10));
    }
    assert!(
        runs.iter().all(|r| r.result.is_ok()),
        "{:?}",
        runs.iter()
            .filter(|r| r.result.is_err())
            .collect::<Vec<_>>()
    );
    for s in &shops {
        assert_eq!(
            count(&runs, s.id, ScheduledOperation::ImportOrders),
            WINDOWS,
            "one import per window"
        );
        assert_eq!(count(&runs, s.id, ScheduledOperation::SyncOrders), WINDOWS);
        assert_eq!(count(&runs, s.id, ScheduledOperation::CheckCredentials), 1);
        assert_eq!(s.channel.calls(Operation::FetchOrders), WINDOWS as u64);
        assert_eq!(
            s.counts.max_in_flight.load(Ordering::SeqCst),
            1,
            "never two imports of one integration at once"
        );
        imported_once(&w.stores[1], s, &orders).await;
    }
    assert!(schedulers.iter().all(|s| s.held() == 0));
    w.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workers_on_two_pools_do_each_due_run_once_and_never_two_at_once() {
    each_due_run_once_with(1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_workers_on_two_pools_do_each_due_run_once_and_never_two_at_once() {
    each_due_run_once_with(2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workers_with_clocks_ten_minutes_apart_never_run_twice_at_once_nor_import_twice() {
    let ahead = Arc::new(ManualClock::new(t0() + TimeDelta::minutes(10)));
    let behind = Arc::new(ManualClock::new(t0() - TimeDelta::minutes(10)));
    let w = Workers::new("skew", &[ahead.clone(), behind.clone()]).await;
    let mut shops = Vec::new();
    for _ in 0..4 {
        shops.push(w.shop(None).await);
    }
    let schedulers = w.schedulers(1);
    let mut runs = Vec::new();
    let mut orders = Vec::new();
    for window in 0..4 {
        let name = format!("S-{window}");
        for s in &shops {
            s.channel.add_order(order(&name, "SKU-1", usd()));
        }
        orders.push(name);
        for _ in 0..4 {
            runs.extend(concurrent_passes(&schedulers).await);
        }
        ahead.advance(TimeDelta::minutes(10));
        behind.advance(TimeDelta::minutes(10));
    }
    assert!(runs.iter().all(|r| r.result.is_ok()));
    for s in &shops {
        assert_eq!(
            s.counts.max_in_flight.load(Ordering::SeqCst),
            1,
            "the lease keeps runs exclusive whatever the workers' clocks say"
        );
        imported_once(&w.stores[0], s, &orders).await;
    }
    w.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_worker_keeps_its_integration_until_the_lease_lapses_then_another_takes_over() {
    let clock = Arc::new(ManualClock::new(t0()));
    let w = Workers::new("kill", &[clock.clone(), clock]).await;
    let gate = Arc::new(Semaphore::new(0));
    let shop = w.shop(Some(gate.clone())).await;
    let lease = Duration::from_millis(1500);
    let doomed = Scheduler::new(w.engines[0].clone(), 4)
        .with_worker(WorkerId::from_stored("doomed"))
        .with_lease(lease);
    let survivor = Scheduler::new(w.engines[1].clone(), 4)
        .with_worker(WorkerId::from_stored("survivor"))
        .with_lease(lease);

    // The doomed worker runs on its own runtime, shut down mid-run: its tasks stop where they
    // are, nothing is released or renewed, as when the process is killed.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let d = doomed.clone();
    let p = rt
        .spawn(async move { d.tick().await })
        .await
        .unwrap()
        .unwrap();
    assert_eq!(p.claimed, 1);
    for _ in 0..2000 {
        if shop.counts.in_flight.load(Ordering::SeqCst) == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(shop.counts.in_flight.load(Ordering::SeqCst), 1);

    // Alive, the doomed worker renews its lease: over twice its length the survivor gets
    // nothing.
    for _ in 0..6 {
        assert_eq!(survivor.tick().await.unwrap().claimed, 0);
        tokio::time::sleep(lease / 2).await;
    }

    rt.shutdown_background();
    drop(p);
    gate.add_permits(1000);
    shop.channel.add_order(order("K-1", "SKU-1", usd()));

    let mut runs = Vec::new();
    for _ in 0..400 {
        let p = survivor.tick().await.unwrap();
        runs.extend(finish(p.runs).await);
        if count(&runs, shop.id, ScheduledOperation::ImportOrders) > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(count(&runs, shop.id, ScheduledOperation::ImportOrders), 1);
    assert!(runs.iter().all(|r| r.result.is_ok()), "{runs:?}");
    assert_eq!(shop.counts.max_in_flight.load(Ordering::SeqCst), 1);
    imported_once(&w.stores[1], &shop, &["K-1".to_owned()]).await;
    w.close().await;
}
