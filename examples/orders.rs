//! Orders end to end on the default SQLite store (in memory here) and in-memory channel and
//! catalog: import with one recorded outcome per order, "why did this order not import?", a held
//! order released by its mapping, and a shipment sent exactly once through the outbox.
//!
//! ```sh
//! cargo run --example orders
//! ```

use std::sync::Arc;

use chrono::{TimeZone, Utc};
use marketsync::lifecycle::Event;
use marketsync::mapping::{ShippingMapping, ShippingService};
use marketsync::testing::MemoryChannel;
use marketsync::{
    Actor, Buyer, Capabilities, ChannelKind, ChannelOrderId, Clock, CredentialKey, Credentials,
    Currency, CurrencySource, Engine, Feature, IntegrationSettings, InventoryItem, Label,
    ManualClock, MemoryCatalog, MemoryNotifier, Money, Order, OrderLine, OrderState, OrderStatus,
    Shipment, Sku, SqliteStore,
};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

fn order(id: &str, sku: &str, shipping: &str, state: OrderState, raw: &str) -> Result<Order> {
    Ok(Order {
        channel_order_id: ChannelOrderId::new(id)?,
        marketplace_order_id: Some(format!("EBAY-{id}")),
        site: Some("OfferUp".into()),
        created_at: Utc.with_ymd_and_hms(2026, 11, 20, 10, 0, 0).unwrap(),
        updated_at: None,
        status: OrderStatus::new(state, raw),
        currency: Currency::USD,
        currency_source: CurrencySource::Channel,
        lines: vec![OrderLine {
            line_id: format!("{id}-1"),
            sku: Some(Sku::new(sku)?),
            listing_id: None,
            title: format!("Item {sku}"),
            quantity: 1,
            unit_price: Money::parse("49.00", "USD")?,
        }],
        shipping_method: Some(shipping.into()),
        shipping_price: Some(Money::parse("5.00", "USD")?),
        tax: None,
        total: Some(Money::parse("54.00", "USD")?),
        shipping_address: None,
        buyer: Buyer::default(),
        local_pickup: false,
        revision: None,
    })
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<()> {
    let clock = Arc::new(ManualClock::new(
        Utc.with_ymd_and_hms(2026, 11, 22, 9, 0, 0).unwrap(),
    ));
    // The embedded default store. `SqliteStore::open("marketsync.db")` keeps everything in a
    // file instead (migrated on open; several processes may share it).
    let store = Arc::new(SqliteStore::open_in_memory().await?);
    let catalog = Arc::new(MemoryCatalog::new());
    let notifier = Arc::new(MemoryNotifier::new());
    let engine = Engine::new(store, catalog.clone(), notifier.clone(), clock.clone())
        .with_credential_key(CredentialKey::new("example", [7; 32]));
    let seller = Actor::User("ana".into());

    // A ChannelAdvisor-like channel: no publishing, shipping mappings required, export flag.
    let channel = MemoryChannel::new(ChannelKind::ChannelAdvisor).with_capabilities(Capabilities {
        listings_publish: false,
        shipping_mappings_required: true,
        ..Capabilities::all()
    });
    let id = engine
        .create_integration(
            "OfferUp via ChannelAdvisor",
            Arc::new(channel.clone()),
            IntegrationSettings::new(ChannelKind::ChannelAdvisor, Currency::USD),
            seller.clone(),
        )
        .await?;
    engine
        .enter_credentials(id, &Credentials::api_token("never-printed"), seller.clone())
        .await?;
    engine.verify(id, seller.clone()).await?;
    engine
        .apply(
            id,
            seller.clone(),
            Event::SetLabel {
                label: Some(Label::new("offerup")?),
                support_override: None,
            },
        )
        .await?;
    engine.apply(id, seller.clone(), Event::Activate).await?;
    engine
        .apply(
            id,
            seller.clone(),
            Event::SetFeature {
                feature: Feature::Orders,
                on: true,
                support_override: None,
            },
        )
        .await?;

    catalog.upsert(InventoryItem {
        stock_version: None,
        sku: Sku::new("LAMP-01")?,
        title: "Desk lamp".into(),
        price: Money::parse("49.00", "USD")?,
        quantity: 4,
        labels: Default::default(),
    });
    channel.add_order(order(
        "1001",
        "LAMP-01",
        "Ground",
        OrderState::AwaitingShipment,
        "Completed/Cleared/Unshipped",
    )?);
    channel.add_order(order(
        "1002",
        "LAMP-01",
        "Next Day Air",
        OrderState::AwaitingShipment,
        "Completed/Cleared/Unshipped",
    )?);
    channel.add_order(order(
        "1003",
        "LAMP-01",
        "Ground",
        OrderState::Unpaid,
        "Completed/NotYetSubmitted/Unshipped",
    )?);

    println!("1. Import before any shipping mapping exists:");
    match engine.import_orders(id).await {
        Err(e) => println!("   refused before any call: {e}"),
        Ok(_) => return Err("expected the shipping-mapping rule".into()),
    }

    println!("\n2. Map \"Ground\" (exactly that text), import:");
    let now = clock.now();
    engine
        .edit_mappings(id, seller.clone(), |m| {
            if let Ok(mapping) = ShippingMapping::new(
                "Ground",
                ShippingService {
                    name: "UPS Ground".into(),
                    carrier: Some("UPS".into()),
                    class: Some("Ground".into()),
                },
                now,
            ) {
                m.insert_shipping(mapping);
            }
        })
        .await?;
    let report = engine.import_orders(id).await?;
    println!(
        "   imported: {:?}",
        report
            .imported
            .iter()
            .map(|o| o.as_str())
            .collect::<Vec<_>>()
    );
    for (o, reason) in &report.not_imported {
        println!("   not imported {o}: {}", reason.remedy());
    }
    for n in notifier.take() {
        println!("   notification: {n:?}");
    }

    println!("\n3. Why did order 1002 not import?");
    for line in engine
        .explain_order(id, &ChannelOrderId::new("1002")?)
        .await?
        .story
    {
        println!("   {line}");
    }

    println!("\n4. Map \"Next Day Air\"; the held order imports on the next run:");
    engine
        .edit_mappings(id, seller.clone(), |m| {
            if let Ok(mapping) = ShippingMapping::new(
                "Next Day Air",
                ShippingService {
                    name: "UPS Next Day".into(),
                    carrier: Some("UPS".into()),
                    class: Some("NDA".into()),
                },
                now,
            ) {
                m.insert_shipping(mapping);
            }
        })
        .await?;
    let report = engine.import_orders(id).await?;
    println!(
        "   released: {:?}",
        report
            .released
            .iter()
            .map(|o| o.as_str())
            .collect::<Vec<_>>()
    );

    println!("\n5. Ship order 1001 through the outbox (the channel's first answer is lost):");
    channel.add_failure(marketsync::testing::FailureRule {
        operation: marketsync::Operation::Ship,
        on_call: Some(1),
        times: 1,
        kind: marketsync::ErrorKind::Transient,
        after_applying: true,
    });
    engine
        .ship(
            id,
            &ChannelOrderId::new("1001")?,
            Shipment {
                carrier: Some("UPS".into()),
                method: Some("Ground".into()),
                tracking_number: Some("1Z999AA10123456784".into()),
                shipped_at: now,
                lines: vec![],
                delivery: Default::default(),
            },
            None,
        )
        .await?;
    let first = engine.sync_orders(id).await?;
    println!(
        "   first run: sent {}, failed {} (will retry: {})",
        first.sent.len(),
        first.failed.len(),
        first.failed.iter().all(|f| f.will_retry)
    );
    clock.advance(chrono::TimeDelta::hours(1));
    let second = engine.sync_orders(id).await?;
    println!("   second run: sent {}", second.sent.len());
    println!(
        "   the channel holds {} shipment(s); {} duplicate absorbed by the idempotency key",
        channel.shipments().len(),
        channel.stats().duplicate_sends
    );
    for line in engine
        .explain_order(id, &ChannelOrderId::new("1001")?)
        .await?
        .story
    {
        println!("   {line}");
    }
    Ok(())
}
