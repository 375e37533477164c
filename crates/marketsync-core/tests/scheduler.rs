//! The scheduler runs due operations, skips integrations that must not exchange data, never runs
//! one operation twice at once for an integration, keeps to its global limit, and a slow
//! integration never delays the others.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use common::*;
use marketsync_core::channel::{OrderPage, OrderQuery};
use marketsync_core::engine::scheduler::RunRecord;
use marketsync_core::lifecycle::Event;
use marketsync_core::{
    Channel, ChannelError, ChannelKind, Currency, Engine, Feature, IntegrationId,
    IntegrationSettings, MemoryCatalog, MemoryChannel, MemoryNotifier, MemoryStore, Operation,
    ScheduledOperation, Scheduler,
};
use marketsync_testkit::intercept::{Intercept, Intercepted};
use tokio::sync::Semaphore;

/// Order downloads that wait for a permit, counting how many are in flight.
#[derive(Debug)]
struct Gate {
    permits: Arc<Semaphore>,
    in_flight: Arc<AtomicUsize>,
    max_in_flight: Arc<AtomicUsize>,
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
        let permit = self.permits.acquire().await;
        drop(permit);
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
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
    let runs = finish(s.tick().await.unwrap()).await;
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
        finish(s.tick().await.unwrap())
            .await
            .iter()
            .all(|r| r.operation != ScheduledOperation::ImportOrders)
    );
    f.clock.advance(chrono::TimeDelta::minutes(10));
    let runs = finish(s.tick().await.unwrap()).await;
    assert!(
        runs.iter()
            .any(|r| r.integration == healthy && r.operation == ScheduledOperation::ImportOrders)
    );
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

    let mut pending = s.tick().await.unwrap();
    // Let the slow import reach the channel and block there.
    for _ in 0..2000 {
        if in_flight.load(Ordering::SeqCst) == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(in_flight.load(Ordering::SeqCst), 1);
    assert!(s.is_running(slow, ScheduledOperation::ImportOrders));
    for _ in 0..2000 {
        if !s.is_running(fast, ScheduledOperation::ImportOrders) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }

    // Several more passes, each after the frequency: the fast integration keeps importing, the
    // slow one is never started a second time.
    for _ in 0..3 {
        f.clock.advance(chrono::TimeDelta::minutes(11));
        let started = s.tick().await.unwrap();
        pending.extend(started);
        for _ in 0..2000 {
            if !s.is_running(fast, ScheduledOperation::ImportOrders) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
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
    let pending = s.tick().await.unwrap();
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
