//! The channel conformance suite (`marketsync_core::testkit::channel`) against the Reverb adapter
//! and its sandbox (`ReverbHarness`), through the engine and the SQLite store: each check on its
//! own with a fresh harness and a fresh store, then `run_all`.

use std::sync::Arc;

use marketsync_core::Store;
use marketsync_core::testkit::channel::{self, ChannelHarness, Received};
use marketsync_sandbox::ReverbHarness;
use marketsync_sqlite::SqliteStore;

async fn store() -> Arc<dyn Store> {
    Arc::new(
        SqliteStore::open_in_memory()
            .await
            .expect("open an in-memory SQLite store"),
    )
}

async fn harness() -> ReverbHarness {
    ReverbHarness::start()
        .await
        .expect("the Reverb sandbox starts")
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
    deleted_listing_becomes_broken_link,
    reconcile_plan_then_confirm,
    import_records_every_reason,
    revoked_credentials_break_then_repair,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn link_then_sync_only_changes() {
    let h = harness().await;
    channel::link_then_sync_only_changes(&h, store().await).await;
    // One PUT per listing on the first sync, none on the second, one on the third.
    let writes: Vec<String> = h
        .sandbox()
        .listing_writes()
        .into_iter()
        .map(|w| w.operation)
        .collect();
    assert_eq!(writes, ["update", "update", "update"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_or_unsupported() {
    let h = harness().await;
    channel::publish_or_unsupported(&h, store().await).await;
    // The listing was created at Reverb with its SKU, price and inventory.
    let id = h.sandbox().listing_id("CONF-NEW").expect("created by SKU");
    let l = h.sandbox().listing(id).expect("listing");
    assert_eq!(l["price"]["amount"], "5.00");
    assert_eq!(l["inventory"], 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ship_refund_cancel_exactly_once() {
    let h = harness().await;
    channel::ship_refund_cancel_exactly_once(&h, store().await).await;
    // The injected 500 reached the adapter: the first shipment attempt failed, and the engine's
    // next run sent it again (the adapter does not repeat a POST by itself).
    let counters = h.sandbox().counters();
    assert_eq!(counters.server_errors, 1, "{counters:?}");
    assert_eq!(counters.get("orders.ship"), 2, "{counters:?}");
    assert_eq!(h.sandbox().shipments().len(), 1);
    // The refund and the cancellation are both refund requests (Reverb has no cancel endpoint).
    assert_eq!(h.sandbox().refunds().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn temporary_failures_lose_and_duplicate_nothing() {
    let h = harness().await;
    channel::temporary_failures_lose_and_duplicate_nothing(&h, store().await).await;
    // Both failures were served: the sandbox's own 500 and its 429.
    let counters = h.sandbox().counters();
    assert_eq!(counters.server_errors, 1, "{counters:?}");
    assert_eq!(counters.throttled, 1, "{counters:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_all_on_reverb() {
    channel::run_all(harness, store).await;
}

/// The adapter follows host-relative `_links.next` hrefs as well as absolute ones: every check
/// that pages still passes on a sandbox serving relative links.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relative_links_import_every_order() {
    let h = ReverbHarness::builder()
        .sandbox(
            marketsync_sandbox::ReverbSandbox::builder()
                .listings(0)
                .orders(0)
                .relative_links(true)
                .max_per_page(2),
        )
        .start()
        .await
        .expect("the Reverb sandbox starts");
    let rig = channel::Rig::new(&h, store().await).await;
    rig.item("CONF-OK", "10.00", 5);
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(
            h.add_order(&rig.order(&format!("rel-{i}"), &["CONF-OK"]))
                .await,
        );
    }
    let report = rig.engine.import_orders(rig.id).await.expect("import");
    for id in &ids {
        assert!(report.imported.contains(id), "{id}: {report:?}");
        assert_eq!(h.received(id, Received::Shipments).await, 0);
    }
    // Three pages of two, the second and third through host-relative links.
    assert!(h.sandbox().counters().get("orders.all") >= 3);
    assert!(
        h.sandbox()
            .requests()
            .iter()
            .any(|r| r.operation == "orders.all"
                && r.query.as_deref().is_some_and(|q| q.contains("page=3"))),
        "the adapter followed the relative next links"
    );
}

/// The adapter reads every seeded order and listing: every status, local pickup, EUR and GBP
/// orders, SKUs that need escaping and listings without a SKU, across pages.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adapter_reads_the_seeded_variety() {
    use marketsync_core::{Currency, ListingQuery, OrderQuery, OrderState};
    let h = ReverbHarness::builder()
        .sandbox(marketsync_sandbox::ReverbSandbox::builder().seed(3))
        .start()
        .await
        .expect("the Reverb sandbox starts");
    let channel = h.channel();
    let mut query = OrderQuery {
        cursor: None,
        created_since: None,
        states: Vec::new(),
        default_currency: Currency::USD,
        page: None,
        page_size: Some(25),
    };
    let mut orders = Vec::new();
    loop {
        let page = channel.fetch_orders(&query).await.expect("fetch");
        assert!(page.rejected.is_empty(), "{:?}", page.rejected);
        orders.extend(page.orders);
        match page.next_page {
            Some(next) => query.page = Some(next),
            None => {
                assert!(page.cursor.is_some(), "the last page carries the cursor");
                break;
            }
        }
    }
    assert_eq!(orders.len(), h.sandbox().order_numbers().len());
    for status in marketsync_sandbox::reverb::seed::ORDER_STATUSES {
        let o = orders
            .iter()
            .find(|o| o.status.raw == *status)
            .unwrap_or_else(|| panic!("an order is {status}"));
        assert_ne!(o.status.state, OrderState::Unknown, "{status}");
    }
    assert!(
        orders
            .iter()
            .any(|o| o.local_pickup && o.shipping_address.is_none())
    );
    for code in ["EUR", "GBP"] {
        assert!(orders.iter().any(|o| o.currency.code() == code), "{code}");
    }
    for o in &orders {
        let wire = h
            .sandbox()
            .order(o.channel_order_id.as_str())
            .expect("order");
        assert_eq!(
            o.total.map(|m| m.amount().to_string()),
            wire["total"]["amount"].as_str().map(str::to_owned)
        );
        assert_eq!(o.lines.len(), 1);
    }

    let mut query = ListingQuery {
        include_ended: true,
        page_size: Some(10),
        ..Default::default()
    };
    let mut listings = Vec::new();
    loop {
        let page = channel.list_listings(&query).await.expect("list");
        listings.extend(page.listings);
        match page.next_page {
            Some(next) => query.page = Some(next),
            None => break,
        }
    }
    assert_eq!(listings.len(), h.sandbox().listing_ids().len());
    assert!(listings.iter().any(|l| l.sku.is_none()));
}
