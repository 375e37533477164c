//! The public `Store` conformance suite (`marketsync_core::testkit::store`) against a
//! `SqliteStore` on a temporary file and on an in-memory database.

mod common;

use std::sync::{Arc, Mutex};

use common::TempDb;
use marketsync_core::Store;
use marketsync_core::testkit::store as suite;
use marketsync_sqlite::SqliteStore;

macro_rules! checks {
    ($open:expr; $($name:ident),* $(,)?) => {$(
        #[tokio::test]
        async fn $name() {
            let (store, _db) = $open;
            suite::$name(&store).await;
        }
    )*};
}

macro_rules! suite_for {
    ($open:expr) => {
        use super::*;

        checks!(
            $open;
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
            let (store, _db) = $open;
            suite::concurrent_record_orders_import_once(Arc::new(store)).await;
        }
    };
}

async fn open_file() -> (SqliteStore, TempDb) {
    let db = TempDb::new("conformance");
    let store = SqliteStore::open(db.path())
        .await
        .expect("open a file store");
    (store, db)
}

async fn open_memory() -> (SqliteStore, ()) {
    let store = SqliteStore::open_in_memory()
        .await
        .expect("open an in-memory store");
    (store, ())
}

mod file {
    suite_for!(open_file().await);

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn run_all() {
        let dbs: Arc<Mutex<Vec<TempDb>>> = Arc::default();
        suite::run_all(|| {
            let dbs = Arc::clone(&dbs);
            async move {
                let (store, db) = open_file().await;
                dbs.lock().unwrap().push(db);
                Arc::new(store) as Arc<dyn Store>
            }
        })
        .await;
    }
}

mod memory {
    suite_for!(open_memory().await);

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn run_all() {
        suite::run_all(|| async { Arc::new(open_memory().await.0) as Arc<dyn Store> }).await;
    }
}
