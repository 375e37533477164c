//! Idempotency keys of shipments, refunds and cancellations, through the facade as a host uses
//! them: the engine on the SQLite store in a file, each integration on its own in-memory channel.
//!
//! - Keys are scoped per integration: two integrations using host keys built as `ship-{order}`
//!   both ship (before, the second silently got the first one's entry and never shipped).
//! - The same key with other content in one integration is a typed error naming the key and
//!   what differs, never a silent success; the same key and content is the same entry.
//! - With no key, the default key is derived from the request: the same request twice (a double
//!   click, a retry after a timeout) is one entry and one shipment or refund at the channel.

use std::path::PathBuf;
use std::sync::Arc;

use chrono::{TimeDelta, TimeZone, Utc};
use marketsync::lifecycle::Event;
use marketsync::testing::MemoryChannel;
use marketsync::{
    Actor, AdjustmentReason, Buyer, ChannelKind, ChannelOrderId, Clock, CredentialKey, Credentials,
    Currency, CurrencySource, Engine, EngineError, Feature, IdempotencyKey, IntegrationId,
    IntegrationSettings, InventoryItem, ManualClock, MemoryCatalog, MemoryNotifier, Money, Order,
    OrderLine, OrderState, OrderStatus, Refund, Shipment, Sku, SqliteStore,
};

/// A database file removed at the end of the test.
struct TempDb(PathBuf);

impl TempDb {
    fn new(name: &str) -> Self {
        let path = std::env::temp_dir().join(format!(
            "marketsync-outbox-keys-{name}-{}-{}.db",
            std::process::id(),
            uuid::Uuid::new_v4()
        ));
        Self(path)
    }
}

impl Drop for TempDb {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm"] {
            let mut p = self.0.clone().into_os_string();
            p.push(suffix);
            let _ = std::fs::remove_file(PathBuf::from(p));
        }
    }
}

struct World {
    engine: Engine,
    clock: Arc<ManualClock>,
    _db: TempDb,
}

fn order(id: &str) -> Order {
    Order {
        channel_order_id: ChannelOrderId::new(id).unwrap(),
        marketplace_order_id: None,
        site: None,
        created_at: Utc.with_ymd_and_hms(2026, 11, 20, 10, 0, 0).unwrap(),
        updated_at: None,
        status: OrderStatus::new(OrderState::AwaitingShipment, "paid"),
        currency: Currency::USD,
        currency_source: CurrencySource::Channel,
        lines: vec![OrderLine {
            line_id: format!("{id}-1"),
            sku: Some(Sku::new("LAMP-01").unwrap()),
            listing_id: None,
            title: "Desk lamp".into(),
            quantity: 2,
            unit_price: Money::parse("49.00", "USD").unwrap(),
        }],
        shipping_method: Some("Ground".into()),
        shipping_price: None,
        tax: None,
        total: Some(Money::parse("98.00", "USD").unwrap()),
        shipping_address: None,
        buyer: Buyer::default(),
        local_pickup: false,
        revision: None,
    }
}

async fn world(name: &str) -> World {
    let db = TempDb::new(name);
    let clock = Arc::new(ManualClock::new(
        Utc.with_ymd_and_hms(2026, 11, 22, 9, 0, 0).unwrap(),
    ));
    let store = Arc::new(SqliteStore::open(&db.0).await.unwrap());
    let catalog = Arc::new(MemoryCatalog::new());
    catalog.upsert(InventoryItem {
        stock_version: None,
        sku: Sku::new("LAMP-01").unwrap(),
        title: "Desk lamp".into(),
        price: Money::parse("49.00", "USD").unwrap(),
        quantity: 10,
        labels: Default::default(),
    });
    let engine = Engine::new(
        store,
        catalog,
        Arc::new(MemoryNotifier::new()),
        clock.clone(),
    )
    .with_credential_key(CredentialKey::new("outbox-keys", [9; 32]));
    World {
        engine,
        clock,
        _db: db,
    }
}

/// An integration on its own channel, live for orders and fulfilments, with `orders` imported.
async fn integration(w: &World, name: &str, orders: &[&str]) -> (IntegrationId, MemoryChannel) {
    let seller = Actor::User("ana".into());
    let channel = MemoryChannel::new(ChannelKind::Reverb);
    for o in orders {
        channel.add_order(order(o));
    }
    let id = w
        .engine
        .create_integration(
            name,
            Arc::new(channel.clone()),
            IntegrationSettings::new(ChannelKind::Reverb, Currency::USD),
            seller.clone(),
        )
        .await
        .unwrap();
    w.engine
        .enter_credentials(id, &Credentials::api_token("never-printed"), seller.clone())
        .await
        .unwrap();
    w.engine.verify(id, seller.clone()).await.unwrap();
    w.engine
        .apply(id, seller.clone(), Event::Activate)
        .await
        .unwrap();
    for feature in [Feature::Orders, Feature::Fulfillments] {
        w.engine
            .apply(
                id,
                seller.clone(),
                Event::SetFeature {
                    feature,
                    on: true,
                    support_override: None,
                },
            )
            .await
            .unwrap();
    }
    let report = w.engine.import_orders(id).await.unwrap();
    assert_eq!(report.imported.len(), orders.len(), "{report:?}");
    (id, channel)
}

fn shipment(w: &World, tracking: &str) -> Shipment {
    Shipment {
        carrier: Some("UPS".into()),
        method: Some("Ground".into()),
        tracking_number: Some(tracking.into()),
        shipped_at: w.clock.now(),
        lines: vec![],
        delivery: Default::default(),
    }
}

fn partial_refund(amount: &str) -> Refund {
    Refund {
        amount: Some(Money::parse(amount, "USD").unwrap()),
        lines: vec![],
        reason: AdjustmentReason::CustomerReturnedItem,
        restock: false,
        note: None,
    }
}

fn oid(s: &str) -> ChannelOrderId {
    ChannelOrderId::new(s).unwrap()
}

#[tokio::test]
async fn two_integrations_using_the_same_host_keys_both_ship() {
    let w = world("two-integrations").await;
    let (a, channel_a) = integration(&w, "Reverb — main shop", &["1001", "1002"]).await;
    let (b, channel_b) = integration(&w, "Reverb — outlet", &["1001", "1002"]).await;
    for id in [a, b] {
        for o in ["1001", "1002"] {
            // The key as a host builds it: the same text in every integration.
            let key = IdempotencyKey::new(format!("ship-{o}")).unwrap();
            let entry = w
                .engine
                .ship(id, &oid(o), shipment(&w, &format!("1Z{o}")), Some(key))
                .await
                .unwrap();
            assert_eq!(
                entry.item.integration_id, id,
                "the entry is this integration's"
            );
        }
    }
    for (id, channel) in [(a, &channel_a), (b, &channel_b)] {
        let outbox = w.engine.store().outbox(id).await.unwrap();
        assert_eq!(outbox.len(), 2, "each integration has its own two entries");
        let report = w.engine.sync_orders(id).await.unwrap();
        assert_eq!(report.sent.len(), 2, "{report:?}");
        let shipped: Vec<_> = channel
            .shipments()
            .into_iter()
            .map(|s| s.order_id.as_str().to_owned())
            .collect();
        assert_eq!(shipped, ["1001", "1002"], "both orders shipped at {id}");
    }
}

#[tokio::test]
async fn ship_without_a_key_twice_is_one_entry_and_one_shipment() {
    let w = world("ship-twice").await;
    let (id, channel) = integration(&w, "Reverb", &["2001"]).await;
    let first = w
        .engine
        .ship(id, &oid("2001"), shipment(&w, "1Z2001"), None)
        .await
        .unwrap();
    // The seller clicks again a moment later (the host stamps the shipment again).
    w.clock.advance(TimeDelta::seconds(3));
    let second = w
        .engine
        .ship(id, &oid("2001"), shipment(&w, "1Z2001"), None)
        .await
        .unwrap();
    assert_eq!(
        second.item.idempotency_key, first.item.idempotency_key,
        "the default key is derived from the request"
    );
    assert!(first.item.idempotency_key.is_derived());
    assert!(first.item.idempotency_key.as_str().starts_with("auto-"));
    assert_eq!(w.engine.store().outbox(id).await.unwrap().len(), 1);
    w.engine.sync_orders(id).await.unwrap();
    // And once more after it was sent: still nothing new.
    w.engine
        .ship(id, &oid("2001"), shipment(&w, "1Z2001"), None)
        .await
        .unwrap();
    w.engine.sync_orders(id).await.unwrap();
    assert_eq!(w.engine.store().outbox(id).await.unwrap().len(), 1);
    assert_eq!(channel.shipments().len(), 1, "one shipment at the channel");

    // Another tracking number is another request: its own entry.
    let other = w
        .engine
        .ship(id, &oid("2001"), shipment(&w, "1Z2001-B"), None)
        .await
        .unwrap();
    assert_ne!(other.item.idempotency_key, first.item.idempotency_key);
    assert_eq!(w.engine.store().outbox(id).await.unwrap().len(), 2);
}

#[tokio::test]
async fn refund_without_a_key_twice_is_one_refund() {
    let w = world("refund-twice").await;
    let (id, channel) = integration(&w, "Reverb", &["3001"]).await;
    for _ in 0..2 {
        w.engine
            .refund(id, &oid("3001"), partial_refund("10.00"), None)
            .await
            .unwrap();
    }
    // The same amount written another way is the same request.
    w.engine
        .refund(id, &oid("3001"), partial_refund("10.0"), None)
        .await
        .unwrap();
    w.engine.sync_orders(id).await.unwrap();
    assert_eq!(w.engine.store().outbox(id).await.unwrap().len(), 1);
    assert_eq!(channel.refunds().len(), 1, "one refund at the channel");

    // A host that means a second refund of the same amount passes its own key.
    let key = IdempotencyKey::new("refund-3001-second").unwrap();
    w.engine
        .refund(id, &oid("3001"), partial_refund("10.00"), Some(key))
        .await
        .unwrap();
    w.engine.sync_orders(id).await.unwrap();
    assert_eq!(channel.refunds().len(), 2);
}

#[tokio::test]
async fn a_key_reused_for_another_request_is_a_typed_conflict() {
    let w = world("conflict").await;
    let (id, channel) = integration(&w, "Reverb", &["4001", "4002"]).await;
    let key = IdempotencyKey::new("ship-4001").unwrap();
    let first = w
        .engine
        .ship(id, &oid("4001"), shipment(&w, "1Z4001"), Some(key.clone()))
        .await
        .unwrap();

    // The same key and request, retried later: the same entry.
    w.clock.advance(TimeDelta::minutes(1));
    let retry = w
        .engine
        .ship(id, &oid("4001"), shipment(&w, "1Z4001"), Some(key.clone()))
        .await
        .unwrap();
    assert_eq!(retry, first);

    // The same key for another order, another tracking number, another action: refused.
    let cases: Vec<(&str, Result<_, EngineError>, Vec<&str>)> = vec![
        (
            "other order",
            w.engine
                .ship(id, &oid("4002"), shipment(&w, "1Z4001"), Some(key.clone()))
                .await,
            vec!["order"],
        ),
        (
            "other tracking number",
            w.engine
                .ship(
                    id,
                    &oid("4001"),
                    shipment(&w, "1Z4001-X"),
                    Some(key.clone()),
                )
                .await,
            vec!["tracking number"],
        ),
        (
            "a refund",
            w.engine
                .refund(id, &oid("4001"), partial_refund("5.00"), Some(key.clone()))
                .await,
            vec!["action"],
        ),
    ];
    for (what, result, want) in cases {
        match result {
            Err(EngineError::IdempotencyConflict {
                integration,
                key: k,
                existing_order,
                existing_action,
                differs,
            }) => {
                assert_eq!(integration, id, "{what}");
                assert_eq!(k, key, "{what}");
                assert_eq!(existing_order.as_str(), "4001", "{what}");
                assert_eq!(existing_action, "ship", "{what}");
                assert_eq!(differs, want, "{what}");
            }
            other => panic!("{what}: expected IdempotencyConflict, got {other:?}"),
        }
    }
    // The message names the key and what differs.
    let e = w
        .engine
        .ship(id, &oid("4002"), shipment(&w, "1Z4002"), Some(key.clone()))
        .await
        .unwrap_err();
    let text = e.to_string();
    assert!(text.contains("ship-4001"), "{text}");
    assert!(text.contains("order, tracking number"), "{text}");

    // Nothing was recorded for the refused requests: one entry, one shipment of 4001.
    assert_eq!(w.engine.store().outbox(id).await.unwrap(), vec![first]);
    w.engine.sync_orders(id).await.unwrap();
    let shipped: Vec<_> = channel
        .shipments()
        .into_iter()
        .map(|s| (s.order_id.as_str().to_owned(), s.shipment.tracking_number))
        .collect();
    assert_eq!(shipped, [("4001".to_owned(), Some("1Z4001".to_owned()))]);
}

/// A shipment recorded without a key that the channel refused for good, recorded again the same
/// way (the seller clicks "ship" again): a typed answer with the channel's error, never the old
/// failure passed off as this request's success; with a key of the host's own it goes out.
#[tokio::test]
async fn the_same_keyless_request_after_a_refusal_is_a_typed_answer() {
    let w = world("refused-before").await;
    let (id, channel) = integration(&w, "Reverb", &["5001"]).await;
    channel.fail_next(
        marketsync::Operation::Ship,
        1,
        marketsync::ErrorKind::Invalid,
    );
    w.engine
        .ship(id, &oid("5001"), shipment(&w, "1Z5001"), None)
        .await
        .unwrap();
    let report = w.engine.sync_orders(id).await.unwrap();
    assert_eq!(report.failed.len(), 1, "{report:?}");
    assert!(!report.failed[0].will_retry);

    let err = w
        .engine
        .ship(id, &oid("5001"), shipment(&w, "1Z5001"), None)
        .await
        .unwrap_err();
    let EngineError::PreviouslyRefused { action, error, .. } = &err else {
        panic!("expected PreviouslyRefused, got {err:?}")
    };
    assert_eq!(*action, "ship");
    assert!(error.contains("injected failure"), "{error}");
    assert!(err.to_string().contains("key of your own"), "{err}");

    let key = IdempotencyKey::new("ship-5001-again").unwrap();
    w.engine
        .ship(id, &oid("5001"), shipment(&w, "1Z5001"), Some(key))
        .await
        .unwrap();
    w.engine.sync_orders(id).await.unwrap();
    assert_eq!(channel.shipments().len(), 1, "sent once, after the fix");
}
