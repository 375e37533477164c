//! Quickstart: one integration's whole lifecycle through the engine, on the SQLite store and an
//! in-memory channel.
//!
//! ```sh
//! cargo run --example quickstart
//! ```
//!
//! It opens a SQLite file (and prints its path), creates an integration, verifies its
//! credentials, activates it, links and syncs listings, imports orders (saying why one did not
//! import), ships one, survives a broken connection and its repair, goes Live, needs a support
//! override there, and is finally deleted — printing each step and, at the end, the audit log
//! read back from the database.

use std::sync::Arc;

use chrono::{TimeDelta, TimeZone, Utc};
use marketsync::lifecycle::Event;
use marketsync::{
    Actor, Buyer, Capabilities, Channel, ChannelKind, ChannelListing, ChannelListingId,
    ChannelListingState, ChannelOrderId, Clock, CredentialKey, Credentials, Currency,
    CurrencySource, Engine, EngineError, Feature, IntegrationId, IntegrationSettings,
    InventoryItem, Label, ManualClock, MemoryCatalog, MemoryChannel, MemoryNotifier, Money, Order,
    OrderLine, OrderState, OrderStatus, Shipment, Sku, SqliteStore, Store, SupportOverride,
};

type Step<T> = Result<T, Box<dyn std::error::Error>>;

struct Walk {
    engine: Engine,
    store: Arc<SqliteStore>,
    clock: Arc<ManualClock>,
    notifier: Arc<MemoryNotifier>,
    id: IntegrationId,
    step: u32,
}

impl Walk {
    fn say(&mut self, what: &str) {
        self.step += 1;
        println!("\n{:>2}. {what}", self.step);
    }

    async fn state(&self) -> Step<()> {
        let rec = self.engine.integration(self.id).await?;
        let lc = &rec.lifecycle;
        let now = self.clock.now();
        println!(
            "    state: phase {:?}, {:?}, health {:?}, data {}",
            lc.phase(now),
            lc.switch(),
            lc.health().kind(),
            match lc.check_exchange(now) {
                Ok(()) => "flows".to_owned(),
                Err(b) => format!("blocked: {b}"),
            }
        );
        for n in self.notifier.take() {
            println!("    notification: {n:?}");
        }
        Ok(())
    }

    async fn apply(&self, actor: &Actor, event: Event) -> Step<()> {
        for e in self.engine.apply(self.id, actor.clone(), event).await? {
            println!("    audit: {:?} by {}", e.change, e.actor);
        }
        Ok(())
    }
}

fn item(sku: &str, title: &str, price: &str, qty: u32) -> Step<InventoryItem> {
    Ok(InventoryItem {
        sku: Sku::new(sku)?,
        title: title.into(),
        price: Money::parse(price, "USD")?,
        quantity: qty,
        labels: [Label::new("reverb")?].into_iter().collect(),
    })
}

fn order(id: &str, sku: &str, shipping: &str) -> Step<Order> {
    Ok(Order {
        channel_order_id: ChannelOrderId::new(id)?,
        marketplace_order_id: None,
        site: None,
        created_at: Utc.with_ymd_and_hms(2026, 11, 1, 8, 0, 0).unwrap(),
        updated_at: None,
        status: OrderStatus::new(OrderState::AwaitingShipment, "paid"),
        currency: Currency::USD,
        currency_source: CurrencySource::Channel,
        lines: vec![OrderLine {
            line_id: format!("{id}-1"),
            sku: Some(Sku::new(sku)?),
            listing_id: None,
            title: sku.into(),
            quantity: 1,
            unit_price: Money::parse("899.00", "USD")?,
        }],
        shipping_method: Some(shipping.into()),
        shipping_price: Some(Money::parse("25.00", "USD")?),
        tax: None,
        total: Some(Money::parse("924.00", "USD")?),
        shipping_address: None,
        buyer: Buyer::default(),
        local_pickup: false,
        revision: None,
    })
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Step<()> {
    let path =
        std::env::temp_dir().join(format!("marketsync-quickstart-{}.db", std::process::id()));
    let store = Arc::new(SqliteStore::open(&path).await?);
    let clock = Arc::new(ManualClock::new(
        Utc.with_ymd_and_hms(2026, 11, 1, 9, 0, 0).unwrap(),
    ));
    let catalog = Arc::new(MemoryCatalog::new());
    let notifier = Arc::new(MemoryNotifier::new());
    let engine = Engine::new(
        store.clone(),
        catalog.clone(),
        notifier.clone(),
        clock.clone(),
    )
    // In a real program the key comes from the environment or a secrets manager.
    .with_credential_key(CredentialKey::new("quickstart", [7; 32]));
    let channel = MemoryChannel::new(ChannelKind::Reverb)
        .with_clock(clock.clone())
        .with_capabilities(Capabilities {
            orders_acknowledge: false,
            ..Capabilities::all()
        });
    let seller = Actor::User("ana@example.com".into());
    let support = Actor::Support("sam (support)".into());

    println!("marketsync quickstart — one integration's lifecycle on an in-memory Reverb channel");
    println!("database: {}", path.display());
    let id = engine
        .create_integration(
            "Reverb — main shop",
            Arc::new(channel.clone()),
            IntegrationSettings::new(ChannelKind::Reverb, Currency::USD),
            seller.clone(),
        )
        .await?;
    let mut w = Walk {
        engine,
        store,
        clock: clock.clone(),
        notifier,
        id,
        step: 0,
    };
    w.say(&format!(
        "Created integration {id} (Setup, enabled, unverified)"
    ));
    w.state().await?;

    w.say("Enter the personal access token (stored encrypted; never printed)");
    let credentials = Credentials::api_token("example-token-never-printed");
    println!("    credentials: {credentials} / {credentials:?}");
    w.engine
        .enter_credentials(id, &credentials, seller.clone())
        .await?;

    w.say("Try to activate before verifying");
    match w.engine.apply(id, seller.clone(), Event::Activate).await {
        Err(e) => println!("    refused: {e}"),
        Ok(_) => return Err("activation should need verified credentials".into()),
    }

    w.say("Verify the credentials with the channel");
    let account = w.engine.verify(id, seller.clone()).await?;
    println!("    account: {} ({:?})", account.account_id, account.name);

    w.say("Set the label, activate (Testing for 30 days), turn on listings and orders");
    w.apply(
        &seller,
        Event::SetLabel {
            label: Some(Label::new("reverb")?),
            support_override: None,
        },
    )
    .await?;
    w.apply(&seller, Event::Activate).await?;
    for feature in [Feature::Listings, Feature::Orders] {
        w.apply(
            &seller,
            Event::SetFeature {
                feature,
                on: true,
                support_override: None,
            },
        )
        .await?;
    }
    w.state().await?;

    w.say("Link listings by SKU and sync what changed");
    catalog.upsert(item(
        "GTR-STRAT-SB",
        "Sunburst electric guitar",
        "899.00",
        2,
    )?);
    catalog.upsert(item("AMP-15W", "15 W practice amp", "129.00", 5)?);
    channel.add_listing(ChannelListing {
        id: ChannelListingId::new("L-1")?,
        sku: Some(Sku::new("GTR-STRAT-SB")?),
        title: Some("Sunburst electric guitar".into()),
        price: Some(Money::parse("949.00", "USD")?),
        quantity: Some(1),
        state: ChannelListingState::Live,
        raw_state: "live".into(),
    });
    let link = w.engine.link_listings(id).await?;
    println!(
        "    linked: {:?}; labelled items without a listing: {:?}",
        link.linked, link.items_without_listing
    );
    let sync = w.engine.sync_listings(id).await?;
    println!("    sent: {:?}", sync.sent);
    let on_channel = channel
        .listing(&ChannelListingId::new("L-1")?)
        .ok_or("listing gone")?;
    println!(
        "    the channel now shows price {:?}, quantity {:?}",
        on_channel.price.map(|p| p.to_string()),
        on_channel.quantity
    );

    w.say("Import orders: one imports, one waits for a SKU mapping");
    channel.add_order(order("R-1001", "GTR-STRAT-SB", "Standard")?);
    channel.add_order(order("R-1002", "PEDAL-OD", "Standard")?);
    let import = w.engine.import_orders(id).await?;
    println!("    imported: {:?}", import.imported);
    for (o, reason) in &import.not_imported {
        println!("    not imported {o}: {}", reason.remedy());
    }
    w.state().await?;

    w.say("Ship the imported order through the outbox");
    w.engine
        .ship(
            id,
            &ChannelOrderId::new("R-1001")?,
            Shipment {
                carrier: Some("UPS".into()),
                method: Some("Ground".into()),
                tracking_number: Some("1Z999AA10123456784".into()),
                shipped_at: clock.now(),
                lines: vec![],
                delivery: Default::default(),
            },
            None,
        )
        .await?;
    let sent = w.engine.sync_orders(id).await?;
    println!(
        "    sent: {:?}; shipments received by the channel: {}",
        sent.sent,
        channel.shipments().len()
    );

    w.say("The seller regenerates the token at Reverb: the connection breaks");
    clock.advance(TimeDelta::days(3));
    channel.revoke_credentials("The access token provided is invalid.");
    if let Err(e) = w.engine.import_orders(id).await {
        println!("    import failed: {e}");
    }
    match w.engine.import_orders(id).await {
        Err(EngineError::Blocked { blocked, .. }) => {
            println!("    next run refused without calling the channel: {blocked}")
        }
        other => return Err(format!("expected a blocked run, got {other:?}").into()),
    }
    w.state().await?;

    w.say("Repair: enter the new token and verify");
    channel.restore_credentials();
    w.engine
        .enter_credentials(id, &Credentials::api_token("the-new-token"), seller.clone())
        .await?;
    w.engine.verify(id, seller.clone()).await?;
    w.state().await?;

    w.say("Disable for a holiday, then enable again (nothing is lost)");
    w.apply(&seller, Event::Disable).await?;
    w.state().await?;
    w.apply(&seller, Event::Enable).await?;

    w.say("Thirty days pass: the integration goes Live");
    clock.advance(TimeDelta::days(30));
    w.engine.tick(id).await?;
    w.state().await?;

    w.say("In Live, turning orders off needs a support override");
    match w
        .engine
        .apply(
            id,
            seller.clone(),
            Event::SetFeature {
                feature: Feature::Orders,
                on: false,
                support_override: None,
            },
        )
        .await
    {
        Err(e) => println!("    refused: {e}"),
        Ok(_) => return Err("expected an override to be required".into()),
    }
    w.apply(
        &support,
        Event::SetFeature {
            feature: Feature::Orders,
            on: false,
            support_override: Some(SupportOverride::new(
                "sam (support)",
                "seller moves orders to another tool",
            )),
        },
    )
    .await?;

    w.say("Delete: first the plan, then the confirmation");
    let plan = w.engine.plan_delete(id).await?;
    for n in &plan.notices {
        println!("    plan: {n}");
    }
    w.engine.delete(id, plan.confirm(), seller.clone()).await?;
    match w.engine.apply(id, seller.clone(), Event::Enable).await {
        Err(e) => println!("    after deletion: {e}"),
        Ok(_) => return Err("a deleted integration must not change".into()),
    }
    println!(
        "    its orders stay readable: {} in the ledger",
        w.store
            .ledger(id, marketsync::LedgerFilter::All)
            .await?
            .len()
    );

    let log = w.store.audit_log(id).await?;
    println!(
        "\nAudit log, read back from {} ({} entries):",
        path.display(),
        log.len()
    );
    for e in &log {
        let over = e
            .support_override
            .as_ref()
            .map(|o| format!(" [override by {}: {}]", o.by, o.reason))
            .unwrap_or_default();
        println!(
            "  {}  {:<24} {:?}{over}",
            e.at.format("%Y-%m-%d %H:%M"),
            e.actor.to_string(),
            e.change
        );
    }
    w.store.close().await;
    let _ = channel.kind();
    Ok(())
}
