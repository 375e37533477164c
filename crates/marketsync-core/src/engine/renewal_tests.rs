//! The engine's credential sink as a channel uses it around a renewal: the store-held renewal
//! lease (its holder, its length, its extension) and [`Engine::renewals_idle`].

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{TimeDelta, TimeZone, Utc};

use super::{Engine, RENEWAL_LEASE};
use crate::capability::Capabilities;
use crate::channel::{
    AccountInfo, Channel, CredentialSink, ListingPage, ListingQuery, OrderPage, OrderQuery, Renewal,
};
use crate::clock::ManualClock;
use crate::credentials::Credentials;
use crate::error::{ChannelError, ErrorKind};
use crate::ids::{ChannelKind, IntegrationId};
use crate::listing::{ListingOutcome, ListingUpdate};
use crate::memory::{MemoryCatalog, MemoryChannel, MemoryNotifier, MemoryStore};
use crate::store::{Store, WorkerId};

/// A memory channel that keeps the sink the engine gives it, as a renewing adapter does.
#[derive(Debug)]
struct Renewing {
    inner: MemoryChannel,
    sink: Mutex<Option<Arc<dyn CredentialSink>>>,
}

impl Renewing {
    fn new() -> Arc<Self> {
        Arc::new(Self {
            inner: MemoryChannel::new(ChannelKind::Allegro),
            sink: Mutex::new(None),
        })
    }

    fn sink(&self) -> Arc<dyn CredentialSink> {
        self.sink.lock().unwrap().clone().expect("registered")
    }
}

#[async_trait]
impl Channel for Renewing {
    fn kind(&self) -> ChannelKind {
        self.inner.kind()
    }
    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }
    async fn use_credentials(&self, credentials: &Credentials) -> Result<(), ChannelError> {
        self.inner.use_credentials(credentials).await
    }
    fn use_credential_sink(&self, sink: Arc<dyn CredentialSink>) {
        *self.sink.lock().unwrap() = Some(sink);
    }
    async fn verify(&self) -> Result<AccountInfo, ChannelError> {
        self.inner.verify().await
    }
    async fn list_listings(&self, query: &ListingQuery) -> Result<ListingPage, ChannelError> {
        self.inner.list_listings(query).await
    }
    async fn update_listings(
        &self,
        updates: &[ListingUpdate],
    ) -> Result<Vec<ListingOutcome>, ChannelError> {
        self.inner.update_listings(updates).await
    }
    async fn fetch_orders(&self, query: &OrderQuery) -> Result<OrderPage, ChannelError> {
        self.inner.fetch_orders(query).await
    }
}

/// A worker's engine over `store`.
fn worker(store: &Arc<dyn Store>, clock: &Arc<ManualClock>, name: &str) -> Engine {
    Engine::new(
        store.clone(),
        Arc::new(MemoryCatalog::new()),
        Arc::new(MemoryNotifier::new()),
        clock.clone(),
    )
    .with_worker_id(WorkerId::new(name))
}

/// An engine over a store of its own whose leases lapse by `lease_clock`.
fn engine(lease_clock: &Arc<ManualClock>) -> Engine {
    worker(&store(lease_clock), lease_clock, "worker")
}

fn store(lease_clock: &Arc<ManualClock>) -> Arc<dyn Store> {
    Arc::new(MemoryStore::with_lease_clock(lease_clock.clone()))
}

fn lease_clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::new(
        Utc.with_ymd_and_hms(2026, 3, 2, 12, 0, 0).unwrap(),
    ))
}

fn lease_secs() -> i64 {
    i64::try_from(RENEWAL_LEASE.as_secs()).unwrap()
}

/// A channel registered again for the same integration (in the same process) gets a sink of
/// its own, which must wait for the renewal the first one holds: holding it "as the same
/// worker" would let both spend one refresh token.
#[tokio::test(start_paused = true)]
async fn two_channels_of_one_integration_in_one_process_do_not_renew_at_once() {
    let clock = lease_clock();
    let engine = engine(&clock);
    let id = IntegrationId::new();
    let (first, second) = (Renewing::new(), Renewing::new());
    engine.register_channel(id, first.clone());
    engine.register_channel(id, second.clone());

    assert!(matches!(
        first.sink().begin_renewal().await.unwrap(),
        Renewal::Renew
    ));
    // The second waits (paused time: its whole wait) and gives up without renewing.
    let e = second.sink().begin_renewal().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Transient, "{e}");
    assert!(e.to_string().contains("another worker"), "{e}");
    // Once the first ends its renewal, the second may renew.
    first.sink().end_renewal().await;
    assert!(matches!(
        second.sink().begin_renewal().await.unwrap(),
        Renewal::Renew
    ));
}

/// The lease is long enough for a slow store and a slow token endpoint, is extended on
/// request, and once lapsed and taken by another worker, extending it answers `false`.
#[tokio::test(start_paused = true)]
async fn the_renewal_lease_is_extended_and_reports_when_it_was_lost() {
    let clock = lease_clock();
    let store = store(&clock);
    let (a, b) = (worker(&store, &clock, "a"), worker(&store, &clock, "b"));
    let id = IntegrationId::new();
    let (mine, theirs) = (Renewing::new(), Renewing::new());
    a.register_channel(id, mine.clone());
    b.register_channel(id, theirs.clone());

    assert!(matches!(
        mine.sink().begin_renewal().await.unwrap(),
        Renewal::Renew
    ));
    // A store wait and a token call later (by the store's clock), the lease is still held.
    clock.advance(TimeDelta::seconds(120));
    assert!(theirs.sink().begin_renewal().await.is_err());
    assert!(mine.sink().extend_renewal().await.unwrap());
    // Extended: held a whole lease after the extension less a second...
    clock.advance(TimeDelta::seconds(lease_secs() - 1));
    assert!(theirs.sink().begin_renewal().await.is_err());
    // ...and lapsed after it: the other worker takes it, and this one must not renew.
    clock.advance(TimeDelta::seconds(2));
    assert!(matches!(
        theirs.sink().begin_renewal().await.unwrap(),
        Renewal::Renew
    ));
    assert!(!mine.sink().extend_renewal().await.unwrap());
    // Ending the lost renewal does not give back the other worker's lease.
    mine.sink().end_renewal().await;
    assert!(theirs.sink().extend_renewal().await.unwrap());
    assert!(RENEWAL_LEASE.as_secs() >= 2 * (30 + 30));
}

/// A host shutting down waits for renewals in flight: `renewals_idle` returns only once
/// every sink that began a renewal has ended it.
#[tokio::test(start_paused = true)]
async fn renewals_idle_waits_for_the_renewal_in_flight() {
    let clock = lease_clock();
    let engine = Arc::new(engine(&clock));
    engine.renewals_idle().await;
    let id = IntegrationId::new();
    let channel = Renewing::new();
    engine.register_channel(id, channel.clone());

    channel.sink().begin_renewal().await.unwrap();
    let idle = tokio::spawn({
        let engine = engine.clone();
        async move { engine.renewals_idle().await }
    });
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
    assert!(!idle.is_finished(), "a renewal is in flight");
    // Ending twice counts once.
    channel.sink().end_renewal().await;
    channel.sink().end_renewal().await;
    idle.await.unwrap();
    engine.renewals_idle().await;
}
