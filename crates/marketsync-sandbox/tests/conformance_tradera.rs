//! The channel conformance suite (`marketsync_core::testkit::channel`) against the Tradera
//! adapter and its sandbox (`TraderaHarness`), through the engine and the SQLite store: each
//! check on its own with a fresh harness and a fresh store, then `run_all`. The harness declares
//! SEK, so the checks price in whole kronor as Tradera does.

use std::sync::Arc;

use marketsync_core::Store;
use marketsync_core::testkit::channel;
use marketsync_sandbox::TraderaHarness;
use marketsync_sqlite::SqliteStore;

async fn store() -> Arc<dyn Store> {
    Arc::new(
        SqliteStore::open_in_memory()
            .await
            .expect("open an in-memory SQLite store"),
    )
}

async fn harness() -> TraderaHarness {
    TraderaHarness::start()
        .await
        .expect("the Tradera sandbox starts")
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
    revoked_credentials_break_then_repair,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ship_refund_cancel_exactly_once() {
    let h = harness().await;
    channel::ship_refund_cancel_exactly_once(&h, store().await).await;
    // The injected 500 reached the adapter and was retried; one shipment was recorded. Tradera
    // has no refund or cancellation call: the engine refused both without a request.
    let counters = h.sandbox().counters();
    assert_eq!(counters.server_errors, 1, "{counters:?}");
    assert_eq!(counters.get("orders.ship"), 2, "{counters:?}");
    assert_eq!(h.sandbox().ships().len(), 1);
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
async fn run_all_on_tradera() {
    channel::run_all(harness, store).await;
}
