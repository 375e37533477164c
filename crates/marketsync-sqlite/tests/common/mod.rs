//! Helpers shared by the integration tests.

#![allow(dead_code, unreachable_pub)]

use std::path::{Path, PathBuf};

/// A database file in the system's temp directory under a fresh name, removed (with its WAL and
/// shared-memory files) when dropped.
#[derive(Debug)]
pub struct TempDb {
    path: PathBuf,
}

impl TempDb {
    pub fn new(label: &str) -> Self {
        let path = std::env::temp_dir().join(format!(
            "marketsync-sqlite-{label}-{}.db",
            uuid::Uuid::new_v4()
        ));
        Self { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The database's files: the database, its WAL and its shared-memory index.
    pub fn files(&self) -> Vec<PathBuf> {
        ["", "-wal", "-shm", "-journal"]
            .iter()
            .map(|suffix| {
                let mut name = self.path.as_os_str().to_owned();
                name.push(suffix);
                PathBuf::from(name)
            })
            .collect()
    }
}

impl Drop for TempDb {
    fn drop(&mut self) {
        for f in self.files() {
            let _ = std::fs::remove_file(f);
        }
    }
}

/// A raw sqlx pool on a database file, for checks that look under the store.
pub async fn raw_pool(path: &Path) -> sqlx::SqlitePool {
    sqlx::sqlite::SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(
            sqlx::sqlite::SqliteConnectOptions::new()
                .filename(path)
                .busy_timeout(std::time::Duration::from_secs(10)),
        )
        .await
        .expect("raw connection")
}

use std::sync::Arc;

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use marketsync_core::lifecycle::Event;
use marketsync_core::{
    Actor, Buyer, ChannelOrderId, Credentials, Currency, CurrencySource, Engine, Feature,
    IntegrationId, IntegrationSettings, Label, MemoryChannel, Money, Order, OrderLine, OrderState,
    OrderStatus, Sku,
};

/// The fixed "now" of the tests.
pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 22, 9, 0, 0).unwrap()
}

/// An order awaiting shipment with one line of `sku` at `price` (in the price's currency).
pub fn order(id: &str, sku: &str, price: Money) -> Order {
    Order {
        channel_order_id: ChannelOrderId::new(id).unwrap(),
        marketplace_order_id: Some(format!("M-{id}")),
        site: None,
        created_at: t0() - TimeDelta::days(1),
        updated_at: None,
        status: OrderStatus::new(OrderState::AwaitingShipment, "paid"),
        currency: price.currency(),
        currency_source: CurrencySource::Channel,
        lines: vec![OrderLine {
            line_id: format!("{id}-1"),
            sku: Some(Sku::new(sku).unwrap()),
            listing_id: None,
            title: format!("Item {sku}"),
            quantity: 1,
            unit_price: price,
        }],
        shipping_method: Some("Ground".into()),
        shipping_price: Some(Money::zero(price.currency())),
        tax: None,
        total: Some(price),
        shipping_address: None,
        buyer: Buyer::default(),
        local_pickup: false,
        revision: None,
    }
}

/// Creates an integration on `channel` and brings it to where orders import: credentials
/// entered (the engine needs a key), verified, labelled, activated, orders switched on.
pub async fn ready_integration(engine: &Engine, channel: MemoryChannel) -> IntegrationId {
    let seller = Actor::User("ana".into());
    let id = engine
        .create_integration(
            "test shop",
            Arc::new(channel),
            IntegrationSettings::new(marketsync_core::ChannelKind::Reverb, Currency::USD),
            seller.clone(),
        )
        .await
        .expect("create integration");
    engine
        .enter_credentials(
            id,
            &Credentials::api_token("tok-SECRET-4711"),
            seller.clone(),
        )
        .await
        .expect("enter credentials");
    engine.verify(id, seller.clone()).await.expect("verify");
    engine
        .apply(
            id,
            seller.clone(),
            Event::SetLabel {
                label: Some(Label::new("shop").unwrap()),
                support_override: None,
            },
        )
        .await
        .expect("label");
    engine
        .apply(id, seller.clone(), Event::Activate)
        .await
        .expect("activate");
    engine
        .apply(
            id,
            seller,
            Event::SetFeature {
                feature: Feature::Orders,
                on: true,
                support_override: None,
            },
        )
        .await
        .expect("orders on");
    id
}
