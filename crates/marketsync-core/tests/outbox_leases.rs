//! Outbox and notification leases run by the store's clock: a worker whose clock is 10 minutes
//! ahead or behind never takes an entry another worker holds, and a worker that sends slowly
//! claims no more than it can send before its lease lapses — so nothing is sent twice.
//!
//! Each send here "takes" the longest time the engine is told a send may take: the store's lease
//! clock (a `ManualClock`) is moved forward by that much on every call. Between sends, rival
//! workers with skewed clocks run their own pass over the same store.

mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use async_trait::async_trait;
use chrono::TimeDelta;
use common::*;
use marketsync_core::notify::Notification;
use marketsync_core::store::{NewNotification, OutboxState};
use marketsync_core::{
    Channel, ChannelError, ChannelKind, Currency, DeliveryError, Engine, Feature, IntegrationId,
    IntegrationSettings, ManualClock, MemoryCatalog, MemoryChannel, MemoryNotifier, MemoryStore,
    Message, NotificationDispatcher, Shipment, ShipmentRequest, Store, Transport,
};
use marketsync_testkit::intercept::{Intercept, Intercepted};

const LEASE: Duration = Duration::from_secs(300);
const SEND_TIME: Duration = Duration::from_secs(60);
const ORDERS: usize = 12;

fn minutes(n: i64) -> TimeDelta {
    TimeDelta::minutes(n)
}

/// The outbox worker's channel: before each shipment, the rival workers run `sync_orders`;
/// then the shipment takes [`SEND_TIME`] by the store's lease clock.
#[derive(Debug)]
struct SlowShip {
    lease_clock: Arc<ManualClock>,
    rivals: OnceLock<(IntegrationId, Vec<Arc<Engine>>)>,
}

#[derive(Debug)]
struct Slow(Arc<SlowShip>);

#[async_trait]
impl Intercept for Slow {
    async fn ship(
        &self,
        inner: &dyn Channel,
        request: &ShipmentRequest,
    ) -> Result<(), ChannelError> {
        if let Some((id, rivals)) = self.0.rivals.get() {
            for rival in rivals {
                rival.sync_orders(*id).await.expect("a rival's sync_orders");
            }
        }
        self.0
            .lease_clock
            .advance(TimeDelta::from_std(SEND_TIME).unwrap());
        inner.ship(request).await
    }
}

#[tokio::test]
async fn slow_outbox_sends_and_skewed_rivals_send_each_shipment_once() {
    let lease_clock = Arc::new(ManualClock::new(t0()));
    let store = Arc::new(MemoryStore::with_lease_clock(lease_clock.clone()));
    let catalog = Arc::new(MemoryCatalog::new());
    catalog.upsert(item("A", "10", 50, true));
    let clock = Arc::new(ManualClock::new(t0()));
    let engine_at = |clock: Arc<ManualClock>| {
        Arc::new(
            Engine::new(
                store.clone(),
                catalog.clone(),
                Arc::new(MemoryNotifier::new()),
                clock,
            )
            .with_credential_key(key())
            .with_outbox_lease(LEASE)
            .with_outbox_send_time(SEND_TIME),
        )
    };
    let engine = engine_at(clock.clone());
    let channel = MemoryChannel::new(ChannelKind::Reverb)
        .with_capabilities(reverb_caps())
        .with_clock(clock.clone());
    let slow = Arc::new(SlowShip {
        lease_clock: lease_clock.clone(),
        rivals: OnceLock::new(),
    });
    let id = engine
        .create_integration(
            "slow",
            Arc::new(Intercepted::new(channel.clone(), Slow(slow.clone()))),
            IntegrationSettings::new(ChannelKind::Reverb, Currency::USD),
            seller(),
        )
        .await
        .unwrap();
    activate(&engine, id, &[Feature::Orders]).await;
    for i in 0..ORDERS {
        channel.add_order(order(&format!("O{i}"), t0(), &["A"], "Std"));
    }
    engine.import_orders(id).await.unwrap();
    for i in 0..ORDERS {
        let shipment = Shipment {
            carrier: Some("UPS".into()),
            method: None,
            tracking_number: Some(format!("1Z{i}")),
            shipped_at: t0(),
            lines: vec![],
            delivery: Default::default(),
        };
        engine
            .ship(id, &oid(&format!("O{i}")), shipment, None)
            .await
            .unwrap();
    }

    // The outbox worker runs an hour later; its rivals' clocks are 10 minutes ahead and behind.
    clock.advance(minutes(60));
    let rivals: Vec<Arc<Engine>> = [minutes(70), minutes(50)]
        .into_iter()
        .map(|at| {
            let rival = engine_at(Arc::new(ManualClock::new(t0() + at)));
            rival.register_channel(id, Arc::new(channel.clone()));
            rival
        })
        .collect();
    slow.rivals.set((id, rivals)).unwrap();

    let report = engine.sync_orders(id).await.unwrap();
    assert!(report.failed.is_empty(), "{report:?}");
    assert!(
        !report.sent.is_empty(),
        "the slow worker sent what it claimed: {report:?}"
    );

    let mut shipped: BTreeMap<String, usize> = BTreeMap::new();
    for s in channel.shipments() {
        *shipped.entry(s.order_id.as_str().to_owned()).or_default() += 1;
    }
    assert_eq!(shipped.len(), ORDERS, "every order shipped: {shipped:?}");
    assert!(
        shipped.values().all(|n| *n == 1),
        "no shipment sent twice (a lease lapsed while its entry waited, or a skewed clock took a live lease): {shipped:?}"
    );
    for entry in store.outbox(id).await.unwrap() {
        assert!(matches!(entry.state, OutboxState::Sent { .. }), "{entry:?}");
        assert_eq!(entry.attempts, 1, "claimed once: {entry:?}");
    }
}

/// Records every message it delivers. The slow one (the worker's) first lets the rival
/// dispatchers run a pass, then takes the longest allowed attempt time by the lease clock.
#[derive(Debug)]
struct Recording {
    delivered: Arc<Mutex<Vec<String>>>,
    slow: Option<(Arc<ManualClock>, Vec<Arc<NotificationDispatcher>>)>,
}

#[async_trait]
impl Transport for Recording {
    fn name(&self) -> &str {
        "pager"
    }

    async fn deliver(&self, message: &Message) -> Result<(), DeliveryError> {
        if let Some((lease_clock, rivals)) = &self.slow {
            for rival in rivals {
                let report = rival.deliver().await;
                assert!(report.store_errors.is_empty(), "{report:?}");
            }
            lease_clock.advance(TimeDelta::from_std(SEND_TIME).unwrap());
        }
        self.delivered.lock().unwrap().push(message.id.clone());
        Ok(())
    }
}

#[tokio::test]
async fn slow_deliveries_and_skewed_rival_dispatchers_deliver_each_message_once() {
    let lease_clock = Arc::new(ManualClock::new(t0()));
    let store = Arc::new(MemoryStore::with_lease_clock(lease_clock.clone()));
    let w = Engine::new(
        store.clone(),
        Arc::new(MemoryCatalog::new()),
        Arc::new(MemoryNotifier::new()),
        Arc::new(ManualClock::new(t0())),
    )
    .with_credential_key(key());
    let id = w
        .create_integration(
            "pager",
            Arc::new(MemoryChannel::new(ChannelKind::Reverb)),
            IntegrationSettings::new(ChannelKind::Reverb, Currency::USD),
            seller(),
        )
        .await
        .unwrap();
    let record = store.integration(id).await.unwrap().unwrap();
    let notifications: Vec<NewNotification> = (0..ORDERS)
        .map(|i| {
            let mut n = NewNotification::new(
                format!("restored-{i}"),
                Notification::ConnectionRestored { integration: id },
                t0(),
            );
            n.transports = vec!["pager".into()];
            n
        })
        .collect();
    store
        .update_integration_notifying(&record, &[], &notifications)
        .await
        .unwrap();

    let delivered = Arc::new(Mutex::new(Vec::new()));
    // Rival dispatchers over the same store, their clocks 10 minutes ahead and behind.
    let rivals: Vec<Arc<NotificationDispatcher>> = [minutes(70), minutes(50)]
        .into_iter()
        .map(|at| {
            let rival = Arc::new(NotificationDispatcher::new(
                store.clone(),
                Arc::new(ManualClock::new(t0() + at)),
            ));
            rival.register(Arc::new(Recording {
                delivered: delivered.clone(),
                slow: None,
            }));
            rival
        })
        .collect();
    let dispatcher = NotificationDispatcher::new(
        store.clone(),
        Arc::new(ManualClock::new(t0() + minutes(60))),
    );
    dispatcher.set_attempt_time(SEND_TIME);
    dispatcher.register(Arc::new(Recording {
        delivered: delivered.clone(),
        slow: Some((lease_clock.clone(), rivals)),
    }));

    let report = dispatcher.deliver().await;
    assert!(report.store_errors.is_empty(), "{report:?}");
    assert!(
        !report.delivered.is_empty(),
        "the slow dispatcher delivered what it claimed: {report:?}"
    );
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for m in delivered.lock().unwrap().iter() {
        *counts.entry(m.clone()).or_default() += 1;
    }
    assert_eq!(counts.len(), ORDERS, "every message delivered: {counts:?}");
    assert!(
        counts.values().all(|n| *n == 1),
        "no message delivered twice (a lease lapsed while its delivery waited): {counts:?}"
    );
}
