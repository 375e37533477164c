//! Issue 17, item 6: a listing is published once even when the channel created it and its answer
//! was lost (a timeout, a dropped connection, a crash). The engine records the intent before the
//! call and, on the next publish, looks the listing up by SKU before creating it again.
//!
//! Through the facade, as a host program: MemoryChannel with an injected "applied, then failed"
//! fault, and the real Reverb adapter against its sandbox with `Fault::DropAfterApplying`, on the
//! memory and the SQLite stores.

use std::sync::Arc;

use chrono::{TimeZone, Utc};
use marketsync::lifecycle::Event;
use marketsync::testing::FailureRule;
use marketsync::testing::MemoryChannel;
use marketsync::{
    Actor, ChannelKind, CredentialKey, Credentials, Currency, Engine, ErrorKind, Feature,
    IntegrationId, IntegrationSettings, InventoryItem, Label, ListingStatus, ManualClock,
    MemoryCatalog, MemoryNotifier, MemoryStore, Money, Operation, Sku, SqliteStore, Store,
};
use marketsync_sandbox::{Fault, ReverbHarness};
use marketsync_testkit::channel::Rig;

fn sku(s: &str) -> Sku {
    Sku::new(s).unwrap()
}

fn seller() -> Actor {
    Actor::User("ana".into())
}

fn label() -> Label {
    Label::new("reverb-feed").unwrap()
}

struct World {
    engine: Engine,
    catalog: Arc<MemoryCatalog>,
    channel: MemoryChannel,
    store: Arc<dyn Store>,
    id: IntegrationId,
}

/// An integration on a MemoryChannel, in Testing, labelled, with listings on.
async fn world(store: Arc<dyn Store>) -> World {
    let clock = Arc::new(ManualClock::new(
        Utc.with_ymd_and_hms(2026, 11, 1, 9, 0, 0).unwrap(),
    ));
    let catalog = Arc::new(MemoryCatalog::new());
    let channel = MemoryChannel::new(ChannelKind::Reverb).with_clock(clock.clone());
    let engine = Engine::new(
        store.clone(),
        catalog.clone(),
        Arc::new(MemoryNotifier::new()),
        clock,
    )
    .with_credential_key(CredentialKey::new("test-key", [42; 32]));
    let id = engine
        .create_integration(
            "publish once",
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
    for event in [
        Event::SetLabel {
            label: Some(label()),
            support_override: None,
        },
        Event::Activate,
        Event::SetFeature {
            feature: Feature::Listings,
            on: true,
            support_override: None,
        },
    ] {
        engine.apply(id, seller(), event).await.unwrap();
    }
    World {
        engine,
        catalog,
        channel,
        store,
        id,
    }
}

fn item(s: &str) -> InventoryItem {
    InventoryItem {
        stock_version: None,
        sku: sku(s),
        title: format!("Item {s}"),
        price: Money::parse("10.00", "USD").unwrap(),
        quantity: 3,
        labels: [label()].into_iter().collect(),
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

/// The channel creates the listing but its answer is lost; the retry links that listing
/// instead of offering the same stock a second time.
#[tokio::test]
async fn a_lost_answer_is_linked_on_retry_not_published_twice() {
    for (name, store) in stores().await {
        let w = world(store).await;
        w.catalog.upsert(item("GUITAR"));
        w.channel.add_failure(FailureRule {
            operation: Operation::PublishListings,
            on_call: Some(1),
            times: 1,
            kind: ErrorKind::Transient,
            after_applying: true,
        });
        let first = w.engine.publish_listings(w.id, true).await.unwrap();
        assert!(first.published.is_empty(), "{name}: {first:?}");
        assert_eq!(first.failed.len(), 1, "{name}: {first:?}");
        let created = w.channel.listings();
        assert_eq!(created.len(), 1, "{name}: the channel did create it");

        let retry = w.engine.publish_listings(w.id, true).await.unwrap();
        assert!(retry.failed.is_empty(), "{name}: {retry:?}");
        assert_eq!(
            retry.linked,
            [(sku("GUITAR"), created[0].id.clone())],
            "{name}: found at the channel and linked"
        );
        let same_sku: Vec<_> = w
            .channel
            .listings()
            .into_iter()
            .filter(|l| l.sku == Some(sku("GUITAR")))
            .collect();
        assert_eq!(same_sku.len(), 1, "{name}: one listing for the SKU");
        assert_eq!(
            w.channel.calls(Operation::PublishListings),
            1,
            "{name}: no second create"
        );
        let stored = w.store.listings(w.id).await.unwrap();
        assert_eq!(stored.len(), 1, "{name}");
        assert_eq!(stored[0].status, ListingStatus::Linked, "{name}");
        assert_eq!(
            stored[0].channel_listing_id.as_ref(),
            Some(&created[0].id),
            "{name}"
        );
        // Linked: the next sync sends its content, a later publish leaves it alone.
        let again = w.engine.publish_listings(w.id, true).await.unwrap();
        assert!(
            again.published.is_empty() && again.linked.is_empty(),
            "{name}: {again:?}"
        );
        let sync = w.engine.sync_listings(w.id).await.unwrap();
        assert_eq!(sync.sent, [sku("GUITAR")], "{name}: {sync:?}");
    }
}

/// The answer was lost but the channel did not create the listing (it failed before): the
/// retry looks it up, finds nothing and creates it, once.
#[tokio::test]
async fn an_intent_whose_create_never_happened_is_created_on_retry() {
    for (name, store) in stores().await {
        let w = world(store).await;
        w.catalog.upsert(item("AMP"));
        w.channel
            .fail_next(Operation::PublishListings, 1, ErrorKind::Transient);
        let first = w.engine.publish_listings(w.id, false).await.unwrap();
        assert_eq!(first.failed.len(), 1, "{name}: {first:?}");
        assert!(w.channel.listings().is_empty(), "{name}");
        let lookups = w.channel.calls(Operation::ListListings);
        let retry = w.engine.publish_listings(w.id, false).await.unwrap();
        assert_eq!(retry.published.len(), 1, "{name}: {retry:?}");
        assert!(retry.linked.is_empty(), "{name}: {retry:?}");
        assert_eq!(
            w.channel.calls(Operation::ListListings),
            lookups + 1,
            "{name}: looked up by SKU before creating"
        );
        assert_eq!(w.channel.listings().len(), 1, "{name}");
    }
}

/// A publish the channel refused (it said no) leaves no intent behind: the record is as before,
/// the next publish creates without a lookup, and linking is not blocked.
#[tokio::test]
async fn a_clean_refusal_leaves_no_stale_intent() {
    for (name, store) in stores().await {
        let w = world(store).await;
        w.catalog.upsert(item("PEDAL"));
        w.channel
            .fail_next(Operation::PublishListings, 1, ErrorKind::Invalid);
        let first = w.engine.publish_listings(w.id, true).await.unwrap();
        assert_eq!(first.failed.len(), 1, "{name}: {first:?}");
        let stored = w.store.listings(w.id).await.unwrap();
        assert!(
            stored.iter().all(|l| l.status != ListingStatus::Publishing),
            "{name}: {stored:?}"
        );
        let lookups = w.channel.calls(Operation::ListListings);
        let retry = w.engine.publish_listings(w.id, true).await.unwrap();
        assert_eq!(retry.published.len(), 1, "{name}: {retry:?}");
        assert_eq!(
            w.channel.calls(Operation::ListListings),
            lookups,
            "{name}: nothing to look up after a clean refusal"
        );
    }
}

/// A channel that creates one listing per call may have created the first items of a batch
/// before a 429 (or a lapsed login) stops the rest, and answers one error for the whole batch:
/// nothing of that batch may be created again without looking it up first.
#[tokio::test]
async fn a_batch_stopped_by_a_rate_limit_is_looked_up_not_created_again() {
    for (name, store) in stores().await {
        let w = world(store).await;
        w.catalog.upsert(item("AMP"));
        w.catalog.upsert(item("CAB"));
        w.channel.add_failure(FailureRule {
            operation: Operation::PublishListings,
            on_call: Some(1),
            times: 1,
            kind: ErrorKind::RateLimited,
            after_applying: true,
        });
        let first = w.engine.publish_listings(w.id, true).await.unwrap();
        assert_eq!(first.failed.len(), 2, "{name}: {first:?}");
        let retry = w.engine.publish_listings(w.id, true).await.unwrap();
        assert!(retry.published.is_empty(), "{name}: {retry:?}");
        assert_eq!(retry.linked.len(), 2, "{name}: {retry:?}");
        assert_eq!(
            w.channel.listings().len(),
            2,
            "{name}: one listing per SKU at the channel"
        );
    }
}

/// A recorded intent does not stop linking: `link_listings` links the listing the lost create
/// made, as it would an unlinked item's.
#[tokio::test]
async fn link_listings_links_an_item_with_a_recorded_intent() {
    let w = world(Arc::new(MemoryStore::new())).await;
    w.catalog.upsert(item("DRUM"));
    w.channel.add_failure(FailureRule {
        operation: Operation::PublishListings,
        on_call: Some(1),
        times: 1,
        kind: ErrorKind::Transient,
        after_applying: true,
    });
    w.engine.publish_listings(w.id, true).await.unwrap();
    let link = w.engine.link_listings(w.id).await.unwrap();
    assert_eq!(link.linked.len(), 1, "{link:?}");
    assert!(link.duplicates.is_empty(), "{link:?}");
    let stored = w.store.listings(w.id).await.unwrap();
    assert_eq!(stored[0].status, ListingStatus::Linked);
}

/// The real Reverb adapter against its sandbox, on SQLite: the sandbox creates the listing and
/// drops the connection before answering. After the retry Reverb has exactly one listing for the
/// SKU, and it is the one linked.
#[tokio::test]
async fn reverb_sandbox_lost_create_answer_is_linked_once() {
    let harness = ReverbHarness::start().await.unwrap();
    let dir = std::env::temp_dir().join(format!("publish-once-{}.db", uuid::Uuid::new_v4()));
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&dir).await.unwrap());
    let rig = Rig::new(&harness, store.clone()).await;
    rig.item("REVERB-ONCE", "250.00", 2);
    harness
        .sandbox()
        .inject_for(&["listings.create"], Fault::DropAfterApplying);
    let first = rig.engine.publish_listings(rig.id, false).await.unwrap();
    assert!(first.published.is_empty(), "{first:?}");
    assert_eq!(first.failed.len(), 1, "{first:?}");
    let sandbox = harness.sandbox();
    let with_sku = || -> Vec<u64> {
        sandbox
            .listing_ids()
            .into_iter()
            .filter(|id| {
                sandbox
                    .listing(*id)
                    .is_some_and(|l| l["sku"].as_str() == Some("REVERB-ONCE"))
            })
            .collect()
    };
    assert_eq!(with_sku().len(), 1, "the sandbox applied the create");

    let retry = rig.engine.publish_listings(rig.id, false).await.unwrap();
    assert!(retry.failed.is_empty(), "{retry:?}");
    let ids = with_sku();
    assert_eq!(
        ids.len(),
        1,
        "exactly one Reverb listing for the SKU: {ids:?}"
    );
    assert_eq!(retry.linked.len(), 1, "{retry:?}");
    assert_eq!(retry.linked[0].1.as_str(), ids[0].to_string());
    let creates = sandbox
        .listing_writes()
        .iter()
        .filter(|w| w.operation == "create")
        .count();
    assert_eq!(creates, 1, "one create reached Reverb");
    let stored = store.listings(rig.id).await.unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].status, ListingStatus::Linked);
    assert_eq!(
        stored[0].channel_listing_id.as_ref().map(|c| c.as_str()),
        Some(ids[0].to_string().as_str())
    );
    drop(rig);
    let _ = std::fs::remove_file(&dir);
}
