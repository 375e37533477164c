//! Quickstart: marketsync against a ChannelAdvisor sandbox, on a SQLite file.
//!
//! ```sh
//! cargo run --example quickstart
//! ```
//!
//! It starts an in-process ChannelAdvisor sandbox (seeded products and orders, speaking the real
//! REST API) and a Reverb sandbox, opens a SQLite file (and prints its path), and creates three
//! integrations — a ChannelAdvisor feed, OfferUp through ChannelAdvisor, and Reverb. Each is
//! walked through connect →
//! verify → label and shipping mappings → activate (Testing) → link → sync → import orders
//! (imported and not imported, with reasons) → ship → simulated time to Live, with progress bars
//! while it works and a summary table at the end. Everything is offline and takes seconds.
//!
//! Run it again: it continues from the stored state and duplicates nothing — the sandbox starts
//! fresh and offers every order again, and every one is recognised as already imported. Set
//! `MARKETSYNC_QUICKSTART_DB` to choose the database file; delete the file to start over.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeDelta, Utc};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use marketsync::credentials::OAuthTokens;
use marketsync::lifecycle::Event;
use marketsync::mapping::{ShippingMapping, ShippingService};
use marketsync::{
    Actor, Channel, ChannelKind, ChannelOrderId, Clock, CredentialKey, Credentials, Currency,
    Delivery, Engine, Feature, IdempotencyKey, IntegrationId, IntegrationSettings, InventoryItem,
    Label, LedgerFilter, ManualClock, MemoryCatalog, MemoryNotifier, Money, NotImportedReason,
    OrderOutcome, SecretString, Shipment, Sku, SqliteStore,
};
use marketsync_channeladvisor::{ChannelAdvisorChannel, ChannelAdvisorConfig};
use marketsync_reverb::{ReverbChannel, ReverbConfig};
use marketsync_sandbox::channeladvisor::seed::TYPICAL_SHIPPING_CLASSES;
use marketsync_sandbox::{ChannelAdvisorSandbox, ReverbSandbox, Sandbox};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

/// Orders shipped per integration in this walk.
const SHIP: usize = 3;

/// One integration of the walk.
struct Plan {
    name: &'static str,
    kind: ChannelKind,
    label: &'static str,
    /// The adapter, pointed at its sandbox.
    channel: Arc<dyn Channel>,
    /// What the seller enters.
    credentials: Credentials,
    /// Shipping texts mapped at setup.
    mapped_shipping: Vec<String>,
}

/// What one integration's walk did, for the summary.
#[derive(Default)]
struct Tally {
    created: bool,
    phase: String,
    linked: usize,
    sent: usize,
    sync_failed: usize,
    refused: Vec<String>,
    imported: usize,
    already: usize,
    not_imported: BTreeMap<String, usize>,
    shipped: usize,
    example_not_imported: Option<ChannelOrderId>,
}

fn db_path() -> PathBuf {
    std::env::var_os("MARKETSYNC_QUICKSTART_DB")
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("marketsync-quickstart.db"))
}

fn reason_name(r: &NotImportedReason) -> String {
    match r {
        NotImportedReason::StatusNotImported { .. } => "status not imported".into(),
        NotImportedReason::TooOld { .. } => "too old".into(),
        NotImportedReason::UnmappedShipping { .. } => "unmapped shipping".into(),
        NotImportedReason::UnmappedSku { .. } => "unmapped SKU".into(),
        NotImportedReason::LineWithoutSku { .. } => "line without SKU".into(),
        NotImportedReason::Unreadable { .. } => "unreadable".into(),
        _ => "other".into(),
    }
}

/// The seller's catalog: every sandbox product, with the labels it carries in ChannelAdvisor.
fn catalog_from(sandbox: &ChannelAdvisorSandbox) -> Result<MemoryCatalog> {
    let catalog = MemoryCatalog::new();
    for id in sandbox.product_ids() {
        let Some(product) = sandbox.product(id) else {
            continue;
        };
        let Some(sku) = product["Sku"].as_str() else {
            continue;
        };
        let labels = sandbox
            .labels(id)
            .iter()
            .filter_map(|l| Label::new(l.as_str()).ok())
            .collect();
        catalog.upsert(InventoryItem {
            sku: Sku::new(sku)?,
            title: product["Title"].as_str().unwrap_or(sku).to_owned(),
            price: Money::new(
                marketsync::Decimal::new(1999 + (id % 50) * 100, 2),
                Currency::USD,
            ),
            quantity: (id % 9) as u32,
            labels,
        });
    }
    Ok(catalog)
}

fn channeladvisor(
    sandbox: &Sandbox<ChannelAdvisorSandbox>,
    kind: ChannelKind,
    label: &str,
    (application_id, shared_secret, refresh_token): (&str, &str, &str),
    name: &str,
) -> Result<Arc<dyn Channel>> {
    let builder = match kind {
        ChannelKind::OfferUp => ChannelAdvisorConfig::offerup_builder(),
        _ => ChannelAdvisorConfig::builder().label(label),
    };
    let config = builder
        .base_url(sandbox.base_url())
        .application_id(application_id)
        .shared_secret(SecretString::from(shared_secret.to_owned()))
        .refresh_token(SecretString::from(refresh_token.to_owned()))
        .profile_id(marketsync_sandbox::channeladvisor::PROFILE_ID as u64)
        .connection_name(name)
        // Quantities are kept per distribution centre; the sandbox's first one is seller-managed.
        .distribution_center_id(1)
        .build()?;
    Ok(Arc::new(ChannelAdvisorChannel::new(config)?))
}

fn oauth(refresh_token: &str) -> Credentials {
    Credentials::OAuth(OAuthTokens {
        access_token: None,
        access_expires_at: None,
        refresh_token: SecretString::from(refresh_token.to_owned()),
        refresh_expires_at: None,
        profile_id: Some(marketsync_sandbox::channeladvisor::PROFILE_ID.to_string()),
    })
}

fn reverb(sandbox: &Sandbox<ReverbSandbox>, name: &str) -> Result<Arc<dyn Channel>> {
    let config = ReverbConfig::builder()
        .base_url(sandbox.base_url())
        .token(SecretString::from(sandbox.token()))
        .default_currency(Currency::USD)
        .connection_name(name)
        .build()?;
    Ok(Arc::new(ReverbChannel::new(config)?))
}

/// Adds the Reverb sandbox's listings to the seller's catalog under the `reverb` label.
fn add_reverb_items(catalog: &MemoryCatalog, sandbox: &ReverbSandbox) -> Result<()> {
    let label = Label::new("reverb")?;
    for id in sandbox.listing_ids() {
        let Some(listing) = sandbox.listing(id) else {
            continue;
        };
        let Some(sku) = listing["sku"].as_str().filter(|s| !s.is_empty()) else {
            continue;
        };
        let sku = Sku::new(sku)?;
        let labelled = catalog.update(&sku, |i| {
            i.labels.insert(label.clone());
        });
        if !labelled {
            catalog.upsert(InventoryItem {
                sku,
                title: listing["title"]
                    .as_str()
                    .unwrap_or("Reverb item")
                    .to_owned(),
                price: Money::new(
                    marketsync::Decimal::new(45_000 + (id % 40) as i64 * 500, 2),
                    Currency::USD,
                ),
                quantity: 1 + (id % 3) as u32,
                labels: [label.clone()].into_iter().collect(),
            });
        }
    }
    Ok(())
}

async fn walk(engine: &Engine, plan: &Plan, bar: &ProgressBar) -> Result<(IntegrationId, Tally)> {
    let channel = plan.channel.clone();
    let seller = Actor::User("quickstart".into());
    let mut tally = Tally::default();
    let step = |msg: &str| {
        bar.set_message(msg.to_owned());
        bar.inc(1);
    };

    // Connect, or pick up the integration a previous run created.
    let existing = engine
        .store()
        .integrations()
        .await?
        .into_iter()
        .find(|r| r.name == plan.name && !r.lifecycle.is_deleted());
    let id = match existing {
        Some(rec) => {
            engine.register_channel(rec.id, channel);
            step("found from a previous run");
            rec.id
        }
        None => {
            tally.created = true;
            let id = engine
                .create_integration(
                    plan.name,
                    channel,
                    IntegrationSettings::new(plan.kind, Currency::USD),
                    seller.clone(),
                )
                .await?;
            step("connect");
            engine
                .enter_credentials(id, &plan.credentials, seller.clone())
                .await?;
            engine.verify(id, seller.clone()).await?;
            step("verified");
            engine
                .apply(
                    id,
                    seller.clone(),
                    Event::SetLabel {
                        label: Some(Label::new(plan.label)?),
                        support_override: None,
                    },
                )
                .await?;
            let now = engine.clock().now();
            engine
                .edit_mappings(id, |m| {
                    for text in &plan.mapped_shipping {
                        let service = ShippingService {
                            name: format!("{text} service"),
                            carrier: None,
                            class: Some(text.clone()),
                        };
                        if let Ok(mapping) = ShippingMapping::new(text.as_str(), service, now) {
                            m.insert_shipping(mapping);
                        }
                    }
                })
                .await?;
            step("label and shipping mappings");
            engine.apply(id, seller.clone(), Event::Activate).await?;
            for feature in [Feature::Listings, Feature::Orders] {
                engine
                    .apply(
                        id,
                        seller.clone(),
                        Event::SetFeature {
                            feature,
                            on: true,
                            support_override: None,
                        },
                    )
                    .await?;
            }
            step("activated (Testing)");
            id
        }
    };

    let link = engine.link_listings(id).await?;
    tally.linked = link.linked.len() + link.already_linked;
    step("linked listings");
    let sync = engine.sync_listings(id).await?;
    tally.sent = sync.sent.len();
    tally.sync_failed = sync.failed.len();
    tally.refused = sync
        .failed
        .iter()
        .map(|f| format!("{}: {}", f.sku, f.message))
        .collect();
    step("synced listings");

    let import = engine.import_orders(id).await?;
    tally.imported = import.imported.len() + import.released.len();
    tally.already = import.already_imported.len();
    step("imported orders");

    // Ship a few imported orders. The key is derived from the order, so a second run records
    // nothing new and sends nothing twice.
    let mut imported: Vec<(ChannelOrderId, bool)> = engine
        .store()
        .ledger(id, LedgerFilter::All)
        .await?
        .into_iter()
        .filter(|e| e.outcome == OrderOutcome::Imported)
        .map(|e| {
            let pickup = e.order.as_ref().is_some_and(|o| o.local_pickup);
            (e.channel_order_id, pickup)
        })
        .collect();
    imported.sort();
    for (order, pickup) in imported.iter().take(SHIP) {
        let key = IdempotencyKey::new(format!("quickstart-ship-{order}"))?;
        // A buyer who collects in person gets "picked up", not a tracking number.
        let shipment = if *pickup {
            Shipment {
                carrier: None,
                method: None,
                tracking_number: None,
                shipped_at: engine.clock().now(),
                lines: vec![],
                delivery: Delivery::PickedUp,
            }
        } else {
            Shipment {
                carrier: Some("UPS".into()),
                method: Some("Ground".into()),
                tracking_number: Some(format!("1ZQUICK{order}")),
                shipped_at: engine.clock().now(),
                lines: vec![],
                delivery: Delivery::Shipped,
            }
        };
        engine.ship(id, order, shipment, Some(key)).await?;
    }
    let outbox = engine.sync_orders(id).await?;
    tally.shipped = outbox.sent.len();
    tally.refused.extend(
        outbox
            .failed
            .iter()
            .map(|f| format!("{} of order {}: {}", f.action, f.order_id, f.error)),
    );
    step("shipped");

    for e in engine.store().ledger(id, LedgerFilter::NotImported).await? {
        if let OrderOutcome::NotImported { reason } = &e.outcome {
            *tally.not_imported.entry(reason_name(reason)).or_default() += 1;
            if tally.example_not_imported.is_none() && reason.is_held() {
                tally.example_not_imported = Some(e.channel_order_id.clone());
            }
        }
    }
    Ok((id, tally))
}

#[tokio::main]
async fn main() -> Result<()> {
    let path = db_path();
    let store = Arc::new(SqliteStore::open(&path).await?);
    let clock = Arc::new(ManualClock::new(Utc::now()));
    let sandbox = ChannelAdvisorSandbox::builder()
        .seed(2026)
        .products(40)
        .orders(60)
        .anchor(clock.now())
        .build()
        .start()
        .await?;
    // OfferUp needs its own application: ChannelAdvisor keeps one export flag per application.
    sandbox.add_application("quickstart-offerup-app", "quickstart-offerup-secret");
    sandbox.add_refresh_token(
        "quickstart-offerup-refresh",
        "quickstart-offerup-app",
        &["orders", "inventory"],
    );
    let ca = sandbox.credentials();
    let reverb_sandbox = ReverbSandbox::builder()
        .seed(2026)
        .listings(20)
        .orders(24)
        .anchor(clock.now())
        .build()
        .start()
        .await?;

    println!("marketsync quickstart");
    println!("  ChannelAdvisor sandbox: {}", sandbox.base_url());
    println!("  Reverb sandbox:         {}", reverb_sandbox.base_url());
    println!("  database:               {}", path.display());

    let catalog = Arc::new(catalog_from(&sandbox)?);
    add_reverb_items(&catalog, &reverb_sandbox)?;
    let notifier = Arc::new(MemoryNotifier::new());
    // A demo key. A real program takes it from the environment or a secrets manager.
    let engine = Engine::new(store.clone(), catalog, notifier.clone(), clock.clone())
        .with_credential_key(CredentialKey::new("quickstart", [7; 32]));

    let typical: Vec<String> = TYPICAL_SHIPPING_CLASSES
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    let ca_name = "ChannelAdvisor — eBay feed";
    let offerup_name = "OfferUp (through ChannelAdvisor)";
    let reverb_name = "Reverb — main shop";
    let plans = [
        Plan {
            name: ca_name,
            kind: ChannelKind::ChannelAdvisor,
            label: "eBay",
            channel: channeladvisor(
                &sandbox,
                ChannelKind::ChannelAdvisor,
                "eBay",
                (&ca.application_id, &ca.shared_secret, &ca.refresh_token),
                ca_name,
            )?,
            credentials: oauth(&ca.refresh_token),
            mapped_shipping: typical.clone(),
        },
        Plan {
            name: offerup_name,
            kind: ChannelKind::OfferUp,
            label: "OfferUp",
            channel: channeladvisor(
                &sandbox,
                ChannelKind::OfferUp,
                "OfferUp",
                (
                    "quickstart-offerup-app",
                    "quickstart-offerup-secret",
                    "quickstart-offerup-refresh",
                ),
                offerup_name,
            )?,
            credentials: oauth("quickstart-offerup-refresh"),
            mapped_shipping: typical,
        },
        Plan {
            name: reverb_name,
            kind: ChannelKind::Reverb,
            label: "reverb",
            channel: reverb(&reverb_sandbox, reverb_name)?,
            credentials: Credentials::api_token(reverb_sandbox.token()),
            // Reverb does not require shipping mappings: unmapped texts import as they are.
            mapped_shipping: vec!["shipped".into()],
        },
    ];

    let bars = MultiProgress::new();
    let style = ProgressStyle::with_template("{prefix:34} [{bar:24}] {pos}/{len} {msg}")?
        .progress_chars("=> ");
    let mut results = Vec::new();
    for plan in &plans {
        let bar = bars.add(
            ProgressBar::new(8)
                .with_style(style.clone())
                .with_prefix(plan.name),
        );
        bar.enable_steady_tick(Duration::from_millis(100));
        let (id, tally) = walk(&engine, plan, &bar).await?;
        bar.finish_with_message("done");
        results.push((plan, id, tally));
    }

    // Thirty-one days pass: the integrations go Live.
    clock.advance(TimeDelta::days(31));
    for (_, id, tally) in &mut results {
        engine.tick(*id).await?;
        let rec = engine.integration(*id).await?;
        tally.phase = format!("{:?}", rec.lifecycle.phase(clock.now()));
    }

    println!();
    println!(
        "{:<34} {:>5} {:>6} {:>4} {:>6} {:>8} {:>7} {:>7}  not imported (why)",
        "integration", "phase", "linked", "sent", "failed", "imported", "already", "shipped"
    );
    for (plan, _, t) in &results {
        let why = t
            .not_imported
            .iter()
            .map(|(k, v)| format!("{v} {k}"))
            .collect::<Vec<_>>()
            .join(", ");
        println!(
            "{:<34} {:>5} {:>6} {:>4} {:>6} {:>8} {:>7} {:>7}  {}",
            plan.name,
            t.phase,
            t.linked,
            t.sent,
            t.sync_failed,
            t.imported,
            t.already,
            t.shipped,
            if why.is_empty() { "-".into() } else { why }
        );
    }
    for (plan, _, t) in &results {
        for r in &t.refused {
            println!("  {} refused {r}", plan.name);
        }
    }
    println!(
        "\nrequests the sandboxes received: ChannelAdvisor {}, Reverb {}",
        sandbox.counters().total,
        reverb_sandbox.counters().total
    );

    if let Some((_, id, t)) = results
        .iter()
        .find(|(_, _, t)| t.example_not_imported.is_some())
        && let Some(order) = &t.example_not_imported
    {
        println!("\nWhy did order {order} not import?");
        for line in engine.explain_order(*id, order).await?.story {
            println!("  {line}");
        }
    }

    let first_run = results.iter().any(|(_, _, t)| t.created);
    // The promise, checked: a continued run imports nothing twice and ships nothing twice.
    if !first_run
        && let Some((plan, _, t)) = results
            .iter()
            .find(|(_, _, t)| t.imported > 0 || t.shipped > 0)
    {
        return Err(format!(
            "{}: a continued run imported {} and shipped {} again",
            plan.name, t.imported, t.shipped
        )
        .into());
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
