//! The conformance suite every [`Channel`] adapter must pass, run through the engine.
//!
//! A marketplace's sandbox implements [`ChannelHarness`]: it hands out the adapter pointed at it,
//! and sets up state "at the channel" (listings, orders), deletes things outside, revokes
//! credentials, injects failures and reports what it received. Each check is a public async
//! function taking a fresh harness and a fresh store; checks are gated by the channel's
//! [`Capabilities`] and call unsupported operations on purpose, expecting
//! `Unsupported` decided without a call. [`run_all`] runs them all.
//!
//! Every check drives the real [`Engine`] with the given [`Store`], so an adapter is proven in the
//! setting users run it in.

use std::future::Future;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, TimeDelta, Utc};

use marketsync_core::capability::{Capabilities, Operation};
use marketsync_core::channel::Channel;
use marketsync_core::clock::{Clock, ManualClock};
use marketsync_core::credentials::Credentials;
use marketsync_core::engine::{Engine, EngineError, ReconcileOutcome};
use marketsync_core::error::ErrorKind;
use marketsync_core::ids::{ChannelListingId, ChannelOrderId, IntegrationId, Label, Sku};
use marketsync_core::lifecycle::{Actor, Blocked, Event, Feature, Health};
use marketsync_core::listing::{ChannelListing, ChannelListingState, InventoryItem, ListingStatus};
use marketsync_core::mapping::{ShippingMapping, ShippingService, SkuMapping};
use marketsync_core::memory::MemoryCatalog;
use marketsync_core::memory::MemoryChannel;
use marketsync_core::memory::MemoryNotifier;
use marketsync_core::money::{Currency, Money};
use marketsync_core::notify::Notification;
use marketsync_core::order::{
    AdjustmentReason, Buyer, Cancellation, CurrencySource, Order, OrderLine, OrderState,
    OrderStatus, Refund, Shipment,
};
use marketsync_core::settings::IntegrationSettings;
use marketsync_core::store::{LedgerFilter, NotImportedReason, OrderOutcome, Store};
use marketsync_core::vault::CredentialKey;

/// An order to create at the channel, in the library's terms; the harness writes it in its
/// marketplace's wire form.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrderSpec {
    /// A name unique within the test (the harness may use it as, or map it to, the order id).
    pub name: String,
    /// When the buyer placed it.
    pub created_at: DateTime<Utc>,
    /// Its state (the harness picks a matching raw status of its marketplace).
    pub state: OrderState,
    /// One line per channel SKU, quantity 1 each.
    pub skus: Vec<Sku>,
    /// The shipping-method text the order carries.
    pub shipping: String,
    /// The unit price of each line.
    pub unit_price: Money,
}

/// What the channel received for an order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Received {
    /// Shipments.
    Shipments,
    /// Refunds.
    Refunds,
    /// Cancellations.
    Cancellations,
}

/// A marketplace under test: its adapter and its sandbox's controls.
#[async_trait]
pub trait ChannelHarness: Send + Sync {
    /// The adapter, pointed at the sandbox.
    fn channel(&self) -> Arc<dyn Channel>;

    /// Credentials the sandbox accepts.
    fn credentials(&self) -> Credentials;

    /// Creates a live listing at the channel carrying `sku`; returns its id.
    async fn add_listing(&self, sku: &Sku, price: Money, quantity: u32) -> ChannelListingId;

    /// What the channel shows for a listing now (`None` when it is gone).
    async fn listing(&self, id: &ChannelListingId) -> Option<ChannelListing>;

    /// Deletes a listing at the channel, as the seller would outside the integration.
    async fn delete_listing_outside(&self, id: &ChannelListingId);

    /// Creates an order at the channel; returns the id the adapter will report for it.
    async fn add_order(&self, order: &OrderSpec) -> ChannelOrderId;

    /// Makes the channel refuse the current credentials (regenerated or revoked elsewhere).
    async fn revoke_credentials(&self);

    /// Issues credentials that work again after a revocation.
    async fn new_credentials(&self) -> Credentials;

    /// Makes the next `times` calls of `operation` fail with `kind` (`Transient` as the
    /// marketplace's 5xx, `RateLimited` as its 429 with its headers).
    async fn fail_next(&self, operation: Operation, kind: ErrorKind, times: u32);

    /// How many of `what` the channel applied for an order.
    async fn received(&self, order: &ChannelOrderId, what: Received) -> usize;

    /// The currency the marketplace prices in; the checks use it for catalog items, listings
    /// and orders (all in whole units, which every marketplace accepts). USD unless the
    /// marketplace has its own (Tradera: SEK, Allegro: PLN).
    fn currency(&self) -> Currency {
        Currency::USD
    }
}

/// The in-memory harness: [`MemoryChannel`] with the given capabilities.
#[derive(Debug, Clone)]
pub struct MemoryHarness {
    channel: MemoryChannel,
}

impl MemoryHarness {
    /// A harness over a fresh MemoryChannel.
    pub fn new(channel: MemoryChannel) -> Self {
        Self { channel }
    }
}

#[async_trait]
impl ChannelHarness for MemoryHarness {
    fn channel(&self) -> Arc<dyn Channel> {
        Arc::new(self.channel.clone())
    }

    fn credentials(&self) -> Credentials {
        Credentials::api_token("memory-token")
    }

    async fn add_listing(&self, sku: &Sku, price: Money, quantity: u32) -> ChannelListingId {
        let n = self.channel.listings().len() + 1;
        let id = ChannelListingId::new(format!("h-{n}")).expect("valid id");
        self.channel.add_listing(ChannelListing {
            id: id.clone(),
            sku: Some(sku.clone()),
            title: Some(format!("Item {sku}")),
            price: Some(price),
            quantity: Some(quantity),
            state: ChannelListingState::Live,
            raw_state: "live".into(),
        });
        id
    }

    async fn listing(&self, id: &ChannelListingId) -> Option<ChannelListing> {
        self.channel.listing(id)
    }

    async fn delete_listing_outside(&self, id: &ChannelListingId) {
        self.channel.delete_listing_outside(id);
    }

    async fn add_order(&self, spec: &OrderSpec) -> ChannelOrderId {
        let id = ChannelOrderId::new(spec.name.clone()).expect("valid id");
        self.channel.add_order(Order {
            channel_order_id: id.clone(),
            marketplace_order_id: None,
            site: None,
            created_at: spec.created_at,
            updated_at: None,
            status: OrderStatus::new(spec.state, format!("{:?}", spec.state)),
            currency: spec.unit_price.currency(),
            currency_source: CurrencySource::Channel,
            lines: spec
                .skus
                .iter()
                .enumerate()
                .map(|(i, sku)| OrderLine {
                    line_id: format!("{}-{i}", spec.name),
                    sku: Some(sku.clone()),
                    listing_id: None,
                    title: sku.to_string(),
                    quantity: 1,
                    unit_price: spec.unit_price,
                })
                .collect(),
            shipping_method: Some(spec.shipping.clone()),
            shipping_price: None,
            tax: None,
            total: None,
            shipping_address: None,
            buyer: Buyer::default(),
            local_pickup: false,
            revision: None,
        });
        id
    }

    async fn revoke_credentials(&self) {
        self.channel
            .revoke_credentials("Authorization has been denied for this request.");
    }

    async fn new_credentials(&self) -> Credentials {
        self.channel.restore_credentials();
        Credentials::api_token("memory-token-2")
    }

    async fn fail_next(&self, operation: Operation, kind: ErrorKind, times: u32) {
        self.channel.fail_next(operation, times, kind);
    }

    async fn received(&self, order: &ChannelOrderId, what: Received) -> usize {
        match what {
            Received::Shipments => self
                .channel
                .shipments()
                .iter()
                .filter(|s| &s.order_id == order)
                .count(),
            Received::Refunds => self
                .channel
                .refunds()
                .iter()
                .filter(|s| &s.order_id == order)
                .count(),
            Received::Cancellations => self
                .channel
                .cancellations()
                .iter()
                .filter(|s| &s.order_id == order)
                .count(),
        }
    }
}

/// One running test: an engine over the store, an integration on the harness's channel, taken to
/// Testing with its label, and the features the channel supports switched on.
pub struct Rig<'a> {
    /// The harness.
    pub harness: &'a dyn ChannelHarness,
    /// The engine.
    pub engine: Engine,
    /// Its catalog.
    pub catalog: Arc<MemoryCatalog>,
    /// Its notifications.
    pub notifier: Arc<MemoryNotifier>,
    /// Its clock (starts at the real current time, moved by the checks).
    pub clock: Arc<ManualClock>,
    /// The integration.
    pub id: IntegrationId,
    /// The channel's capabilities.
    pub caps: Capabilities,
    /// The integration's label.
    pub label: Label,
}

impl std::fmt::Debug for Rig<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rig")
            .field("id", &self.id)
            .field("caps", &self.caps)
            .finish_non_exhaustive()
    }
}

fn seller() -> Actor {
    Actor::User("conformance".into())
}

fn sku(s: &str) -> Sku {
    Sku::new(s).expect("valid SKU")
}

/// The shipping text every check's importable orders carry, mapped when the channel requires it.
pub const SHIPPING_TEXT: &str = "Standard Shipping";

impl<'a> Rig<'a> {
    /// Sets up a rig: engine, integration, verified, labelled, activated, features on.
    pub async fn new(harness: &'a dyn ChannelHarness, store: Arc<dyn Store>) -> Rig<'a> {
        let clock = Arc::new(ManualClock::new(Utc::now()));
        let catalog = Arc::new(MemoryCatalog::new());
        let notifier = Arc::new(MemoryNotifier::new());
        let engine = Engine::new(store, catalog.clone(), notifier.clone(), clock.clone())
            .with_credential_key(CredentialKey::new("conformance", [9; 32]));
        let channel = harness.channel();
        let caps = channel.capabilities();
        let kind = channel.kind();
        let id = engine
            .create_integration(
                "conformance",
                channel,
                IntegrationSettings::new(kind, harness.currency()),
                seller(),
            )
            .await
            .expect("create integration");
        engine
            .enter_credentials(id, &harness.credentials(), seller())
            .await
            .expect("enter credentials");
        engine
            .verify(id, seller())
            .await
            .expect("verify the sandbox's credentials");
        let label = Label::new("conformance").expect("valid label");
        let rig = Rig {
            harness,
            engine,
            catalog,
            notifier,
            clock,
            id,
            caps,
            label: label.clone(),
        };
        rig.event(Event::SetLabel {
            label: Some(label),
            support_override: None,
        })
        .await;
        rig.event(Event::Activate).await;
        let mut features = vec![Feature::Orders];
        if caps.listings_link || caps.listings_sync {
            features.push(Feature::Listings);
        }
        if caps.listings_reconcile {
            features.push(Feature::Reconciler);
        }
        for feature in features {
            rig.event(Event::SetFeature {
                feature,
                on: true,
                support_override: None,
            })
            .await;
        }
        if caps.shipping_mappings_required {
            rig.map_shipping(SHIPPING_TEXT).await;
        }
        rig
    }

    async fn event(&self, e: Event) {
        self.engine
            .apply(self.id, seller(), e.clone())
            .await
            .unwrap_or_else(|err| panic!("lifecycle event {e:?} refused: {err}"));
    }

    /// Adds a labelled catalog item.
    pub fn item(&self, s: &str, price: &str, quantity: u32) {
        self.catalog.upsert(InventoryItem {
            stock_version: None,
            sku: sku(s),
            title: format!("Item {s}"),
            price: Money::parse(price, self.harness.currency().code()).expect("valid price"),
            quantity,
            labels: [self.label.clone()].into_iter().collect(),
        });
    }

    /// Maps a shipping text.
    pub async fn map_shipping(&self, text: &str) {
        let m = ShippingMapping::new(
            text,
            ShippingService {
                name: format!("svc {text}"),
                carrier: None,
                class: None,
            },
            self.clock.now(),
        )
        .expect("valid mapping");
        self.engine
            .edit_mappings(self.id, seller(), |set| {
                set.insert_shipping(m.clone());
            })
            .await
            .expect("store mapping");
    }

    /// An importable order spec for `skus`, created an hour ago.
    pub fn order(&self, name: &str, skus: &[&str]) -> OrderSpec {
        OrderSpec {
            name: name.into(),
            created_at: self.clock.now() - TimeDelta::hours(1),
            state: OrderState::AwaitingShipment,
            skus: skus.iter().map(|s| sku(s)).collect(),
            shipping: SHIPPING_TEXT.into(),
            unit_price: self.money("10.00"),
        }
    }

    /// An amount in the marketplace's currency.
    pub fn money(&self, amount: &str) -> Money {
        Money::parse(amount, self.harness.currency().code()).expect("valid amount")
    }

    /// The ledger outcome of an order.
    pub async fn outcome(&self, order: &ChannelOrderId) -> Option<OrderOutcome> {
        self.engine
            .store()
            .ledger_entry(self.id, order)
            .await
            .expect("read ledger")
            .map(|e| e.outcome)
    }
}

// ----- checks -----

/// `verify` succeeds against the sandbox and the integration is healthy.
pub async fn verify_reports_the_account(h: &dyn ChannelHarness, store: Arc<dyn Store>) {
    let rig = Rig::new(h, store).await;
    let info = rig.engine.verify(rig.id, seller()).await.expect("verify");
    assert!(!info.account_id.is_empty(), "verify must name the account");
    let rec = rig.engine.integration(rig.id).await.expect("integration");
    assert_eq!(rec.lifecycle.health(), &Health::Healthy);
}

/// Link by SKU, then sync sends only what changed, in batches the channel accepts.
pub async fn link_then_sync_only_changes(h: &dyn ChannelHarness, store: Arc<dyn Store>) {
    let rig = Rig::new(h, store).await;
    if !(rig.caps.listings_link && rig.caps.listings_sync) {
        return;
    }
    rig.item("CONF-A", "13.00", 4);
    rig.item("CONF-B", "20.00", 1);
    let usd = |s: &str| rig.money(s);
    let a = h.add_listing(&sku("CONF-A"), usd("1.00"), 0).await;
    let b = h.add_listing(&sku("CONF-B"), usd("1.00"), 0).await;
    let report = rig.engine.link_listings(rig.id).await.expect("link");
    let mut linked: Vec<_> = report
        .linked
        .iter()
        .map(|(s, _)| s.as_str().to_owned())
        .collect();
    linked.sort();
    assert_eq!(linked, ["CONF-A", "CONF-B"], "link by SKU: {report:?}");
    let sync = rig.engine.sync_listings(rig.id).await.expect("sync");
    assert_eq!(sync.sent.len(), 2, "first sync sends both: {sync:?}");
    let on_channel = h.listing(&a).await.expect("listing A still there");
    assert_eq!(on_channel.quantity, Some(4));
    assert_eq!(
        on_channel.price.map(|p| p.amount()),
        Some(usd("13.00").amount())
    );
    let again = rig.engine.sync_listings(rig.id).await.expect("sync");
    assert!(
        again.sent.is_empty() && again.unchanged == 2,
        "nothing changed: {again:?}"
    );
    rig.catalog.update(&sku("CONF-B"), |i| i.quantity = 0);
    let third = rig.engine.sync_listings(rig.id).await.expect("sync");
    assert_eq!(third.sent, [sku("CONF-B")]);
    assert_eq!(h.listing(&b).await.expect("listing B").quantity, Some(0));
}

/// Publish creates listings where supported, else fails `Unsupported` without a call.
pub async fn publish_or_unsupported(h: &dyn ChannelHarness, store: Arc<dyn Store>) {
    let rig = Rig::new(h, store).await;
    rig.item("CONF-NEW", "5.00", 2);
    let result = rig.engine.publish_listings(rig.id, false).await;
    if rig.caps.listings_publish {
        let report = result.expect("publish");
        assert_eq!(report.published.len(), 1, "{report:?}");
    } else {
        let err = result.expect_err("publish must be refused");
        assert!(
            matches!(
                err,
                EngineError::Unsupported {
                    operation: Operation::PublishListings,
                    ..
                }
            ),
            "{err}"
        );
    }
}

/// A linked listing deleted outside becomes a broken link at the next sync.
pub async fn deleted_listing_becomes_broken_link(h: &dyn ChannelHarness, store: Arc<dyn Store>) {
    let rig = Rig::new(h, store).await;
    if !(rig.caps.listings_link && rig.caps.listings_sync) {
        return;
    }
    rig.item("CONF-GONE", "3.00", 1);
    let id = h.add_listing(&sku("CONF-GONE"), rig.money("3.00"), 1).await;
    rig.engine.link_listings(rig.id).await.expect("link");
    // Synced once, so nothing changes afterwards: the next sync must notice the deletion itself,
    // not through a refused update.
    rig.engine.sync_listings(rig.id).await.expect("first sync");
    h.delete_listing_outside(&id).await;
    let sync = rig.engine.sync_listings(rig.id).await.expect("sync");
    assert_eq!(sync.broken, [sku("CONF-GONE")], "{sync:?}");
    let listings = rig.engine.store().listings(rig.id).await.expect("listings");
    assert_eq!(listings[0].status, ListingStatus::BrokenLink);
}

/// Reconcile plans every listing not on the label, removes nothing until confirmed, then carries
/// out exactly that plan. Where unsupported, the reconciler cannot be switched on.
pub async fn reconcile_plan_then_confirm(h: &dyn ChannelHarness, store: Arc<dyn Store>) {
    let rig = Rig::new(h, store).await;
    if !rig.caps.listings_reconcile {
        let err = rig
            .engine
            .plan_reconcile(rig.id)
            .await
            .expect_err("reconciler is off");
        assert!(matches!(
            err,
            EngineError::Blocked {
                blocked: Blocked::FeatureOff(Feature::Reconciler),
                ..
            }
        ));
        return;
    }
    rig.item("CONF-KEEP", "1.00", 1);
    let usd = rig.money("1.00");
    let keep = h.add_listing(&sku("CONF-KEEP"), usd, 1).await;
    let drop = h.add_listing(&sku("CONF-DROP"), usd, 1).await;
    let ReconcileOutcome::AwaitingConfirmation(plan) =
        rig.engine.run_reconcile(rig.id).await.expect("reconcile")
    else {
        panic!("the first reconcile after switching on must only plan")
    };
    let planned: Vec<_> = plan.listings.iter().map(|l| l.listing_id.clone()).collect();
    assert!(
        planned.contains(&drop) && !planned.contains(&keep),
        "{plan:?}"
    );
    assert!(
        h.listing(&drop)
            .await
            .is_some_and(|l| l.state != ChannelListingState::Ended),
        "dry run removed something"
    );
    let report = rig
        .engine
        .confirm_reconcile(rig.id, &plan, seller())
        .await
        .expect("confirm");
    assert!(report.failed.is_empty(), "{report:?}");
    let dropped = h.listing(&drop).await;
    assert!(
        dropped.is_none_or(|l| l.state == ChannelListingState::Ended),
        "planned listing still live"
    );
    assert!(
        h.listing(&keep)
            .await
            .is_some_and(|l| l.state != ChannelListingState::Ended)
    );
}

/// Import records one outcome per order with its reason, and a held order imports once its
/// mapping exists.
pub async fn import_records_every_reason(h: &dyn ChannelHarness, store: Arc<dyn Store>) {
    let rig = Rig::new(h, store).await;
    rig.item("CONF-OK", "10.00", 5);
    let good = h.add_order(&rig.order("conf-good", &["CONF-OK"])).await;
    let unpaid = h
        .add_order(&OrderSpec {
            state: OrderState::Unpaid,
            ..rig.order("conf-unpaid", &["CONF-OK"])
        })
        .await;
    let old = h
        .add_order(&OrderSpec {
            created_at: rig.clock.now() - TimeDelta::days(90),
            ..rig.order("conf-old", &["CONF-OK"])
        })
        .await;
    let unmapped_sku = h.add_order(&rig.order("conf-sku", &["CONF-CH-1"])).await;
    let unmapped_ship = h
        .add_order(&OrderSpec {
            shipping: "Teleport".into(),
            ..rig.order("conf-ship", &["CONF-OK"])
        })
        .await;
    let report = rig.engine.import_orders(rig.id).await.expect("import");
    assert!(report.imported.contains(&good), "{report:?}");
    assert_eq!(rig.outcome(&good).await, Some(OrderOutcome::Imported));
    let reason = |o: Option<OrderOutcome>| match o {
        Some(OrderOutcome::NotImported { reason }) => Some(reason),
        _ => None,
    };
    assert!(
        matches!(
            reason(rig.outcome(&unpaid).await),
            Some(NotImportedReason::StatusNotImported { .. })
        ),
        "unpaid order: {:?}",
        rig.outcome(&unpaid).await
    );
    // An adapter may filter the window at the channel; what it downloads is recorded as too old.
    let old_outcome = rig.outcome(&old).await;
    assert!(
        old_outcome.is_none()
            || matches!(
                reason(old_outcome.clone()),
                Some(NotImportedReason::TooOld { .. })
            ),
        "old order: {old_outcome:?}"
    );
    assert!(matches!(
        reason(rig.outcome(&unmapped_sku).await),
        Some(NotImportedReason::UnmappedSku { .. })
    ));
    if rig.caps.shipping_mappings_required {
        assert!(matches!(
            reason(rig.outcome(&unmapped_ship).await),
            Some(NotImportedReason::UnmappedShipping { .. })
        ));
    } else {
        assert_eq!(
            rig.outcome(&unmapped_ship).await,
            Some(OrderOutcome::Imported)
        );
    }
    assert!(
        rig.notifier
            .all()
            .iter()
            .any(|n| matches!(n, Notification::OrdersHeld { .. })),
        "held orders are notified"
    );
    // The mappings appear: the held orders import on the next run.
    rig.engine
        .edit_mappings(rig.id, seller(), |m| {
            m.insert_sku(SkuMapping {
                channel_sku: sku("CONF-CH-1"),
                inventory_sku: sku("CONF-OK"),
                created_at: Utc::now(),
            });
        })
        .await
        .expect("mapping");
    rig.map_shipping("Teleport").await;
    let again = rig
        .engine
        .import_orders(rig.id)
        .await
        .expect("import again");
    assert_eq!(
        rig.outcome(&unmapped_sku).await,
        Some(OrderOutcome::Imported),
        "{again:?}"
    );
    assert_eq!(
        rig.outcome(&unmapped_ship).await,
        Some(OrderOutcome::Imported),
        "{again:?}"
    );
    assert!(
        !again.imported.contains(&good) && !again.released.contains(&good),
        "imported twice"
    );
}

/// Shipments, refunds and cancellations reach the channel exactly once, a failed first attempt
/// included; unsupported ones are refused without a call.
pub async fn ship_refund_cancel_exactly_once(h: &dyn ChannelHarness, store: Arc<dyn Store>) {
    let rig = Rig::new(h, store).await;
    rig.item("CONF-OK", "10.00", 5);
    let a = h.add_order(&rig.order("conf-ship-a", &["CONF-OK"])).await;
    let b = h.add_order(&rig.order("conf-ship-b", &["CONF-OK"])).await;
    let c = h.add_order(&rig.order("conf-ship-c", &["CONF-OK"])).await;
    rig.engine.import_orders(rig.id).await.expect("import");
    let shipment = Shipment {
        carrier: Some("UPS".into()),
        method: Some("Ground".into()),
        tracking_number: Some("1Z999AA10123456784".into()),
        shipped_at: rig.clock.now(),
        lines: vec![],
        delivery: Default::default(),
    };
    let mut expected = Vec::new();
    if rig.caps.orders_ship {
        rig.engine
            .ship(rig.id, &a, shipment.clone(), None)
            .await
            .expect("record shipment");
        expected.push((a.clone(), Received::Shipments));
        h.fail_next(Operation::Ship, ErrorKind::Transient, 1).await;
    } else {
        assert!(matches!(
            rig.engine.ship(rig.id, &a, shipment, None).await,
            Err(EngineError::Unsupported { .. })
        ));
    }
    let refund = Refund {
        amount: None,
        lines: vec![],
        reason: AdjustmentReason::CustomerReturnedItem,
        restock: false,
        note: None,
    };
    if rig.caps.orders_refund {
        rig.engine
            .refund(rig.id, &b, refund, None)
            .await
            .expect("record refund");
        expected.push((b.clone(), Received::Refunds));
    } else {
        assert!(matches!(
            rig.engine.refund(rig.id, &b, refund, None).await,
            Err(EngineError::Unsupported { .. })
        ));
    }
    let cancel = Cancellation {
        lines: vec![],
        reason: AdjustmentReason::BuyerCancelled,
    };
    if rig.caps.orders_cancel {
        rig.engine
            .cancel(rig.id, &c, cancel, None)
            .await
            .expect("record cancellation");
        expected.push((c.clone(), Received::Cancellations));
    } else {
        assert!(matches!(
            rig.engine.cancel(rig.id, &c, cancel, None).await,
            Err(EngineError::Unsupported { .. })
        ));
    }
    for _ in 0..5 {
        let _ = rig.engine.sync_orders(rig.id).await;
        rig.clock.advance(TimeDelta::hours(2));
    }
    for (order, what) in expected {
        assert_eq!(
            h.received(&order, what).await,
            1,
            "{what:?} for {order} must arrive exactly once"
        );
    }
}

/// A temporary failure (5xx or 429) never loses or duplicates an order: the run either
/// recovers (the adapter retried) or fails with a temporary error, and the next run finishes.
pub async fn temporary_failures_lose_and_duplicate_nothing(
    h: &dyn ChannelHarness,
    store: Arc<dyn Store>,
) {
    let rig = Rig::new(h, store).await;
    rig.item("CONF-OK", "10.00", 5);
    let mut orders = Vec::new();
    for i in 0..3 {
        orders.push(
            h.add_order(&rig.order(&format!("conf-tmp-{i}"), &["CONF-OK"]))
                .await,
        );
    }
    for kind in [ErrorKind::Transient, ErrorKind::RateLimited] {
        h.fail_next(Operation::FetchOrders, kind, 1).await;
        match rig.engine.import_orders(rig.id).await {
            Ok(_) => {}
            Err(EngineError::Channel(e)) => {
                assert!(e.is_temporary(), "{kind:?} must stay temporary: {e}")
            }
            Err(e) => panic!("{kind:?}: unexpected failure {e}"),
        }
    }
    rig.engine
        .import_orders(rig.id)
        .await
        .expect("import after the failures");
    for o in &orders {
        assert_eq!(rig.outcome(o).await, Some(OrderOutcome::Imported), "{o}");
    }
    let imported = rig
        .engine
        .store()
        .ledger(rig.id, LedgerFilter::All)
        .await
        .expect("ledger")
        .iter()
        .filter(|e| {
            e.sightings
                .iter()
                .filter(|s| s.outcome == marketsync_core::store::SightingOutcome::Imported)
                .count()
                > 1
        })
        .count();
    assert_eq!(imported, 0, "an order was imported twice");
}

/// Revoked credentials break the integration with the channel's message; nothing is exchanged
/// while broken; new credentials and a verify repair it.
pub async fn revoked_credentials_break_then_repair(h: &dyn ChannelHarness, store: Arc<dyn Store>) {
    let rig = Rig::new(h, store).await;
    h.revoke_credentials().await;
    let err = rig
        .engine
        .verify(rig.id, seller())
        .await
        .expect_err("revoked credentials must fail");
    assert!(
        matches!(&err, EngineError::Channel(e) if e.kind() == ErrorKind::Auth),
        "{err}"
    );
    let rec = rig.engine.integration(rig.id).await.expect("integration");
    assert!(
        matches!(rec.lifecycle.health(), Health::Broken { .. }),
        "{:?}",
        rec.lifecycle.health()
    );
    assert!(matches!(
        rig.engine.import_orders(rig.id).await,
        Err(EngineError::Blocked {
            blocked: Blocked::Broken { .. },
            ..
        })
    ));
    let fresh = h.new_credentials().await;
    rig.engine
        .enter_credentials(rig.id, &fresh, seller())
        .await
        .expect("enter");
    rig.engine
        .verify(rig.id, seller())
        .await
        .expect("verify repaired credentials");
    rig.engine
        .import_orders(rig.id)
        .await
        .expect("import after repair");
    let notes = rig.notifier.all();
    assert_eq!(
        notes
            .iter()
            .filter(|n| matches!(n, Notification::ConnectionBroken { .. }))
            .count(),
        1
    );
    assert!(
        notes
            .iter()
            .any(|n| matches!(n, Notification::ConnectionRestored { .. }))
    );
}

/// Runs every check, each with a fresh harness and a fresh store.
pub async fn run_all<H, HF, HFut, SF, SFut>(make_harness: HF, make_store: SF)
where
    H: ChannelHarness,
    HF: Fn() -> HFut,
    HFut: Future<Output = H>,
    SF: Fn() -> SFut,
    SFut: Future<Output = Arc<dyn Store>>,
{
    verify_reports_the_account(&make_harness().await, make_store().await).await;
    link_then_sync_only_changes(&make_harness().await, make_store().await).await;
    publish_or_unsupported(&make_harness().await, make_store().await).await;
    deleted_listing_becomes_broken_link(&make_harness().await, make_store().await).await;
    reconcile_plan_then_confirm(&make_harness().await, make_store().await).await;
    import_records_every_reason(&make_harness().await, make_store().await).await;
    ship_refund_cancel_exactly_once(&make_harness().await, make_store().await).await;
    temporary_failures_lose_and_duplicate_nothing(&make_harness().await, make_store().await).await;
    revoked_credentials_break_then_repair(&make_harness().await, make_store().await).await;
}
