//! A host program's set-up for the facade tests: the SQLite store on a temporary file, the
//! engine, a `MemoryChannel` standing in for the marketplace.
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};
use marketsync::lifecycle::Event;
use marketsync::mapping::{ShippingMapping, ShippingService};
use marketsync::testing::MemoryChannel;
use marketsync::{
    Actor, Buyer, Capabilities, ChannelKind, ChannelOrderId, Clock, CredentialKey, Credentials,
    Currency, CurrencySource, Engine, Feature, IntegrationId, IntegrationSettings, InventoryItem,
    Label, ManualClock, MemoryCatalog, MemoryNotifier, Money, Order, OrderLine, OrderOutcome,
    OrderState, OrderStatus, SqliteStore, Store,
};

pub struct World {
    pub engine: Engine,
    pub store: Arc<SqliteStore>,
    pub clock: Arc<ManualClock>,
    pub channel: MemoryChannel,
    pub notifier: Arc<MemoryNotifier>,
    pub id: IntegrationId,
    _dir: TempDir,
}

pub struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 1, 9, 0, 0).unwrap()
}

pub fn oid(s: &str) -> ChannelOrderId {
    ChannelOrderId::new(s).unwrap()
}

pub fn usd(s: &str) -> Money {
    Money::parse(s, "USD").unwrap()
}

pub fn seller() -> Actor {
    Actor::User("ana".into())
}

pub fn order(id: &str, created: DateTime<Utc>, sku: &str, shipping: &str) -> Order {
    Order {
        channel_order_id: oid(id),
        marketplace_order_id: None,
        site: None,
        created_at: created,
        updated_at: None,
        status: OrderStatus::new(OrderState::AwaitingShipment, "paid"),
        currency: Currency::USD,
        currency_source: CurrencySource::Channel,
        lines: vec![OrderLine {
            line_id: format!("{id}-1"),
            sku: Some(marketsync::Sku::new(sku).unwrap()),
            listing_id: None,
            title: format!("Item {sku}"),
            quantity: 1,
            unit_price: usd("10.00"),
        }],
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

/// An active integration with the orders switch on, on a fresh SQLite file; the catalog has SKU
/// `A`, and the shipping text "Standard" is mapped.
pub async fn world(caps: Capabilities) -> World {
    let dir = std::env::temp_dir().join(format!("marketsync-order-edges-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let store = Arc::new(SqliteStore::open(dir.join("store.db")).await.unwrap());
    let clock = Arc::new(ManualClock::new(t0()));
    let catalog = Arc::new(MemoryCatalog::new());
    catalog.upsert(InventoryItem {
        stock_version: None,
        sku: marketsync::Sku::new("A").unwrap(),
        title: "Item A".into(),
        price: usd("10.00"),
        quantity: 5,
        labels: Default::default(),
    });
    let channel = MemoryChannel::new(ChannelKind::Reverb)
        .with_capabilities(caps)
        .with_clock(clock.clone());
    let notifier = Arc::new(MemoryNotifier::new());
    let engine = Engine::new(store.clone(), catalog, notifier.clone(), clock.clone())
        .with_credential_key(CredentialKey::new("k", [9; 32]));
    let id = engine
        .create_integration(
            "Shop",
            Arc::new(channel.clone()),
            IntegrationSettings::new(ChannelKind::Reverb, Currency::USD),
            seller(),
        )
        .await
        .unwrap();
    engine
        .enter_credentials(id, &Credentials::api_token("tok"), seller())
        .await
        .unwrap();
    engine.verify(id, seller()).await.unwrap();
    engine
        .apply(
            id,
            seller(),
            Event::SetLabel {
                label: Some(Label::new("feed").unwrap()),
                support_override: None,
            },
        )
        .await
        .unwrap();
    engine.apply(id, seller(), Event::Activate).await.unwrap();
    engine
        .apply(
            id,
            seller(),
            Event::SetFeature {
                feature: Feature::Orders,
                on: true,
                support_override: None,
            },
        )
        .await
        .unwrap();
    let w = World {
        engine,
        store,
        clock,
        channel,
        notifier,
        id,
        _dir: TempDir(dir),
    };
    map_shipping(&w, "Standard").await;
    w
}

pub async fn map_shipping(w: &World, text: &str) {
    let m = ShippingMapping::new(
        text,
        ShippingService {
            name: format!("svc:{text}"),
            carrier: Some("UPS".into()),
            class: Some("Ground".into()),
        },
        w.clock.now(),
    )
    .unwrap();
    w.engine
        .edit_mappings(w.id, seller(), |set| {
            set.insert_shipping(m.clone());
        })
        .await
        .unwrap();
}

/// ChannelAdvisor-like: shipping mappings required, orders acknowledged (the export flag).
pub fn export_flag_caps() -> Capabilities {
    Capabilities {
        shipping_mappings_required: true,
        ..Capabilities::all()
    }
}

/// Reverb-like: an updated-since cursor, no acknowledgement; shipping mappings required so an
/// unmapped text holds the order.
pub fn cursor_caps() -> Capabilities {
    Capabilities {
        orders_acknowledge: false,
        shipping_mappings_required: true,
        ..Capabilities::all()
    }
}

pub async fn outcome(w: &World, id: &str) -> OrderOutcome {
    w.store
        .ledger_entry(w.id, &oid(id))
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("order {id} is in the ledger"))
        .outcome
}
