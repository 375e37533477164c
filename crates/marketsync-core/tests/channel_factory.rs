//! Adapters on demand: an engine with a `ChannelFactory` makes and attaches the channel of an
//! integration that has none registered — once, whoever asks at the same moment — and the
//! scheduler detaches it when it gives the integration back, attaching a new one at the next
//! claim. A factory that fails fails only its integration.

mod common;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use common::*;
use marketsync_core::engine::scheduler::RunRecord;
use marketsync_core::store::{IntegrationRecord, OrderOutcome};
use marketsync_core::{
    Channel, ChannelError, ChannelFactory, ChannelKind, Currency, Engine, EngineError, Feature,
    IntegrationId, IntegrationSettings, ManualClock, MemoryCatalog, MemoryChannel, MemoryNotifier,
    MemoryStore, ScheduledOperation, Scheduler,
};
use tokio::sync::Semaphore;

/// Makes a new MemoryChannel per call, sharing the state of the integration's "marketplace"
/// (so the orders the test adds are there), counting calls; refuses the integrations in
/// `refuse`; waits for a permit of `gate` when one is set.
#[derive(Debug)]
struct Factory {
    marketplaces: Mutex<Vec<(IntegrationId, MemoryChannel)>>,
    made: Mutex<Vec<MemoryChannel>>,
    calls: AtomicUsize,
    refuse: Mutex<BTreeSet<IntegrationId>>,
    gate: Option<Arc<Semaphore>>,
}

impl Factory {
    fn new(gate: Option<Arc<Semaphore>>) -> Self {
        Self {
            marketplaces: Mutex::new(Vec::new()),
            made: Mutex::new(Vec::new()),
            calls: AtomicUsize::new(0),
            refuse: Mutex::new(BTreeSet::new()),
            gate,
        }
    }

    fn serve(&self, id: IntegrationId, marketplace: MemoryChannel) {
        self.marketplaces.lock().unwrap().push((id, marketplace));
    }

    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl ChannelFactory for Factory {
    async fn channel(&self, record: &IntegrationRecord) -> Result<Arc<dyn Channel>, ChannelError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if let Some(gate) = &self.gate {
            let _permit = gate.acquire().await;
        }
        if self.refuse.lock().unwrap().contains(&record.id) {
            return Err(ChannelError::invalid(
                "no base URL is configured for this channel",
            ));
        }
        let marketplace = self
            .marketplaces
            .lock()
            .unwrap()
            .iter()
            .find(|(id, _)| *id == record.id)
            .map(|(_, m)| m.clone())
            .ok_or_else(|| ChannelError::invalid("unknown integration"))?;
        // A clone shares the marketplace's listings and orders, and records what it is handed.
        self.made.lock().unwrap().push(marketplace.clone());
        Ok(Arc::new(marketplace))
    }
}

struct Host {
    /// The engine that set the integrations up (another process, as far as `engine` knows).
    setup: Arc<Engine>,
    /// The service's engine: no channel registered, a factory.
    engine: Arc<Engine>,
    factory: Arc<Factory>,
    clock: Arc<ManualClock>,
}

fn host(gate: Option<Arc<Semaphore>>) -> Host {
    let clock = Arc::new(ManualClock::new(t0()));
    let store = Arc::new(MemoryStore::new());
    let catalog = Arc::new(MemoryCatalog::new());
    catalog.upsert(item("A", "10.00", 100, true));
    let notifier = Arc::new(MemoryNotifier::new());
    let setup = Arc::new(
        Engine::new(
            store.clone(),
            catalog.clone(),
            notifier.clone(),
            clock.clone(),
        )
        .with_credential_key(key()),
    );
    let factory = Arc::new(Factory::new(gate));
    let engine = Arc::new(
        Engine::builder()
            .store(store)
            .catalog(catalog)
            .notifier(notifier)
            .clock(clock.clone())
            .credential_key(key())
            .channel_factory(factory.clone())
            .build(),
    );
    Host {
        setup,
        engine,
        factory,
        clock,
    }
}

/// An active integration with orders on, set up by the other engine; its marketplace.
async fn connected(host: &Host) -> (IntegrationId, MemoryChannel) {
    let marketplace = MemoryChannel::new(ChannelKind::Reverb).with_capabilities(reverb_caps());
    let id = host
        .setup
        .create_integration(
            "shop",
            Arc::new(marketplace.clone()),
            IntegrationSettings::new(ChannelKind::Reverb, Currency::USD),
            seller(),
        )
        .await
        .unwrap();
    activate(&host.setup, id, &[Feature::Orders]).await;
    // The service's adapters are its own: fresh ones that were handed nothing yet.
    let fresh = MemoryChannel::new(ChannelKind::Reverb).with_capabilities(reverb_caps());
    host.factory.serve(id, fresh.clone());
    (id, fresh)
}

fn imported(records: &[RunRecord], id: IntegrationId) -> &RunRecord {
    records
        .iter()
        .find(|r| r.integration == id && r.operation == ScheduledOperation::ImportOrders)
        .unwrap_or_else(|| panic!("an import of {id} in {records:?}"))
}

async fn pass(s: &Scheduler) -> Vec<RunRecord> {
    let p = s.tick().await.unwrap();
    assert!(p.failed.is_empty(), "{:?}", p.failed);
    let mut out = Vec::new();
    for h in p.runs {
        out.push(h.await.unwrap());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operation_on_an_unattached_integration_attaches_it_through_the_factory_once() {
    let gate = Arc::new(Semaphore::new(0));
    let host = host(Some(gate.clone()));
    let (id, marketplace) = connected(&host).await;
    marketplace.add_order(order("O1", t0(), &["A"], "Std"));
    assert!(!host.engine.is_attached(id));
    assert!(matches!(
        host.engine.channel(id),
        Err(EngineError::NoChannel(_))
    ));

    // Eight callers at once while the factory is still making the adapter.
    let mut calls = Vec::new();
    for _ in 0..4 {
        let engine = host.engine.clone();
        calls.push(tokio::spawn(async move { engine.import_orders(id).await }));
    }
    let mut lookups = Vec::new();
    for _ in 0..4 {
        let engine = host.engine.clone();
        lookups.push(tokio::spawn(async move { engine.ensure_channel(id).await }));
    }
    while host.factory.calls() == 0 {
        tokio::task::yield_now().await;
    }
    // Let the others reach the engine and queue behind the first.
    for _ in 0..50 {
        tokio::task::yield_now().await;
    }
    gate.add_permits(100);
    for c in calls {
        // Concurrent imports of one integration may meet in the store; none imports twice.
        let _ = c.await.unwrap();
    }
    let channels: Vec<Arc<dyn Channel>> = {
        let mut out = Vec::new();
        for l in lookups {
            out.push(l.await.unwrap().unwrap());
        }
        out
    };
    assert_eq!(host.factory.calls(), 1, "one factory call for all callers");
    let attached = host.engine.channel(id).unwrap();
    assert!(channels.iter().all(|c| Arc::ptr_eq(c, &attached)));
    assert_eq!(host.engine.attached_channels(), 1);
    // The stored credentials were handed over when it was attached.
    assert_eq!(
        marketplace.handed_credentials(),
        Some(marketsync_core::CredentialKind::ApiToken)
    );
    let entry = host
        .engine
        .ledger_entry(id, &oid("O1"))
        .await
        .unwrap()
        .expect("downloaded");
    assert_eq!(entry.outcome, OrderOutcome::Imported);

    // Detached, the next operation makes a new one.
    assert!(host.engine.detach_channel(id).is_some());
    assert!(!host.engine.is_attached(id));
    host.engine.import_orders(id).await.unwrap();
    assert_eq!(host.factory.calls(), 2);
    assert!(host.engine.is_attached(id));
}

#[tokio::test]
async fn without_a_factory_an_unattached_integration_is_still_refused() {
    let host = host(None);
    let (id, _) = connected(&host).await;
    let plain = Engine::new(
        host.setup.store().clone(),
        Arc::new(MemoryCatalog::new()),
        Arc::new(MemoryNotifier::new()),
        host.clock.clone(),
    )
    .with_credential_key(key());
    assert!(!plain.has_channel_factory());
    assert!(matches!(
        plain.import_orders(id).await,
        Err(EngineError::NoChannel(i)) if i == id
    ));
    assert!(matches!(
        plain.ensure_channel(id).await,
        Err(EngineError::NoChannel(i)) if i == id
    ));
}

#[tokio::test]
async fn the_scheduler_detaches_after_release_and_attaches_again_at_the_next_claim() {
    let host = host(None);
    let (a, market_a) = connected(&host).await;
    let (b, market_b) = connected(&host).await;
    let s = Scheduler::new(host.engine.clone(), 4);
    for round in 0..3 {
        let name = format!("R{round}");
        market_a.add_order(order(
            &name,
            marketsync_core::Clock::now(&*host.clock),
            &["A"],
            "Std",
        ));
        market_b.add_order(order(
            &name,
            marketsync_core::Clock::now(&*host.clock),
            &["A"],
            "Std",
        ));
        let runs = pass(&s).await;
        for id in [a, b] {
            assert!(imported(&runs, id).result.is_ok(), "{runs:?}");
            assert_eq!(imported(&runs, id).channel, ChannelKind::Reverb);
            let e = host
                .engine
                .ledger_entry(id, &oid(&name))
                .await
                .unwrap()
                .expect("downloaded");
            assert_eq!(e.outcome, OrderOutcome::Imported);
        }
        // Released: the worker keeps no adapter.
        assert_eq!(s.held(), 0);
        assert_eq!(host.engine.attached_channels(), 0, "round {round}");
        assert_eq!(host.factory.calls(), 2 * (round + 1), "one per claim");
        host.clock.advance(chrono::TimeDelta::minutes(10));
    }
}

#[tokio::test]
async fn a_failing_factory_fails_only_its_integration() {
    let host = host(None);
    let (good, market_good) = connected(&host).await;
    let (bad, _) = connected(&host).await;
    host.factory.refuse.lock().unwrap().insert(bad);
    let s = Scheduler::new(host.engine.clone(), 4);
    for round in 0..2 {
        let name = format!("R{round}");
        market_good.add_order(order(
            &name,
            marketsync_core::Clock::now(&*host.clock),
            &["A"],
            "Std",
        ));
        let runs = pass(&s).await;
        match &imported(&runs, bad).result {
            Err(EngineError::ChannelFactory { integration, error }) => {
                assert_eq!(*integration, bad);
                assert!(error.to_string().contains("no base URL"), "{error}");
            }
            other => panic!("the factory's error, not {other:?}"),
        }
        assert!(imported(&runs, good).result.is_ok(), "{runs:?}");
        let e = host
            .engine
            .ledger_entry(good, &oid(&name))
            .await
            .unwrap()
            .expect("downloaded");
        assert_eq!(e.outcome, OrderOutcome::Imported);
        assert!(!host.engine.is_attached(bad));
        assert_eq!(s.held(), 0);
        host.clock.advance(chrono::TimeDelta::minutes(10));
    }
    // Direct calls say the same, naming the integration.
    let err = host.engine.import_orders(bad).await.unwrap_err();
    assert!(
        err.to_string().contains(&bad.to_string()),
        "the error names the integration: {err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_service_reports_every_run_with_its_channel_and_one_failing_integration_stops_nothing()
{
    use marketsync_core::engine::scheduler::Report;
    let host = host(None);
    let (good, market_good) = connected(&host).await;
    let (bad, _) = connected(&host).await;
    host.factory.refuse.lock().unwrap().insert(bad);
    market_good.add_order(order("O1", t0(), &["A"], "Std"));
    let s = Scheduler::new(host.engine.clone(), 4);
    let (tx, mut reports) = tokio::sync::mpsc::channel(64);
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let service = s.clone();
    let run = tokio::spawn(async move {
        service
            .run(
                std::time::Duration::from_millis(10),
                async move {
                    let _ = stop_rx.await;
                },
                tx,
            )
            .await
    });
    let mut imports = std::collections::BTreeMap::new();
    while imports.len() < 2 {
        match reports.recv().await.expect("the service runs") {
            Report::Run(r) => {
                assert_eq!(r.channel, ChannelKind::Reverb);
                if r.operation == ScheduledOperation::ImportOrders {
                    imports.insert(r.integration, r);
                }
            }
            Report::Failed(f) => panic!("no integration fails to be prepared: {f:?}"),
        }
    }
    stop_tx.send(()).unwrap();
    let summary = run.await.unwrap();
    assert!(summary.passes >= 1);
    assert!(matches!(
        imports[&bad].result,
        Err(EngineError::ChannelFactory { .. })
    ));
    assert!(!imports[&bad].is_ok());
    assert!(imports[&good].is_ok(), "{:?}", imports[&good]);
    let e = host
        .engine
        .ledger_entry(good, &oid("O1"))
        .await
        .unwrap()
        .expect("downloaded");
    assert_eq!(e.outcome, OrderOutcome::Imported);
    assert_eq!(host.engine.attached_channels(), 0);
}
