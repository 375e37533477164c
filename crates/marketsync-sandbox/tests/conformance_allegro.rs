//! The channel conformance suite (`marketsync_core::testkit::channel`) against the Allegro adapter
//! and its sandbox (`AllegroHarness`), through the engine and the SQLite store: each check on its
//! own with a fresh harness and a fresh store, then `run_all`.

use std::sync::Arc;

use marketsync_core::Store;
use marketsync_core::testkit::channel;
use marketsync_sandbox::AllegroHarness;
use marketsync_sqlite::SqliteStore;

async fn store() -> Arc<dyn Store> {
    Arc::new(
        SqliteStore::open_in_memory()
            .await
            .expect("open an in-memory SQLite store"),
    )
}

async fn harness() -> AllegroHarness {
    AllegroHarness::start()
        .await
        .expect("the Allegro sandbox starts")
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
    // First sync: one quantity command per stock level and one price command per price; the
    // third sync ends CONF-B (Allegro has no stock of 0), after its price change.
    let kinds: Vec<String> = h.sandbox().commands().into_iter().map(|c| c.kind).collect();
    assert_eq!(
        kinds,
        [
            "quantity",
            "quantity",
            "price",
            "price",
            "price",
            "publication"
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_or_unsupported() {
    let h = harness().await;
    channel::publish_or_unsupported(&h, store().await).await;
    // The offer was created from the template with the SKU as external id, the price in the
    // catalog's currency, the stock, as a draft (the check publishes without `publish`).
    let id = h
        .sandbox()
        .offer_id_by_external("CONF-NEW")
        .expect("created by external id");
    let offer = h.sandbox().offer(&id).expect("offer");
    assert_eq!(offer["sellingMode"]["price"]["amount"], "5.00");
    assert_eq!(offer["sellingMode"]["price"]["currency"], "USD");
    assert_eq!(offer["stock"]["available"], 2);
    assert_eq!(offer["publication"]["status"], "INACTIVE");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ship_refund_cancel_exactly_once() {
    let h = harness().await;
    channel::ship_refund_cancel_exactly_once(&h, store().await).await;
    // One tracking number, one fulfilment change to SENT, one refund; no cancellation (a seller
    // cannot cancel on Allegro: refused without a call).
    assert_eq!(h.sandbox().shipments().len(), 1);
    let sent: Vec<String> = h
        .sandbox()
        .fulfillment_changes()
        .into_iter()
        .map(|f| f.status)
        .collect();
    assert_eq!(sent, ["SENT"]);
    assert_eq!(h.sandbox().refunds().len(), 1);
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
async fn run_all_on_allegro() {
    channel::run_all(harness, store).await;
}
