//! Quickstart: two shops kept in step through the engine, on a SQLite file.
//!
//! ```sh
//! cargo run --example quickstart
//! ```
//!
//! It starts in-process sandboxes of Reverb and ChannelAdvisor (seeded listings and orders, each
//! speaking its marketplace's real REST API), opens a SQLite file (and prints its path), and
//! connects one integration to each: credentials, verify, label, shipping mappings, activate,
//! then link and sync listings, import orders, ship a few and say why the others did not import.
//! Everything is offline and takes seconds.
//!
//! Run it again: it continues from the stored state and duplicates nothing — the sandboxes start
//! fresh and offer every order again, and every one is recognised as already imported and
//! already shipped. Set `MARKETSYNC_QUICKSTART_DB` to choose the database file; delete the file
//! to start over. `cargo run --example tour` walks all five integrations (Allegro and Tradera
//! logins, OfferUp, the move to Live).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use chrono::Utc;
use marketsync::credentials::OAuthTokens;
use marketsync::mapping::{ShippingMapping, ShippingService};
use marketsync::prelude::*;
use marketsync::{Decimal, ManualClock, MemoryCatalog, NotImportedReason, SqliteStore};
use marketsync_channeladvisor::{ChannelAdvisorChannel, ChannelAdvisorConfig};
use marketsync_reverb::{ReverbChannel, ReverbConfig};
use marketsync_sandbox::channeladvisor::seed::TYPICAL_SHIPPING_CLASSES;
use marketsync_sandbox::{ChannelAdvisorSandbox, ReverbSandbox};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

/// One shop to connect.
struct Shop {
    name: &'static str,
    kind: ChannelKind,
    label: &'static str,
    channel: Arc<dyn Channel>,
    credentials: Credentials,
    /// The shipping texts the seller maps; orders with any other text wait for a mapping.
    shipping: Vec<&'static str>,
}

/// What one shop's run did.
#[derive(Default)]
struct Tally {
    created: bool,
    linked: usize,
    synced: usize,
    imported: usize,
    already: usize,
    shipped: usize,
    not_imported: BTreeMap<&'static str, usize>,
    held: Option<ChannelOrderId>,
}

fn why(reason: &NotImportedReason) -> &'static str {
    match reason {
        NotImportedReason::StatusNotImported { .. } => "status not imported",
        NotImportedReason::UnmappedShipping { .. } => "unmapped shipping",
        NotImportedReason::UnmappedSku { .. } => "unmapped SKU",
        _ => "other",
    }
}

/// Connects a shop the first time (credentials, verify, label, mappings, activate), or picks up
/// the integration an earlier run created.
async fn connect(engine: &Engine, shop: &Shop, tally: &mut Tally) -> Result<IntegrationId> {
    let seller = Actor::User("quickstart".into());
    if let Some(rec) = engine.integration_named(shop.name).await? {
        // The credentials are stored (sealed); the adapter was built with them.
        engine.register_channel(rec.id, shop.channel.clone());
        return Ok(rec.id);
    }
    tally.created = true;
    let settings = IntegrationSettings::new(shop.kind, Currency::USD);
    let id = engine
        .create_integration(shop.name, shop.channel.clone(), settings, seller.clone())
        .await?;
    engine
        .enter_credentials(id, &shop.credentials, seller.clone())
        .await?;
    engine.verify(id, seller.clone()).await?;
    engine
        .set_label(id, seller.clone(), Label::new(shop.label)?)
        .await?;
    let now = engine.clock().now();
    engine
        .edit_mappings(id, seller.clone(), |m| {
            for text in &shop.shipping {
                let service = ShippingService {
                    name: format!("{text} service"),
                    carrier: None,
                    class: Some((*text).to_owned()),
                };
                m.insert_shipping(ShippingMapping::new(*text, service, now).expect("a text"));
            }
        })
        .await?;
    engine.activate(id, seller.clone()).await?;
    engine
        .enable_features(id, seller, [Feature::Listings, Feature::Orders])
        .await?;
    Ok(id)
}

/// Links and syncs listings, imports orders, ships three of them, and counts the rest by reason.
async fn run(engine: &Engine, id: IntegrationId, tally: &mut Tally) -> Result<()> {
    let link = engine.link_listings(id).await?;
    tally.linked = link.linked.len() + link.already_linked;
    tally.synced = engine.sync_listings(id).await?.sent.len();

    let import = engine.import_orders(id).await?;
    tally.imported = import.imported.len() + import.released.len();
    tally.already = import.already_imported.len();

    // No idempotency key: the engine derives it from the request, so a second run records
    // nothing new and the marketplace gets each shipment once.
    let mut imported = engine.ledger(id, LedgerFilter::All).await?;
    imported.retain(|e| e.outcome == OrderOutcome::Imported);
    imported.sort_by(|a, b| a.channel_order_id.cmp(&b.channel_order_id));
    for entry in imported.iter().take(3) {
        let order = &entry.channel_order_id;
        let now = engine.clock().now();
        let shipment = if entry.order.as_ref().is_some_and(|o| o.local_pickup) {
            Shipment::picked_up(now)
        } else {
            Shipment::tracked("UPS", format!("1ZQUICK{order}"), now).with_method("Ground")
        };
        engine.ship(id, order, shipment, None).await?;
    }
    tally.shipped = engine.sync_orders(id).await?.sent.len();

    for e in engine.ledger(id, LedgerFilter::NotImported).await? {
        if let OrderOutcome::NotImported { reason } = &e.outcome {
            *tally.not_imported.entry(why(reason)).or_default() += 1;
            if tally.held.is_none() && reason.is_held() {
                tally.held = Some(e.channel_order_id.clone());
            }
        }
    }
    Ok(())
}

/// The seller's catalogue: every sandbox listing with a SKU, under the shop's label.
fn catalog(reverb: &ReverbSandbox, ca: &ChannelAdvisorSandbox) -> Result<MemoryCatalog> {
    let catalog = MemoryCatalog::new();
    for id in reverb.listing_ids() {
        let Some(listing) = reverb.listing(id) else {
            continue;
        };
        let Some(sku) = listing["sku"].as_str().filter(|s| !s.is_empty()) else {
            continue;
        };
        catalog.upsert(InventoryItem {
            stock_version: None,
            sku: Sku::new(sku)?,
            title: listing["title"]
                .as_str()
                .unwrap_or("Reverb item")
                .to_owned(),
            price: Money::new(
                Decimal::new(45_000 + id as i64 % 40 * 500, 2),
                Currency::USD,
            ),
            quantity: 1 + (id % 3) as u32,
            labels: [Label::new("reverb")?].into_iter().collect(),
        });
    }
    for id in ca.product_ids() {
        let Some(product) = ca.product(id) else {
            continue;
        };
        let Some(sku) = product["Sku"].as_str() else {
            continue;
        };
        let labels = ca
            .labels(id)
            .iter()
            .filter_map(|l| Label::new(l.as_str()).ok())
            .collect();
        catalog.upsert(InventoryItem {
            stock_version: None,
            sku: Sku::new(sku)?,
            title: product["Title"].as_str().unwrap_or(sku).to_owned(),
            price: Money::new(Decimal::new(1999 + (id % 50) * 100, 2), Currency::USD),
            quantity: (id % 9) as u32,
            labels,
        });
    }
    Ok(catalog)
}

#[tokio::main]
async fn main() -> Result<()> {
    let path = std::env::var_os("MARKETSYNC_QUICKSTART_DB")
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("marketsync-quickstart.db"));
    let store = Arc::new(SqliteStore::open(&path).await?);
    let clock = Arc::new(ManualClock::new(Utc::now()));
    let reverb = ReverbSandbox::builder()
        .seed(2026)
        .listings(20)
        .orders(24)
        .anchor(clock.now())
        .build()
        .start()
        .await?;
    let ca = ChannelAdvisorSandbox::builder()
        .seed(2026)
        .products(40)
        .orders(60)
        .anchor(clock.now())
        .build()
        .start()
        .await?;
    println!("marketsync quickstart");
    println!("  Reverb sandbox:         {}", reverb.base_url());
    println!("  ChannelAdvisor sandbox: {}", ca.base_url());
    println!("  database:               {}", path.display());

    // A demo key. A real program takes it from the environment or a secrets manager.
    let engine = Engine::builder()
        .store(store.clone())
        .catalog(Arc::new(catalog(&reverb, &ca)?))
        .clock(clock.clone())
        .credential_key(CredentialKey::new("quickstart", [7; 32]))
        .build();

    let app = ca.credentials();
    let ca_config = ChannelAdvisorConfig::builder()
        .label("eBay")
        .base_url(ca.base_url())
        .application_id(app.application_id)
        .shared_secret(SecretString::from(app.shared_secret))
        .refresh_token(SecretString::from(app.refresh_token.clone()))
        .profile_id(marketsync_sandbox::channeladvisor::PROFILE_ID as u64)
        .distribution_center_id(1)
        .build()?;
    let reverb_config = ReverbConfig::builder()
        .base_url(reverb.base_url())
        .token(SecretString::from(reverb.token()))
        .default_currency(Currency::USD)
        .build()?;
    let shops = [
        Shop {
            name: "Reverb — main shop",
            kind: ChannelKind::Reverb,
            label: "reverb",
            channel: Arc::new(ReverbChannel::new(reverb_config)?),
            credentials: Credentials::api_token(reverb.token()),
            // Reverb does not require shipping mappings: unmapped texts import as they are.
            shipping: vec!["shipped"],
        },
        Shop {
            name: "ChannelAdvisor — eBay feed",
            kind: ChannelKind::ChannelAdvisor,
            label: "eBay",
            channel: Arc::new(ChannelAdvisorChannel::new(ca_config)?),
            credentials: Credentials::OAuth(OAuthTokens {
                access_token: None,
                access_expires_at: None,
                refresh_token: SecretString::from(app.refresh_token),
                refresh_expires_at: None,
                profile_id: Some(marketsync_sandbox::channeladvisor::PROFILE_ID.to_string()),
            }),
            // One shipping class is left unmapped on purpose: its orders wait, with the reason.
            shipping: TYPICAL_SHIPPING_CLASSES[1..].to_vec(),
        },
    ];

    let mut first_run = false;
    println!();
    println!(
        "{:<28} {:>6} {:>6} {:>8} {:>7} {:>7}  not imported (why)",
        "integration", "linked", "synced", "imported", "already", "shipped"
    );
    for shop in &shops {
        let mut t = Tally::default();
        let id = connect(&engine, shop, &mut t).await?;
        run(&engine, id, &mut t).await?;
        first_run |= t.created;
        let why: Vec<String> = t
            .not_imported
            .iter()
            .map(|(k, n)| format!("{n} {k}"))
            .collect();
        println!(
            "{:<28} {:>6} {:>6} {:>8} {:>7} {:>7}  {}",
            shop.name,
            t.linked,
            t.synced,
            t.imported,
            t.already,
            t.shipped,
            why.join(", ")
        );
        // The promise, checked: a continued run imports nothing twice and ships nothing twice.
        if !t.created && (t.imported > 0 || t.shipped > 0) {
            return Err(format!("{}: a continued run imported or shipped again", shop.name).into());
        }
        if let Some(order) = t.held.filter(|_| shop.kind == ChannelKind::ChannelAdvisor) {
            println!("\n  Why did order {order} not import?");
            for line in engine.explain_order(id, &order).await?.story {
                println!("    {line}");
            }
            println!();
        }
    }
    println!(
        "\n{}",
        if first_run {
            "Run it again: it continues from the stored state and imports nothing twice."
        } else {
            "Continued from the stored state: every order offered again was recognised as already imported."
        }
    );
    store.close().await;
    Ok(())
}
