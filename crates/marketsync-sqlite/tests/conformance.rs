//! The public `Store` conformance suite (`marketsync_testkit::store`) against a
//! `SqliteStore` on a temporary file and on an in-memory database.

mod common;

use std::sync::{Arc, Mutex};

use common::TempDb;
use marketsync_core::Store;
use marketsync_sqlite::SqliteStore;
use marketsync_testkit::store as suite;

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
    use super::*;

    marketsync_testkit::store_tests!(open_file().await);

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
    use super::*;

    marketsync_testkit::store_tests!(open_memory().await);

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn run_all() {
        suite::run_all(|| async { Arc::new(open_memory().await.0) as Arc<dyn Store> }).await;
    }
}
