//! The channel conformance suite (`marketsync_core::testkit::channel`) against the ChannelAdvisor
//! adapter and its sandbox (`ChannelAdvisorHarness`), through the engine and the SQLite store:
//! each check on its own with a fresh harness and a fresh store, then `run_all`, then the OfferUp
//! integration through ChannelAdvisor.

use std::sync::Arc;

use marketsync_core::testkit::channel::{self, ChannelHarness, OrderSpec, Received};
use marketsync_core::{Clock, Store};
use marketsync_core::{Money, OrderState, Sku};
use marketsync_sandbox::ChannelAdvisorHarness;
use marketsync_sqlite::SqliteStore;

async fn store() -> Arc<dyn Store> {
    Arc::new(
        SqliteStore::open_in_memory()
            .await
            .expect("open an in-memory SQLite store"),
    )
}

async fn harness() -> ChannelAdvisorHarness {
    ChannelAdvisorHarness::start()
        .await
        .expect("the ChannelAdvisor sandbox starts")
}

async fn offerup() -> ChannelAdvisorHarness {
    ChannelAdvisorHarness::start_offerup()
        .await
        .expect("the ChannelAdvisor sandbox starts")
}

macro_rules! checks {
    ($($name:ident),* $(,)?) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() {
            let h = harness().await;
            channel::$name(&h, store().await).await;
        }
    )*};
}

checks!(
    verify_reports_the_account,
    link_then_sync_only_changes,
    publish_or_unsupported,
    deleted_listing_becomes_broken_link,
    reconcile_plan_then_confirm,
    import_records_every_reason,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ship_refund_cancel_exactly_once() {
    let h = harness().await;
    channel::ship_refund_cancel_exactly_once(&h, store().await).await;
    // The injected 500 reached the adapter: the first shipment attempt failed and was retried.
    let counters = h.sandbox().counters();
    assert_eq!(counters.server_errors, 1, "{counters:?}");
    assert_eq!(counters.get("orders.ship"), 2, "{counters:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn temporary_failures_lose_and_duplicate_nothing() {
    let h = harness().await;
    channel::temporary_failures_lose_and_duplicate_nothing(&h, store().await).await;
    // Both failures were served: the sandbox's own 500 and its 429.
    let counters = h.sandbox().counters();
    assert_eq!(counters.server_errors, 1, "{counters:?}");
    assert_eq!(counters.throttled, 1, "{counters:?}");
    for id in h.sandbox().order_ids() {
        assert_eq!(h.sandbox().export_count(id), 1, "order {id} exported once");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoked_credentials_break_then_repair() {
    let h = harness().await;
    channel::revoked_credentials_break_then_repair(&h, store().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_all_on_channeladvisor() {
    channel::run_all(harness, store).await;
}

// ----- OfferUp through ChannelAdvisor -----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offerup_verify_reports_the_account() {
    let h = offerup().await;
    channel::verify_reports_the_account(&h, store().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offerup_import_records_every_reason() {
    let h = offerup().await;
    assert_eq!(h.site_name(), "OfferUp");
    channel::import_records_every_reason(&h, store().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offerup_ship_refund_cancel_exactly_once() {
    let h = offerup().await;
    channel::ship_refund_cancel_exactly_once(&h, store().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offerup_link_then_sync_only_changes() {
    let h = offerup().await;
    assert_eq!(h.label(), "OfferUp");
    channel::link_then_sync_only_changes(&h, store().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offerup_run_all() {
    channel::run_all(offerup, store).await;
}

/// The OfferUp integration downloads only OfferUp orders: an order of another site in the same
/// ChannelAdvisor account is never seen (no outcome), while the OfferUp one imports.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offerup_imports_only_offerup_orders() {
    let h = offerup().await;
    let rig = channel::Rig::new(&h, store().await).await;
    rig.item("CONF-OK", "10.00", 5);
    let ours = h.add_order(&rig.order("conf-offerup", &["CONF-OK"])).await;
    let other = h
        .sandbox()
        .add_order(marketsync_sandbox::channeladvisor::NewOrder {
            site_name: "eBay Fixed Price US".into(),
            site_id: 1,
            class: channel::SHIPPING_TEXT.into(),
            lines: vec![("CONF-OK".into(), 1, 1000)],
            created: Some(rig.clock.now() - chrono::TimeDelta::hours(1)),
            ..Default::default()
        });
    let report = rig.engine.import_orders(rig.id).await.expect("import");
    assert_eq!(report.imported, [ours], "{report:?}");
    let other = marketsync_core::ChannelOrderId::new(other.to_string()).expect("id");
    assert_eq!(rig.outcome(&other).await, None);
    assert!(!h.sandbox().is_exported(other.as_str().parse().expect("id")));
}

/// The harness's own controls, read back through the sandbox and the adapter's view.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn harness_controls_match_the_adapter() {
    let h = harness().await;
    let usd = |s: &str| Money::parse(s, "USD").expect("price");
    let sku = Sku::new("CTRL-1").expect("sku");
    let id = h.add_listing(&sku, usd("7.25"), 3).await;
    let seen = h.listing(&id).await.expect("listing");
    assert_eq!(seen.sku.as_ref(), Some(&sku));
    assert_eq!(seen.quantity, Some(3));
    assert_eq!(seen.price, Some(usd("7.25")));
    assert_eq!(seen.state, marketsync_core::ChannelListingState::Live);
    // The adapter sees the same product, live, under the same id.
    let page = h
        .channel()
        .list_listings(&marketsync_core::ListingQuery {
            skus: vec![sku.clone()],
            include_ended: true,
            ..Default::default()
        })
        .await
        .expect("list");
    assert_eq!(page.listings.len(), 1, "{page:?}");
    assert_eq!(page.listings[0].id, id);
    assert_eq!(page.listings[0].state, seen.state);
    h.delete_listing_outside(&id).await;
    assert_eq!(h.listing(&id).await, None);

    // Every state survives the round trip through ChannelAdvisor's three statuses.
    let channel = h.channel();
    let mut expected = Vec::new();
    for (i, state) in [
        OrderState::Unpaid,
        OrderState::PaymentPending,
        OrderState::AwaitingShipment,
        OrderState::PartiallyShipped,
        OrderState::Shipped,
        OrderState::Cancelled,
        OrderState::OnHold,
    ]
    .into_iter()
    .enumerate()
    {
        let spec = OrderSpec {
            name: format!("state-{i}"),
            created_at: chrono::Utc::now() - chrono::TimeDelta::hours(1),
            state,
            skus: vec![sku.clone()],
            shipping: "Ground".into(),
            unit_price: usd("4.99"),
        };
        expected.push((h.add_order(&spec).await, state));
    }
    let page = channel
        .fetch_orders(&marketsync_core::OrderQuery {
            cursor: None,
            created_since: None,
            states: Vec::new(),
            default_currency: marketsync_core::Currency::USD,
            page: None,
            page_size: None,
        })
        .await
        .expect("fetch");
    for (id, state) in expected {
        let order = page
            .orders
            .iter()
            .find(|o| o.channel_order_id == id)
            .unwrap_or_else(|| panic!("order {id} downloaded"));
        assert_eq!(order.status.state, state, "{}", order.status.raw);
        assert_eq!(order.shipping_method.as_deref(), Some("Ground"));
        assert_eq!(order.lines[0].unit_price, usd("4.99"));
        assert_eq!(h.received(&id, Received::Shipments).await, 0);
    }
}
