//! One test per rule of the seeds (DESIGN §5–§8), named after the rule, on MemoryChannel +
//! MemoryStore.

mod common;

use std::sync::Arc;

use common::*;
use marketsync_core::engine::ReconcileOutcome;
use marketsync_core::lifecycle::Event;
use marketsync_core::mapping::{ShippingMapping, ShippingService, SkuMapping};
use marketsync_core::store::{OutboxState, SightingOutcome};
use marketsync_core::{
    AdjustmentReason, Blocked, BrokenReason, Cancellation, Capabilities, ChannelKind,
    CredentialKey, Credentials, Currency, CurrencySource, Engine, EngineError, ErrorKind, Feature,
    IdempotencyKey, LedgerFilter, ListingStatus, Management, MemoryChannel, MemoryStore,
    MissingMapping, NotImportedReason, Notification, Operation, OrderOutcome, OrderState,
    OrderStatus, Refund, Shipment, Store, VaultError,
};

fn ship_now(w: &World) -> Shipment {
    Shipment {
        carrier: Some("UPS".into()),
        method: Some("Ground".into()),
        tracking_number: Some("1Z999".into()),
        shipped_at: w.clock.now_utc(),
        lines: vec![],
        delivery: Default::default(),
    }
}

trait NowUtc {
    fn now_utc(&self) -> chrono::DateTime<chrono::Utc>;
}

impl NowUtc for marketsync_core::ManualClock {
    fn now_utc(&self) -> chrono::DateTime<chrono::Utc> {
        use marketsync_core::Clock;
        self.now()
    }
}

fn service(name: &str) -> ShippingService {
    ShippingService {
        name: name.into(),
        carrier: Some("UPS".into()),
        class: Some("Ground".into()),
    }
}

async fn map_shipping(w: &World, text: &str) {
    let m = ShippingMapping::new(text, service(&format!("svc:{text}")), w.clock.now_utc()).unwrap();
    w.engine
        .edit_mappings(w.id, marketsync_core::Actor::User("seller".into()), |set| {
            set.insert_shipping(m.clone());
        })
        .await
        .unwrap();
}

async fn map_sku(w: &World, from: &str, to: &str) {
    let m = SkuMapping {
        channel_sku: sku(from),
        inventory_sku: sku(to),
        created_at: w.clock.now_utc(),
    };
    w.engine
        .edit_mappings(w.id, marketsync_core::Actor::User("seller".into()), |set| {
            set.insert_sku(m.clone());
        })
        .await
        .unwrap();
}

fn ca_caps() -> Capabilities {
    Capabilities {
        listings_publish: false,
        shipping_mappings_required: true,
        ..Capabilities::all()
    }
}

// ----- listings -----

#[tokio::test]
async fn publish_is_unsupported_where_the_listing_must_exist_and_be_linked() {
    let w = world_with(ChannelKind::ChannelAdvisor, ca_caps(), &[Feature::Listings]).await;
    w.catalog.upsert(item("A", "5", 1, true));
    let err = w.engine.publish_listings(w.id, true).await.unwrap_err();
    let EngineError::Unsupported { operation, rule } = &err else {
        panic!("expected Unsupported, got {err:?}")
    };
    assert_eq!(*operation, Operation::PublishListings);
    assert!(
        rule.contains("must already exist") && rule.contains("linked"),
        "{rule}"
    );
    assert_eq!(
        w.channel.calls(Operation::PublishListings),
        0,
        "decided without a call"
    );
}

#[tokio::test]
async fn publish_creates_drafts_for_labelled_items_without_listing() {
    let w = world().await;
    w.catalog.upsert(item("A", "5", 1, true));
    w.catalog.upsert(item("B", "5", 1, false));
    let r = w.engine.publish_listings(w.id, false).await.unwrap();
    assert_eq!(r.published.len(), 1);
    assert_eq!(r.published[0].0, sku("A"));
    let listings = w.store.listings(w.id).await.unwrap();
    assert_eq!(listings.len(), 1);
    assert_eq!(listings[0].status, ListingStatus::Linked);
    // Already linked now: a second publish creates nothing.
    assert!(
        w.engine
            .publish_listings(w.id, false)
            .await
            .unwrap()
            .published
            .is_empty()
    );
}

#[tokio::test]
async fn link_matches_by_sku_after_sku_mapping() {
    let w = world().await;
    w.catalog.upsert(item("A", "5", 1, true));
    w.catalog.upsert(item("INV-B", "5", 1, true));
    w.catalog.upsert(item("C", "5", 1, true));
    w.catalog.upsert(item("D", "5", 1, false));
    w.channel.add_listing(channel_listing("L-A", "A"));
    w.channel.add_listing(channel_listing("L-B", "CH-B"));
    w.channel.add_listing(channel_listing("L-D", "D"));
    w.channel.add_listing(channel_listing("L-X", "X"));
    map_sku(&w, "CH-B", "INV-B").await;
    let r = w.engine.link_listings(w.id).await.unwrap();
    let linked: Vec<_> = r
        .linked
        .iter()
        .map(|(s, l)| (s.as_str(), l.as_str()))
        .collect();
    assert_eq!(linked, [("A", "L-A"), ("INV-B", "L-B")]);
    let without_item: Vec<_> = r
        .channel_listings_without_item
        .iter()
        .map(|(l, _)| l.as_str())
        .collect();
    assert_eq!(
        without_item,
        ["L-D", "L-X"],
        "D is not labelled, X is unknown"
    );
    assert_eq!(r.items_without_listing, [sku("C")]);
    let again = w.engine.link_listings(w.id).await.unwrap();
    assert!(again.linked.is_empty());
    assert_eq!(again.already_linked, 2);
}

async fn linked_world(n: usize, max_batch: u32) -> World {
    let w = world_with(
        ChannelKind::Reverb,
        Capabilities {
            listings_update_max_batch: max_batch,
            ..reverb_caps()
        },
        &[Feature::Listings, Feature::Orders],
    )
    .await;
    for i in 0..n {
        w.catalog.upsert(item(&format!("S{i}"), "10.00", 3, true));
        w.channel
            .add_listing(channel_listing(&format!("L{i}"), &format!("S{i}")));
    }
    w.engine.link_listings(w.id).await.unwrap();
    w
}

#[tokio::test]
async fn sync_sends_only_what_changed_since_the_last_successful_send() {
    let w = linked_world(3, 100).await;
    let first = w.engine.sync_listings(w.id).await.unwrap();
    assert_eq!(first.sent.len(), 3);
    assert_eq!(w.channel.listing(&lid("L0")).unwrap().quantity, Some(3));
    let calls = w.channel.calls(Operation::UpdateListings);
    let second = w.engine.sync_listings(w.id).await.unwrap();
    assert!(second.sent.is_empty());
    assert_eq!(second.unchanged, 3);
    assert_eq!(
        w.channel.calls(Operation::UpdateListings),
        calls,
        "nothing sent"
    );
    w.catalog.update(&sku("S1"), |i| i.quantity = 0);
    let third = w.engine.sync_listings(w.id).await.unwrap();
    assert_eq!(third.sent, [sku("S1")]);
    assert_eq!(w.channel.listing(&lid("L1")).unwrap().quantity, Some(0));
}

#[tokio::test]
async fn sync_batches_to_the_channels_maximum() {
    let w = linked_world(5, 2).await;
    let r = w.engine.sync_listings(w.id).await.unwrap();
    assert_eq!(r.sent.len(), 5);
    assert_eq!(w.channel.calls(Operation::UpdateListings), 3, "2 + 2 + 1");
}

#[tokio::test]
async fn one_listing_failure_does_not_stop_the_others() {
    let w = linked_world(3, 100).await;
    // The channel refuses S1's price (another currency than the listing's).
    w.catalog.update(&sku("S1"), |i| {
        i.price = marketsync_core::Money::parse("10", "EUR").unwrap()
    });
    let r = w.engine.sync_listings(w.id).await.unwrap();
    assert_eq!(r.sent, [sku("S0"), sku("S2")]);
    assert_eq!(r.failed.len(), 1);
    assert_eq!(r.failed[0].sku, sku("S1"));
    assert_eq!(r.failed[0].kind, ErrorKind::Invalid);
    // Not marked sent: it is retried on the next sync.
    w.catalog.update(&sku("S1"), |i| i.price = usd("11.00"));
    assert_eq!(
        w.engine.sync_listings(w.id).await.unwrap().sent,
        [sku("S1")]
    );
}

#[tokio::test]
async fn a_deleted_channel_product_becomes_a_broken_link_and_is_not_relinked() {
    let w = linked_world(2, 100).await;
    w.engine.sync_listings(w.id).await.unwrap();
    w.channel.delete_listing_outside(&lid("L0"));
    // The seller even recreates it at the channel: still not relinked automatically.
    let r = w.engine.sync_listings(w.id).await.unwrap();
    assert_eq!(r.broken, [sku("S0")]);
    w.channel.add_listing(channel_listing("L0-new", "S0"));
    let link = w.engine.link_listings(w.id).await.unwrap();
    assert_eq!(link.broken_not_relinked, [sku("S0")]);
    assert!(link.linked.is_empty());
    let s0 =
        |ls: Vec<marketsync_core::Listing>| ls.into_iter().find(|l| l.sku == sku("S0")).unwrap();
    assert_eq!(
        s0(w.store.listings(w.id).await.unwrap()).status,
        ListingStatus::BrokenLink
    );
    // Broken links are not synced.
    w.catalog.update(&sku("S0"), |i| i.quantity = 9);
    assert!(w.engine.sync_listings(w.id).await.unwrap().sent.is_empty());
    // Explicit unlink + relink repairs it.
    w.engine.unlink(w.id, &sku("S0")).await.unwrap();
    let link = w.engine.link_listings(w.id).await.unwrap();
    assert_eq!(link.linked, [(sku("S0"), lid("L0-new"))]);
    assert_eq!(
        w.engine.sync_listings(w.id).await.unwrap().sent,
        [sku("S0")]
    );
}

async fn write_checked_world(n: usize) -> World {
    let w = world_with(
        ChannelKind::Reverb,
        Capabilities {
            listings_update_reports_missing: true,
            listings_update_max_batch: 2,
            ..reverb_caps()
        },
        &[Feature::Listings, Feature::Orders],
    )
    .await;
    for i in 0..n {
        w.catalog.upsert(item(&format!("S{i}"), "10.00", 3, true));
        w.channel
            .add_listing(channel_listing(&format!("L{i}"), &format!("S{i}")));
    }
    w.engine.link_listings(w.id).await.unwrap();
    w
}

#[tokio::test]
async fn where_the_write_reports_missing_listings_only_the_listings_not_sent_are_read_back() {
    let w = write_checked_world(5).await;
    let reads = w.channel.calls(Operation::ListListings);
    let first = w.engine.sync_listings(w.id).await.unwrap();
    assert_eq!(first.sent.len(), 5);
    assert_eq!(
        w.channel.calls(Operation::ListListings),
        reads,
        "every linked listing was sent: the writes checked them, nothing is read back"
    );
    assert_eq!(w.channel.calls(Operation::UpdateListings), 3, "2 + 2 + 1");

    // S0 changes and is deleted at the channel: its write finds the broken link. S1 is deleted
    // too but unchanged: the read-back finds it. S2 is ended at the channel while unchanged.
    w.catalog.update(&sku("S0"), |i| i.quantity = 1);
    w.channel.delete_listing_outside(&lid("L0"));
    w.channel.delete_listing_outside(&lid("L1"));
    let mut ended = channel_listing("L2", "S2");
    ended.state = marketsync_core::ChannelListingState::Ended;
    w.channel.add_listing(ended);
    // S3 changes but was ended at the channel, which refuses the change: the refusal makes
    // it read back, and it is found ended.
    w.catalog.update(&sku("S3"), |i| i.quantity = 2);
    let mut ended = channel_listing("L3", "S3");
    ended.state = marketsync_core::ChannelListingState::Ended;
    w.channel.add_listing(ended);
    let r = w.engine.sync_listings(w.id).await.unwrap();
    assert!(r.sent.is_empty());
    assert!(r.failed.is_empty(), "{:?}", r.failed);
    assert_eq!(r.broken, [sku("S0"), sku("S1")]);
    assert_eq!(r.ended, [sku("S2"), sku("S3")]);
    assert_eq!(r.unchanged, 1, "S4");
    assert!(
        w.channel.calls(Operation::ListListings) > reads,
        "the listings not sent were read back"
    );
    let status = |ls: &[marketsync_core::Listing], s: &str| {
        ls.iter().find(|l| l.sku == sku(s)).unwrap().status
    };
    let stored = w.store.listings(w.id).await.unwrap();
    assert_eq!(status(&stored, "S0"), ListingStatus::BrokenLink);
    assert_eq!(status(&stored, "S1"), ListingStatus::BrokenLink);
    assert_eq!(status(&stored, "S2"), ListingStatus::Ended);
    assert_eq!(status(&stored, "S3"), ListingStatus::Ended);
    assert_eq!(status(&stored, "S4"), ListingStatus::Linked);

    // Next run: only S4 is linked, unchanged, and still there.
    let r = w.engine.sync_listings(w.id).await.unwrap();
    assert_eq!((r.unchanged, r.broken.len(), r.ended.len()), (1, 0, 0));
}

#[tokio::test]
async fn without_write_checks_every_linked_listing_is_read_back_before_any_send() {
    let w = linked_world(3, 100).await;
    w.engine.sync_listings(w.id).await.unwrap();
    // L0 changes but is gone: found by the read-back, so no update is sent for it.
    w.catalog.update(&sku("S0"), |i| i.quantity = 1);
    w.channel.delete_listing_outside(&lid("L0"));
    let mut ended = channel_listing("L1", "S1");
    ended.state = marketsync_core::ChannelListingState::Ended;
    w.channel.add_listing(ended);
    w.catalog.update(&sku("S1"), |i| i.quantity = 1);
    let updates = w.channel.calls(Operation::UpdateListings);
    let r = w.engine.sync_listings(w.id).await.unwrap();
    assert_eq!(r.broken, [sku("S0")]);
    assert_eq!(r.ended, [sku("S1")]);
    assert_eq!(r.unchanged, 1);
    assert!(r.failed.is_empty());
    assert_eq!(
        w.channel.calls(Operation::UpdateListings),
        updates,
        "nothing sent to a broken or ended listing"
    );
}

#[tokio::test]
async fn reconcile_plans_every_listing_then_confirm_ends_exactly_that_plan() {
    let w = world_with(
        ChannelKind::Reverb,
        Capabilities::all(),
        &[Feature::Listings, Feature::Reconciler],
    )
    .await;
    w.catalog.upsert(item("KEEP", "1", 1, true));
    w.catalog.upsert(item("KEEP2", "1", 1, true));
    w.catalog.upsert(item("DROP", "1", 1, false));
    w.channel.add_listing(channel_listing("L-KEEP", "KEEP"));
    // A second listing on the label keeps the plan within the share one run may end (50%).
    w.channel.add_listing(channel_listing("L-KEEP2", "KEEP2"));
    w.channel.add_listing(channel_listing("L-DROP", "DROP"));
    w.channel
        .add_listing(channel_listing("L-OUTSIDE", "NOT-IN-CATALOG"));
    // The first scheduled run after switching on is a dry run.
    let ReconcileOutcome::AwaitingConfirmation(plan) = w.engine.run_reconcile(w.id).await.unwrap()
    else {
        panic!("first run must only plan")
    };
    let planned: Vec<_> = plan
        .listings
        .iter()
        .map(|l| l.listing_id.as_str())
        .collect();
    assert_eq!(planned, ["L-DROP", "L-OUTSIDE"]);
    assert_eq!(w.channel.calls(Operation::EndListings), 0);
    // A listing that appears after the plan is not part of it.
    w.channel.add_listing(channel_listing("L-LATE", "LATE"));
    let r = w
        .engine
        .confirm_reconcile(w.id, &plan, seller())
        .await
        .unwrap();
    assert_eq!(r.ended.len(), 2);
    let state = |id: &str| w.channel.listing(&lid(id)).unwrap().state;
    use marketsync_core::ChannelListingState::*;
    assert_eq!(
        (
            state("L-KEEP"),
            state("L-DROP"),
            state("L-OUTSIDE"),
            state("L-LATE")
        ),
        (Live, Ended, Ended, Live)
    );
    // Confirmed once: later runs carry out their plan.
    assert!(matches!(
        w.engine.run_reconcile(w.id).await.unwrap(),
        ReconcileOutcome::Done(_)
    ));
    assert_eq!(state("L-LATE"), Ended);
}

#[tokio::test]
async fn reconcile_is_refused_while_the_reconciler_is_off() {
    let w = world().await;
    let err = w.engine.plan_reconcile(w.id).await.unwrap_err();
    assert!(matches!(
        err,
        EngineError::Blocked {
            blocked: Blocked::FeatureOff(Feature::Reconciler),
            ..
        }
    ));
}

// ----- orders -----

#[tokio::test]
async fn shipping_mappings_are_required_before_any_call_where_the_channel_says_so() {
    let w = world_with(ChannelKind::ChannelAdvisor, ca_caps(), &[Feature::Orders]).await;
    w.channel.add_order(order("O1", t0(), &["A"], "Ground"));
    let err = w.engine.import_orders(w.id).await.unwrap_err();
    assert!(
        matches!(err, EngineError::ShippingMappingsRequired { .. }),
        "{err}"
    );
    assert_eq!(w.channel.calls(Operation::FetchOrders), 0);
}

#[tokio::test]
async fn orders_with_a_status_not_imported_are_recorded_with_the_status() {
    let w = world().await;
    w.catalog.upsert(item("A", "1", 1, true));
    let mut o = order("O1", t0(), &["A"], "Std");
    o.status = OrderStatus::new(OrderState::Unpaid, "unpaid");
    w.channel.add_order(o);
    let r = w.engine.import_orders(w.id).await.unwrap();
    assert_eq!(
        r.not_imported,
        [(
            oid("O1"),
            NotImportedReason::StatusNotImported {
                state: OrderState::Unpaid,
                raw: "unpaid".into()
            }
        )]
    );
    let e = w
        .store
        .ledger_entry(w.id, &oid("O1"))
        .await
        .unwrap()
        .unwrap();
    assert!(matches!(e.outcome, OrderOutcome::NotImported { .. }));
}

#[tokio::test]
async fn orders_created_before_the_window_are_too_old() {
    let w = world().await;
    w.catalog.upsert(item("A", "1", 1, true));
    w.clock.advance(days(60));
    let old = t0();
    w.channel.add_order(order("OLD", old, &["A"], "Std"));
    let r = w.engine.import_orders(w.id).await.unwrap();
    // The adapter may filter by the window itself; what it still sends is recorded as too old.
    let too_old = r.not_imported.iter().any(|(id, reason)| {
        id == &oid("OLD") && reason == &NotImportedReason::TooOld { created_at: old }
    });
    let filtered = w
        .store
        .ledger_entry(w.id, &oid("OLD"))
        .await
        .unwrap()
        .is_none();
    assert!(too_old || filtered, "{r:?}");
    assert!(r.imported.is_empty());
}

#[tokio::test]
async fn an_unmapped_shipping_text_holds_the_order_until_its_mapping_exists() {
    let w = world_with(ChannelKind::ChannelAdvisor, ca_caps(), &[Feature::Orders]).await;
    w.catalog.upsert(item("A", "1", 1, true));
    map_shipping(&w, "Ground").await;
    w.channel.add_order(order("O1", t0(), &["A"], "Next Day"));
    w.channel.add_order(order("O2", t0(), &["A"], "ground"));
    let r = w.engine.import_orders(w.id).await.unwrap();
    assert!(
        r.imported.is_empty(),
        "exact, case-sensitive: 'ground' is not 'Ground'"
    );
    assert_eq!(r.not_imported.len(), 2);
    let notes = w.notifier.take();
    assert!(
        notes.contains(&Notification::OrdersHeld {
            integration: w.id,
            missing: MissingMapping::Shipping("Next Day".into()),
            orders: 1
        }),
        "{notes:?}"
    );
    // Not acknowledged: ChannelAdvisor keeps offering it.
    assert!(w.channel.acknowledged().is_empty());
    map_shipping(&w, "Next Day").await;
    let r = w.engine.import_orders(w.id).await.unwrap();
    assert_eq!(r.released, [oid("O1")]);
    assert!(w.channel.acknowledged().contains(&oid("O1")));
    let e = w
        .store
        .ledger_entry(w.id, &oid("O1"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(e.outcome, OrderOutcome::Imported);
    assert_eq!(
        e.imported.unwrap().shipping_service.unwrap().name,
        "svc:Next Day"
    );
}

#[tokio::test]
async fn an_unmapped_shipping_text_imports_with_the_channels_text_where_mappings_are_optional() {
    let w = world().await;
    w.catalog.upsert(item("A", "1", 1, true));
    w.channel
        .add_order(order("O1", t0(), &["A"], "Local courier"));
    let r = w.engine.import_orders(w.id).await.unwrap();
    assert_eq!(r.imported, [oid("O1")]);
    assert_eq!(
        r.unmapped_shipping_imported,
        [(oid("O1"), "Local courier".to_owned())]
    );
    let e = w
        .store
        .ledger_entry(w.id, &oid("O1"))
        .await
        .unwrap()
        .unwrap();
    assert!(e.imported.unwrap().shipping_service.is_none());
    assert_eq!(
        e.order.unwrap().shipping_method.as_deref(),
        Some("Local courier")
    );
}

#[tokio::test]
async fn an_unmapped_sku_holds_the_order_until_a_mapping_exists() {
    let w = world().await;
    w.catalog.upsert(item("INV-1", "1", 1, true));
    w.channel.add_order(order("O1", t0(), &["CH-1"], "Std"));
    let r = w.engine.import_orders(w.id).await.unwrap();
    assert_eq!(
        r.not_imported,
        [(
            oid("O1"),
            NotImportedReason::UnmappedSku {
                skus: vec![sku("CH-1")]
            }
        )]
    );
    assert_eq!(
        w.engine
            .held_by_mapping(w.id)
            .await
            .unwrap()
            .get(&MissingMapping::Sku(sku("CH-1"))),
        Some(&1)
    );
    map_sku(&w, "CH-1", "INV-1").await;
    let r = w.engine.import_orders(w.id).await.unwrap();
    assert_eq!(r.released, [oid("O1")]);
    assert!(w.engine.held_by_mapping(w.id).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_sku_mapping_wins_over_the_same_sku_in_the_catalog() {
    let w = world().await;
    w.catalog.upsert(item("A", "1", 1, true));
    w.catalog.upsert(item("B", "1", 1, true));
    map_sku(&w, "A", "B").await;
    w.channel.add_order(order("O1", t0(), &["A"], "Std"));
    w.engine.import_orders(w.id).await.unwrap();
    let e = w
        .store
        .ledger_entry(w.id, &oid("O1"))
        .await
        .unwrap()
        .unwrap();
    let line = &e.imported.unwrap().lines[0];
    assert_eq!(
        line.resolution,
        marketsync_core::SkuResolution::Mapped(sku("B"))
    );
}

#[tokio::test]
async fn an_imported_order_keeps_the_mapping_it_was_imported_with() {
    let w = world().await;
    w.catalog.upsert(item("A", "1", 1, true));
    map_shipping(&w, "Std").await;
    w.channel.add_order(order("O1", t0(), &["A"], "Std"));
    w.engine.import_orders(w.id).await.unwrap();
    w.engine
        .edit_mappings(w.id, marketsync_core::Actor::User("seller".into()), |m| {
            m.insert_shipping(ShippingMapping::new("Std", service("changed"), t0()).unwrap());
        })
        .await
        .unwrap();
    // Seen again after the change: still the old mapping.
    w.channel
        .edit_order_outside(&oid("O1"), |o| o.updated_at = Some(t0()));
    let r = w.engine.import_orders(w.id).await.unwrap();
    assert_eq!(r.already_imported, [oid("O1")]);
    let e = w
        .store
        .ledger_entry(w.id, &oid("O1"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        e.imported.unwrap().shipping_service.unwrap().name,
        "svc:Std"
    );
}

#[tokio::test]
async fn the_default_currency_is_used_where_the_channel_gives_none() {
    let w = world_with(
        ChannelKind::Tradera,
        Capabilities {
            orders_carry_currency: false,
            ..Capabilities::all()
        },
        &[Feature::Orders],
    )
    .await;
    let mut settings = w.engine.integration(w.id).await.unwrap().settings;
    settings.default_currency = Currency::SEK;
    w.engine
        .set_settings(
            w.id,
            settings,
            marketsync_core::Actor::User("seller".into()),
        )
        .await
        .unwrap();
    w.catalog.upsert(item("A", "1", 1, true));
    w.channel.add_order(order("O1", t0(), &["A"], "Std"));
    w.engine.import_orders(w.id).await.unwrap();
    let o = w
        .store
        .ledger_entry(w.id, &oid("O1"))
        .await
        .unwrap()
        .unwrap()
        .order
        .unwrap();
    assert_eq!(o.currency, Currency::SEK);
    assert_eq!(o.currency_source, CurrencySource::IntegrationDefault);
}

#[tokio::test]
async fn with_fulfilments_off_orders_are_third_party_managed_and_nothing_is_sent() {
    let w = world().await;
    w.engine
        .apply(
            w.id,
            seller(),
            Event::SetFeature {
                feature: Feature::Fulfillments,
                on: false,
                support_override: None,
            },
        )
        .await
        .unwrap();
    w.catalog.upsert(item("A", "1", 1, true));
    w.channel.add_order(order("O1", t0(), &["A"], "Std"));
    w.engine.import_orders(w.id).await.unwrap();
    let e = w
        .store
        .ledger_entry(w.id, &oid("O1"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        e.imported.unwrap().management,
        Management::ThirdPartyManaged
    );
    let err = w
        .engine
        .ship(w.id, &oid("O1"), ship_now(&w), None)
        .await
        .unwrap_err();
    assert!(matches!(err, EngineError::ThirdPartyManaged(_)));
    // Even after fulfilments come back on, the order stays third-party-managed.
    w.engine
        .apply(
            w.id,
            seller(),
            Event::SetFeature {
                feature: Feature::Fulfillments,
                on: true,
                support_override: None,
            },
        )
        .await
        .unwrap();
    assert!(
        w.engine
            .ship(w.id, &oid("O1"), ship_now(&w), None)
            .await
            .is_err()
    );
    assert!(w.store.outbox(w.id).await.unwrap().is_empty());
    assert!(w.channel.shipments().is_empty());
}

#[tokio::test]
async fn an_order_is_imported_exactly_once_however_often_it_is_seen() {
    let w = world().await;
    w.catalog.upsert(item("A", "1", 1, true));
    for i in 0..7 {
        w.channel
            .add_order(order(&format!("O{i}"), t0(), &["A"], "Std"));
    }
    let r = w.engine.import_orders(w.id).await.unwrap();
    assert_eq!(r.imported.len(), 7);
    // Edited outside: downloaded again, recorded as already imported.
    w.channel.edit_order_outside(&oid("O3"), |o| {
        o.status = OrderStatus::new(OrderState::Shipped, "shipped")
    });
    let r = w.engine.import_orders(w.id).await.unwrap();
    assert!(r.imported.is_empty());
    assert_eq!(r.already_imported, [oid("O3")]);
    let e = w
        .store
        .ledger_entry(w.id, &oid("O3"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        e.order.unwrap().status.state,
        OrderState::Shipped,
        "snapshot refreshed"
    );
    let imported = e
        .sightings
        .iter()
        .filter(|s| s.outcome == SightingOutcome::Imported)
        .count();
    assert_eq!(imported, 1);
}

#[tokio::test]
async fn imported_orders_are_acknowledged_only_after_they_are_recorded() {
    let w = world_with(ChannelKind::ChannelAdvisor, ca_caps(), &[Feature::Orders]).await;
    w.catalog.upsert(item("A", "1", 1, true));
    map_shipping(&w, "Std").await;
    w.channel.add_order(order("O1", t0(), &["A"], "Std"));
    // The acknowledgement fails: the order is recorded, and acknowledged on the next run.
    w.channel
        .fail_next(Operation::AcknowledgeOrder, 1, ErrorKind::Transient);
    let r = w.engine.import_orders(w.id).await.unwrap();
    assert_eq!(r.imported, [oid("O1")]);
    assert_eq!(r.acknowledge_failed.len(), 1);
    assert!(w.channel.acknowledged().is_empty());
    let r = w.engine.import_orders(w.id).await.unwrap();
    assert_eq!(r.already_imported, [oid("O1")]);
    assert!(w.channel.acknowledged().contains(&oid("O1")));
    assert_eq!(
        w.channel.stats().most_acknowledgements_at_once,
        1,
        "one at a time where the channel states no limit"
    );
    assert!(
        w.engine
            .import_orders(w.id)
            .await
            .unwrap()
            .already_imported
            .is_empty()
    );
}

#[tokio::test]
async fn acknowledgements_go_several_at_once_where_the_channel_allows_and_each_failure_is_kept() {
    let caps = Capabilities {
        rate_limits: marketsync_core::RateLimits {
            concurrent: Some(3),
            ..Default::default()
        },
        ..ca_caps()
    };
    let w = world_with(ChannelKind::ChannelAdvisor, caps, &[Feature::Orders]).await;
    let _ = w.channel.clone().with_page_size(3);
    w.catalog.upsert(item("A", "1", 1, true));
    map_shipping(&w, "Std").await;
    let ids: Vec<String> = (0..10).map(|i| format!("O{i:02}")).collect();
    for i in &ids {
        w.channel.add_order(order(i, t0(), &["A"], "Std"));
    }
    // The 4th acknowledgement fails for a moment; the others still go.
    w.channel
        .fail_nth(Operation::AcknowledgeOrder, 4, ErrorKind::Transient);
    let r = w.engine.import_orders(w.id).await.unwrap();
    assert_eq!(
        r.pages, 4,
        "3 + 3 + 3 + 1, every page read while the last was recorded"
    );
    assert_eq!(r.imported.len(), 10);
    assert_eq!(r.acknowledge_failed.len(), 1, "{:?}", r.acknowledge_failed);
    let failed = r.acknowledge_failed[0].0.clone();
    let acknowledged = w.channel.acknowledged();
    assert_eq!(acknowledged.len(), 9);
    assert!(!acknowledged.contains(&failed));
    assert_eq!(
        w.channel.stats().most_acknowledgements_at_once,
        3,
        "as many at once as the channel allows, no more"
    );
    // Next run: the one left is seen again as already imported and acknowledged then.
    let r = w.engine.import_orders(w.id).await.unwrap();
    assert_eq!(r.already_imported, [failed]);
    assert_eq!(w.channel.acknowledged().len(), 10);
    assert!(r.imported.is_empty());
}

#[tokio::test]
async fn an_auth_failure_while_acknowledging_several_at_once_breaks_the_connection() {
    let caps = Capabilities {
        rate_limits: marketsync_core::RateLimits {
            concurrent: Some(5),
            ..Default::default()
        },
        ..ca_caps()
    };
    let w = world_with(ChannelKind::ChannelAdvisor, caps, &[Feature::Orders]).await;
    w.catalog.upsert(item("A", "1", 1, true));
    map_shipping(&w, "Std").await;
    for i in 0..8 {
        w.channel
            .add_order(order(&format!("O{i}"), t0(), &["A"], "Std"));
    }
    w.channel
        .fail_nth(Operation::AcknowledgeOrder, 6, ErrorKind::Auth);
    let err = w.engine.import_orders(w.id).await.unwrap_err();
    assert!(
        matches!(&err, EngineError::Channel(e) if e.kind() == ErrorKind::Auth),
        "{err}"
    );
    // Every order is recorded exactly once all the same.
    let imported = w
        .store
        .ledger(w.id, LedgerFilter::All)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.imported.is_some())
        .count();
    assert_eq!(imported, 8);
}

#[tokio::test]
async fn explain_order_tells_the_whole_story() {
    let w = world().await;
    w.channel.add_order(order("O1", t0(), &["NOPE"], "Std"));
    w.engine.import_orders(w.id).await.unwrap();
    let x = w.engine.explain_order(w.id, &oid("O1")).await.unwrap();
    let story = x.story.join("\n");
    assert!(story.contains("seen 1 time"), "{story}");
    assert!(story.contains("no SKU mapping for \"NOPE\""), "{story}");
    assert!(story.contains("add SKU mappings"), "{story}");
    let never = w.engine.explain_order(w.id, &oid("GHOST")).await.unwrap();
    assert!(never.ledger.is_none());
    assert!(
        never.story[0].contains("never been downloaded"),
        "{:?}",
        never.story
    );
}

#[tokio::test]
async fn shipments_refunds_and_cancellations_are_sent_exactly_once() {
    let w = world().await;
    w.catalog.upsert(item("A", "1", 1, true));
    for i in 0..3 {
        w.channel
            .add_order(order(&format!("O{i}"), t0(), &["A"], "Std"));
    }
    w.engine.import_orders(w.id).await.unwrap();
    let key = IdempotencyKey::generate();
    let e1 = w
        .engine
        .ship(w.id, &oid("O0"), ship_now(&w), Some(key.clone()))
        .await
        .unwrap();
    // The host retries its call after a crash: the same key records nothing new.
    let e2 = w
        .engine
        .ship(w.id, &oid("O0"), ship_now(&w), Some(key.clone()))
        .await
        .unwrap();
    assert_eq!(e1.item, e2.item);
    w.engine
        .refund(
            w.id,
            &oid("O1"),
            Refund {
                amount: Some(usd("3.00")),
                lines: vec![],
                reason: AdjustmentReason::CustomerReturnedItem,
                restock: true,
                note: None,
            },
            None,
        )
        .await
        .unwrap();
    w.engine
        .cancel(
            w.id,
            &oid("O2"),
            Cancellation {
                lines: vec![],
                reason: AdjustmentReason::BuyerCancelled,
            },
            None,
        )
        .await
        .unwrap();
    // The channel applies the shipment but the answer is lost; later a 503.
    w.channel.add_failure(marketsync_core::memory::FailureRule {
        operation: Operation::Ship,
        on_call: Some(1),
        times: 1,
        kind: ErrorKind::Transient,
        after_applying: true,
    });
    w.channel
        .fail_nth(Operation::Refund, 1, ErrorKind::Transient);
    let r = w.engine.sync_orders(w.id).await.unwrap();
    assert_eq!(r.sent.len(), 1, "{r:?}");
    assert_eq!(r.failed.len(), 2);
    assert!(r.failed.iter().all(|f| f.will_retry));
    // Retried after the backoff, with the same keys.
    w.clock.advance(days(1));
    let r = w.engine.sync_orders(w.id).await.unwrap();
    assert_eq!(r.sent.len(), 2, "{r:?}");
    assert!(w.engine.sync_orders(w.id).await.unwrap().sent.is_empty());
    assert_eq!(w.channel.shipments().len(), 1);
    assert_eq!(w.channel.shipments()[0].idempotency_key, key);
    assert_eq!(w.channel.refunds().len(), 1);
    assert_eq!(w.channel.cancellations().len(), 1);
    assert_eq!(
        w.channel.stats().duplicate_sends,
        1,
        "the lost answer's retry was absorbed"
    );
    // The first attempts went out as first attempts; both retries (the lost answer's and the
    // 503's) were marked as resends, so a channel without idempotency keys checks first.
    assert_eq!(w.channel.stats().resends, 2);
    assert!(!w.channel.shipments()[0].resend);
    assert!(!w.channel.cancellations()[0].resend);
    assert!(w.channel.refunds()[0].resend);
    assert!(
        w.store
            .outbox(w.id)
            .await
            .unwrap()
            .iter()
            .all(|e| matches!(e.state, OutboxState::Sent { .. }))
    );
}

#[tokio::test]
async fn a_refused_shipment_fails_for_good_and_is_reported() {
    let w = world().await;
    w.catalog.upsert(item("A", "1", 1, true));
    w.channel.add_order(order("O1", t0(), &["A"], "Std"));
    w.engine.import_orders(w.id).await.unwrap();
    w.engine
        .ship(w.id, &oid("O1"), ship_now(&w), None)
        .await
        .unwrap();
    w.channel.fail_next(Operation::Ship, 1, ErrorKind::Invalid);
    let r = w.engine.sync_orders(w.id).await.unwrap();
    assert_eq!(r.failed.len(), 1);
    assert!(!r.failed[0].will_retry);
    w.clock.advance(days(1));
    assert!(
        w.engine.sync_orders(w.id).await.unwrap().failed.is_empty(),
        "not retried"
    );
    let x = w.engine.explain_order(w.id, &oid("O1")).await.unwrap();
    assert!(
        x.story.iter().any(|s| s.contains("failed")),
        "{:?}",
        x.story
    );
}

// ----- lifecycle gating, health, notifications -----

#[tokio::test]
async fn nothing_is_exchanged_in_setup_while_disabled_or_with_the_feature_off() {
    let w = world().await;
    // Feature off.
    let err = w.engine.sync_orders(w.id).await;
    assert!(err.is_ok(), "fulfilments are on by default");
    w.engine
        .apply(
            w.id,
            seller(),
            Event::SetFeature {
                feature: Feature::Orders,
                on: false,
                support_override: None,
            },
        )
        .await
        .unwrap();
    assert!(matches!(
        w.engine.import_orders(w.id).await,
        Err(EngineError::Blocked {
            blocked: Blocked::FeatureOff(Feature::Orders),
            ..
        })
    ));
    // Disabled.
    w.engine
        .apply(w.id, seller(), Event::Disable)
        .await
        .unwrap();
    assert!(matches!(
        w.engine.sync_listings(w.id).await,
        Err(EngineError::Blocked {
            blocked: Blocked::Disabled,
            ..
        })
    ));
    // Setup: a fresh integration.
    let other = w
        .engine
        .create_integration(
            "second",
            Arc::new(w.channel.clone()),
            marketsync_core::IntegrationSettings::new(ChannelKind::Reverb, Currency::USD),
            seller(),
        )
        .await
        .unwrap();
    assert!(matches!(
        w.engine.import_orders(other).await,
        Err(EngineError::Blocked {
            blocked: Blocked::Setup,
            ..
        })
    ));
    assert_eq!(w.channel.calls(Operation::FetchOrders), 0);
}

#[tokio::test]
async fn a_disabled_integration_catches_up_from_its_cursor_when_enabled() {
    let w = world().await;
    w.catalog.upsert(item("A", "1", 1, true));
    w.channel.add_order(order("O1", t0(), &["A"], "Std"));
    w.engine.import_orders(w.id).await.unwrap();
    w.engine
        .apply(w.id, seller(), Event::Disable)
        .await
        .unwrap();
    for i in 2..5 {
        w.channel
            .add_order(order(&format!("O{i}"), t0(), &["A"], "Std"));
    }
    assert!(w.engine.import_orders(w.id).await.is_err());
    w.engine.apply(w.id, seller(), Event::Enable).await.unwrap();
    let r = w.engine.import_orders(w.id).await.unwrap();
    assert_eq!(r.imported, [oid("O2"), oid("O3"), oid("O4")]);
    assert!(r.already_imported.is_empty(), "the cursor kept its place");
}

#[tokio::test]
async fn an_auth_error_breaks_the_connection_with_the_channels_message_and_notifies_once() {
    let w = world().await;
    w.channel
        .revoke_credentials("Authorization has been denied for this request.");
    let err = w.engine.import_orders(w.id).await.unwrap_err();
    assert!(matches!(&err, EngineError::Channel(e) if e.kind() == ErrorKind::Auth));
    let rec = w.engine.integration(w.id).await.unwrap();
    let marketsync_core::Health::Broken {
        reason,
        channel_message,
        ..
    } = rec.lifecycle.health()
    else {
        panic!("expected broken, got {:?}", rec.lifecycle.health())
    };
    assert_eq!(*reason, BrokenReason::CredentialsRejected);
    assert_eq!(
        channel_message.as_deref(),
        Some("Authorization has been denied for this request.")
    );
    // While broken nothing is exchanged, and no second notice is sent.
    let calls = w.channel.calls(Operation::FetchOrders);
    assert!(matches!(
        w.engine.import_orders(w.id).await,
        Err(EngineError::Blocked {
            blocked: Blocked::Broken { .. },
            ..
        })
    ));
    assert!(w.engine.verify(w.id, seller()).await.is_err());
    assert_eq!(w.channel.calls(Operation::FetchOrders), calls);
    let broken: Vec<_> = w
        .notifier
        .all()
        .into_iter()
        .filter(|n| matches!(n, Notification::ConnectionBroken { .. }))
        .collect();
    assert_eq!(broken.len(), 1, "{broken:?}");
    // Repair: new credentials, verified.
    w.channel.restore_credentials();
    w.engine
        .enter_credentials(w.id, &Credentials::api_token("new"), seller())
        .await
        .unwrap();
    w.engine.verify(w.id, seller()).await.unwrap();
    assert!(
        w.notifier
            .all()
            .contains(&Notification::ConnectionRestored { integration: w.id })
    );
    w.engine.import_orders(w.id).await.unwrap();
}

#[tokio::test]
async fn entered_credentials_are_handed_to_the_channel_also_after_a_restart() {
    let w = world().await;
    assert_eq!(
        w.channel.handed_credentials(),
        Some(marketsync_core::CredentialKind::ApiToken)
    );
    // After a restart the host attaches the channel; it gets the stored credentials.
    let fresh = MemoryChannel::new(ChannelKind::Reverb);
    w.engine
        .attach_channel(w.id, Arc::new(fresh.clone()))
        .await
        .unwrap();
    assert_eq!(
        fresh.handed_credentials(),
        Some(marketsync_core::CredentialKind::ApiToken)
    );
}

fn session(
    token: &str,
    refresh: &str,
    refresh_expires_at: chrono::DateTime<chrono::Utc>,
) -> Credentials {
    Credentials::LoginSession(marketsync_core::credentials::LoginSession {
        user_id: Some("seller".into()),
        token: token.to_string().into(),
        expires_at: t0() + chrono::TimeDelta::hours(12),
        refresh_token: Some(refresh.to_string().into()),
        refresh_expires_at: Some(refresh_expires_at),
    })
}

fn stored_json(c: &Credentials) -> String {
    serde_json::to_string(&c.expose_for_storage()).unwrap()
}

#[tokio::test]
async fn credentials_the_channel_renews_itself_are_sealed_into_the_store() {
    let w = world().await;
    let first = session("access-1", "refresh-1", t0() + days(90));
    w.engine
        .enter_credentials(w.id, &first, seller())
        .await
        .unwrap();
    // The channel rotates its refresh token (as Allegro does on every renewal): the engine's
    // sink seals the new pair into the store before the channel uses it.
    let renewed = session("access-2", "refresh-2", t0() + days(120));
    w.channel.renew_credentials(&renewed).await.unwrap();
    let stored = w.engine.credentials(w.id).await.unwrap();
    assert_eq!(stored_json(&stored), stored_json(&renewed));
    assert_eq!(stored.must_renew_by(), Some(t0() + days(120)));
    // After a restart the channel is handed the renewed pair, not the spent one.
    let restarted = Engine::new(
        w.store.clone(),
        w.catalog.clone(),
        w.notifier.clone(),
        w.clock.clone(),
    )
    .with_credential_key(key());
    let fresh = MemoryChannel::new(ChannelKind::Allegro);
    restarted
        .attach_channel(w.id, Arc::new(fresh.clone()))
        .await
        .unwrap();
    assert_eq!(
        stored_json(&restarted.credentials(w.id).await.unwrap()),
        stored_json(&renewed)
    );
    // The restarted engine gave the fresh channel a sink too.
    let again = session("access-3", "refresh-3", t0() + days(150));
    fresh.renew_credentials(&again).await.unwrap();
    assert_eq!(
        stored_json(&restarted.credentials(w.id).await.unwrap()),
        stored_json(&again)
    );
}

#[tokio::test]
async fn renewed_credentials_are_refused_when_the_engine_has_no_key() {
    let w = world().await;
    let keyless = Engine::new(
        w.store.clone(),
        w.catalog.clone(),
        w.notifier.clone(),
        w.clock.clone(),
    );
    let channel = MemoryChannel::new(ChannelKind::Allegro);
    keyless.register_channel(w.id, Arc::new(channel.clone()));
    let before = stored_json(&w.engine.credentials(w.id).await.unwrap());
    let err = channel
        .renew_credentials(&session("access-9", "refresh-9", t0() + days(90)))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Invalid);
    assert!(err.to_string().contains("no credential key"), "{err}");
    assert!(!err.to_string().contains("refresh-9"), "{err}");
    // Nothing was stored: the old credentials are intact.
    assert_eq!(
        stored_json(&w.engine.credentials(w.id).await.unwrap()),
        before
    );
}

#[tokio::test]
async fn rotating_credentials_leaves_the_integration_unverified_until_verified() {
    let w = world().await;
    w.engine
        .rotate_credentials(w.id, &Credentials::api_token("rotated"), seller())
        .await
        .unwrap();
    assert!(matches!(
        w.engine.import_orders(w.id).await,
        Err(EngineError::Blocked {
            blocked: Blocked::Unverified,
            ..
        })
    ));
    w.engine.verify(w.id, seller()).await.unwrap();
    w.engine.import_orders(w.id).await.unwrap();
}

#[tokio::test]
async fn login_type_repair_is_deactivate_then_reactivate_and_log_in_again() {
    let w = world_with(
        ChannelKind::Allegro,
        Capabilities {
            login_authorization: true,
            ..Capabilities::all()
        },
        &[Feature::Orders],
    )
    .await;
    w.channel.revoke_credentials("invalid_grant");
    assert!(w.engine.import_orders(w.id).await.is_err());
    w.engine.deactivate(w.id, seller()).await.unwrap();
    let start = w
        .engine
        .reactivate(w.id, seller(), &Default::default())
        .await
        .unwrap();
    assert!(
        start
            .url
            .as_str()
            .starts_with("https://login.memory.invalid/")
    );
    let state = start.pending.state.clone();
    let callback = marketsync_core::AuthorizationCallback::from_params([
        ("code", "c"),
        ("state", state.as_str()),
    ]);
    let info = w
        .engine
        .complete_authorization(w.id, &start.pending, &callback, seller())
        .await
        .unwrap();
    assert!(info.is_some());
    assert!(matches!(
        w.engine.credentials(w.id).await.unwrap(),
        Credentials::LoginSession(_)
    ));
    w.engine.import_orders(w.id).await.unwrap();
}

/// Enters a login session without a refresh token that expires at `expires`.
async fn enter_login_session(w: &World, expires: chrono::DateTime<chrono::Utc>) {
    let creds = Credentials::LoginSession(marketsync_core::credentials::LoginSession {
        user_id: Some("u".into()),
        token: "t".to_owned().into(),
        expires_at: expires,
        refresh_token: None,
        refresh_expires_at: None,
    });
    w.engine
        .enter_credentials(w.id, &creds, seller())
        .await
        .unwrap();
}

#[tokio::test]
async fn credentials_expiring_soon_are_notified_once() {
    let w = world().await;
    let expires = t0() + days(5);
    enter_login_session(&w, expires).await;
    assert_eq!(
        w.engine.check_credentials(w.id).await.unwrap(),
        Some(expires)
    );
    assert_eq!(
        w.engine.check_credentials(w.id).await.unwrap(),
        Some(expires)
    );
    let n: Vec<_> = w
        .notifier
        .all()
        .into_iter()
        .filter(|n| matches!(n, Notification::CredentialsExpiring { .. }))
        .collect();
    assert_eq!(
        n,
        [Notification::CredentialsExpiring {
            integration: w.id,
            expires_at: expires
        }]
    );
}

#[tokio::test]
async fn expired_login_credentials_break_the_connection_with_login_required() {
    let w = world().await;
    let expires = t0() + days(2);
    enter_login_session(&w, expires).await;
    w.engine.verify(w.id, seller()).await.unwrap();
    w.clock.advance(days(3));
    assert_eq!(
        w.engine.check_credentials(w.id).await.unwrap(),
        Some(expires)
    );
    let rec = w.engine.integration(w.id).await.unwrap();
    assert!(matches!(
        rec.lifecycle.health(),
        marketsync_core::Health::Broken {
            reason: BrokenReason::LoginRequired,
            ..
        }
    ));
    assert!(matches!(
        w.engine.import_orders(w.id).await,
        Err(EngineError::Blocked {
            blocked: Blocked::Broken {
                reason: BrokenReason::LoginRequired,
                ..
            },
            ..
        })
    ));
    let broken = w
        .notifier
        .all()
        .into_iter()
        .filter(|n| {
            matches!(
                n,
                Notification::ConnectionBroken {
                    reason: BrokenReason::LoginRequired,
                    ..
                }
            )
        })
        .count();
    assert_eq!(broken, 1);
}

#[tokio::test]
async fn the_move_to_live_after_the_testing_period_is_notified() {
    let w = world().await;
    w.clock.advance(days(29));
    w.engine.tick(w.id).await.unwrap();
    assert!(w.notifier.all().is_empty());
    w.clock.advance(days(1));
    w.engine.tick(w.id).await.unwrap();
    assert_eq!(
        w.notifier.take(),
        [Notification::PhaseChanged {
            integration: w.id,
            from: marketsync_core::Phase::Testing,
            to: marketsync_core::Phase::Live
        }]
    );
    let log = w.store.audit_log(w.id).await.unwrap();
    assert!(log.iter().any(|e| matches!(
        e.change,
        marketsync_core::lifecycle::Change::PhaseChanged {
            to: marketsync_core::Phase::Live,
            ..
        }
    )));
}

#[tokio::test]
async fn delete_plans_the_unfulfilled_orders_and_keeps_orders_readable() {
    let w = world().await;
    w.catalog.upsert(item("A", "1", 1, true));
    w.channel.add_order(order("O1", t0(), &["A"], "Std"));
    let mut shipped = order("O2", t0(), &["A"], "Std");
    shipped.status = OrderStatus::new(OrderState::AwaitingShipment, "paid");
    w.channel.add_order(shipped);
    w.engine.import_orders(w.id).await.unwrap();
    w.channel.edit_order_outside(&oid("O2"), |o| {
        o.status = OrderStatus::new(OrderState::Shipped, "shipped")
    });
    w.engine.import_orders(w.id).await.unwrap();
    // An order shipped through the outbox is fulfilled even before the channel says so.
    w.channel.add_order(order("O3", t0(), &["A"], "Std"));
    w.engine.import_orders(w.id).await.unwrap();
    w.engine
        .ship(w.id, &oid("O3"), ship_now(&w), None)
        .await
        .unwrap();
    w.engine.sync_orders(w.id).await.unwrap();
    let plan = w.engine.plan_delete(w.id).await.unwrap();
    assert_eq!(plan.unfulfilled_orders, [oid("O1")]);
    assert!(plan.notices.iter().any(|n| n.contains("responsible")));
    w.engine
        .delete(w.id, plan.confirm(), seller())
        .await
        .unwrap();
    assert!(matches!(
        w.engine.import_orders(w.id).await,
        Err(EngineError::Blocked {
            blocked: Blocked::Deleted,
            ..
        })
    ));
    assert_eq!(
        w.store.ledger(w.id, LedgerFilter::All).await.unwrap().len(),
        3
    );
    assert!(
        w.engine.plan_delete(w.id).await.is_err(),
        "only an existing integration can be deleted"
    );
}

#[tokio::test]
async fn a_recreated_integration_gets_a_new_id_and_does_not_share_orders() {
    let w = world().await;
    w.catalog.upsert(item("A", "1", 1, true));
    w.channel.add_order(order("O1", t0(), &["A"], "Std"));
    w.engine.import_orders(w.id).await.unwrap();
    let plan = w.engine.plan_delete(w.id).await.unwrap();
    w.engine
        .delete(w.id, plan.confirm(), seller())
        .await
        .unwrap();
    let again = w
        .engine
        .create_integration(
            "again",
            Arc::new(w.channel.clone()),
            marketsync_core::IntegrationSettings::new(ChannelKind::Reverb, Currency::USD),
            seller(),
        )
        .await
        .unwrap();
    assert_ne!(again, w.id);
    assert!(
        w.store
            .ledger_entry(again, &oid("O1"))
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn credentials_are_stored_only_as_ciphertext_and_need_the_right_key() {
    let w = world().await;
    let sealed = w.store.credentials(w.id).await.unwrap().unwrap();
    assert!(!String::from_utf8_lossy(&sealed.ciphertext).contains("tok-secret"));
    // Same store, engine without a key: a clear error, nothing decrypted.
    let keyless = Engine::new(
        w.store.clone(),
        w.catalog.clone(),
        w.notifier.clone(),
        w.clock.clone(),
    );
    assert!(matches!(
        keyless.credentials(w.id).await,
        Err(EngineError::Vault(VaultError::KeyMissing { .. }))
    ));
    assert!(matches!(
        keyless
            .enter_credentials(w.id, &Credentials::api_token("x"), seller())
            .await,
        Err(EngineError::Vault(VaultError::KeyMissing { .. }))
    ));
    let wrong = Engine::new(
        w.store.clone(),
        w.catalog.clone(),
        w.notifier.clone(),
        w.clock.clone(),
    )
    .with_credential_key(CredentialKey::new("other", [1; 32]));
    assert!(matches!(
        wrong.credentials(w.id).await,
        Err(EngineError::Vault(VaultError::WrongKey { .. }))
    ));
    // Nothing was overwritten by the failed attempts.
    assert_eq!(w.store.credentials(w.id).await.unwrap().unwrap(), sealed);
    assert!(matches!(
        w.engine.credentials(w.id).await.unwrap(),
        Credentials::ApiToken(_)
    ));
}

#[tokio::test]
async fn an_unused_store_has_no_integration() {
    let store = MemoryStore::new();
    assert!(store.integrations().await.unwrap().is_empty());
}
