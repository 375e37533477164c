//! The scheduler runs due operations, skips integrations that must not exchange data, never runs
//! one operation twice at once for an integration, keeps to its global limit, and a slow
//! integration never delays the others. Several schedulers (workers) over one store share the
//! work through its leases: each due run is done once, never two at once, whatever the workers'
//! clocks say; a killed worker's integrations are taken over once its lease lapses; shutdown
//! drains the runs in flight and releases the leases.

mod common;
mod work_faults;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use common::*;
use marketsync_core::channel::{OrderPage, OrderQuery};
use marketsync_core::engine::scheduler::{Report, RunRecord};
use marketsync_core::lifecycle::Event;
use marketsync_core::store::WorkerId;
use marketsync_core::{
    Channel, ChannelError, ChannelKind, Currency, Engine, Feature, IntegrationId,
    IntegrationSettings, MemoryCatalog, MemoryChannel, MemoryNotifier, MemoryStore, Operation,
    ScheduledOperation, Scheduler, Store,
};
use marketsync_testkit::intercept::{Intercept, Intercepted};
use tokio::sync::Semaphore;
use work_faults::{WorkCall, WorkFaults};

/// Order downloads that wait for a permit, counting how many are in flight.
#[derive(Debug)]
struct Gate {
    permits: Arc<Semaphore>,
    in_flight: Arc<AtomicUsize>,
    max_in_flight: Arc<AtomicUsize>,
}

/// Counts a call out of `in_flight` when dropped.
struct Leave<'a>(&'a AtomicUsize);

impl Drop for Leave<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

#[async_trait]
impl Intercept for Gate {
    async fn fetch_orders(
        &self,
        inner: &dyn Channel,
        q: &OrderQuery,
    ) -> Result<OrderPage, ChannelError> {
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_in_flight.fetch_max(now, Ordering::SeqCst);
        // Counted out when done or dropped (a killed worker's call is dropped where it waits).
        let _out = Leave(&self.in_flight);
        let permit = self.permits.acquire().await;
        drop(permit);
        inner.fetch_orders(q).await
    }
}

/// A MemoryChannel whose order downloads wait for a permit of `gate`, counting how many are in
/// flight.
fn gated(
    gate: Arc<Semaphore>,
    in_flight: Arc<AtomicUsize>,
    max: Arc<AtomicUsize>,
) -> Intercepted<Gate> {
    Intercepted::new(
        plain(),
        Gate {
            permits: gate,
            in_flight,
            max_in_flight: max,
        },
    )
}

struct Fleet {
    engine: Arc<Engine>,
    clock: Arc<marketsync_core::ManualClock>,
}

async fn active(fleet: &Fleet, channel: Arc<dyn Channel>) -> IntegrationId {
    let e = &fleet.engine;
    let id = e
        .create_integration(
            "x",
            channel,
            IntegrationSettings::new(ChannelKind::Reverb, Currency::USD),
            seller(),
        )
        .await
        .unwrap();
    activate(e, id, &[Feature::Orders]).await;
    id
}

fn fleet() -> Fleet {
    let clock = Arc::new(marketsync_core::ManualClock::new(t0()));
    let engine = Arc::new(
        Engine::new(
            Arc::new(MemoryStore::new()),
            Arc::new(MemoryCatalog::new()),
            Arc::new(MemoryNotifier::new()),
            clock.clone(),
        )
        .with_credential_key(key()),
    );
    Fleet { engine, clock }
}

fn plain() -> MemoryChannel {
    MemoryChannel::new(ChannelKind::Reverb).with_capabilities(reverb_caps())
}

async fn finish(handles: Vec<tokio::task::JoinHandle<RunRecord>>) -> Vec<RunRecord> {
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.unwrap());
    }
    out
}

/// One pass's runs, awaited.
async fn pass(s: &Scheduler) -> Vec<RunRecord> {
    let p = s.tick().await.unwrap();
    assert!(p.failed.is_empty(), "{:?}", p.failed);
    finish(p.runs).await
}

#[tokio::test]
async fn runs_due_operations_and_skips_disabled_broken_and_deleted_integrations() {
    let f = fleet();
    let healthy = active(&f, Arc::new(plain())).await;
    let disabled = active(&f, Arc::new(plain())).await;
    f.engine
        .apply(disabled, seller(), Event::Disable)
        .await
        .unwrap();
    let broken_channel = plain();
    let broken = active(&f, Arc::new(broken_channel.clone())).await;
    broken_channel.revoke_credentials("denied");
    assert!(f.engine.verify(broken, seller()).await.is_err());
    let deleted = active(&f, Arc::new(plain())).await;
    let plan = f.engine.plan_delete(deleted).await.unwrap();
    f.engine
        .delete(deleted, plan.confirm(), seller())
        .await
        .unwrap();
    let setup = f
        .engine
        .create_integration(
            "setup",
            Arc::new(plain()),
            IntegrationSettings::new(ChannelKind::Reverb, Currency::USD),
            seller(),
        )
        .await
        .unwrap();

    let s = Scheduler::new(f.engine.clone(), 4);
    let runs = pass(&s).await;
    let ran = |id: IntegrationId, op: ScheduledOperation| {
        runs.iter()
            .any(|r| r.integration == id && r.operation == op)
    };
    assert!(ran(healthy, ScheduledOperation::ImportOrders));
    assert!(ran(healthy, ScheduledOperation::SyncOrders));
    assert!(
        !ran(healthy, ScheduledOperation::SyncListings),
        "listings are off"
    );
    for id in [disabled, broken, setup] {
        assert!(
            !ran(id, ScheduledOperation::ImportOrders),
            "{id} must be skipped"
        );
        assert!(!ran(id, ScheduledOperation::SyncOrders));
    }
    assert!(
        runs.iter().all(|r| r.integration != deleted),
        "deleted integrations are never scheduled"
    );
    assert!(runs.iter().all(|r| r.result.is_ok()), "{runs:?}");

    // Nothing is due again until the frequency has passed.
    assert!(
        pass(&s)
            .await
            .iter()
            .all(|r| r.operation != ScheduledOperation::ImportOrders)
    );
    f.clock.advance(chrono::TimeDelta::minutes(10));
    let runs = pass(&s).await;
    assert!(
        runs.iter()
            .any(|r| r.integration == healthy && r.operation == ScheduledOperation::ImportOrders)
    );
}

/// Waits until the scheduler holds one integration only (the slow one): the fast one's runs
/// finished and it was released.
async fn only_slow_held(s: &Scheduler) {
    for _ in 0..2000 {
        if s.held() == 1 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(s.held(), 1, "the fast integration was released");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_integration_never_delays_the_others_nor_runs_twice_at_once() {
    let f = fleet();
    let gate = Arc::new(Semaphore::new(0));
    let in_flight = Arc::new(AtomicUsize::new(0));
    let max = Arc::new(AtomicUsize::new(0));
    let slow = active(
        &f,
        Arc::new(gated(gate.clone(), in_flight.clone(), max.clone())),
    )
    .await;
    let fast_channel = plain();
    let fast = active(&f, Arc::new(fast_channel.clone())).await;
    let s = Scheduler::new(f.engine.clone(), 8);

    let mut pending = s.tick().await.unwrap().runs;
    // Let the slow import reach the channel and block there.
    for _ in 0..2000 {
        if in_flight.load(Ordering::SeqCst) == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(in_flight.load(Ordering::SeqCst), 1);
    assert!(s.is_running(slow, ScheduledOperation::ImportOrders));
    only_slow_held(&s).await;

    // Several more passes, each after the frequency: the fast integration keeps importing, the
    // slow one is never started a second time (it stays with this worker, its lease renewed,
    // until its import finishes).
    for _ in 0..3 {
        f.clock.advance(chrono::TimeDelta::minutes(11));
        let started = s.tick().await.unwrap().runs;
        pending.extend(started);
        only_slow_held(&s).await;
        assert!(
            !s.is_running(fast, ScheduledOperation::ImportOrders),
            "the fast import finished"
        );
    }
    assert_eq!(
        fast_channel.calls(Operation::FetchOrders),
        4,
        "one import per pass for the fast one"
    );
    assert_eq!(
        max.load(Ordering::SeqCst),
        1,
        "the slow import never ran twice at once"
    );

    gate.add_permits(100);
    let runs = finish(pending).await;
    let slow_imports = runs
        .iter()
        .filter(|r| r.integration == slow && r.operation == ScheduledOperation::ImportOrders)
        .count();
    assert_eq!(slow_imports, 1);
    assert!(!s.is_running(slow, ScheduledOperation::ImportOrders));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_global_concurrency_limit_holds() {
    let f = fleet();
    let gate = Arc::new(Semaphore::new(0));
    let in_flight = Arc::new(AtomicUsize::new(0));
    let max = Arc::new(AtomicUsize::new(0));
    for _ in 0..5 {
        active(
            &f,
            Arc::new(gated(gate.clone(), in_flight.clone(), max.clone())),
        )
        .await;
    }
    let s = Scheduler::new(f.engine.clone(), 2);
    let pending = s.tick().await.unwrap().runs;
    for _ in 0..2000 {
        if in_flight.load(Ordering::SeqCst) == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(
        in_flight.load(Ordering::SeqCst),
        2,
        "two at once, the rest wait for a permit"
    );
    gate.add_permits(1000);
    let runs = finish(pending).await;
    assert!(runs.iter().all(|r| r.result.is_ok()));
    assert_eq!(max.load(Ordering::SeqCst), 2);
    assert_eq!(
        runs.iter()
            .filter(|r| r.operation == ScheduledOperation::ImportOrders)
            .count(),
        5
    );
}

// ----- several workers over one store -----

/// Order downloads that count how many run at once for one integration, yielding inside so
/// that overlapping runs would overlap.
#[derive(Debug, Default)]
struct Exclusive {
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
}

/// The intercept sharing an [`Exclusive`] with the test.
#[derive(Debug)]
struct Probe(Arc<Exclusive>);

#[async_trait]
impl Intercept for Probe {
    async fn fetch_orders(
        &self,
        inner: &dyn Channel,
        q: &OrderQuery,
    ) -> Result<OrderPage, ChannelError> {
        let now = self.0.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.0.max_in_flight.fetch_max(now, Ordering::SeqCst);
        for _ in 0..5 {
            tokio::task::yield_now().await;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
        let page = inner.fetch_orders(q).await;
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
        page
    }
}

/// Several workers (an engine each, with its own clock) over one store, catalogue and notifier.
struct Workers {
    store: Arc<MemoryStore>,
    engines: Vec<Arc<Engine>>,
}

/// One integration of [`Workers`]: its channel and its probe.
struct Shop {
    id: IntegrationId,
    channel: MemoryChannel,
    probe: Arc<Exclusive>,
}

impl Workers {
    fn new(clocks: &[Arc<marketsync_core::ManualClock>]) -> Self {
        let store = Arc::new(MemoryStore::new());
        let catalog = Arc::new(MemoryCatalog::new());
        catalog.upsert(item("A", "10.00", 100, true));
        let notifier = Arc::new(MemoryNotifier::new());
        let engines = clocks
            .iter()
            .map(|c| {
                Arc::new(
                    Engine::new(store.clone(), catalog.clone(), notifier.clone(), c.clone())
                        .with_credential_key(key()),
                )
            })
            .collect();
        Self { store, engines }
    }

    /// An integration with orders on, its channel registered in every worker's engine.
    async fn shop(&self, channel: MemoryChannel) -> Shop {
        let probe = Arc::new(Exclusive::default());
        let shared: Arc<dyn Channel> =
            Arc::new(Intercepted::new(channel.clone(), Probe(probe.clone())));
        let first = &self.engines[0];
        let id = first
            .create_integration(
                "shop",
                shared.clone(),
                IntegrationSettings::new(ChannelKind::Reverb, Currency::USD),
                seller(),
            )
            .await
            .unwrap();
        activate(first, id, &[Feature::Orders]).await;
        for e in &self.engines[1..] {
            e.register_channel(id, shared.clone());
        }
        Shop { id, channel, probe }
    }

    fn schedulers(&self) -> Vec<Scheduler> {
        self.engines
            .iter()
            .enumerate()
            .map(|(i, e)| {
                Scheduler::new(e.clone(), 4)
                    .with_worker(WorkerId::from_stored(format!("worker-{i}")))
                    .with_claim_batch(2)
            })
            .collect()
    }
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

/// `n` workers with one clock: over many concurrent passes, each due run is done exactly once
/// (by one worker), never two at once, and every order is imported once.
async fn each_due_run_once_with(n: usize) {
    let clock = Arc::new(marketsync_core::ManualClock::new(t0()));
    let w = Workers::new(&vec![clock.clone(); n]);
    let mut shops = Vec::new();
    for _ in 0..6 {
        shops.push(w.shop(plain()).await);
    }
    let schedulers = w.schedulers();
    let ids: std::collections::BTreeSet<_> =
        schedulers.iter().map(|s| s.worker().clone()).collect();
    assert_eq!(ids.len(), n, "one worker id per scheduler");

    const WINDOWS: usize = 3;
    let mut runs = Vec::new();
    for window in 0..WINDOWS {
        for s in &shops {
            s.channel.add_order(order(
                &format!("O{window}"),
                marketsync_core::Clock::now(&clock),
                &["A"],
                "Std",
            ));
        }
        // Several passes per window: only the first finds the runs due.
        for _ in 0..4 {
            runs.extend(concurrent_passes(&schedulers).await);
        }
        // The orders' frequency (10 minutes for Reverb) passes; fulfilments (5) too.
        clock.advance(chrono::TimeDelta::minutes(10));
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
        assert_eq!(
            count(&runs, s.id, ScheduledOperation::CheckCredentials),
            1,
            "credentials are checked every 6 hours"
        );
        assert_eq!(s.channel.calls(Operation::FetchOrders), WINDOWS as u64);
        assert_eq!(
            s.probe.max_in_flight.load(Ordering::SeqCst),
            1,
            "never two imports of one integration at once"
        );
        for window in 0..WINDOWS {
            let e = w.engines[0]
                .ledger_entry(s.id, &oid(&format!("O{window}")))
                .await
                .unwrap()
                .expect("downloaded");
            assert_eq!(e.outcome, marketsync_core::store::OrderOutcome::Imported);
            assert_eq!(e.times_seen, 1, "seen once: imported once");
        }
    }
    // Nothing is left claimed: every integration was released.
    assert!(schedulers.iter().all(|s| s.held() == 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workers_do_each_due_run_once_and_never_two_at_once() {
    each_due_run_once_with(2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_workers_do_each_due_run_once_and_never_two_at_once() {
    each_due_run_once_with(4).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workers_with_clocks_ten_minutes_apart_never_run_twice_at_once_nor_import_twice() {
    let ahead = Arc::new(marketsync_core::ManualClock::new(
        t0() + chrono::TimeDelta::minutes(10),
    ));
    let behind = Arc::new(marketsync_core::ManualClock::new(
        t0() - chrono::TimeDelta::minutes(10),
    ));
    let w = Workers::new(&[ahead.clone(), behind.clone()]);
    let mut shops = Vec::new();
    for _ in 0..4 {
        shops.push(w.shop(plain()).await);
    }
    let schedulers = w.schedulers();
    const WINDOWS: usize = 4;
    let mut runs = Vec::new();
    for window in 0..WINDOWS {
        for s in &shops {
            s.channel
                .add_order(order(&format!("O{window}"), t0(), &["A"], "Std"));
        }
        for _ in 0..4 {
            runs.extend(concurrent_passes(&schedulers).await);
        }
        ahead.advance(chrono::TimeDelta::minutes(10));
        behind.advance(chrono::TimeDelta::minutes(10));
    }
    assert!(runs.iter().all(|r| r.result.is_ok()));
    for s in &shops {
        assert_eq!(
            s.probe.max_in_flight.load(Ordering::SeqCst),
            1,
            "the lease keeps runs exclusive whatever the workers' clocks say"
        );
        for window in 0..WINDOWS {
            let e = w.engines[0]
                .ledger_entry(s.id, &oid(&format!("O{window}")))
                .await
                .unwrap()
                .expect("downloaded");
            assert_eq!(e.outcome, marketsync_core::store::OrderOutcome::Imported);
            let imports = e
                .sightings
                .iter()
                .filter(|x| x.outcome == marketsync_core::store::SightingOutcome::Imported)
                .count();
            assert_eq!(imports, 1, "imported once");
        }
    }
    assert!(schedulers.iter().all(|s| s.held() == 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_worker_keeps_its_integration_until_the_lease_lapses_then_another_takes_over() {
    let clock = Arc::new(marketsync_core::ManualClock::new(t0()));
    let w = Workers::new(&[clock.clone(), clock.clone()]);
    let gate = Arc::new(Semaphore::new(0));
    let in_flight = Arc::new(AtomicUsize::new(0));
    let max = Arc::new(AtomicUsize::new(0));
    let channel: Arc<dyn Channel> = Arc::new(gated(gate.clone(), in_flight.clone(), max.clone()));
    let id = w.engines[0]
        .create_integration(
            "slow",
            channel.clone(),
            IntegrationSettings::new(ChannelKind::Reverb, Currency::USD),
            seller(),
        )
        .await
        .unwrap();
    activate(&w.engines[0], id, &[Feature::Orders]).await;
    w.engines[1].register_channel(id, channel);
    let lease = Duration::from_millis(1500);
    let doomed = Scheduler::new(w.engines[0].clone(), 4)
        .with_worker(WorkerId::from_stored("doomed"))
        .with_lease(lease);
    let survivor = Scheduler::new(w.engines[1].clone(), 4)
        .with_worker(WorkerId::from_stored("survivor"))
        .with_lease(lease);

    // The doomed worker runs on its own runtime, which is shut down mid-run: its tasks stop
    // where they are, nothing is released, nothing renewed — as when the process is killed.
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
        if in_flight.load(Ordering::SeqCst) == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(
        in_flight.load(Ordering::SeqCst),
        1,
        "the import is under way"
    );

    // While the doomed worker lives, its renewals keep the integration: over twice the lease,
    // the survivor claims nothing.
    for _ in 0..6 {
        let p = survivor.tick().await.unwrap();
        assert_eq!(p.claimed, 0, "held by a live worker");
        tokio::time::sleep(lease / 2).await;
    }

    rt.shutdown_background();
    drop(p);
    gate.add_permits(100);

    // Once the lease lapses (store's clock), the survivor takes over and runs the import the
    // killed worker started and never finished, although by the engine's clock it is not due.
    let mut runs = Vec::new();
    for _ in 0..400 {
        let p = survivor.tick().await.unwrap();
        runs.extend(finish(p.runs).await);
        if count(&runs, id, ScheduledOperation::ImportOrders) > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(count(&runs, id, ScheduledOperation::ImportOrders), 1);
    assert!(runs.iter().all(|r| r.result.is_ok()), "{runs:?}");
    assert_eq!(max.load(Ordering::SeqCst), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_integration_whose_channel_fails_every_call_does_not_stop_the_others() {
    let clock = Arc::new(marketsync_core::ManualClock::new(t0()));
    let w = Workers::new(std::slice::from_ref(&clock));
    let good_a = w.shop(plain()).await;
    let bad = w.shop(plain()).await;
    let good_b = w.shop(plain()).await;
    for op in [
        Operation::FetchOrders,
        Operation::FetchOrdersById,
        Operation::Ship,
        Operation::ListListings,
        Operation::UpdateListings,
    ] {
        bad.channel
            .fail_next(op, u32::MAX, marketsync_core::ErrorKind::Transient);
    }
    let s = w.schedulers().remove(0);
    for round in 0..3 {
        for shop in [&good_a, &bad, &good_b] {
            shop.channel.add_order(order(
                &format!("O{round}"),
                marketsync_core::Clock::now(&clock),
                &["A"],
                "Std",
            ));
        }
        let runs = pass(&s).await;
        let import = |id| {
            runs.iter()
                .find(|r| r.integration == id && r.operation == ScheduledOperation::ImportOrders)
                .unwrap_or_else(|| panic!("an import of {id} in {runs:?}"))
        };
        assert!(
            import(bad.id).result.is_err(),
            "the failing one is reported"
        );
        for good in [&good_a, &good_b] {
            assert!(import(good.id).result.is_ok());
            let e = w.engines[0]
                .ledger_entry(good.id, &oid(&format!("O{round}")))
                .await
                .unwrap()
                .expect("imported");
            assert_eq!(e.outcome, marketsync_core::store::OrderOutcome::Imported);
        }
        clock.advance(chrono::TimeDelta::minutes(10));
    }
    assert_eq!(
        bad.channel.calls(Operation::FetchOrders),
        3,
        "tried every time"
    );
    assert_eq!(s.held(), 0);
}

/// A scheduler whose one integration's import waits at a gate, with its engine and store.
async fn gated_service(
    drain: Duration,
) -> (
    Workers,
    Scheduler,
    IntegrationId,
    Arc<Semaphore>,
    Arc<AtomicUsize>,
) {
    let clock = Arc::new(marketsync_core::ManualClock::new(t0()));
    let w = Workers::new(&[clock.clone(), clock]);
    let gate = Arc::new(Semaphore::new(0));
    let in_flight = Arc::new(AtomicUsize::new(0));
    let channel: Arc<dyn Channel> = Arc::new(gated(
        gate.clone(),
        in_flight.clone(),
        Arc::new(AtomicUsize::new(0)),
    ));
    let id = w.engines[0]
        .create_integration(
            "gated",
            channel.clone(),
            IntegrationSettings::new(ChannelKind::Reverb, Currency::USD),
            seller(),
        )
        .await
        .unwrap();
    activate(&w.engines[0], id, &[Feature::Orders]).await;
    w.engines[1].register_channel(id, channel);
    let s = Scheduler::new(w.engines[0].clone(), 4)
        .with_worker(WorkerId::from_stored("service"))
        .with_drain_timeout(drain);
    (w, s, id, gate, in_flight)
}

async fn wait_for(in_flight: &AtomicUsize) {
    for _ in 0..2000 {
        if in_flight.load(Ordering::SeqCst) == 1 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("the import never reached the channel");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_drains_the_runs_in_flight_delivers_their_reports_and_releases_the_leases() {
    let (w, s, id, gate, in_flight) = gated_service(Duration::from_secs(600)).await;
    let (reports_tx, mut reports) = tokio::sync::mpsc::channel(64);
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let service = s.clone();
    let opener = gate.clone();
    let task = tokio::spawn(async move {
        service
            .run(
                Duration::from_millis(10),
                async move {
                    let _ = stop_rx.await;
                    // The gate opens as shutdown is asked for: the import is still in flight.
                    opener.add_permits(100);
                },
                reports_tx,
            )
            .await
    });
    wait_for(&in_flight).await;
    // The integration's other runs (not gated) finish first: only the import is in flight.
    for _ in 0..2000 {
        if s.runs_in_flight() == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    stop_tx.send(()).unwrap();
    let summary = task.await.unwrap();
    assert_eq!(summary.in_flight, 1, "{summary:?}");
    assert_eq!(summary.drained, 1);
    assert_eq!(summary.abandoned, 0);
    assert!(summary.passes >= 1);
    assert_eq!(s.held(), 0);
    drop(gate);

    let mut delivered = Vec::new();
    while let Ok(r) = reports.try_recv() {
        delivered.push(r);
    }
    let import = delivered.iter().find_map(|r| match r {
        Report::Run(r) if r.operation == ScheduledOperation::ImportOrders => Some(r),
        _ => None,
    });
    assert!(
        import.is_some_and(|r| r.integration == id && r.result.is_ok()),
        "{delivered:?}"
    );

    // Released: another worker may claim it at once (when due), and finds the import done.
    let other = WorkerId::from_stored("other");
    let claims = w
        .store
        .claim_work(
            &other,
            t0() + chrono::TimeDelta::days(1),
            Duration::from_secs(60),
            10,
        )
        .await
        .unwrap();
    assert_eq!(claims.len(), 1);
    let times = claims[0].runs[ScheduledOperation::ImportOrders.as_str()];
    assert_eq!(times.last_started, Some(t0()));
    assert_eq!(times.last_finished, Some(t0()), "the finish was recorded");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_still_going_at_the_drain_timeout_are_abandoned_released_and_taken_over() {
    let (w, s, id, gate, in_flight) = gated_service(Duration::from_millis(50)).await;
    let (reports_tx, _reports) = tokio::sync::mpsc::channel(64);
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let service = s.clone();
    let task = tokio::spawn(async move {
        service
            .run(
                Duration::from_millis(10),
                async move {
                    let _ = stop_rx.await;
                },
                reports_tx,
            )
            .await
    });
    wait_for(&in_flight).await;
    for _ in 0..2000 {
        if s.runs_in_flight() == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    stop_tx.send(()).unwrap();
    let summary = task.await.unwrap();
    assert_eq!(summary.in_flight, 1, "{summary:?}");
    assert_eq!(summary.abandoned, 1);
    assert_eq!(summary.drained, 0);
    assert_eq!(s.held(), 0);

    // Released at once, due at once: another worker runs the abandoned import again, at the
    // same engine time.
    gate.add_permits(100);
    let other = Scheduler::new(w.engines[1].clone(), 4).with_worker(WorkerId::from_stored("b"));
    let runs = pass(&other).await;
    assert_eq!(
        count(&runs, id, ScheduledOperation::ImportOrders),
        1,
        "{runs:?}"
    );
    assert!(runs.iter().all(|r| r.result.is_ok()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_that_lost_its_lease_finishes_its_run_but_does_not_record_it() {
    // Leases expire by this clock, moved by hand: the first worker's lease lapses at once.
    let lease_clock = Arc::new(marketsync_core::ManualClock::new(t0()));
    let store = Arc::new(MemoryStore::with_lease_clock(lease_clock.clone()));
    let catalog = Arc::new(MemoryCatalog::new());
    let engine = |at| {
        Arc::new(
            Engine::new(
                store.clone(),
                catalog.clone(),
                Arc::new(MemoryNotifier::new()),
                Arc::new(marketsync_core::ManualClock::new(at)),
            )
            .with_credential_key(key()),
        )
    };
    let (first, second) = (engine(t0()), engine(t0() + chrono::TimeDelta::minutes(1)));
    let gate = Arc::new(Semaphore::new(0));
    let in_flight = Arc::new(AtomicUsize::new(0));
    let channel: Arc<dyn Channel> = Arc::new(gated(
        gate.clone(),
        in_flight.clone(),
        Arc::new(AtomicUsize::new(0)),
    ));
    let id = first
        .create_integration(
            "x",
            channel.clone(),
            IntegrationSettings::new(ChannelKind::Reverb, Currency::USD),
            seller(),
        )
        .await
        .unwrap();
    activate(&first, id, &[Feature::Orders]).await;
    second.register_channel(id, channel);
    let a = Scheduler::new(first, 4).with_worker(WorkerId::from_stored("a"));
    let b = Scheduler::new(second, 4).with_worker(WorkerId::from_stored("b"));

    let a_runs = a.tick().await.unwrap().runs;
    wait_for(&in_flight).await;
    // The first worker's lease lapses (it could not renew in time); the second takes over and,
    // finding the import started and never finished, runs it.
    lease_clock.advance(chrono::TimeDelta::minutes(2));
    let b_pass = b.tick().await.unwrap();
    assert_eq!(b_pass.claimed, 1);
    gate.add_permits(100);
    let b_runs = finish(b_pass.runs).await;
    assert_eq!(
        count(&b_runs, id, ScheduledOperation::ImportOrders),
        1,
        "{b_runs:?}"
    );
    let a_runs = finish(a_runs).await;
    // No renewal fell due meanwhile, so the first worker learnt of the loss only when recording
    // its finish: its import was not stopped and finished too.
    let a_import = a_runs
        .iter()
        .find(|r| r.operation == ScheduledOperation::ImportOrders)
        .expect("the first import");
    assert!(a_import.result.is_ok(), "{a_import:?}");
    assert_eq!(a.held(), 0);
    assert_eq!(b.held(), 0);

    // The store has the second worker's run, not the first's finish.
    let claims = store
        .claim_work(
            &WorkerId::from_stored("c"),
            t0() + chrono::TimeDelta::days(1),
            Duration::from_secs(60),
            10,
        )
        .await
        .unwrap();
    let times = claims[0].runs[ScheduledOperation::ImportOrders.as_str()];
    let b_at = t0() + chrono::TimeDelta::minutes(1);
    assert_eq!(times.last_started, Some(b_at));
    assert_eq!(times.last_finished, Some(b_at));
}

/// A transport that records what it delivers and refuses (retryably) while `down` is set.
#[derive(Debug, Default)]
struct FlakyTransport {
    down: std::sync::atomic::AtomicBool,
    attempts: AtomicUsize,
    delivered: std::sync::Mutex<Vec<marketsync_core::Message>>,
}

#[async_trait]
impl marketsync_core::Transport for FlakyTransport {
    fn name(&self) -> &str {
        "flaky"
    }

    async fn deliver(
        &self,
        message: &marketsync_core::Message,
    ) -> Result<(), marketsync_core::DeliveryError> {
        self.attempts.fetch_add(1, Ordering::SeqCst);
        if self.down.load(Ordering::SeqCst) {
            return Err(marketsync_core::DeliveryError::retryable(
                "connection refused (mail.example:587)",
            ));
        }
        self.delivered.lock().unwrap().push(message.clone());
        Ok(())
    }
}

#[tokio::test]
async fn each_pass_delivers_the_notification_outbox_and_a_failing_transport_never_stops_the_pass() {
    let f = fleet();
    let channel = plain();
    let id = active(&f, Arc::new(channel.clone())).await;
    let other = active(&f, Arc::new(plain())).await;
    let transport = Arc::new(FlakyTransport::default());
    transport.down.store(true, Ordering::SeqCst);
    f.engine.register_transport(transport.clone());
    f.engine
        .notification_dispatcher()
        .set_backoff(marketsync_core::notify::Backoff {
            first: Duration::from_secs(60),
            max: Duration::from_secs(3600),
        });
    // The connection breaks: the notification is written with the break, not sent.
    channel.revoke_credentials("denied");
    assert!(f.engine.import_orders(id).await.is_err());
    assert_eq!(transport.attempts.load(Ordering::SeqCst), 0);

    // The transport is down: the pass tries it, reports the failure and goes on with its runs.
    let s = Scheduler::new(f.engine.clone(), 4);
    let p = s.tick().await.unwrap();
    assert!(p.failed.is_empty(), "{:?}", p.failed);
    assert_eq!(p.claimed, 2);
    assert!(
        p.notifications.delivered.is_empty(),
        "{:?}",
        p.notifications
    );
    assert!(
        p.notifications.retrying.iter().any(|r| r.integration == id
            && r.transport == "flaky"
            && r.error.contains("connection refused")),
        "{:?}",
        p.notifications
    );
    let runs = finish(p.runs).await;
    assert!(
        runs.iter().any(|r| r.integration == other
            && r.operation == ScheduledOperation::ImportOrders
            && r.result.is_ok()),
        "{runs:?}"
    );
    assert!(transport.delivered.lock().unwrap().is_empty());

    // Back up, after the backoff: the next pass delivers it, once.
    transport.down.store(false, Ordering::SeqCst);
    f.clock.advance(chrono::TimeDelta::seconds(61));
    let p = s.tick().await.unwrap();
    assert!(
        !p.notifications.delivered.is_empty(),
        "{:?}",
        p.notifications
    );
    assert!(p.notifications.retrying.is_empty(), "{:?}", p.notifications);
    finish(p.runs).await;
    let p = s.tick().await.unwrap();
    assert!(
        p.notifications.delivered.is_empty(),
        "{:?}",
        p.notifications
    );
    finish(p.runs).await;
    let delivered = transport.delivered.lock().unwrap().clone();
    let broken: Vec<_> = delivered
        .iter()
        .filter(|m| {
            m.integration == id
                && matches!(
                    m.notification,
                    marketsync_core::Notification::ConnectionBroken { .. }
                )
        })
        .collect();
    assert_eq!(broken.len(), 1, "{delivered:?}");
    assert!(broken[0].body.contains("denied"), "{}", broken[0].body);
    let mut ids: Vec<_> = delivered.iter().map(|m| m.id.clone()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(
        ids.len(),
        delivered.len(),
        "each notification delivered once"
    );
}

// ----- lease renewals, start records and the held limit -----

/// An engine over `store` (its clock at [`t0`]) with one integration, orders on, whose order
/// downloads wait at the returned gate.
async fn gated_over(
    store: Arc<dyn Store>,
) -> (Fleet, IntegrationId, Arc<Semaphore>, Arc<AtomicUsize>) {
    let clock = Arc::new(marketsync_core::ManualClock::new(t0()));
    let engine = Arc::new(
        Engine::new(
            store,
            Arc::new(MemoryCatalog::new()),
            Arc::new(MemoryNotifier::new()),
            clock.clone(),
        )
        .with_credential_key(key()),
    );
    let gate = Arc::new(Semaphore::new(0));
    let in_flight = Arc::new(AtomicUsize::new(0));
    let channel: Arc<dyn Channel> = Arc::new(gated(
        gate.clone(),
        in_flight.clone(),
        Arc::new(AtomicUsize::new(0)),
    ));
    let id = engine
        .create_integration(
            "gated",
            channel,
            IntegrationSettings::new(ChannelKind::Reverb, Currency::USD),
            seller(),
        )
        .await
        .unwrap();
    activate(&engine, id, &[Feature::Orders]).await;
    (Fleet { engine, clock }, id, gate, in_flight)
}

/// When the store handed out `id` (its first claim).
fn claimed_at(store: &WorkFaults, id: IntegrationId) -> tokio::time::Instant {
    store
        .calls()
        .into_iter()
        .find_map(|(at, c)| match c {
            WorkCall::Claim(ids) if ids.contains(&id) => Some(at),
            _ => None,
        })
        .expect("claimed")
}

/// The renewals of `id`: when, and whether each succeeded.
fn renewals(store: &WorkFaults, id: IntegrationId) -> Vec<(tokio::time::Instant, bool)> {
    store
        .calls()
        .into_iter()
        .filter_map(|(at, c)| match c {
            WorkCall::Renew(i, ok) if i == id => Some((at, ok)),
            _ => None,
        })
        .collect()
}

/// The finishes of `op` the store recorded for `id`.
fn finishes(store: &WorkFaults, id: IntegrationId, op: ScheduledOperation) -> usize {
    store
        .calls()
        .into_iter()
        .filter(|(_, c)| {
            matches!(c, WorkCall::Record(i, o, t)
                if *i == id && o == op.as_str() && t.last_finished.is_some())
        })
        .count()
}

// Time is paused (tokio's test clock, advanced only when every task waits): the renewal times
// below are the scheduler's own timers, exact, never the machine's speed.
#[tokio::test(start_paused = true)]
async fn a_failed_renewal_is_retried_after_a_short_backoff_before_the_lease_runs_out() {
    let store = Arc::new(WorkFaults::new(MemoryStore::new()));
    store.renew_failures.store(2, Ordering::SeqCst);
    let (f, id, gate, in_flight) = gated_over(store.clone()).await;
    let lease = Duration::from_secs(30);
    let s = Scheduler::new(f.engine, 4)
        .with_worker(WorkerId::from_stored("w"))
        .with_lease(lease);
    let p = s.tick().await.unwrap();
    wait_for(&in_flight).await;
    for _ in 0..600 {
        if renewals(&store, id).len() >= 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let claimed = claimed_at(&store, id);
    let tries = renewals(&store, id);
    let offsets: Vec<_> = tries.iter().map(|(at, ok)| (*at - claimed, *ok)).collect();
    assert!(tries.len() >= 3, "{offsets:?}");
    assert_eq!(
        tries[..3].iter().map(|(_, ok)| *ok).collect::<Vec<_>>(),
        [false, false, true],
        "{offsets:?}"
    );
    assert!(
        tries[2].0 < claimed + lease,
        "the lease was renewed before it ran out (two failures later): {offsets:?}"
    );
    assert!(
        s.is_running(id, ScheduledOperation::ImportOrders),
        "renewed in time: the import goes on"
    );

    gate.add_permits(100);
    let runs = finish(p.runs).await;
    assert!(runs.iter().all(|r| r.result.is_ok()), "{runs:?}");
    assert_eq!(finishes(&store, id, ScheduledOperation::ImportOrders), 1);
    assert_eq!(s.held(), 0);
}

#[tokio::test(start_paused = true)]
async fn runs_are_stopped_before_the_lease_runs_out_when_renewals_keep_failing_and_taken_over() {
    let lease_clock = Arc::new(marketsync_core::ManualClock::new(t0()));
    let store = Arc::new(WorkFaults::new(MemoryStore::with_lease_clock(
        lease_clock.clone(),
    )));
    store.renew_down.store(true, Ordering::SeqCst);
    let (f, id, gate, in_flight) = gated_over(store.clone()).await;
    let lease = Duration::from_secs(30);
    let s = Scheduler::new(f.engine.clone(), 4)
        .with_worker(WorkerId::from_stored("a"))
        .with_lease(lease);
    let p = s.tick().await.unwrap();
    wait_for(&in_flight).await;

    let mut runs = Vec::new();
    for h in p.runs {
        let run = tokio::time::timeout(lease * 2, h)
            .await
            .expect("the run was stopped (the gate never opened)")
            .unwrap();
        runs.push(run);
    }
    let stopped_at = tokio::time::Instant::now();
    let claimed = claimed_at(&store, id);
    assert!(
        stopped_at < claimed + lease,
        "stopped before the lease ran out: after {:?}",
        stopped_at - claimed
    );
    let import = runs
        .iter()
        .find(|r| r.operation == ScheduledOperation::ImportOrders)
        .expect("the import's record");
    assert!(
        matches!(
            import.result,
            Err(marketsync_core::EngineError::Store(
                marketsync_core::StoreError::Conflict(_)
            ))
        ),
        "{import:?}"
    );
    assert_eq!(
        in_flight.load(Ordering::SeqCst),
        0,
        "the download was dropped"
    );
    assert!(renewals(&store, id).iter().all(|(_, ok)| !ok));
    assert!(renewals(&store, id).len() >= 2, "retried before giving up");
    assert_eq!(
        finishes(&store, id, ScheduledOperation::ImportOrders),
        0,
        "no finish recorded"
    );
    assert!(
        !store
            .calls()
            .iter()
            .any(|(_, c)| matches!(c, WorkCall::Release(i) if *i == id)),
        "not released: the lease may be another worker's"
    );
    assert_eq!(s.held(), 0, "dropped");

    // The lease lapses (store's clock): another worker finds the import unfinished and runs it.
    lease_clock.advance(chrono::TimeDelta::seconds(31));
    gate.add_permits(100);
    let b = Scheduler::new(f.engine, 4).with_worker(WorkerId::from_stored("b"));
    let runs = pass(&b).await;
    assert_eq!(
        count(&runs, id, ScheduledOperation::ImportOrders),
        1,
        "{runs:?}"
    );
    assert!(runs.iter().all(|r| r.result.is_ok()), "{runs:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_start_is_recorded_without_a_finish_so_a_killed_run_is_taken_over_whatever_clock_stamped_the_last_finish()
 {
    let lease_clock = Arc::new(marketsync_core::ManualClock::new(t0()));
    let memory = Arc::new(MemoryStore::with_lease_clock(lease_clock.clone()));
    let (f, id, gate, in_flight) = gated_over(memory.clone()).await;
    // A worker whose clock ran 20 minutes ahead imported at t0 (its clock said t0 + 20 min
    // when it finished) and released the integration due at t0.
    let ahead = WorkerId::from_stored("ahead");
    let claims = memory
        .claim_work(&ahead, t0(), Duration::from_secs(60), 10)
        .await
        .unwrap();
    assert_eq!(claims.len(), 1);
    let earlier = marketsync_core::store::RunTimes {
        last_started: Some(t0()),
        last_finished: Some(t0() + chrono::TimeDelta::minutes(20)),
    };
    memory
        .record_run(
            id,
            &ahead,
            ScheduledOperation::ImportOrders.as_str(),
            &earlier,
        )
        .await
        .unwrap();
    memory.release_work(id, &ahead, t0()).await.unwrap();

    // Ten minutes later the import is due again: worker A starts it and dies mid-run (its
    // lease lapses, its import never finishes).
    f.clock.advance(chrono::TimeDelta::minutes(10));
    let a = Scheduler::new(f.engine.clone(), 4).with_worker(WorkerId::from_stored("a"));
    let a_runs = a.tick().await.unwrap().runs;
    wait_for(&in_flight).await;
    lease_clock.advance(chrono::TimeDelta::minutes(2));

    // Worker B sees a start with no finish: it runs the import again at once.
    let b = Scheduler::new(f.engine, 4).with_worker(WorkerId::from_stored("b"));
    let b_pass = b.tick().await.unwrap();
    assert_eq!(b_pass.claimed, 1);
    gate.add_permits(100);
    let b_runs = finish(b_pass.runs).await;
    assert_eq!(
        count(&b_runs, id, ScheduledOperation::ImportOrders),
        1,
        "{b_runs:?}"
    );
    finish(a_runs).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pass_never_holds_more_than_max_held_and_gives_the_extra_claims_back_due() {
    let f = fleet();
    let slow = active(&f, Arc::new(plain())).await;
    let s = Scheduler::new(f.engine.clone(), 4)
        .with_worker(WorkerId::from_stored("w"))
        .with_max_held(2);
    pass(&s).await;
    // The slow integration's next import waits at a gate: it stays held.
    let gate = Arc::new(Semaphore::new(0));
    let in_flight = Arc::new(AtomicUsize::new(0));
    f.engine.register_channel(
        slow,
        Arc::new(gated(
            gate.clone(),
            in_flight.clone(),
            Arc::new(AtomicUsize::new(0)),
        )),
    );
    f.clock.advance(chrono::TimeDelta::minutes(10));
    let held = s.tick().await.unwrap();
    assert_eq!(held.claimed, 1);
    wait_for(&in_flight).await;
    assert_eq!(s.held(), 1);

    // Two new integrations, due at once, sort before the held one: room for one only.
    let a = active(&f, Arc::new(plain())).await;
    let b = active(&f, Arc::new(plain())).await;
    let p = s.tick().await.unwrap();
    assert!(p.failed.is_empty(), "{:?}", p.failed);
    assert_eq!(p.claimed, 1, "one held already, at most two");
    let runs = finish(p.runs).await;
    let ran: std::collections::BTreeSet<_> = runs.iter().map(|r| r.integration).collect();
    assert_eq!(ran.len(), 1, "{runs:?}");
    let left = if ran.contains(&a) { b } else { a };
    assert!(!ran.contains(&left));

    // The one given back is still due: another worker runs it at once.
    let other = Scheduler::new(f.engine.clone(), 4).with_worker(WorkerId::from_stored("other"));
    let runs = pass(&other).await;
    assert_eq!(
        count(&runs, left, ScheduledOperation::ImportOrders),
        1,
        "{runs:?}"
    );
    assert!(runs.iter().all(|r| r.integration == left), "{runs:?}");

    gate.add_permits(100);
    finish(held.runs).await;
    assert_eq!(s.held(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_service_delivers_the_notification_outbox_with_its_passes() {
    let f = fleet();
    let channel = plain();
    let id = active(&f, Arc::new(channel.clone())).await;
    let transport = Arc::new(FlakyTransport::default());
    f.engine.register_transport(transport.clone());
    channel.revoke_credentials("denied");
    assert!(f.engine.import_orders(id).await.is_err());

    let s = Scheduler::new(f.engine.clone(), 4);
    let (reports_tx, _reports) = tokio::sync::mpsc::channel(64);
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let service = s.clone();
    let task = tokio::spawn(async move {
        service
            .run(
                Duration::from_millis(10),
                async move {
                    let _ = stop_rx.await;
                },
                reports_tx,
            )
            .await
    });
    let mut delivered = Vec::new();
    for _ in 0..2000 {
        delivered = transport.delivered.lock().unwrap().clone();
        if !delivered.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    stop_tx.send(()).unwrap();
    let summary = task.await.unwrap();
    assert!(summary.passes >= 1, "{summary:?}");
    assert!(
        delivered.iter().any(|m| m.integration == id
            && matches!(
                m.notification,
                marketsync_core::Notification::ConnectionBroken { .. }
            )),
        "the service never delivered the break: {delivered:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_renewal_that_finds_the_lease_taken_stops_the_runs_without_recording_them() {
    let lease_clock = Arc::new(marketsync_core::ManualClock::new(t0()));
    let store = Arc::new(WorkFaults::new(MemoryStore::with_lease_clock(
        lease_clock.clone(),
    )));
    let (f, id, gate, in_flight) = gated_over(store.clone()).await;
    let lease = Duration::from_secs(30);
    let a = Scheduler::new(f.engine.clone(), 4)
        .with_worker(WorkerId::from_stored("a"))
        .with_lease(lease);
    let p = a.tick().await.unwrap();
    wait_for(&in_flight).await;
    // By the store's clock the lease lapsed (this worker's timer did not see it), and another
    // worker took the integration over.
    lease_clock.advance(chrono::TimeDelta::seconds(31));
    let taken = store
        .claim_work(&WorkerId::from_stored("b"), t0(), lease, 10)
        .await
        .unwrap();
    assert_eq!(taken.len(), 1);

    let mut runs = Vec::new();
    for h in p.runs {
        let run = tokio::time::timeout(lease * 2, h)
            .await
            .expect("the run was stopped (the gate never opened)")
            .unwrap();
        runs.push(run);
    }
    let import = runs
        .iter()
        .find(|r| r.operation == ScheduledOperation::ImportOrders)
        .expect("the import's record");
    assert!(
        matches!(
            import.result,
            Err(marketsync_core::EngineError::Store(
                marketsync_core::StoreError::Conflict(_)
            ))
        ),
        "{import:?}"
    );
    assert_eq!(renewals(&store, id).last().map(|(_, ok)| *ok), Some(false));
    assert_eq!(
        in_flight.load(Ordering::SeqCst),
        0,
        "the download was dropped"
    );
    assert_eq!(finishes(&store, id, ScheduledOperation::ImportOrders), 0);
    assert_eq!(a.held(), 0);
    drop(gate);
}

/// A memory channel that keeps the credential sink the engine gives it, as a renewing adapter
/// does.
#[derive(Debug)]
struct KeepsSink {
    inner: MemoryChannel,
    sink: std::sync::Mutex<Option<Arc<dyn marketsync_core::channel::CredentialSink>>>,
}

#[async_trait]
impl Channel for KeepsSink {
    fn kind(&self) -> ChannelKind {
        self.inner.kind()
    }
    fn capabilities(&self) -> marketsync_core::Capabilities {
        self.inner.capabilities()
    }
    async fn use_credentials(
        &self,
        credentials: &marketsync_core::Credentials,
    ) -> Result<(), ChannelError> {
        self.inner.use_credentials(credentials).await
    }
    fn use_credential_sink(&self, sink: Arc<dyn marketsync_core::channel::CredentialSink>) {
        *self.sink.lock().unwrap() = Some(sink);
    }
    async fn verify(&self) -> Result<marketsync_core::channel::AccountInfo, ChannelError> {
        self.inner.verify().await
    }
    async fn list_listings(
        &self,
        query: &marketsync_core::channel::ListingQuery,
    ) -> Result<marketsync_core::channel::ListingPage, ChannelError> {
        self.inner.list_listings(query).await
    }
    async fn update_listings(
        &self,
        updates: &[marketsync_core::ListingUpdate],
    ) -> Result<Vec<marketsync_core::ListingOutcome>, ChannelError> {
        self.inner.update_listings(updates).await
    }
    async fn fetch_orders(&self, query: &OrderQuery) -> Result<OrderPage, ChannelError> {
        self.inner.fetch_orders(query).await
    }
}

#[tokio::test(start_paused = true)]
async fn shutdown_waits_for_a_credential_renewal_under_way() {
    let f = fleet();
    let channel = Arc::new(KeepsSink {
        inner: plain(),
        sink: std::sync::Mutex::new(None),
    });
    active(&f, channel.clone()).await;
    let sink = channel.sink.lock().unwrap().clone().expect("given a sink");
    // The channel is renewing its credentials in a task of its own as shutdown is asked for.
    sink.begin_renewal().await.unwrap();

    let s = Scheduler::new(f.engine.clone(), 4).with_drain_timeout(Duration::from_secs(600));
    let (reports_tx, _reports) = tokio::sync::mpsc::channel(64);
    let service = s.clone();
    let task = tokio::spawn(async move {
        service
            .run(Duration::from_millis(10), async {}, reports_tx)
            .await
    });
    // Ten (paused-clock) seconds on, the renewal is still under way: run has not returned.
    tokio::time::sleep(Duration::from_secs(10)).await;
    assert!(!task.is_finished(), "run waits for the renewal");
    sink.end_renewal().await;
    let summary = task.await.unwrap();
    assert!(!summary.renewal_unfinished, "{summary:?}");

    // A renewal that never ends is waited for up to the drain timeout, and reported.
    sink.begin_renewal().await.unwrap();
    let s = Scheduler::new(f.engine.clone(), 4).with_drain_timeout(Duration::from_secs(5));
    let (reports_tx, _reports) = tokio::sync::mpsc::channel(64);
    let summary = s.run(Duration::from_millis(10), async {}, reports_tx).await;
    assert!(summary.renewal_unfinished, "{summary:?}");
    sink.end_renewal().await;
}
