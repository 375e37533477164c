//! The public `Store` conformance suite (`marketsync_testkit::store`) run against
//! `MemoryStore` (it lives here rather than in the core so the core has no dev-dependency on this
//! crate).

use std::sync::Arc;

use marketsync_core::{MemoryStore, Store};
use marketsync_testkit::store as suite;

marketsync_testkit::store_tests!((MemoryStore::new(), ()));

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn run_all() {
    suite::run_all(|| async { Arc::new(MemoryStore::new()) as Arc<dyn Store> }).await;
}
