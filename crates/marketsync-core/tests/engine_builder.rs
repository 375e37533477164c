//! `Engine::builder()`: its defaults, what happens to credentials with and without a key, and
//! the engine's shortcuts for common steps.

use std::sync::Arc;

use chrono::Utc;
use marketsync_core::lifecycle::Phase;
use marketsync_core::{
    Actor, ChannelKind, ChannelOrderId, Clock, CredentialKey, Credentials, Currency,
    CurrencySource, Delivery, Engine, EngineError, Feature, IntegrationSettings, Label,
    LedgerFilter, ManualClock, MemoryChannel, MemoryStore, Money, Order, OrderLine, OrderOutcome,
    OrderState, OrderStatus, Shipment, Sku, VaultError,
};

fn seller() -> Actor {
    Actor::User("ana".into())
}

async fn create(engine: &Engine, channel: &MemoryChannel) -> marketsync_core::IntegrationId {
    engine
        .create_integration(
            "Shop",
            Arc::new(channel.clone()),
            IntegrationSettings::new(ChannelKind::Reverb, Currency::USD),
            seller(),
        )
        .await
        .unwrap()
}

fn order(id: &str) -> Order {
    let usd = |s: &str| Money::parse(s, "USD").unwrap();
    Order {
        channel_order_id: ChannelOrderId::new(id).unwrap(),
        marketplace_order_id: None,
        site: None,
        created_at: Utc::now(),
        updated_at: None,
        status: OrderStatus::new(OrderState::AwaitingShipment, "paid"),
        currency: Currency::USD,
        currency_source: CurrencySource::Channel,
        lines: vec![OrderLine {
            line_id: format!("{id}-1"),
            sku: Some(Sku::new("GTR-1").unwrap()),
            listing_id: None,
            title: "Guitar".into(),
            quantity: 1,
            unit_price: usd("10.00"),
        }],
        shipping_method: Some("Standard".into()),
        shipping_price: None,
        tax: None,
        total: Some(usd("10.00")),
        shipping_address: None,
        buyer: Default::default(),
        local_pickup: false,
        revision: None,
    }
}

#[tokio::test]
async fn the_default_engine_runs_in_memory_with_an_ephemeral_key() {
    let engine = Engine::builder().build();
    let channel = MemoryChannel::new(ChannelKind::Reverb);
    let id = create(&engine, &channel).await;
    // The default store is in memory and the engine made up a key of its own for it.
    engine
        .enter_credentials(id, &Credentials::api_token("tok"), seller())
        .await
        .unwrap();
    assert!(matches!(
        engine.credentials(id).await.unwrap(),
        Credentials::ApiToken(_)
    ));
    let debug = format!("{:?}", Engine::builder());
    assert!(debug.contains("EngineBuilder"), "{debug}");
}

#[tokio::test]
async fn a_given_store_without_a_key_refuses_credentials_clearly() {
    let engine = Engine::builder()
        .store(Arc::new(MemoryStore::new()))
        .build();
    let channel = MemoryChannel::new(ChannelKind::Reverb);
    let id = create(&engine, &channel).await;
    let err = engine
        .enter_credentials(id, &Credentials::api_token("tok"), seller())
        .await
        .unwrap_err();
    assert!(
        matches!(err, EngineError::Vault(VaultError::KeyMissing { .. })),
        "{err:?}"
    );

    // With the host's key it works, and the builder's Debug names the key, never its bytes.
    let builder = Engine::builder()
        .store(Arc::new(MemoryStore::new()))
        .credential_key(CredentialKey::new("2026-11", [42; 32]));
    let debug = format!("{builder:?}");
    assert!(
        debug.contains("2026-11") && !debug.contains("42, 42"),
        "{debug}"
    );
    let engine = builder.build();
    let id = create(&engine, &channel).await;
    engine
        .enter_credentials(id, &Credentials::api_token("tok"), seller())
        .await
        .unwrap();
}

#[tokio::test]
async fn shortcuts_take_an_integration_from_setup_to_a_held_order_and_its_ledger_row() {
    let clock = Arc::new(ManualClock::new(Utc::now()));
    let engine = Engine::builder().clock(clock.clone()).build();
    let channel = MemoryChannel::new(ChannelKind::Reverb).with_clock(clock.clone());
    channel.add_order(order("R-1"));
    let id = create(&engine, &channel).await;
    engine
        .enter_credentials(id, &Credentials::api_token("tok"), seller())
        .await
        .unwrap();
    engine.verify(id, seller()).await.unwrap();
    engine
        .set_label(id, seller(), Label::new("reverb").unwrap())
        .await
        .unwrap();
    engine.activate(id, seller()).await.unwrap();
    engine
        .enable_features(id, seller(), [Feature::Listings, Feature::Orders])
        .await
        .unwrap();
    let rec = engine.integration_named("Shop").await.unwrap().unwrap();
    assert_eq!(rec.id, id);
    assert_eq!(rec.lifecycle.phase(clock.now()), Phase::Testing);
    assert!(rec.lifecycle.features().orders && rec.lifecycle.features().listings);
    assert!(engine.integration_named("Other").await.unwrap().is_none());

    // The catalog is empty: the order is held for its unknown SKU, and the ledger says so.
    let report = engine.import_orders(id).await.unwrap();
    assert_eq!(report.not_imported.len(), 1);
    let oid = ChannelOrderId::new("R-1").unwrap();
    let row = engine.ledger_entry(id, &oid).await.unwrap().unwrap();
    assert!(matches!(row.outcome, OrderOutcome::NotImported { .. }));
    assert_eq!(
        engine
            .ledger(id, LedgerFilter::NotImported)
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(
        engine
            .ledger_entry(id, &ChannelOrderId::new("R-404").unwrap())
            .await
            .unwrap()
            .is_none()
    );
    engine
        .set_feature(id, seller(), Feature::Orders, false)
        .await
        .unwrap();
    let rec = engine.integration(id).await.unwrap();
    assert!(!rec.lifecycle.features().orders);

    let at = clock.now();
    let tracked = Shipment::tracked("UPS", "1Z1", at).with_method("Ground");
    assert_eq!(tracked.method.as_deref(), Some("Ground"));
    assert_eq!(tracked.delivery, Delivery::Shipped);
    assert_eq!(tracked.tracking_number.as_deref(), Some("1Z1"));
    assert!(tracked.lines.is_empty());
    let pickup = Shipment::picked_up(at);
    assert_eq!(pickup.delivery, Delivery::PickedUp);
    assert_eq!(pickup.carrier, None);
}
