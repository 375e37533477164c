//! The tour: marketsync against sandboxes of every marketplace, on a SQLite file.
//!
//! ```sh
//! cargo run --example tour
//! ```
//!
//! The long version of the quickstart. It starts in-process sandboxes of ChannelAdvisor, Reverb,
//! Allegro and Tradera (seeded products and orders, each speaking its marketplace's real REST
//! API), opens a SQLite file (and prints its path), and creates five integrations — a
//! ChannelAdvisor feed, OfferUp through ChannelAdvisor, Reverb, Allegro and Tradera. Allegro and
//! Tradera connect the way a seller does: by logging in at the marketplace (Allegro's device
//! flow, Tradera's token login), which the sandbox answers as if the seller had approved. Each
//! is walked through connect → verify → label and shipping mappings → activate (Testing) → link
//! → sync → import orders (imported and not imported, with reasons) → ship → simulated time to
//! Live, with progress bars while it works and a summary table at the end. Everything is
//! offline and takes seconds.
//!
//! Run it again: it continues from the stored state and duplicates nothing — the sandbox starts
//! fresh and offers every order again, and every one is recognised as already imported. The
//! fresh Allegro and Tradera sandboxes do not know the first run's logins, so those connections
//! are found Broken ("log in again") and repaired the seller's way: deactivate, reactivate, log
//! in. Set `MARKETSYNC_TOUR_DB` to choose the database file; delete the file to start over.

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
    Actor, AuthorizationCallback, AuthorizationRequest, AuthorizationStart, Channel, ChannelKind,
    ChannelOrderId, Clock, CredentialKey, Credentials, Currency, Decimal, Delivery, Engine,
    EngineError, ExposeSecret, Feature, IntegrationId, IntegrationSettings, InventoryItem, Label,
    LedgerFilter, ManualClock, MemoryCatalog, MemoryNotifier, Money, NotImportedReason,
    OrderOutcome, SecretString, Shipment, Sku, SqliteStore,
};
use marketsync_allegro::{AllegroChannel, AllegroConfig};
use marketsync_channeladvisor::{ChannelAdvisorChannel, ChannelAdvisorConfig};
use marketsync_reverb::{ReverbChannel, ReverbConfig};
use marketsync_sandbox::channeladvisor::seed::TYPICAL_SHIPPING_CLASSES;
use marketsync_sandbox::{
    AllegroSandbox, ChannelAdvisorSandbox, ReverbSandbox, Sandbox, TraderaSandbox,
};
use marketsync_tradera::{TraderaChannel, TraderaConfig};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

/// Orders shipped per integration in this walk.
const SHIP: usize = 3;

/// One integration of the walk.
struct Plan {
    name: &'static str,
    kind: ChannelKind,
    label: &'static str,
    /// The integration's currency (the marketplace's).
    currency: Currency,
    /// The adapter, pointed at its sandbox.
    channel: Arc<dyn Channel>,
    /// How the seller connects.
    connect: Connect,
    /// Shipping texts mapped at setup.
    mapped_shipping: Vec<String>,
}

/// How the seller connects an integration.
enum Connect {
    /// Enters credentials (an API token, an OAuth refresh token from the marketplace's app
    /// settings).
    Enter(Credentials),
    /// Logs in at Allegro with the device flow: types the code shown at Allegro's page.
    AllegroDevice(AllegroSandbox),
    /// Logs in at Tradera's token-login page.
    TraderaLogin(TraderaSandbox),
}

/// What one integration's walk did, for the summary.
#[derive(Default)]
struct Tally {
    created: bool,
    /// Found Broken and repaired by logging in again.
    repaired: Option<String>,
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
    std::env::var_os("MARKETSYNC_TOUR_DB")
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("marketsync-tour.db"))
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
            stock_version: None,
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

/// An Allegro adapter pointed at the sandbox: the application (client id and secret) only; the
/// seller's session comes from logging in.
fn allegro(sandbox: &Sandbox<AllegroSandbox>, name: &str) -> Result<Arc<dyn Channel>> {
    let app = sandbox.credentials();
    let config = AllegroConfig::builder()
        .base_url(sandbox.base_url())
        .auth_base_url(sandbox.base_url())
        .client_id(app.client_id)
        .client_secret(SecretString::from(app.client_secret))
        .connection_name(name)
        .build()?;
    Ok(Arc::new(AllegroChannel::new(config)?))
}

/// A Tradera adapter pointed at the sandbox: the application (app id and key) only; the seller's
/// token comes from logging in. Tradera's default budget of 100 calls a day applies.
fn tradera(sandbox: &Sandbox<TraderaSandbox>, name: &str) -> Result<Arc<dyn Channel>> {
    let app = sandbox.credentials();
    let config = TraderaConfig::builder()
        .base_url(sandbox.base_url())
        .app_id(i64::from(app.app_id))
        .app_key(SecretString::from(app.app_key))
        .public_key(marketsync_sandbox::tradera::PUBLIC_KEY)
        .connection_name(name)
        .build()?;
    Ok(Arc::new(TraderaChannel::new(config)?))
}

/// Adds an item to the seller's catalog under `label`, or the label to an item with that SKU.
fn add_item(
    catalog: &MemoryCatalog,
    sku: Sku,
    title: &str,
    price: Money,
    quantity: u32,
    label: &Label,
) {
    let labelled = catalog.update(&sku, |i| {
        i.labels.insert(label.clone());
    });
    if !labelled {
        catalog.upsert(InventoryItem {
            stock_version: None,
            sku,
            title: title.to_owned(),
            price,
            quantity,
            labels: [label.clone()].into_iter().collect(),
        });
    }
}

/// Adds the Allegro sandbox's offers with a SKU (`external.id`) to the seller's catalog under the
/// `allegro` label, priced in złoty.
fn add_allegro_items(catalog: &MemoryCatalog, sandbox: &AllegroSandbox) -> Result<()> {
    let label = Label::new("allegro")?;
    for (n, id) in sandbox.offer_ids().iter().enumerate() {
        let Some(offer) = sandbox.offer(id) else {
            continue;
        };
        let Some(sku) = offer["external"]["id"]
            .as_str()
            .and_then(|s| Sku::new(s).ok())
        else {
            continue;
        };
        let title = offer["name"].as_str().unwrap_or("Allegro offer");
        let price = Money::new(
            Decimal::new(4_900 + (n as i64 % 30) * 250, 2),
            Currency::PLN,
        );
        add_item(catalog, sku, title, price, 2 + (n % 4) as u32, &label);
    }
    Ok(())
}

/// Adds the Tradera sandbox's shop items to the seller's catalog under the `tradera` label, by
/// their first own reference where it is a usable SKU, priced in whole kronor.
fn add_tradera_items(catalog: &MemoryCatalog, sandbox: &TraderaSandbox) -> Result<()> {
    let label = Label::new("tradera")?;
    for id in sandbox.item_ids() {
        let Some(item) = sandbox.item(id) else {
            continue;
        };
        if item["itemType"].as_i64() != Some(marketsync_sandbox::tradera::seed::SHOP_ITEM) {
            continue;
        }
        let Some(sku) = item["ownReferences"][0]
            .as_str()
            .and_then(|s| Sku::new(s).ok())
        else {
            continue;
        };
        let title = item["shortDescription"].as_str().unwrap_or("Tradera item");
        let price = Money::new(Decimal::from(149 + (id % 20) * 10), Currency::SEK);
        add_item(catalog, sku, title, price, 1 + (id % 5) as u32, &label);
    }
    Ok(())
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
        add_item(
            catalog,
            Sku::new(sku)?,
            listing["title"].as_str().unwrap_or("Reverb item"),
            Money::new(
                Decimal::new(45_000 + (id % 40) as i64 * 500, 2),
                Currency::USD,
            ),
            1 + (id % 3) as u32,
            &label,
        );
    }
    Ok(())
}

/// The authorization to start for a login-type connection.
fn login_request(connect: &Connect) -> AuthorizationRequest {
    AuthorizationRequest {
        redirect_uri: None,
        device_flow: matches!(connect, Connect::AllegroDevice(_)),
    }
}

/// The seller logs in at the marketplace's page (the sandbox plays the marketplace and the
/// seller's browser), then the engine completes the authorization: it stores the session
/// sealed and verifies it.
async fn log_in(
    engine: &Engine,
    id: IntegrationId,
    connect: &Connect,
    start: AuthorizationStart,
) -> Result<()> {
    let callback = match connect {
        Connect::AllegroDevice(sandbox) => {
            // The seller types the code at Allegro's page and allows access.
            let code = start
                .user_code
                .as_deref()
                .ok_or("Allegro sent no user code")?;
            if !sandbox.approve_device(code) {
                return Err(format!("the Allegro sandbox does not know the code {code}").into());
            }
            AuthorizationCallback::default()
        }
        Connect::TraderaLogin(sandbox) => {
            // The seller logs in at the token-login page, which carries the secret key; Tradera
            // sends the browser back with the user id.
            let skey = start
                .url
                .query_pairs()
                .find(|(k, _)| k == "skey")
                .map(|(_, v)| v.into_owned())
                .ok_or("the Tradera login page has no secret key")?;
            debug_assert_eq!(skey, start.pending.secret.expose_secret());
            sandbox.login_with_secret_key(&skey);
            AuthorizationCallback::from_params([(
                "userId",
                marketsync_sandbox::tradera::USER_ID.to_string(),
            )])
        }
        Connect::Enter(_) => return Err("entered credentials need no login".into()),
    };
    let seller = Actor::User("tour".into());
    engine
        .complete_authorization(id, &start.pending, &callback, seller)
        .await?
        .ok_or("the login is still pending")?;
    Ok(())
}

async fn walk(engine: &Engine, plan: &Plan, bar: &ProgressBar) -> Result<(IntegrationId, Tally)> {
    let channel = plan.channel.clone();
    let seller = Actor::User("tour".into());
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
            if let Connect::Enter(_) = plan.connect {
                // Entered credentials: the adapter was built with them.
                engine.register_channel(rec.id, channel);
            } else {
                // A login: the stored session is handed to the adapter.
                engine.attach_channel(rec.id, channel).await?;
            }
            step("found from a previous run");
            // Logins live at the marketplace: this run's fresh sandbox has never seen the first
            // run's, so the check finds the connection Broken ("log in again") and the seller
            // repairs it their way — deactivate, reactivate, log in.
            if let Err(e) = engine.verify(rec.id, seller.clone()).await {
                let EngineError::Channel(error) = &e else {
                    return Err(e.into());
                };
                if matches!(plan.connect, Connect::Enter(_)) {
                    return Err(e.into());
                }
                tally.repaired = Some(error.to_string());
                engine.deactivate(rec.id, seller.clone()).await?;
                let start = engine
                    .reactivate(rec.id, seller.clone(), &login_request(&plan.connect))
                    .await?;
                log_in(engine, rec.id, &plan.connect, start).await?;
                step("logged in again");
            }
            rec.id
        }
        None => {
            tally.created = true;
            let id = engine
                .create_integration(
                    plan.name,
                    channel,
                    IntegrationSettings::new(plan.kind, plan.currency),
                    seller.clone(),
                )
                .await?;
            step("connect");
            match &plan.connect {
                Connect::Enter(credentials) => {
                    engine
                        .enter_credentials(id, credentials, seller.clone())
                        .await?;
                    engine.verify(id, seller.clone()).await?;
                }
                login => {
                    let start = engine
                        .begin_authorization(id, &login_request(login))
                        .await?;
                    log_in(engine, id, login, start).await?;
                }
            }
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
                .edit_mappings(id, seller.clone(), |m| {
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

    // Ship a few imported orders. No idempotency key is given: the engine derives it from the
    // request (integration, order, the shipment's carrier, tracking number and lines), so a
    // second run records nothing new and sends nothing twice. (A host's own keys are scoped per
    // integration: `ship-{order}` in every integration would be fine too.)
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
        engine.ship(id, order, shipment, None).await?;
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
    sandbox.add_application("tour-offerup-app", "tour-offerup-secret");
    sandbox.add_refresh_token(
        "tour-offerup-refresh",
        "tour-offerup-app",
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

    let allegro_sandbox = AllegroSandbox::builder()
        .seed(2026)
        .offers(24)
        .orders(30)
        .anchor(clock.now())
        .build()
        .start()
        .await?;
    let tradera_sandbox = TraderaSandbox::builder()
        .seed(2026)
        .items(20)
        .orders(16)
        .anchor(clock.now())
        .build()
        .start()
        .await?;

    println!("marketsync tour");
    println!("  ChannelAdvisor sandbox: {}", sandbox.base_url());
    println!("  Reverb sandbox:         {}", reverb_sandbox.base_url());
    println!("  Allegro sandbox:        {}", allegro_sandbox.base_url());
    println!("  Tradera sandbox:        {}", tradera_sandbox.base_url());
    println!("  database:               {}", path.display());

    let catalog = Arc::new(catalog_from(&sandbox)?);
    add_reverb_items(&catalog, &reverb_sandbox)?;
    add_allegro_items(&catalog, &allegro_sandbox)?;
    add_tradera_items(&catalog, &tradera_sandbox)?;
    let notifier = Arc::new(MemoryNotifier::new());
    // A demo key. A real program takes it from the environment or a secrets manager.
    let engine = Engine::new(store.clone(), catalog, notifier.clone(), clock.clone())
        .with_credential_key(CredentialKey::new("tour", [7; 32]));

    let typical: Vec<String> = TYPICAL_SHIPPING_CLASSES
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    let ca_name = "ChannelAdvisor — eBay feed";
    let offerup_name = "OfferUp (through ChannelAdvisor)";
    let reverb_name = "Reverb — main shop";
    let allegro_name = "Allegro — sklep";
    let tradera_name = "Tradera — butik";
    // One delivery method of each is left unmapped on purpose: its orders wait with the reason.
    let allegro_methods: Vec<String> = marketsync_sandbox::allegro::seed::DELIVERY_METHODS
        .iter()
        .map(|(_, name)| (*name).to_owned())
        .filter(|name| !name.starts_with("Poczta Polska"))
        .collect();
    let tradera_types: Vec<String> = marketsync_sandbox::tradera::seed::SHIPPING_TYPES
        .iter()
        .map(|t| (*t).to_owned())
        .filter(|t| *t != "Budbee Box")
        .collect();
    let plans = [
        Plan {
            name: ca_name,
            kind: ChannelKind::ChannelAdvisor,
            label: "eBay",
            currency: Currency::USD,
            channel: channeladvisor(
                &sandbox,
                ChannelKind::ChannelAdvisor,
                "eBay",
                (&ca.application_id, &ca.shared_secret, &ca.refresh_token),
                ca_name,
            )?,
            connect: Connect::Enter(oauth(&ca.refresh_token)),
            mapped_shipping: typical.clone(),
        },
        Plan {
            name: offerup_name,
            kind: ChannelKind::OfferUp,
            label: "OfferUp",
            currency: Currency::USD,
            channel: channeladvisor(
                &sandbox,
                ChannelKind::OfferUp,
                "OfferUp",
                (
                    "tour-offerup-app",
                    "tour-offerup-secret",
                    "tour-offerup-refresh",
                ),
                offerup_name,
            )?,
            connect: Connect::Enter(oauth("tour-offerup-refresh")),
            mapped_shipping: typical,
        },
        Plan {
            name: reverb_name,
            kind: ChannelKind::Reverb,
            label: "reverb",
            currency: Currency::USD,
            channel: reverb(&reverb_sandbox, reverb_name)?,
            connect: Connect::Enter(Credentials::api_token(reverb_sandbox.token())),
            // Reverb does not require shipping mappings: unmapped texts import as they are.
            mapped_shipping: vec!["shipped".into()],
        },
        Plan {
            name: allegro_name,
            kind: ChannelKind::Allegro,
            label: "allegro",
            currency: Currency::PLN,
            channel: allegro(&allegro_sandbox, allegro_name)?,
            connect: Connect::AllegroDevice((*allegro_sandbox).clone()),
            mapped_shipping: allegro_methods,
        },
        Plan {
            name: tradera_name,
            kind: ChannelKind::Tradera,
            label: "tradera",
            currency: Currency::SEK,
            channel: tradera(&tradera_sandbox, tradera_name)?,
            connect: Connect::TraderaLogin((*tradera_sandbox).clone()),
            mapped_shipping: tradera_types,
        },
    ];

    let bars = MultiProgress::new();
    let style = ProgressStyle::with_template("{prefix:34} [{bar:24}] {pos}/{len} {msg}")?
        .progress_chars("=> ");
    let mut results = Vec::new();
    for plan in &plans {
        let bar = bars.add(
            ProgressBar::new(if matches!(plan.connect, Connect::Enter(_)) {
                8
            } else {
                9
            })
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
        if let Some(why) = &t.repaired {
            println!(
                "  {} was Broken ({why}); repaired by logging in again (deactivate, reactivate, log in)",
                plan.name
            );
        }
        for r in &t.refused {
            println!("  {} refused {r}", plan.name);
        }
    }
    println!(
        "\nrequests the sandboxes received: ChannelAdvisor {}, Reverb {}, Allegro {}, Tradera {} (of its 100 a day)",
        sandbox.counters().total,
        reverb_sandbox.counters().total,
        allegro_sandbox.counters().total,
        tradera_sandbox.counters().total
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
