//! Shared set-up for engine tests: an active integration on a MemoryChannel.
#![allow(dead_code)]

use std::sync::Arc;

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use marketsync_core::lifecycle::Event;
use marketsync_core::{
    Actor, Buyer, Capabilities, ChannelKind, ChannelListing, ChannelListingId, ChannelListingState,
    ChannelOrderId, CredentialKey, Credentials, Currency, CurrencySource, Engine, Feature,
    IntegrationId, IntegrationSettings, InventoryItem, Label, ManualClock, MemoryCatalog,
    MemoryChannel, MemoryNotifier, MemoryStore, Money, Order, OrderLine, OrderState, OrderStatus,
    Sku,
};

pub struct World {
    pub engine: Arc<Engine>,
    pub store: Arc<MemoryStore>,
    pub catalog: Arc<MemoryCatalog>,
    pub notifier: Arc<MemoryNotifier>,
    pub clock: Arc<ManualClock>,
    pub channel: MemoryChannel,
    pub id: IntegrationId,
}

pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 1, 9, 0, 0).unwrap()
}

pub fn sku(s: &str) -> Sku {
    Sku::new(s).unwrap()
}

pub fn oid(s: &str) -> ChannelOrderId {
    ChannelOrderId::new(s).unwrap()
}

pub fn lid(s: &str) -> ChannelListingId {
    ChannelListingId::new(s).unwrap()
}

pub fn usd(s: &str) -> Money {
    Money::parse(s, "USD").unwrap()
}

pub fn label() -> Label {
    Label::new("reverb-feed").unwrap()
}

pub fn seller() -> Actor {
    Actor::User("ana".into())
}

pub fn item(s: &str, price: &str, qty: u32, labelled: bool) -> InventoryItem {
    InventoryItem {
        stock_version: None,
        sku: sku(s),
        title: format!("Item {s}"),
        price: usd(price),
        quantity: qty,
        labels: if labelled {
            [label()].into_iter().collect()
        } else {
            Default::default()
        },
    }
}

pub fn channel_listing(id: &str, s: &str) -> ChannelListing {
    ChannelListing {
        id: lid(id),
        sku: Some(sku(s)),
        title: Some(format!("Item {s}")),
        price: Some(usd("1.00")),
        quantity: Some(0),
        state: ChannelListingState::Live,
        raw_state: "live".into(),
    }
}

/// A paid order created `age` before `created_ref`, one line per SKU.
pub fn order(id: &str, created: DateTime<Utc>, skus: &[&str], shipping: &str) -> Order {
    Order {
        channel_order_id: oid(id),
        marketplace_order_id: None,
        site: None,
        created_at: created,
        updated_at: None,
        status: OrderStatus::new(OrderState::AwaitingShipment, "paid"),
        currency: Currency::USD,
        currency_source: CurrencySource::Channel,
        lines: skus
            .iter()
            .enumerate()
            .map(|(i, s)| OrderLine {
                line_id: format!("{id}-{i}"),
                sku: Some(sku(s)),
                listing_id: None,
                title: format!("Item {s}"),
                quantity: 1,
                unit_price: usd("10.00"),
            })
            .collect(),
        shipping_method: Some(shipping.into()),
        shipping_price: Some(usd("2.00")),
        tax: None,
        total: Some(usd("12.00")),
        shipping_address: None,
        buyer: Buyer::default(),
        local_pickup: false,
        revision: None,
    }
}

pub fn key() -> CredentialKey {
    CredentialKey::new("test-key", [42; 32])
}

/// Takes a new integration to Testing: credentials entered and verified, the label set,
/// activated, the given features on.
pub async fn activate(engine: &Engine, id: IntegrationId, features: &[Feature]) {
    engine
        .enter_credentials(id, &Credentials::api_token("tok-secret"), seller())
        .await
        .unwrap();
    engine.verify(id, seller()).await.unwrap();
    engine
        .apply(
            id,
            seller(),
            Event::SetLabel {
                label: Some(label()),
                support_override: None,
            },
        )
        .await
        .unwrap();
    engine.apply(id, seller(), Event::Activate).await.unwrap();
    for f in features {
        engine
            .apply(
                id,
                seller(),
                Event::SetFeature {
                    feature: *f,
                    on: true,
                    support_override: None,
                },
            )
            .await
            .unwrap();
    }
}

/// An integration taken to Testing, healthy, with a label and the given features on.
pub async fn world_with(kind: ChannelKind, caps: Capabilities, features: &[Feature]) -> World {
    let clock = Arc::new(ManualClock::new(t0()));
    let store = Arc::new(MemoryStore::new());
    let catalog = Arc::new(MemoryCatalog::new());
    let notifier = Arc::new(MemoryNotifier::new());
    let channel = MemoryChannel::new(kind)
        .with_capabilities(caps)
        .with_clock(clock.clone());
    let engine = Arc::new(
        Engine::new(
            store.clone(),
            catalog.clone(),
            notifier.clone(),
            clock.clone(),
        )
        .with_credential_key(key()),
    );
    let id = engine
        .create_integration(
            "test",
            Arc::new(channel.clone()),
            IntegrationSettings::new(kind, Currency::USD),
            seller(),
        )
        .await
        .unwrap();
    activate(&engine, id, features).await;
    notifier.take();
    World {
        engine,
        store,
        catalog,
        notifier,
        clock,
        channel,
        id,
    }
}

/// Reverb-like: a cursor feed, no acknowledgement.
pub fn reverb_caps() -> Capabilities {
    Capabilities {
        orders_acknowledge: false,
        ..Capabilities::all()
    }
}

pub async fn world() -> World {
    world_with(
        ChannelKind::Reverb,
        reverb_caps(),
        &[Feature::Listings, Feature::Orders],
    )
    .await
}

pub fn days(n: i64) -> TimeDelta {
    TimeDelta::days(n)
}
