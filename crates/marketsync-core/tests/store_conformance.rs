//! The public `Store` conformance suite (`marketsync_core::testkit::store`) run against
//! `MemoryStore`. Needs the `testkit` feature; `cargo test --workspace` enables it through the
//! facade's dev-dependency.

use std::sync::Arc;

use marketsync_core::testkit::store as suite;
use marketsync_core::{MemoryStore, Store};

fn fresh() -> MemoryStore {
    MemoryStore::new()
}

macro_rules! checks {
    ($($name:ident),* $(,)?) => {$(
        #[tokio::test]
        async fn $name() {
            suite::$name(&fresh()).await;
        }
    )*};
}

checks!(
    integrations_round_trip,
    update_is_optimistic_and_appends_audit,
    credentials_are_stored_as_given,
    mappings_round_trip,
    listings_upsert_and_remove,
    record_orders_imports_each_order_once,
    held_order_imports_later,
    imported_never_reverts,
    batch_and_cursor_move_together,
    ledger_filters,
    sightings_are_capped,
    outbox_enqueue_is_idempotent,
    outbox_claim_lease_and_finish,
    outbox_per_integration,
    outbox_keys_per_integration,
    data_is_per_integration,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_record_orders_import_once() {
    suite::concurrent_record_orders_import_once(Arc::new(fresh())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn run_all() {
    suite::run_all(|| async { Arc::new(fresh()) as Arc<dyn Store> }).await;
}
