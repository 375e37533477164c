//! Issue 17, item 7: nothing irreversible on stale information. A reconcile plan is checked
//! again against the current label and catalogue when it is confirmed, expires, is re-armed by a
//! label change, and one run never ends more than a configurable share of the channel's listings
//! without a new explicit confirmation: an empty or failing catalogue answer never delists the
//! shop.
//!
//! Through the facade, as a host program: ManualClock, MemoryChannel, MemoryCatalog (or a
//! catalogue that fails), on the memory and the SQLite stores.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use chrono::{TimeDelta, TimeZone, Utc};
use marketsync::engine::{DropReason, ReconcileOutcome};
use marketsync::lifecycle::Event;
use marketsync::testing::MemoryChannel;
use marketsync::{
    Actor, Catalog, CatalogError, CatalogPage, ChannelKind, ChannelListing, ChannelListingId,
    ChannelListingState, CredentialKey, Credentials, Currency, Engine, EngineError, Feature,
    IntegrationId, IntegrationSettings, InventoryItem, Label, ManualClock, MemoryCatalog,
    MemoryNotifier, MemoryStore, Money, Operation, Sku, SqliteStore, Store,
};

fn sku(s: &str) -> Sku {
    Sku::new(s).unwrap()
}

fn lid(s: &str) -> ChannelListingId {
    ChannelListingId::new(s).unwrap()
}

fn seller() -> Actor {
    Actor::User("ana".into())
}

fn label() -> Label {
    Label::new("reverb-feed").unwrap()
}

/// The host's catalogue, which can be made to fail (a database outage on the host's side).
#[derive(Debug, Default)]
struct HostCatalog {
    items: MemoryCatalog,
    down: AtomicBool,
}

type Fut<'a, T> = Pin<Box<dyn Future<Output = Result<T, CatalogError>> + Send + 'a>>;

impl Catalog for HostCatalog {
    fn items_with_label<'a, 'b, 'c, 't>(
        &'a self,
        label: &'b Label,
        page: Option<&'c str>,
        page_size: usize,
    ) -> Fut<'t, CatalogPage>
    where
        'a: 't,
        'b: 't,
        'c: 't,
        Self: 't,
    {
        Box::pin(async move {
            if self.down.load(Ordering::SeqCst) {
                return Err(CatalogError {
                    message: "the inventory database is unreachable".into(),
                });
            }
            self.items.items_with_label(label, page, page_size).await
        })
    }

    fn items_by_sku<'a, 'b, 't>(&'a self, skus: &'b [Sku]) -> Fut<'t, Vec<InventoryItem>>
    where
        'a: 't,
        'b: 't,
        Self: 't,
    {
        Box::pin(async move {
            if self.down.load(Ordering::SeqCst) {
                return Err(CatalogError {
                    message: "the inventory database is unreachable".into(),
                });
            }
            self.items.items_by_sku(skus).await
        })
    }
}

struct World {
    engine: Engine,
    catalog: Arc<HostCatalog>,
    channel: MemoryChannel,
    clock: Arc<ManualClock>,
    id: IntegrationId,
}

impl World {
    /// A labelled (`true`) or unlabelled item, and its live listing `L-<sku>` on the channel.
    fn listed(&self, s: &str, labelled: bool) {
        self.catalog.items.upsert(item(s, labelled));
        self.channel.add_listing(ChannelListing {
            id: lid(&format!("L-{s}")),
            sku: Some(sku(s)),
            title: Some(format!("Item {s}")),
            price: Some(Money::parse("5.00", "USD").unwrap()),
            quantity: Some(1),
            state: ChannelListingState::Live,
            raw_state: "live".into(),
        });
    }

    fn state(&self, s: &str) -> ChannelListingState {
        self.channel.listing(&lid(&format!("L-{s}"))).unwrap().state
    }

    fn ended(&self) -> Vec<String> {
        self.channel
            .listings()
            .into_iter()
            .filter(|l| l.state == ChannelListingState::Ended)
            .map(|l| l.id.as_str().to_owned())
            .collect()
    }

    async fn set_label(&self, l: &str) {
        self.engine
            .apply(
                self.id,
                seller(),
                Event::SetLabel {
                    label: Some(Label::new(l).unwrap()),
                    support_override: None,
                },
            )
            .await
            .unwrap();
    }

    async fn settings(&self, edit: impl FnOnce(&mut IntegrationSettings)) {
        let mut s = self.engine.integration(self.id).await.unwrap().settings;
        edit(&mut s);
        self.engine
            .set_settings(self.id, s, seller())
            .await
            .unwrap();
    }
}

fn item(s: &str, labelled: bool) -> InventoryItem {
    InventoryItem {
        stock_version: None,
        sku: sku(s),
        title: format!("Item {s}"),
        price: Money::parse("5.00", "USD").unwrap(),
        quantity: 1,
        labels: if labelled {
            [label()].into_iter().collect()
        } else {
            Default::default()
        },
    }
}

/// An integration on a MemoryChannel in Testing, labelled, listings and the reconciler on.
async fn world(store: Arc<dyn Store>) -> World {
    let clock = Arc::new(ManualClock::new(
        Utc.with_ymd_and_hms(2026, 11, 1, 9, 0, 0).unwrap(),
    ));
    let catalog = Arc::new(HostCatalog::default());
    let channel = MemoryChannel::new(ChannelKind::Reverb).with_clock(clock.clone());
    let engine = Engine::new(
        store,
        catalog.clone(),
        Arc::new(MemoryNotifier::new()),
        clock.clone(),
    )
    .with_credential_key(CredentialKey::new("test-key", [42; 32]));
    let id = engine
        .create_integration(
            "reconcile safety",
            Arc::new(channel.clone()),
            IntegrationSettings::new(ChannelKind::Reverb, Currency::USD),
            seller(),
        )
        .await
        .unwrap();
    engine
        .enter_credentials(id, &Credentials::api_token("tok-secret"), seller())
        .await
        .unwrap();
    engine.verify(id, seller()).await.unwrap();
    let on = |feature| Event::SetFeature {
        feature,
        on: true,
        support_override: None,
    };
    for event in [
        Event::SetLabel {
            label: Some(label()),
            support_override: None,
        },
        Event::Activate,
        on(Feature::Listings),
        on(Feature::Reconciler),
    ] {
        engine.apply(id, seller(), event).await.unwrap();
    }
    World {
        engine,
        catalog,
        channel,
        clock,
        id,
    }
}

async fn stores() -> Vec<(&'static str, Arc<dyn Store>)> {
    vec![
        ("memory", Arc::new(MemoryStore::new()) as Arc<dyn Store>),
        (
            "sqlite",
            Arc::new(SqliteStore::open_in_memory().await.unwrap()) as Arc<dyn Store>,
        ),
    ]
}

/// Three listings on the label and one off it: the plan ends `L-OFF` (a quarter of the shop).
async fn shop(w: &World) {
    for s in ["A", "B", "C"] {
        w.listed(s, true);
    }
    w.listed("OFF", false);
}

/// The seller labels an item after the plan was made: confirming the plan leaves its listing
/// alone and reports why it was dropped from the plan.
#[tokio::test]
async fn confirm_never_ends_a_listing_whose_item_was_labelled_since() {
    for (name, store) in stores().await {
        let w = world(store).await;
        shop(&w).await;
        let plan = w.engine.plan_reconcile(w.id).await.unwrap();
        assert_eq!(plan.listings.len(), 1, "{name}: {plan:?}");
        w.catalog.items.upsert(item("OFF", true));
        let report = w
            .engine
            .confirm_reconcile(w.id, &plan, seller())
            .await
            .unwrap();
        assert!(report.ended.is_empty(), "{name}: {report:?}");
        assert_eq!(w.state("OFF"), ChannelListingState::Live, "{name}");
        assert_eq!(report.dropped.len(), 1, "{name}: {report:?}");
        assert_eq!(report.dropped[0].listing_id, lid("L-OFF"), "{name}");
        assert_eq!(report.dropped[0].reason, DropReason::NowLabelled, "{name}");
        assert_eq!(w.channel.calls(Operation::EndListings), 0, "{name}");
    }
}

/// A listing gone from the channel (or ended outside) since the plan is dropped from it, with
/// the reason, and not ended again.
#[tokio::test]
async fn confirm_drops_listings_no_longer_on_the_channel() {
    let w = world(Arc::new(MemoryStore::new())).await;
    shop(&w).await;
    w.listed("OFF2", false);
    w.listed("D", true);
    let plan = w.engine.plan_reconcile(w.id).await.unwrap();
    assert_eq!(plan.listings.len(), 2, "{plan:?}");
    w.channel.delete_listing_outside(&lid("L-OFF2"));
    let report = w
        .engine
        .confirm_reconcile(w.id, &plan, seller())
        .await
        .unwrap();
    assert_eq!(report.ended, [lid("L-OFF")], "{report:?}");
    assert_eq!(report.dropped.len(), 1, "{report:?}");
    assert_eq!(report.dropped[0].listing_id, lid("L-OFF2"));
    assert_eq!(report.dropped[0].reason, DropReason::NotOnChannel);
}

/// A plan confirmed after it expired (24 hours by default, by the engine's clock) ends nothing:
/// the error says so and a new dry run is needed. The expiry is a setting.
#[tokio::test]
async fn a_plan_expires() {
    for (name, store) in stores().await {
        let w = world(store).await;
        shop(&w).await;
        let plan = w.engine.plan_reconcile(w.id).await.unwrap();
        w.clock.advance(TimeDelta::hours(25));
        let err = w
            .engine
            .confirm_reconcile(w.id, &plan, seller())
            .await
            .unwrap_err();
        let EngineError::ReconcilePlanExpired {
            made_at,
            expired_at,
        } = &err
        else {
            panic!("{name}: expected ReconcilePlanExpired, got {err:?}")
        };
        assert_eq!(*made_at, plan.made_at, "{name}");
        assert_eq!(*expired_at, plan.made_at + TimeDelta::hours(24), "{name}");
        assert!(err.to_string().contains("dry run"), "{name}: {err}");
        assert!(w.ended().is_empty(), "{name}");
        assert_eq!(w.channel.calls(Operation::EndListings), 0, "{name}");

        // A fresh plan is carried out; a longer expiry keeps an older plan valid.
        let plan = w.engine.plan_reconcile(w.id).await.unwrap();
        w.settings(|s| s.reconcile_plan_expiry = std::time::Duration::from_secs(48 * 3600))
            .await;
        w.clock.advance(TimeDelta::hours(30));
        let report = w
            .engine
            .confirm_reconcile(w.id, &plan, seller())
            .await
            .unwrap();
        assert_eq!(report.ended, [lid("L-OFF")], "{name}: {report:?}");
    }
}

/// The integration's label changes after the plan: the plan is re-armed (a new dry run is
/// required) and nothing is ended, even when the label is changed back; the scheduled
/// reconcile goes back to waiting for a confirmed dry run.
#[tokio::test]
async fn a_label_change_after_the_plan_rearms_it() {
    for (name, store) in stores().await {
        let w = world(store).await;
        shop(&w).await;
        // Confirmed once: the scheduled reconcile carries out its plans.
        let first = w.engine.plan_reconcile(w.id).await.unwrap();
        w.engine
            .confirm_reconcile(w.id, &first, seller())
            .await
            .unwrap();
        w.listed("OFF2", false);
        let plan = w.engine.plan_reconcile(w.id).await.unwrap();
        assert_eq!(plan.listings.len(), 1, "{name}: {plan:?}");
        w.clock.advance(TimeDelta::minutes(5));
        w.set_label("other-feed").await;
        w.clock.advance(TimeDelta::minutes(5));
        w.set_label("reverb-feed").await;
        let err = w
            .engine
            .confirm_reconcile(w.id, &plan, seller())
            .await
            .unwrap_err();
        assert!(
            matches!(err, EngineError::ReconcilePlanRearmed { .. }),
            "{name}: {err:?}"
        );
        assert!(err.to_string().contains("dry run"), "{name}: {err}");
        assert_eq!(w.state("OFF2"), ChannelListingState::Live, "{name}");
        // The scheduled path: a dry run again, nothing ended until it is confirmed.
        let ReconcileOutcome::AwaitingConfirmation(again) =
            w.engine.run_reconcile(w.id).await.unwrap()
        else {
            panic!("{name}: a label change must re-arm the scheduled reconcile")
        };
        assert_eq!(w.state("OFF2"), ChannelListingState::Live, "{name}");
        let report = w
            .engine
            .confirm_reconcile(w.id, &again, seller())
            .await
            .unwrap();
        assert_eq!(report.ended, [lid("L-OFF2")], "{name}: {report:?}");
    }
}

/// The catalogue answers with nothing (a host bug, an empty page): the scheduled reconcile does
/// not delist the shop, and says what was wrong.
#[tokio::test]
async fn an_empty_catalogue_answer_never_delists_the_shop() {
    for (name, store) in stores().await {
        let w = world(store).await;
        shop(&w).await;
        let first = w.engine.plan_reconcile(w.id).await.unwrap();
        w.engine
            .confirm_reconcile(w.id, &first, seller())
            .await
            .unwrap();
        for s in ["A", "B", "C"] {
            w.catalog.items.remove(&sku(s));
        }
        let err = w.engine.run_reconcile(w.id).await.unwrap_err();
        let EngineError::ReconcileTooLarge {
            to_end,
            listings,
            max_percent,
        } = &err
        else {
            panic!("{name}: expected ReconcileTooLarge, got {err:?}")
        };
        assert_eq!((*to_end, *listings, *max_percent), (3, 3, 50), "{name}");
        assert!(err.to_string().contains("3 of"), "{name}: {err}");
        assert!(
            w.ended().len() == 1,
            "{name}: only L-OFF, from the first plan"
        );
    }
}

/// The catalogue fails: nothing is ended, by the scheduled run or by a confirmation.
#[tokio::test]
async fn a_failing_catalogue_ends_nothing() {
    let w = world(Arc::new(MemoryStore::new())).await;
    shop(&w).await;
    let plan = w.engine.plan_reconcile(w.id).await.unwrap();
    w.catalog.down.store(true, Ordering::SeqCst);
    let err = w
        .engine
        .confirm_reconcile(w.id, &plan, seller())
        .await
        .unwrap_err();
    assert!(matches!(err, EngineError::Catalog(_)), "{err:?}");
    assert!(w.engine.run_reconcile(w.id).await.is_err());
    assert!(w.ended().is_empty());
    assert_eq!(w.channel.calls(Operation::EndListings), 0);
}

/// A plan that ends more than the share one run may end (50% by default) is refused with a
/// typed error; the seller's explicit confirmation of the large plan carries it out; the share
/// is a setting.
#[tokio::test]
async fn ending_more_than_the_share_needs_a_new_explicit_confirmation() {
    for (name, store) in stores().await {
        let w = world(store).await;
        w.listed("KEEP", true);
        for s in ["X", "Y", "Z"] {
            w.listed(s, false);
        }
        let plan = w.engine.plan_reconcile(w.id).await.unwrap();
        assert_eq!(plan.listings.len(), 3, "{name}");
        let err = w
            .engine
            .confirm_reconcile(w.id, &plan, seller())
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                EngineError::ReconcileTooLarge {
                    to_end: 3,
                    listings: 4,
                    max_percent: 50
                }
            ),
            "{name}: {err:?}"
        );
        assert!(w.ended().is_empty(), "{name}");
        // Refused, so not confirmed: the scheduled run still only plans.
        assert!(
            matches!(
                w.engine.run_reconcile(w.id).await.unwrap(),
                ReconcileOutcome::AwaitingConfirmation(_)
            ),
            "{name}"
        );
        assert!(w.ended().is_empty(), "{name}");
        // The seller confirms the large plan explicitly.
        let report = w
            .engine
            .confirm_large_reconcile(w.id, &plan, seller())
            .await
            .unwrap();
        assert_eq!(report.ended.len(), 3, "{name}: {report:?}");
        assert_eq!(w.state("KEEP"), ChannelListingState::Live, "{name}");
    }
    // A higher share in the settings lets the ordinary confirmation through.
    let w = world(Arc::new(MemoryStore::new())).await;
    w.listed("KEEP", true);
    w.listed("X", false);
    w.listed("Y", false);
    w.settings(|s| s.reconcile_max_end_percent = 70).await;
    let plan = w.engine.plan_reconcile(w.id).await.unwrap();
    let report = w
        .engine
        .confirm_reconcile(w.id, &plan, seller())
        .await
        .unwrap();
    assert_eq!(report.ended.len(), 2, "{report:?}");
}

/// The explicit confirmation of a large plan is a person's: the scheduler (the system) cannot
/// give it.
#[tokio::test]
async fn the_system_cannot_confirm_a_large_plan() {
    let w = world(Arc::new(MemoryStore::new())).await;
    w.listed("X", false);
    let plan = w.engine.plan_reconcile(w.id).await.unwrap();
    let err = w
        .engine
        .confirm_large_reconcile(w.id, &plan, Actor::System)
        .await
        .unwrap_err();
    assert!(
        matches!(err, EngineError::ReconcileTooLarge { .. }),
        "{err:?}"
    );
    assert!(w.ended().is_empty());
}
